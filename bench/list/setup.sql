-- Fixture of the list benchmarks, run once per bench database.
--
-- The analytics as the engine calculates them, as of the shop's date, when
-- they have not been calculated yet.
\set ON_ERROR_STOP 1
SELECT customer_mgmt.recalculate_all_analytics('2026-11-01') ->> 'customers' AS analytics_calculated
 WHERE EXISTS (SELECT FROM customer_mgmt.customer_analytics WHERE last_calculated_at IS NULL);

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
