-- The dashboard's counts read indexes over the range (overview_counts),
-- and its funnel and cohorts the range's visits and orders joined to its
-- new customers; on a generated shop they equal the direct computation
-- customer by customer, for ranges of a week to five years, before any
-- data, and after the shop changed.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(26);

-- The definitions, computed the long way: every customer, every order.
CREATE FUNCTION pg_temp.direct_counts(range_from timestamptz, range_to timestamptz) RETURNS text
    LANGUAGE sql AS $$
    SELECT row((SELECT count(*) FROM customer_mgmt.users u WHERE u.role = 'customer' AND u.created_at < range_to),
               (SELECT count(*) FROM customer_mgmt.users u
                 WHERE u.role = 'customer' AND u.created_at >= range_from AND u.created_at < range_to),
               (SELECT count(*) FROM customer_mgmt.users u
                 WHERE u.role = 'customer'
                   AND (EXISTS (SELECT FROM customer_mgmt.web_sessions w
                                 WHERE w.customer_id = u.id AND w.started_at >= range_from AND w.started_at < range_to)
                        OR EXISTS (SELECT FROM customer_mgmt.orders o
                                    WHERE o.customer_id = u.id AND o.status = 'completed'
                                      AND o.order_date >= range_from AND o.order_date < range_to))),
               (SELECT count(*)
                  FROM customer_mgmt.users u
                  JOIN (SELECT o.customer_id, max(o.order_date) AS last_order FROM customer_mgmt.orders o
                         WHERE o.status = 'completed' AND o.order_date < range_to GROUP BY o.customer_id) x
                    ON x.customer_id = u.id AND u.role = 'customer'
                 WHERE x.last_order + make_interval(days => customer_mgmt.setting('segment.churned_min_days_since_order')::integer)
                       >= range_from
                   AND x.last_order + make_interval(days => customer_mgmt.setting('segment.churned_min_days_since_order')::integer)
                       < range_to))::text
$$;

-- The funnel and the cohorts, customer by customer: each new customer's
-- visits and completed orders in the range, and for each cohort month the
-- customers with a completed order in each month since.
CREATE FUNCTION pg_temp.direct_funnel_cohorts(range_from timestamptz, range_to timestamptz) RETURNS jsonb
    LANGUAGE sql AS $$
    WITH tz AS (SELECT customer_mgmt.setting('shop_timezone') AS z),
    nc AS (
        SELECT u.id, u.created_at, date_trunc('month', u.created_at AT TIME ZONE tz.z) AS cohort
          FROM customer_mgmt.users u, tz
         WHERE u.role = 'customer' AND u.created_at >= range_from AND u.created_at < range_to),
    y AS (
        SELECT (SELECT count(*) FROM customer_mgmt.web_sessions w
                 WHERE w.customer_id = nc.id AND w.started_at >= range_from AND w.started_at < range_to) AS sessions,
               (SELECT count(*) FROM customer_mgmt.orders o
                 WHERE o.customer_id = nc.id AND o.status = 'completed'
                   AND o.order_date >= range_from AND o.order_date < range_to) AS orders
          FROM nc),
    months AS (
        SELECT m.cohort, m.size, g.i,
               (SELECT count(DISTINCT nc.id) FROM nc JOIN customer_mgmt.orders o ON o.customer_id = nc.id, tz
                 WHERE nc.cohort = m.cohort AND o.status = 'completed' AND o.order_date >= nc.created_at
                   AND o.order_date < range_to
                   AND date_trunc('month', o.order_date AT TIME ZONE tz.z) = m.cohort + make_interval(months => g.i)) AS n
          FROM (SELECT nc.cohort, count(*) AS size FROM nc GROUP BY 1) m, tz,
               generate_series(0, (SELECT count(*) FROM generate_series(
                   m.cohort, date_trunc('month', (range_to - interval '1 microsecond') AT TIME ZONE tz.z),
                   interval '1 month'))::integer - 1) g(i))
    SELECT jsonb_build_object(
        'funnel', (SELECT jsonb_build_array(count(*), count(*) FILTER (WHERE sessions > 0),
                                            count(*) FILTER (WHERE orders >= 1), count(*) FILTER (WHERE orders >= 2)) FROM y),
        'cohorts', (SELECT coalesce(jsonb_agg(jsonb_build_array(to_char(cohort, 'YYYY-MM'), size, i, n)
                                              ORDER BY cohort, i), '[]') FROM months))
$$;
-- the same, read off get_customer_overview
CREATE FUNCTION pg_temp.overview_funnel_cohorts(range_from timestamptz, range_to timestamptz) RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'funnel', (SELECT jsonb_agg((e ->> 'count')::bigint ORDER BY n) FROM jsonb_array_elements(j -> 'conversionFunnel')
                                                                          WITH ORDINALITY AS x(e, n)),
        'cohorts', (SELECT coalesce(jsonb_agg(jsonb_build_array(c ->> 'cohort', (c ->> 'customers')::bigint,
                                                                (m ->> 'month')::int, (m ->> 'customers')::bigint)
                                              ORDER BY c ->> 'cohort', (m ->> 'month')::int), '[]')
                      FROM jsonb_array_elements(j -> 'retentionCohorts') c, jsonb_array_elements(c -> 'months') m))
      FROM (SELECT customer_mgmt.get_customer_overview(range_from, range_to) AS j) o
$$;

CREATE FUNCTION pg_temp.fast_counts(range_from timestamptz, range_to timestamptz) RETURNS text
    LANGUAGE sql AS $$
    SELECT row(c.total_customers, c.new_customers, c.active_customers, c.churned_customers)::text
      FROM customer_mgmt.overview_counts(range_from, range_to) c
$$;

