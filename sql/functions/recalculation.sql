-- customer_mgmt: Recalculation of the analytics: the per-customer statistics, the RFM
-- breakpoints, the writer of analytics rows and insights, one customer, everyone
-- (function and batched procedure, with their helpers in customer_mgmt_internal),
-- and the queue worker.

-- Every customer has an analytics row (the list reads its columns).
-- Insert the default analytics row of customers who have none; returns how
-- many.  Used after bulk loads that bypass triggers, and by this upgrade.
CREATE OR REPLACE FUNCTION ensure_analytics_rows() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created bigint;
BEGIN
    WITH ins AS (
        INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
        SELECT u.id, u.created_at, u.created_at
          FROM customer_mgmt.users u
         WHERE u.role = 'customer'
        -- not NOT EXISTS: probing the table this statement fills makes the
        -- planner's nested loop read every row inserted so far, quadratic
        ON CONFLICT (customer_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO created FROM ins;
    -- and each customer's list row, from the analytics row
    INSERT INTO customer_mgmt.customer_list
           (customer_id, created_at, full_name, email, status, last_login_at,
            segment, total_spent, total_orders, last_order_date, churn_risk_score)
    SELECT u.id, u.created_at, u.full_name, u.email, u.status, u.last_login_at,
           a.segment, a.total_spent, a.total_orders, a.last_order_date, a.churn_risk_score
      FROM customer_mgmt.users u JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id
     WHERE u.role = 'customer'
    ON CONFLICT (customer_id) DO NOTHING;
    RETURN created;
END
$$;
COMMENT ON FUNCTION ensure_analytics_rows() IS
    'Creates the default analytics row and the list row of every customer who has none (after a load that bypassed the triggers); returns the number of analytics rows created.';

-- Statistics of a range of customers, as of a time.  One set-based query
-- serves both a single customer (lo = hi: index scans) and everyone (hash
-- aggregates over ranges), so both give the same numbers.
CREATE OR REPLACE FUNCTION customer_stats(as_of timestamptz, lo uuid, hi uuid)
    RETURNS TABLE (customer_id uuid, total_orders integer, total_spent numeric, last_order_date timestamptz,
                   total_sessions integer, total_page_views integer, average_session_duration integer,
                   bounce_rate numeric, conversion_rate numeric, favorite_categories jsonb,
                   favorite_brands jsonb, preferred_price_range jsonb)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH o AS (
        SELECT o.customer_id, count(*)::integer AS n, sum(o.total_amount) AS spent, max(o.order_date) AS last
          FROM customer_mgmt.orders o
         WHERE o.customer_id BETWEEN lo AND hi AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id),
    s AS (
        -- every visit counts as a session; duration, bounce and conversion are
        -- of the browsing sessions (a login views no page: docs/analytics.md)
        SELECT w.customer_id, count(*)::integer AS n, sum(w.page_views)::integer AS pv,
               round(avg(w.duration_seconds) FILTER (WHERE w.page_views > 0))::integer AS duration,
               round(avg((w.page_views = 1)::integer) FILTER (WHERE w.page_views > 0), 4) AS bounce,
               round(avg(w.converted::integer) FILTER (WHERE w.page_views > 0), 4) AS conversion
          FROM customer_mgmt.web_sessions w
         WHERE w.customer_id BETWEEN lo AND hi AND w.started_at <= as_of
         GROUP BY w.customer_id),
    -- favourites and price range in one pass over the lines (src/preferences.c)
    pref AS (
        SELECT o.customer_id,
               customer_mgmt.purchase_preferences(o.id, i.category, i.brand, (i.unit_price * 100)::bigint, i.quantity) AS j
          FROM customer_mgmt.orders o
          JOIN customer_mgmt.order_items i ON i.order_id = o.id
         WHERE o.customer_id BETWEEN lo AND hi AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id)
    SELECT u.id, coalesce(o.n, 0), coalesce(o.spent, 0), o.last,
           coalesce(s.n, 0), coalesce(s.pv, 0), coalesce(s.duration, 0), coalesce(s.bounce, 0), coalesce(s.conversion, 0),
           coalesce(pref.j -> 'favoriteCategories', '[]'), coalesce(pref.j -> 'favoriteBrands', '[]'),
           pref.j -> 'preferredPriceRange'
      FROM customer_mgmt.users u
      LEFT JOIN o ON o.customer_id = u.id
      LEFT JOIN s ON s.customer_id = u.id
      LEFT JOIN pref ON pref.customer_id = u.id
     WHERE u.role = 'customer' AND u.id BETWEEN lo AND hi
$$;
COMMENT ON FUNCTION customer_stats(timestamptz, uuid, uuid) IS
    'Order, session and preference statistics of the customers with ids in [lo, hi] as of a time (completed orders only; preferences by purchase_preferences).';

-- The RFM breakpoints as of a time, from the completed orders of every
-- customer who has one; stored, and returned.
CREATE OR REPLACE FUNCTION compute_rfm_breakpoints(as_of timestamptz) RETURNS rfm_breakpoints
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO customer_mgmt.rfm_breakpoints (as_of, recency, frequency, monetary, customers)
    SELECT as_of,
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY -x.days),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.n),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.spent),
           count(*)
      FROM (SELECT customer_mgmt.days_between(max(o.order_date), as_of)::float8 AS days, count(*)::float8 AS n,
                   sum(o.total_amount)::float8 AS spent
              FROM customer_mgmt.orders o
             WHERE o.status = 'completed' AND o.order_date <= as_of
             GROUP BY o.customer_id) x
    HAVING count(*) > 0
    RETURNING *
