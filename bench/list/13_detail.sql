\set r random(1, 1000000)
SELECT customer_mgmt.get_customer(c.id) FROM bench_customers c WHERE c.n = :r;
