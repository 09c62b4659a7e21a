-- customer_mgmt: The segment language, compiled in C
-- (src/segment_lang.c): its attributes, the design's criteria written in it,
-- the segments' view it is evaluated over, the predicate of a definition,
-- the top customers' aggregate, and preview_segment.

CREATE OR REPLACE FUNCTION compile_segment_query(query text, as_of timestamptz) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_compile_segment_query'
    LANGUAGE C STABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION segment_query_segments(query text) RETURNS text[]
    AS 'MODULE_PATHNAME', 'cm_segment_query_segments'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment_query_segments(text) IS
    'Internal: the names of the saved segments a query of the segment language refers to (segment = ''name''), as written; 22023 as compile_segment_query.';

-- The members of a saved segment by name (case-insensitive), in force at
-- as_of: what "segment = 'name'" reads.  Inlined into the query.
CREATE OR REPLACE FUNCTION segment_members(name text, as_of timestamptz) RETURNS SETOF uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT x.customer_id
      FROM customer_mgmt.customer_segments g
      JOIN customer_mgmt.customer_segment_assignments x ON x.segment_id = g.id
     WHERE lower(g.name) = lower(segment_members.name)
       AND (x.expires_at IS NULL OR x.expires_at > segment_members.as_of)
$$;
COMMENT ON FUNCTION segment_members(text, timestamptz) IS
    'Internal: the customers in the saved segment of that name (any case) at as_of: its assignments in force.';

COMMENT ON FUNCTION compile_segment_query(text, timestamptz) IS
    'Internal: the SQL predicate, over the attribute row s, of a query in the segment language (docs/segments.md); relative dates count back from as_of; 22023 with the position of anything else.';

