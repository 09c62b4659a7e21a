-- The shop's own ids and idempotent ingestion (docs/onboarding.md): every
-- kind carries external_id, find_customer looks customers up, and
-- upsert_customer / upsert_order apply a record once, in any order of
-- arrival, with the source's updated_at deciding.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(43);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
GRANT SELECT ON p TO PUBLIC;
INSERT INTO p VALUES
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin')),
    ('an', customer_mgmt.register_customer('Nguyễn Văn An', 'an@example.vn', '0903123456', external_id => '10001')),
    ('binh', customer_mgmt.register_customer('Trần Thị Bình', 'binh@example.vn', '0903123456'));
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);

-- the shop's ids on every kind, in every DTO
SELECT is(customer_mgmt.get_customer((SELECT id FROM p WHERE k = 'an')) ->> 'externalId', '10001', 'the detail shows the shop''s id');
SELECT is((customer_mgmt.get_customers(search => '10001') -> 'data' -> 0 ->> 'externalId'), '10001',
          'the list finds a customer by the shop''s id, exactly');
SELECT is((customer_mgmt.get_customers(search => '1000') ->> 'total')::int, 0, 'and only exactly');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Khác', 'khac@example.vn', external_id => '10001')$$),
          '23505 external_id', 'a taken id is 23505 naming external_id, nothing written');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Khác', 'khac@example.vn', external_id => repeat('x', 201))$$),
          '22023 external_id', 'an id of more than 200 characters');
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'an'), 500000, 'completed', now() - interval '2 days',
                                  external_id => 'ORD-2026-000123');
SELECT is(customer_mgmt.get_customer_orders((SELECT id FROM p WHERE k = 'an')) -> 'data' -> 0 ->> 'externalId', 'ORD-2026-000123',
          'an order shows the shop''s id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'an'), 500000, external_id => 'ORD-2026-000123')$$),
          '23505 external_id', 'an order recorded twice by its id is refused, nothing written');
SELECT customer_mgmt.add_customer_address((SELECT id FROM p WHERE k = 'an'), 'Nguyễn Văn An', '0903123456', '12 Lý Thường Kiệt',
                                          'Phường Cửa Nam', province => 'Hà Nội', external_id => 'ADDR-7');
SELECT is(customer_mgmt.get_customer((SELECT id FROM p WHERE k = 'an')) -> 'addresses' -> 0 ->> 'externalId', 'ADDR-7',
          'an address shows the shop''s id');
SELECT ok(customer_mgmt.record_session((SELECT id FROM p WHERE k = 'an'), now() - interval '1 hour', 60, 3, false, 'SESS-1') > 0,
          'a visit takes the shop''s id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.record_session((SELECT id FROM p WHERE k = 'an'), now(), 60, 3, false, 'SESS-1')$$),
          '23505 external_id', 'once');
SELECT ok(EXISTS (SELECT FROM customer_mgmt.export_columns() WHERE key = 'externalId'), 'the export can include it');

-- find_customer: exactly one key
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(customer_mgmt.find_customer(email => 'AN@Example.VN') ->> 'id', (SELECT id::text FROM p WHERE k = 'an'),
          'staff find a customer by e-mail, ignoring case');
SELECT is(customer_mgmt.find_customer(external_id => '10001') ->> 'id', (SELECT id::text FROM p WHERE k = 'an'),
          'by the shop''s id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer(phone_number => '+84 903 123 456')$$), 'P0001',
          'a phone two customers share is P0001 (their ids in DETAIL)');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer(email => 'nobody@example.vn')$$), 'PT404', 'nobody is PT404');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer()$$), '22023 email', 'no key is 22023');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer(email => 'an@example.vn', external_id => '10001')$$),
          '22023 phone_number', 'two keys are 22023');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer(phone_number => 'abc')$$), '22023 phone_number', 'a bad phone');
RESET ROLE;
SELECT customer_mgmt.record_login((SELECT id FROM p WHERE k = 'binh'), now());
UPDATE customer_mgmt.users SET phone_number = '0912000111' WHERE id = (SELECT id FROM p WHERE k = 'binh');
SELECT is(customer_mgmt.find_customer(phone_number => '+84 (0) 903.123.456') ->> 'id', (SELECT id::text FROM p WHERE k = 'an'),
          'by phone, in any spelling ingestion accepts');
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_customer(email => 'an@example.vn')$$), '42501', 'the app may not look customers up');
RESET ROLE;

