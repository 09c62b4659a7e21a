-- customer_mgmt: Segments (design 4.3, 4.4, 6.3): the segment language of
-- SPEC section 3a, compiled in C (src/segment_lang.c).

CREATE OR REPLACE FUNCTION compile_segment_query(query text, as_of timestamptz) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_compile_segment_query'
    LANGUAGE C STABLE PARALLEL SAFE;
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
AS $$
    SELECT CASE
        WHEN d.r IS NULL THEN NULL
        WHEN d.r >= 4 AND d.fm >= 4 THEN 'champions'
        WHEN d.r >= 3 AND d.fm >= 3 THEN 'loyal'
        WHEN d.r >= 4 AND d.fm >= 2 THEN 'active'
        WHEN d.r = 5 THEN 'new'
        WHEN d.r = 4 THEN 'promising'
        WHEN d.r = 3 AND d.fm >= 2 THEN 'needs_attention'
        WHEN d.r = 3 THEN 'almost_lost'
        WHEN d.r = 2 AND d.fm >= 4 THEN 'at_risk'
        WHEN d.r = 2 AND d.fm >= 3 THEN 'previously_loyal'
        WHEN d.r = 2 THEN 'dormant'
        ELSE 'prospects' END
      FROM (SELECT CASE WHEN x.valid THEN substr(rfm_score, 1, 1)::integer END AS r,
                   CASE WHEN x.valid THEN (substr(rfm_score, 2, 1)::integer + substr(rfm_score, 3, 1)::integer) / 2 END
                       AS fm
              FROM (SELECT coalesce(rfm_score ~ '^[1-5]{3}$', false) AS valid) x) d
$$;
COMMENT ON FUNCTION rfm_group(text) IS
    'The name of an RFM cell (champions, loyal, active, new, promising, needs_attention, almost_lost, at_risk, previously_loyal, dormant, prospects) from the three digits: recency, and the mean of frequency and monetary rounded down (docs/analytics.md); NULL without a score.';

-- The JSON criteria of design 7.3 as a query of the language: one compiler
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
    'Internal: the JSON criteria of design 7.3 (SegmentCriteria) as a query of the segment language, NULL for none; 22023 naming an unknown key, a wrong type or a minimum above its maximum.';

-- Every customer's attributes as of a time, as the compiled predicates of
-- the segment language name them (src/segment_lang.c, docs/segments.md).
CREATE OR REPLACE FUNCTION segment_attributes(as_of timestamptz)
    RETURNS TABLE (customer_id uuid, age numeric, average_order_value numeric, bounce_rate numeric, churn_risk numeric,
                   conversion_rate numeric, days_since_last_order numeric, engagement_score numeric,
                   favorite_brands text[], favorite_categories text[], gender text, last_login_at timestamptz,
                   last_order_date timestamptz, lifecycle_segment text, province_key text, registered_at timestamptz,
                   rfm_frequency numeric, rfm_group text, rfm_monetary numeric, rfm_recency numeric, status text,
                   total_orders numeric, total_sessions numeric, total_spent numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.customer_id,
           extract(year FROM age((as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date, u.date_of_birth)),
           a.average_order_value, a.bounce_rate, l.churn_risk_score, a.conversion_rate,
           customer_mgmt.days_between(l.last_order_date, as_of), a.engagement_score,
           ARRAY(SELECT customer_mgmt.search_fold(e ->> 'brand') FROM jsonb_array_elements(a.favorite_brands) e),
           ARRAY(SELECT customer_mgmt.search_fold(e ->> 'category') FROM jsonb_array_elements(a.favorite_categories) e),
           u.gender::text, l.last_login_at, l.last_order_date, l.segment::text, customer_mgmt.province_key(u.province),
           l.created_at, substr(a.rfm_score, 2, 1)::numeric, customer_mgmt.rfm_group(a.rfm_score),
           substr(a.rfm_score, 3, 1)::numeric, substr(a.rfm_score, 1, 1)::numeric, l.status::text,
           l.total_orders, a.total_sessions, l.total_spent
      FROM customer_mgmt.customer_list l
      JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id
      JOIN customer_mgmt.users u ON u.id = l.customer_id
$$;
COMMENT ON FUNCTION segment_attributes(timestamptz) IS
    'Internal: every customer''s attributes as of a time, named as the segment language names them (province_key: province_key(province); lists folded).';

-- The predicate of a definition: its criteria and its query, both
-- compiled, joined by AND; 22023 for a definition with neither.
CREATE OR REPLACE FUNCTION segment_predicate(criteria jsonb, query text, as_of timestamptz) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    from_criteria text := customer_mgmt.criteria_query(coalesce(criteria, '{}'));
BEGIN
    IF from_criteria IS NULL AND nullif(btrim(query), '') IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('criteria', 'or query is required: a segment needs a definition');
    END IF;
    RETURN concat_ws(' AND ', '(' || customer_mgmt.compile_segment_query(from_criteria, as_of) || ')',
                     '(' || customer_mgmt.compile_segment_query(nullif(btrim(query), ''), as_of) || ')');
END
$$;
COMMENT ON FUNCTION segment_predicate(jsonb, text, timestamptz) IS
    'Internal: the SQL predicate over segment_attributes() of a definition (criteria AND query), every value quoted by the compiler.';

-- How many customers a definition would hold now, and the first 20 by
-- spend, without saving anything.
CREATE OR REPLACE FUNCTION preview_segment(criteria jsonb DEFAULT NULL, query text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    predicate text := customer_mgmt.segment_predicate(criteria, query, now());
    result jsonb;
BEGIN
    EXECUTE format($q$
        WITH m AS MATERIALIZED (
            SELECT s.customer_id, s.total_spent FROM customer_mgmt.segment_attributes($1) s WHERE %s)
        SELECT jsonb_build_object(
            'customerCount', (SELECT count(*) FROM m),
            'customers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name,
                                                                       'email', l.email, 'totalSpent', l.total_spent,
                                                                       'segment', l.segment)
                                                    ORDER BY l.total_spent DESC, l.customer_id), '[]')
                            FROM (SELECT m.customer_id FROM m ORDER BY m.total_spent DESC, m.customer_id LIMIT 20) t
                            JOIN customer_mgmt.customer_list l ON l.customer_id = t.customer_id))$q$, predicate)
    INTO result USING now();
    RETURN result || jsonb_build_object('criteriaQuery', customer_mgmt.criteria_query(coalesce(criteria, '{}')));
END
$$;
COMMENT ON FUNCTION preview_segment(jsonb, text) IS
    'Staff: how many customers a segment defined by criteria (design 7.3) and/or a query (docs/segments.md) would hold now, and the first 20 by spend, without saving anything. Returns {customerCount, customers, criteriaQuery}.';
