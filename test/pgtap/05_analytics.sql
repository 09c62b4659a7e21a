-- The analytics engine: the rules of docs/analytics.md at their boundaries,
-- and one calculation whether per customer or for everyone.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(95);

-- churn risk (docs/analytics.md): (days, orders, engagement, bounce) -> risk
SELECT is(customer_mgmt.churn_risk(d, o, e, b)::numeric(3,2), r::numeric(3,2),
          format('churn_risk(days %s, orders %s, engagement %s, bounce %s) = %s', d, o, e, b, r))
  FROM (VALUES (10, 5, 0.9, 0.1, 0.0),      -- nothing applies
               (30, 5, 0.9, 0.1, 0.0),      -- 30 days is not > 30
               (31, 5, 0.9, 0.1, 0.1),
               (60, 5, 0.9, 0.1, 0.1),
               (61, 5, 0.9, 0.1, 0.2),
               (90, 5, 0.9, 0.1, 0.2),
               (91, 5, 0.9, 0.1, 0.3),
               (NULL, 5, 0.9, 0.1, 0.0),    -- no order yet: no recency factor
               (10, 1, 0.9, 0.1, 0.2),      -- fewer than 2 orders
               (10, 2, 0.9, 0.1, 0.0),
               (10, 5, 0.5, 0.1, 0.0),      -- engagement 0.5 is not < 0.5
               (10, 5, 0.49, 0.1, 0.2),
               (10, 5, 0.3, 0.1, 0.2),      -- engagement 0.3 is not < 0.3
               (10, 5, 0.29, 0.1, 0.3),
               (10, 5, 0.9, 0.8, 0.0),      -- bounce 0.8 is not > 0.8
               (10, 5, 0.9, 0.81, 0.2),
               (91, 1, 0.1, 0.9, 1.0),      -- 0.3 + 0.2 + 0.3 + 0.2 capped at 1
               (NULL, 0, 0.0, 0.0, 0.5)) AS t(d, o, e, b, r);

-- lifecycle segment (docs/analytics.md), rules in order, default thresholds
SELECT is(customer_mgmt.lifecycle_segment(s, c, o, d), want,
          format('lifecycle_segment(spent %s, churn %s, orders %s, days %s) = %s', s, c, o, d, want))
  FROM (VALUES (50000001, 0.29, 1, 100, 'vip'),
               (50000000, 0.29, 1, 200, 'churned'),   -- 50M is not > 50M: falls through to churned
               (50000001, 0.30, 1, 10, 'active'),     -- churn 0.3 is not < 0.3
               (1000, 0.1, 6, 59, 'loyal'),
               (1000, 0.1, 5, 59, 'active'),          -- exactly 5 orders is not > 5
               (1000, 0.1, 6, 60, 'active'),          -- 60 days is not < 60
               (1000, 0.71, 2, 45, 'at_risk'),
               (1000, 0.70, 2, 45, 'active'),         -- 0.7 is not > 0.7, 45 days: the final rule
               (1000, 0.1, 2, 29, 'active'),
               (1000, 0.1, 2, 181, 'churned'),
               (1000, 0.1, 2, 180, 'active'),         -- 180 days is not > 180
               (1000, 0.1, 1, 100, 'new'),
               (0, 0.5, 0, NULL, 'new'),              -- never ordered: new, not active
               (1000, 0.1, 3, 100, 'active')) AS t(s, c, o, d, want);

