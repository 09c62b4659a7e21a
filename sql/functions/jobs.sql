-- customer_mgmt: Jobs: the pg_cron schedule (cron_jobs, schedule_jobs, unschedule_jobs,
-- cron_script) and the expiry of segment assignments.

-- Expired segment assignments
CREATE OR REPLACE FUNCTION remove_expired_segment_assignments() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run_id bigint;
    removed bigint;
BEGIN
    INSERT INTO customer_mgmt.job_runs (job_name) VALUES ('remove_expired_segment_assignments') RETURNING id INTO run_id;
    DELETE FROM customer_mgmt.customer_segment_assignments a WHERE a.expires_at <= now();
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, removed);
    RETURN jsonb_build_object('removed', removed, 'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION remove_expired_segment_assignments() IS
    'Admin (and pg_cron, every 10 minutes): deletes the segment assignments whose expires_at has passed; logged in job_runs. Returns {removed, jobRunId}.';

-- pg_cron.  pg_cron lives in the one database named by cron.database_name:
-- schedule_jobs() works when that is the shop's database; otherwise
-- cron_script() writes the statements to run there.
CREATE OR REPLACE FUNCTION cron_jobs() RETURNS TABLE (job_name text, schedule text, command text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shop_tz text := customer_mgmt.setting('shop_timezone');
    -- pg_cron 1.4 reads schedules in GMT; later versions have cron.timezone
    cron_tz text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
    nightly timestamp := ((now() AT TIME ZONE shop_tz)::date + time '02:00') AT TIME ZONE shop_tz AT TIME ZONE cron_tz;
    -- the daily schedule of a job some time after the nightly run (minute
    -- and hour roll over with the time)
    after_nightly constant text := 'FMMI FMHH24 "* * *"';
BEGIN
    RETURN QUERY VALUES
        ('customer_mgmt.analytics-queue.' || (current_database()::text COLLATE "default"), '* * * * *',
         'SELECT customer_mgmt.process_analytics_queue(1000)'),
        ('customer_mgmt.recalculate-all.' || (current_database()::text COLLATE "default"),
         to_char(nightly, after_nightly),
         'CALL customer_mgmt.recalculate_all_analytics_batched()'),
        ('customer_mgmt.expire-assignments.' || (current_database()::text COLLATE "default"), '*/10 * * * *',
         'SELECT customer_mgmt.remove_expired_segment_assignments()'),
        ('customer_mgmt.purge-audit-log.' || (current_database()::text COLLATE "default"),
         to_char(nightly + interval '30 minutes', after_nightly),
         'SELECT customer_mgmt.purge_audit_log()'),
        -- what the night rewrote, vacuumed: the list's count of up to
        -- 10,001 rows reads the visibility map, not the heap, all day
        -- (autovacuum waits for a fifth of the table to change)
        ('customer_mgmt.vacuum-after-nightly.' || (current_database()::text COLLATE "default"),
         to_char(nightly + interval '20 minutes', after_nightly),
         'VACUUM (ANALYZE) customer_mgmt.customer_analytics, customer_mgmt.customer_list, customer_mgmt.customer_clv'),
        ('customer_mgmt.find-duplicates.' || (current_database()::text COLLATE "default"),
         to_char(nightly + interval '90 minutes', after_nightly),
         'SELECT customer_mgmt.refresh_duplicate_candidates()');
    -- retention, when the shop turned it on: daily, an hour after the nightly run
    IF customer_mgmt.setting('privacy.anonymize_inactive_years')::integer > 0 THEN
        RETURN QUERY VALUES
            ('customer_mgmt.anonymize-inactive.' || (current_database()::text COLLATE "default"),
             to_char(nightly + interval '1 hour', after_nightly),
             'SELECT customer_mgmt.anonymize_inactive_customers()');
    END IF;
END
$$;
COMMENT ON FUNCTION cron_jobs() IS
    'The pg_cron jobs of this shop database: queue worker every minute, full recalculation at 02:00 shop time (setting shop_timezone, converted to pg_cron''s zone), expired assignments every 10 minutes, a VACUUM (ANALYZE) of the tables the night rewrites at 02:20, the audit log''s purge at 02:30, the duplicate candidates at 03:30, and, when privacy.anonymize_inactive_years is set, the anonymisation of inactive customers at 03:00.';

-- Every name a job of this shop may have, whether scheduled now or not.
CREATE OR REPLACE FUNCTION cron_job_names() RETURNS SETOF text
    LANGUAGE sql STABLE
AS $$
    SELECT 'customer_mgmt.' || n || '.' || (current_database()::text COLLATE "default")
      FROM unnest(ARRAY['analytics-queue', 'recalculate-all', 'expire-assignments', 'anonymize-inactive', 'purge-audit-log', 'find-duplicates',
                        'vacuum-after-nightly']) n
$$;
COMMENT ON FUNCTION cron_job_names() IS 'Internal: the names of every pg_cron job this shop database may have.';

CREATE OR REPLACE FUNCTION require_cron() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN NOT 'pg_cron' = ANY (string_to_array(
                                         translate(current_setting('shared_preload_libraries'), ' "', ''), ','))
                                THEN 'pg_cron is not in shared_preload_libraries.'
                                WHEN coalesce(current_setting('cron.database_name', true), 'postgres') = current_database()
                                THEN 'pg_cron is preloaded for this database, but CREATE EXTENSION pg_cron was not run here.'
                                ELSE format('pg_cron runs in database %s (cron.database_name).',
                                            coalesce(current_setting('cron.database_name', true), 'postgres')) END,
                  HINT = 'Run CREATE EXTENSION pg_cron in the database pg_cron runs in; when that is not this one, run there the statements of SELECT customer_mgmt.cron_script() (docs/operations.md).';
    END IF;
END
$$;
COMMENT ON FUNCTION require_cron() IS 'Internal: raises 55000 with what to do when pg_cron is not installed in this database.';

CREATE OR REPLACE FUNCTION schedule_jobs() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    scheduled jsonb := '[]';
BEGIN
    PERFORM customer_mgmt.require_cron();
    -- a job of ours that is no longer wanted (retention turned off) goes
    PERFORM cron.unschedule(c.jobid) FROM cron.job c
      WHERE c.jobname IN (SELECT x.job_name FROM customer_mgmt.cron_job_names() x (job_name))
        AND c.jobname NOT IN (SELECT w.job_name FROM customer_mgmt.cron_jobs() w);
    FOR j IN SELECT * FROM customer_mgmt.cron_jobs() LOOP
        -- cron.schedule replaces a job of the same name and owner
        scheduled := scheduled || jsonb_build_object('jobName', j.job_name, 'schedule', j.schedule,
                                                     'command', j.command,
                                                     'jobId', cron.schedule(j.job_name, j.schedule, j.command));
    END LOOP;
    PERFORM customer_mgmt.audit('schedule_jobs', 'cron', NULL,
                                jsonb_build_object('jobs', (SELECT jsonb_agg(x -> 'jobName') FROM jsonb_array_elements(scheduled) x)));
    RETURN scheduled;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
    'Admin: installs (or updates) the jobs of cron_jobs() in pg_cron, which must be installed in this database; idempotent. Returns [{jobName, schedule, command, jobId}].';

CREATE OR REPLACE FUNCTION unschedule_jobs() RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    id bigint;
BEGIN
    PERFORM customer_mgmt.require_cron();
    FOR id IN SELECT c.jobid FROM cron.job c WHERE c.jobname IN (SELECT x.job_name FROM customer_mgmt.cron_job_names() x (job_name)) LOOP
        PERFORM cron.unschedule(id);
        n := n + 1;
    END LOOP;
    PERFORM customer_mgmt.audit('unschedule_jobs', 'cron', NULL, jsonb_build_object('removed', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
    'Admin: removes exactly the jobs of cron_jobs() from pg_cron (other jobs stay); idempotent. Returns how many were removed.';

CREATE OR REPLACE FUNCTION cron_script(unschedule boolean DEFAULT false) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- where to run it first: pg_cron's database
    SELECT format(E'-- run in database %I, where pg_cron runs (cron.database_name)\n',
                  coalesce(nullif(current_setting('cron.database_name', true), ''), 'postgres'))
           || string_agg(CASE WHEN unschedule
                              THEN format('SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %L;', j.job_name)
                              ELSE format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                          j.job_name, j.schedule, j.command, current_database()) END,
                         E'\n' ORDER BY j.job_name) || E'\n'
      FROM customer_mgmt.cron_jobs() j
$$;
COMMENT ON FUNCTION cron_script(boolean) IS
    'The SQL that schedules (or, with unschedule, removes) this shop''s jobs from the database where pg_cron is installed, when that is another database, headed by a comment naming that database (cron.database_name): psql -d shop -Atc ''SELECT customer_mgmt.cron_script()'' | psql -d <cron database>.';
