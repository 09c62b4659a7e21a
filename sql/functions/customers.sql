-- customer_mgmt: The customer API (docs/reference.md, Customers): the list with its filters and sorts,
-- the 360 degree detail, the analytics, the order history and the account status.

-- The list item of a customer (the columns an admin screen shows).
CREATE OR REPLACE FUNCTION customer_list_item(u users, a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', u.id,
        'externalId', u.external_id,
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
        'lastLoginAt', u.last_login_at,
        'province', u.province,
        'tags', to_jsonb(customer_mgmt.customer_tag_array(u.id)))
$$;
COMMENT ON FUNCTION customer_list_item(users, customer_analytics, timestamptz) IS
    'Internal: the list item of a customer (id, externalId, fullName, email, phoneNumber, status, segment, totalOrders, totalSpent, lastOrderDate, daysSinceLastOrder, churnRiskScore, createdAt, lastLoginAt, province, tags).';

-- The folded names of a favourites array ([{"category": …}, …]), as
-- segments compare them.
CREATE OR REPLACE FUNCTION favorite_keys(favorites jsonb, key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(customer_mgmt.search_fold(e ->> key) ORDER BY n), '{}')
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(favorites) = 'array' THEN favorites END)
           WITH ORDINALITY AS x (e, n)
     WHERE e ->> key IS NOT NULL
$$;
COMMENT ON FUNCTION favorite_keys(jsonb, text) IS
    'Internal: the names under key of a favourites array, folded (case and accents), in order; {} for none.';

-- The list's table (customer_list) follows users and customer_analytics:
-- customer_list_rows() defines every column, and the triggers below copy
-- each change.  A customer's row is inserted with the analytics row
-- (users_after_insert, ensure_analytics_rows); a user who stops being a
-- customer leaves the list.
CREATE OR REPLACE FUNCTION customer_list_rows() RETURNS SETOF customer_list
    LANGUAGE sql STABLE PARALLEL SAFE
    -- no SET clause: inlined, a filter on customer_id reaches the indexes
AS $$
    SELECT u.id, u.created_at, u.full_name, u.email, u.status, u.last_login_at,
           coalesce(a.segment, 'new'), coalesce(a.total_spent, 0), coalesce(a.total_orders, 0), a.last_order_date,
           coalesce(a.churn_risk_score, 0),
           u.gender, u.date_of_birth, customer_mgmt.search_fold(coalesce(p.current_name, u.province)),
           coalesce(a.average_order_value, 0), coalesce(a.engagement_score, 0), coalesce(a.total_sessions, 0),
           coalesce(a.bounce_rate, 0), coalesce(a.conversion_rate, 0), a.rfm_score,
           customer_mgmt.rfm_group(a.rfm_score),
           customer_mgmt.favorite_keys(a.favorite_categories, 'category'),
           customer_mgmt.favorite_keys(a.favorite_brands, 'brand'),
           u.email_consent, u.sms_consent, customer_mgmt.search_key(u.full_name, u.email, u.phone_number)
      FROM customer_mgmt.users u
      LEFT JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id
      LEFT JOIN customer_mgmt.provinces p ON p.name = u.province
     WHERE u.role = 'customer'
$$;
COMMENT ON FUNCTION customer_list_rows() IS
    'Internal: every customer''s customer_list row as users, customer_analytics and provinces give it now (what the list''s triggers keep the table equal to).';

-- Statement-level, with the transition tables (as analytics_list_sync): a
-- statement that changes many customers (an import, an UPDATE by the shop)
-- gets one set-based rewrite of their list rows instead of a row trigger's
-- plan per row (0.6 ms each).  Only the customers whose listed columns changed
-- are rewritten; a user who is no longer a customer leaves the list.
CREATE OR REPLACE FUNCTION users_list_sync() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM customer_mgmt.customer_list l USING new_rows n WHERE l.customer_id = n.id AND n.role <> 'customer';
    PERFORM customer_mgmt.list_rows_sync(ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.role = 'customer'
           AND (o.full_name, o.email, o.phone_number, o.status, o.last_login_at, o.created_at, o.role, o.gender,
                o.date_of_birth, o.province, o.email_consent, o.sms_consent)
               IS DISTINCT FROM
               (n.full_name, n.email, n.phone_number, n.status, n.last_login_at, n.created_at, n.role, n.gender,
                n.date_of_birth, n.province, n.email_consent, n.sms_consent)));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_list_sync() IS
    'Statement trigger: rewrites the customer_list rows of the customers whose listed columns (name, e-mail, phone, status, registration, last login, gender, birth date, province, marketing consent) changed, in one statement; a user who is no longer a customer leaves it.';

-- Insert or rewrite customers' list rows from customer_list_rows(), in one
-- statement.
CREATE OR REPLACE FUNCTION list_rows_sync(customer_ids uuid[]) RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO customer_mgmt.customer_list AS l
    SELECT * FROM customer_mgmt.customer_list_rows() r WHERE r.customer_id = ANY (list_rows_sync.customer_ids)
    ON CONFLICT ON CONSTRAINT customer_list_pkey DO UPDATE
       SET (created_at, full_name, email, status, last_login_at, segment, total_spent, total_orders, last_order_date,
            churn_risk_score, gender, date_of_birth, province_key, average_order_value, engagement_score,
            total_sessions, bounce_rate, conversion_rate, rfm_score, rfm_group, category_keys, brand_keys,
            email_consent, sms_consent, search_key)
         = (excluded.created_at, excluded.full_name, excluded.email, excluded.status, excluded.last_login_at,
            excluded.segment, excluded.total_spent, excluded.total_orders, excluded.last_order_date,
            excluded.churn_risk_score, excluded.gender, excluded.date_of_birth, excluded.province_key,
            excluded.average_order_value, excluded.engagement_score, excluded.total_sessions, excluded.bounce_rate,
            excluded.conversion_rate, excluded.rfm_score, excluded.rfm_group, excluded.category_keys,
            excluded.brand_keys, excluded.email_consent, excluded.sms_consent, excluded.search_key)
