/*
 * customer_mgmt 1.0 -> 1.1: customer list, detail, order history and account
 * status (design BE.03.1, BE.03.2, BE.03.3).
 */

\echo Use "ALTER EXTENSION customer_mgmt UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- Every customer has an analytics row (the list reads its columns).
-------------------------------------------------------------------------------

-- Insert the default analytics row of customers who have none; returns how
-- many.  Used after bulk loads that bypass triggers, and by this upgrade.
CREATE FUNCTION ensure_analytics_rows() RETURNS bigint
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
        SELECT u.id, u.created_at, u.created_at
          FROM customer_mgmt.users u
         WHERE u.role = 'customer'
        -- not NOT EXISTS: probing the table this statement fills makes the
        -- planner's nested loop read every row inserted so far, quadratic
        ON CONFLICT (customer_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM ins
$$;
COMMENT ON FUNCTION ensure_analytics_rows() IS
    'Creates the default analytics row of every customer who has none; returns the number created.';

-- Whether a dump is being restored: every script pg_dump writes (and so
-- every pg_restore) empties search_path before it loads data, which no
-- application session does; customer_mgmt.restoring = on says it explicitly.
-- Triggers skip their side effects then: the dump already holds them.
-- No SET clause here or in the triggers that call it: they must see the
-- caller's search_path.
CREATE FUNCTION restoring() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.current_setting('search_path') = ''
        OR COALESCE(pg_catalog.current_setting('customer_mgmt.restoring', true), '') = 'on'
$$;
COMMENT ON FUNCTION restoring() IS
    'True while a dump is restored (search_path is empty, as pg_dump''s scripts set it, or customer_mgmt.restoring = on): triggers skip their side effects.';

-- A new customer gets its analytics row, whichever path inserted it.
CREATE FUNCTION users_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
    VALUES (NEW.id, NEW.created_at, NEW.created_at)
    ON CONFLICT (customer_id) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_insert() IS
    'Trigger: creates the analytics row of a new customer (not while a dump is restored).';

CREATE TRIGGER users_after_insert AFTER INSERT ON users
    FOR EACH ROW WHEN (NEW.role = 'customer') EXECUTE FUNCTION users_after_insert();

SELECT ensure_analytics_rows();

-- the demo generator skips triggers: give its customers their rows
CREATE OR REPLACE FUNCTION generate_demo_shop(
    customers  integer DEFAULT 10000,
    seed       bigint DEFAULT 42,
    as_of      timestamptz DEFAULT date_trunc('day', now())
) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
AS $$
DECLARE
    counts jsonb;
    names text[];
    definitions text[];
BEGIN
    IF customers IS NULL OR customers NOT BETWEEN 0 AND 10000000 THEN
        PERFORM raise_invalid('customers', 'must be from 0 to 10000000', customers::text);
    END IF;
    IF EXISTS (SELECT FROM users) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'raise_exception',
            MESSAGE = 'the demo shop can only be generated into an empty shop',
            DETAIL = 'Table customer_mgmt.users already has rows.',
            HINT = 'Create the extension in a new database for the demo.';
    END IF;
    SELECT array_agg(d.index_name), array_agg(d.definition) INTO names, definitions FROM demo_secondary_indexes() d;
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE 'DROP INDEX ' || names[i];
    END LOOP;
    counts := generate_demo_customers(seed, as_of, 1, customers);
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE definitions[i];
    END LOOP;
    PERFORM ensure_analytics_rows();
    RETURN counts || jsonb_build_object('staff', generate_demo_staff(seed, as_of));
END
$$;

-------------------------------------------------------------------------------
-- Indexes for every sort of get_customers, both directions, with the id as
-- tie-breaker so that pages are stable.  Nullable keys sort NULLS LAST both
-- ways, which takes one index per direction.
-------------------------------------------------------------------------------
DROP INDEX customer_analytics_total_spent_idx;
DROP INDEX customer_analytics_total_orders_idx;
DROP INDEX customer_analytics_churn_risk_score_idx;
DROP INDEX customer_analytics_last_order_date_idx;
DROP INDEX customer_analytics_segment_idx;
DROP INDEX users_customers_last_login_at_idx;
CREATE INDEX customer_analytics_total_spent_idx ON customer_analytics (total_spent, customer_id);
CREATE INDEX customer_analytics_total_orders_idx ON customer_analytics (total_orders, customer_id);
CREATE INDEX customer_analytics_churn_risk_score_idx ON customer_analytics (churn_risk_score, customer_id);
CREATE INDEX customer_analytics_segment_idx ON customer_analytics (segment, customer_id);
CREATE INDEX customer_analytics_last_order_date_asc_idx ON customer_analytics (last_order_date ASC NULLS LAST, customer_id);
CREATE INDEX customer_analytics_last_order_date_desc_idx ON customer_analytics (last_order_date DESC NULLS LAST, customer_id DESC);
CREATE INDEX users_customers_last_login_at_asc_idx ON users (last_login_at ASC NULLS LAST, id) WHERE role = 'customer';
CREATE INDEX users_customers_last_login_at_desc_idx ON users (last_login_at DESC NULLS LAST, id DESC) WHERE role = 'customer';
CREATE INDEX users_customers_email_idx ON users (email, id) WHERE role = 'customer';

-------------------------------------------------------------------------------
-- Shared pieces of the read API
-------------------------------------------------------------------------------

-- A customer id given as text: 22023 when malformed, so that a bad id in a
-- URL is a 400 naming the field, not a cast error.
CREATE FUNCTION check_uuid(field text, value text) RETURNS uuid
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL OR btrim(value) = '' THEN
        PERFORM customer_mgmt.raise_invalid(field, 'is required');
    END IF;
    IF btrim(value) !~* '^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$' THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be a UUID', value);
    END IF;
    RETURN btrim(value)::uuid;
END
$$;
COMMENT ON FUNCTION check_uuid(text, text) IS 'Internal: parses an id given as text, or raises 22023 naming the field.';

CREATE FUNCTION check_page(page integer, page_size integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF page IS NULL OR page < 1 OR page > 1000000 THEN
        PERFORM customer_mgmt.raise_invalid('page', 'must be from 1 to 1000000', page::text);
    END IF;
    IF page_size IS NULL OR page_size < 1 OR page_size > 100 THEN
        PERFORM customer_mgmt.raise_invalid('page_size', 'must be from 1 to 100', page_size::text);
    END IF;
END
$$;
COMMENT ON FUNCTION check_page(integer, integer) IS 'Internal: checks page (1..1000000) and page_size (1..100), or raises 22023.';

CREATE FUNCTION check_sort_order(sort_order text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF upper(btrim(sort_order)) IN ('ASC', 'DESC') THEN
        RETURN upper(btrim(sort_order));
    END IF;
    PERFORM customer_mgmt.raise_invalid('sort_order', 'must be ASC or DESC', sort_order);
END
$$;
COMMENT ON FUNCTION check_sort_order(text) IS 'Internal: ASC or DESC (case-insensitive), or raises 22023.';

CREATE FUNCTION check_time_range(from_field text, from_value timestamptz, to_field text, to_value timestamptz)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT isfinite(from_value) THEN
        PERFORM customer_mgmt.raise_invalid(from_field, 'must be a finite time', from_value::text);
    END IF;
    IF NOT isfinite(to_value) THEN
        PERFORM customer_mgmt.raise_invalid(to_field, 'must be a finite time', to_value::text);
    END IF;
    IF from_value > to_value THEN
        PERFORM customer_mgmt.raise_invalid(to_field, format('must not be before %s', from_field), to_value::text);
    END IF;
END
$$;
COMMENT ON FUNCTION check_time_range(text, timestamptz, text, timestamptz) IS
    'Internal: checks an optional time range is finite and ordered, or raises 22023.';

-- The paginated envelope of every list (SPEC section 4).
CREATE FUNCTION page_envelope(data jsonb, total bigint, page integer, page_size integer,
                              total_is_estimate boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'data', coalesce(data, '[]'::jsonb),
        'total', total,
        'page', page,
        'pageSize', page_size,
        'totalPages', CASE WHEN total = 0 THEN 0 ELSE (total + page_size - 1) / page_size END,
        'totalIsEstimate', total_is_estimate)
$$;
COMMENT ON FUNCTION page_envelope(jsonb, bigint, integer, integer, boolean) IS
    'Internal: {"data", "total", "page", "pageSize", "totalPages", "totalIsEstimate"} of a list.';

-- Whole days from a time to as_of (NULL when the time is NULL).
CREATE FUNCTION days_between(since timestamptz, as_of timestamptz) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN since IS NOT NULL THEN greatest(0, floor(extract(epoch FROM as_of - since) / 86400))::integer END
$$;
COMMENT ON FUNCTION days_between(timestamptz, timestamptz) IS
    'Whole days from since to as_of (0 when since is later), NULL when since is NULL.';

-- The list item of a customer (the columns an admin screen shows).
CREATE FUNCTION customer_list_item(u users, a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', u.id,
        'fullName', u.full_name,
        'email', u.email,
        'phoneNumber', u.phone_number,
        'status', u.status,
        'segment', coalesce(a.segment, 'new'),
        'totalOrders', coalesce(a.total_orders, 0),
        'totalSpent', coalesce(a.total_spent, 0),
        'lastOrderDate', a.last_order_date,
        'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, as_of),
        'churnRiskScore', coalesce(a.churn_risk_score, 0),
        'createdAt', u.created_at,
        'lastLoginAt', u.last_login_at)
$$;
COMMENT ON FUNCTION customer_list_item(users, customer_analytics, timestamptz) IS
    'Internal: the list item of a customer (id, fullName, email, phoneNumber, status, segment, totalOrders, totalSpent, lastOrderDate, daysSinceLastOrder, churnRiskScore, createdAt, lastLoginAt).';

-- Escape LIKE's wildcards in user input.
CREATE FUNCTION like_escape(input text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(input, '\', '\\'), '%', '\%'), '_', '\_')
$$;
COMMENT ON FUNCTION like_escape(text) IS 'Escapes \, % and _ so that user input matches literally in LIKE.';

-- The LIKE pattern of a search text over search_key(): a phone-like text
-- ("0912 345 678", "+84 912 345 678") matches the canonical phone digits,
-- anything else its folded form.
CREATE FUNCTION search_pattern(search text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := btrim(search);
    digits text;
BEGIN
    IF q IS NULL OR q = '' THEN
        RETURN NULL;
    END IF;
    IF length(q) > 200 THEN
        PERFORM customer_mgmt.raise_invalid('search', 'must be at most 200 characters long', q);
    END IF;
    digits := regexp_replace(q, '[^0-9]', '', 'g');
    IF q ~ '^[0-9 ().+-]+$' AND length(digits) >= 3 THEN
        IF q ~ '^[ (]*\+' THEN
            IF digits !~ '^84' THEN
                RETURN '%' || digits || '%';        -- not Vietnamese: cannot match a canonical number
            END IF;
            digits := '0' || ltrim(substr(digits, 3), '0');
        END IF;
        RETURN '%' || digits || '%';
    END IF;
    RETURN '%' || customer_mgmt.like_escape(customer_mgmt.search_fold(q)) || '%';
END
$$;
COMMENT ON FUNCTION search_pattern(text) IS
    'The LIKE pattern over search_key() for a search text: phone-like text matches canonical phone digits, other text its folded form; NULL for no search.';

-- The planner's row estimate of a query.  EXPLAIN is a utility command,
-- which SPI refuses inside STABLE functions, so the list calls this
-- (VOLATILE, but it writes nothing) only when it needs an estimate.
CREATE FUNCTION estimate_rows(query text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$;
COMMENT ON FUNCTION estimate_rows(text) IS
    'Internal: the planner''s estimate of the rows a query returns (EXPLAIN); the query must carry its values as quoted literals.';

-------------------------------------------------------------------------------
-- get_customers: the customer list (BE.03.1)
-------------------------------------------------------------------------------
CREATE FUNCTION get_customers(
    search                     text DEFAULT NULL,
    status                     text DEFAULT NULL,
    segment                    text DEFAULT NULL,
    registered_after           timestamptz DEFAULT NULL,
    registered_before          timestamptz DEFAULT NULL,
    min_total_spent            numeric DEFAULT NULL,
    max_total_spent            numeric DEFAULT NULL,
    min_orders                 integer DEFAULT NULL,
    max_days_since_last_order  integer DEFAULT NULL,
    sort_by                    text DEFAULT 'createdAt',
    sort_order                 text DEFAULT 'DESC',
    page                       integer DEFAULT 1,
    page_size                  integer DEFAULT 20,
    exact_total                boolean DEFAULT false,
    as_of                      timestamptz DEFAULT now()
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pattern text := customer_mgmt.search_pattern(search);
    v_status customer_mgmt.user_status;
    v_segment customer_mgmt.lifecycle_segment;
    v_min_spent numeric;
    v_max_spent numeric;
    v_last_order_after timestamptz;
    dir text := customer_mgmt.check_sort_order(coalesce(sort_order, 'DESC'));
    key_column text;
    tie_column text;
    nulls_last boolean := false;
    user_conds text[] := ARRAY['u.role = ''customer'''];
    analytics_conds text[] := ARRAY[]::text[];
    needs_analytics boolean;
    from_where text;
    count_from_where text;
    total bigint;
    estimate boolean := false;
    literals text[];
    estimate_sql text;
    order_by text;
    data jsonb;
BEGIN
    -- arguments: every value goes to the query as a parameter ($1..$12);
    -- only the whitelisted column names below become SQL text
    IF status IS NOT NULL THEN
        v_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.user_status);
    END IF;
    IF segment IS NOT NULL THEN
        v_segment := customer_mgmt.check_enum('segment', segment, NULL::customer_mgmt.lifecycle_segment);
    END IF;
    PERFORM customer_mgmt.check_time_range('registered_after', registered_after, 'registered_before', registered_before);
    IF min_total_spent IS NOT NULL THEN
        v_min_spent := customer_mgmt.check_amount('min_total_spent', min_total_spent);
    END IF;
    IF max_total_spent IS NOT NULL THEN
        v_max_spent := customer_mgmt.check_amount('max_total_spent', max_total_spent);
    END IF;
    IF v_min_spent > v_max_spent THEN
        PERFORM customer_mgmt.raise_invalid('max_total_spent', 'must not be less than min_total_spent', max_total_spent::text);
    END IF;
    IF min_orders < 0 THEN
        PERFORM customer_mgmt.raise_invalid('min_orders', 'must not be negative', min_orders::text);
    END IF;
    IF max_days_since_last_order < 0 OR max_days_since_last_order > 100000 THEN
        PERFORM customer_mgmt.raise_invalid('max_days_since_last_order', 'must be from 0 to 100000',
                                            max_days_since_last_order::text);
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM customer_mgmt.raise_invalid('as_of', 'must be a finite time', as_of::text);
    END IF;
    PERFORM customer_mgmt.check_page(page, page_size);
    -- days since the last order <= N  <=>  the last order is after as_of - (N + 1) days
    v_last_order_after := as_of - make_interval(days => max_days_since_last_order + 1);

    CASE coalesce(sort_by, 'createdAt')
        WHEN 'createdAt' THEN key_column := 'u.created_at'; tie_column := 'u.id';
        WHEN 'fullName' THEN key_column := 'u.full_name'; tie_column := 'u.id';
        WHEN 'email' THEN key_column := 'u.email'; tie_column := 'u.id';
        WHEN 'lastLoginAt' THEN key_column := 'u.last_login_at'; tie_column := 'u.id'; nulls_last := true;
        WHEN 'totalSpent' THEN key_column := 'a.total_spent'; tie_column := 'a.customer_id';
        WHEN 'totalOrders' THEN key_column := 'a.total_orders'; tie_column := 'a.customer_id';
        WHEN 'lastOrderDate' THEN key_column := 'a.last_order_date'; tie_column := 'a.customer_id'; nulls_last := true;
        WHEN 'churnRiskScore' THEN key_column := 'a.churn_risk_score'; tie_column := 'a.customer_id';
        ELSE
            PERFORM customer_mgmt.raise_invalid('sort_by',
                'must be one of createdAt, fullName, email, lastLoginAt, totalSpent, totalOrders, lastOrderDate, churnRiskScore',
                sort_by);
    END CASE;

    IF pattern IS NOT NULL THEN
        user_conds := array_append(user_conds, 'customer_mgmt.search_key(u.full_name, u.email, u.phone_number) LIKE $1'::text);
    END IF;
    IF v_status IS NOT NULL THEN user_conds := array_append(user_conds, 'u.status = $2'::text); END IF;
    IF registered_after IS NOT NULL THEN user_conds := array_append(user_conds, 'u.created_at >= $4'::text); END IF;
    IF registered_before IS NOT NULL THEN user_conds := array_append(user_conds, 'u.created_at <= $5'::text); END IF;
    IF v_segment IS NOT NULL THEN analytics_conds := array_append(analytics_conds, 'a.segment = $3'::text); END IF;
    IF v_min_spent IS NOT NULL THEN analytics_conds := array_append(analytics_conds, 'a.total_spent >= $6'::text); END IF;
    IF v_max_spent IS NOT NULL THEN analytics_conds := array_append(analytics_conds, 'a.total_spent <= $7'::text); END IF;
    IF min_orders IS NOT NULL THEN analytics_conds := array_append(analytics_conds, 'a.total_orders >= $8'::text); END IF;
    IF max_days_since_last_order IS NOT NULL THEN
        analytics_conds := array_append(analytics_conds, 'a.last_order_date > $9'::text);
    END IF;

    from_where := ' FROM customer_mgmt.users u JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id WHERE '
                  || array_to_string(user_conds || analytics_conds, ' AND ');
    -- analytics rows exist for customers only, one each: a count needs only
    -- the tables its conditions touch
    needs_analytics := cardinality(analytics_conds) > 0;
    IF NOT needs_analytics THEN
        count_from_where := ' FROM customer_mgmt.users u WHERE ' || array_to_string(user_conds, ' AND ');
    ELSIF cardinality(user_conds) = 1 THEN
        count_from_where := ' FROM customer_mgmt.customer_analytics a WHERE ' || array_to_string(analytics_conds, ' AND ');
    ELSE
        count_from_where := from_where;
    END IF;

    IF exact_total THEN
        EXECUTE 'SELECT count(*)' || count_from_where INTO total
          USING pattern, v_status, v_segment, registered_after, registered_before, v_min_spent, v_max_spent,
                min_orders, v_last_order_after;
    ELSE
        EXECUTE 'SELECT count(*) FROM (SELECT 1' || count_from_where || ' LIMIT 10001) c' INTO total
          USING pattern, v_status, v_segment, registered_after, registered_before, v_min_spent, v_max_spent,
                min_orders, v_last_order_after;
        IF total > 10000 THEN
            -- the same conditions with the values as quoted literals ($9 first,
            -- so that no $1 is taken for the start of another parameter)
            literals := ARRAY[quote_nullable(pattern), quote_nullable(v_status) || '::customer_mgmt.user_status',
                              quote_nullable(v_segment) || '::customer_mgmt.lifecycle_segment',
                              quote_nullable(registered_after) || '::timestamptz',
                              quote_nullable(registered_before) || '::timestamptz',
                              quote_nullable(v_min_spent) || '::numeric', quote_nullable(v_max_spent) || '::numeric',
                              quote_nullable(min_orders) || '::integer', quote_nullable(v_last_order_after) || '::timestamptz'];
            estimate_sql := 'SELECT 1' || count_from_where;
            FOR i IN REVERSE 9 .. 1 LOOP
                estimate_sql := replace(estimate_sql, '$' || i, literals[i]);
            END LOOP;
            total := greatest(10001, customer_mgmt.estimate_rows(estimate_sql));
            estimate := true;
        END IF;
    END IF;
    -- The page.  The planner walks the sort key's index and filters, which
    -- is right when matches are dense and spread out, but it assumes the
    -- filters do not depend on the sort key, and they often do (loyal
    -- customers registered long ago).  When the count says there are few
    -- matches, fetch them through the filter indexes first and sort only
    -- those; that costs at most a few milliseconds whatever the correlation.
    order_by := format(' ORDER BY %s %s%s, %s %s', key_column, dir, CASE WHEN nulls_last THEN ' NULLS LAST' ELSE '' END,
                       tie_column, dir);
    IF NOT estimate AND (page - 1)::bigint * page_size >= total THEN
        data := '[]';
    ELSIF total <= 2000 AND NOT estimate THEN
        EXECUTE 'WITH m AS MATERIALIZED (SELECT ' || CASE WHEN needs_analytics AND cardinality(user_conds) = 1
                                                          THEN 'a.customer_id' ELSE 'u.id' END || ' AS id'
                || count_from_where || ')'
                || ' SELECT coalesce(jsonb_agg(l.item), ''[]'') FROM (SELECT customer_mgmt.customer_list_item(u, a, $12) AS item'
                || ' FROM m JOIN customer_mgmt.users u ON u.id = m.id JOIN customer_mgmt.customer_analytics a ON a.customer_id = m.id'
                || order_by || ' LIMIT $10 OFFSET $11) l'
           INTO data
          USING pattern, v_status, v_segment, registered_after, registered_before, v_min_spent, v_max_spent,
                min_orders, v_last_order_after, page_size, (page - 1)::bigint * page_size, as_of;
    ELSE
        EXECUTE 'SELECT coalesce(jsonb_agg(l.item), ''[]'') FROM (SELECT customer_mgmt.customer_list_item(u, a, $12) AS item'
                || from_where || order_by || ' LIMIT $10 OFFSET $11) l'
           INTO data
          USING pattern, v_status, v_segment, registered_after, registered_before, v_min_spent, v_max_spent,
                min_orders, v_last_order_after, page_size, (page - 1)::bigint * page_size, as_of;
    END IF;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size, estimate);
END
$$;
COMMENT ON FUNCTION get_customers(text, text, text, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                  text, text, integer, integer, boolean, timestamptz) IS
    'Staff: the customer list with the filters of CustomerQueryDto, a whitelisted sort and pagination; total exact up to 10,000 (or with exact_total), else the planner''s estimate flagged totalIsEstimate.';

-------------------------------------------------------------------------------
-- get_customer: the 360° detail (BE.03.2)
-------------------------------------------------------------------------------

-- CustomerAnalyticsDto of an analytics row, days since the last order
-- measured at as_of, with the saved insights.
CREATE FUNCTION customer_analytics_dto(a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'totalOrders', coalesce(a.total_orders, 0),
        'totalSpent', coalesce(a.total_spent, 0),
        'averageOrderValue', coalesce(a.average_order_value, 0),
        'lastOrderDate', a.last_order_date,
        'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, as_of),
        'totalSessions', coalesce(a.total_sessions, 0),
        'totalPageViews', coalesce(a.total_page_views, 0),
        'averageSessionDuration', coalesce(a.average_session_duration, 0),
        'bounceRate', coalesce(a.bounce_rate, 0),
        'conversionRate', coalesce(a.conversion_rate, 0),
        'favoriteCategories', coalesce(a.favorite_categories, '[]'),
        'favoriteBrands', coalesce(a.favorite_brands, '[]'),
        'preferredPriceRange', a.preferred_price_range,
        'customerLifetimeValue', coalesce(a.customer_lifetime_value, 0),
        'predictedLtv', a.predicted_ltv,
        'churnRiskScore', coalesce(a.churn_risk_score, 0),
        'engagementScore', coalesce(a.engagement_score, 0),
        'segment', coalesce(a.segment, 'new'),
        'rfmScore', a.rfm_score,
        'lastCalculatedAt', a.last_calculated_at,
        'insights', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', i.type, 'title', i.title, 'description', i.description,
                       'priority', i.priority, 'actionRecommendation', i.action_recommendation,
                       'generatedAt', i.generated_at)
                   ORDER BY i.priority DESC, i.type)
              FROM customer_mgmt.customer_insights i WHERE i.customer_id = a.customer_id), '[]'))
$$;
COMMENT ON FUNCTION customer_analytics_dto(customer_analytics, timestamptz) IS
    'Internal: CustomerAnalyticsDto of an analytics row with its insights; daysSinceLastOrder measured at as_of.';

CREATE FUNCTION address_dto(x addresses) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', x.id, 'recipientName', x.recipient_name, 'phoneNumber', x.phone_number,
        'street', x.street, 'ward', x.ward, 'district', x.district, 'province', x.province,
        'currentProvince', (SELECT p.current_name FROM customer_mgmt.provinces p WHERE p.name = x.province),
        'isDefaultShipping', x.is_default_shipping, 'isDefaultBilling', x.is_default_billing,
        'createdAt', x.created_at, 'updatedAt', x.updated_at)
$$;
COMMENT ON FUNCTION address_dto(addresses) IS
    'Internal: AddressDto; currentProvince is the province in force since 2025 for a former one.';

CREATE FUNCTION order_summary_dto(o orders) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', o.id, 'status', o.status, 'totalAmount', o.total_amount,
        'orderDate', o.order_date, 'completedAt', o.completed_at,
        'itemCount', coalesce(sum(i.quantity), 0), 'lineCount', count(i.id),
        'itemsTotal', coalesce(sum(i.unit_price * i.quantity), 0))
      FROM customer_mgmt.order_items i WHERE i.order_id = o.id
