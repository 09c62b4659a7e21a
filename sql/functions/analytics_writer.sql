-- customer_mgmt: The writer of analytics rows and insights (one customer, or a
-- slice of a recalculation of everyone), one customer's calculation, and the
-- queue worker.

-- The analytics of customers as of a time, with the given RFM breakpoints,
-- are written in two ways (write_customer_analytics: one customer, from its
-- statistics; write_slice_analytics: a slice of a recalculation of
-- everyone) that share the scoring query (analytics_changes_query) and the
-- statement that writes what changed (apply_analytics_changes).  Only the
-- rows whose values or insights change are written (the days since the last
-- order are as of last_calculated_at, the time of the last calculation that
-- changed the row: docs/architecture.md).

-- The new values of the customers of a source whose values or insights
-- change: source is a query giving customer_id, the columns of
-- customer_stats and old_<column> of the analytics row before.  Parameters
-- of the query: $1 as_of, $2 lo, $3 hi, $4 the breakpoints, $5 the
-- thresholds (analytics_thresholds()), $6 the customers whose statistics
-- changed, $7 full_run, $8 whether the statistics may differ from the
-- row's (false: they are the row's).  Parameters of EXECUTE are constants to
-- the planner.  The scores come from one call per customer, a LATERAL
-- function scan: computed once, and in parallel.
CREATE OR REPLACE FUNCTION analytics_changes_query(source text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format($q$
    SELECT f.* FROM (
        SELECT x.customer_id, x.total_orders, x.total_spent,
               (CASE WHEN x.total_orders > 0 THEN round(x.total_spent / x.total_orders, 2) ELSE 0 END)::numeric(15,2)
                   AS average_order_value,
               x.last_order_date, sc.days, x.total_sessions, x.total_page_views, x.average_session_duration,
               x.bounce_rate, x.conversion_rate, x.favorite_categories, x.favorite_brands, x.preferred_price_range,
               sc.churn::numeric(3,2) AS churn_risk_score, sc.engagement::numeric(3,2) AS engagement_score,
               sc.segment::customer_mgmt.lifecycle_segment AS segment,
               (CASE WHEN x.total_orders > 0 AND ($4).id IS NOT NULL THEN
                    customer_mgmt.rfm_digit(-sc.days::float8, ($4).recency)::text
                    || customer_mgmt.rfm_digit(x.total_orders::float8, ($4).frequency)::text
                    || customer_mgmt.rfm_digit(x.total_spent::float8, ($4).monetary)::text END)::char(3) AS rfm_score,
               sc.new_flags, sc.old_flags,
               x.old_total_orders, x.old_total_spent, x.old_average_order_value, x.old_last_order_date,
               x.old_total_sessions, x.old_total_page_views, x.old_average_session_duration, x.old_bounce_rate,
               x.old_conversion_rate, x.old_favorite_categories, x.old_favorite_brands, x.old_preferred_price_range,
               x.old_customer_lifetime_value, x.old_churn_risk_score, x.old_engagement_score,
               x.old_segment, x.old_rfm_score, x.old_last_calculated_at
          FROM (%s) x
         CROSS JOIN LATERAL customer_mgmt.analytics_scores(
                   x.last_order_date, $1, x.total_orders, x.total_spent::float8, x.bounce_rate::float8,
                   x.average_session_duration, x.total_sessions, x.old_total_spent::float8,
                   x.old_churn_risk_score::float8, x.old_total_orders, x.old_days_since_last_order, $5) sc) f
     WHERE f.old_last_calculated_at IS NULL OR f.new_flags <> f.old_flags
        OR (f.old_churn_risk_score, f.old_engagement_score, f.old_segment, f.old_rfm_score)
           IS DISTINCT FROM (f.churn_risk_score, f.engagement_score, f.segment, f.rfm_score)
        OR $8 AND (f.old_total_orders, f.old_total_spent, f.old_average_order_value, f.old_last_order_date,
                   f.old_total_sessions, f.old_total_page_views, f.old_average_session_duration, f.old_bounce_rate,
                   f.old_conversion_rate, f.old_favorite_categories, f.old_favorite_brands,
                   f.old_preferred_price_range, f.old_customer_lifetime_value)
                  IS DISTINCT FROM
                  (f.total_orders, f.total_spent, f.average_order_value, f.last_order_date, f.total_sessions,
                   f.total_page_views, f.average_session_duration, f.bounce_rate, f.conversion_rate,
                   f.favorite_categories, f.favorite_brands, f.preferred_price_range, f.total_spent)$q$, source)
$fn$;
COMMENT ON FUNCTION analytics_changes_query(text) IS
    'Internal: the query of the new analytics values of the customers of a source whose values or insights change (write_customer_analytics, write_slice_analytics).';

-- The source columns of analytics_changes_query: the statistics' columns
-- from table alias src, and the analytics row's (alias a) as old_<column>.
CREATE OR REPLACE FUNCTION analytics_source_columns(src text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_to_string(ARRAY(
               SELECT src || '.' || c
                 FROM unnest(ARRAY['total_orders', 'total_spent', 'last_order_date', 'total_sessions',
                                   'total_page_views', 'average_session_duration', 'bounce_rate', 'conversion_rate',
                                   'favorite_categories', 'favorite_brands', 'preferred_price_range']) c), ', ')
           || ', '
           || array_to_string(ARRAY(
               SELECT format('a.%1$s AS old_%1$s', c)
                 FROM unnest(ARRAY['total_orders', 'total_spent', 'average_order_value', 'last_order_date',
                                   'total_sessions', 'total_page_views', 'average_session_duration', 'bounce_rate',
                                   'conversion_rate', 'favorite_categories', 'favorite_brands',
                                   'preferred_price_range', 'customer_lifetime_value', 'churn_risk_score',
                                   'engagement_score', 'segment', 'rfm_score', 'days_since_last_order',
                                   'last_calculated_at']) c), ', ')
$$;
COMMENT ON FUNCTION analytics_source_columns(text) IS
    'Internal: the columns a source of analytics_changes_query selects: the statistics of alias src and the analytics row''s (a) as old_<column>.';

-- Write the changes of changed_rows (a relation or a parenthesised query of
-- analytics_changes_query's columns), in one statement: the UPDATE, the
-- insights of the customers whose set changed, the churn-detected events of
-- those whose risk crossed the high threshold.  Returns the rows written.
CREATE OR REPLACE FUNCTION apply_analytics_changes(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints,
                                                   thresholds double precision[], changed_rows text)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format($q$
    WITH upd AS (
        UPDATE customer_mgmt.customer_analytics AS a SET
            total_orders = c.total_orders, total_spent = c.total_spent, average_order_value = c.average_order_value,
            last_order_date = c.last_order_date, days_since_last_order = c.days, total_sessions = c.total_sessions,
            total_page_views = c.total_page_views, average_session_duration = c.average_session_duration,
            bounce_rate = c.bounce_rate, conversion_rate = c.conversion_rate,
            favorite_categories = c.favorite_categories, favorite_brands = c.favorite_brands,
            preferred_price_range = c.preferred_price_range,
            customer_lifetime_value = c.total_spent,
            churn_risk_score = c.churn_risk_score, engagement_score = c.engagement_score,
            segment = c.segment, rfm_score = c.rfm_score, last_calculated_at = $1,
            -- after the start of a run, even in a writer that waited for it
            updated_at = clock_timestamp()
          FROM %s c
         WHERE a.customer_id = c.customer_id
        RETURNING a.customer_id, a.total_spent, a.churn_risk_score, a.total_orders, a.days_since_last_order,
                  c.old_churn_risk_score AS old_churn, c.old_last_calculated_at AS old_lc, c.old_flags, c.new_flags),
    -- insights (docs/analytics.md): those that no longer hold go, new ones come,
    -- the others stay (generated_at: since when an insight holds)
    changed AS MATERIALIZED (
        SELECT u.* FROM upd u WHERE u.new_flags <> u.old_flags OR u.old_lc IS NULL),
    want AS MATERIALIZED (
        SELECT u.customer_id, r.type::customer_mgmt.insight_type AS type, r.title, r.description,
               r.priority::customer_mgmt.note_priority AS priority, r.action_recommendation AS action
          FROM changed u
         CROSS JOIN LATERAL customer_mgmt.insights(u.total_spent::float8, u.churn_risk_score::float8, u.total_orders,
                                                   u.days_since_last_order, $5[8], $5[9], $5[10]::integer,
                                                   $5[11]::integer) r),
    gone AS (
        DELETE FROM customer_mgmt.customer_insights i
         USING changed u
         WHERE i.customer_id = u.customer_id
           AND NOT EXISTS (SELECT FROM want w WHERE w.customer_id = i.customer_id AND w.type = i.type)),
    added AS (
        INSERT INTO customer_mgmt.customer_insights (customer_id, type, title, description, priority,
                                                     action_recommendation, generated_at)
        SELECT w.customer_id, w.type, w.title, w.description, w.priority, w.action, $1 FROM want w
        ON CONFLICT (customer_id, type) DO NOTHING),
    -- churn detected: the risk crossed the high threshold; a
    -- first calculation only sets the baseline
    churned AS (
        SELECT customer_mgmt.churn_detected(u.customer_id, u.churn_risk_score)
          FROM upd u
         WHERE u.old_lc IS NOT NULL AND u.old_churn < $9 AND u.churn_risk_score >= $9)
    SELECT (SELECT count(*) FROM upd) + 0 * (SELECT count(*) FROM churned)$q$, changed_rows)
    INTO written
    USING as_of, lo, hi, bp, thresholds, NULL::uuid[], true, true, customer_mgmt.setting('churn.threshold_high')::numeric;
    RETURN written;
END
$$;
COMMENT ON FUNCTION apply_analytics_changes(timestamptz, uuid, uuid, rfm_breakpoints, double precision[], text) IS
    'Internal: writes the analytics changes of a source in one statement (rows, insights whose set changed, churn-detected events); returns the rows written.';

-- One customer (calculate_customer_analytics, the queue worker), from its
-- statistics: after any other writer of the row (docs/architecture.md,
-- "Concurrent writers of the analytics"); then every insight of the customer
-- brought in line with the rules as they are now, and the purchase summary
-- the CLV predictions are computed from (everyone's: fit_clv_model).
-- Returns the rows written (0 or 1).
CREATE OR REPLACE FUNCTION write_customer_analytics(as_of timestamptz, customer_id uuid, bp rfm_breakpoints)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    cid constant uuid := write_customer_analytics.customer_id;
BEGIN
    -- wait for any other writer of the row first, so that the statistics
    -- below are read after it committed
    INSERT INTO customer_mgmt.customer_analytics (customer_id)
    SELECT u.id FROM customer_mgmt.users u WHERE u.id = cid AND u.role = 'customer'
    ON CONFLICT ON CONSTRAINT customer_analytics_customer_id_key DO NOTHING;
    PERFORM FROM customer_mgmt.customer_analytics x WHERE x.customer_id = cid FOR UPDATE;
    written := customer_mgmt.apply_analytics_changes(as_of, cid, cid, bp, customer_mgmt.analytics_thresholds(),
        '(' || customer_mgmt.analytics_changes_query(format(
            'SELECT st.customer_id, %s FROM customer_mgmt.customer_stats($1, $2, $3) st
               JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id',
            customer_mgmt.analytics_source_columns('st'))) || ')');
    PERFORM customer_mgmt.reconcile_insights(as_of, cid, cid);
    PERFORM customer_mgmt.clv_store_summaries(as_of, ARRAY[cid]);
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_customer_analytics(timestamptz, uuid, rfm_breakpoints) IS
    'Internal: computes and writes one customer''s analytics row, insights, churn-detected event and CLV purchase summary as of a time, from its statistics; only what changes is written.';

-- A slice [lo, hi] of a recalculation of everyone: the customers whose
-- statistics did not change are scored from their rows, in parallel into a
-- temporary table (an UPDATE is never parallel), and those in
-- pg_temp.cm_recalc_stats from it (full: every customer is there); then the
-- one statement of apply_analytics_changes; in a full run, every insight is
-- reconciled after.  Returns the rows written.
CREATE OR REPLACE FUNCTION write_slice_analytics(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints,
                                                 full_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    unchanged uuid[];
    thresholds constant float8[] := customer_mgmt.analytics_thresholds();
BEGIN
    IF to_regclass('pg_temp.cm_recalc_rows') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_recalc_rows;
    END IF;
    SELECT coalesce(array_agg(st.customer_id), '{}') INTO unchanged
      FROM pg_temp.cm_recalc_stats st WHERE st.customer_id BETWEEN lo AND hi;
    -- whose statistics did not change: from their rows (those without an
    -- order: nothing of theirs moves with time); none in a full run
    EXECUTE 'CREATE TEMP TABLE cm_recalc_rows AS ' || customer_mgmt.analytics_changes_query(format(
        'SELECT a.customer_id, %s FROM customer_mgmt.customer_analytics a
          WHERE a.customer_id BETWEEN $2 AND $3 AND a.total_orders > 0 AND NOT $7
            AND NOT (a.customer_id = ANY ($6))', customer_mgmt.analytics_source_columns('a')))
    USING as_of, lo, hi, bp, thresholds, unchanged, full_run, false;
    -- whose statistics changed (all, in a full run): from the new ones
    EXECUTE 'INSERT INTO pg_temp.cm_recalc_rows ' || customer_mgmt.analytics_changes_query(format(
        'SELECT st.customer_id, %s FROM pg_temp.cm_recalc_stats st
           JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id
          WHERE st.customer_id BETWEEN $2 AND $3', customer_mgmt.analytics_source_columns('st')))
    USING as_of, lo, hi, bp, thresholds, NULL::uuid[], full_run, true;
    ANALYZE pg_temp.cm_recalc_rows;
    written := customer_mgmt.apply_analytics_changes(as_of, lo, hi, bp, thresholds, 'pg_temp.cm_recalc_rows');
    DROP TABLE pg_temp.cm_recalc_rows;
    -- in a full run, every insight is brought in line with the rules as they
    -- are now (after a change of the thresholds)
    IF full_run THEN
        PERFORM customer_mgmt.reconcile_insights(as_of, lo, hi);
    END IF;
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_slice_analytics(timestamptz, uuid, uuid, rfm_breakpoints, boolean) IS
    'Internal: computes and writes the analytics rows, insights and churn-detected events of a slice of a recalculation of everyone, as of a time; only rows whose values or insights change are written.';

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
    -- a recalculation of everyone is writing: leave the queue to the next run
    IF NOT customer_mgmt.analytics_write_lock(false) THEN
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
        PERFORM customer_mgmt.write_customer_analytics(as_of, item.customer_id, bp);
        PERFORM customer_mgmt.apply_customer_segments(item.customer_id, as_of);
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
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    bp customer_mgmt.rfm_breakpoints;
    a customer_mgmt.customer_analytics;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    PERFORM customer_mgmt.analytics_write_lock(true);
    -- the breakpoints of the last recalculation of everyone at or before as_of
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints r WHERE r.as_of <= calculate_customer_analytics.as_of
     ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    IF NOT FOUND THEN
        bp := customer_mgmt.compute_rfm_breakpoints(as_of);
    END IF;
    PERFORM customer_mgmt.write_customer_analytics(as_of, u.id, bp);
    PERFORM customer_mgmt.apply_customer_segments(u.id, as_of);
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, as_of);
END
$$;
COMMENT ON FUNCTION calculate_customer_analytics(uuid, timestamptz) IS
    'Admin: calculates and stores one customer''s analytics and insights as of a time (RFM with the breakpoints of the last recalculation of everyone); returns CustomerAnalyticsDto.';