-- A province as segments compare it: the province it is now (a former one
-- means the one it merged into, 2025), folded (case and accents).
CREATE OR REPLACE FUNCTION province_key(province text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.search_fold(coalesce(
        (SELECT p.current_name FROM customer_mgmt.provinces p
          WHERE customer_mgmt.search_fold(p.name) = customer_mgmt.search_fold(province)
          ORDER BY p.is_current DESC LIMIT 1),
        province))
$$;
COMMENT ON FUNCTION province_key(text) IS
    'Internal: a province as segments compare it: the current province it is or merged into, folded; NULL for NULL.';

-- The name of a customer's RFM cell, as Shopify names them (docs/analytics.md).
CREATE OR REPLACE FUNCTION rfm_group(rfm_score text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    -- one expression, without FROM, so that a query over every customer
    -- inlines it; R is the first digit, FM the mean of the other two
AS $$
    SELECT CASE
        WHEN rfm_score IS NULL OR rfm_score !~ '^[1-5]{3}$' THEN NULL
        WHEN (ascii(rfm_score) - 48) >= 4 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 4 THEN 'champions'
        WHEN (ascii(rfm_score) - 48) >= 3 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 3 THEN 'loyal'
        WHEN (ascii(rfm_score) - 48) >= 4 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 2 THEN 'active'
        WHEN (ascii(rfm_score) - 48) = 5 THEN 'new'
        WHEN (ascii(rfm_score) - 48) = 4 THEN 'promising'
        WHEN (ascii(rfm_score) - 48) = 3 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 2 THEN 'needs_attention'
        WHEN (ascii(rfm_score) - 48) = 3 THEN 'almost_lost'
        WHEN (ascii(rfm_score) - 48) = 2 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 4 THEN 'at_risk'
        WHEN (ascii(rfm_score) - 48) = 2 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 3 THEN 'previously_loyal'
        WHEN (ascii(rfm_score) - 48) = 2 THEN 'dormant'
        ELSE 'prospects' END
$$;
COMMENT ON FUNCTION rfm_group(text) IS
    'The name of an RFM cell (champions, loyal, active, new, promising, needs_attention, almost_lost, at_risk, previously_loyal, dormant, prospects) from the three digits: recency, and the mean of frequency and monetary rounded down (docs/analytics.md); NULL without a score.';

CREATE OR REPLACE FUNCTION rfm_group_names() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['champions', 'loyal', 'active', 'new', 'promising', 'needs_attention', 'almost_lost', 'at_risk',
                 'previously_loyal', 'dormant', 'prospects']
$$;
COMMENT ON FUNCTION rfm_group_names() IS 'Internal: the names rfm_group() gives, from the best cell to the least.';

-- The JSON criteria (SegmentCriteria) as a query of the language: one compiler
-- and one evaluator for both.  Every key of SegmentCriteria; 0 is a bound;
-- unknown keys, wrong types and min > max are 22023 naming the key.
CREATE OR REPLACE FUNCTION criteria_query(criteria jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- key, attribute, kind (number, date, list), bound (min, max, any)
    keys constant text[][] := ARRAY[
        ['totalSpentMin', 'total_spent', 'number', 'min'], ['totalSpentMax', 'total_spent', 'number', 'max'],
        ['totalOrdersMin', 'total_orders', 'number', 'min'], ['totalOrdersMax', 'total_orders', 'number', 'max'],
        ['daysSinceLastOrderMin', 'days_since_last_order', 'number', 'min'],
        ['daysSinceLastOrderMax', 'days_since_last_order', 'number', 'max'],
        ['churnRiskMin', 'churn_risk', 'number', 'min'], ['churnRiskMax', 'churn_risk', 'number', 'max'],
        ['engagementScoreMin', 'engagement_score', 'number', 'min'],
        ['engagementScoreMax', 'engagement_score', 'number', 'max'],
        ['registeredAfter', 'registered_at', 'date', 'min'], ['registeredBefore', 'registered_at', 'date', 'max'],
        ['preferredCategories', 'favorite_categories', 'list', 'any'],
        ['geographicRegions', 'province', 'list', 'any']];
    k text;
    v jsonb;
    spec text[];
    parts text[] := '{}';
    item text;
    items text[];
    lo text;
    hi text;
BEGIN
    IF criteria IS NULL OR jsonb_typeof(criteria) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('criteria', 'must be a JSON object', left(criteria::text, 100));
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(criteria) e ORDER BY e.key LOOP
        spec := NULL;
        FOR i IN 1 .. array_length(keys, 1) LOOP
            IF keys[i][1] = k THEN
                spec := ARRAY[keys[i][1], keys[i][2], keys[i][3], keys[i][4]];
            END IF;
        END LOOP;
        IF spec IS NULL THEN
            PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a key of SegmentCriteria (docs/segments.md)', left(v::text, 100));
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        END IF;
        IF spec[3] = 'number' THEN
            IF jsonb_typeof(v) <> 'number' OR v::text::numeric < 0 THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a number, 0 or more', left(v::text, 100));
            END IF;
            parts := parts || format('%s %s %s', spec[2], CASE spec[4] WHEN 'min' THEN '>=' ELSE '<=' END, v::text);
        ELSIF spec[3] = 'date' THEN
            item := CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END;
            BEGIN
                IF item !~ '^\d{4}-\d{2}-\d{2}$' OR item::date IS NULL THEN
                    item := NULL;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                item := NULL;
            END;
            IF item IS NULL THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a date, YYYY-MM-DD', left(v::text, 100));
            END IF;
            parts := parts || format('%s %s DATE %s', spec[2], CASE spec[4] WHEN 'min' THEN '>=' ELSE '<' END,
                                     quote_literal(item));
        ELSE
            -- the limit first: a list is checked and built only when it is short
            IF jsonb_typeof(v) = 'array' AND jsonb_array_length(v) > 50 THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must list at most 50 values', jsonb_array_length(v)::text);
            END IF;
            IF jsonb_typeof(v) <> 'array' OR EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a list of strings', left(v::text, 100));
            END IF;
            items := ARRAY(SELECT quote_literal(e) FROM jsonb_array_elements_text(v) e);
            IF cardinality(items) > 0 THEN
                IF spec[2] = 'province' THEN
                    parts := parts || format('province IN (%s)', array_to_string(items, ', '));
                ELSE
                    parts := parts || ('(' || array_to_string(ARRAY(SELECT spec[2] || ' CONTAINS ' || i FROM unnest(items) i), ' OR ') || ')');
                END IF;
            END IF;
        END IF;
    END LOOP;
    -- a minimum above its maximum (the pairs are next to each other above)
    FOR i IN 1 .. array_length(keys, 1) - 1 LOOP
        CONTINUE WHEN keys[i][4] <> 'min' OR keys[i + 1][4] <> 'max';
        lo := criteria ->> keys[i][1];
        hi := criteria ->> keys[i + 1][1];
        IF lo IS NOT NULL AND hi IS NOT NULL
           AND ((keys[i][3] = 'number' AND lo::numeric > hi::numeric) OR (keys[i][3] = 'date' AND lo::date >= hi::date)) THEN
            PERFORM customer_mgmt.raise_invalid(keys[i][1],
                        format('must be %s %s', CASE keys[i][3] WHEN 'number' THEN 'at most' ELSE 'before' END,
                               keys[i + 1][1]), lo);
        END IF;
    END LOOP;
    RETURN nullif(array_to_string(parts, ' AND '), '');
END
$$;
COMMENT ON FUNCTION criteria_query(jsonb) IS
    'Internal: the JSON criteria (SegmentCriteria) as a query of the segment language, NULL for none; 22023 naming an unknown key, a wrong type or a minimum above its maximum.';

-- Every customer's attributes as of a time, as the compiled predicates of
-- the segment language name them (src/segment_lang.c, docs/segments.md):
-- one row of customer_list each, which its triggers keep current; what
-- depends on the time (days since the last order, age) is measured at as_of.
CREATE OR REPLACE FUNCTION segment_attributes(as_of timestamptz)
    RETURNS TABLE (customer_id uuid, age integer, average_order_value numeric, bounce_rate numeric, churn_risk numeric,
                   conversion_rate numeric, customer_email_domain text, customer_tags text[], days_since_last_order integer,
                   email_subscription_status text, engagement_score numeric,
                   favorite_brands text[], favorite_categories text[], first_order_date date, gender text,
                   last_login_at timestamptz,
                   last_order_date timestamptz, lifecycle_segment text, province_key text, registered_at timestamptz,
                   rfm_frequency integer, rfm_group text, rfm_monetary integer, rfm_recency integer,
                   sms_subscription_status text, status text,
                   total_orders integer, total_sessions integer, total_spent numeric,
                   predicted_ltv numeric, probability_alive numeric, churn_probability numeric, date_of_birth date)
    LANGUAGE sql STABLE PARALLEL SAFE
    -- no SET clause: inlined, a filter on customer_id reaches the index
AS $$
    SELECT l.customer_id,
           -- whole years at the shop's date (age_years(), with the date's key
           -- computed once per query: an initplan)
           ((SELECT customer_mgmt.date_key((segment_attributes.as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date))
            - customer_mgmt.date_key(l.date_of_birth)) / 10000,
           l.average_order_value, l.bounce_rate, l.churn_risk_score, l.conversion_rate,
           lower(split_part(l.email, '@', 2)),
           -- computed only where a query names it (the compiled CONTAINS reads
           -- customer_tags by its tag_key index instead)
           ARRAY(SELECT t.tag_key FROM customer_mgmt.customer_tags t WHERE t.customer_id = l.customer_id ORDER BY t.id),
           customer_mgmt.days_between(l.last_order_date, segment_attributes.as_of), l.email_consent::text, l.engagement_score,
           l.brand_keys, l.category_keys, c.first_purchase, l.gender::text, l.last_login_at, l.last_order_date, l.segment::text,
           l.province_key, l.created_at,
           ascii(substr(l.rfm_score, 2, 1)) - 48, l.rfm_group, ascii(substr(l.rfm_score, 3, 1)) - 48,
           ascii(l.rfm_score) - 48, l.sms_consent::text, l.status::text, l.total_orders, l.total_sessions, l.total_spent,
           -- the CLV model's predictions at as_of, computed for the rows a
           -- query asks them of (the fits: initplans, once per query)
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'predicted_ltv')::numeric,
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'probability_alive')::numeric,
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'churn_probability')::numeric,
           -- not an attribute: what anniversary MATCHES reads
           l.date_of_birth
      FROM customer_mgmt.customer_list l
      -- a query that names no prediction does not join (customer_id is
      -- customer_clv's key: the join is removed); its column as_of is why
      -- the argument is named in full above
      LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = l.customer_id
$$;
COMMENT ON FUNCTION segment_attributes(timestamptz) IS
    'Internal: every customer''s attributes as of a time, from customer_list and customer_clv (the CLV model''s predictions at that time, NULL without them), named as the segment language names them (province_key: province_key(province); lists folded; age in whole years at the shop''s date).';

-- The predicate of a definition: its criteria and its query, both
-- compiled, joined by AND; 22023 for a definition with neither.
CREATE OR REPLACE FUNCTION segment_predicate(criteria jsonb, query text, as_of timestamptz) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    from_criteria text := customer_mgmt.criteria_query(coalesce(criteria, '{}'));
    missing text;
BEGIN
    IF from_criteria IS NULL AND nullif(btrim(query), '') IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('criteria', 'or query is required: a segment needs a definition');
    END IF;
    -- every segment it refers to exists
    SELECT r.name INTO missing
      FROM unnest(customer_mgmt.segment_query_segments(nullif(btrim(query), ''))) r (name)
     WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_segments g WHERE lower(g.name) = lower(r.name))
     LIMIT 1;
    IF missing IS NOT NULL THEN
        PERFORM customer_mgmt.raise_invalid('query', 'refers to a segment that does not exist', missing,
                                            'get_segments() lists the segments by name.');
    END IF;
    -- criteria's JSON passed where the query goes (by position, as 1.3's
    -- argument order had it)
    IF left(btrim(query), 1) = '{' THEN
        PERFORM customer_mgmt.raise_invalid('query', 'is JSON: a query is a text of the segment language', left(query, 100),
                                            'Pass criteria by name: criteria => ''{"minOrders": 2}''.');
    END IF;
    RETURN concat_ws(' AND ', '(' || customer_mgmt.compile_segment_query(from_criteria, as_of) || ')',
                     '(' || customer_mgmt.compile_segment_query(nullif(btrim(query), ''), as_of) || ')');