$$;
COMMENT ON FUNCTION compute_rfm_breakpoints(timestamptz) IS
    'Internal: computes, stores and returns the RFM quintile breakpoints as of a time (NULL when no customer has a completed order).';

-- Write the analytics rows and insights of the customers with ids in
-- [lo, hi] as of a time, with the given RFM breakpoints.  Both
-- calculate_customer_analytics (lo = hi) and recalculate_all_analytics
-- (ranges) come here: one query, the same numbers.
CREATE OR REPLACE FUNCTION write_analytics(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    -- the thresholds, read once: constants to the statements below
    vip_min_spent float8 := customer_mgmt.setting('segment.vip_min_spent')::float8;
    vip_max_churn float8 := customer_mgmt.setting('segment.vip_max_churn_risk')::float8;
    loyal_min_orders integer := customer_mgmt.setting('segment.loyal_min_orders')::integer;
    loyal_max_days integer := customer_mgmt.setting('segment.loyal_max_days_since_order')::integer;
    at_risk_min_churn float8 := customer_mgmt.setting('segment.at_risk_min_churn_risk')::float8;
    active_max_days integer := customer_mgmt.setting('segment.active_max_days_since_order')::integer;
    churned_min_days integer := customer_mgmt.setting('segment.churned_min_days_since_order')::integer;
    high_value_min numeric := customer_mgmt.setting('insight.high_value_min_spent')::numeric;
    churn_insight_min numeric := customer_mgmt.setting('insight.churn_risk_min')::numeric;
    loyal_insight_orders integer := customer_mgmt.setting('insight.loyal_min_orders')::integer;
    loyal_insight_days integer := customer_mgmt.setting('insight.loyal_max_days_since_order')::integer;
    source text := 'customer_mgmt.customer_stats($1, $2, $3)';
    below_threshold uuid[];
BEGIN
    -- one customer: wait for any other writer of the row first, so that the
    -- statistics below are read after it committed (docs/architecture.md,
    -- "Concurrent writers of the analytics")
    IF lo = hi THEN
        PERFORM FROM customer_mgmt.customer_analytics x WHERE x.customer_id = lo FOR UPDATE;
    END IF;
    -- who is below the high churn threshold before this calculation (a first
    -- calculation only sets the baseline: nothing can cross from unknown)
    SELECT coalesce(array_agg(x.customer_id), '{}') INTO below_threshold
      FROM customer_mgmt.customer_analytics x
     WHERE x.customer_id BETWEEN lo AND hi AND x.last_calculated_at IS NOT NULL AND x.churn_risk_score < high;

    -- every customer has a row (the registration trigger makes it; this
    -- catches loads that bypassed triggers), so the calculation is one
    -- UPDATE: cheaper than INSERT ... ON CONFLICT, and HOT (fillfactor 70)
    -- where no indexed column changes
    INSERT INTO customer_mgmt.customer_analytics (customer_id)
    SELECT u.id FROM customer_mgmt.users u
     WHERE u.role = 'customer' AND u.id BETWEEN lo AND hi
       AND NOT EXISTS (SELECT FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id)
    ON CONFLICT (customer_id) DO NOTHING;
    -- a range: the statistics first, into a temporary table: CREATE TABLE AS
    -- may use parallel workers, an UPDATE may not
    IF lo <> hi THEN
        IF to_regclass('pg_temp.cm_analytics_stats') IS NOT NULL THEN
            DROP TABLE pg_temp.cm_analytics_stats;
        END IF;
        EXECUTE format('CREATE TEMP TABLE cm_analytics_stats AS SELECT * FROM customer_mgmt.customer_stats(%L, %L, %L)',
                       as_of, lo, hi);
        ANALYZE pg_temp.cm_analytics_stats;
        source := 'pg_temp.cm_analytics_stats';
    END IF;
    EXECUTE format($q$
    UPDATE customer_mgmt.customer_analytics AS a SET
        total_orders = c.total_orders, total_spent = c.total_spent,
        average_order_value = CASE WHEN c.total_orders > 0 THEN round(c.total_spent / c.total_orders, 2) ELSE 0 END,
        last_order_date = c.last_order_date, days_since_last_order = c.days, total_sessions = c.total_sessions,
        total_page_views = c.total_page_views, average_session_duration = c.average_session_duration,
        bounce_rate = c.bounce_rate, conversion_rate = c.conversion_rate,
        favorite_categories = c.favorite_categories, favorite_brands = c.favorite_brands,
        preferred_price_range = c.preferred_price_range,
        customer_lifetime_value = c.total_spent, predicted_ltv = NULL,
        churn_risk_score = c.churn, engagement_score = c.engagement,
        segment = customer_mgmt.lifecycle_segment(c.total_spent::float8, c.churn, c.total_orders, c.days,
                      $5, $6, $7, $8, $9, $10, $11)::customer_mgmt.lifecycle_segment,
        rfm_score = CASE WHEN c.total_orders > 0 AND ($4).id IS NOT NULL THEN
                        customer_mgmt.rfm_digit(-c.days::float8, ($4).recency)::text
                        || customer_mgmt.rfm_digit(c.total_orders::float8, ($4).frequency)::text
                        || customer_mgmt.rfm_digit(c.total_spent::float8, ($4).monetary)::text END,
        last_calculated_at = $1
      FROM (SELECT e.*, customer_mgmt.churn_risk(e.days, e.total_orders, e.engagement, e.bounce_rate::float8) AS churn
              FROM (SELECT d.*, customer_mgmt.engagement_score(d.days, d.total_orders, d.total_spent::float8,
                                     d.bounce_rate::float8, d.average_session_duration, d.total_sessions) AS engagement
                      FROM (SELECT st.*, customer_mgmt.days_between(st.last_order_date, $1) AS days
                              FROM %s st) d) e) c
     WHERE a.customer_id = c.customer_id$q$, source)
    USING as_of, lo, hi, bp, vip_min_spent, vip_max_churn, loyal_min_orders, loyal_max_days, at_risk_min_churn,
          active_max_days, churned_min_days;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF lo <> hi THEN
        DROP TABLE pg_temp.cm_analytics_stats;
    END IF;

    -- insights of design 6.2, thresholds from the settings: those that no
    -- longer hold go, new ones come, the others stay (generated_at: since
    -- when an insight holds)
    WITH want AS MATERIALIZED (
        SELECT a.customer_id, r.type::customer_mgmt.insight_type AS type, r.title, r.description,
               r.priority::customer_mgmt.note_priority AS priority, r.action_recommendation AS action
          FROM customer_mgmt.customer_analytics a
         CROSS JOIN LATERAL customer_mgmt.insights(a.total_spent::float8, a.churn_risk_score::float8, a.total_orders,
                                                   a.days_since_last_order, high_value_min::float8,
                                                   churn_insight_min::float8, loyal_insight_orders, loyal_insight_days) r
         WHERE a.customer_id BETWEEN lo AND hi),
    gone AS (
        DELETE FROM customer_mgmt.customer_insights i
         WHERE i.customer_id BETWEEN lo AND hi
           AND NOT EXISTS (SELECT FROM want w WHERE w.customer_id = i.customer_id AND w.type = i.type))
    INSERT INTO customer_mgmt.customer_insights (customer_id, type, title, description, priority, action_recommendation,
                                                 generated_at)
    SELECT w.customer_id, w.type, w.title, w.description, w.priority, w.action, as_of FROM want w
    ON CONFLICT (customer_id, type) DO NOTHING;

    -- churn detected: the risk crossed the high threshold (design 10.1)
    PERFORM customer_mgmt.churn_detected(a.customer_id, a.churn_risk_score)
       FROM unnest(below_threshold) AS b(customer_id)
       JOIN customer_mgmt.customer_analytics a ON a.customer_id = b.customer_id
      WHERE a.churn_risk_score >= high;
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_analytics(timestamptz, uuid, uuid, rfm_breakpoints) IS
    'Internal: computes and writes the analytics rows and insights of the customers with ids in [lo, hi] as of a time.';

-- The queue worker.
CREATE OR REPLACE FUNCTION process_analytics_queue(max_items integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    as_of timestamptz := now();
    bp customer_mgmt.rfm_breakpoints;
    item record;
    done bigint := 0;
    run_id bigint;
BEGIN
    IF max_items IS NULL OR max_items NOT BETWEEN 1 AND 100000 THEN
        PERFORM customer_mgmt.raise_invalid('max_items', 'must be from 1 to 100000', max_items::text);
    END IF;
    INSERT INTO customer_mgmt.job_runs (job_name, details)
    VALUES ('process_analytics_queue', jsonb_build_object('maxItems', max_items)) RETURNING id INTO run_id;
    -- a full recalculation is writing everyone: leave the queue to the next run
    IF NOT customer_mgmt.analytics_write_lock(false, false) THEN
        UPDATE customer_mgmt.job_runs
           SET finished_at = clock_timestamp(), status = 'succeeded', details = details || '{"deferred": true}'
         WHERE id = run_id;
        RETURN jsonb_build_object('processed', 0, 'remaining', (SELECT count(*) FROM customer_mgmt.analytics_queue),
                                  'deferred', true, 'jobRunId', run_id);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints r ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    -- concurrent workers skip each other's rows: no customer twice
    FOR item IN
        SELECT q.customer_id FROM customer_mgmt.analytics_queue q
         ORDER BY q.enqueued_at, q.customer_id
         LIMIT max_items
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM customer_mgmt.write_analytics(as_of, item.customer_id, item.customer_id, bp);
        DELETE FROM customer_mgmt.analytics_queue q WHERE q.customer_id = item.customer_id;
        done := done + 1;
    END LOOP;
    UPDATE customer_mgmt.job_runs SET finished_at = clock_timestamp(), status = 'succeeded', rows_processed = done
     WHERE id = run_id;
    RETURN jsonb_build_object('processed', done, 'remaining', (SELECT count(*) FROM customer_mgmt.analytics_queue),
                              'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION process_analytics_queue(integer) IS
    'Admin (and pg_cron): recalculates up to max_items queued customers, oldest first, with FOR UPDATE SKIP LOCKED so that workers never share a customer; logged in job_runs. Returns {processed, remaining, jobRunId}.';

CREATE OR REPLACE FUNCTION calculate_customer_analytics(customer_id uuid, as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    bp customer_mgmt.rfm_breakpoints;
    a customer_mgmt.customer_analytics;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    PERFORM customer_mgmt.analytics_write_lock(false, true);
    -- the breakpoints of the last full recalculation at or before as_of
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints r WHERE r.as_of <= calculate_customer_analytics.as_of
     ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    IF NOT FOUND THEN
        bp := customer_mgmt.compute_rfm_breakpoints(as_of);
    END IF;
    PERFORM customer_mgmt.write_analytics(as_of, u.id, u.id, bp);
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, as_of);
END
$$;
COMMENT ON FUNCTION calculate_customer_analytics(uuid, timestamptz) IS
    'Admin: calculates and stores one customer''s analytics and insights as of a time (RFM with the breakpoints of the last full recalculation); returns CustomerAnalyticsDto.';

-- Concurrent writers of the analytics (docs/architecture.md).  Advisory lock
-- (17229, 1): a slice of a full recalculation takes it exclusively; writers
-- of one customer (the queue worker, calculate_customer_analytics) share it
-- and lock that customer's analytics row.  Every writer so reads its
-- statistics after the previous writer of the row committed, and a slow
-- writer never overwrites a fresher row with older numbers.  (17229, 2) is
-- held by the full recalculation in progress.
CREATE OR REPLACE FUNCTION analytics_write_lock(exclusive boolean, wait boolean) RETURNS boolean
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF exclusive THEN
        PERFORM pg_advisory_xact_lock(17229, 1);
    ELSIF wait THEN
        PERFORM pg_advisory_xact_lock_shared(17229, 1);
    ELSE
        RETURN pg_try_advisory_xact_lock_shared(17229, 1);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION analytics_write_lock(boolean, boolean) IS
    'Internal: takes the analytics writers'' advisory lock (17229, 1) for the transaction, exclusive for a full-recalculation slice (waiting), shared for one customer; shared without wait returns false instead of waiting.';

-- Close a job run: finished, succeeded or failed with the error, rows.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.finish_job_run(run_id bigint, rows_processed bigint DEFAULT NULL, error text DEFAULT NULL)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE customer_mgmt.job_runs r
       SET finished_at = clock_timestamp(),
           status = CASE WHEN error IS NULL THEN 'succeeded' ELSE 'failed' END::customer_mgmt.job_status,
           rows_processed = coalesce(finish_job_run.rows_processed, r.rows_processed),
           error = finish_job_run.error
     WHERE r.id = run_id
$$;
COMMENT ON FUNCTION customer_mgmt_internal.finish_job_run(bigint, bigint, text) IS
    'Internal: marks a job run finished, succeeded (error NULL) or failed, with its row count when given.';

-- Start a full recalculation: check the arguments, make sure no other one
-- runs, store the RFM breakpoints, log the run.  The lock is the
-- transaction's (the function) or the session's (the procedure, which
-- commits between slices and releases it at the end).
CREATE OR REPLACE FUNCTION customer_mgmt_internal.begin_full_recalculation(as_of timestamptz, batches integer, job_name text, session_lock boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bp customer_mgmt.rfm_breakpoints;
    run_id bigint;
    other customer_mgmt.job_runs;
    locked boolean;
    stale regclass;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    IF batches IS NULL OR batches NOT BETWEEN 1 AND 4096 THEN
        PERFORM customer_mgmt.raise_invalid('batches', 'must be from 1 to 4096', batches::text);
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
        bp := customer_mgmt.compute_rfm_breakpoints(as_of);
        INSERT INTO customer_mgmt.job_runs (job_name, details)
        VALUES (job_name, jsonb_build_object('asOf', as_of, 'batches', batches, 'slicesDone', 0, 'rfmBreakpointsId', bp.id))
        RETURNING id INTO run_id;
    EXCEPTION WHEN OTHERS THEN
        -- the procedure's lock is the session's: do not keep it past a failure
        IF session_lock THEN
            PERFORM pg_advisory_unlock(17229, 2);
        END IF;
        RAISE;
    END;
    RETURN run_id;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.begin_full_recalculation(timestamptz, integer, text, boolean) IS
    'Internal: starts a full recalculation (arguments checked, one at a time, RFM breakpoints stored, run logged); returns the job run id.';

-- One slice of a full recalculation: write_analytics over slice i of n of
-- the id space, progress in the job run.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.recalculate_slice(run_id bigint, slice integer) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
AS $$
DECLARE
    r customer_mgmt.job_runs;
    bp customer_mgmt.rfm_breakpoints;
    as_of timestamptz;
    batches integer;
    written bigint;
BEGIN
    SELECT * INTO r FROM customer_mgmt.job_runs x
     WHERE x.id = run_id AND x.job_name LIKE 'recalculate_all_analytics%' AND x.status = 'running';
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_invalid('run_id', 'is not a running full recalculation', run_id::text);
    END IF;
    as_of := (r.details ->> 'asOf')::timestamptz;
    batches := (r.details ->> 'batches')::integer;
    IF slice IS NULL OR slice NOT BETWEEN 0 AND batches - 1 THEN
        PERFORM customer_mgmt.raise_invalid('slice', format('must be from 0 to %s', batches - 1), slice::text);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints b WHERE b.id = (r.details ->> 'rfmBreakpointsId')::bigint;
    PERFORM customer_mgmt.analytics_write_lock(true, true);
    written := customer_mgmt.write_analytics(as_of, customer_mgmt.uuid_slice_bound(slice, batches),
                                             customer_mgmt.uuid_slice_bound(slice + 1, batches, true), bp);
    UPDATE customer_mgmt.job_runs x
       SET rows_processed = x.rows_processed + written,
           details = x.details || jsonb_build_object('slicesDone', slice + 1)
     WHERE x.id = run_id;
    RETURN written;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.recalculate_slice(bigint, integer) IS
    'Internal: recalculates slice i of the id space for a running full recalculation and records the progress in its job run; returns the customers written.';

CREATE OR REPLACE FUNCTION recalculate_all_analytics(as_of timestamptz DEFAULT now(), batches integer DEFAULT 1) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run_id bigint := customer_mgmt_internal.begin_full_recalculation(as_of, batches, 'recalculate_all_analytics', false);
    written bigint := 0;
    started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 0 .. batches - 1 LOOP
        written := written + customer_mgmt_internal.recalculate_slice(run_id, i);
    END LOOP;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, written);
    RETURN jsonb_build_object('customers', written, 'asOf', as_of, 'batches', batches,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3),
                              'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION recalculate_all_analytics(timestamptz, integer) IS
    'Admin: recalculates every customer''s analytics and insights as of a time in one transaction, set-based over slices of the id space; logged in job_runs. Returns {customers, asOf, batches, seconds, jobRunId}.';

-- The same in batches with a commit after each: progress is visible in
-- job_runs from other sessions, and the queue worker runs between slices.
-- Not SECURITY DEFINER (a procedure that commits cannot be); everything
-- it calls is schema-qualified and SECURITY DEFINER itself.
CREATE OR REPLACE PROCEDURE recalculate_all_analytics_batched(as_of timestamptz DEFAULT now(), batches integer DEFAULT 8)
    LANGUAGE plpgsql
AS $$
DECLARE
    run_id bigint;
    written bigint := 0;
    failure text;
    failure_state text;
BEGIN
    run_id := customer_mgmt_internal.begin_full_recalculation(as_of, batches, 'recalculate_all_analytics_batched', true);
    COMMIT;
    FOR i IN 0 .. batches - 1 LOOP
        BEGIN
            written := written + customer_mgmt_internal.recalculate_slice(run_id, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE;
        END;
        IF failure IS NOT NULL THEN
            PERFORM customer_mgmt_internal.finish_job_run(run_id, written, failure);
            PERFORM pg_catalog.pg_advisory_unlock(17229, 2);
            COMMIT;
            RAISE EXCEPTION '%', failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.format('Slice %s of %s of job run %s; the slices before it are committed.',
                                                 i, batches, run_id);
        END IF;
        COMMIT;
    END LOOP;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, written);
    PERFORM pg_catalog.pg_advisory_unlock(17229, 2);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer) IS
    'Admin (and pg_cron, daily): recalculates everyone like recalculate_all_analytics, committing after each of batches slices so that progress shows in job_runs and locks stay short; a failure is logged before it is raised. CALL it outside a transaction block.';

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