$$;
COMMENT ON FUNCTION list_rows_sync(uuid[]) IS
    'Internal: inserts or rewrites the customer_list rows of customers from customer_list_rows(), in one statement.';

-- One customer's list row (registration).
CREATE OR REPLACE FUNCTION list_row_sync(customer_id uuid) RETURNS void
    LANGUAGE sql
AS $$
    SELECT customer_mgmt.list_rows_sync(ARRAY[list_row_sync.customer_id])
$$;
COMMENT ON FUNCTION list_row_sync(uuid) IS
    'Internal: inserts or rewrites a customer''s customer_list row from customer_list_rows().';

-- Statement-level, with the transition tables: the nightly run updates
-- 100,000s of analytics rows in one statement, and one join updates their
-- list rows (a row trigger ran an UPDATE per row).
CREATE OR REPLACE FUNCTION analytics_list_sync() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    -- the changed rows first, narrowed to what the list takes: an UPDATE
    -- joined to the transition tables themselves carries both whole rows
    -- (every analytics column) through its joins, and a night's 90,000
    -- rows then spill its sorts to disk
    WITH c AS MATERIALIZED (
        SELECT n.customer_id, n.segment, n.total_spent, n.total_orders, n.last_order_date, n.churn_risk_score,
               n.average_order_value, n.engagement_score, n.total_sessions, n.bounce_rate, n.conversion_rate,
               n.rfm_score,
               -- the favourites are folded when they change
               CASE WHEN n.favorite_categories IS DISTINCT FROM o.favorite_categories
                    THEN customer_mgmt.favorite_keys(n.favorite_categories, 'category') END AS category_keys,
               n.favorite_categories IS DISTINCT FROM o.favorite_categories AS categories_changed,
               CASE WHEN n.favorite_brands IS DISTINCT FROM o.favorite_brands
                    THEN customer_mgmt.favorite_keys(n.favorite_brands, 'brand') END AS brand_keys,
               n.favorite_brands IS DISTINCT FROM o.favorite_brands AS brands_changed
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE (o.segment, o.total_spent, o.total_orders, o.last_order_date, o.churn_risk_score, o.average_order_value,
                o.engagement_score, o.total_sessions, o.bounce_rate, o.conversion_rate, o.rfm_score,
                o.favorite_categories, o.favorite_brands, o.customer_id)
               IS DISTINCT FROM
               (n.segment, n.total_spent, n.total_orders, n.last_order_date, n.churn_risk_score, n.average_order_value,
                n.engagement_score, n.total_sessions, n.bounce_rate, n.conversion_rate, n.rfm_score,
                n.favorite_categories, n.favorite_brands, n.customer_id))
    UPDATE customer_mgmt.customer_list l
       SET segment = c.segment, total_spent = c.total_spent, total_orders = c.total_orders,
           last_order_date = c.last_order_date, churn_risk_score = c.churn_risk_score,
           average_order_value = c.average_order_value, engagement_score = c.engagement_score,
           total_sessions = c.total_sessions, bounce_rate = c.bounce_rate, conversion_rate = c.conversion_rate,
           rfm_score = c.rfm_score, rfm_group = customer_mgmt.rfm_group(c.rfm_score),
           category_keys = CASE WHEN c.categories_changed THEN c.category_keys ELSE l.category_keys END,
           brand_keys = CASE WHEN c.brands_changed THEN c.brand_keys ELSE l.brand_keys END
      FROM c
     WHERE l.customer_id = c.customer_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_list_sync() IS
    'Statement trigger: copies the analytics that the list and segments read (segment, spend, orders, last order, churn risk, order value, engagement, sessions, rates, RFM, favourites) into customer_list for the rows whose values changed.';

-- The list's filters (CustomerQueryDto and what 1.4 adds) as the keys of
-- one JSON object: get_customers' and export_customers' arguments in
-- camelCase, which a saved view stores (customer_views).  sortBy and
-- sortOrder travel with them.
CREATE OR REPLACE FUNCTION customer_filter_keys() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['search', 'status', 'segment', 'segmentId', 'registeredAfter', 'registeredBefore', 'minTotalSpent',
                 'maxTotalSpent', 'minOrders', 'maxDaysSinceLastOrder', 'sortBy', 'sortOrder', 'rfmGroup', 'province',
                 'gender', 'minAge', 'maxAge', 'hasOrders', 'hasPendingOrder', 'externalId', 'tag']
$$;
COMMENT ON FUNCTION customer_filter_keys() IS
    'Internal: the keys of a filters object (the list''s filter and sort arguments in camelCase), in the arguments'' order.';

