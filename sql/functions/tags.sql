-- customer_mgmt: Customer tags (docs/reference.md, Tags): the labels a shop puts on its
-- customers ("sỉ", "khách quen", "đã khiếu nại"), added and removed by staff, matched
-- without case or accents, the first spelling kept; one row each in customer_tags,
-- which the list's filter and the segment attribute customer_tags read by tag_key.

-- The folded tags, as the list and segments compare them.
CREATE OR REPLACE FUNCTION tag_keys(tags text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(customer_mgmt.search_fold(t) ORDER BY n), '{}') FROM unnest(tags) WITH ORDINALITY x (t, n)
$$;
COMMENT ON FUNCTION tag_keys(text[]) IS 'Internal: tags folded (case and accents), in order; {} for none.';

-- A customer's tags as first spelled, in the order added.
CREATE OR REPLACE FUNCTION customer_tag_array(customer_id uuid) RETURNS text[]
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT ARRAY(SELECT t.tag FROM customer_mgmt.customer_tags t WHERE t.customer_id = customer_tag_array.customer_id ORDER BY t.id)
$$;
COMMENT ON FUNCTION customer_tag_array(uuid) IS 'Internal: a customer''s tags as first spelled, in the order added; {} for none.';

-- Tags given to add or remove: 1 to 20 strings, each trimmed, 1 to 50
-- characters without control characters; repeats (folded) dropped, the
-- first spelling kept.
CREATE OR REPLACE FUNCTION check_customer_tags(tags text[]) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text[] := '{}';
    v text;
BEGIN
    IF tags IS NULL OR cardinality(tags) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('tags', 'must hold at least one tag');
    END IF;
    IF cardinality(tags) > 20 THEN
        PERFORM customer_mgmt.raise_invalid('tags', 'must hold at most 20 tags', cardinality(tags)::text);
    END IF;
    FOR i IN 1 .. cardinality(tags) LOOP
        v := customer_mgmt.check_text('tags', tags[i], 50);
        IF customer_mgmt.search_fold(v) <> ALL (customer_mgmt.tag_keys(result)) THEN
            result := result || v;
        END IF;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION check_customer_tags(text[]) IS
    'Internal: tags to add or remove checked (1 to 20 strings of 1 to 50 characters; 22023 naming "tags") and normalised (trimmed, folded repeats dropped, the first spelling kept).';

-- add_customer_tags: the tags the customer does not have yet (folded), in
-- the spelling given; at most 20 in all.
CREATE OR REPLACE FUNCTION add_customer_tags(customer_id uuid, tags text[]) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given text[] := customer_mgmt.check_customer_tags(tags);
    -- locked, a merged id resolved to its survivor
    cid uuid := customer_mgmt.lock_ingested_customer(add_customer_tags.customer_id);
    had text[] := customer_mgmt.customer_tag_array(cid);
    added text[];
BEGIN
    added := ARRAY(SELECT t FROM unnest(given) WITH ORDINALITY g (t, n)
                    WHERE customer_mgmt.search_fold(t) <> ALL (customer_mgmt.tag_keys(had)) ORDER BY n);
    IF cardinality(added) > 0 AND cardinality(had) + cardinality(added) > 20 THEN
        PERFORM customer_mgmt.raise_invalid('tags', format('would give the customer %s tags: at most 20',
                                                           cardinality(had) + cardinality(added)));
    END IF;
    IF cardinality(added) > 0 THEN
        -- (a tag another transaction added since this one's snapshot, at
        -- REPEATABLE READ, is kept: no error quoting its key)
        INSERT INTO customer_mgmt.customer_tags (customer_id, tag_key, tag)
        SELECT cid, customer_mgmt.search_fold(t), t FROM unnest(added) WITH ORDINALITY a (t, n) ORDER BY n
        ON CONFLICT ON CONSTRAINT customer_tags_pkey DO NOTHING;
        PERFORM customer_mgmt.audit('add_customer_tags', 'customer', cid::text, jsonb_build_object('added', to_jsonb(added)));
    END IF;
    RETURN jsonb_build_object('customerId', cid, 'tags', to_jsonb(had || added), 'added', to_jsonb(added));
END
$$;
COMMENT ON FUNCTION add_customer_tags(uuid, text[]) IS
    'Staff: tags a customer (1 to 20 tags of 1 to 50 characters; one the customer has, ignoring case and accents, is not added again; at most 20 in all). Returns {customerId, tags, added}; the audit log records what was added. 22023 naming tags or customer_id, PT404.';

-- remove_customer_tags: the customer's tags equal to one given (folded).
CREATE OR REPLACE FUNCTION remove_customer_tags(customer_id uuid, tags text[]) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given text[] := customer_mgmt.tag_keys(customer_mgmt.check_customer_tags(tags));
    cid uuid := customer_mgmt.lock_ingested_customer(remove_customer_tags.customer_id);
    removed text[];
BEGIN
    WITH d AS (DELETE FROM customer_mgmt.customer_tags t WHERE t.customer_id = cid AND t.tag_key = ANY (given)
               RETURNING t.id, t.tag)
    SELECT ARRAY(SELECT d.tag FROM d ORDER BY d.id) INTO removed;
    IF cardinality(removed) > 0 THEN
        PERFORM customer_mgmt.audit('remove_customer_tags', 'customer', cid::text, jsonb_build_object('removed', to_jsonb(removed)));
    END IF;
    RETURN jsonb_build_object('customerId', cid, 'tags', to_jsonb(customer_mgmt.customer_tag_array(cid)), 'removed', to_jsonb(removed));
END
$$;
COMMENT ON FUNCTION remove_customer_tags(uuid, text[]) IS
    'Staff: removes the customer''s tags equal to those given, ignoring case and accents (a tag the customer does not have is no error). Returns {customerId, tags, removed}; the audit log records what was removed. 22023, PT404.';
