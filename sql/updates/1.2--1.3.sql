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

-- a login opens a visit with no page view (docs/analytics.md): 1.0-1.2
-- recorded each login as a one-page session of 0 seconds, which counted as a
-- bounce.  Such rows become what a login records now (a browsing session of
-- 0 seconds is what no tracker writes), and their customers are queued for
-- recalculation.
ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_page_views_check,
    ADD CONSTRAINT web_sessions_page_views_check CHECK (page_views BETWEEN 0 AND 100000);
COMMENT ON TABLE web_sessions IS
    'Visits of customers. A login opens a visit with no page view (page_views 0); a browsing session has at least one, and with exactly one it is a bounce; converted means it ended in an order. Bounce and conversion rates count browsing sessions only (docs/analytics.md).';
WITH logins AS (
    UPDATE web_sessions w SET page_views = 0
     WHERE w.duration_seconds = 0 AND w.page_views = 1 AND NOT w.converted
    RETURNING w.customer_id)
INSERT INTO analytics_queue (customer_id, reason)
SELECT DISTINCT customer_id, 'logins recorded as visits (1.3)' FROM logins
ON CONFLICT (customer_id) DO NOTHING;
