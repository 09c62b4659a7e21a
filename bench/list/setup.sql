-- Fixture of the list benchmarks, run once per bench database.
--
-- The analytics engine comes with a later version; until then the bench
-- fills customer_analytics itself so that the list's filters and sorts meet
-- realistic data: order statistics are exact (completed orders), the
-- lifecycle segment applies the design's rules without the churn score, and
-- the churn score takes the design's recency and frequency factors only.
-- This is bench data, not what the extension computes.
\set ON_ERROR_STOP 1
SELECT customer_mgmt.ensure_analytics_rows() AS analytics_rows_created;

UPDATE customer_mgmt.customer_analytics a
   SET total_orders = s.n, total_spent = s.spent, average_order_value = round(s.spent / s.n, 2),
       last_order_date = s.last, customer_lifetime_value = s.spent,
       days_since_last_order = customer_mgmt.days_between(s.last, '2026-11-01'),
       churn_risk_score = least(1, CASE WHEN s.last < timestamptz '2026-11-01' - interval '90 days' THEN 0.3
                                        WHEN s.last < timestamptz '2026-11-01' - interval '60 days' THEN 0.2
                                        WHEN s.last < timestamptz '2026-11-01' - interval '30 days' THEN 0.1 ELSE 0 END
                                 + CASE WHEN s.n < 2 THEN 0.2 ELSE 0 END),
       segment = CASE WHEN s.spent > 50000000 THEN 'vip'
                      WHEN s.n > 5 AND s.last > timestamptz '2026-11-01' - interval '60 days' THEN 'loyal'
                      WHEN s.last > timestamptz '2026-11-01' - interval '30 days' THEN 'active'
                      WHEN s.last < timestamptz '2026-11-01' - interval '180 days' THEN 'churned'
                      WHEN s.n <= 1 THEN 'new' ELSE 'active' END::customer_mgmt.lifecycle_segment,
       last_calculated_at = '2026-11-01'
  FROM (SELECT customer_id, count(*) AS n, sum(total_amount) AS spent, max(order_date) AS last
          FROM customer_mgmt.orders WHERE status = 'completed' GROUP BY customer_id) s
 WHERE a.customer_id = s.customer_id;

-- customers by number, and search terms taken from real customers
DROP TABLE IF EXISTS bench_customers, bench_terms;
CREATE TABLE bench_customers AS
SELECT row_number() OVER (ORDER BY id) AS n, id FROM customer_mgmt.users WHERE role = 'customer';
ALTER TABLE bench_customers ADD PRIMARY KEY (n);
CREATE TABLE bench_terms AS
SELECT kind, row_number() OVER (PARTITION BY kind ORDER BY term) AS n, term FROM (
    -- a whole name, accents dropped and lower-cased as people type them
    SELECT DISTINCT 'name' AS kind, customer_mgmt.search_fold(full_name) AS term
      FROM customer_mgmt.users TABLESAMPLE SYSTEM (1) REPEATABLE (42) WHERE role = 'customer'
    UNION ALL
    -- the first seven digits of a phone number, spaced as people type them
    SELECT DISTINCT 'phone', substr(phone_number, 1, 4) || ' ' || substr(phone_number, 5, 3)
      FROM customer_mgmt.users TABLESAMPLE SYSTEM (1) REPEATABLE (43) WHERE role = 'customer' AND phone_number IS NOT NULL
    UNION ALL
    -- the local part of an e-mail address up to the @
    SELECT DISTINCT 'email', split_part(email, '@', 1) || '@'
      FROM customer_mgmt.users TABLESAMPLE SYSTEM (1) REPEATABLE (44) WHERE role = 'customer') t;
ALTER TABLE bench_terms ADD PRIMARY KEY (kind, n);
VACUUM ANALYZE;
SELECT kind, count(*) FROM bench_terms GROUP BY kind ORDER BY kind;
SELECT segment, count(*) FROM customer_mgmt.customer_analytics GROUP BY segment ORDER BY segment;
