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
    SELECT * FROM customer_mgmt.customer_list_rows()
    ON CONFLICT (customer_id) DO NOTHING;
    RETURN created;
END
$$;
COMMENT ON FUNCTION ensure_analytics_rows() IS
    'Creates the default analytics row and the list row of every customer who has none (after a load that bypassed the triggers); returns the number of analytics rows created.';

-- Statistics of a range of customers, as of a time, optionally only those
-- of a list.  One set-based query serves a single customer (lo = hi: index
-- scans), the customers whose data changed (ids: index scans) and everyone
-- (hash aggregates), so all give the same numbers.  Called with constants,
-- the function is inlined and a NULL ids folds away.
CREATE OR REPLACE FUNCTION customer_stats(as_of timestamptz, lo uuid, hi uuid, ids uuid[] DEFAULT NULL)
    RETURNS TABLE (customer_id uuid, total_orders integer, total_spent numeric, last_order_date timestamptz,
                   total_sessions integer, total_page_views integer, average_session_duration integer,
                   bounce_rate numeric, conversion_rate numeric, favorite_categories jsonb,
                   favorite_brands jsonb, preferred_price_range jsonb)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH o AS (
        SELECT o.customer_id, count(*)::integer AS n, sum(o.total_amount) AS spent, max(o.order_date) AS last
          FROM customer_mgmt.orders o
         WHERE o.customer_id BETWEEN lo AND hi AND (ids IS NULL OR o.customer_id = ANY (ids))
           AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id),
    s AS (
        -- every visit counts as a session; duration, bounce and conversion are
        -- of the browsing sessions (a login views no page: docs/analytics.md)
        SELECT w.customer_id, count(*)::integer AS n, sum(w.page_views)::integer AS pv,
               round(avg(w.duration_seconds) FILTER (WHERE w.page_views > 0))::integer AS duration,
               round(avg((w.page_views = 1)::integer) FILTER (WHERE w.page_views > 0), 4) AS bounce,
               round(avg(w.converted::integer) FILTER (WHERE w.page_views > 0), 4) AS conversion
          FROM customer_mgmt.web_sessions w
         WHERE w.customer_id BETWEEN lo AND hi AND (ids IS NULL OR w.customer_id = ANY (ids)) AND w.started_at <= as_of
         GROUP BY w.customer_id),
    -- favourites and price range in one pass over the lines (src/preferences.c)
    pref AS (
        SELECT o.customer_id,
               customer_mgmt.purchase_preferences(o.id, i.category, i.brand, (i.unit_price * 100)::bigint, i.quantity) AS j
          FROM customer_mgmt.orders o
          JOIN customer_mgmt.order_items i ON i.order_id = o.id
         WHERE o.customer_id BETWEEN lo AND hi AND (ids IS NULL OR o.customer_id = ANY (ids))
           AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id)
    SELECT u.id, coalesce(o.n, 0), coalesce(o.spent, 0), o.last,
           coalesce(s.n, 0), coalesce(s.pv, 0), coalesce(s.duration, 0), coalesce(s.bounce, 0), coalesce(s.conversion, 0),
           coalesce(pref.j -> 'favoriteCategories', '[]'), coalesce(pref.j -> 'favoriteBrands', '[]'),
           pref.j -> 'preferredPriceRange'
      FROM customer_mgmt.users u
      LEFT JOIN o ON o.customer_id = u.id
      LEFT JOIN s ON s.customer_id = u.id
      LEFT JOIN pref ON pref.customer_id = u.id
     WHERE u.role = 'customer' AND u.id BETWEEN lo AND hi AND (ids IS NULL OR u.id = ANY (ids))
$$;
COMMENT ON FUNCTION customer_stats(timestamptz, uuid, uuid, uuid[]) IS
    'Order, session and preference statistics of the customers with ids in [lo, hi] (and in ids, when given) as of a time (completed orders only; preferences by purchase_preferences).';

-- The RFM breakpoints as of a time: quintiles of the recency, frequency and
-- spend of every customer who has a completed order, from a query giving
-- (last_order_date, total_orders, total_spent) per customer; stored, and
-- returned (NULL when no customer has ordered).
CREATE OR REPLACE FUNCTION store_rfm_breakpoints(as_of timestamptz, customers text) RETURNS rfm_breakpoints
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bp customer_mgmt.rfm_breakpoints;
BEGIN
    EXECUTE format($q$
    INSERT INTO customer_mgmt.rfm_breakpoints (as_of, recency, frequency, monetary, customers)
    SELECT $1,
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY -x.days),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.n),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.spent),
           count(*)
      FROM (SELECT customer_mgmt.days_between(c.last_order_date, $1)::float8 AS days, c.total_orders::float8 AS n,
                   c.total_spent::float8 AS spent
              FROM (%s) c (last_order_date, total_orders, total_spent)
             WHERE c.total_orders > 0) x
    HAVING count(*) > 0
    RETURNING *$q$, customers) INTO bp USING as_of;
    RETURN bp;