-- engagement: weights .3 .3 .2 .2, each component in [0,1]
SELECT is(customer_mgmt.engagement_score(0, 10, 50000000, 0, 300, 5)::numeric(3,2), 1.00, 'everything at its best: 1');
SELECT is(customer_mgmt.engagement_score(NULL, 0, 0, 0, 0, 0)::numeric(3,2), 0.00, 'nothing at all: 0');
SELECT is(customer_mgmt.engagement_score(0, 0, 0, 0, 0, 0)::numeric(3,2), 0.30, 'recency alone is 0.3');
SELECT is(customer_mgmt.engagement_score(180, 0, 0, 0, 0, 0)::numeric(3,2), 0.00, 'recency reaches 0 at 180 days');
SELECT is(customer_mgmt.engagement_score(90, 0, 0, 0, 0, 0)::numeric(3,2), 0.15, 'recency is linear: half at 90 days');
SELECT is(customer_mgmt.engagement_score(NULL, 5, 0, 0, 0, 0)::numeric(3,2), 0.15, 'frequency: 5 orders is half');
SELECT is(customer_mgmt.engagement_score(NULL, 50, 0, 0, 0, 0)::numeric(3,2), 0.30, 'frequency saturates at 10 orders');
SELECT is(customer_mgmt.engagement_score(NULL, 0, 50000000, 0, 0, 0)::numeric(3,2), 0.20, 'monetary: the VIP threshold is 1');
SELECT is(customer_mgmt.engagement_score(NULL, 0, 0, 1, 300, 5)::numeric(3,2), 0.00, 'sessions that all bounce count 0');
SELECT is(customer_mgmt.engagement_score(NULL, 0, 0, 0.5, 150, 5)::numeric(3,2), 0.05, 'session: (1 - bounce) x duration / 5 min');
SELECT ok(customer_mgmt.engagement_score(NULL, 0, 10000000, 0, 0, 0) BETWEEN 0.14 AND 0.17, 'monetary is logarithmic: 10M is about 0.77 of 50M');

-- insights (docs/analytics.md): (spent, churn, orders, days) -> the types that hold
SELECT is(ARRAY(SELECT type FROM customer_mgmt.insights(s, c, o, d)), want,
          format('insights(spent %s, churn %s, orders %s, days %s) = %s', s, c, o, d, want))
  FROM (VALUES (10000000::float8, 0.5::float8, 2, 10, '{}'::text[]),       -- 10M is not > 10M
               (10000000.01, 0.5, 2, 10, '{high_value}'),
               (100, 0.70, 2, 10, '{}'),                                    -- 0.7 is not > 0.7
               (100, 0.71, 2, 10, '{churn_risk}'),
               (100, 0.1, 5, 10, '{}'),                                     -- exactly 5 orders is not > 5
               (100, 0.1, 6, 29, '{loyal}'),
               (100, 0.1, 6, 30, '{}'),                                     -- 30 days is not < 30
               (100, 0.1, 6, NULL, '{}'),                                   -- no order: not loyal
               (60000000, 0.9, 9, 1, '{high_value,churn_risk,loyal}')) AS t(s, c, o, d, want);
SELECT results_eq($$SELECT type, title, description, priority, action_recommendation
                      FROM customer_mgmt.insights(20000000, 0.75, 6, 3) ORDER BY type$$,
                  $$VALUES ('churn_risk', 'High Churn Risk', 'Customer shows signs of potential churn', 'critical',
                            'Reach out with retention campaign'),
                           ('high_value', 'High Value Customer', 'This customer has high lifetime value', 'high',
                            'Consider VIP treatment and exclusive offers'),
                           ('loyal', 'Loyal Customer', 'Consistent purchase behavior', 'medium',
                            'Offer loyalty rewards program')$$,
                  'each with the design''s title, description, priority and action');
SELECT is(ARRAY(SELECT type FROM customer_mgmt.insights(20000000, 0.1, 1, 3, high_value_min_spent => 50000000)), '{}'::text[],
          'thresholds are arguments');
SELECT throws_ok($$SELECT * FROM customer_mgmt.insights(1, 0.1, 1, 3, churn_risk_min => NULL)$$, '22023', NULL,
                 'a NULL threshold is refused');

-- RFM digits
SELECT is(customer_mgmt.rfm_digit(v, ARRAY[1, 2, 3, 4]::float8[]), want, format('rfm_digit(%s) = %s', v, want))
  FROM (VALUES (0.5::float8, 1), (1, 1), (1.5, 2), (4, 4), (4.5, 5)) AS t(v, want);
