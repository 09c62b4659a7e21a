-- One completed order of a random customer, as a shop's application writes
-- it (total 1234.56 VND marks the benchmark's rows for removal).
\set n random(1, 1000000)
INSERT INTO customer_mgmt.orders (customer_id, status, total_amount, order_date, completed_at)
SELECT id, 'completed', 1234.56, now(), now() FROM bench_customers WHERE n = :n;