$$;
COMMENT ON FUNCTION order_summary_dto(orders) IS
    'Internal: OrderSummaryDto: id, status, totalAmount, orderDate, completedAt, itemCount (units), lineCount, itemsTotal.';

CREATE FUNCTION note_dto(n customer_notes) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', n.id, 'customerId', n.customer_id, 'authorId', n.author_id,
        'authorName', (SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = n.author_id),
        'title', n.title, 'content', n.content, 'type', n.type, 'priority', n.priority,
        'isInternal', n.is_internal, 'tags', n.tags, 'createdAt', n.created_at, 'updatedAt', n.updated_at)
$$;
COMMENT ON FUNCTION note_dto(customer_notes) IS 'Internal: CustomerNoteDto; authorName is NULL for system notes.';

-- The customer row, or PT404 (22023 for a malformed id).
CREATE FUNCTION find_customer(customer_id text) RETURNS users
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := customer_mgmt.check_uuid('customer_id', customer_id);
    u customer_mgmt.users;
BEGIN
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = v_id AND x.role = 'customer';
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', v_id::text);
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION find_customer(text) IS 'Internal: the customer with this id, PT404 when there is none, 22023 when the id is malformed.';

CREATE FUNCTION get_customer(customer_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    a customer_mgmt.customer_analytics;
    as_of timestamptz := now();
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    a.customer_id := u.id;
    RETURN jsonb_build_object(
        'id', u.id,
        'fullName', u.full_name,
        'email', u.email,
        'phoneNumber', u.phone_number,
        'status', u.status,
        'emailVerifiedAt', u.email_verified_at,
        'phoneVerifiedAt', u.phone_verified_at,
        'avatarUrl', u.avatar_url,
        'dateOfBirth', u.date_of_birth,
        'gender', u.gender,
        'province', u.province,
        'addresses', coalesce((SELECT jsonb_agg(customer_mgmt.address_dto(x) ORDER BY x.is_default_shipping DESC,
                                                x.is_default_billing DESC, x.created_at, x.id)
                                 FROM customer_mgmt.addresses x WHERE x.customer_id = u.id), '[]'),
        'defaultShippingAddress', (SELECT customer_mgmt.address_dto(x) FROM customer_mgmt.addresses x
                                    WHERE x.customer_id = u.id AND x.is_default_shipping),
        'defaultBillingAddress', (SELECT customer_mgmt.address_dto(x) FROM customer_mgmt.addresses x
                                   WHERE x.customer_id = u.id AND x.is_default_billing),
        'analytics', customer_mgmt.customer_analytics_dto(a, as_of),
        'segments', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', s.id, 'name', s.name, 'description', s.description, 'colorCode', s.color_code,
                       'isSystem', s.is_system, 'assignedAt', sa.assigned_at, 'assignedBy', sa.assigned_by,
                       'expiresAt', sa.expires_at)
                   ORDER BY sa.assigned_at, s.name)
              FROM customer_mgmt.customer_segment_assignments sa
              JOIN customer_mgmt.customer_segments s ON s.id = sa.segment_id
             WHERE sa.customer_id = u.id AND (sa.expires_at IS NULL OR sa.expires_at > as_of)), '[]'),
        'recentOrders', coalesce((
            SELECT jsonb_agg(customer_mgmt.order_summary_dto(o) ORDER BY o.order_date DESC, o.id DESC)
              FROM (SELECT * FROM customer_mgmt.orders x WHERE x.customer_id = u.id
                     ORDER BY x.order_date DESC, x.id DESC LIMIT 5) o), '[]'),
        'recentNotes', coalesce((
            SELECT jsonb_agg(customer_mgmt.note_dto(n) ORDER BY n.created_at DESC, n.id DESC)
              FROM (SELECT * FROM customer_mgmt.customer_notes x WHERE x.customer_id = u.id
                     ORDER BY x.created_at DESC, x.id DESC LIMIT 5) n), '[]'),
        'createdAt', u.created_at,
        'updatedAt', u.updated_at,
        'lastLoginAt', u.last_login_at);