END
$$;
COMMENT ON FUNCTION segment_predicate(jsonb, text, timestamptz) IS
    'Internal: the SQL predicate over segment_attributes() of a definition (criteria AND query), every value quoted by the compiler.';

-- The 20 customers of a group with the highest spend (ties: the higher id
-- first), best first, in one parallel pass (src/segment_top.c).
CREATE OR REPLACE FUNCTION top_customers_add(internal, numeric, uuid) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cm_top_customers_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_final(internal) RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'cm_top_customers_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE AGGREGATE top_customers(total_spent numeric, customer_id uuid) (
    SFUNC = top_customers_add, STYPE = internal, FINALFUNC = top_customers_final,
    COMBINEFUNC = top_customers_combine, SERIALFUNC = top_customers_serialize,
    DESERIALFUNC = top_customers_deserialize, PARALLEL = SAFE);
COMMENT ON FUNCTION top_customers_add(internal, numeric, uuid) IS 'Internal: transition function of top_customers.';
COMMENT ON FUNCTION top_customers_combine(internal, internal) IS 'Internal: combine function of top_customers.';
COMMENT ON FUNCTION top_customers_serialize(internal) IS 'Internal: serialize function of top_customers.';
COMMENT ON FUNCTION top_customers_deserialize(bytea, internal) IS 'Internal: deserialize function of top_customers.';
COMMENT ON FUNCTION top_customers_final(internal) IS 'Internal: final function of top_customers.';
COMMENT ON AGGREGATE top_customers(numeric, uuid) IS
    'Internal: the ids of the 20 rows with the highest spend (ties: the higher id first), best first; rows with a NULL are skipped.';