-- The name an error gives a filter: the argument (min_total_spent) when the
-- filters came from arguments, the key as written (minTotalSpent) when they
-- came from the JSON object of a saved view, as errors in every JSON
-- argument name its keys (docs/reference.md, Conventions).
CREATE OR REPLACE FUNCTION filter_field(key text, object_name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN object_name IS NULL THEN lower(regexp_replace(key, '([A-Z])', '_\1', 'g'))
                ELSE key END
$$;
COMMENT ON FUNCTION filter_field(text, text) IS
    'Internal: how an error names a filter: the argument (snake_case) when object_name is NULL, else the key as written.';

-- The condition "column = value" of an enum filter, the value checked
-- (22023 naming the field) and quoted.
CREATE OR REPLACE FUNCTION enum_condition(column_name text, field text, value text, allowed anyenum) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%s = %L::%s', column_name, customer_mgmt.check_enum(field, value, allowed), pg_typeof(allowed))
$$;
COMMENT ON FUNCTION enum_condition(text, text, text, anyenum) IS
    'Internal: the SQL condition column_name = value for an enum filter, the value checked by check_enum (22023 naming field) and quoted.';

-- A filter's value as the type of sample (NULL::numeric, …); NULL when the
-- key is absent or null; 22023 naming the filter when it does not convert.
CREATE OR REPLACE FUNCTION filter_value(filters jsonb, key text, object_name text, sample anyelement) RETURNS anyelement
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb := filters -> key;
    result sample%TYPE;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) IN ('object', 'array') THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field(key, object_name), 'must be a single value',
                                            left(v::text, 100));
    END IF;
    BEGIN
        EXECUTE format('SELECT %L::%s', v #>> '{}', pg_typeof(sample)) INTO result;
    EXCEPTION WHEN data_exception THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field(key, object_name),
            CASE pg_typeof(sample) WHEN 'numeric'::regtype THEN 'must be a number'
                                   WHEN 'integer'::regtype THEN 'must be a whole number'
                                   WHEN 'boolean'::regtype THEN 'must be true or false'
                                   WHEN 'uuid'::regtype THEN 'must be an id (uuid)'
                                   ELSE 'must be a time' END,
            left(v #>> '{}', 100));
    END;
    RETURN result;
END
$$;
COMMENT ON FUNCTION filter_value(jsonb, text, text, anyelement) IS
    'Internal: a filter''s value converted to the type of sample; NULL when absent; 22023 naming the filter when it does not convert.';

-- The list's filters and sort, checked: the SQL condition over
-- customer_list l, every value a quoted literal, and the ORDER BY.
-- get_customers, the export and saved views share it.  Errors name the
-- argument, or object_name.key for a saved view's filters.
CREATE OR REPLACE FUNCTION customer_filter(filters jsonb, as_of timestamptz, object_name text DEFAULT NULL,
    OUT conditions text, OUT walk_conditions text, OUT estimate_conditions text, OUT key_column text,
    OUT order_by text, OUT pattern text, OUT gathered boolean, OUT applied jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    search text := customer_mgmt.filter_value(filters, 'search', object_name, NULL::text);
    status text := customer_mgmt.filter_value(filters, 'status', object_name, NULL::text);
    segment text := customer_mgmt.filter_value(filters, 'segment', object_name, NULL::text);
    segment_id uuid := customer_mgmt.filter_value(filters, 'segmentId', object_name, NULL::uuid);
    registered_after timestamptz := customer_mgmt.filter_value(filters, 'registeredAfter', object_name, NULL::timestamptz);
    registered_before timestamptz := customer_mgmt.filter_value(filters, 'registeredBefore', object_name, NULL::timestamptz);
    min_total_spent numeric := customer_mgmt.filter_value(filters, 'minTotalSpent', object_name, NULL::numeric);
    max_total_spent numeric := customer_mgmt.filter_value(filters, 'maxTotalSpent', object_name, NULL::numeric);
    min_orders integer := customer_mgmt.filter_value(filters, 'minOrders', object_name, NULL::integer);
    max_days integer := customer_mgmt.filter_value(filters, 'maxDaysSinceLastOrder', object_name, NULL::integer);
    rfm_group text := customer_mgmt.filter_value(filters, 'rfmGroup', object_name, NULL::text);
    province text := customer_mgmt.filter_value(filters, 'province', object_name, NULL::text);
    gender text := customer_mgmt.filter_value(filters, 'gender', object_name, NULL::text);
    min_age integer := customer_mgmt.filter_value(filters, 'minAge', object_name, NULL::integer);
    max_age integer := customer_mgmt.filter_value(filters, 'maxAge', object_name, NULL::integer);
    has_orders boolean := customer_mgmt.filter_value(filters, 'hasOrders', object_name, NULL::boolean);
    has_pending boolean := customer_mgmt.filter_value(filters, 'hasPendingOrder', object_name, NULL::boolean);
    external_id text := customer_mgmt.filter_value(filters, 'externalId', object_name, NULL::text);
    tag text := customer_mgmt.filter_value(filters, 'tag', object_name, NULL::text);
    sort_by text := coalesce(customer_mgmt.filter_value(filters, 'sortBy', object_name, NULL::text), 'createdAt');
    sort_order text := coalesce(customer_mgmt.filter_value(filters, 'sortOrder', object_name, NULL::text), 'DESC');
    -- the search, as a test of each list row and as the customers gathered
    -- from the trigram index (which one runs: below)
    search_test text;
    search_gather text;
    by_shop_id text;
    dir text;
    nulls_last boolean := false;
    conds text[] := ARRAY['true'];
    today date;
    unknown text;
    v numeric;
BEGIN
    IF jsonb_typeof(filters) IS DISTINCT FROM 'object' THEN
        PERFORM customer_mgmt.raise_invalid(coalesce(object_name, 'filters'), 'must be a JSON object', left(filters::text, 100));
    END IF;
    SELECT k INTO unknown FROM jsonb_object_keys(filters) k WHERE k <> ALL (customer_mgmt.customer_filter_keys()) LIMIT 1;
    IF unknown IS NOT NULL THEN
        PERFORM customer_mgmt.raise_invalid(coalesce(object_name, 'filters'),
            'has an unknown key; the keys are ' || array_to_string(customer_mgmt.customer_filter_keys(), ', '), unknown);
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM customer_mgmt.raise_invalid('as_of', 'must be a finite time', as_of::text);
    END IF;
    pattern := customer_mgmt.search_pattern(search);
    -- A search matches the folded name, e-mail and phone (the list row's
    -- search_key), or the shop's own id exactly (a branch on its own index:
    -- written as an OR inside the gathering sub-select, the planner
    -- mis-estimated it into a walk of the whole list).  Two ways to run it,
    -- chosen from how many customers the term matches, as the planner
    -- estimates it from the statistics of customer_list.search_key
    -- (docs/architecture.md, "How a search runs"):
    --   a rare term: its customers are gathered from the trigram index on
    --   users, then filtered and sorted (customer_list has no trigram index:
    --   it would be rewritten with every change of the analytics);
    --   a frequent term (1 customer in 25 or more: nguyen, tran thi, @gmail,
    --   090): each list row is tested, in whatever order the other filters
    --   and the sort read them, which finds a page or 10,001 matches sooner
    --   than gathering hundreds of thousands of ids.
    IF pattern IS NOT NULL THEN
        -- (the shop's id is unique: a scalar sub-select, which the planner
        -- estimates as one row, where IN would count half the list)
        by_shop_id := format('SELECT u.id FROM customer_mgmt.users u WHERE u.external_id = %L AND u.role = ''customer''',
                             btrim(search));
        search_test := format('(l.search_key LIKE %L OR l.customer_id = (%s))', pattern, by_shop_id);
        search_gather := format('l.customer_id IN (SELECT u.id FROM customer_mgmt.users u WHERE u.role = ''customer'''
                                ' AND customer_mgmt.search_key(u.full_name, u.email, u.phone_number) LIKE %L'
                                ' UNION ALL %s)', pattern, by_shop_id);
        -- (a list never analysed, reltuples unknown: gathered; a term of
        -- one or two characters never: the trigram index holds no entry
        -- narrower than three, so gathering would read all of it and
        -- recheck every customer)
        gathered := char_length(regexp_replace(pattern, '\\(.)', '\1', 'g')) - 2 >= 3
                    AND coalesce(customer_mgmt.estimate_rows('SELECT 1 FROM customer_mgmt.customer_list l'
                                                             ' WHERE l.search_key LIKE $1', pattern)
                                 < (SELECT nullif(greatest(c.reltuples, 0), 0) FROM pg_catalog.pg_class c
                                     WHERE c.oid = 'customer_mgmt.customer_list'::regclass) / 25,
                                 true);
    ELSE
        gathered := false;
    END IF;
    IF status IS NOT NULL THEN
        conds := conds || customer_mgmt.enum_condition('l.status', customer_mgmt.filter_field('status', object_name), status,
                                                       NULL::customer_mgmt.user_status);
    END IF;
    IF segment IS NOT NULL THEN
        conds := conds || customer_mgmt.enum_condition('l.segment', customer_mgmt.filter_field('segment', object_name), segment,
                                                       NULL::customer_mgmt.lifecycle_segment);
    END IF;
    -- members of a saved segment: the assignments in force at as_of
    IF segment_id IS NOT NULL THEN
        PERFORM customer_mgmt.find_segment(segment_id);
        conds := conds || format('l.customer_id IN (SELECT x.customer_id FROM customer_mgmt.customer_segment_assignments x'
                                 ' WHERE x.segment_id = %L::uuid AND (x.expires_at IS NULL OR x.expires_at > %L::timestamptz))',
                                 segment_id, as_of);
    END IF;
    PERFORM customer_mgmt.check_time_range(customer_mgmt.filter_field('registeredAfter', object_name), registered_after,
                                           customer_mgmt.filter_field('registeredBefore', object_name), registered_before);
    IF registered_after IS NOT NULL THEN conds := conds || format('l.created_at >= %L::timestamptz', registered_after); END IF;
    IF registered_before IS NOT NULL THEN conds := conds || format('l.created_at <= %L::timestamptz', registered_before); END IF;
    IF min_total_spent IS NOT NULL THEN
        v := customer_mgmt.check_amount(customer_mgmt.filter_field('minTotalSpent', object_name), min_total_spent);
        conds := conds || format('l.total_spent >= %L::numeric', v);
    END IF;
    IF max_total_spent IS NOT NULL THEN
        v := customer_mgmt.check_amount(customer_mgmt.filter_field('maxTotalSpent', object_name), max_total_spent);
        conds := conds || format('l.total_spent <= %L::numeric', v);
    END IF;
    IF min_total_spent > max_total_spent THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('maxTotalSpent', object_name),
                                            'must not be less than min_total_spent', max_total_spent::text);
    END IF;
    IF min_orders < 0 THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('minOrders', object_name), 'must not be negative',
                                            min_orders::text);
    END IF;
    IF min_orders IS NOT NULL THEN conds := conds || format('l.total_orders >= %s', min_orders); END IF;
    IF max_days < 0 OR max_days > 100000 THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('maxDaysSinceLastOrder', object_name),
                                            'must be from 0 to 100000', max_days::text);
    END IF;
    -- days since the last order <= N  <=>  the last order is after as_of - (N + 1) days
    IF max_days IS NOT NULL THEN
        conds := conds || format('l.last_order_date > %L::timestamptz', as_of - make_interval(days => max_days + 1));
    END IF;
    IF rfm_group IS NOT NULL THEN
        IF rfm_group <> ALL (customer_mgmt.rfm_group_names()) THEN
            PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('rfmGroup', object_name),
                                                'must be one of ' || array_to_string(customer_mgmt.rfm_group_names(), ', '),
                                                rfm_group);
        END IF;
        conds := conds || format('l.rfm_group = %L', rfm_group);
    END IF;
    -- a province as segments compare it: a former one is the one it merged into
    IF province IS NOT NULL THEN
        conds := conds || format('l.province_key = %L',
                                 customer_mgmt.province_key(customer_mgmt.check_province(
                                     customer_mgmt.filter_field('province', object_name), province, true)));
    END IF;
    IF gender IS NOT NULL THEN
        conds := conds || customer_mgmt.enum_condition('l.gender', customer_mgmt.filter_field('gender', object_name), gender,
                                                       NULL::customer_mgmt.gender);
    END IF;
    -- whole years at the shop's date, as segments count them: age >= N
    -- <=> born on or before today N years ago (29 February: the 28th)
    IF min_age < 0 OR min_age > 150 THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('minAge', object_name), 'must be from 0 to 150',
                                            min_age::text);
    END IF;
    IF max_age < 0 OR max_age > 150 THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('maxAge', object_name), 'must be from 0 to 150',
                                            max_age::text);
    END IF;
    IF min_age > max_age THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('maxAge', object_name), 'must not be less than min_age',
                                            max_age::text);
    END IF;
    today := (as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date;
    IF min_age IS NOT NULL THEN
        conds := conds || format('l.date_of_birth <= %L::date', (today - make_interval(years => min_age))::date);
    END IF;
    IF max_age IS NOT NULL THEN
        conds := conds || format('l.date_of_birth > %L::date', (today - make_interval(years => max_age + 1))::date);
    END IF;
    -- ordered: at least one completed order (totalOrders > 0)
    IF has_orders THEN conds := conds || 'l.total_orders > 0'::text; END IF;
    IF NOT has_orders THEN conds := conds || 'l.total_orders = 0'::text; END IF;
    -- an order placed and not yet shipped (pending or processing): the
    -- partial index orders_open_customer_id_idx holds exactly these
    IF has_pending IS NOT NULL THEN
        conds := conds || (CASE WHEN has_pending THEN '' ELSE 'NOT ' END
                           || 'EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = l.customer_id'
                           || ' AND o.status IN (''pending'', ''processing''))');
    END IF;
    IF external_id IS NOT NULL THEN
        conds := conds || format('l.customer_id IN (SELECT u.id FROM customer_mgmt.users u WHERE u.external_id = %L'
                                 ' AND u.role = ''customer'')',
                                 customer_mgmt.check_text(customer_mgmt.filter_field('externalId', object_name), external_id, 200));
    END IF;
    -- a tag, matched as tags are: folded (customer_tags' index on tag_key)
    IF tag IS NOT NULL THEN
        conds := conds || format('l.customer_id IN (SELECT t.customer_id FROM customer_mgmt.customer_tags t WHERE t.tag_key = %L)',
                                 customer_mgmt.search_fold(customer_mgmt.check_text(customer_mgmt.filter_field('tag', object_name),
                                                                                   tag, 50)));
    END IF;

    IF upper(btrim(sort_order)) NOT IN ('ASC', 'DESC') THEN
        PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('sortOrder', object_name), 'must be ASC or DESC', sort_order);
    END IF;
    dir := upper(btrim(sort_order));
    CASE sort_by
        WHEN 'createdAt' THEN key_column := 'l.created_at';
        WHEN 'fullName' THEN key_column := 'l.full_name';
        WHEN 'email' THEN key_column := 'l.email';
        WHEN 'lastLoginAt' THEN key_column := 'l.last_login_at'; nulls_last := true;
        WHEN 'totalSpent' THEN key_column := 'l.total_spent';
        WHEN 'totalOrders' THEN key_column := 'l.total_orders';
        WHEN 'lastOrderDate' THEN key_column := 'l.last_order_date'; nulls_last := true;
        WHEN 'churnRiskScore' THEN key_column := 'l.churn_risk_score';
        WHEN 'predictedLtv' THEN
            -- the CLV model's, computed when read (docs/clv.md): no index
            -- serves it, so each match's is computed before the page is cut
            key_column := format('(SELECT customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()),'
                                 ' (SELECT customer_mgmt.clv_fit_gamma_gamma()), %L::date,'
                                 ' (SELECT customer_mgmt.clv_discount_rate()), ''predicted_ltv'')'
                                 ' FROM customer_mgmt.customer_clv c WHERE c.customer_id = l.customer_id)',
                                 customer_mgmt.clv_day(as_of));
            nulls_last := true;
        ELSE
            PERFORM customer_mgmt.raise_invalid(customer_mgmt.filter_field('sortBy', object_name),
                'must be one of createdAt, fullName, email, lastLoginAt, totalSpent, totalOrders, lastOrderDate, churnRiskScore, predictedLtv',
                sort_by);
    END CASE;
    walk_conditions := array_to_string(conds || search_test, ' AND ');
    -- for the planner's estimate of the matches: the search's pattern as
    -- $1, bound by the caller, so that the EXPLAIN's text holds no search
    -- (pg_stat_statements keeps a utility statement's text as written);
    -- the shop's id, one customer at most, left out
    estimate_conditions := array_to_string(conds || CASE WHEN pattern IS NOT NULL THEN 'l.search_key LIKE $1' END, ' AND ');
    conditions := CASE WHEN gathered THEN array_to_string(conds || search_gather, ' AND ') ELSE walk_conditions END;
    order_by := format(' ORDER BY %s %s%s, l.customer_id %s', key_column, dir,
                       CASE WHEN nulls_last THEN ' NULLS LAST' ELSE '' END, dir);
    -- the values as read (a time with its offset, a number as a number),
    -- so that a saved view means the same in any session's DateStyle and
    -- time zone
    applied := jsonb_strip_nulls(jsonb_build_object(
        'search', search, 'status', status, 'segment', segment, 'segmentId', segment_id,
        'registeredAfter', registered_after, 'registeredBefore', registered_before, 'minTotalSpent', min_total_spent,
        'maxTotalSpent', max_total_spent, 'minOrders', min_orders, 'maxDaysSinceLastOrder', max_days,
        'rfmGroup', rfm_group, 'province', province, 'gender', gender, 'minAge', min_age, 'maxAge', max_age,
        'hasOrders', has_orders, 'hasPendingOrder', has_pending, 'externalId', external_id, 'tag', tag))
               || jsonb_build_object('sortBy', sort_by, 'sortOrder', dir);
END
$$;
COMMENT ON FUNCTION customer_filter(jsonb, timestamptz, text) IS
    'Internal: the list''s filters and sort (an object with the keys of customer_filter_keys()) checked (22023 naming the argument, or the key of the JSON object object_name; PT404 for a segment): the SQL condition over customer_list l with every value a quoted literal (a search gathered from the trigram index or tested on each row, chosen from the term''s estimated frequency: either gives the same rows), the condition for walking the sort key''s index (a search tested on each row), the condition for the planner''s estimate (a search''s pattern as $1), the sort key column, the ORDER BY, the search''s LIKE pattern (NULL for none), whether the search is gathered, and the filters as applied (nulls dropped, the sort filled in). STABLE as far as its answer goes: which of the two equivalent conditions it writes follows the statistics of the moment.';

-- The filters object of the list's arguments (get_customers,
-- export_customers): a saved view's filters and sort (customer_views),
-- then every argument given, which replaces the view's value.
CREATE OR REPLACE FUNCTION list_filters(
    search text, status text, segment text, segment_id uuid, registered_after timestamptz,
    registered_before timestamptz, min_total_spent numeric, max_total_spent numeric, min_orders integer,
    max_days_since_last_order integer, sort_by text, sort_order text, rfm_group text, province text, gender text,
    min_age integer, max_age integer, has_orders boolean, has_pending_order boolean, external_id text, tag text,
    view_id uuid)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT v.filters || jsonb_strip_nulls(jsonb_build_object('sortBy', v.sort_by, 'sortOrder', v.sort_order))
                       FROM customer_mgmt.visible_customer_view(list_filters.view_id) v
                      WHERE list_filters.view_id IS NOT NULL), '{}')
           || jsonb_strip_nulls(jsonb_build_object(
                  'search', search, 'status', status, 'segment', segment, 'segmentId', segment_id,
                  'registeredAfter', registered_after, 'registeredBefore', registered_before,
                  'minTotalSpent', min_total_spent, 'maxTotalSpent', max_total_spent, 'minOrders', min_orders,
                  'maxDaysSinceLastOrder', max_days_since_last_order, 'sortBy', sort_by, 'sortOrder', sort_order,
                  'rfmGroup', rfm_group, 'province', province, 'gender', gender, 'minAge', min_age, 'maxAge', max_age,
                  'hasOrders', has_orders, 'hasPendingOrder', has_pending_order, 'externalId', external_id, 'tag', tag))
