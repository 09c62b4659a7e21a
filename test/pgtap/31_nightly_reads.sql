-- The nightly run's work grows with what changed, not with the shop: after
-- orders, a refund and visits of three customers, the next night reads the
-- orders, order lines and sessions of those three only (the rows read, as
-- this transaction's statistics count them: every scan of the table and of
-- each of its indexes), and its CLV model, fitted from the stored purchase
-- summaries, is the one a fit from every order gives; so is the fit of a
-- night after the shop's time zone changed.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(12);

-- the rows of a table read so far in this transaction: its sequential
-- scans' and each of its indexes' (an index-only scan reads no heap row)
CREATE FUNCTION pg_temp.rows_read(t regclass) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT pg_stat_get_xact_tuples_returned(t)
           + coalesce((SELECT sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) FROM pg_index i WHERE i.indrelid = t), 0)::bigint
$$;
CREATE TEMP TABLE reads (what text, orders bigint, order_items bigint, web_sessions bigint);
CREATE FUNCTION pg_temp.note_reads(what text) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO reads VALUES (what, pg_temp.rows_read('customer_mgmt.orders'), pg_temp.rows_read('customer_mgmt.order_items'),
                              pg_temp.rows_read('customer_mgmt.web_sessions'))
$$;

-- a shop of 2,000 customers whose model is usable
\o /dev/null
SELECT customer_mgmt.set_setting('clv.min_customers', '100');
\o
SELECT is(customer_mgmt.generate_demo_shop(2000, 7, '2026-06-01 00:00+07') ->> 'customers', '2000', 'a shop of 2,000 customers');
ANALYZE customer_mgmt.orders, customer_mgmt.order_items, customer_mgmt.web_sessions, customer_mgmt.users;
SELECT ok((customer_mgmt.recalculate_all_analytics('2026-06-01 00:00+07', full => true) ->> 'full')::boolean,
          'the first night computes everyone');
SELECT ok((customer_mgmt.current_clv_model()).usable, 'and fits a usable model');

-- the day: three customers order, one of them gets a refund, two visit
\o /dev/null
CREATE TEMP TABLE three AS
SELECT u.id FROM customer_mgmt.users u
 WHERE u.role = 'customer' AND EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = u.id AND o.status = 'completed')
 ORDER BY u.id LIMIT 3;
SELECT customer_mgmt.record_order(t.id, 450000, 'completed', '2026-06-01 10:00+07',
           '[{"productName": "Áo", "category": "Thời trang", "brand": "Việt Tiến", "unitPrice": 450000, "quantity": 1}]')
  FROM three t;
SELECT customer_mgmt.set_order_status((SELECT o.id FROM customer_mgmt.orders o WHERE o.customer_id = (SELECT t.id FROM three t ORDER BY t.id LIMIT 1)
                                         AND o.status = 'completed' ORDER BY o.order_date LIMIT 1), 'refunded');
SELECT customer_mgmt.record_session(t.id, '2026-06-01 11:00+07', 120, 3, false) FROM three t ORDER BY t.id LIMIT 2;

\o
-- the next night, its reads counted
SELECT pg_temp.note_reads('before') \gset
SELECT is((customer_mgmt.recalculate_all_analytics('2026-06-02 00:00+07') ->> 'changedCustomers')::int, 3,
          'the next night recomputes the three');
SELECT pg_temp.note_reads('after') \gset

-- what the three have, against what the night read: each of its steps
-- (what changed, the statistics, the CLV summaries) reads their rows at
-- most a few times over, and never the rest of the shop
CREATE TEMP TABLE theirs AS
SELECT (SELECT count(*) FROM customer_mgmt.orders o WHERE o.customer_id IN (SELECT id FROM three)) AS orders,
       (SELECT count(*) FROM customer_mgmt.order_items i JOIN customer_mgmt.orders o ON o.id = i.order_id
         WHERE o.customer_id IN (SELECT id FROM three)) AS order_items,
       (SELECT count(*) FROM customer_mgmt.web_sessions w WHERE w.customer_id IN (SELECT id FROM three)) AS web_sessions,
       (SELECT count(*) FROM customer_mgmt.orders) AS shop_orders,
       (SELECT count(*) FROM customer_mgmt.order_items) AS shop_order_items,
       (SELECT count(*) FROM customer_mgmt.web_sessions) AS shop_web_sessions;
