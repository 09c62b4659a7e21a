-- One timing of bench/run.sh export, in a session of its own, with :fmt set
-- (csv or xlsx): the plain COPY of the export's query to /dev/null (the
-- floor), then export_customers in that format.  Prints "what|seconds".
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE TEMP TABLE m (what text, seconds numeric);
\ir query.sql

SELECT clock_timestamp() AS t0 \gset
COPY (:q) TO '/dev/null' WITH (FORMAT csv, HEADER);
INSERT INTO m SELECT 'COPY (same query) TO csv', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
SELECT length(customer_mgmt.export_customers(format => :'fmt')) AS bytes \gset
INSERT INTO m SELECT format('export_customers(format => %L)', :'fmt'), extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
\pset tuples_only on
\pset format unaligned
SELECT concat_ws('|', what, round(seconds, 1)) FROM m ORDER BY ctid;