SELECT throws_ok($$SELECT customer_mgmt.rfm_digit(1, ARRAY[1, 2, 3]::float8[])$$, '22023', NULL, 'three breakpoints are refused');
SELECT throws_ok($$SELECT customer_mgmt.rfm_digit(1, ARRAY[1, NULL, 3, 4]::float8[])$$, '22023', NULL, 'a NULL breakpoint is refused');

-- the same numbers per customer and for everyone, on a generated shop
SELECT customer_mgmt.generate_demo_shop(600, 21, '2026-08-01 00:00+07');
SELECT is((customer_mgmt.recalculate_all_analytics('2026-08-01 00:00+07', full => true) ->> 'customers')::int, 600, 'everyone recalculated');
CREATE TEMP TABLE batch AS SELECT * FROM customer_mgmt.customer_analytics;
CREATE TEMP TABLE batch_insights AS SELECT customer_id, type, priority FROM customer_mgmt.customer_insights;
SELECT count(customer_mgmt.calculate_customer_analytics(customer_id, '2026-08-01 00:00+07')) FROM batch;
SELECT is_empty($$SELECT customer_id FROM batch b JOIN customer_mgmt.customer_analytics a USING (customer_id)
                  WHERE (b.total_orders, b.total_spent, b.average_order_value, b.last_order_date, b.days_since_last_order,
                         b.total_sessions, b.total_page_views, b.average_session_duration, b.bounce_rate, b.conversion_rate,
                         b.favorite_categories, b.favorite_brands, b.preferred_price_range, b.customer_lifetime_value,
                         b.predicted_ltv, b.churn_risk_score, b.engagement_score, b.segment, b.rfm_score, b.last_calculated_at)
                     IS DISTINCT FROM
                        (a.total_orders, a.total_spent, a.average_order_value, a.last_order_date, a.days_since_last_order,
                         a.total_sessions, a.total_page_views, a.average_session_duration, a.bounce_rate, a.conversion_rate,
                         a.favorite_categories, a.favorite_brands, a.preferred_price_range, a.customer_lifetime_value,
                         a.predicted_ltv, a.churn_risk_score, a.engagement_score, a.segment, a.rfm_score, a.last_calculated_at)$$,
                'per customer and for everyone: identical analytics for all 600');
SELECT set_eq($$SELECT customer_id, type, priority FROM customer_mgmt.customer_insights$$,
              $$SELECT customer_id, type, priority FROM batch_insights$$, 'and identical insights');

-- the preference aggregate (src/preferences.c) gives what ranking and
-- percentile_disc give in SQL
SELECT is_empty($$
    WITH it AS (
        SELECT o.customer_id, o.id AS order_id, i.category COLLATE "C" AS category, i.brand COLLATE "C" AS brand,
               i.unit_price, i.unit_price * i.quantity AS amount
          FROM customer_mgmt.orders o JOIN customer_mgmt.order_items i ON i.order_id = o.id
         WHERE o.status = 'completed' AND o.order_date <= '2026-08-01 00:00+07'),
    cat AS (
        SELECT x.customer_id, jsonb_agg(jsonb_build_object('category', x.category, 'orderCount', x.n, 'totalSpent', x.spent)
                                        ORDER BY x.rk) AS j
          FROM (SELECT customer_id, category, count(DISTINCT order_id)::int AS n, sum(amount) AS spent,
                       row_number() OVER (PARTITION BY customer_id
                                          ORDER BY count(DISTINCT order_id) DESC, sum(amount) DESC, category) AS rk
                  FROM it WHERE category IS NOT NULL GROUP BY customer_id, category) x
         WHERE x.rk <= 3 GROUP BY x.customer_id),
    br AS (
        SELECT x.customer_id, jsonb_agg(jsonb_build_object('brand', x.brand, 'orderCount', x.n, 'totalSpent', x.spent)
                                        ORDER BY x.rk) AS j
          FROM (SELECT customer_id, brand, count(DISTINCT order_id)::int AS n, sum(amount) AS spent,
                       row_number() OVER (PARTITION BY customer_id
                                          ORDER BY count(DISTINCT order_id) DESC, sum(amount) DESC, brand) AS rk
                  FROM it WHERE brand IS NOT NULL GROUP BY customer_id, brand) x
         WHERE x.rk <= 3 GROUP BY x.customer_id),
    pr AS (
        SELECT customer_id, jsonb_build_object('min', percentile_disc(0.25) WITHIN GROUP (ORDER BY unit_price),
                                               'median', percentile_disc(0.5) WITHIN GROUP (ORDER BY unit_price),
                                               'max', percentile_disc(0.75) WITHIN GROUP (ORDER BY unit_price),
                                               'currency', 'VND') AS j
          FROM it GROUP BY customer_id)
    SELECT a.customer_id FROM customer_mgmt.customer_analytics a
      LEFT JOIN cat ON cat.customer_id = a.customer_id
      LEFT JOIN br ON br.customer_id = a.customer_id
      LEFT JOIN pr ON pr.customer_id = a.customer_id
     WHERE a.favorite_categories IS DISTINCT FROM coalesce(cat.j, '[]')
        OR a.favorite_brands IS DISTINCT FROM coalesce(br.j, '[]')
        OR a.preferred_price_range IS DISTINCT FROM pr.j$$,
    'favourites and price range: the same as ranking and percentile_disc in SQL, for all 600');
