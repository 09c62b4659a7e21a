-- customer_mgmt: The analytics' inputs: every customer's analytics row, the
-- per-customer statistics from orders and sessions, the RFM breakpoints, the
-- thresholds of the settings, and the insights brought in line with them.

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
    -- the customers without a row, found before a row is written: EXCEPT
    -- reads both tables whole first (NOT EXISTS probing the table the
    -- statement fills made the planner's nested loop read every row
    -- inserted so far, quadratic), and usually finds none, so that no row
    -- is built only to conflict (a run from scratch built every list row,
    -- its search key and folded names, for nothing: 38 s of 1,000,000)
    WITH missing AS MATERIALIZED (
        SELECT u.id FROM customer_mgmt.users u WHERE u.role = 'customer'
        EXCEPT
        SELECT a.customer_id FROM customer_mgmt.customer_analytics a),
    ins AS (
        INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
        SELECT u.id, u.created_at, u.created_at
          FROM missing m JOIN customer_mgmt.users u ON u.id = m.id
        -- a registration meanwhile made its own
        ON CONFLICT (customer_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO created FROM ins;
    -- and each customer's list row, from the analytics row
    WITH missing AS MATERIALIZED (
        SELECT u.id FROM customer_mgmt.users u WHERE u.role = 'customer'
        EXCEPT
        SELECT l.customer_id FROM customer_mgmt.customer_list l)
    INSERT INTO customer_mgmt.customer_list
    SELECT r.* FROM missing m JOIN customer_mgmt.customer_list_rows() r ON r.customer_id = m.id
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
    'Internal: the segment and insight thresholds of the settings, in the order the analytics writer reads them.';

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