$$;
COMMENT ON FUNCTION list_filters(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                 text, text, text, text, text, integer, integer, boolean, boolean, text, text, uuid) IS
    'Internal: the filters object of get_customers'' and export_customers'' arguments: the saved view''s (view_id; PT404 when the caller may not see it), each given argument replacing its value.';

-- get_customers: the customer list
CREATE OR REPLACE FUNCTION get_customers(
    search                     text DEFAULT NULL,
    status                     text DEFAULT NULL,
    segment                    text DEFAULT NULL,
    segment_id                 uuid DEFAULT NULL,
    registered_after           timestamptz DEFAULT NULL,
    registered_before          timestamptz DEFAULT NULL,
    min_total_spent            numeric DEFAULT NULL,
    max_total_spent            numeric DEFAULT NULL,
    min_orders                 integer DEFAULT NULL,
    max_days_since_last_order  integer DEFAULT NULL,
    sort_by                    text DEFAULT NULL,
    sort_order                 text DEFAULT NULL,
    page                       integer DEFAULT 1,
    page_size                  integer DEFAULT 20,
    exact_total                boolean DEFAULT false,
    as_of                      timestamptz DEFAULT now(),
    rfm_group                  text DEFAULT NULL,
    province                   text DEFAULT NULL,
    gender                     text DEFAULT NULL,
    min_age                    integer DEFAULT NULL,
    max_age                    integer DEFAULT NULL,
    has_orders                 boolean DEFAULT NULL,
    has_pending_order          boolean DEFAULT NULL,
    external_id                text DEFAULT NULL,
    view_id                    uuid DEFAULT NULL,
    tag                        text DEFAULT NULL
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- every value is a quoted literal in f.conditions; only whitelisted
    -- column names become SQL text
    f record := customer_mgmt.customer_filter(
        customer_mgmt.list_filters(search, status, segment, segment_id, registered_after, registered_before, min_total_spent,
                                   max_total_spent, min_orders, max_days_since_last_order, sort_by, sort_order, rfm_group,
                                   province, gender, min_age, max_age, has_orders, has_pending_order, external_id, tag,
                                   view_id),
        as_of);
    where_clause text := ' FROM customer_mgmt.customer_list l WHERE ' || f.conditions;
    total bigint;
    estimate boolean := false;
    -- the matches with their sort key, and the same order over them
    matches text := 'SELECT l.customer_id, ' || f.key_column || ' AS sort_key' || where_clause;
    matches_order_by text := replace(replace(f.order_by, f.key_column, 'm.sort_key'), 'l.customer_id', 'm.customer_id');
    -- the items of a page, in order, from a query of the page's ids
    items constant text := 'SELECT coalesce(jsonb_agg(customer_mgmt.customer_list_item(u, a, $3) ORDER BY p.n), ''[]'')'
        || ' FROM (SELECT p.customer_id, row_number() OVER () AS n FROM (%s LIMIT $1 OFFSET $2) p) p'
        || ' JOIN customer_mgmt.users u ON u.id = p.customer_id'
        || ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = p.customer_id';
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    -- The count stops at 10,001.  With at most 10,000 matches, they are all
    -- the matches: the page is sorted from them alone (bounded work whatever
    -- the correlation between the filters and the sort key: loyal customers
    -- registered long ago), and only the page's customers are then read from
    -- users and customer_analytics for their JSON.  A search keeps the
    -- matches it counted (its trigram index scan is the cost, so it runs
    -- once); other filters count from their indexes alone, which is cheaper
    -- than keeping 10,001 rows when the matches are many.
    IF f.gathered THEN
        EXECUTE 'WITH m AS MATERIALIZED (' || matches || ' LIMIT 10001), n AS (SELECT count(*) AS n FROM m)'
                || ' SELECT n.n, CASE WHEN n.n <= 10000 THEN ('
                || format(items, 'SELECT m.customer_id FROM m' || matches_order_by) || ') END FROM n'
           INTO total, data
          USING page_size, (page - 1)::bigint * page_size, as_of;
    ELSE
        EXECUTE 'SELECT count(*) FROM (SELECT 1' || where_clause || ' LIMIT 10001) c' INTO total;
        IF total <= 10000 THEN
            EXECUTE format(items, 'WITH m AS MATERIALIZED (' || matches || ') SELECT m.customer_id FROM m'
                                  || matches_order_by)
               INTO data
              USING page_size, (page - 1)::bigint * page_size, as_of;
        END IF;
    END IF;

    IF total > 10000 THEN
        IF exact_total THEN
            EXECUTE 'SELECT count(*)' || where_clause INTO total;
        ELSE
            total := greatest(10001, customer_mgmt.estimate_rows('SELECT 1 FROM customer_mgmt.customer_list l WHERE '
                                                                 || f.estimate_conditions, f.pattern));
            estimate := true;
        END IF;
        -- more than 10,000 matches: they are dense, and the sort key's index,
        -- walked and filtered (a search tested on each row), finds a page quickly
        EXECUTE format(items, 'SELECT l.customer_id FROM customer_mgmt.customer_list l WHERE ' || f.walk_conditions
                              || f.order_by)
           INTO data
          USING page_size, (page - 1)::bigint * page_size, as_of;
    END IF;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size, estimate);
