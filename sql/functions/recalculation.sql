-- customer_mgmt: The recalculation of everyone (function and batched
-- procedure, with their helpers in customer_mgmt_internal): the locks, the job
-- runs, the customers that changed, the slices.

-- Concurrent writers of the analytics (docs/architecture.md).  Advisory lock
-- (17229, 1): a recalculation of everyone holds it exclusively from its
-- start to its end; writers of one customer (the queue worker,
-- calculate_customer_analytics) share it and lock that customer's
-- analytics row.  Every writer so reads its statistics after the previous
-- writer of the row committed, a slow writer never overwrites a fresher row
-- with older numbers, and the recalculation's view of which customers
-- changed holds until it ends.  (17229, 2) guards against a second
-- recalculation of everyone.
CREATE OR REPLACE FUNCTION analytics_write_lock(wait boolean) RETURNS boolean
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock_shared(17229, 1);
        RETURN true;
    END IF;
    RETURN pg_try_advisory_xact_lock_shared(17229, 1);
END
$$;
COMMENT ON FUNCTION analytics_write_lock(boolean) IS
    'Internal: takes, for the transaction, the shared analytics writers'' advisory lock (17229, 1) that a writer of one customer needs; without wait returns false instead of waiting while a recalculation of everyone runs.';

-- Close a job run: finished, succeeded or failed with the error, rows.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.finish_job_run(run_id bigint, rows_processed bigint DEFAULT NULL, error text DEFAULT NULL)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE customer_mgmt.job_runs r
       SET finished_at = clock_timestamp(),
           status = CASE WHEN finish_job_run.error IS NULL THEN 'succeeded' ELSE 'failed' END::customer_mgmt.job_status,
           rows_processed = coalesce(finish_job_run.rows_processed, r.rows_processed),
           error = finish_job_run.error
     WHERE r.id = run_id
$$;
COMMENT ON FUNCTION customer_mgmt_internal.finish_job_run(bigint, bigint, text) IS
    'Internal: marks a job run finished, succeeded (error NULL) or failed, with its row count when given.';

