/*
 * customer_mgmt 1.1 -> 1.2: the analytics engine (design BE.03.4, sections
 * 6.2 and 8.1).  Work in progress: see CHANGELOG.md for what 1.2 has so far.
 */

\echo Use "ALTER EXTENSION customer_mgmt UPDATE TO '1.2'" to load this file. \quit

-------------------------------------------------------------------------------
-- The rules (src/scoring.c)
-------------------------------------------------------------------------------
CREATE FUNCTION engagement_score(days_since_last_order integer, total_orders integer, total_spent double precision,
                                 bounce_rate double precision, average_session_duration integer, total_sessions integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_engagement_score'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION engagement_score(integer, integer, double precision, double precision, integer, integer) IS
    'Engagement in [0,1]: 0.3 recency + 0.3 frequency + 0.2 monetary + 0.2 session behaviour (design 8.1); see docs/analytics.md for each component.';

CREATE FUNCTION churn_risk(days_since_last_order integer, total_orders integer, engagement_score double precision,
                           bounce_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_churn_risk'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION churn_risk(integer, integer, double precision, double precision) IS
    'Churn risk in [0,1], design 6.2: recency (+0.1/0.2/0.3 past 30/60/90 days), fewer than 2 orders (+0.2), engagement below 0.5/0.3 (+0.2/0.3), bounce rate above 0.8 (+0.2), capped at 1.';

CREATE FUNCTION lifecycle_segment(total_spent double precision, churn_risk double precision, total_orders integer,
                                  days_since_last_order integer,
                                  vip_min_spent double precision DEFAULT 50000000,
                                  vip_max_churn_risk double precision DEFAULT 0.3,
                                  loyal_min_orders integer DEFAULT 5,
                                  loyal_max_days integer DEFAULT 60,
                                  at_risk_min_churn_risk double precision DEFAULT 0.7,
                                  active_max_days integer DEFAULT 30,
                                  churned_min_days integer DEFAULT 180)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cm_lifecycle_segment'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lifecycle_segment(double precision, double precision, integer, integer, double precision,
                                      double precision, integer, integer, double precision, integer, integer) IS
    'Design 8.1 calculateCustomerSegment, rules in order: vip, loyal, at_risk, active, churned, new, else active; no order yet satisfies no recency rule.';

CREATE FUNCTION rfm_digit(value double precision, breakpoints double precision[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'cm_rfm_digit'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rfm_digit(double precision, double precision[]) IS
    '1 + the number of the four quintile breakpoints that value exceeds (5 = best fifth); pass minus the days for recency.';

CREATE FUNCTION insights(total_spent double precision, churn_risk double precision, total_orders integer,
                         days_since_last_order integer,
                         high_value_min_spent double precision DEFAULT 10000000,
                         churn_risk_min double precision DEFAULT 0.7,
                         loyal_min_orders integer DEFAULT 5,
                         loyal_max_days integer DEFAULT 30)
    RETURNS TABLE (type text, title text, description text, priority text, action_recommendation text)
    AS 'MODULE_PATHNAME', 'cm_insights'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION insights(double precision, double precision, integer, integer, double precision, double precision,
                             integer, integer) IS
    'The insights of design 6.2 that hold: high_value (spent above the threshold, priority high), churn_risk (risk above it, critical), loyal (more orders and fewer days since the last than the thresholds, medium), with title, description and action recommendation.';

-- Purchase preferences of a customer (src/preferences.c)
CREATE FUNCTION preferences_accum(state internal, order_id uuid, category text, brand text, unit_price_cents bigint,
                                  quantity integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_accum'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_accum(internal, uuid, text, text, bigint, integer) IS
    'Internal: transition function of purchase_preferences.';
CREATE FUNCTION preferences_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_preferences_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_final(internal) IS 'Internal: final function of purchase_preferences.';
CREATE FUNCTION preferences_combine(state internal, other internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_combine'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_combine(internal, internal) IS
    'Internal: combine function of purchase_preferences (parallel aggregation; an order split between workers counts once).';
CREATE FUNCTION preferences_serialize(state internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cm_preferences_serialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_serialize(internal) IS 'Internal: serialisation function of purchase_preferences.';
CREATE FUNCTION preferences_deserialize(data bytea, state internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_deserialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_deserialize(bytea, internal) IS 'Internal: deserialisation function of purchase_preferences.';
CREATE AGGREGATE purchase_preferences(order_id uuid, category text, brand text, unit_price_cents bigint, quantity integer) (
    SFUNC = preferences_accum,
    STYPE = internal,
    SSPACE = 1024,
    FINALFUNC = preferences_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = preferences_combine,
    SERIALFUNC = preferences_serialize,
    DESERIALFUNC = preferences_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE purchase_preferences(uuid, text, text, bigint, integer) IS
    'Favourite categories and brands (top 3 by distinct orders, then spend, then name bytewise) and preferred price range (25th/50th/75th discrete percentile of unit prices) of order lines: {"favoriteCategories", "favoriteBrands", "preferredPriceRange"}.';

-- The as_of of a calculation: a finite time, or 22023 naming as_of.
CREATE FUNCTION check_as_of(as_of timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM customer_mgmt.raise_invalid('as_of', 'must be a finite time', as_of::text);
    END IF;
    RETURN as_of;
END
$$;
COMMENT ON FUNCTION check_as_of(timestamptz) IS 'Internal: checks the as_of of a calculation is a finite time, or raises 22023.';

-------------------------------------------------------------------------------
-- RFM breakpoints of the last full recalculation
-------------------------------------------------------------------------------
-- every completed order writes the queue: one index (the primary key) is
-- enough; the worker sorts the queue, which is short, by age itself
DROP INDEX analytics_queue_enqueued_at_idx;

-- the nightly recalculation rewrites every row: leave room on each page so
-- that rows whose indexed columns did not change are updated HOT
ALTER TABLE customer_analytics SET (fillfactor = 70);

CREATE TABLE rfm_breakpoints (
    id           bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    as_of        timestamptz NOT NULL,
    recency      double precision[] NOT NULL CHECK (cardinality(recency) = 4),
    frequency    double precision[] NOT NULL CHECK (cardinality(frequency) = 4),
    monetary     double precision[] NOT NULL CHECK (cardinality(monetary) = 4),
    customers    bigint NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE rfm_breakpoints IS
    'Quintile breakpoints (20/40/60/80th percentiles) of minus days since the last order, completed orders and spend over the customers with a completed order, as of each full recalculation; single-customer calculations use the latest.';
SELECT pg_catalog.pg_extension_config_dump('rfm_breakpoints', '');
SELECT pg_catalog.pg_extension_config_dump('rfm_breakpoints_id_seq', '');
REVOKE ALL ON rfm_breakpoints FROM PUBLIC;

-------------------------------------------------------------------------------
-- Statistics of a range of customers, as of a time.  One set-based query
-- serves both a single customer (lo = hi: index scans) and everyone (hash
-- aggregates over ranges), so both give the same numbers.
-------------------------------------------------------------------------------
CREATE FUNCTION customer_stats(as_of timestamptz, lo uuid, hi uuid)
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
        SELECT w.customer_id, count(*)::integer AS n, sum(w.page_views)::integer AS pv,
               round(avg(w.duration_seconds))::integer AS duration,
               round(avg((w.page_views = 1)::integer), 4) AS bounce,
               round(avg(w.converted::integer), 4) AS conversion
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
CREATE FUNCTION compute_rfm_breakpoints(as_of timestamptz) RETURNS rfm_breakpoints
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
CREATE FUNCTION write_analytics(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints) RETURNS bigint
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

-------------------------------------------------------------------------------
-- Events (design section 10): triggers, the outbox, the queue
-------------------------------------------------------------------------------

-- Put an event in the outbox and announce it.
CREATE FUNCTION emit_event(event_type text, customer_id uuid, payload jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    event_id bigint;
BEGIN
    INSERT INTO customer_mgmt.event_outbox AS e (event_type, customer_id, payload)
    VALUES (emit_event.event_type, emit_event.customer_id, payload)
    RETURNING e.id INTO event_id;
    PERFORM pg_notify('customer_mgmt_events',
                      jsonb_build_object('id', event_id, 'eventType', event_type, 'customerId', customer_id)::text);
    RETURN event_id;
END
$$;
COMMENT ON FUNCTION emit_event(text, uuid, jsonb) IS
    'Internal: writes an event to event_outbox and announces it with NOTIFY customer_mgmt_events ({"id", "eventType", "customerId"}).';

-- Churn detected: the at-risk segment, a system note, the retention campaign.
CREATE FUNCTION churn_detected(customer_id uuid, churn_risk numeric) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by)
    VALUES (churn_detected.customer_id, '00000000-0000-4000-8000-000000000002', 'system')
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, title, content, type, priority, is_internal)
    VALUES (churn_detected.customer_id, NULL, 'Churn Risk Detected',
            format('Customer shows high churn risk (score: %s)', churn_risk), 'system', 'high', true);
    PERFORM customer_mgmt.emit_event('customer.churn_detected', churn_detected.customer_id,
                                     jsonb_build_object('customerId', churn_detected.customer_id, 'churnScore', churn_risk));
END
$$;
COMMENT ON FUNCTION churn_detected(uuid, numeric) IS
    'Internal: what happens when a customer''s churn risk crosses the high threshold: at-risk-customers segment, a system note, a customer.churn_detected event (retention campaign).';

-- Registration: analytics row, the "new-customers" segment, the welcome e-mail.
CREATE OR REPLACE FUNCTION users_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
    VALUES (NEW.id, NEW.created_at, NEW.created_at)
    ON CONFLICT (customer_id) DO NOTHING;
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, assigned_at)
    VALUES (NEW.id, '00000000-0000-4000-8000-000000000001', 'system', NEW.created_at)
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    PERFORM customer_mgmt.emit_event('customer.registered', NEW.id,
        jsonb_build_object('customerId', NEW.id, 'fullName', NEW.full_name, 'email', NEW.email,
                           'registeredAt', NEW.created_at));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_insert() IS
    'Trigger (customer registered): analytics row, new-customers segment, customer.registered outbox event for the welcome e-mail; not while a dump is restored.';

-- Order completed (inserted as completed, or moved to completed): the
-- customer is queued for recalculation.  DO UPDATE, not DO NOTHING: when a
-- worker holds the queue row, this waits for it, and once the worker has
-- deleted the row it inserts a new one, so the order is never missed.
CREATE FUNCTION orders_after_write() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'completed')
       OR TG_OP = 'UPDATE' AND OLD.status = 'completed' AND NEW.status <> 'completed' THEN
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        VALUES (NEW.customer_id, 'order.' || NEW.status)
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION orders_after_write() IS
    'Trigger (order completed, or a completed order refunded): queues the customer for recalculation; not while a dump is restored.';

CREATE TRIGGER orders_after_insert AFTER INSERT ON orders
    FOR EACH ROW WHEN (NEW.status = 'completed') EXECUTE FUNCTION orders_after_write();
CREATE TRIGGER orders_after_update AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION orders_after_write();

-- The queue worker.
CREATE FUNCTION process_analytics_queue(max_items integer DEFAULT 100) RETURNS jsonb
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

-- The outbox, for the application that sends e-mails and campaigns:
-- BEGIN; claim_events(); ...send...; mark_events_processed(ids); COMMIT.
-- Claimed rows stay locked until the caller's transaction ends, so two
-- consumers never get the same event, and a consumer that fails rolls its
-- claim back.
CREATE FUNCTION claim_events(max_events integer DEFAULT 100, consumer text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimed jsonb;
BEGIN
    IF max_events IS NULL OR max_events NOT BETWEEN 1 AND 10000 THEN
        PERFORM customer_mgmt.raise_invalid('max_events', 'must be from 1 to 10000', max_events::text);
    END IF;
    WITH c AS (
        SELECT e.id FROM customer_mgmt.event_outbox e
         WHERE e.processed_at IS NULL
         ORDER BY e.id
         LIMIT max_events
           FOR UPDATE SKIP LOCKED),
    u AS (
        UPDATE customer_mgmt.event_outbox e
           SET claimed_at = now(), claimed_by = left(coalesce(consumer, session_user::text), 200)
          FROM c WHERE e.id = c.id
        RETURNING e.*)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'eventType', u.event_type, 'customerId', u.customer_id,
                                                 'payload', u.payload, 'createdAt', u.created_at) ORDER BY u.id), '[]')
      INTO claimed FROM u;
    RETURN claimed;
END
$$;
COMMENT ON FUNCTION claim_events(integer, text) IS
    'App: claims up to max_events unprocessed outbox events (FOR UPDATE SKIP LOCKED, held until the caller''s transaction ends) and returns them.';

CREATE FUNCTION mark_events_processed(event_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF event_ids IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('event_ids', 'is required');
    END IF;
    UPDATE customer_mgmt.event_outbox e SET processed_at = now()
     WHERE e.id = ANY (event_ids) AND e.processed_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION mark_events_processed(bigint[]) IS 'App: marks outbox events done; returns how many were not done before.';

-------------------------------------------------------------------------------
-- The API
-------------------------------------------------------------------------------
CREATE FUNCTION calculate_customer_analytics(customer_id text, as_of timestamptz DEFAULT now()) RETURNS jsonb
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
COMMENT ON FUNCTION calculate_customer_analytics(text, timestamptz) IS
    'Admin: calculates and stores one customer''s analytics and insights as of a time (RFM with the breakpoints of the last full recalculation); returns CustomerAnalyticsDto.';

-------------------------------------------------------------------------------
-- Concurrent writers of the analytics (docs/architecture.md).  Advisory lock
-- (17229, 1): a slice of a full recalculation takes it exclusively; writers
-- of one customer (the queue worker, calculate_customer_analytics) share it
-- and lock that customer's analytics row.  Every writer so reads its
-- statistics after the previous writer of the row committed, and a slow
-- writer never overwrites a fresher row with older numbers.  (17229, 2) is
-- held by the full recalculation in progress.
-------------------------------------------------------------------------------
CREATE FUNCTION analytics_write_lock(exclusive boolean, wait boolean) RETURNS boolean
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
CREATE FUNCTION finish_job_run(run_id bigint, rows_processed bigint DEFAULT NULL, error text DEFAULT NULL)
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
COMMENT ON FUNCTION finish_job_run(bigint, bigint, text) IS
    'Internal: marks a job run finished, succeeded (error NULL) or failed, with its row count when given.';

-- Start a full recalculation: check the arguments, make sure no other one
-- runs, store the RFM breakpoints, log the run.  The lock is the
-- transaction's (the function) or the session's (the procedure, which
-- commits between slices and releases it at the end).
CREATE FUNCTION begin_full_recalculation(as_of timestamptz, batches integer, job_name text, session_lock boolean)
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
COMMENT ON FUNCTION begin_full_recalculation(timestamptz, integer, text, boolean) IS
    'Internal: starts a full recalculation (arguments checked, one at a time, RFM breakpoints stored, run logged); returns the job run id.';

-- One slice of a full recalculation: write_analytics over slice i of n of
-- the id space, progress in the job run.
CREATE FUNCTION recalculate_slice(run_id bigint, slice integer) RETURNS bigint
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
COMMENT ON FUNCTION recalculate_slice(bigint, integer) IS
    'Internal: recalculates slice i of the id space for a running full recalculation and records the progress in its job run; returns the customers written.';

CREATE FUNCTION recalculate_all_analytics(as_of timestamptz DEFAULT now(), batches integer DEFAULT 1) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run_id bigint := customer_mgmt.begin_full_recalculation(as_of, batches, 'recalculate_all_analytics', false);
    written bigint := 0;
    started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 0 .. batches - 1 LOOP
        written := written + customer_mgmt.recalculate_slice(run_id, i);
    END LOOP;
    PERFORM customer_mgmt.finish_job_run(run_id, written);
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
CREATE PROCEDURE recalculate_all_analytics_batched(as_of timestamptz DEFAULT now(), batches integer DEFAULT 8)
    LANGUAGE plpgsql
AS $$
DECLARE
    run_id bigint;
    written bigint := 0;
    failure text;
    failure_state text;
BEGIN
    run_id := customer_mgmt.begin_full_recalculation(as_of, batches, 'recalculate_all_analytics_batched', true);
    COMMIT;
    FOR i IN 0 .. batches - 1 LOOP
        BEGIN
            written := written + customer_mgmt.recalculate_slice(run_id, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE;
        END;
        IF failure IS NOT NULL THEN
            PERFORM customer_mgmt.finish_job_run(run_id, written, failure);
            PERFORM pg_catalog.pg_advisory_unlock(17229, 2);
            COMMIT;
            RAISE EXCEPTION '%', failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.format('Slice %s of %s of job run %s; the slices before it are committed.',
                                                 i, batches, run_id);
        END IF;
        COMMIT;
    END LOOP;
    PERFORM customer_mgmt.finish_job_run(run_id, written);
    PERFORM pg_catalog.pg_advisory_unlock(17229, 2);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer) IS
    'Admin (and pg_cron, daily): recalculates everyone like recalculate_all_analytics, committing after each of batches slices so that progress shows in job_runs and locks stay short; a failure is logged before it is raised. CALL it outside a transaction block.';

-- Bound i of n equal slices of the uuid space (the last bound is the maximum).
CREATE FUNCTION uuid_slice_bound(i integer, n integer, upper boolean DEFAULT false) RETURNS uuid
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

-------------------------------------------------------------------------------
-- Login (design 10.1 customer.login): whichever path moves last_login_at
-- forward, record_login or the application's own UPDATE, the login is
-- recorded as a session.
-------------------------------------------------------------------------------
CREATE FUNCTION users_after_login() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
    VALUES (NEW.id, NEW.last_login_at, 0, 1, false);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_login() IS
    'Trigger (customer login): a customer''s last_login_at moved forward records a session at that time; not while a dump is restored.';
CREATE TRIGGER users_after_login AFTER UPDATE OF last_login_at ON users
    FOR EACH ROW WHEN (NEW.role = 'customer' AND NEW.last_login_at > coalesce(OLD.last_login_at, '-infinity'))
    EXECUTE FUNCTION users_after_login();

CREATE OR REPLACE FUNCTION record_login(customer_id uuid, logged_in_at timestamptz DEFAULT now()) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := customer_mgmt.check_past_time('logged_in_at', logged_in_at);
    session_id bigint;
BEGIN
    PERFORM customer_mgmt.lock_customer(customer_id);
    UPDATE customer_mgmt.users u SET last_login_at = t
     WHERE u.id = record_login.customer_id AND (u.last_login_at IS NULL OR u.last_login_at < t);
    IF FOUND THEN
        -- trigger users_after_login recorded the session
        SELECT max(w.id) INTO session_id FROM customer_mgmt.web_sessions w
         WHERE w.customer_id = record_login.customer_id AND w.started_at = t;
    ELSE
        -- a login older than the last one known: its session, the last login stays
        INSERT INTO customer_mgmt.web_sessions AS w (customer_id, started_at, duration_seconds, page_views, converted)
        VALUES (record_login.customer_id, t, 0, 1, false)
        RETURNING w.id INTO session_id;
    END IF;
    RETURN session_id;
END
$$;

-------------------------------------------------------------------------------
-- Expired segment assignments
-------------------------------------------------------------------------------
CREATE FUNCTION remove_expired_segment_assignments() RETURNS jsonb
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
    PERFORM customer_mgmt.finish_job_run(run_id, removed);
    RETURN jsonb_build_object('removed', removed, 'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION remove_expired_segment_assignments() IS
    'Admin (and pg_cron, every 10 minutes): deletes the segment assignments whose expires_at has passed; logged in job_runs. Returns {removed, jobRunId}.';

-------------------------------------------------------------------------------
-- pg_cron.  pg_cron lives in the one database named by cron.database_name:
-- schedule_jobs() works when that is the shop's database; otherwise
-- cron_script() writes the statements to run there.
-------------------------------------------------------------------------------
CREATE FUNCTION cron_jobs() RETURNS TABLE (job_name text, schedule text, command text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shop_tz text := customer_mgmt.setting('shop_timezone');
    -- pg_cron 1.4 reads schedules in GMT; later versions have cron.timezone
    cron_tz text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
    nightly timestamp := ((now() AT TIME ZONE shop_tz)::date + time '02:00') AT TIME ZONE shop_tz AT TIME ZONE cron_tz;
BEGIN
    RETURN QUERY VALUES
        ('customer_mgmt.analytics-queue.' || (current_database()::text COLLATE "default"), '* * * * *',
         'SELECT customer_mgmt.process_analytics_queue(1000)'),
        ('customer_mgmt.recalculate-all.' || (current_database()::text COLLATE "default"),
         format('%s %s * * *', extract(minute FROM nightly)::integer, extract(hour FROM nightly)::integer),
         'CALL customer_mgmt.recalculate_all_analytics_batched()'),
        ('customer_mgmt.expire-assignments.' || (current_database()::text COLLATE "default"), '*/10 * * * *',
         'SELECT customer_mgmt.remove_expired_segment_assignments()');
END
$$;
COMMENT ON FUNCTION cron_jobs() IS
    'The pg_cron jobs of this shop database: queue worker every minute, full recalculation at 02:00 shop time (setting shop_timezone, converted to pg_cron''s zone), expired assignments every 10 minutes.';

CREATE FUNCTION require_cron() RETURNS void
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

CREATE FUNCTION schedule_jobs() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    scheduled jsonb := '[]';
BEGIN
    PERFORM customer_mgmt.require_cron();
    FOR j IN SELECT * FROM customer_mgmt.cron_jobs() LOOP
        -- cron.schedule replaces a job of the same name and owner
        scheduled := scheduled || jsonb_build_object('jobName', j.job_name, 'schedule', j.schedule,
                                                     'command', j.command,
                                                     'jobId', cron.schedule(j.job_name, j.schedule, j.command));
    END LOOP;
    RETURN scheduled;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
    'Admin: installs (or updates) the jobs of cron_jobs() in pg_cron, which must be installed in this database; idempotent. Returns [{jobName, schedule, command, jobId}].';

CREATE FUNCTION unschedule_jobs() RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    id bigint;
BEGIN
    PERFORM customer_mgmt.require_cron();
    FOR id IN SELECT c.jobid FROM cron.job c WHERE c.jobname IN (SELECT j.job_name FROM customer_mgmt.cron_jobs() j) LOOP
        PERFORM cron.unschedule(id);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
    'Admin: removes exactly the jobs of cron_jobs() from pg_cron (other jobs stay); idempotent. Returns how many were removed.';

CREATE FUNCTION cron_script(unschedule boolean DEFAULT false) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(CASE WHEN unschedule
                           THEN format('SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %L;', j.job_name)
                           ELSE format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                       j.job_name, j.schedule, j.command, current_database()) END,
                      E'\n' ORDER BY j.job_name) || E'\n'
      FROM customer_mgmt.cron_jobs() j
$$;
COMMENT ON FUNCTION cron_script(boolean) IS
    'The SQL that schedules (or, with unschedule, removes) this shop''s jobs from the database where pg_cron is installed, when that is another database: psql -d shop -Atc ''SELECT customer_mgmt.cron_script()'' | psql -d <cron database>.';

-------------------------------------------------------------------------------
-- Overview dashboard (design 14.1)
-------------------------------------------------------------------------------
-- The date range of the dashboard: [date_from, date_to), by default the
-- 30 days before now.
CREATE FUNCTION overview_range(date_from timestamptz, date_to timestamptz, OUT range_from timestamptz,
                               OUT range_to timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    range_to := coalesce(date_to, now());
    range_from := coalesce(date_from, range_to - interval '30 days');
    PERFORM customer_mgmt.check_time_range('date_from', range_from, 'date_to', range_to);
    IF range_to - range_from > interval '5 years' THEN
        PERFORM customer_mgmt.raise_invalid('date_to', 'must be at most 5 years after date_from', range_to::text);
    END IF;
END
$$;
COMMENT ON FUNCTION overview_range(timestamptz, timestamptz) IS
    'Internal: the dashboard''s range [date_from, date_to) with its defaults (the last 30 days), or 22023.';

-- The counts of the range: new, active, churned customers.
CREATE FUNCTION overview_counts(range_from timestamptz, range_to timestamptz,
                                OUT total_customers bigint, OUT new_customers bigint,
                                OUT active_customers bigint, OUT churned_customers bigint)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT count(*) FROM customer_mgmt.users u WHERE u.role = 'customer' AND u.created_at < range_to),
           (SELECT count(*) FROM customer_mgmt.users u
             WHERE u.role = 'customer' AND u.created_at >= range_from AND u.created_at < range_to),
           -- a session (a login is one) or a completed order in the range
           (SELECT count(*) FROM customer_mgmt.users u
             WHERE u.role = 'customer'
               AND (EXISTS (SELECT FROM customer_mgmt.web_sessions w
                             WHERE w.customer_id = u.id AND w.started_at >= range_from AND w.started_at < range_to)
                    OR EXISTS (SELECT FROM customer_mgmt.orders o
                                WHERE o.customer_id = u.id AND o.status = 'completed'
                                  AND o.order_date >= range_from AND o.order_date < range_to))),
           -- whose last completed order before the end of the range became
           -- older than the churned threshold during the range
           (SELECT count(*)
              FROM (SELECT max(o.order_date) AS last_order
                      FROM customer_mgmt.orders o
                     WHERE o.status = 'completed' AND o.order_date < range_to
                     GROUP BY o.customer_id) x,
                   -- the threshold once, not per customer
                   (SELECT make_interval(days => customer_mgmt.setting('segment.churned_min_days_since_order')::integer)
                           AS after OFFSET 0) k
             WHERE x.last_order + k.after >= range_from AND x.last_order + k.after < range_to)
$$;
COMMENT ON FUNCTION overview_counts(timestamptz, timestamptz) IS
    'Internal: customers registered before the end of the range, new in it, active in it (a session or a completed order), churned in it (their last completed order passed the churned threshold during it).';

CREATE FUNCTION get_customer_overview(date_from timestamptz DEFAULT NULL, date_to timestamptz DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := customer_mgmt.overview_range(date_from, date_to);
    c record := customer_mgmt.overview_counts(r.range_from, r.range_to);
    shop_tz text := customer_mgmt.setting('shop_timezone');
    low numeric := customer_mgmt.setting('churn.threshold_low')::numeric;
    medium numeric := customer_mgmt.setting('churn.threshold_medium')::numeric;
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    distributions jsonb;
    result jsonb;
BEGIN
    result := jsonb_build_object(
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers);

    -- distributions over the stored analytics (as fresh as last_calculated_at),
    -- from one read of the table: the bands count a narrow copy of it
    WITH a AS MATERIALIZED (
        SELECT x.segment, x.customer_lifetime_value AS v, x.churn_risk_score AS risk
          FROM customer_mgmt.customer_analytics x),
    total AS (SELECT greatest(count(*), 1) AS n FROM a)
    SELECT jsonb_build_object(
        'segmentDistribution', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('segment', s.segment, 'count', coalesce(x.n, 0),
                                                         'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                                      ORDER BY s.segment), '[]')
              FROM unnest(enum_range(NULL::customer_mgmt.lifecycle_segment)) AS s(segment)
              CROSS JOIN total
              LEFT JOIN (SELECT a.segment, count(*) AS n FROM a GROUP BY a.segment) x ON x.segment = s.segment),
        'lifetimeValueDistribution', (
            SELECT jsonb_agg(jsonb_build_object('range', b.label, 'min', b.lo, 'max', b.hi, 'count', x.n,
                                                'percentage', round(100.0 * x.n / total.n, 2))
                             ORDER BY b.ord)
              FROM (VALUES (1, '0', 0::numeric, 0::numeric), (2, 'under 1M', 0, 1000000), (3, '1M-5M', 1000000, 5000000),
                           (4, '5M-10M', 5000000, 10000000), (5, '10M-50M', 10000000, 50000000), (6, '50M+', 50000000, NULL))
                   AS b(ord, label, lo, hi)
              CROSS JOIN total
              CROSS JOIN LATERAL (
                   SELECT count(*) AS n FROM a
                    WHERE CASE WHEN b.hi = 0 THEN a.v = 0 ELSE a.v > b.lo AND (b.hi IS NULL OR a.v <= b.hi) END) x),
        'churnRiskDistribution', (
            SELECT jsonb_agg(jsonb_build_object('level', b.label, 'min', b.lo, 'max', b.hi, 'count', x.n,
                                                'percentage', round(100.0 * x.n / total.n, 2))
                             ORDER BY b.lo)
              FROM (VALUES ('low', 0::numeric, low), ('moderate', low, medium), ('medium', medium, high), ('high', high, NULL))
                   AS b(label, lo, hi)
              CROSS JOIN total
              CROSS JOIN LATERAL (
                   SELECT count(*) AS n FROM a WHERE a.risk >= b.lo AND (b.hi IS NULL OR a.risk < b.hi)) x))
      INTO distributions;
    result := result || distributions;

    result := result || jsonb_build_object('topCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'fullName', u.full_name, 'email', u.email,
                                                     'customerLifetimeValue', a.customer_lifetime_value,
                                                     'totalOrders', a.total_orders, 'segment', a.segment)
                                  ORDER BY a.customer_lifetime_value DESC, a.customer_id), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_analytics x
                 WHERE x.customer_lifetime_value > 0
                 ORDER BY x.customer_lifetime_value DESC, x.customer_id LIMIT 10) a
          JOIN customer_mgmt.users u ON u.id = a.customer_id));

    result := result || jsonb_build_object('atRiskCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'fullName', u.full_name, 'email', u.email,
                                                     'churnRiskScore', a.churn_risk_score,
                                                     'customerLifetimeValue', a.customer_lifetime_value,
                                                     'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, r.range_to),
                                                     'segment', a.segment)
                                  ORDER BY a.churn_risk_score DESC, a.customer_lifetime_value DESC, a.customer_id), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_analytics x
                 WHERE x.churn_risk_score > customer_mgmt.setting('segment.at_risk_min_churn_risk')::numeric
                 ORDER BY x.churn_risk_score DESC, x.customer_lifetime_value DESC, x.customer_id LIMIT 20) a
          JOIN customer_mgmt.users u ON u.id = a.customer_id AND u.status = 'active'));

    -- where and who: provinces as they are named since 2025, ages at date_to
    result := result || jsonb_build_object('geographicDistribution', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('province', x.province, 'count', x.n,
                                                     'percentage', round(100.0 * x.n / greatest(c.total_customers, 1), 2))
                                  ORDER BY x.n DESC, x.province NULLS LAST), '[]')
          FROM (SELECT coalesce(p.current_name, u.province) AS province, count(*) AS n
                  FROM customer_mgmt.users u
                  LEFT JOIN customer_mgmt.provinces p ON p.name = u.province
                 WHERE u.role = 'customer' AND u.created_at < r.range_to
                 GROUP BY 1) x));

    result := result || jsonb_build_object('ageDistribution', (
        SELECT jsonb_agg(jsonb_build_object('range', b.label, 'count', coalesce(x.n, 0),
                                            'percentage', round(100.0 * coalesce(x.n, 0) / greatest(c.total_customers, 1), 2))
                         ORDER BY b.ord)
          FROM (VALUES (1, 'under 18'), (2, '18-24'), (3, '25-34'), (4, '35-44'), (5, '45-54'), (6, '55-64'),
                       (7, '65+'), (8, 'unknown')) AS b(ord, label)
          LEFT JOIN (
               SELECT coalesce(width_bucket(extract(year FROM age((r.range_to AT TIME ZONE shop_tz)::date, u.date_of_birth)),
                                            ARRAY[18, 25, 35, 45, 55, 65]::numeric[]) + 1, 8) AS ord,
                      count(*) AS n
                 FROM customer_mgmt.users u
                WHERE u.role = 'customer' AND u.created_at < r.range_to
                GROUP BY 1) x ON x.ord = b.ord));

    -- the customers registered in the range, step by step
    result := result || jsonb_build_object('conversionFunnel', (
        SELECT jsonb_build_array(
                   jsonb_build_object('stage', 'registered', 'count', f.registered, 'rate', 1),
                   jsonb_build_object('stage', 'visited', 'count', f.visited,
                                      'rate', round(f.visited::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'ordered', 'count', f.ordered,
                                      'rate', round(f.ordered::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'orderedAgain', 'count', f.again,
                                      'rate', round(f.again::numeric / greatest(f.registered, 1), 4)))
          FROM (SELECT count(*) AS registered,
                       count(*) FILTER (WHERE y.sessions > 0) AS visited,
                       count(*) FILTER (WHERE y.orders >= 1) AS ordered,
                       count(*) FILTER (WHERE y.orders >= 2) AS again
                  FROM (SELECT (SELECT count(*) FROM customer_mgmt.web_sessions w
                                 WHERE w.customer_id = u.id AND w.started_at >= r.range_from
                                   AND w.started_at < r.range_to) AS sessions,
                               (SELECT count(*) FROM customer_mgmt.orders o
                                 WHERE o.customer_id = u.id AND o.status = 'completed'
                                   AND o.order_date >= r.range_from AND o.order_date < r.range_to) AS orders
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to) y) f));

    -- monthly cohorts (shop time) of the customers registered in the range:
    -- the share of each cohort with a completed order in each month since
    result := result || jsonb_build_object('retentionCohorts', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('cohort', to_char(k.cohort, 'YYYY-MM'), 'customers', k.size,
                                                     'months', k.months) ORDER BY k.cohort), '[]')
          FROM (SELECT m.cohort, m.size,
                       (SELECT jsonb_agg(jsonb_build_object('month', g.i, 'customers', coalesce(z.n, 0),
                                                            'rate', round(coalesce(z.n, 0)::numeric / m.size, 4))
                                         ORDER BY g.i)
                          FROM generate_series(0, (extract(year FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)) * 12
                                                   + extract(month FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)))::integer) AS g(i)
                          LEFT JOIN (
                               SELECT (extract(year FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)) * 12
                                       + extract(month FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)))::integer AS i,
                                      count(DISTINCT o.customer_id) AS n
                                 FROM customer_mgmt.users u
                                 JOIN customer_mgmt.orders o ON o.customer_id = u.id
                                WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                                  AND date_trunc('month', u.created_at AT TIME ZONE shop_tz) = m.cohort
                                  AND o.status = 'completed' AND o.order_date >= u.created_at AND o.order_date < r.range_to
                                GROUP BY 1) z ON z.i = g.i) AS months
                  FROM (SELECT date_trunc('month', u.created_at AT TIME ZONE shop_tz) AS cohort, count(*) AS size
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                         GROUP BY 1) m) k));
    RETURN result;
