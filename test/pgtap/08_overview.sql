-- The overview dashboard and the health score, on a
-- shop small enough to count by hand.  The range is May 2026 in Vietnam.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(26);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('a', customer_mgmt.register_customer('Nguyễn An', 'a@example.vn', date_of_birth => '1990-06-15',
                                          province => 'Bình Dương', registered_at => '2026-05-10 12:00+07')),
    ('b', customer_mgmt.register_customer('Trần Bình', 'b@example.vn', registered_at => '2026-05-15 12:00+07')),
    ('c', customer_mgmt.register_customer('Lê Chi', 'c@example.vn', date_of_birth => '2010-01-01',
                                          registered_at => '2026-05-20 12:00+07')),
    ('d', customer_mgmt.register_customer('Phạm Dũng', 'd@example.vn', date_of_birth => '1970-01-01',
                                          province => 'Hà Nội', registered_at => '2025-01-01 12:00+07')),
    ('e', customer_mgmt.register_customer('Hoàng Em', 'e@example.vn', date_of_birth => '2001-06-02',
                                          province => 'Hà Nội', registered_at => '2025-06-01 12:00+07')),
    ('f', customer_mgmt.register_customer('Vũ Phúc', 'f@example.vn', registered_at => '2026-06-05 12:00+07'));
SELECT customer_mgmt.record_session((SELECT id FROM c WHERE k = 'a'), '2026-05-11 10:00+07', 300, 5, true);
SELECT customer_mgmt.record_session((SELECT id FROM c WHERE k = 'b'), '2026-05-16 10:00+07', 20, 1, false);
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'a'), 1000000, 'completed', '2026-05-12 10:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'a'), 2000000, 'completed', '2026-05-20 10:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'a'), 9000000, 'cancelled', '2026-05-21 10:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'd'), 3000000, 'completed', '2025-11-15 10:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'e'), 2000000, 'completed', '2025-10-01 10:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'e'), 10000000, 'completed', '2026-05-25 10:00+07');
SELECT count(customer_mgmt.calculate_customer_analytics(id, '2026-06-01 00:00+07')) FROM c;

CREATE TEMP TABLE o AS
SELECT customer_mgmt.get_customer_overview('2026-05-01 00:00+07', '2026-06-01 00:00+07') AS j;

SELECT is((SELECT j - ARRAY['segmentDistribution', 'lifetimeValueDistribution', 'churnRiskDistribution', 'topCustomers',
                            'atRiskCustomers', 'geographicDistribution', 'ageDistribution', 'conversionFunnel',
                            'retentionCohorts', 'dateFrom', 'dateTo', 'clvModel'] FROM o),
          '{"totalCustomers": 5, "newCustomers": 3, "activeCustomers": 3, "churnedCustomers": 1}'::jsonb,
          'totals: registered before the end; new, active (session or order) and churned (180 days passed) in the range');
SELECT is((SELECT j ->> 'dateTo' FROM o)::timestamptz, '2026-06-01 00:00+07'::timestamptz, 'the range is returned');
SELECT is((SELECT sum((e ->> 'count')::int)::int FROM o, jsonb_array_elements(j -> 'segmentDistribution') e), 6,
          'segments: every analysed customer once');
SELECT is((SELECT count(*)::int FROM o, jsonb_array_elements(j -> 'segmentDistribution') e), 6, 'all six segments listed');
SELECT is((SELECT jsonb_object_agg(e ->> 'range', (e ->> 'count')::int) FROM o, jsonb_array_elements(j -> 'lifetimeValueDistribution') e),
          '{"0": 3, "under 1M": 0, "1M-5M": 2, "5M-10M": 0, "10M-50M": 1, "50M+": 0}'::jsonb,
          'lifetime value bands (cancelled orders are no value)');
SELECT is((SELECT jsonb_object_agg(e ->> 'level', (e ->> 'count')::int) FROM o, jsonb_array_elements(j -> 'churnRiskDistribution') e),
          (SELECT jsonb_build_object(
                  'low', count(*) FILTER (WHERE churn_risk_score < 0.3),
                  'moderate', count(*) FILTER (WHERE churn_risk_score >= 0.3 AND churn_risk_score < 0.6),
                  'medium', count(*) FILTER (WHERE churn_risk_score >= 0.6 AND churn_risk_score < 0.8),
                  'high', count(*) FILTER (WHERE churn_risk_score >= 0.8))
             FROM customer_mgmt.customer_analytics),
          'churn-risk bands at the thresholds 0.3, 0.6, 0.8');
