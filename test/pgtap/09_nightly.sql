-- The nightly run recomputes from orders and sessions only what changed
-- (recalculate_all_analytics(as_of)); full => true recomputes everyone.
-- Over five simulated days of orders, refunds, visits, logins, back-dated
-- and future-dated rows, direct edits, registrations, status changes and
-- one-customer calculations, both leave the same rows: every column of
-- every analytics and list row, the insights, the churn events, notes and
-- segment assignments, and the RFM breakpoints.  Each day runs one way,
-- rolls back, runs the other, and keeps the second (alternating).
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(14);

-- Everything the recalculation writes, one text line per row (ids and
-- wall-clock times that differ between two runs of the same thing left out).
CREATE FUNCTION pg_temp.recalculated() RETURNS SETOF text
    LANGUAGE sql AS $$
    SELECT 'analytics ' || row(a.customer_id, a.total_orders, a.total_spent, a.average_order_value, a.last_order_date,
                                a.days_since_last_order, a.total_sessions, a.total_page_views, a.average_session_duration,
                                a.bounce_rate, a.conversion_rate, a.favorite_categories, a.favorite_brands,
                                a.preferred_price_range, a.customer_lifetime_value, a.predicted_ltv, a.churn_risk_score,
                                a.engagement_score, a.segment, a.rfm_score, a.last_calculated_at)::text
      FROM customer_mgmt.customer_analytics a
    UNION ALL
    SELECT 'list ' || l::text FROM customer_mgmt.customer_list l
    UNION ALL
    SELECT 'insight ' || row(i.customer_id, i.type, i.title, i.description, i.priority, i.action_recommendation,
                              i.generated_at)::text
      FROM customer_mgmt.customer_insights i
    UNION ALL
    SELECT 'event ' || row(e.event_type, e.customer_id, e.payload)::text FROM customer_mgmt.event_outbox e
    UNION ALL
    SELECT 'note ' || row(n.customer_id, n.title, n.content, n.type, n.priority)::text FROM customer_mgmt.customer_notes n
    UNION ALL
    SELECT 'assignment ' || row(s.customer_id, s.segment_id, s.assigned_by)::text
      FROM customer_mgmt.customer_segment_assignments s
    UNION ALL
    (SELECT 'breakpoints ' || row(b.as_of, b.recency, b.frequency, b.monetary, b.customers)::text
       FROM customer_mgmt.rfm_breakpoints b ORDER BY b.id DESC LIMIT 1)
$$;

-- A day of the shop, ending at day_end: orders (one created pending and
-- completed later), a refund, visits, logins, a registration, a status
-- change, a back-dated visit, a line added to an old order, an old order's
-- amount edited and another deleted, an order dated the next day, and one
-- customer calculated as of an hour before the end of the day.
CREATE FUNCTION pg_temp.shop_day(day_end timestamptz, k integer) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    c uuid[] := ARRAY(SELECT u.id FROM customer_mgmt.users u WHERE u.role = 'customer' ORDER BY u.id);
    n integer := cardinality(c);
    items jsonb := '[{"productName": "Áo", "category": "Thời trang", "brand": "Việt Tiến", "unitPrice": 350000, "quantity": 2},
                     {"productName": "Nồi", "category": "Gia dụng", "brand": "Sunhouse", "unitPrice": 900000, "quantity": 1}]';
    pending uuid;
    old_order uuid;
