-- Jobs whose behaviour is fixed text: the pg_cron errors and script, and the
-- batched recalculation, which commits and so cannot run inside a pgTAP
-- transaction.  pg_cron is preloaded here but not created in this database.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT customer_mgmt.schedule_jobs();
SELECT customer_mgmt.unschedule_jobs();
SELECT replace(customer_mgmt.cron_script(), current_database(), 'DB') AS cron_script;
SELECT replace(customer_mgmt.cron_script(true), current_database(), 'DB') AS cron_script;

-- the batched procedure gives the function's numbers, and logs its run
-- (on the demo shop of test/sql/demo.sql, which runs before this file)
SELECT count(*) AS customers FROM customer_mgmt.users WHERE role = 'customer';
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 5);
SELECT job_name, status, rows_processed, details - 'rfmBreakpointsId' AS details, error
  FROM customer_mgmt.job_runs WHERE job_name LIKE 'recalculate_all%';
CREATE TABLE batched AS SELECT * FROM customer_mgmt.customer_analytics;
SELECT customer_mgmt.recalculate_all_analytics('2026-01-01 00:00+07', full => true) - 'seconds' - 'jobRunId' AS function_result;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE to_jsonb(b) - 'updated_at' <> to_jsonb(a) - 'updated_at') AS different
  FROM batched b JOIN customer_mgmt.customer_analytics a USING (customer_id);
SELECT segment, count(*) FROM customer_mgmt.customer_analytics GROUP BY 1 ORDER BY 1;
DROP TABLE batched;

-- what it refuses
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 0);
CALL customer_mgmt.recalculate_all_analytics_batched('infinity');
BEGIN;
CALL customer_mgmt.recalculate_all_analytics_batched('2026-01-01 00:00+07', 2);
ROLLBACK;
SELECT job_name, status, error FROM customer_mgmt.job_runs WHERE job_name LIKE 'recalculate_all%' ORDER BY id;
