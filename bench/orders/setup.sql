-- Customers numbered 1..n, for pgbench to pick one at random.
DROP TABLE IF EXISTS bench_customers;
CREATE TABLE bench_customers (n integer PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_customers SELECT row_number() OVER (ORDER BY id), id FROM customer_mgmt.users WHERE role = 'customer';
ANALYZE bench_customers;