BEGIN
    FOR i IN 1 .. 12 LOOP
        PERFORM customer_mgmt.record_order(c[1 + (i * 37 + k * 11) % n], 150000 * i + k, 'completed',
                                           day_end - make_interval(hours => i), items);
    END LOOP;
    PERFORM customer_mgmt.record_order(c[1 + (k * 53) % n], 80000000, 'completed', day_end - interval '6 hours', items);
    pending := customer_mgmt.record_order(c[1 + (k * 17) % n], 420000, 'pending', day_end - interval '20 hours', items);
    PERFORM customer_mgmt.set_order_status(pending, 'completed');
    SELECT o.id INTO old_order FROM customer_mgmt.orders o
     WHERE o.status = 'completed' AND o.order_date < day_end - interval '30 days' ORDER BY o.id OFFSET k LIMIT 1;
    PERFORM customer_mgmt.set_order_status(old_order, 'refunded');
    FOR i IN 1 .. 15 LOOP
        PERFORM customer_mgmt.record_session(c[1 + (i * 29 + k * 7) % n], day_end - make_interval(mins => 50 * i),
                                             30 * i, 1 + i % 4, i % 5 = 0);
    END LOOP;
    FOR i IN 1 .. 10 LOOP
        PERFORM customer_mgmt.record_login(c[1 + (i * 41 + k * 13) % n], day_end - make_interval(mins => 70 * i));
    END LOOP;
    PERFORM customer_mgmt.register_customer('Khách Mới ' || k, 'moi' || k || '@example.vn', NULL, NULL, NULL, 'Hà Nội',
                                            day_end - interval '5 hours');
    PERFORM customer_mgmt.update_customer_status(c[1 + (k * 19) % n], 'inactive', 'kiểm tra');
    -- back-dated: before its customer's last calculation
    PERFORM customer_mgmt.record_session(c[1 + (k * 23) % n], day_end - interval '40 days', 600, 7, true);
    INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
    SELECT o.id, 'Bàn', 'Nội thất', 'Hòa Phát', 2500000, 1 FROM customer_mgmt.orders o
     WHERE o.status = 'completed' AND o.order_date < day_end - interval '60 days' ORDER BY o.id OFFSET 2 * k LIMIT 1;
    UPDATE customer_mgmt.orders o SET total_amount = o.total_amount + 1000000
     WHERE o.id = (SELECT x.id FROM customer_mgmt.orders x WHERE x.status = 'completed' AND x.order_date < day_end - interval '90 days'
                    ORDER BY x.id OFFSET 3 * k LIMIT 1);
    DELETE FROM customer_mgmt.orders o
     WHERE o.id = (SELECT x.id FROM customer_mgmt.orders x WHERE x.status = 'completed' AND x.order_date < day_end - interval '90 days'
                    ORDER BY x.id DESC OFFSET k LIMIT 1);
    -- dated tomorrow: counted by tomorrow's run
    PERFORM customer_mgmt.record_order(c[1 + (k * 31) % n], 990000, 'completed', day_end + interval '12 hours', items);
    -- calculated as of an hour before the end of the day, then a visit after it
    PERFORM customer_mgmt.calculate_customer_analytics(c[1 + (k * 43) % n], day_end - interval '1 hour');
    PERFORM customer_mgmt.record_session(c[1 + (k * 43) % n], day_end - interval '30 minutes', 200, 3, false);
END
$$;

SELECT is(customer_mgmt.generate_demo_shop(300, 5, '2026-06-01 00:00+07') ->> 'customers', '300', 'a shop of 300 customers');
SELECT is((customer_mgmt.recalculate_all_analytics('2026-06-01 00:00+07', full => true) ->> 'full')::boolean, true,
          'the first run computes everyone');
SELECT is((customer_mgmt.recalculate_all_analytics('2026-06-01 00:00+07') ->> 'changedCustomers')::int, 0,
          'the same as_of again: nothing changed');

-- day k: run first one way, roll back, run the other way, compare
\set k 1
\ir nightly_day.sql
\set k 2
\ir nightly_day.sql
\set k 3
\ir nightly_day.sql
\set k 4
\ir nightly_day.sql
\set k 5
\ir nightly_day.sql

-- the triggers queue what a date cannot show
SELECT customer_mgmt.process_analytics_queue(100000) IS NOT NULL AS drained \gset
INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
SELECT a.customer_id, a.last_calculated_at - interval '1 day', 60, 2, false
  FROM customer_mgmt.customer_analytics a ORDER BY a.customer_id LIMIT 1;
SELECT is((SELECT q.reason FROM customer_mgmt.analytics_queue q), 'web_sessions.insert', 'a back-dated visit queues its customer');
SELECT * FROM finish();
ROLLBACK;