END
$$;
COMMENT ON FUNCTION get_customer(text) IS
    'Staff: CustomerDetailDto of a customer: profile, addresses, analytics with insights, segments, 5 most recent orders and notes. PT404 for an unknown id, 22023 for a malformed one.';

-------------------------------------------------------------------------------
-- get_customer_orders: order history
-------------------------------------------------------------------------------
CREATE FUNCTION get_customer_orders(
    customer_id  text,
    status       text DEFAULT NULL,
    date_from    timestamptz DEFAULT NULL,
    date_to      timestamptz DEFAULT NULL,
    sort_order   text DEFAULT 'DESC',
    page         integer DEFAULT 1,
    page_size    integer DEFAULT 20
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    v_status customer_mgmt.order_status;
    descending boolean := customer_mgmt.check_sort_order(coalesce(sort_order, 'DESC')) = 'DESC';
    total bigint;
    data jsonb;
BEGIN
    IF status IS NOT NULL THEN
        v_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.order_status);
    END IF;
    PERFORM customer_mgmt.check_time_range('date_from', date_from, 'date_to', date_to);
    PERFORM customer_mgmt.check_page(page, page_size);

    SELECT count(*) INTO total FROM customer_mgmt.orders o
     WHERE o.customer_id = u.id AND (v_status IS NULL OR o.status = v_status)
       AND (date_from IS NULL OR o.order_date >= date_from) AND (date_to IS NULL OR o.order_date <= date_to);
    SELECT coalesce(jsonb_agg(customer_mgmt.order_summary_dto(o.x) ORDER BY o.n), '[]') INTO data
      FROM (SELECT x, row_number() OVER (ORDER BY
                       CASE WHEN descending THEN x.order_date END DESC, CASE WHEN descending THEN x.id END DESC,
                       CASE WHEN NOT descending THEN x.order_date END, CASE WHEN NOT descending THEN x.id END) AS n
              FROM customer_mgmt.orders x
             WHERE x.customer_id = u.id AND (v_status IS NULL OR x.status = v_status)
               AND (date_from IS NULL OR x.order_date >= date_from) AND (date_to IS NULL OR x.order_date <= date_to)) o
     WHERE o.n > (page - 1)::bigint * page_size AND o.n <= page::bigint * page_size;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_orders(text, text, timestamptz, timestamptz, text, integer, integer) IS
    'Staff: a customer''s orders, filtered by status and order date (both ends inclusive), newest first by default, with item counts and totals.';