END
$$;
COMMENT ON FUNCTION get_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                  text, text, integer, integer, boolean, timestamptz, text, text, text, integer, integer,
                                  boolean, boolean, text, uuid, text) IS
    'Staff: the customer list with the filters of CustomerQueryDto, membership of a saved segment (segment_id), an RFM group, province, gender, age, whether they ordered or have an order in progress, the shop''s id, a tag, or a saved view''s filters and sort (view_id; arguments given replace its values), a whitelisted sort and pagination; total exact up to 10,000 (or with exact_total), else the planner''s estimate flagged totalIsEstimate.';

-- get_customer: the 360° detail.  Its DTO helpers read tables, so none can be
-- inlined: they are PL/pgSQL, planned once per session rather than on every
-- call; customer_tag_array stays SQL for the export's rows
-- (docs/architecture.md, Decisions).
-- CustomerAnalyticsDto of an analytics row, days since the last order
-- measured at as_of, with the saved insights.
CREATE OR REPLACE FUNCTION customer_analytics_dto(a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'totalOrders', coalesce(a.total_orders, 0),
            'totalSpent', coalesce(a.total_spent, 0),
            'averageOrderValue', coalesce(a.average_order_value, 0),
            'lastOrderDate', a.last_order_date,
            'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, customer_analytics_dto.as_of),
            'totalSessions', coalesce(a.total_sessions, 0),
            'totalPageViews', coalesce(a.total_page_views, 0),
            'averageSessionDuration', coalesce(a.average_session_duration, 0),
            'bounceRate', coalesce(a.bounce_rate, 0),
            'conversionRate', coalesce(a.conversion_rate, 0),
            'favoriteCategories', coalesce(a.favorite_categories, '[]'),
            'favoriteBrands', coalesce(a.favorite_brands, '[]'),
            'preferredPriceRange', a.preferred_price_range,
            'customerLifetimeValue', coalesce(a.customer_lifetime_value, 0),
            -- the CLV model's at as_of (docs/clv.md): NULL without a completed order or a usable fit
            'predictedLtv', round(p.predicted_ltv::numeric, 2),
            'totalCustomerValue', coalesce(a.customer_lifetime_value, 0) + round(p.predicted_ltv::numeric, 2),
            'probabilityAlive', round(p.probability_alive::numeric, 4),
            'expectedOrders365', round(p.expected_orders_365::numeric, 4),
            'churnProbability', round(p.churn_probability::numeric, 4),
            'expectedNextOrderDate', p.expected_next_order_date,
            'averageDaysBetweenOrders', round(p.average_days_between_orders::numeric, 2),
            -- what the predictions rest on: why they are NULL, or how much of the
            -- predicted order rate is the customer's own history (the rest is the shop's average)
            'predictionStatus', p.status,
            'predictionHistoryWeight', round(p.own_history_weight::numeric, 4),
            'churnRiskScore', coalesce(a.churn_risk_score, 0),
            'engagementScore', coalesce(a.engagement_score, 0),
            'segment', coalesce(a.segment, 'new'),
            'rfmScore', a.rfm_score, 'rfmGroup', customer_mgmt.rfm_group(a.rfm_score),
            'lastCalculatedAt', a.last_calculated_at,
            'insights', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                           'type', i.type, 'title', i.title, 'description', i.description,
                           'priority', i.priority, 'actionRecommendation', i.action_recommendation,
                           'generatedAt', i.generated_at)
                       ORDER BY i.priority DESC, i.type)
                  FROM customer_mgmt.customer_insights i WHERE i.customer_id = a.customer_id), '[]'))
          FROM (SELECT) one
          LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = a.customer_id
          LEFT JOIN LATERAL customer_mgmt.clv_predict(c, customer_mgmt.clv_fit_bgnbd(), customer_mgmt.clv_fit_gamma_gamma(),
                                                      customer_mgmt.clv_day(customer_analytics_dto.as_of),
                                                      customer_mgmt.clv_discount_rate()) p ON true);
