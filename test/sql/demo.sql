-- The demo shop of seed 42 at a fixed time is the same in every version:
-- benchmarks and documentation examples depend on it.
SELECT customer_mgmt.generate_demo_shop(1000, 42, '2026-01-01 00:00+07') AS counts;
SELECT status, count(*), sum(total_amount) FROM customer_mgmt.orders GROUP BY status ORDER BY status;
SELECT full_name, email, phone_number, province, gender, date_of_birth, created_at
  FROM customer_mgmt.users WHERE role = 'customer' ORDER BY created_at, id LIMIT 5;
SELECT o.order_date, o.total_amount, i.product_name, i.category, i.brand, i.unit_price, i.quantity
  FROM customer_mgmt.orders o JOIN customer_mgmt.order_items i ON i.order_id = o.id
 ORDER BY o.order_date, i.product_name LIMIT 6;
SELECT md5(string_agg(u::text, ',' ORDER BY u.id)) AS users_digest FROM customer_mgmt.users u;
SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) AS orders_digest FROM customer_mgmt.orders o;
