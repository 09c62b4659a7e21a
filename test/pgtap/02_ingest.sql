-- Ingestion API: good inputs do what they say; every bad input is refused
-- with the SQLSTATE of docs/reference.md, names the bad field, writes nothing.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(80);

CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
INSERT INTO ids VALUES
    ('duc', customer_mgmt.register_customer(
        full_name => '  Nguyễn Văn Đức ', email => 'Duc.Nguyen@Example.vn', phone_number => '+84 912 345 678',
        date_of_birth => '1990-05-17', gender => 'Male', province => 'tp. hồ chí minh',
        registered_at => '2025-03-01 09:00+07')),
    ('lan', customer_mgmt.register_customer('Trần Thị Lan', 'lan@example.vn')),
    ('staff', customer_mgmt.register_staff('Lê Thu Hà', 'ha@cuahang.vn')),
    ('admin', customer_mgmt.register_staff('Phạm Quốc Bảo', 'bao@cuahang.vn', 'admin'));

-- good inputs ---------------------------------------------------------------
SELECT results_eq(
    $$SELECT full_name, email, phone_number, gender::text, province, date_of_birth, created_at, role::text, status::text
        FROM customer_mgmt.users WHERE id = (SELECT id FROM ids WHERE name = 'duc')$$,
    $$VALUES ('Nguyễn Văn Đức', 'Duc.Nguyen@Example.vn', '0912345678', 'male', 'Hồ Chí Minh',
              DATE '1990-05-17', timestamptz '2025-03-01 09:00+07', 'customer', 'active')$$,
    'register_customer trims, normalises phone, gender and province');
SELECT is((SELECT role::text FROM customer_mgmt.users WHERE id = (SELECT id FROM ids WHERE name = 'admin')), 'admin',
          'register_staff with role admin');
SELECT is((SELECT role::text FROM customer_mgmt.users WHERE id = (SELECT id FROM ids WHERE name = 'staff')), 'staff',
          'register_staff defaults to staff');

SELECT isnt(customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'duc'), 'Nguyễn Văn Đức', '0912 345 678',
            '12 Lê Lợi', 'Phường Bến Thành', province => 'Hồ Chí Minh', is_default_shipping => true, is_default_billing => true),
            NULL, 'add_customer_address returns an id');
SELECT isnt(customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'duc'), 'Đức (cơ quan)', '028 3822 1234',
            '45 Pasteur', 'Phường Bến Nghé', 'Quận 1', 'Bình Dương', is_default_shipping => true),
            NULL, 'an older address with a district and a former province');
SELECT results_eq(
    $$SELECT street, district, province, phone_number, is_default_shipping, is_default_billing
        FROM customer_mgmt.addresses WHERE customer_id = (SELECT id FROM ids WHERE name = 'duc') ORDER BY street$$,
    $$VALUES ('12 Lê Lợi', NULL::text, 'Hồ Chí Minh', '0912345678', false, true),
             ('45 Pasteur', 'Quận 1', 'Bình Dương', '02838221234', true, false)$$,
    'the new default shipping address replaced the old one; billing stayed');

INSERT INTO ids SELECT 'order1', customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'duc'), 1250000, 'completed',
    '2025-06-01 10:00+07', '[{"productName": "Áo thun Canifa", "category": "Thời trang", "brand": "Canifa", "unitPrice": 250000, "quantity": 3},
                             {"productName": "Son môi", "category": "Mỹ phẩm", "brand": null, "unitPrice": 500000, "quantity": 1}]');
SELECT results_eq(
    $$SELECT status::text, total_amount, order_date, completed_at FROM customer_mgmt.orders WHERE id = (SELECT id FROM ids WHERE name = 'order1')$$,
    $$VALUES ('completed', 1250000.00::numeric, timestamptz '2025-06-01 10:00+07', timestamptz '2025-06-01 10:00+07')$$,
    'record_order records a completed order, completed at its date');
SELECT results_eq(
    $$SELECT product_name, category, brand, unit_price, quantity FROM customer_mgmt.order_items
       WHERE order_id = (SELECT id FROM ids WHERE name = 'order1') ORDER BY product_name$$,
    $$VALUES ('Son môi', 'Mỹ phẩm', NULL::text, 500000.00::numeric, 1), ('Áo thun Canifa', 'Thời trang', 'Canifa', 250000.00, 3)$$,
    'record_order records its items');
