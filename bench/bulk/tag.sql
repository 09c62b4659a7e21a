-- A bulk tag on the 1,000,000-customer shop (bench/run.sh bulk): every
-- woman of Hà Nội (94,371 in the generated shop) tagged through start_bulk_action and
-- run_bulk_action in chunks of 10,000, each committed as an application
-- would call it, timed by the server; the floor: one INSERT of the same
-- customers' tag rows into customer_tags, rolled back.  The tags stay (the segments' bench
-- reads them).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE bench_bulk (what text, seconds numeric, customers bigint);
BEGIN;
SELECT clock_timestamp() AS floor_start \gset
INSERT INTO customer_mgmt.customer_tags (customer_id, tag_key, tag)
SELECT l.customer_id, 'floor', 'floor' FROM customer_mgmt.customer_list l WHERE l.province_key = 'ha noi' AND l.gender = 'female';
SELECT extract(epoch FROM clock_timestamp() - :'floor_start'::timestamptz) AS floor_seconds \gset
ROLLBACK;
INSERT INTO bench_bulk SELECT 'floor: one INSERT of the same customers'' tag rows', :floor_seconds, count(*)
  FROM customer_mgmt.customer_list l WHERE l.province_key = 'ha noi' AND l.gender = 'female';
DROP TABLE IF EXISTS t0;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT (customer_mgmt.start_bulk_action('add_tags', '{"tags": ["khách quen"]}', filters => '{"province": "Hà Nội", "gender": "female"}') ->> 'id')::bigint AS bulk \gset
INSERT INTO bench_bulk SELECT 'start_bulk_action (the customers fixed)', extract(epoch FROM clock_timestamp() - t), NULL FROM t0;
-- chunks until done, each in its own transaction (psql autocommit)
\o /dev/null
SELECT format('SELECT customer_mgmt.run_bulk_action(%s, 10000)', :bulk) FROM generate_series(1, 20) \gexec
\o
INSERT INTO bench_bulk SELECT 'start and run_bulk_action in chunks of 10,000', extract(epoch FROM clock_timestamp() - t),
       (SELECT applied FROM customer_mgmt.bulk_actions WHERE id = :bulk) FROM t0;
SELECT format('| %s | %s | %s s |', what, coalesce(customers::text, ''), round(seconds, 2)) FROM bench_bulk ORDER BY ctid;
SELECT status, total, applied, unchanged, refused FROM customer_mgmt.bulk_actions WHERE id = :bulk;
