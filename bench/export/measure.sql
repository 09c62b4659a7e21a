-- One measurement of bench/run.sh export, in a session of its own (a
-- backend's VmHWM only grows), with :fmt set (csv or xlsx) and :parallel
-- (max_parallel_workers_per_gather).  First the plain COPY of the export's
-- query to /dev/null (the floor), then export_customers in that format.
-- Prints "what|seconds|bytes|VmHWM before kB|VmHWM after kB|RssShmem before kB|RssShmem after kB".
--
-- VmHWM counts the shared buffers a backend has touched.  With parallel
-- workers the leader reads a different share of the tables each time, so
-- the memory is measured in a run with :parallel = 0, where COPY and the
-- export touch the same buffers and what the export adds is its own.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = :parallel;
CREATE TEMP TABLE m (what text, seconds numeric, bytes bigint, hwm_before bigint, hwm_after bigint,
                     shmem_before bigint, shmem_after bigint);
CREATE FUNCTION pg_temp.status(field text) RETURNS bigint LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/self/status') FROM field || ':\s+(\d+) kB')::bigint $$;
-- the export's default query, as export_plan builds it
SELECT format('SELECT %s FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id'
              ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id'
              ' CROSS JOIN (SELECT %L::text AS tz, now() AS as_of) p ORDER BY l.created_at DESC, l.customer_id DESC',
              string_agg(c.expression, ', ' ORDER BY c.n), customer_mgmt.setting('shop_timezone')) AS q
  FROM (SELECT e.*, row_number() OVER () AS n FROM customer_mgmt.export_columns() e) c WHERE c.is_default \gset
SELECT clock_timestamp() AS t0 \gset
COPY (:q) TO '/dev/null' WITH (FORMAT csv, HEADER);
INSERT INTO m SELECT 'COPY (same query) TO csv', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), NULL, NULL,
                     pg_temp.status('VmHWM');
SELECT pg_temp.status('VmHWM') AS before, pg_temp.status('RssShmem') AS shmem_before \gset
SELECT clock_timestamp() AS t0 \gset
SELECT length(customer_mgmt.export_customers(format => :'fmt')) AS bytes \gset
INSERT INTO m SELECT format('export_customers(format => %L)', :'fmt'), extract(epoch FROM clock_timestamp() - :'t0'::timestamptz),
                     :bytes, :before, pg_temp.status('VmHWM'), :shmem_before, pg_temp.status('RssShmem');
\pset tuples_only on
\pset format unaligned
SELECT concat_ws('|', what, round(seconds, 1), bytes, hwm_before, hwm_after, shmem_before, shmem_after) FROM m ORDER BY ctid;
