-- The customer's timeline: every kind of entry, newest first,
-- with the acting user where there is one; paging and errors.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(9);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn', registered_at => now() - interval '10 days')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
GRANT SELECT ON p TO PUBLIC;
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);
CREATE TEMP TABLE o AS
    SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'an'), 2500000, 'pending', now() - interval '9 days') AS id;
SELECT customer_mgmt.set_order_status((SELECT id FROM o), 'completed');
UPDATE customer_mgmt.orders SET completed_at = now() - interval '8 days' WHERE id = (SELECT id FROM o);
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'an'), 900000, 'pending', now() - interval '7 days');
UPDATE customer_mgmt.orders SET status = 'cancelled', updated_at = now() - interval '6 days'
 WHERE customer_id = (SELECT id FROM p WHERE k = 'an') AND total_amount = 900000;
SELECT customer_mgmt.record_login((SELECT id FROM p WHERE k = 'an'), now() - interval '5 days');
SELECT customer_mgmt.update_customer_status((SELECT id FROM p WHERE k = 'an'), 'suspended', 'Nghi ngờ gian lận');
UPDATE customer_mgmt.customer_status_history SET changed_at = now() - interval '4 days';
SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'Đã xác minh', title => 'Xác minh');
UPDATE customer_mgmt.customer_notes SET created_at = now() - interval '3 days';
SELECT customer_mgmt.create_segment('Spent something', criteria => '{"totalSpentMin": 1}');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM p WHERE k = 'an'));
SELECT customer_mgmt.churn_detected((SELECT id FROM p WHERE k = 'an'), 0.9);
UPDATE customer_mgmt.event_outbox SET created_at = now() - interval '2 days' WHERE event_type = 'customer.segment_entered';
UPDATE customer_mgmt.event_outbox SET created_at = now() - interval '1 day' WHERE event_type = 'customer.churn_detected';

SET LOCAL ROLE customer_mgmt_staff;
CREATE TEMP TABLE t AS SELECT customer_mgmt.get_customer_timeline((SELECT id FROM p WHERE k = 'an'), page_size => 100) AS page;
SELECT is(ARRAY(SELECT e ->> 'type' FROM t, jsonb_array_elements(t.page -> 'data') e),
          ARRAY['note.added', 'customer.churn_detected', 'customer.segment_entered', 'note.added', 'customer.status_changed',
                'customer.login', 'order.cancelled', 'order.placed', 'order.completed', 'order.placed', 'customer.registered'],
          'every kind of entry, newest first (the churn''s system note is written now, the rest dated back)');
SELECT is((SELECT e - 'at' FROM t, jsonb_array_elements(t.page -> 'data') e WHERE e ->> 'type' = 'customer.status_changed'),
          jsonb_build_object('type', 'customer.status_changed', 'actorId', (SELECT id FROM p WHERE k = 'hoa'), 'actorName', 'Vũ Hoa',
                             'payload', '{"oldStatus": "active", "newStatus": "suspended", "reason": "Nghi ngờ gian lận"}'::jsonb),
          'a status change with who made it and why');
SELECT is((SELECT e -> 'payload' ->> 'title' FROM t, jsonb_array_elements(t.page -> 'data') e
            WHERE e ->> 'type' = 'note.added' AND e ->> 'actorName' = 'Vũ Hoa'), 'Xác minh', 'a note with its author');
SELECT is((SELECT e -> 'payload' ->> 'segmentName' FROM t, jsonb_array_elements(t.page -> 'data') e WHERE e ->> 'type' = 'customer.segment_entered'),
          'Spent something', 'a segment entered');
SELECT is((SELECT (e -> 'payload' ->> 'totalAmount')::numeric FROM t, jsonb_array_elements(t.page -> 'data') e WHERE e ->> 'type' = 'order.completed'),
          2500000::numeric, 'an order completed, with its amount');
SELECT is((t.page - 'data'), '{"total": 11, "page": 1, "pageSize": 100, "totalPages": 1, "totalIsEstimate": false}'::jsonb, 'the envelope')
  FROM t;
SELECT is(ARRAY(SELECT e ->> 'type' FROM jsonb_array_elements(customer_mgmt.get_customer_timeline((SELECT id FROM p WHERE k = 'an'), 3, 4) -> 'data') e),
          ARRAY['order.completed', 'order.placed', 'customer.registered'], 'page 3 of 4 entries: the last three');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_timeline('00000000-0000-4000-8000-0000000000ff')$$), 'PT404', 'no such customer');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.get_customer_timeline(%L, 0)', (SELECT id FROM p WHERE k = 'an'))), '22023 page', 'page 0');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