SELECT is(customer_mgmt.purchase_preferences(o::uuid, c, b, p, q),
          '{"favoriteCategories": [{"category": "Áo", "orderCount": 2, "totalSpent": 4.00},
                                   {"category": "Giày", "orderCount": 1, "totalSpent": 90.00},
                                   {"category": "Kính", "orderCount": 1, "totalSpent": 5.00}],
            "favoriteBrands": [{"brand": "\"Quote\"", "orderCount": 2, "totalSpent": 3.00}],
            "preferredPriceRange": {"min": 1.00, "median": 5.00, "max": 30.00, "currency": "VND"}}'::jsonb,
          'two lines of one order count one order; ties by spend, then name; NULL names skipped')
  FROM (VALUES ('00000000-0000-4000-8000-000000000001', 'Áo', '"Quote"', 100::bigint, 1),
               ('00000000-0000-4000-8000-000000000001', 'Áo', NULL, 100, 1),
               ('00000000-0000-4000-8000-000000000002', 'Áo', '"Quote"', 200, 1),
               ('00000000-0000-4000-8000-000000000002', 'Giày', NULL, 3000, 3),
               ('00000000-0000-4000-8000-000000000003', 'Mũ', NULL, 500, 1),
               ('00000000-0000-4000-8000-000000000003', 'Kính', NULL, 500, 1),
               ('00000000-0000-4000-8000-000000000003', NULL, NULL, 5000, 1)) AS t(o, c, b, p, q);
-- a customer past the sizes searched in place (8 names, 16 orders of one
-- name): 14 categories, one of them in all 60 orders, 3 brands; the same
-- as ranking and percentile_disc in SQL
CREATE TEMP TABLE big_lines AS
    SELECT format('00000000-0000-4000-8000-%s', lpad(k::text, 12, '0'))::uuid AS o,
           CASE WHEN l = 1 THEN 'Điện thoại' ELSE 'Loại ' || ((k * 7 + l) % 13) END AS c,
           'Hãng ' || ((k + l) % 3) AS b, (100000 + ((k * 37 + l * 11) % 500) * 1000)::bigint AS p, 1 + (k + l) % 3 AS q
      FROM generate_series(1, 60) k, generate_series(1, 3) l;