END
$$;
COMMENT ON FUNCTION get_customer_overview(timestamptz, timestamptz) IS
    'Staff: the customer dashboard of design 14.1 for [date_from, date_to) (default the last 30 days): totals, new/active/churned in the range, segment, lifetime-value and churn-risk distributions, top 10 by value, 20 most at risk, provinces, ages, conversion funnel, monthly retention cohorts.';

CREATE FUNCTION get_customer_health_score(as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    c record;
    total numeric;
    gini numeric;
    acquisition numeric;
    retention numeric;
    engagement numeric;
    value_score numeric;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    r := customer_mgmt.overview_range(as_of - interval '1 month', as_of);
    c := customer_mgmt.overview_counts(r.range_from, r.range_to);
    total := greatest(c.total_customers, 1);
    -- valueScore = 1 - the Gini coefficient of the lifetime values of the
    -- customers who spent: 1 when value is spread evenly, 0 when one
    -- customer holds it all (docs/analytics.md)
    SELECT CASE WHEN count(*) > 0 AND sum(v) > 0
                THEN 2 * sum(k * v) / (count(*) * sum(v)) - (count(*) + 1)::numeric / count(*) END
      INTO gini
      FROM (SELECT a.customer_lifetime_value AS v, row_number() OVER (ORDER BY a.customer_lifetime_value) AS k
              FROM customer_mgmt.customer_analytics a WHERE a.customer_lifetime_value > 0) x;
    acquisition := least(c.new_customers / total * 100, 25);
    retention := (1 - c.churned_customers / total) * 30;
    engagement := c.active_customers / total * 25;
    value_score := 1 - coalesce(gini, 1);
    RETURN jsonb_build_object(
        'healthScore', round(acquisition + retention + engagement + value_score * 20)::integer,
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers,
        'components', jsonb_build_object(
            'acquisition', round(acquisition, 2), 'retention', round(retention, 2),
            'engagement', round(engagement, 2), 'valueDistribution', round(value_score * 20, 2)),
        'valueScore', round(value_score, 4));
END
$$;
COMMENT ON FUNCTION get_customer_health_score(timestamptz) IS
    'Staff: design 14.1''s customer health score over the month before as_of (default now), 0-100: acquisition (new/total x 100, at most 25) + retention ((1 - churned/total) x 30) + engagement (active/total x 25) + valueScore x 20, valueScore = 1 - Gini of lifetime values. Returns {healthScore, components, ...}.';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA customer_mgmt FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engagement_score(integer, integer, double precision, double precision, integer, integer),
    churn_risk(integer, integer, double precision, double precision),
    lifecycle_segment(double precision, double precision, integer, integer, double precision, double precision,
                      integer, integer, double precision, integer, integer),
    rfm_digit(double precision, double precision[]),
    insights(double precision, double precision, integer, integer, double precision, double precision, integer, integer)
TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;
GRANT EXECUTE ON FUNCTION calculate_customer_analytics(text, timestamptz), recalculate_all_analytics(timestamptz, integer),
    process_analytics_queue(integer), begin_full_recalculation(timestamptz, integer, text, boolean),
    recalculate_slice(bigint, integer), finish_job_run(bigint, bigint, text), remove_expired_segment_assignments(),
    schedule_jobs(), unschedule_jobs(), cron_jobs(), cron_script(boolean)
TO customer_mgmt_admin;
REVOKE EXECUTE ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer) TO customer_mgmt_admin;
GRANT EXECUTE ON FUNCTION get_customer_overview(timestamptz, timestamptz), get_customer_health_score(timestamptz)
TO customer_mgmt_staff, customer_mgmt_admin;
GRANT EXECUTE ON FUNCTION claim_events(integer, text), mark_events_processed(bigint[])
TO customer_mgmt_app, customer_mgmt_admin;
