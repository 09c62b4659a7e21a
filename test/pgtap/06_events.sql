-- Event flows end to end (docs/reference.md, Event triggers), whichever path wrote the row.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(24);

-- registration, through the API and by a direct INSERT
CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES ('api', customer_mgmt.register_customer('Ngô Bảo Châu', 'chau@example.vn', registered_at => '2026-01-01'));
INSERT INTO customer_mgmt.users (full_name, email, created_at) VALUES ('Hồ Xuân Hương', 'huong.ho@example.vn', '2026-01-02');
INSERT INTO c SELECT 'direct', id FROM customer_mgmt.users WHERE email = 'huong.ho@example.vn';
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_analytics WHERE customer_id IN (SELECT id FROM c)), 2,
          'registered: an analytics row each');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_segment_assignments
            WHERE customer_id IN (SELECT id FROM c) AND segment_id = '00000000-0000-4000-8000-000000000001'), 2,
          'registered: both in new-customers');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox
            WHERE event_type = 'customer.registered' AND customer_id IN (SELECT id FROM c)), 2,
          'registered: a customer.registered event each (welcome e-mail)');
SELECT is((SELECT payload ->> 'email' FROM customer_mgmt.event_outbox
            WHERE event_type = 'customer.registered' AND customer_id = (SELECT id FROM c WHERE k = 'direct')),
          'huong.ho@example.vn', 'the event carries what the e-mail needs');
INSERT INTO c VALUES ('staff', customer_mgmt.register_staff('Mai Nhân Viên', 'mai.nv@cuahang.vn'));
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE customer_id = (SELECT id FROM c WHERE k = 'staff')), 0,
          'registering staff is not a customer registration');
DELETE FROM c WHERE k = 'staff';

-- order completed: queued, whichever path
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'api'), 300000, 'pending', '2026-01-05');
SELECT is((SELECT count(*)::int FROM customer_mgmt.analytics_queue), 0, 'a pending order queues nobody');
SELECT customer_mgmt.set_order_status((SELECT id FROM customer_mgmt.orders WHERE customer_id = (SELECT id FROM c WHERE k = 'api')), 'completed');
SELECT is((SELECT reason FROM customer_mgmt.analytics_queue WHERE customer_id = (SELECT id FROM c WHERE k = 'api')), 'order.completed',
          'completing it queues the customer');
INSERT INTO customer_mgmt.orders (customer_id, status, total_amount, order_date)
VALUES ((SELECT id FROM c WHERE k = 'direct'), 'completed', 450000, '2026-01-06');
SELECT is((SELECT count(*)::int FROM customer_mgmt.analytics_queue), 2, 'a completed order inserted directly queues its customer');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'direct'), 100000, 'completed', '2026-01-07');
SELECT is((SELECT count(*)::int FROM customer_mgmt.analytics_queue), 2, 'a customer is queued once');
SELECT is(customer_mgmt.process_analytics_queue(10) - 'jobRunId', '{"processed": 2, "remaining": 0}'::jsonb, 'the worker drains the queue');
SELECT results_eq($$SELECT total_orders, total_spent FROM customer_mgmt.customer_analytics
                    WHERE customer_id IN (SELECT id FROM c) ORDER BY total_spent$$,
                  $$VALUES (1, 300000.00::numeric), (2, 550000.00)$$, 'and the analytics count the orders');
SELECT is((SELECT rows_processed FROM customer_mgmt.job_runs WHERE job_name = 'process_analytics_queue' ORDER BY id DESC LIMIT 1),
          2::bigint, 'the worker''s run is logged');
UPDATE customer_mgmt.orders SET status = 'refunded' WHERE customer_id = (SELECT id FROM c WHERE k = 'api');
SELECT is((SELECT reason FROM customer_mgmt.analytics_queue), 'order.refunded', 'a refund queues the customer again');

-- churn detected: crossing the high threshold, once
INSERT INTO c VALUES ('hoa', customer_mgmt.register_customer('Lý Thị Hoa', 'hoa@example.vn', registered_at => '2026-01-01'));
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'hoa'), 300000, 'completed', '2026-01-05');
SELECT customer_mgmt.record_session((SELECT id FROM c WHERE k = 'hoa'), timestamptz '2026-01-01' + g * interval '1 day', 20, 1, false)
  FROM generate_series(2, 4) g;
SELECT is((customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'hoa'), '2026-01-10') ->> 'churnRiskScore')::numeric,
          0.60, 'in January the risk is 0.6');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE event_type = 'customer.churn_detected'), 0, 'below the threshold: no event');
SELECT is((customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'hoa'), '2026-06-10') ->> 'churnRiskScore')::numeric,
          1.00, 'in June it is 1');
SELECT is((SELECT payload ->> 'churnScore' FROM customer_mgmt.event_outbox WHERE event_type = 'customer.churn_detected'), '1.00',
          'crossing it: a customer.churn_detected event (retention campaign)');
SELECT results_eq($$SELECT title::text, type::text, priority::text, author_id FROM customer_mgmt.customer_notes
                    WHERE customer_id = (SELECT id FROM c WHERE k = 'hoa')$$,
                  $$VALUES ('Churn Risk Detected', 'system', 'high', NULL::uuid)$$, 'a system note');
SELECT ok(EXISTS (SELECT FROM customer_mgmt.customer_segment_assignments WHERE customer_id = (SELECT id FROM c WHERE k = 'hoa')
                   AND segment_id = '00000000-0000-4000-8000-000000000002'), 'and the at-risk-customers segment');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'hoa'), '2026-06-11');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE event_type = 'customer.churn_detected'), 1,
          'staying above the threshold is not a new detection');

-- the outbox, as the mailer uses it
SELECT is(jsonb_array_length(customer_mgmt.claim_events(100, 'mailer') -> 'data'), 4, 'claim: the unprocessed events');
SELECT is(customer_mgmt.mark_events_processed(ARRAY(SELECT id FROM customer_mgmt.event_outbox)), 4, 'mark them processed');
SELECT is(customer_mgmt.claim_events(100, 'mailer'), '{"data": [], "page": 1, "total": 0, "pageSize": 100, "totalPages": 0, "totalIsEstimate": false}'::jsonb,
          'nothing left to claim: the list envelope, no backlog');

SELECT is(pg_temp.list_drift(), 0::bigint, 'after the events, customer_list equals users and analytics');
SELECT * FROM finish();
ROLLBACK;