-- Which customers' statistics must be recomputed to bring everyone to
-- as_of (docs/architecture.md, "The nightly run").  After the previous run
-- (as of prev_as_of, started at prev_started) every row held the
-- statistics as of prev_as_of, written or found unchanged; a row written
-- since holds them as of its last_calculated_at.  A customer must be
-- recomputed whose row was never calculated, holds statistics as of a time
-- after as_of or before the window, is queued (its data changed in a way
-- its date cannot show: the triggers queue it), or has a completed order or
-- a visit dated after its statistics' time and not after as_of, found by
-- index in the window (least(prev_as_of, as_of), as_of].
CREATE OR REPLACE FUNCTION changed_customers(as_of timestamptz, prev_as_of timestamptz, prev_started timestamptz)
    RETURNS uuid[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH a AS NOT MATERIALIZED (
        SELECT x.customer_id,
               x.last_calculated_at IS NULL AS never,
               CASE WHEN x.updated_at >= prev_started THEN x.last_calculated_at ELSE prev_as_of END AS stats_as_of
          FROM customer_mgmt.customer_analytics x)
    SELECT coalesce(array_agg(DISTINCT c.customer_id ORDER BY c.customer_id), '{}')
      FROM (SELECT a.customer_id FROM a
             WHERE a.never OR a.stats_as_of > as_of OR a.stats_as_of < least(prev_as_of, as_of)
            UNION ALL
            SELECT q.customer_id FROM customer_mgmt.analytics_queue q
            UNION ALL
            SELECT o.customer_id FROM customer_mgmt.orders o JOIN a ON a.customer_id = o.customer_id
             WHERE o.status = 'completed' AND o.order_date > least(prev_as_of, as_of) AND o.order_date <= as_of
               AND o.order_date > a.stats_as_of
            UNION ALL
            SELECT w.customer_id FROM customer_mgmt.web_sessions w JOIN a ON a.customer_id = w.customer_id
             WHERE w.started_at > least(prev_as_of, as_of) AND w.started_at <= as_of AND w.started_at > a.stats_as_of) c
$$;
COMMENT ON FUNCTION changed_customers(timestamptz, timestamptz, timestamptz) IS
    'Internal: the customers whose statistics a recalculation of everyone as of a time must recompute, given the previous run''s as_of and start (docs/architecture.md).';

-- Start a recalculation of everyone: check the arguments, make sure no
-- other one runs, take the analytics writers' lock, compute the statistics
-- that changed (or everyone's, with full) into pg_temp.cm_recalc_stats,
-- store the RFM breakpoints, log the run.  The locks are the transaction's
-- (the function) or the session's (the procedure, which commits between
-- slices and releases them at the end).
CREATE OR REPLACE FUNCTION customer_mgmt_internal.begin_recalculation(as_of timestamptz, batches integer, job_name text,
                                                                      session_lock boolean, full_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
AS $$
DECLARE
    started constant timestamptz := clock_timestamp();
    bp customer_mgmt.rfm_breakpoints;
    run_id bigint;
    other customer_mgmt.job_runs;
    locked boolean;
    stale regclass;
    since timestamptz;
    since_started timestamptz;
    changed uuid[];
    customers bigint;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    IF batches IS NULL OR batches NOT BETWEEN 1 AND 4096 THEN
        PERFORM customer_mgmt.raise_invalid('batches', 'must be from 1 to 4096', batches::text);
    END IF;
    IF full_run IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('full', 'is required');
    END IF;
    IF session_lock THEN
        locked := pg_try_advisory_lock(17229, 2);
    ELSE
        locked := pg_try_advisory_xact_lock(17229, 2);
    END IF;
    IF NOT locked THEN
        SELECT * INTO other FROM customer_mgmt.job_runs r
         WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'running'
         ORDER BY r.id DESC LIMIT 1;
        RAISE EXCEPTION 'a full analytics recalculation is already running'
            USING ERRCODE = 'P0001',
                  DETAIL = format('Job run %s (%s) started at %s.', other.id, other.job_name, other.started_at),
                  HINT = 'Wait for it to finish; its progress is in customer_mgmt.job_runs.';
    END IF;
    BEGIN
        -- writers of one customer finish first, and wait (or defer) until the end
        IF session_lock THEN
            PERFORM pg_advisory_lock(17229, 1);
        ELSE
            PERFORM pg_advisory_xact_lock(17229, 1);
        END IF;
        -- holding the lock, any other run still marked running was interrupted
        UPDATE customer_mgmt.job_runs r
           SET status = 'failed', finished_at = clock_timestamp(), error = 'interrupted (its session ended)'
         WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'running';
        -- a bulk load that autovacuum has not analysed yet would leave the
        -- planner estimating one row per slice: nested loops, quadratic time
        FOR stale IN
            SELECT t.relid::regclass FROM pg_stat_user_tables t
             WHERE t.schemaname = 'customer_mgmt' AND t.relname IN ('users', 'orders', 'order_items', 'web_sessions')
               AND (coalesce(t.last_analyze, t.last_autoanalyze) IS NULL OR t.n_mod_since_analyze > t.n_live_tup / 2 + 1000)
        LOOP
            EXECUTE format('ANALYZE %s', stale);
        END LOOP;
        -- every customer has an analytics row: the registration trigger makes
        -- it; a run from scratch also makes those of loads that bypassed it
        IF full_run THEN
            PERFORM customer_mgmt.ensure_analytics_rows();
        END IF;
        -- what changed since the previous run; with none, or when much
        -- changed, everyone (the same numbers, computed in one pass)
        IF NOT full_run THEN
            SELECT (r.details ->> 'asOf')::timestamptz, r.started_at INTO since, since_started FROM customer_mgmt.job_runs r
             WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'succeeded'
             ORDER BY r.id DESC LIMIT 1;
            IF since IS NULL THEN
                full_run := true;
            ELSE
                changed := customer_mgmt.changed_customers(as_of, since, since_started);
                SELECT greatest(c.reltuples, 0)::bigint INTO customers FROM pg_class c
                 WHERE c.oid = 'customer_mgmt.customer_analytics'::regclass;
                full_run := cardinality(changed) > greatest(10000, customers / 10);
            END IF;
        END IF;
        PERFORM customer_mgmt_internal.end_recalculation(NULL, NULL, NULL, false);
        -- CREATE TABLE AS may use parallel workers, an UPDATE may not
        IF full_run THEN
            EXECUTE format('CREATE TEMP TABLE cm_recalc_stats AS SELECT * FROM customer_mgmt.customer_stats(%L, %L, %L)',
                           as_of, customer_mgmt.uuid_slice_bound(0, 1), customer_mgmt.uuid_slice_bound(1, 1, true));
        ELSE
            EXECUTE format('CREATE TEMP TABLE cm_recalc_stats AS SELECT * FROM customer_mgmt.customer_stats(%L, %L, %L, %L)',
                           as_of, customer_mgmt.uuid_slice_bound(0, 1), customer_mgmt.uuid_slice_bound(1, 1, true), changed);
        END IF;
        ANALYZE pg_temp.cm_recalc_stats;
        -- the breakpoints from every customer's statistics as of as_of: those
        -- recomputed, and the others' as the list holds them (a narrow table)
        bp := customer_mgmt.store_rfm_breakpoints(as_of,
                  'SELECT CASE WHEN st.customer_id IS NULL THEN l.last_order_date ELSE st.last_order_date END,
                          CASE WHEN st.customer_id IS NULL THEN l.total_orders ELSE st.total_orders END,
                          CASE WHEN st.customer_id IS NULL THEN l.total_spent ELSE st.total_spent END
                     FROM customer_mgmt.customer_list l
                     LEFT JOIN pg_temp.cm_recalc_stats st ON st.customer_id = l.customer_id');
        INSERT INTO customer_mgmt.job_runs (job_name, details)
        VALUES (job_name, jsonb_build_object('asOf', as_of, 'batches', batches, 'full', full_run, 'since', since,
                                             'changedCustomers', (SELECT count(*) FROM pg_temp.cm_recalc_stats),
                                             'slicesDone', 0, 'rfmBreakpointsId', bp.id,
                                             -- each step's time (bench/run.sh nightly prints them)
                                             'seconds', jsonb_build_object(
                                                 'statistics', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3))))
        RETURNING id INTO run_id;
    EXCEPTION WHEN OTHERS THEN
        -- the procedure's locks are the session's: do not keep them past a failure
        IF session_lock THEN
            PERFORM customer_mgmt_internal.end_recalculation(NULL, NULL, NULL, true);
        END IF;
        RAISE;
    END;
    RETURN run_id;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.begin_recalculation(timestamptz, integer, text, boolean, boolean) IS
    'Internal: starts a recalculation of everyone (arguments checked, one at a time, writers of one customer held off, the statistics that changed or with full everyone''s computed, RFM breakpoints stored, run logged); returns the job run id.';

-- One slice of a recalculation of everyone: write_slice_analytics over slice i of
-- n of the id space, progress in the job run.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.recalculate_slice(run_id bigint, slice integer) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
AS $$
DECLARE
    r customer_mgmt.job_runs;
    bp customer_mgmt.rfm_breakpoints;
    batches integer;
    written bigint;
    t0 timestamptz;
BEGIN
    SELECT * INTO r FROM customer_mgmt.job_runs x
     WHERE x.id = run_id AND x.job_name LIKE 'recalculate_all_analytics%' AND x.status = 'running';
    -- the statistics must be the ones begin_recalculation computed: a
    -- temporary table of that name that the extension's owner did not
    -- create (the caller's own, made after end_recalculation dropped the
    -- real one) is refused
    IF NOT FOUND OR NOT coalesce((SELECT c.relowner = (SELECT o.oid FROM pg_roles o WHERE o.rolname = current_user)
                                    FROM pg_class c WHERE c.oid = to_regclass('pg_temp.cm_recalc_stats')), false) THEN
        PERFORM customer_mgmt.raise_invalid('run_id', 'is not a recalculation running in this session', run_id::text);
    END IF;
    batches := (r.details ->> 'batches')::integer;
    IF slice IS NULL OR slice NOT BETWEEN 0 AND batches - 1 THEN
        PERFORM customer_mgmt.raise_invalid('slice', format('must be from 0 to %s', batches - 1), slice::text);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints b WHERE b.id = (r.details ->> 'rfmBreakpointsId')::bigint;
    t0 := clock_timestamp();
    written := customer_mgmt.write_slice_analytics((r.details ->> 'asOf')::timestamptz,
                                                   customer_mgmt.uuid_slice_bound(slice, batches),
                                                   customer_mgmt.uuid_slice_bound(slice + 1, batches, true), bp,
                                                   (r.details ->> 'full')::boolean);
    UPDATE customer_mgmt.job_runs x
       SET rows_processed = x.rows_processed + written,
           details = jsonb_set(x.details || jsonb_build_object('slicesDone', slice + 1), '{seconds,slices}',
                               to_jsonb(coalesce((x.details #>> '{seconds,slices}')::numeric, 0)
                                        + round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3)))
     WHERE x.id = run_id;
    RETURN written;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.recalculate_slice(bigint, integer) IS
    'Internal: recalculates slice i of the id space for the recalculation running in this session and records the progress in its job run; returns the customers written.';

-- End a recalculation of everyone: the auto-assigned segments refreshed
-- (when it succeeded), its job run closed (when given), its temporary
-- statistics dropped, the session's locks released (the procedure's).
CREATE OR REPLACE FUNCTION customer_mgmt_internal.end_recalculation(run_id bigint, rows_processed bigint, error text,
                                                                    session_lock boolean)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r customer_mgmt.job_runs;
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    -- a run that succeeded refits the CLV model, rescoring everyone (from
    -- the stored purchase summaries, those of the customers it recomputed
    -- rewritten first; everyone's from the orders in a full run), and
    -- refreshes every auto-assigned segment, as of its time
    IF run_id IS NOT NULL AND error IS NULL THEN
        SELECT * INTO r FROM customer_mgmt.job_runs x WHERE x.id = run_id;
        t0 := clock_timestamp();
        -- (the changed customers from the statistics begin_recalculation
        -- computed: a temporary table of that name the extension's owner
        -- did not create makes it a fit from every order)
        PERFORM customer_mgmt.clv_fit((r.details ->> 'asOf')::timestamptz,
                                      CASE WHEN NOT (r.details ->> 'full')::boolean
                                                AND (SELECT c.relowner = (SELECT o.oid FROM pg_roles o WHERE o.rolname = current_user)
                                                       FROM pg_class c WHERE c.oid = to_regclass('pg_temp.cm_recalc_stats'))
                                          THEN ARRAY(SELECT st.customer_id FROM pg_temp.cm_recalc_stats st) END);
        t1 := clock_timestamp();
        PERFORM customer_mgmt.refresh_all_segments((r.details ->> 'asOf')::timestamptz);
        UPDATE customer_mgmt.job_runs x
           SET details = jsonb_set(x.details, '{seconds}', coalesce(x.details -> 'seconds', '{}') || jsonb_build_object(
                   'clvModel', round(extract(epoch FROM t1 - t0)::numeric, 3),
                   'segments', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 3)))
         WHERE x.id = run_id;
    END IF;
    IF run_id IS NOT NULL THEN
        PERFORM customer_mgmt_internal.finish_job_run(run_id, rows_processed, error);
    END IF;
    IF to_regclass('pg_temp.cm_recalc_stats') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_recalc_stats;
    END IF;
    -- the session-level locks this session holds (none if the start failed early)
    IF session_lock THEN
        PERFORM pg_advisory_unlock(l.classid::integer, l.objid::integer)
           FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.classid = 17229 AND l.objsubid = 2
            AND l.objid IN (1, 2) AND l.mode = 'ExclusiveLock' AND l.granted;
    END IF;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.end_recalculation(bigint, bigint, text, boolean) IS
    'Internal: ends a recalculation of everyone: job run closed, temporary statistics dropped, the procedure''s session locks released.';

CREATE OR REPLACE FUNCTION recalculate_all_analytics(as_of timestamptz DEFAULT now(), full boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    run_id bigint := customer_mgmt_internal.begin_recalculation(as_of, 1, 'recalculate_all_analytics', false,
                                                                recalculate_all_analytics.full);
    r customer_mgmt.job_runs;
    written bigint;
BEGIN
    written := customer_mgmt_internal.recalculate_slice(run_id, 0);
    PERFORM customer_mgmt_internal.end_recalculation(run_id, written, NULL, false);
    SELECT * INTO r FROM customer_mgmt.job_runs x WHERE x.id = run_id;
    PERFORM customer_mgmt.audit('recalculate_all_analytics', 'job_run', run_id::text,
                                jsonb_build_object('asOf', as_of, 'full', (r.details ->> 'full')::boolean, 'written', written));
    RETURN jsonb_build_object('customers', (SELECT count(*) FROM customer_mgmt.customer_list), 'written', written,
                              'asOf', as_of, 'full', (r.details ->> 'full')::boolean,
                              'changedCustomers', (r.details ->> 'changedCustomers')::bigint,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3),
                              'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION recalculate_all_analytics(timestamptz, boolean) IS
    'Admin: brings every customer''s analytics and insights to as_of in one transaction, recomputing from orders and sessions only the customers whose data changed since the previous run (full: everyone); both give the same rows. Logged in job_runs. Returns {customers, written (rows whose values changed), asOf, full, changedCustomers (statistics recomputed), seconds, jobRunId}.';

-- The same in batches with a commit after each: progress is visible in
-- job_runs from other sessions, and locks on the rows stay short.  Not
-- SECURITY DEFINER (a procedure that commits cannot be); everything it
-- calls is schema-qualified and SECURITY DEFINER itself.
CREATE OR REPLACE PROCEDURE recalculate_all_analytics_batched(as_of timestamptz DEFAULT now(), batches integer DEFAULT 8,
                                                              full boolean DEFAULT false)
    LANGUAGE plpgsql
AS $$
DECLARE
    run_id bigint;
    written bigint := 0;
    failure text;
    failure_state text;
BEGIN
    run_id := customer_mgmt_internal.begin_recalculation(as_of, batches, 'recalculate_all_analytics_batched', true,
                                                         recalculate_all_analytics_batched.full);
    COMMIT;
    FOR i IN 0 .. batches - 1 LOOP
        BEGIN
            written := written + customer_mgmt_internal.recalculate_slice(run_id, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE;
        END;
        IF failure IS NOT NULL THEN
            PERFORM customer_mgmt_internal.end_recalculation(run_id, written, failure, true);
            COMMIT;
            RAISE EXCEPTION '%', failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.format('Slice %s of %s of job run %s; the slices before it are committed.',
                                                 i, batches, run_id);
        END IF;
        COMMIT;
    END LOOP;
    PERFORM customer_mgmt_internal.end_recalculation(run_id, written, NULL, true);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer, boolean) IS
    'Admin (and pg_cron, daily): recalculate_all_analytics committing after each of batches slices, so that progress shows in job_runs and row locks stay short; a failure is logged before it is raised. CALL it outside a transaction block.';

-- Bound i of n equal slices of the uuid space (the last bound is the maximum).
CREATE OR REPLACE FUNCTION uuid_slice_bound(i integer, n integer, upper boolean DEFAULT false) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN upper AND i >= n THEN 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
        ELSE (lpad(to_hex((i::bigint * 4294967296 / n) - CASE WHEN upper THEN 1 ELSE 0 END), 8, '0')
              || CASE WHEN upper THEN '-ffff-ffff-ffff-ffffffffffff' ELSE '-0000-0000-0000-000000000000' END)::uuid
    END
$$;
COMMENT ON FUNCTION uuid_slice_bound(integer, integer, boolean) IS
    'Internal: the lower (or, with upper, the upper) bound of slice i of n equal slices of the uuid space.';