-- a and d spent the same: the higher id first (the list's index read backwards)
SELECT is((SELECT jsonb_agg(e ->> 'email') FROM o, jsonb_array_elements(j -> 'topCustomers') e),
          '["e@example.vn", "a@example.vn", "d@example.vn"]'::jsonb, 'top customers by value, only those with value')
  WHERE (SELECT id FROM c WHERE k = 'a') > (SELECT id FROM c WHERE k = 'd')
UNION ALL
SELECT is((SELECT jsonb_agg(e ->> 'email') FROM o, jsonb_array_elements(j -> 'topCustomers') e),
          '["e@example.vn", "d@example.vn", "a@example.vn"]'::jsonb, 'top customers by value, only those with value')
  WHERE (SELECT id FROM c WHERE k = 'a') < (SELECT id FROM c WHERE k = 'd');
SELECT is((SELECT j -> 'atRiskCustomers' -> 0 ->> 'email' FROM o), 'd@example.vn', 'at risk: the lapsed one-order customer');
SELECT is((SELECT (j -> 'atRiskCustomers' -> 0 ->> 'daysSinceLastOrder')::int FROM o), 197, 'whole days counted to the end of the range');
SELECT is((SELECT jsonb_array_length(j -> 'atRiskCustomers') FROM o), 1, 'and nobody else is above 0.7');
UPDATE customer_mgmt.users SET status = 'inactive' WHERE email = 'd@example.vn';
SELECT is(jsonb_array_length(customer_mgmt.get_customer_overview('2026-05-01 00:00+07', '2026-06-01 00:00+07') -> 'atRiskCustomers'),
          0, 'deactivated customers are not on the at-risk list');
SELECT is((SELECT jsonb_agg(jsonb_build_array(e ->> 'province', (e ->> 'count')::int)) FROM o, jsonb_array_elements(j -> 'geographicDistribution') e),
          '[["Hà Nội", 2], [null, 2], ["Hồ Chí Minh", 1]]'::jsonb, 'provinces as named since 2025 (Bình Dương is Hồ Chí Minh)');
SELECT is((SELECT jsonb_object_agg(e ->> 'range', (e ->> 'count')::int) FROM o, jsonb_array_elements(j -> 'ageDistribution') e),
          '{"under 18": 1, "18-24": 1, "25-34": 0, "35-44": 1, "45-54": 0, "55-64": 1, "65+": 0, "unknown": 1}'::jsonb,
          'ages at the end of the range (24 the day before the 25th birthday)');
SELECT is((SELECT j -> 'conversionFunnel' FROM o),
          '[{"stage": "registered", "count": 3, "rate": 1}, {"stage": "visited", "count": 2, "rate": 0.6667},
            {"stage": "ordered", "count": 1, "rate": 0.3333}, {"stage": "orderedAgain", "count": 1, "rate": 0.3333}]'::jsonb,
          'funnel of the customers registered in the range');
SELECT is((SELECT j -> 'retentionCohorts' FROM o),
          '[{"cohort": "2026-05", "customers": 3, "months": [{"month": 0, "customers": 1, "rate": 0.3333}]}]'::jsonb,
          'one cohort (May, shop time), one month');
SELECT is((customer_mgmt.get_customer_overview('2026-04-01 00:00+07', '2026-07-01 00:00+07') -> 'retentionCohorts' -> 0 -> 'months'),
          '[{"month": 0, "customers": 1, "rate": 0.3333}, {"month": 1, "customers": 0, "rate": 0.0000}]'::jsonb,
          'a longer range: every month from the cohort''s to the last of the range (May, June)');

-- health score, the weights of docs/analytics.md, over the month before as_of
SELECT is(customer_mgmt.get_customer_health_score('2026-06-01 00:00+07') - 'dateFrom' - 'dateTo',
          '{"healthScore": 77, "totalCustomers": 5, "newCustomers": 3, "activeCustomers": 3, "churnedCustomers": 1,
            "components": {"acquisition": 25, "retention": 24.00, "engagement": 15.00, "valueDistribution": 13.33},
            "valueScore": 0.6667}'::jsonb,
          'min(3/5 x 100, 25) + (1 - 1/5) x 30 + 3/5 x 25 + (1 - Gini(3M, 3M, 12M)) x 20 = 77');
SELECT is((customer_mgmt.get_customer_health_score('2026-06-01 00:00+07') ->> 'dateFrom')::timestamptz,
          '2026-05-01 00:00+07'::timestamptz, 'the month before as_of');

-- errors and roles
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_overview('2026-06-01', '2026-05-01')$$), '22023 date_to', 'a range backwards');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_overview('-infinity', '2026-05-01')$$), '22023 date_from', 'an infinite start');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_overview('2010-01-01', '2026-05-01')$$), '22023 date_to', 'more than five years');
SELECT is(customer_mgmt.get_customer_overview('2021-05-01 00:00+07', '2026-05-01 00:00+07') ->> 'totalCustomers', '2',
          'five calendar years (1,826 days) are at most five years');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_overview('2021-05-01 00:00+07', '2026-05-01 00:00:01+07')$$),
          '22023 date_to', 'a second more is not');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_health_score(NULL)$$), '22023 as_of', 'no as_of');
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_overview()$$), '42501', 'the ingesting app may not read the dashboard');
SET LOCAL ROLE customer_mgmt_staff;
SELECT ok(customer_mgmt.get_customer_overview() ? 'retentionCohorts', 'staff may, with the default range');

SELECT * FROM finish();
ROLLBACK;