SELECT is((SELECT customer_mgmt.purchase_preferences(o, c, b, p, q) FROM big_lines),
          (SELECT jsonb_build_object(
                      'favoriteCategories', (SELECT jsonb_agg(jsonb_build_object('category', x.c, 'orderCount', x.n, 'totalSpent', x.spent) ORDER BY x.rk)
                                               FROM (SELECT c, count(DISTINCT o)::int AS n, sum(p * q) / 100.0 AS spent,
                                                            row_number() OVER (ORDER BY count(DISTINCT o) DESC, sum(p * q) DESC, c COLLATE "C") AS rk
                                                       FROM big_lines GROUP BY c) x WHERE x.rk <= 3),
                      'favoriteBrands', (SELECT jsonb_agg(jsonb_build_object('brand', x.b, 'orderCount', x.n, 'totalSpent', x.spent) ORDER BY x.rk)
                                           FROM (SELECT b, count(DISTINCT o)::int AS n, sum(p * q) / 100.0 AS spent,
                                                        row_number() OVER (ORDER BY count(DISTINCT o) DESC, sum(p * q) DESC, b COLLATE "C") AS rk
                                                   FROM big_lines GROUP BY b) x WHERE x.rk <= 3),
                      'preferredPriceRange', jsonb_build_object('min', percentile_disc(0.25) WITHIN GROUP (ORDER BY p) / 100.0,
                                                                'median', percentile_disc(0.5) WITHIN GROUP (ORDER BY p) / 100.0,
                                                                'max', percentile_disc(0.75) WITHIN GROUP (ORDER BY p) / 100.0,
                                                                'currency', 'VND'))
             FROM big_lines),
          'past the sizes searched in place: the same as ranking and percentile_disc in SQL');
-- and the same in parallel: workers aggregate parts, the leader combines
-- (orders split between workers count once)
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL enable_sort = off;
ANALYZE customer_mgmt.orders, customer_mgmt.order_items;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || query LOOP plan := plan || line || E'\n'; END LOOP;
    RETURN plan;
END $$;
\set parallel_query 'SELECT o.customer_id, customer_mgmt.purchase_preferences(o.id, i.category, i.brand, (i.unit_price * 100)::bigint, i.quantity) AS j FROM customer_mgmt.orders o JOIN customer_mgmt.order_items i ON i.order_id = o.id WHERE o.status = ''completed'' AND o.order_date <= ''2026-08-01 00:00+07'' GROUP BY o.customer_id'
SELECT matches(pg_temp.plan_of(:'parallel_query'), 'Partial .*Aggregate', 'the planner aggregates in parallel');
SELECT is_empty(format($$SELECT p.customer_id FROM (%s) p JOIN customer_mgmt.customer_analytics a USING (customer_id)
                        WHERE a.favorite_categories IS DISTINCT FROM p.j -> 'favoriteCategories'
                           OR a.favorite_brands IS DISTINCT FROM p.j -> 'favoriteBrands'
                           OR a.preferred_price_range IS DISTINCT FROM p.j -> 'preferredPriceRange'$$, :'parallel_query'),
                'in parallel, the same preferences');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET enable_sort;
SELECT throws_ok($$SELECT customer_mgmt.purchase_preferences(gen_random_uuid(), 'x', 'y', -1, 1)$$, '22023', NULL,
                 'a negative price is refused');
SELECT throws_ok($$SELECT customer_mgmt.purchase_preferences(gen_random_uuid(), 'x', 'y', 9223372036854775807, 2)$$, '22003', NULL,
                 'an amount out of range is an error, not a wrong sum');

-- what was computed agrees with the rows it came from
SELECT is_empty($$SELECT a.customer_id FROM customer_mgmt.customer_analytics a
                  LEFT JOIN (SELECT customer_id, count(*) n, sum(total_amount) s FROM customer_mgmt.orders
                              WHERE status = 'completed' AND order_date <= '2026-08-01 00:00+07' GROUP BY customer_id) o
                    ON o.customer_id = a.customer_id
                  WHERE a.total_orders <> coalesce(o.n, 0) OR a.total_spent <> coalesce(o.s, 0)$$,
                'order statistics count completed orders only');
SELECT is_empty($$SELECT customer_id FROM customer_mgmt.customer_analytics
                  WHERE (total_orders = 0) <> (rfm_score IS NULL)$$, 'RFM is NULL exactly for customers without a completed order');