END
$$;
COMMENT ON FUNCTION customer_analytics_dto(customer_analytics, timestamptz) IS
    'Internal: CustomerAnalyticsDto of an analytics row with its insights and the CLV model''s predictions; daysSinceLastOrder and the predictions at as_of.';

CREATE OR REPLACE FUNCTION address_dto(x addresses) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'id', x.id, 'externalId', x.external_id, 'recipientName', x.recipient_name, 'phoneNumber', x.phone_number,
            'street', x.street, 'ward', x.ward, 'district', x.district, 'province', x.province,
            'currentProvince', (SELECT p.current_name FROM customer_mgmt.provinces p WHERE p.name = x.province),
            'isDefaultShipping', x.is_default_shipping, 'isDefaultBilling', x.is_default_billing,
            'createdAt', x.created_at, 'updatedAt', x.updated_at));
END
$$;
COMMENT ON FUNCTION address_dto(addresses) IS
    'Internal: AddressDto; currentProvince is the province in force since 2025 for a former one.';

CREATE OR REPLACE FUNCTION order_summary_dto(o orders) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'id', o.id, 'externalId', o.external_id, 'status', o.status, 'totalAmount', o.total_amount,
            'orderDate', o.order_date, 'completedAt', o.completed_at,
            'itemCount', coalesce(sum(i.quantity), 0), 'lineCount', count(i.id),
            'itemsTotal', coalesce(sum(i.unit_price * i.quantity), 0))
          FROM customer_mgmt.order_items i WHERE i.order_id = o.id);