SELECT is(customer_mgmt.generate_demo_shop(400, 3, '2026-06-01 00:00+07') ->> 'customers', '400', 'a shop of 400 customers');
SELECT ok(pg_temp.direct_counts('2026-05-02 00:00+07', '2026-06-01 00:00+07') ~ '^\(400,[1-9][0-9]*,[1-9][0-9]*,[1-9]',
          'the last 30 days have new, active and churned customers to count');

SELECT is(pg_temp.fast_counts(f, t), pg_temp.direct_counts(f, t), format('counts of [%s, %s)', f, t))
  FROM (VALUES ('2026-05-02 00:00+07'::timestamptz, '2026-06-01 00:00+07'::timestamptz),
               ('2026-05-25 00:00+07', '2026-06-01 00:00+07'),
               ('2025-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2021-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2024-01-01 00:00+07', '2024-03-01 00:00+07'),
               ('2010-01-01 00:00+07', '2010-02-01 00:00+07'),
               ('2026-06-01 00:00+07', '2026-07-01 00:00+07')) r(f, t);
SELECT is(pg_temp.overview_funnel_cohorts(f, t), pg_temp.direct_funnel_cohorts(f, t),
          format('funnel and cohorts of [%s, %s)', f, t))
  FROM (VALUES ('2026-05-02 00:00+07'::timestamptz, '2026-06-01 00:00+07'::timestamptz),
               ('2026-05-25 00:00+07', '2026-06-01 00:00+07'),
               ('2025-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2022-01-01 00:00+07', '2026-06-01 00:00+07'),
               ('2024-01-01 00:00+07', '2024-03-01 00:00+07'),
               ('2010-01-01 00:00+07', '2010-02-01 00:00+07'),
               ('2026-06-01 00:00+07', '2026-07-01 00:00+07')) r(f, t);
SELECT ok(pg_temp.direct_funnel_cohorts('2025-06-01 00:00+07', '2026-06-01 00:00+07') -> 'funnel' ->> 3 > '0'
          AND jsonb_array_length(pg_temp.direct_funnel_cohorts('2025-06-01 00:00+07', '2026-06-01 00:00+07') -> 'cohorts') > 12,
          'a year has new customers who ordered twice, and cohorts of many months');

-- the shop changes: a refund, a new order, a visit, a registration, a
-- staff member's visit and orders, a customer made staff
SELECT customer_mgmt.set_order_status(
           (SELECT o.id FROM customer_mgmt.orders o WHERE o.status = 'completed' ORDER BY o.order_date DESC LIMIT 1),
           'refunded') IS NULL AS refunded \gset
SELECT customer_mgmt.record_order((SELECT l.customer_id FROM customer_mgmt.customer_list l ORDER BY l.customer_id LIMIT 1),
                                  500000, 'completed', '2026-05-30 10:00+07') IS NOT NULL AS ordered \gset
SELECT customer_mgmt.record_session((SELECT l.customer_id FROM customer_mgmt.customer_list l ORDER BY l.customer_id DESC LIMIT 1),
                                    '2026-05-31 10:00+07', 60, 2, false) IS NOT NULL AS visited \gset
SELECT customer_mgmt.register_customer('Khách Mới', 'moi@example.vn', registered_at => '2026-05-31 12:00+07') IS NOT NULL AS registered \gset
-- a staff member's visit and completed orders (the shop's own tables, as a
-- shop writes them): not a customer, so neither active nor churned
SELECT customer_mgmt.register_staff('Lê Nhân Viên', 'nv@cuahang.vn', 'staff') AS staff_id,
       customer_mgmt.register_staff('Đỗ Thu Ngân', 'tn@cuahang.vn', 'staff') AS cashier_id \gset
INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
VALUES (:'staff_id', '2026-05-31 09:00+07', 60, 3, false);
-- one order in the last 30 days; one whose age passes the churned
-- threshold (180 days) on 2026-05-14
INSERT INTO customer_mgmt.orders (customer_id, total_amount, status, order_date)
VALUES (:'staff_id', 250000, 'completed', '2026-05-30 09:00+07'),
       (:'cashier_id', 250000, 'completed', '2025-11-15 09:00+07');
-- a customer with orders who became staff leaves every count
UPDATE customer_mgmt.users SET role = 'staff'
 WHERE id = (SELECT o.customer_id FROM customer_mgmt.orders o JOIN customer_mgmt.users u ON u.id = o.customer_id
              WHERE u.role = 'customer' AND o.status = 'completed' AND o.order_date >= '2026-05-02 00:00+07'
              ORDER BY o.order_date, o.id LIMIT 1);
SELECT is(pg_temp.fast_counts(f, t), pg_temp.direct_counts(f, t), format('after the changes, counts of [%s, %s)', f, t))
  FROM (VALUES ('2026-05-02 00:00+07'::timestamptz, '2026-06-01 00:00+07'::timestamptz),
               ('2026-05-25 00:00+07', '2026-06-01 00:00+07'),
               ('2025-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2021-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2026-05-31 00:00+07', '2026-06-01 00:00+07')) r(f, t);
SELECT is(pg_temp.overview_funnel_cohorts(f, t), pg_temp.direct_funnel_cohorts(f, t),
          format('after the changes, funnel and cohorts of [%s, %s)', f, t))
  FROM (VALUES ('2026-05-02 00:00+07'::timestamptz, '2026-06-01 00:00+07'::timestamptz),
               ('2025-06-01 00:00+07', '2026-06-01 00:00+07'),
               ('2026-05-25 00:00+07', '2026-06-01 00:00+07'),
               ('2026-05-31 00:00+07', '2026-06-01 00:00+07')) r(f, t);

SELECT * FROM finish();
ROLLBACK;
