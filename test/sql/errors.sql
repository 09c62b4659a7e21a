-- The exact text of the errors the API returns: PostgREST passes message,
-- detail and hint to the client unchanged, so they are part of the contract.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example');
SELECT customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example.vn', '+1 212 555 0100');
SELECT customer_mgmt.register_customer(repeat('Đ', 300), 'duc@example.vn');
SELECT customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example.vn', province => 'Atlantis');
SELECT customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example.vn') IS NOT NULL AS registered;
SELECT customer_mgmt.register_customer('Đức Nguyễn', 'DUC@Example.VN');
SELECT customer_mgmt.record_order('00000000-0000-4000-8000-000000000099', 100000);
SELECT customer_mgmt.record_order(id, 100000, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": 0}]')
  FROM customer_mgmt.users WHERE email = 'duc@example.vn';
SELECT customer_mgmt.record_order(id, 100000, 'paid') FROM customer_mgmt.users WHERE email = 'duc@example.vn';
INSERT INTO customer_mgmt.orders (id, customer_id, status, total_amount, order_date)
SELECT '00000000-0000-4000-8000-0000000000c1', id, 'cancelled', 100000, now()
  FROM customer_mgmt.users WHERE email = 'duc@example.vn';
SELECT customer_mgmt.set_order_status('00000000-0000-4000-8000-0000000000c1', 'completed');
SELECT customer_mgmt.set_order_status('00000000-0000-4000-8000-0000000000c1', 'refunded');
DELETE FROM customer_mgmt.orders WHERE id = '00000000-0000-4000-8000-0000000000c1';
-- none of the failing calls wrote anything
SELECT count(*) AS orders_written FROM customer_mgmt.orders o JOIN customer_mgmt.users u ON u.id = o.customer_id
 WHERE u.email = 'duc@example.vn';
DELETE FROM customer_mgmt.users WHERE email = 'duc@example.vn';
