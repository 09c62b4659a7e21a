-- One wholesale customer: 100,000 order lines in 50,000 orders, 3 categories,
-- 2 brands (every name in tens of thousands of orders: the case that was
-- quadratic when entries and orders were found by walking lists).
CREATE TABLE bench_wholesale AS
    SELECT ('00000000-0000-4000-8000-' || lpad((i / 2)::text, 12, '0'))::uuid AS order_id,
           'category ' || i % 3 AS category, 'brand ' || i % 2 AS brand,
           (100000 + i % 977 * 1000)::bigint AS unit_price_cents, 1 + i % 4 AS quantity
      FROM generate_series(1, 100000) i;
VACUUM ANALYZE bench_wholesale;