-- upsert_customer: once, in any order of arrival
CREATE TEMP TABLE r (k text PRIMARY KEY, v jsonb);
GRANT ALL ON r TO PUBLIC;
SET LOCAL ROLE customer_mgmt_app;
INSERT INTO r VALUES ('c1', customer_mgmt.upsert_customer('U-1', 'Đỗ Thị Cúc', 'cuc@example.vn', '0911222333',
                                                          registered_at => '2025-01-01', updated_at => '2026-03-01 10:00'));
INSERT INTO r VALUES ('c2', customer_mgmt.upsert_customer('U-1', 'Đỗ Thị Cúc', 'CUC@example.vn', '091 122 2333',
                                                          registered_at => '2025-01-01', updated_at => '2026-03-01 10:00'));
INSERT INTO r VALUES ('c3', customer_mgmt.upsert_customer('U-1', 'Đỗ Thị Cúc Hoa', 'cuc@example.vn', '0911222333',
                                                          updated_at => '2026-03-02 10:00'));
INSERT INTO r VALUES ('c4', customer_mgmt.upsert_customer('U-1', 'Đỗ Cúc (old)', 'cuc@example.vn', '0911222333',
                                                          updated_at => '2026-03-01 12:00'));
RESET ROLE;
SELECT is((SELECT array_agg(v ->> 'action' ORDER BY k) FROM r), ARRAY['inserted', 'unchanged', 'updated', 'stale'],
          'inserted, the same again unchanged (any spelling of the same values), a newer version updated, an older one stale');
SELECT is((SELECT count(DISTINCT v ->> 'customerId')::int FROM r), 1, 'one customer throughout');
SELECT is((SELECT full_name || ' ' || created_at::date FROM customer_mgmt.users WHERE external_id = 'U-1'), 'Đỗ Thị Cúc Hoa 2025-01-01',
          'the newest version is kept, registered when the shop says');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE event_type = 'customer.registered'
             AND customer_id = (SELECT id FROM customer_mgmt.users WHERE external_id = 'U-1')), 1, 'one registration event');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_customer('U-2', 'Người Khác', 'cuc@example.vn')$$), '23505 email',
          'another customer''s e-mail is 23505 naming email, nothing written');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_customer(NULL, 'Người Khác', 'khac@example.vn')$$), '22023 external_id',
          'the id is required');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_customer('U-3', 'Người Khác', 'not-an-email')$$), '22023 email',
          'fields are checked as register_customer checks them');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_customer('U-3', 'Người Khác', 'khac@example.vn', updated_at => 'infinity')$$),
          '22023 updated_at', 'an infinite version');
SELECT customer_mgmt.anonymize_customer((SELECT id FROM customer_mgmt.users WHERE external_id = 'U-1'), 'asked');
SELECT is(customer_mgmt.upsert_customer('U-1', 'Đỗ Thị Cúc Hoa', 'cuc@example.vn', updated_at => '2026-04-01') ->> 'action', 'anonymized',
          'an erased customer is not brought back by the shop''s copy');
SELECT is((SELECT full_name LIKE 'Anonymous-%' FROM customer_mgmt.users WHERE external_id = 'U-1'), true, 'and stays anonymous');

-- upsert_order: once; items replaced as a whole; the status rules; versions
SELECT customer_mgmt.upsert_customer('U-5', 'Hồ Văn Năm', 'nam@example.vn', registered_at => '2025-06-01', updated_at => '2026-01-01');
DELETE FROM customer_mgmt.analytics_queue;
SET LOCAL ROLE customer_mgmt_app;
INSERT INTO r VALUES ('o1', customer_mgmt.upsert_order('O-1', 300000, customer_external_id => 'U-5', status => 'pending',
    order_date => '2026-03-01 09:00', items => '[{"productName": "Áo dài", "unitPrice": 150000, "quantity": 2}]',
    updated_at => '2026-03-01 09:00'));
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.analytics_queue), 0, 'a pending order queues nobody');
SET LOCAL ROLE customer_mgmt_app;
INSERT INTO r VALUES ('o2', customer_mgmt.upsert_order('O-1', 300000, customer_external_id => 'U-5', status => 'pending',
    order_date => '2026-03-01 09:00', items => '[{"productName": "Áo dài", "unitPrice": 150000, "quantity": 2}]',
    updated_at => '2026-03-01 09:00'));