INSERT INTO ids SELECT 'order2', customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 99000, 'pending');
SELECT is((SELECT count(*)::int FROM customer_mgmt.order_items WHERE order_id = (SELECT id FROM ids WHERE name = 'order2')), 0,
          'items default to none');
SELECT lives_ok($$SELECT customer_mgmt.set_order_status((SELECT id FROM ids WHERE name = 'order2'), 'processing')$$,
                'pending -> processing');
SELECT lives_ok($$SELECT customer_mgmt.set_order_status((SELECT id FROM ids WHERE name = 'order2'), 'COMPLETED')$$,
                'processing -> completed (case-insensitive)');
SELECT ok((SELECT completed_at IS NOT NULL FROM customer_mgmt.orders WHERE id = (SELECT id FROM ids WHERE name = 'order2')),
          'completing an order sets completed_at');
SELECT lives_ok($$SELECT customer_mgmt.set_order_status((SELECT id FROM ids WHERE name = 'order2'), 'completed')$$,
                'the same status again is a no-op');

SELECT ok(customer_mgmt.record_session((SELECT id FROM ids WHERE name = 'lan'), '2025-06-02 20:00+07', 300, 7, true) > 0,
          'record_session returns the session id');
SELECT ok(customer_mgmt.record_login((SELECT id FROM ids WHERE name = 'lan'), '2025-06-03 08:00+07') > 0,
          'record_login returns the session id');
SELECT ok(customer_mgmt.record_login((SELECT id FROM ids WHERE name = 'lan'), '2025-06-01 08:00+07') > 0,
          'an older login is recorded too');
SELECT is((SELECT last_login_at FROM customer_mgmt.users WHERE id = (SELECT id FROM ids WHERE name = 'lan')),
          '2025-06-03 08:00+07'::timestamptz, 'last login only moves forward');
SELECT is((SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM ids WHERE name = 'lan')), 3,
          'each login is a session');

-- bad inputs: 22023 naming the field, nothing written ---------------------------
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer(NULL, 'a@example.vn')$$), '22023 full_name', 'full_name NULL');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('   ', 'a@example.vn')$$), '22023 full_name', 'full_name blank');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer(repeat('x', 10000), 'a@example.vn')$$), '22023 full_name', 'full_name 10,000 characters');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer(E'Nam\x01', 'a@example.vn')$$), '22023 full_name', 'full_name with a control character');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'not-an-email')$$), '22023 email', 'e-mail without @');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'a@b')$$), '22023 email', 'e-mail without a domain dot');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'a b@example.vn')$$), '22023 email', 'e-mail with a space');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', '''; DROP TABLE customer_mgmt.users; --@x.vn')$$), '22023 email', 'e-mail with SQL in it');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', repeat('a', 250) || '@example.vn')$$), '22023 email', 'e-mail too long');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', NULL)$$), '22023 email', 'e-mail NULL');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'DUC.NGUYEN@example.VN')$$), '23505 email', 'duplicate e-mail (case-insensitive) is 23505');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', '12345')$$), '22023 phone_number', 'phone too short');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', '+1 212 555 0100')$$), '22023 phone_number', 'foreign phone');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', '0912abc678')$$), '22023 phone_number', 'phone with letters');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', '0112345678')$$), '22023 phone_number', 'phone with an unused prefix');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', date_of_birth => '1800-01-01')$$), '22023 date_of_birth', 'birth before 1900');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', date_of_birth => current_date + 1)$$), '22023 date_of_birth', 'birth in the future');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', date_of_birth => 'infinity')$$), '22023 date_of_birth', 'birth at infinity');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', gender => 'robot')$$), '22023 gender', 'unknown gender');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', province => 'Atlantis')$$), '22023 province', 'unknown province');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', registered_at => 'infinity')$$), '22023 registered_at', 'registration at infinity');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', registered_at => now() + interval '1 year')$$), '22023 registered_at', 'registration in the future');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Nam', 'nam@example.vn', registered_at => NULL)$$), '22023 registered_at', 'registration NULL');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_staff('Nam', 'nam@cuahang.vn', 'customer')$$), '22023 role', 'staff role customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_staff('Nam', 'nam@cuahang.vn', 'root')$$), '22023 role', 'staff role unknown');

SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address('00000000-0000-4000-8000-0000000000aa', 'A', '0912345678', '1 Lê Lợi', 'Phường 1', province => 'Hà Nội')$$),
          'PT404', 'address for an unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'staff'), 'A', '0912345678', '1 Lê Lợi', 'Phường 1', province => 'Hà Nội')$$),
          'PT404', 'a staff user is not a customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address(NULL, 'A', '0912345678', '1 Lê Lợi', 'Phường 1', province => 'Hà Nội')$$),
          '22023 customer_id', 'address without customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'lan'), 'A', '0912345678', '1 Lê Lợi', 'Phường 1')$$),
          '22023 province', 'address without province');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'lan'), 'A', NULL, '1 Lê Lợi', 'Phường 1', province => 'Hà Nội')$$),
          '22023 phone_number', 'address without phone');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'lan'), 'A', '0912345678', '', 'Phường 1', province => 'Hà Nội')$$),
          '22023 street', 'address with an empty street');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'lan'), 'A', '0912345678', '1 Lê Lợi', NULL, province => 'Hà Nội')$$),
          '22023 ward', 'address without ward');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_address((SELECT id FROM ids WHERE name = 'lan'), 'A', '0912345678', '1 Lê Lợi', 'Phường 1', repeat('Q', 101), 'Hà Nội')$$),
          '22023 district', 'district too long');

SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order('00000000-0000-4000-8000-0000000000aa', 100)$$), 'PT404', 'order of an unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), -1)$$), '22023 total_amount', 'negative amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 'NaN')$$), '22023 total_amount', 'NaN amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 'Infinity')$$), '22023 total_amount', 'infinite amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 1e20)$$), '22023 total_amount', 'amount beyond numeric(15,2)');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), NULL)$$), '22023 total_amount', 'amount NULL');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, 'paid')$$), '22023 status', 'unknown order status');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, order_date => '-infinity')$$), '22023 order_date', 'order at -infinity');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '{"productName": "x"}')$$), '22023 items', 'items not an array');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[1, 2]')$$), '22023 items[0]', 'an item that is not an object');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": 0}]')$$), '22023 items[0].quantity', 'quantity 0');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": 1.5}]')$$), '22023 items[0].quantity', 'fractional quantity');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": "2"}]')$$), '22023 items[0].quantity', 'quantity as a string');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": 1}, {"productName": "Sữa", "unitPrice": -5, "quantity": 1}]')$$), '22023 items[1].unitPrice', 'negative price in the second item');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"unitPrice": 1000, "quantity": 1}]')$$), '22023 items[0].productName', 'item without product name');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": "Tã", "unitPrice": 1000, "quantity": 1, "discount": 5}]')$$), '22023 items[0].discount', 'unknown item key');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM ids WHERE name = 'lan'), 100, items => '[{"productName": 42, "unitPrice": 1000, "quantity": 1}]')$$), '22023 items[0].productName', 'product name not a string');

SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_order_status('00000000-0000-4000-8000-0000000000aa', 'completed')$$), 'PT404', 'status of an unknown order');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_order_status((SELECT id FROM ids WHERE name = 'order2'), 'shipping')$$), '22023 status', 'unknown status');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_order_status((SELECT id FROM ids WHERE name = 'order2'), 'pending')$$), 'P0001', 'completed -> pending is refused');

SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_session((SELECT id FROM ids WHERE name = 'lan'), now(), -1)$$), '22023 duration_seconds', 'negative duration');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_session((SELECT id FROM ids WHERE name = 'lan'), now(), 10, 0)$$), '22023 page_views', 'zero page views');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_session((SELECT id FROM ids WHERE name = 'lan'), 'infinity')$$), '22023 started_at', 'session at infinity');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_session('00000000-0000-4000-8000-0000000000aa')$$), 'PT404', 'session of an unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_login('00000000-0000-4000-8000-0000000000aa')$$), 'PT404', 'login of an unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_login((SELECT id FROM ids WHERE name = 'lan'), NULL)$$), '22023 logged_in_at', 'login at no time');

SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('no.such', '1')$$), '22023 name', 'unknown setting');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('churn.threshold_high', '1.5')$$), '22023 value', 'setting out of range');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('shop_timezone', 'Mars/Olympus')$$), '22023 value', 'unknown time zone');

SELECT * FROM finish();
ROLLBACK;
