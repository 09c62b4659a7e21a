-- customer_mgmt 1.2 -> 1.3, the hand-written part: only what changes tables,
-- types or data, or removes and moves functions.  The build appends every
-- function file (CREATE OR REPLACE) and privileges.sql (Makefile: UPDATE_PARTS).

-- the internal schema (sql/schema/roles.sql)
CREATE SCHEMA customer_mgmt_internal;
COMMENT ON SCHEMA customer_mgmt_internal IS
    'customer_mgmt internals that roles execute on behalf of the API; not API: do not expose it through PostgREST or PostGraphile.';
ALTER FUNCTION finish_job_run(bigint, bigint, text) SET SCHEMA customer_mgmt_internal;
ALTER FUNCTION begin_full_recalculation(timestamptz, integer, text, boolean) SET SCHEMA customer_mgmt_internal;
ALTER FUNCTION recalculate_slice(bigint, integer) SET SCHEMA customer_mgmt_internal;

-- ids are uuid: the text versions go (PostgREST refuses two functions of the
-- same name and argument names, PGRST203)
DROP FUNCTION get_customer(text);
DROP FUNCTION get_customer_orders(text, text, timestamptz, timestamptz, text, integer, integer);
DROP FUNCTION update_customer_status(text, text, text);
DROP FUNCTION calculate_customer_analytics(text, timestamptz);
DROP FUNCTION find_customer(text);
DROP FUNCTION check_uuid(text, text);
