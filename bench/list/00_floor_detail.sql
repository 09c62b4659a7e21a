-- floor: one customer row by primary key
\set r random(1, 1000000)
SELECT u.* FROM bench_customers c JOIN customer_mgmt.users u ON u.id = c.id WHERE c.n = :r;
