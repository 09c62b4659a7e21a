-- customer_mgmt: The overview dashboard and the customer health score.

-- Overview dashboard
-- The date range of the dashboard: [date_from, date_to), by default the
-- 30 days before now.
CREATE OR REPLACE FUNCTION overview_range(date_from timestamptz, date_to timestamptz, OUT range_from timestamptz,
                               OUT range_to timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    range_to := coalesce(date_to, now());
    range_from := coalesce(date_from, range_to - interval '30 days');
    PERFORM customer_mgmt.check_time_range('date_from', range_from, 'date_to', range_to);
    -- five calendar years (a difference of timestamps is in days, and an
    -- interval of 5 years compares as 1,800 of them)
    IF range_to > range_from + interval '5 years' THEN
        PERFORM customer_mgmt.raise_invalid('date_to', 'must be at most 5 years after date_from', range_to::text);
    END IF;
END
$$;
COMMENT ON FUNCTION overview_range(timestamptz, timestamptz) IS
    'Internal: the dashboard''s range [date_from, date_to) with its defaults (the last 30 days), or 22023.';

-- The dashboard's reads of many rows are the RETURN QUERY of functions of
-- their own: PL/pgSQL runs a SELECT INTO, or an expression, asking for at
-- most two rows, and the executor then runs it without parallel workers
-- (a count of every list row took 0.19 s so, 0.14 s with them); RETURN
-- QUERY runs to the end, with them.  PL/pgSQL also plans with the values
-- (a SQL function would plan for any range, and pick the wrong scans).

-- The counts of the range: new, active, churned customers.  Each reads
-- indexes over the range, not every customer (docs/performance.md).  The
-- totals count the list, active and churned the users who are customers:
-- the same while the list holds exactly the customers (its triggers keep
-- it so; after a load past them, ensure_analytics_rows or a run from
-- scratch).  Orders and sessions may be anyone's (the API refuses the
-- staff's, the shop's own tables need not).
CREATE OR REPLACE FUNCTION overview_counts(range_from timestamptz, range_to timestamptz)
    RETURNS TABLE (total_customers bigint, new_customers bigint, active_customers bigint, churned_customers bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT (SELECT count(*) FROM customer_mgmt.customer_list l WHERE l.created_at < range_to),
           (SELECT count(*) FROM customer_mgmt.customer_list l
             WHERE l.created_at >= range_from AND l.created_at < range_to),
           -- a session (a login is one) or a completed order in the range: the
           -- distinct visitors and buyers who are not staff (a handful, by
           -- their index: a join to the list would read every customer)
           (SELECT count(*)
              FROM (SELECT a.customer_id
                      FROM (SELECT w.customer_id FROM customer_mgmt.web_sessions w
                             WHERE w.started_at >= range_from AND w.started_at < range_to
                            UNION ALL
                            SELECT o.customer_id FROM customer_mgmt.orders o
                             WHERE o.status = 'completed' AND o.order_date >= range_from
                               AND o.order_date < range_to) a
                     GROUP BY a.customer_id) x
             WHERE x.customer_id NOT IN (SELECT u.id FROM customer_mgmt.users u WHERE u.role <> 'customer')),
           -- whose last completed order before the end of the range became
           -- older than the churned threshold during it: an order in the range
           -- moved back by the threshold, and none after that before the end
           (SELECT count(*)
              FROM (SELECT make_interval(days => customer_mgmt.setting('segment.churned_min_days_since_order')::integer)
                           AS after OFFSET 0) k,
                   LATERAL (SELECT DISTINCT o.customer_id FROM customer_mgmt.orders o
                             WHERE o.status = 'completed' AND o.order_date >= range_from - k.after
                               AND o.order_date < range_to - k.after) x
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.orders o
                                WHERE o.customer_id = x.customer_id AND o.status = 'completed'
                                  AND o.order_date >= range_to - k.after AND o.order_date < range_to)
               AND x.customer_id NOT IN (SELECT u.id FROM customer_mgmt.users u WHERE u.role <> 'customer'));
END
$$;
COMMENT ON FUNCTION overview_counts(timestamptz, timestamptz) IS
    'Internal: customers registered before the end of the range, new in it, active in it (a session or a completed order), churned in it (their last completed order passed the churned threshold during it).';

