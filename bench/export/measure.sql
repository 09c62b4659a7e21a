-- One measurement of bench/run.sh export, in a session of its own (a
-- backend's VmHWM only grows): the plain COPY of the export's query to
-- /dev/null first (the floor, and it touches the same shared buffers, so
-- that what the export adds to the high-water mark is its own memory),
-- then, with :fmt set, export_customers in that format.  Prints
-- "what|seconds|bytes|VmHWM before kB|VmHWM after kB".
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE TEMP TABLE m (what text, seconds numeric, bytes bigint, hwm_before bigint, hwm_after bigint);
CREATE FUNCTION pg_temp.hwm() RETURNS bigint LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s+(\d+) kB')::bigint $$;
-- the export's default query, as export_customers builds it
SELECT format('SELECT %s FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id'
              ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id'
              ' CROSS JOIN (SELECT %L::text AS tz, now() AS as_of) p ORDER BY l.created_at DESC, l.customer_id DESC',
              string_agg(c.expression, ', ' ORDER BY c.n), customer_mgmt.setting('shop_timezone')) AS q
  FROM (SELECT e.*, row_number() OVER () AS n FROM customer_mgmt.export_columns() e) c WHERE c.is_default \gset
SELECT clock_timestamp() AS t0 \gset
COPY (:q) TO '/dev/null' WITH (FORMAT csv, HEADER);
INSERT INTO m SELECT 'COPY (same query) TO csv', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), NULL, NULL, pg_temp.hwm();
SELECT pg_temp.hwm() AS before \gset
SELECT clock_timestamp() AS t0 \gset
SELECT length(customer_mgmt.export_customers(format => :'fmt')) AS bytes \gset
INSERT INTO m SELECT format('export_customers(format => %L)', :'fmt'), extract(epoch FROM clock_timestamp() - :'t0'::timestamptz),
                     :bytes, :before, pg_temp.hwm();
\pset tuples_only on
\pset format unaligned
SELECT concat_ws('|', what, round(seconds, 1), bytes, hwm_before, hwm_after) FROM m ORDER BY ctid;
