-- customer_mgmt: Customer tags (docs/reference.md, Tags): the labels a shop puts on its
-- customers ("sỉ", "khách quen", "đã khiếu nại"), added and removed by staff, matched
-- without case or accents, the first spelling kept; folded copies on the list serve its
-- filter and the segment attribute customer_tags.

-- The folded tags of a customer, as the list and segments compare them.
CREATE OR REPLACE FUNCTION tag_keys(tags text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(customer_mgmt.search_fold(t) ORDER BY n), '{}') FROM unnest(tags) WITH ORDINALITY x (t, n)
$$;
COMMENT ON FUNCTION tag_keys(text[]) IS 'Internal: tags folded (case and accents), in order; {} for none.';

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
    u customer_mgmt.users;
    given text[] := customer_mgmt.check_customer_tags(tags);
    added text[];
BEGIN
    -- locked, a merged id resolved to its survivor
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = customer_mgmt.lock_ingested_customer(add_customer_tags.customer_id);
    added := ARRAY(SELECT t FROM unnest(given) WITH ORDINALITY g (t, n)
                    WHERE customer_mgmt.search_fold(t) <> ALL (customer_mgmt.tag_keys(u.tags)) ORDER BY n);
    IF cardinality(added) > 0 AND cardinality(u.tags) + cardinality(added) > 20 THEN
        PERFORM customer_mgmt.raise_invalid('tags', format('would give the customer %s tags: at most 20',
                                                           cardinality(u.tags) + cardinality(added)));
    END IF;
    IF cardinality(added) > 0 THEN
        UPDATE customer_mgmt.users x SET tags = x.tags || added WHERE x.id = u.id RETURNING * INTO u;
        PERFORM customer_mgmt.audit('add_customer_tags', 'customer', u.id::text, jsonb_build_object('added', to_jsonb(added)));
    END IF;
    RETURN jsonb_build_object('customerId', u.id, 'tags', to_jsonb(u.tags), 'added', to_jsonb(added));
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
    u customer_mgmt.users;
    given text[] := customer_mgmt.tag_keys(customer_mgmt.check_customer_tags(tags));
    removed text[];
BEGIN
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = customer_mgmt.lock_ingested_customer(remove_customer_tags.customer_id);
    removed := ARRAY(SELECT t FROM unnest(u.tags) WITH ORDINALITY h (t, n)
                      WHERE customer_mgmt.search_fold(t) = ANY (given) ORDER BY n);
    IF cardinality(removed) > 0 THEN
        UPDATE customer_mgmt.users x
           SET tags = ARRAY(SELECT t FROM unnest(x.tags) WITH ORDINALITY h (t, n) WHERE t <> ALL (removed) ORDER BY n)
         WHERE x.id = u.id
        RETURNING * INTO u;
        PERFORM customer_mgmt.audit('remove_customer_tags', 'customer', u.id::text, jsonb_build_object('removed', to_jsonb(removed)));
    END IF;
    RETURN jsonb_build_object('customerId', u.id, 'tags', to_jsonb(u.tags), 'removed', to_jsonb(removed));
END
$$;
COMMENT ON FUNCTION remove_customer_tags(uuid, text[]) IS
    'Staff: removes the customer''s tags equal to those given, ignoring case and accents (a tag the customer does not have is no error). Returns {customerId, tags, removed}; the audit log records what was removed. 22023, PT404.';