-- Every customer by lifecycle segment, lifetime-value band (total spent, in
-- the bands of 'lifetimeValueDistribution': (lo, hi]) and churn-risk band
-- ([lo, hi) at the thresholds): one parallel read of the list's narrow
-- copy of the analytics, at most 5 x 6 x 4 rows.
CREATE OR REPLACE FUNCTION overview_bands(low numeric, medium numeric, high numeric)
    RETURNS TABLE (segment lifecycle_segment, value_band integer, risk_band integer, customers bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT l.segment,
           CASE WHEN l.total_spent = 0 THEN 1
                ELSE 2 + (l.total_spent > 1000000)::integer + (l.total_spent > 5000000)::integer
                       + (l.total_spent > 10000000)::integer + (l.total_spent > 50000000)::integer
           END,
           1 + (l.churn_risk_score >= low)::integer + (l.churn_risk_score >= medium)::integer
             + (l.churn_risk_score >= high)::integer,
           count(*)
      FROM customer_mgmt.customer_list l
     GROUP BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION overview_bands(numeric, numeric, numeric) IS
    'Internal: every customer counted by lifecycle segment, lifetime-value band (1: nothing spent, then (0, 1M], (1M, 5M], (5M, 10M], (10M, 50M], over 50M) and churn-risk band (1 to 4 at the thresholds low, medium, high), for get_customer_overview.';

-- The customers registered before a time by province as written and by age
-- band on a date: one parallel read of the customers.
CREATE OR REPLACE FUNCTION overview_people(range_to timestamptz, on_date date)
    RETURNS TABLE (province text, age_band integer, customers bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT u.province, customer_mgmt.age_band(u.date_of_birth, on_date), count(*)
      FROM customer_mgmt.users u
     WHERE u.role = 'customer' AND u.created_at < range_to
     GROUP BY 1, 2;
END
$$;
COMMENT ON FUNCTION overview_people(timestamptz, date) IS
    'Internal: the customers registered before range_to counted by province as written and by age band on on_date (age_bands()), for get_customer_overview.';

CREATE OR REPLACE FUNCTION get_customer_overview(date_from timestamptz DEFAULT NULL, date_to timestamptz DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := customer_mgmt.overview_range(date_from, date_to);
    c record;
    shop_tz text := customer_mgmt.setting('shop_timezone');
    low numeric := customer_mgmt.setting('churn.threshold_low')::numeric;
    medium numeric := customer_mgmt.setting('churn.threshold_medium')::numeric;
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    distributions jsonb;
    result jsonb;
BEGIN
    SELECT * INTO c FROM customer_mgmt.overview_counts(r.range_from, r.range_to);
    result := jsonb_build_object(
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers);

    -- distributions over the stored analytics (as fresh as the last run),
    -- in one read of the list's narrow copy of them (lifetime value is total
    -- spent): every customer counted by segment, value band and risk band
    WITH n AS (
        SELECT GROUPING(x.segment, x.value_band, x.risk_band) AS g, x.segment, x.value_band, x.risk_band,
               sum(x.customers) AS n
          FROM customer_mgmt.overview_bands(low, medium, high) x
         GROUP BY GROUPING SETS ((x.segment), (x.value_band), (x.risk_band), ())),
    total AS (SELECT greatest(n.n, 1) AS n FROM n WHERE n.g = 7)
    SELECT jsonb_build_object(
        'segmentDistribution', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('segment', s.segment, 'count', coalesce(x.n, 0),
                                                         'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                                      ORDER BY s.segment), '[]')
              FROM unnest(enum_range(NULL::customer_mgmt.lifecycle_segment)) AS s(segment)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 3 AND x.segment = s.segment),
        'lifetimeValueDistribution', (
            SELECT jsonb_agg(jsonb_build_object('range', b.label, 'min', b.lo, 'max', b.hi, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                             ORDER BY b.ord)
              FROM (VALUES (1, '0', 0::numeric, 0::numeric), (2, 'under 1M', 0, 1000000), (3, '1M-5M', 1000000, 5000000),
                           (4, '5M-10M', 5000000, 10000000), (5, '10M-50M', 10000000, 50000000), (6, '50M+', 50000000, NULL))
                   AS b(ord, label, lo, hi)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 5 AND x.value_band = b.ord),
        'churnRiskDistribution', (
            SELECT jsonb_agg(jsonb_build_object('level', b.label, 'min', b.lo, 'max', b.hi, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                             ORDER BY b.ord)
              FROM (VALUES (1, 'low', 0::numeric, low), (2, 'moderate', low, medium), (3, 'medium', medium, high),
                           (4, 'high', high, NULL)) AS b(ord, label, lo, hi)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 6 AND x.risk_band = b.ord))
      INTO distributions;
    result := result || distributions;

    -- the top and the most at risk, by the list's indexes
    result := result || jsonb_build_object('topCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name, 'email', l.email,
                                                     'customerLifetimeValue', l.total_spent,
                                                     'totalOrders', l.total_orders, 'segment', l.segment)
                                  ORDER BY l.total_spent DESC, l.customer_id DESC), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_list x
                 WHERE x.total_spent > 0
                 ORDER BY x.total_spent DESC, x.customer_id DESC LIMIT 10) l));

    result := result || jsonb_build_object('atRiskCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name, 'email', l.email,
                                                     'churnRiskScore', l.churn_risk_score,
                                                     'customerLifetimeValue', l.total_spent,
                                                     'daysSinceLastOrder', customer_mgmt.days_between(l.last_order_date, r.range_to),
                                                     'segment', l.segment)
                                  ORDER BY l.churn_risk_score DESC, l.total_spent DESC, l.customer_id), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_list x
                 WHERE x.churn_risk_score > customer_mgmt.setting('segment.at_risk_min_churn_risk')::numeric
                   AND x.status = 'active'
                 ORDER BY x.churn_risk_score DESC, x.total_spent DESC, x.customer_id LIMIT 20) l));
    -- the CLV model in force (fit_clv_model; docs/clv.md), NULL before the first fit
    result := result || jsonb_build_object('clvModel', customer_mgmt.clv_model_dto(customer_mgmt.current_clv_model()));

    -- where and who: provinces as they are named since 2025, ages at date_to;
    -- one read of the customers, counted by province as written and age band
    WITH pa AS MATERIALIZED (
        SELECT p.province, p.age_band AS ord, p.customers AS n
          FROM customer_mgmt.overview_people(r.range_to, (r.range_to AT TIME ZONE shop_tz)::date) p)
    SELECT result || jsonb_build_object(
        'geographicDistribution', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('province', x.province, 'count', x.n,
                                                         'percentage', round(100.0 * x.n / greatest(c.total_customers, 1), 2))
                                      ORDER BY x.n DESC, x.province NULLS LAST), '[]')
              FROM (SELECT coalesce(p.current_name, pa.province) AS province, sum(pa.n)::bigint AS n
                      FROM pa LEFT JOIN customer_mgmt.provinces p ON p.name = pa.province
                     GROUP BY 1) x),
        'ageDistribution', (
            SELECT jsonb_agg(jsonb_build_object('range', b.label, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / greatest(c.total_customers, 1), 2))
                             ORDER BY b.ord)
              FROM customer_mgmt.age_bands() b
              LEFT JOIN (SELECT pa.ord, sum(pa.n)::bigint AS n FROM pa GROUP BY pa.ord) x ON x.ord = b.ord))
      INTO result;

    -- the customers registered in the range, step by step
    result := result || jsonb_build_object('conversionFunnel', (
        SELECT jsonb_build_array(
                   jsonb_build_object('stage', 'registered', 'count', f.registered, 'rate', 1),
                   jsonb_build_object('stage', 'visited', 'count', f.visited,
                                      'rate', round(f.visited::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'ordered', 'count', f.ordered,
                                      'rate', round(f.ordered::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'orderedAgain', 'count', f.again,
                                      'rate', round(f.again::numeric / greatest(f.registered, 1), 4)))
          FROM (SELECT count(*) AS registered,
                       count(*) FILTER (WHERE y.sessions > 0) AS visited,
                       count(*) FILTER (WHERE y.orders >= 1) AS ordered,
                       count(*) FILTER (WHERE y.orders >= 2) AS again
                  FROM (SELECT (SELECT count(*) FROM customer_mgmt.web_sessions w
                                 WHERE w.customer_id = u.id AND w.started_at >= r.range_from
                                   AND w.started_at < r.range_to) AS sessions,
                               (SELECT count(*) FROM customer_mgmt.orders o
                                 WHERE o.customer_id = u.id AND o.status = 'completed'
                                   AND o.order_date >= r.range_from AND o.order_date < r.range_to) AS orders
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to) y) f));

    -- monthly cohorts (shop time) of the customers registered in the range:
    -- the share of each cohort with a completed order in each month since
    result := result || jsonb_build_object('retentionCohorts', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('cohort', to_char(k.cohort, 'YYYY-MM'), 'customers', k.size,
                                                     'months', k.months) ORDER BY k.cohort), '[]')
          FROM (SELECT m.cohort, m.size,
                       (SELECT jsonb_agg(jsonb_build_object('month', g.i, 'customers', coalesce(z.n, 0),
                                                            'rate', round(coalesce(z.n, 0)::numeric / m.size, 4))
                                         ORDER BY g.i)
                          FROM generate_series(0, (extract(year FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)) * 12
                                                   + extract(month FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)))::integer) AS g(i)
                          LEFT JOIN (
                               SELECT (extract(year FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)) * 12
                                       + extract(month FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)))::integer AS i,
                                      count(DISTINCT o.customer_id) AS n
                                 FROM customer_mgmt.users u
                                 JOIN customer_mgmt.orders o ON o.customer_id = u.id
                                WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                                  AND date_trunc('month', u.created_at AT TIME ZONE shop_tz) = m.cohort
                                  AND o.status = 'completed' AND o.order_date >= u.created_at AND o.order_date < r.range_to
                                GROUP BY 1) z ON z.i = g.i) AS months
                  FROM (SELECT date_trunc('month', u.created_at AT TIME ZONE shop_tz) AS cohort, count(*) AS size
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                         GROUP BY 1) m) k));
    RETURN result;