-- The segment language's attributes, from its parser (src/segment_lang.c):
-- the one definition that the API, docs/segments.md and the segments' view
-- are checked against (test/t/006_segment_attributes.pl, 11_segments).
CREATE OR REPLACE FUNCTION segment_language_attributes(OUT name text, OUT kind text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cm_segment_language_attributes'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment_language_attributes() IS
    'Internal: the attributes a query of the segment language may name and their kinds (number, time, text, code, list), from its parser.';

CREATE OR REPLACE FUNCTION get_segment_attributes() RETURNS jsonb
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.page_envelope(
               jsonb_agg(jsonb_build_object(
                   'name', a.name, 'kind', a.kind,
                   'operators', CASE a.kind
                       WHEN 'list' THEN '["CONTAINS", "NOT CONTAINS"]'::jsonb
                       WHEN 'number' THEN '["=", "!=", "<", "<=", ">", ">=", "BETWEEN", "NOT BETWEEN", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]'
                       WHEN 'time' THEN '["=", "!=", "<", "<=", ">", ">=", "BETWEEN", "NOT BETWEEN", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]'
                       WHEN 'segment' THEN '["=", "!=", "IN", "NOT IN"]'
                       ELSE '["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]' END)
                   ORDER BY a.name),
               count(*), 1, count(*)::integer)
      FROM customer_mgmt.segment_language_attributes() a
$$;
COMMENT ON FUNCTION get_segment_attributes() IS
    'Staff: the attributes a segment query may name, with their kind (number, time, text: folded, code: as written, list, segment: a saved segment by name) and the operators each takes, for a UI to offer (docs/segments.md); the list''s envelope, every attribute on one page.';

-- How many customers a definition would hold now, and a page of them by
-- spend, without saving anything: one parallel scan of customer_list
-- counts and ranks (top_customers keeps 20 entries per worker), which is
-- every page of up to 20 from the first; a page past those sorts the
-- matches.
CREATE OR REPLACE FUNCTION preview_segment(query text DEFAULT NULL, criteria jsonb DEFAULT NULL, page integer DEFAULT 1,
                                           page_size integer DEFAULT 20) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- as apply_segment: compiling the scan costs more than it saves
    SET jit = off
AS $$
DECLARE
    predicate text := customer_mgmt.segment_predicate(criteria, query, now());
    n bigint;
    ids uuid[];
    customers jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    EXECUTE format('SELECT count(*), customer_mgmt.top_customers(s.total_spent, s.customer_id)'
                   ' FROM customer_mgmt.segment_attributes($1) s WHERE %s', predicate)
       INTO n, ids USING now();
    IF page::bigint * page_size > 20 THEN
        EXECUTE format('SELECT array_agg(x.customer_id ORDER BY x.n) FROM (SELECT s.customer_id,'
                       ' row_number() OVER (ORDER BY s.total_spent DESC, s.customer_id DESC) AS n'
                       ' FROM customer_mgmt.segment_attributes($1) s WHERE %s'
                       ' ORDER BY s.total_spent DESC, s.customer_id DESC LIMIT $2 OFFSET $3) x', predicate)
           INTO ids USING now(), page_size, (page - 1)::bigint * page_size;
    ELSE
        ids := ids[(page - 1) * page_size + 1 : page * page_size];
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name, 'email', l.email,
                                                 'totalSpent', l.total_spent, 'segment', l.segment) ORDER BY t.n), '[]')
      INTO customers
      FROM unnest(ids) WITH ORDINALITY AS t (id, n)
      JOIN customer_mgmt.customer_list l ON l.customer_id = t.id;
    RETURN customer_mgmt.page_envelope(customers, n, page, page_size)
           || jsonb_build_object('criteriaQuery', customer_mgmt.criteria_query(coalesce(criteria, '{}')),
                                 -- 1.3's names of total and of the first page's data,
                                 -- deprecated (CHANGELOG.md): gone in 1.5
                                 'customerCount', n, 'customers', customers);
END
$$;
COMMENT ON FUNCTION preview_segment(text, jsonb, integer, integer) IS
    'Staff: how many customers a segment defined by a query of the segment language (docs/segments.md) and/or criteria would hold now, and a page of them by spend, without saving anything: the list envelope with criteriaQuery (customerCount and customers: deprecated 1.3 names of total and data).';