INSERT INTO r VALUES ('o3', customer_mgmt.upsert_order('O-1', 350000, customer_external_id => 'U-5', status => 'completed',
    order_date => '2026-03-01 09:00',
    items => '[{"productName": "Áo dài", "unitPrice": 150000, "quantity": 2}, {"productName": "Khăn", "unitPrice": 50000, "quantity": 1}]',
    updated_at => '2026-03-02 15:00'));
INSERT INTO r VALUES ('o4', customer_mgmt.upsert_order('O-1', 300000, customer_external_id => 'U-5', status => 'processing',
    order_date => '2026-03-01 09:00', updated_at => '2026-03-01 12:00'));
INSERT INTO r VALUES ('o5', customer_mgmt.upsert_order('O-1', 350000, customer_external_id => 'U-5', status => 'completed',
    order_date => '2026-03-01 09:00',
    items => '[{"productName": "Khăn", "unitPrice": 50000, "quantity": 1}, {"productName": "Áo dài", "unitPrice": 150000, "quantity": 2}]',
    updated_at => '2026-03-02 15:00'));
RESET ROLE;
SELECT is((SELECT array_agg(v ->> 'action' ORDER BY k) FROM r WHERE k LIKE 'o%'), ARRAY['inserted', 'unchanged', 'updated', 'stale', 'unchanged'],
          'inserted, unchanged, updated (completed), stale (an older version), unchanged (the same items in another order)');
SELECT is((SELECT format('%s %s %s', o.status, o.total_amount, o.completed_at = '2026-03-02 15:00+00'::timestamptz)
             FROM customer_mgmt.orders o WHERE o.external_id = 'O-1'), 'completed 350000.00 t',
          'the order is the newest version, completed when the source says');
SELECT is((SELECT count(*)::int FROM customer_mgmt.order_items i JOIN customer_mgmt.orders o ON o.id = i.order_id
            WHERE o.external_id = 'O-1'), 2, 'its items replaced as a whole');
SELECT is((SELECT count(*)::int FROM customer_mgmt.orders WHERE external_id = 'O-1'), 1, 'one order');
SELECT ctid::text AS order_version FROM customer_mgmt.orders WHERE external_id = 'O-1' \gset
SELECT customer_mgmt.upsert_order('O-1', 350000, customer_external_id => 'U-5', status => 'completed',
    order_date => '2026-03-01 09:00',
    items => '[{"productName": "Khăn", "unitPrice": 50000, "quantity": 1}, {"productName": "Áo dài", "unitPrice": 150000, "quantity": 2}]',
    updated_at => '2026-03-02 15:00');
SELECT is((SELECT ctid::text FROM customer_mgmt.orders WHERE external_id = 'O-1'), :'order_version',
          'a delivery again writes nothing: the row version is the same');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM customer_mgmt.users WHERE external_id = 'U-5'), '2026-03-05');
SELECT is((SELECT total_spent FROM customer_mgmt.customer_analytics WHERE customer_id = (SELECT id FROM customer_mgmt.users WHERE external_id = 'U-5')),
          350000.00, 'the spend counts it once');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-1', 350000, customer_external_id => 'U-5', status => 'pending', order_date => '2026-03-01 09:00', updated_at => '2026-03-03')$$),
          'P0001', 'completed to pending is refused with the reason');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-9', 100000, customer_external_id => 'U-404')$$), 'PT404',
          'an order before its customer is refused, nothing recorded');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-9', 100000, customer_external_id => 'U-5', customer_id => gen_random_uuid())$$),
          '22023 customer_external_id', 'one customer key, not two');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-9', -1, customer_external_id => 'U-5')$$), '22023 total_amount',
          'fields are checked as record_order checks them');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-9', 1, customer_external_id => 'U-5', items => '[{"productName": ""}]')$$),
          '22023 items[0].productName', 'and items');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_order('O-9', 1, customer_external_id => 'U-5')$$), '42501', 'staff do not ingest');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