CREATE TEMP TABLE night AS
SELECT a.orders - b.orders AS orders, a.order_items - b.order_items AS order_items, a.web_sessions - b.web_sessions AS web_sessions
  FROM reads a, reads b WHERE a.what = 'after' AND b.what = 'before';
SELECT cmp_ok((SELECT orders FROM night), '<=', (SELECT 5 * orders FROM theirs),
              format('orders: the night read %s rows, the three have %s (the shop %s)',
                     (SELECT orders FROM night), (SELECT orders FROM theirs), (SELECT shop_orders FROM theirs)));
SELECT cmp_ok((SELECT order_items FROM night), '<=', (SELECT 3 * order_items FROM theirs),
              format('order lines: the night read %s rows, the three have %s (the shop %s)',
                     (SELECT order_items FROM night), (SELECT order_items FROM theirs), (SELECT shop_order_items FROM theirs)));
SELECT cmp_ok((SELECT web_sessions FROM night), '<=', (SELECT 3 * web_sessions FROM theirs),
              format('sessions: the night read %s rows, the three have %s (the shop %s)',
                     (SELECT web_sessions FROM night), (SELECT web_sessions FROM theirs), (SELECT shop_web_sessions FROM theirs)));

-- the model from the stored summaries is the one from every order: both
-- fits' parameters (the stored amounts are rounded to the đồng's hundredth)
CREATE FUNCTION pg_temp.same_fit(x jsonb, y jsonb) RETURNS boolean
    LANGUAGE sql AS $$
    SELECT bool_and(abs((x #>> ARRAY[f, k])::float8 - (y #>> ARRAY[f, k])::float8) <= 1e-6 * abs((y #>> ARRAY[f, k])::float8))
      FROM (VALUES ('bgnbd', 'r'), ('bgnbd', 'alpha'), ('bgnbd', 'a'), ('bgnbd', 'b'),
                   ('gammaGamma', 'p'), ('gammaGamma', 'q'), ('gammaGamma', 'gamma')) v (f, k)
$$;
CREATE FUNCTION pg_temp.summaries() RETURNS SETOF text
    LANGUAGE sql AS $$
    SELECT row(c.customer_id, c.frequency, c.recency, c.first_purchase, c.monetary_value)::text FROM customer_mgmt.customer_clv c
$$;
CREATE TEMP TABLE nightly_model AS SELECT customer_mgmt.clv_model_dto(customer_mgmt.current_clv_model()) AS m;
CREATE TEMP TABLE stored AS SELECT pg_temp.summaries() AS s;
CREATE TEMP TABLE refit AS SELECT customer_mgmt.fit_clv_model('2026-06-02 00:00+07') AS m;
SELECT set_eq('SELECT s FROM stored', 'SELECT pg_temp.summaries()',
              'the stored purchase summaries are those computed from every order');
SELECT ok(pg_temp.same_fit((SELECT m FROM nightly_model), (SELECT m FROM refit)),
          'and the nightly fit is the fit from every order');

-- the shop moves to UTC: the stored summaries count the days of Vietnam,
-- so the next night fits from every order, as fit_clv_model does
\o /dev/null
SELECT customer_mgmt.set_setting('shop_timezone', 'UTC');
\o
SELECT ok((customer_mgmt.recalculate_all_analytics('2026-06-03 00:00+07') ->> 'customers')::int > 0, 'a night after the change');
CREATE TEMP TABLE utc_nightly AS SELECT customer_mgmt.clv_model_dto(customer_mgmt.current_clv_model()) AS m;
CREATE TEMP TABLE utc_stored AS SELECT pg_temp.summaries() AS s;
CREATE TEMP TABLE utc_refit AS SELECT customer_mgmt.fit_clv_model('2026-06-03 00:00+07') AS m;
SELECT set_eq('SELECT s FROM utc_stored', 'SELECT pg_temp.summaries()', 'its summaries count the days of the new zone');
SELECT ok(pg_temp.same_fit((SELECT m FROM utc_nightly), (SELECT m FROM utc_refit)), 'and so does its fit');

SELECT * FROM finish();
ROLLBACK;
