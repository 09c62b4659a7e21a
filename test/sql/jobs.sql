-- Jobs whose behaviour is fixed text: the pg_cron errors and script, and the
-- batched recalculation, which commits and so cannot run inside a pgTAP
-- transaction.  pg_cron is preloaded here but not created in this database.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT customer_mgmt.schedule_jobs();
SELECT customer_mgmt.unschedule_jobs();
SELECT replace(customer_mgmt.cron_script(), current_database(), 'DB') AS cron_script;
SELECT replace(customer_mgmt.cron_script(true), current_database(), 'DB') AS cron_script;

-- the batched procedure gives the function's numbers, and logs its run, on
-- the demo shop of test/sql/demo.sql (made here when this file runs alone)
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM customer_mgmt.users) THEN
        PERFORM customer_mgmt.generate_demo_shop(1000, 42, '2026-01-01 00:00+07');
    END IF;
END
$$;
SELECT count(*) AS customers FROM customer_mgmt.users WHERE role = 'customer';
BEGIN;
SELECT customer_mgmt.recalculate_all_analytics('2026-01-01 00:00+07', full => true) - 'seconds' - 'jobRunId' AS function_result;
SELECT md5(string_agg((to_jsonb(a) - 'updated_at')::text, '' ORDER BY a.customer_id)) AS function_state
  FROM customer_mgmt.customer_analytics a \gset
ROLLBACK;
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 5, full => true);
SELECT job_name, status, rows_processed, details - 'rfmBreakpointsId' - 'seconds' AS details, error
  FROM customer_mgmt.job_runs WHERE job_name LIKE 'recalculate_all%';
SELECT md5(string_agg((to_jsonb(a) - 'updated_at')::text, '' ORDER BY a.customer_id)) = :'function_state' AS same_rows
  FROM customer_mgmt.customer_analytics a;
SELECT segment, count(*) FROM customer_mgmt.customer_analytics GROUP BY 1 ORDER BY 1;
-- the next run as of the same time: nothing changed, nothing written
SELECT customer_mgmt.recalculate_all_analytics('2026-01-01 00:00+07') - 'seconds' - 'jobRunId' AS nightly_result;
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 2);
SELECT job_name, rows_processed, details - 'rfmBreakpointsId' - 'seconds' AS details
  FROM customer_mgmt.job_runs WHERE job_name LIKE 'recalculate_all%' ORDER BY id DESC LIMIT 1;

-- what it refuses
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 0);
CALL customer_mgmt.recalculate_all_analytics_batched('infinity');
BEGIN;
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 2);
ROLLBACK;
SELECT job_name, status, error FROM customer_mgmt.job_runs WHERE job_name LIKE 'recalculate_all%' ORDER BY id;