END
$$;
COMMENT ON FUNCTION store_rfm_breakpoints(timestamptz, text) IS
    'Internal: computes, stores and returns the RFM quintile breakpoints as of a time from per-customer (last_order_date, total_orders, total_spent) given as a query (NULL when no customer has a completed order).';

-- The breakpoints from the orders themselves (a customer calculated before
-- any full recalculation stored some).
CREATE OR REPLACE FUNCTION compute_rfm_breakpoints(as_of timestamptz) RETURNS rfm_breakpoints
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.store_rfm_breakpoints(as_of, format(
        'SELECT max(o.order_date), count(*), sum(o.total_amount) FROM customer_mgmt.orders o
          WHERE o.status = %L AND o.order_date <= %L GROUP BY o.customer_id', 'completed', as_of))
$$;
COMMENT ON FUNCTION compute_rfm_breakpoints(timestamptz) IS
    'Internal: computes, stores and returns the RFM quintile breakpoints as of a time from the completed orders (NULL when there are none).';

-- The thresholds of the scores, read once per statement: segment (vip
-- minimum spend, vip maximum churn risk, loyal minimum orders, loyal maximum
-- days, at-risk minimum churn risk, active maximum days, churned minimum
-- days), then insight (high-value minimum spend, churn-risk minimum, loyal
-- minimum orders, loyal maximum days).
CREATE OR REPLACE FUNCTION analytics_thresholds() RETURNS double precision[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[customer_mgmt.setting('segment.vip_min_spent'), customer_mgmt.setting('segment.vip_max_churn_risk'),
                 customer_mgmt.setting('segment.loyal_min_orders'), customer_mgmt.setting('segment.loyal_max_days_since_order'),
                 customer_mgmt.setting('segment.at_risk_min_churn_risk'),
                 customer_mgmt.setting('segment.active_max_days_since_order'),
                 customer_mgmt.setting('segment.churned_min_days_since_order'),
                 customer_mgmt.setting('insight.high_value_min_spent'), customer_mgmt.setting('insight.churn_risk_min'),
                 customer_mgmt.setting('insight.loyal_min_orders'),
                 customer_mgmt.setting('insight.loyal_max_days_since_order')]::double precision[]
$$;
COMMENT ON FUNCTION analytics_thresholds() IS
    'Internal: the segment and insight thresholds of the settings, in the order write_analytics reads them.';

-- Bring the insights of the customers with ids in [lo, hi] in line with
-- their analytics rows and the rules as they are now: those that no longer
-- hold go, new ones come (generated_at as_of), the others stay.  The
-- recalculation touches only the insights of customers whose set changed;
-- a run from scratch also runs this, so that a change of the thresholds
-- reaches everyone.
CREATE OR REPLACE FUNCTION reconcile_insights(as_of timestamptz, lo uuid, hi uuid) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH t AS MATERIALIZED (
        SELECT th[8] AS high_value, th[9] AS churn, th[10]::integer AS loyal_orders, th[11]::integer AS loyal_days
          FROM customer_mgmt.analytics_thresholds() th),
    want AS MATERIALIZED (
        SELECT a.customer_id, r.type::customer_mgmt.insight_type AS type, r.title, r.description,
               r.priority::customer_mgmt.note_priority AS priority, r.action_recommendation AS action
          FROM customer_mgmt.customer_analytics a CROSS JOIN t
         CROSS JOIN LATERAL customer_mgmt.insights(a.total_spent::float8, a.churn_risk_score::float8, a.total_orders,
                                                   a.days_since_last_order, t.high_value, t.churn, t.loyal_orders,
                                                   t.loyal_days) r
         WHERE a.customer_id BETWEEN lo AND hi),
    gone AS (
        DELETE FROM customer_mgmt.customer_insights i
         WHERE i.customer_id BETWEEN lo AND hi
           AND NOT EXISTS (SELECT FROM want w WHERE w.customer_id = i.customer_id AND w.type = i.type))
    INSERT INTO customer_mgmt.customer_insights (customer_id, type, title, description, priority, action_recommendation,
                                                 generated_at)
    SELECT w.customer_id, w.type, w.title, w.description, w.priority, w.action, as_of FROM want w
    ON CONFLICT (customer_id, type) DO NOTHING
$$;
COMMENT ON FUNCTION reconcile_insights(timestamptz, uuid, uuid) IS
    'Internal: brings the insights of the customers with ids in [lo, hi] in line with their analytics rows and the current thresholds.';

-- Write the analytics rows and insights of customers as of a time, with the
-- given RFM breakpoints: one customer (lo = hi: calculate_customer_analytics,
-- the queue worker) from its statistics, or a slice of a recalculation of
-- everyone.  Only the rows whose values or insights change are written (the
-- days since the last order are as of last_calculated_at, the time of the
-- last calculation that changed the row: docs/architecture.md).  A slice
-- scores the customers whose statistics did not change from their rows, in
-- parallel into a temporary table (an UPDATE is never parallel), and those
-- in pg_temp.cm_recalc_stats from it; full: every customer is there.  Then
-- one statement: the UPDATE, the insights of the customers whose set
-- changed, the churn-detected events of those whose risk crossed the high
-- threshold; in a full run, every insight is reconciled after.
-- Returns the rows written.
CREATE OR REPLACE FUNCTION write_analytics(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints, full_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    changed_rows text;
    unchanged uuid[];
    thresholds constant float8[] := customer_mgmt.analytics_thresholds();
    -- The new values of the customers of a source (%s: the columns of
    -- customer_stats, and old_<column> of the analytics row before) whose values or
    -- insights change.  $1 as_of, $2 lo, $3 hi, $4 the breakpoints, $5 the
    -- thresholds (analytics_thresholds()), $6 the customers whose statistics
    -- changed, $7 full_run, $8 whether the statistics may differ from the
    -- row's (false: they are the row's).  Parameters of EXECUTE are constants
    -- to the planner.  The scores come from one call per customer, a LATERAL
    -- function scan: computed once, and in parallel.
    scores constant text := $q$
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
                   f.favorite_categories, f.favorite_brands, f.preferred_price_range, f.total_spent)$q$;
    stats_columns constant text[] := ARRAY['total_orders', 'total_spent', 'last_order_date', 'total_sessions',
        'total_page_views', 'average_session_duration', 'bounce_rate', 'conversion_rate', 'favorite_categories',
        'favorite_brands', 'preferred_price_range'];
    old_columns constant text := array_to_string(ARRAY(
        SELECT format('a.%1$s AS old_%1$s', c)
          FROM unnest(ARRAY['total_orders', 'total_spent', 'average_order_value', 'last_order_date', 'total_sessions',
                            'total_page_views', 'average_session_duration', 'bounce_rate', 'conversion_rate',
                            'favorite_categories', 'favorite_brands', 'preferred_price_range', 'customer_lifetime_value',
                            'churn_risk_score', 'engagement_score', 'segment', 'rfm_score',
                            'days_since_last_order', 'last_calculated_at']) c), ', ');
BEGIN
    IF lo = hi THEN
        -- one customer: wait for any other writer of the row first, so that
        -- the statistics below are read after it committed
        -- (docs/architecture.md, "Concurrent writers of the analytics")
        INSERT INTO customer_mgmt.customer_analytics (customer_id)
        SELECT u.id FROM customer_mgmt.users u WHERE u.id = lo AND u.role = 'customer'
        ON CONFLICT (customer_id) DO NOTHING;
        PERFORM FROM customer_mgmt.customer_analytics x WHERE x.customer_id = lo FOR UPDATE;
        changed_rows := format('(' || scores || ')', format(
            'SELECT st.customer_id, %s, %s FROM customer_mgmt.customer_stats($1, $2, $3) st
               JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id', array_to_string(ARRAY(SELECT 'st.' || c FROM unnest(stats_columns) c), ', '), old_columns));
    ELSE
        IF to_regclass('pg_temp.cm_recalc_rows') IS NOT NULL THEN
            DROP TABLE pg_temp.cm_recalc_rows;
        END IF;
        SELECT coalesce(array_agg(st.customer_id), '{}') INTO unchanged
          FROM pg_temp.cm_recalc_stats st WHERE st.customer_id BETWEEN lo AND hi;
        -- whose statistics did not change: from their rows (those without an
        -- order: nothing of theirs moves with time); none in a full run
        EXECUTE 'CREATE TEMP TABLE cm_recalc_rows AS ' || format(scores, format(
            'SELECT a.customer_id, %s, %s FROM customer_mgmt.customer_analytics a
              WHERE a.customer_id BETWEEN $2 AND $3 AND a.total_orders > 0 AND NOT $7
                AND NOT (a.customer_id = ANY ($6))', array_to_string(ARRAY(SELECT 'a.' || c FROM unnest(stats_columns) c), ', '), old_columns))
        USING as_of, lo, hi, bp, thresholds, unchanged, full_run, false;
        -- whose statistics changed (all, in a full run): from the new ones
        EXECUTE 'INSERT INTO pg_temp.cm_recalc_rows ' || format(scores, format(
            'SELECT st.customer_id, %s, %s FROM pg_temp.cm_recalc_stats st
               JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id
              WHERE st.customer_id BETWEEN $2 AND $3', array_to_string(ARRAY(SELECT 'st.' || c FROM unnest(stats_columns) c), ', '), old_columns))
        USING as_of, lo, hi, bp, thresholds, NULL::uuid[], full_run, true;
        ANALYZE pg_temp.cm_recalc_rows;
        changed_rows := 'pg_temp.cm_recalc_rows';
    END IF;
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
    -- insights of design 6.2: those that no longer hold go, new ones come,
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
    -- churn detected: the risk crossed the high threshold (design 10.1); a
    -- first calculation only sets the baseline
    churned AS (
        SELECT customer_mgmt.churn_detected(u.customer_id, u.churn_risk_score)
          FROM upd u
         WHERE u.old_lc IS NOT NULL AND u.old_churn < $9 AND u.churn_risk_score >= $9)
    SELECT (SELECT count(*) FROM upd) + 0 * (SELECT count(*) FROM churned)$q$, changed_rows)
    INTO written
    USING as_of, lo, hi, bp, thresholds, NULL::uuid[], full_run, true, customer_mgmt.setting('churn.threshold_high')::numeric;
    IF lo <> hi THEN
        DROP TABLE pg_temp.cm_recalc_rows;
    END IF;
    -- in a full run (and for one customer), every insight is brought in line
    -- with the rules as they are now (after a change of the thresholds)
    IF full_run THEN
        PERFORM customer_mgmt.reconcile_insights(as_of, lo, hi);
    END IF;
    -- one customer (the queue worker, calculate_customer_analytics): the
    -- purchase summary the CLV predictions are computed from (everyone's:
    -- fit_clv_model)
    IF lo = hi THEN
        PERFORM customer_mgmt.clv_store_summaries(as_of, lo);
    END IF;
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_analytics(timestamptz, uuid, uuid, rfm_breakpoints, boolean) IS
    'Internal: computes and writes the analytics rows, insights and churn-detected events of one customer (lo = hi) or of a slice of a recalculation of everyone, as of a time; only rows whose values or insights change are written.';

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
        PERFORM customer_mgmt.write_analytics(as_of, item.customer_id, item.customer_id, bp, true);
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
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
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
    PERFORM customer_mgmt.write_analytics(as_of, u.id, u.id, bp, true);
    PERFORM customer_mgmt.apply_customer_segments(u.id, as_of);
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, as_of);
END
$$;
COMMENT ON FUNCTION calculate_customer_analytics(uuid, timestamptz) IS
    'Admin: calculates and stores one customer''s analytics and insights as of a time (RFM with the breakpoints of the last recalculation of everyone); returns CustomerAnalyticsDto.';

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
           status = CASE WHEN error IS NULL THEN 'succeeded' ELSE 'failed' END::customer_mgmt.job_status,
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
                                             'slicesDone', 0, 'rfmBreakpointsId', bp.id))
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

-- One slice of a recalculation of everyone: write_analytics over slice i of
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
BEGIN
    SELECT * INTO r FROM customer_mgmt.job_runs x
     WHERE x.id = run_id AND x.job_name LIKE 'recalculate_all_analytics%' AND x.status = 'running';
    IF NOT FOUND OR to_regclass('pg_temp.cm_recalc_stats') IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('run_id', 'is not a recalculation running in this session', run_id::text);
    END IF;
    batches := (r.details ->> 'batches')::integer;
    IF slice IS NULL OR slice NOT BETWEEN 0 AND batches - 1 THEN
        PERFORM customer_mgmt.raise_invalid('slice', format('must be from 0 to %s', batches - 1), slice::text);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints b WHERE b.id = (r.details ->> 'rfmBreakpointsId')::bigint;
    written := customer_mgmt.write_analytics((r.details ->> 'asOf')::timestamptz,
                                             customer_mgmt.uuid_slice_bound(slice, batches),
                                             customer_mgmt.uuid_slice_bound(slice + 1, batches, true), bp,
                                             (r.details ->> 'full')::boolean);
    UPDATE customer_mgmt.job_runs x
       SET rows_processed = x.rows_processed + written,
           details = x.details || jsonb_build_object('slicesDone', slice + 1)
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
BEGIN
    -- a run that succeeded refits the CLV model, rescoring everyone, and
    -- refreshes every auto-assigned segment, as of its time
    IF run_id IS NOT NULL AND error IS NULL THEN
        PERFORM customer_mgmt.fit_clv_model((r.details ->> 'asOf')::timestamptz),
                customer_mgmt.refresh_all_segments((r.details ->> 'asOf')::timestamptz)
           FROM customer_mgmt.job_runs r WHERE r.id = run_id;
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