-------------------------------------------------------------------------------
-- update_customer_status (BE.03.3)
-------------------------------------------------------------------------------
CREATE FUNCTION update_customer_status(customer_id text, status text, reason text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := customer_mgmt.check_uuid('customer_id', customer_id);
    new_status customer_mgmt.user_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.user_status);
    v_reason text := customer_mgmt.check_text('reason', reason, 1000, false);
    actor uuid := customer_mgmt.current_actor();
    recent_hours integer := customer_mgmt.setting('status.recent_activity_hours')::integer;
    u customer_mgmt.users;
    a customer_mgmt.customer_analytics;
    old_status customer_mgmt.user_status;
    open_orders bigint;
    changed_at timestamptz := now();
    outbox_id bigint;
BEGIN
    -- the row lock orders this change after any concurrent order insert
    -- (record_order locks the same row)
    SELECT * INTO u FROM customer_mgmt.users x
     WHERE x.id = v_id AND x.role = 'customer'
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', v_id::text);
    END IF;
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    old_status := u.status;

    IF old_status = new_status THEN
        -- reported, not recorded twice
        RETURN customer_mgmt.customer_list_item(u, a, changed_at) || jsonb_build_object('statusChanged', false);
    END IF;

    -- leaving active obeys design section 8.1; reactivation is always allowed
    IF old_status = 'active' THEN
        SELECT count(*) INTO open_orders FROM customer_mgmt.orders o
         WHERE o.customer_id = u.id AND o.status IN ('pending', 'processing');
        IF open_orders > 0 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'raise_exception',
                MESSAGE = 'Cannot deactivate customer with pending orders',
                DETAIL = format('Customer %s has %s pending or processing order(s).', u.id, open_orders),
                HINT = 'Complete or cancel the orders first.';
        END IF;
        -- never logged in counts as no recent activity
        IF u.last_login_at > changed_at - make_interval(hours => recent_hours) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'raise_exception',
                MESSAGE = 'Cannot deactivate customer with recent activity',
                DETAIL = format('Customer %s logged in at %s, within the last %s hours.', u.id, u.last_login_at, recent_hours),
                HINT = 'Try again later; the limit is the setting status.recent_activity_hours.';
        END IF;
    END IF;

    UPDATE customer_mgmt.users x SET status = new_status WHERE x.id = u.id RETURNING * INTO u;
    INSERT INTO customer_mgmt.customer_status_history (customer_id, old_status, new_status, reason, actor_id, changed_at)
    VALUES (u.id, old_status, new_status, v_reason, actor, changed_at);
    INSERT INTO customer_mgmt.event_outbox AS e (event_type, customer_id, payload)
    VALUES ('customer.status_changed', u.id,
            jsonb_build_object('customerId', u.id, 'oldStatus', old_status, 'newStatus', new_status,
                               'reason', v_reason, 'actorId', actor, 'changedAt', changed_at))
    RETURNING e.id INTO outbox_id;
    PERFORM pg_notify('customer_mgmt_events', jsonb_build_object('id', outbox_id, 'eventType', 'customer.status_changed',
                                                                 'customerId', u.id)::text);
    RETURN customer_mgmt.customer_list_item(u, a, changed_at) || jsonb_build_object('statusChanged', true);
END
$$;
COMMENT ON FUNCTION update_customer_status(text, text, text) IS
    'Admin: sets a customer''s status (active, inactive, suspended). Leaving active is refused (P0001) while an order is pending or processing or after a login in the last 24 hours; every change is recorded in customer_status_history with the actor and emits customer.status_changed. Returns the list item with statusChanged.';

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA customer_mgmt FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    get_customers(text, text, text, timestamptz, timestamptz, numeric, numeric, integer, integer,
                  text, text, integer, integer, boolean, timestamptz),
    get_customer(text),
    get_customer_orders(text, text, timestamptz, timestamptz, text, integer, integer)
TO customer_mgmt_staff;
GRANT EXECUTE ON FUNCTION update_customer_status(text, text, text) TO customer_mgmt_admin;