SELECT is_empty($$SELECT customer_id FROM customer_mgmt.customer_analytics WHERE total_orders = 0 AND segment NOT IN ('new', 'at_risk')$$,
                'a customer who never ordered is new (or at risk), never active');
SELECT is_empty($$SELECT customer_id FROM customer_mgmt.customer_analytics WHERE predicted_ltv IS NOT NULL$$,
                'predicted_ltv stays NULL');
SELECT is_empty($$SELECT a.customer_id FROM customer_mgmt.customer_analytics a
                  WHERE (a.total_spent > 10000000) <> EXISTS (SELECT FROM customer_mgmt.customer_insights i
                                                               WHERE i.customer_id = a.customer_id AND i.type = 'high_value')$$,
                'high-value insight exactly above 10M VND');
SELECT is((SELECT count(*)::int FROM customer_mgmt.job_runs WHERE job_name = 'recalculate_all_analytics' AND status = 'succeeded'
             AND rows_processed = 600 AND finished_at IS NOT NULL), 1, 'the run is logged');
SELECT cmp_ok((SELECT count(DISTINCT segment)::int FROM customer_mgmt.customer_analytics), '>=', 5, 'the demo shop has customers in most segments');

-- get_customer_analytics: the stored row, daysSinceLastOrder at call time
CREATE TEMP TABLE one AS
    SELECT a.customer_id, a.last_order_date,
           customer_mgmt.calculate_customer_analytics(a.customer_id, '2026-08-01 00:00+07') AS calculated
      FROM customer_mgmt.customer_analytics a WHERE a.total_orders >= 3 ORDER BY a.customer_id LIMIT 1;
GRANT SELECT ON one TO PUBLIC;
SELECT is(customer_mgmt.get_customer_analytics(customer_id) - 'daysSinceLastOrder', calculated - 'daysSinceLastOrder',
          'get_customer_analytics gives what the calculation wrote, insights included')
  FROM one;
SELECT is((customer_mgmt.get_customer_analytics(customer_id) ->> 'daysSinceLastOrder')::int,
          floor(extract(epoch FROM now() - last_order_date) / 86400)::int,
          'daysSinceLastOrder is measured at call time, not at the calculation''s as_of')
  FROM one;
SELECT is(customer_mgmt.get_customer_analytics(customer_id), customer_mgmt.get_customer(customer_id) -> 'analytics',
          'the same DTO as the detail''s analytics')
  FROM one;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_analytics('00000000-0000-4000-8000-0000000000aa')$$), 'PT404',
          'get_customer_analytics of an unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_analytics('x')$$), '22P02', 'get_customer_analytics of a malformed id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_analytics(NULL)$$), '22023 customer_id', 'get_customer_analytics without an id');
SET LOCAL ROLE customer_mgmt_staff;
SELECT ok(customer_mgmt.get_customer_analytics((SELECT customer_id FROM one)) ? 'churnRiskScore', 'staff reads a customer''s analytics');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_analytics(NULL)$$), '42501', 'app may not');
RESET ROLE;

-- errors
SELECT is(pg_temp.failure($$SELECT customer_mgmt.calculate_customer_analytics('nope')$$), '22P02', 'malformed id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.calculate_customer_analytics(NULL)$$), '22023 customer_id', 'no id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.calculate_customer_analytics('00000000-0000-4000-8000-0000000000aa')$$), 'PT404', 'unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.recalculate_all_analytics('infinity')$$), '22023 as_of', 'infinite as_of');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.recalculate_all_analytics(now(), NULL)$$), '22023 full', 'no full');
SELECT is(pg_temp.failure($$CALL customer_mgmt.recalculate_all_analytics_batched(now(), 0)$$), '22023 batches', 'zero batches');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.recalculate_all_analytics()$$), '42501', 'staff may not recalculate');
RESET ROLE;

SELECT is(pg_temp.list_drift(), 0::bigint, 'after the recalculations, customer_list equals users and analytics');
SELECT * FROM finish();
ROLLBACK;