END
$$;
COMMENT ON FUNCTION get_customer_overview(timestamptz, timestamptz) IS
    'Staff: the customer dashboard for [date_from, date_to) (default the last 30 days): totals, new/active/churned in the range, segment, lifetime-value and churn-risk distributions, top 10 by value, 20 most at risk, provinces, ages, conversion funnel, monthly retention cohorts.';

CREATE OR REPLACE FUNCTION get_customer_health_score(as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    c record;
    total numeric;
    gini numeric;
    acquisition numeric;
    retention numeric;
    engagement numeric;
    value_score numeric;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    r := customer_mgmt.overview_range(as_of - interval '1 month', as_of);
    SELECT * INTO c FROM customer_mgmt.overview_counts(r.range_from, r.range_to);
    total := greatest(c.total_customers, 1);
    -- valueScore = 1 - the Gini coefficient of the lifetime values (total
    -- spent) of the customers who spent, in the order of the list's index: 1 when value is spread evenly, 0 when one
    -- customer holds it all (docs/analytics.md)
    SELECT CASE WHEN count(*) > 0 AND sum(v) > 0
                THEN 2 * sum(k * v) / (count(*) * sum(v)) - (count(*) + 1)::numeric / count(*) END
      INTO gini
      FROM (SELECT l.total_spent AS v, row_number() OVER (ORDER BY l.total_spent) AS k
              FROM customer_mgmt.customer_list l WHERE l.total_spent > 0) x;
    acquisition := least(c.new_customers / total * 100, 25);
    retention := (1 - c.churned_customers / total) * 30;
    engagement := c.active_customers / total * 25;
    value_score := 1 - coalesce(gini, 1);
    RETURN jsonb_build_object(
        'healthScore', round(acquisition + retention + engagement + value_score * 20)::integer,
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers,
        'components', jsonb_build_object(
            'acquisition', round(acquisition, 2), 'retention', round(retention, 2),
            'engagement', round(engagement, 2), 'valueDistribution', round(value_score * 20, 2)),
        'valueScore', round(value_score, 4));
END
$$;
COMMENT ON FUNCTION get_customer_health_score(timestamptz) IS
    'Staff: the customer health score over the month before as_of (default now), 0-100: acquisition (new/total x 100, at most 25) + retention ((1 - churned/total) x 30) + engagement (active/total x 25) + valueScore x 20, valueScore = 1 - Gini of lifetime values. Returns {healthScore, components, ...}.';