END
$$;
COMMENT ON FUNCTION order_summary_dto(orders) IS
    'Internal: OrderSummaryDto: id, externalId, status, totalAmount, orderDate, completedAt, itemCount (units), lineCount, itemsTotal.';

CREATE OR REPLACE FUNCTION get_customer(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    a customer_mgmt.customer_analytics;
    as_of timestamptz := now();
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    a.customer_id := u.id;
    RETURN jsonb_build_object(
        'id', u.id,
        'externalId', u.external_id,
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
        'lastLoginAt', u.last_login_at,
        'tags', to_jsonb(customer_mgmt.customer_tag_array(u.id)),
        'marketingConsent', customer_mgmt.marketing_consent_dto(u));
END
$$;
COMMENT ON FUNCTION get_customer(uuid) IS
    'Staff: CustomerDetailDto of a customer: profile, addresses, analytics with insights, segments, 5 most recent orders and notes. PT404 for an unknown id, 22P02 for a malformed one.';

-- find_customer: a customer by e-mail (ignoring case), phone number (any
-- spelling ingestion accepts) or the shop's own id, exactly one of them.
CREATE OR REPLACE FUNCTION find_customer(email text DEFAULT NULL, phone_number text DEFAULT NULL,
                                         external_id text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given integer := (email IS NOT NULL)::integer + (phone_number IS NOT NULL)::integer + (external_id IS NOT NULL)::integer;
    v text;
    ids uuid[];
BEGIN
    IF given <> 1 THEN
        PERFORM customer_mgmt.raise_invalid(CASE WHEN email IS NULL THEN 'email' WHEN phone_number IS NULL THEN 'phone_number'
                                                 ELSE 'external_id' END,
                                            'exactly one of email, phone_number and external_id must be given');
    END IF;
    IF email IS NOT NULL THEN
        v := customer_mgmt.check_text('email', email, 254);
        ids := ARRAY(SELECT u.id FROM customer_mgmt.users u WHERE lower(u.email) = lower(v) AND u.role = 'customer');
    ELSIF phone_number IS NOT NULL THEN
        v := customer_mgmt.check_phone('phone_number', phone_number, true);
        ids := ARRAY(SELECT u.id FROM customer_mgmt.users u WHERE u.phone_number = v AND u.role = 'customer'
                      ORDER BY u.created_at DESC LIMIT 11);
    ELSE
        v := customer_mgmt.check_text('external_id', external_id, 200);
        ids := ARRAY(SELECT u.id FROM customer_mgmt.users u WHERE u.external_id = v AND u.role = 'customer'
                     UNION ALL
                     SELECT m.survivor_id FROM customer_mgmt.customer_merges m WHERE m.external_id = v);
    END IF;
    IF cardinality(ids) = 0 THEN
        RAISE EXCEPTION 'Customer not found'
            USING ERRCODE = 'PT404',
                  DETAIL = 'No customer has this ' || CASE WHEN email IS NOT NULL THEN 'e-mail address'
                                                          WHEN phone_number IS NOT NULL THEN 'phone number'
                                                          ELSE 'external id' END || '.',
                  HINT = 'get_customers(search => ...) finds customers by part of a name, e-mail or phone.';
    END IF;
    IF cardinality(ids) > 1 THEN
        RAISE EXCEPTION '% customers have this phone number', CASE WHEN cardinality(ids) > 10 THEN 'more than 10'
                                                               ELSE cardinality(ids)::text END
            USING ERRCODE = 'P0001',
                  DETAIL = 'Their ids: ' || array_to_string(ids[1:10], ', ') || '.',
                  HINT = 'Look each up with get_customer(customer_id); find_duplicate_customers may show they are one person.';
    END IF;
    RETURN customer_mgmt.get_customer(ids[1]);
END
$$;
COMMENT ON FUNCTION find_customer(text, text, text) IS
    'Staff: CustomerDetailDto of the customer with this e-mail (ignoring case), phone number (any spelling ingestion accepts) or external id; exactly one must be given (22023). PT404 when none has it, P0001 when several customers share the phone number (their ids in DETAIL). The value is not quoted in errors.';

-- get_customer_analytics: the design's GET :id/analytics
CREATE OR REPLACE FUNCTION get_customer_analytics(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    a customer_mgmt.customer_analytics;
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    a.customer_id := u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, now());
END
$$;
COMMENT ON FUNCTION get_customer_analytics(uuid) IS
    'Staff: CustomerAnalyticsDto of a customer with its saved insights, as last calculated; daysSinceLastOrder measured at call time. PT404 for an unknown id.';

-- get_customer_orders: order history
CREATE OR REPLACE FUNCTION get_customer_orders(
    customer_id  uuid,
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
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
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
COMMENT ON FUNCTION get_customer_orders(uuid, text, timestamptz, timestamptz, text, integer, integer) IS
    'Staff: a customer''s orders, filtered by status and order date (both ends inclusive), newest first by default, with item counts and totals.';

-- update_customer_status
CREATE OR REPLACE FUNCTION update_customer_status(customer_id uuid, status text, reason text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := update_customer_status.customer_id;
    new_status customer_mgmt.user_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.user_status);
    v_reason text := customer_mgmt.check_text('reason', reason, 1000, false);
    actor uuid := customer_mgmt.current_actor();
    recent_hours integer := customer_mgmt.setting('status.recent_activity_hours')::integer;
    u customer_mgmt.users;
    a customer_mgmt.customer_analytics;
    old_status customer_mgmt.user_status;
    open_orders bigint;
    changed_at timestamptz := now();
BEGIN
    IF v_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
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

    -- leaving active obeys docs/analytics.md, Lifecycle segment; reactivation is always allowed
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
    PERFORM customer_mgmt.emit_event('customer.status_changed', u.id,
        jsonb_build_object('customerId', u.id, 'oldStatus', old_status, 'newStatus', new_status,
                           'reason', v_reason, 'actorId', actor, 'changedAt', changed_at));
    -- the reason is the admin's words and may name the person: not here
    PERFORM customer_mgmt.audit('update_customer_status', 'customer', u.id::text,
        jsonb_build_object('before', jsonb_build_object('status', old_status),
                           'after', jsonb_build_object('status', new_status), 'reasonGiven', v_reason IS NOT NULL));
    RETURN customer_mgmt.customer_list_item(u, a, changed_at) || jsonb_build_object('statusChanged', true);
END
$$;
COMMENT ON FUNCTION update_customer_status(uuid, text, text) IS
    'Admin: sets a customer''s status (active, inactive, suspended). Leaving active is refused (P0001) while an order is pending or processing or after a login in the last 24 hours; every change is recorded in customer_status_history with the actor and emits customer.status_changed. Returns the list item with statusChanged.';
