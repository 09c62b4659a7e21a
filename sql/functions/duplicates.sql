-- customer_mgmt: One person, one customer (docs/duplicates.md): the candidate pairs
-- of customers who are probably one person (refresh_duplicate_candidates,
-- find_duplicate_customers, dismiss_duplicate), and the merge of
-- duplicates into a survivor with everything they own (preview_merge,
-- merge_customers), after which their ids resolve to the survivor.

-- The weight of each reason; a pair with several scores 1 - prod(1 - w).
CREATE OR REPLACE FUNCTION duplicate_reason_weight(reason text) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE reason
        WHEN 'email' THEN 0.95 WHEN 'phone' THEN 0.9 WHEN 'name_address' THEN 0.85
        WHEN 'name_birth_date' THEN 0.8 WHEN 'similar_name_address' THEN 0.6 END
$$;
COMMENT ON FUNCTION duplicate_reason_weight(text) IS
    'Internal: how much a reason says two customers are one person (email 0.95, phone 0.9, name_address 0.85, name_birth_date 0.8, similar_name_address 0.6).';

CREATE OR REPLACE FUNCTION refresh_duplicate_candidates() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- the groupings of a million customers' keys hashed in memory
    SET work_mem = '256MB'
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    found bigint;
BEGIN
    -- the customers who can be candidates: not anonymised
    CREATE TEMP TABLE cm_dup_people ON COMMIT DROP AS
    SELECT u.id, customer_mgmt.email_identity(u.email) AS mailbox, u.phone_number,
           customer_mgmt.search_fold(u.full_name) AS name, u.date_of_birth
      FROM customer_mgmt.users u
     WHERE u.role = 'customer'
       AND u.anonymized_at IS NULL;
    CREATE TEMP TABLE cm_dup_places ON COMMIT DROP AS
    SELECT DISTINCT a.customer_id AS id,
           customer_mgmt.search_fold(concat_ws('|', a.street, a.ward, a.district, a.province)) AS place
      FROM customer_mgmt.addresses a JOIN pg_temp.cm_dup_people p ON p.id = a.customer_id;
    CREATE UNIQUE INDEX ON pg_temp.cm_dup_people (id);
    ANALYZE pg_temp.cm_dup_people;
    ANALYZE pg_temp.cm_dup_places;
    -- each reason groups customers by a key; a key shared by more than 50
    -- customers (a shop's own phone, a company address) is not a person's
    CREATE TEMP TABLE cm_dup_pairs ON COMMIT DROP AS
    WITH keyed AS (
        SELECT 'email' AS reason, p.mailbox AS k, p.id FROM pg_temp.cm_dup_people p
        UNION ALL
        SELECT 'phone', p.phone_number, p.id FROM pg_temp.cm_dup_people p WHERE p.phone_number IS NOT NULL
        UNION ALL
        SELECT 'name_birth_date', p.name || '|' || p.date_of_birth, p.id FROM pg_temp.cm_dup_people p
         WHERE p.date_of_birth IS NOT NULL AND p.name <> ''
        UNION ALL
        SELECT 'name_address', p.name || '|' || x.place, p.id FROM pg_temp.cm_dup_people p
          JOIN pg_temp.cm_dup_places x ON x.id = p.id WHERE p.name <> ''),
    -- (each customer once per key: the places are distinct already; keys
    -- compared byte for byte, which is what they are, and hashed)
    groups AS (
        SELECT k.reason, array_agg(k.id) AS ids FROM keyed k
         GROUP BY k.reason, k.k COLLATE "C" HAVING count(*) BETWEEN 2 AND 50)
    SELECT g.reason, a AS customer_a, b AS customer_b
      FROM groups g, unnest(g.ids) a, unnest(g.ids) b WHERE a < b;
    -- similar names (trigram similarity, from pg_trgm wherever it is
    -- installed) at the same address, not already the same name: the pairs
    -- within each address's group, as above
    EXECUTE format($q$
        INSERT INTO pg_temp.cm_dup_pairs
        SELECT 'similar_name_address', a, b
          FROM (SELECT array_agg(x.id) AS ids FROM pg_temp.cm_dup_places x
                 GROUP BY x.place COLLATE "C" HAVING count(*) BETWEEN 2 AND 50) g,
               unnest(g.ids) a, unnest(g.ids) b, pg_temp.cm_dup_people pa, pg_temp.cm_dup_people pb
         WHERE a < b AND pa.id = a AND pb.id = b AND pa.name <> pb.name AND %I.similarity(pa.name, pb.name) >= 0.6$q$,
        (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'));
    -- the pairs, without those an admin dismissed
    DELETE FROM customer_mgmt.duplicate_candidates;
    INSERT INTO customer_mgmt.duplicate_candidates (customer_a, customer_b, reasons, score, found_at)
    SELECT p.customer_a, p.customer_b, array_agg(DISTINCT p.reason ORDER BY p.reason),
           round(1 - exp(sum(ln(1 - customer_mgmt.duplicate_reason_weight(p.reason)))), 3), now()
      FROM (SELECT DISTINCT * FROM pg_temp.cm_dup_pairs) p
     WHERE NOT EXISTS (SELECT FROM customer_mgmt.duplicate_dismissals d
                        WHERE d.customer_a = p.customer_a AND d.customer_b = p.customer_b)
     GROUP BY p.customer_a, p.customer_b;
    GET DIAGNOSTICS found = ROW_COUNT;
    DROP TABLE pg_temp.cm_dup_pairs, pg_temp.cm_dup_places, pg_temp.cm_dup_people;
    PERFORM customer_mgmt.audit('refresh_duplicate_candidates', 'duplicate_candidates', NULL, jsonb_build_object('pairs', found));
    RETURN jsonb_build_object('pairs', found,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 1));
END
$$;
COMMENT ON FUNCTION refresh_duplicate_candidates() IS
    'Admin (and pg_cron, nightly): computes every pair of customers who are probably one person (the same mailbox, canonical phone, folded name with birth date or address, or a similar name at the same address; keys shared by more than 50 customers left out; anonymised customers and dismissed pairs never) into duplicate_candidates. Returns {pairs, seconds}.';

CREATE OR REPLACE FUNCTION find_duplicate_customers(reason text DEFAULT NULL, min_score numeric DEFAULT 0,
                                                    page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    IF reason IS NOT NULL AND customer_mgmt.duplicate_reason_weight(reason) IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('reason', 'must be one of email, phone, name_birth_date, name_address, similar_name_address',
                                            reason);
    END IF;
    IF min_score IS NULL OR min_score NOT BETWEEN 0 AND 1 THEN
        PERFORM customer_mgmt.raise_invalid('min_score', 'must be from 0 to 1', min_score::text);
    END IF;
    RETURN customer_mgmt.page_envelope(
        (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'customerIds', jsonb_build_array(c.customer_a, c.customer_b),
                    'customers', (SELECT jsonb_agg(jsonb_build_object('id', u.id, 'externalId', u.external_id,
                                                                      'fullName', u.full_name, 'email', u.email,
                                                                      'phoneNumber', u.phone_number, 'createdAt', u.created_at,
                                                                      'totalOrders', l.total_orders, 'totalSpent', l.total_spent)
                                                   ORDER BY u.created_at, u.id)
                                    FROM customer_mgmt.users u JOIN customer_mgmt.customer_list l ON l.customer_id = u.id
                                   WHERE u.id IN (c.customer_a, c.customer_b)),
                    'reasons', to_jsonb(c.reasons), 'score', c.score, 'foundAt', c.found_at)
                    ORDER BY c.score DESC, c.customer_a, c.customer_b), '[]')
           FROM (SELECT * FROM customer_mgmt.duplicate_candidates d
                  WHERE d.score >= min_score AND (find_duplicate_customers.reason IS NULL OR find_duplicate_customers.reason = ANY (d.reasons))
                  ORDER BY d.score DESC, d.customer_a, d.customer_b
                  LIMIT page_size OFFSET (page - 1)::bigint * page_size) c),
        (SELECT count(*) FROM customer_mgmt.duplicate_candidates d
          WHERE d.score >= min_score AND (find_duplicate_customers.reason IS NULL OR find_duplicate_customers.reason = ANY (d.reasons))),
        page, page_size);
END
$$;
COMMENT ON FUNCTION find_duplicate_customers(text, numeric, integer, integer) IS
    'Staff: the pairs of customers who are probably one person (of the last refresh_duplicate_candidates), highest score first, each {customerIds, customers, reasons, score, foundAt}, as a page; filtered by a reason and a minimum score. 22023 naming reason, min_score or the page.';

CREATE OR REPLACE FUNCTION dismiss_duplicate(customer_id uuid, other_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a uuid := least(customer_id, other_id);
    b uuid := greatest(customer_id, other_id);
BEGIN
    PERFORM customer_mgmt.customer_row(customer_id);
    PERFORM customer_mgmt.customer_row(other_id);
    IF a = b THEN
        PERFORM customer_mgmt.raise_invalid('other_id', 'must be another customer', other_id::text);
    END IF;
    INSERT INTO customer_mgmt.duplicate_dismissals (customer_a, customer_b, actor_id)
    VALUES (a, b, customer_mgmt.current_actor())
    ON CONFLICT ON CONSTRAINT duplicate_dismissals_pkey DO NOTHING;
    DELETE FROM customer_mgmt.duplicate_candidates d WHERE d.customer_a = a AND d.customer_b = b;
    PERFORM customer_mgmt.audit('dismiss_duplicate', 'customer', a::text, jsonb_build_object('otherId', b));
    RETURN jsonb_build_object('customerIds', jsonb_build_array(a, b), 'dismissed', true);
END
$$;
COMMENT ON FUNCTION dismiss_duplicate(uuid, uuid) IS
    'Admin: marks two customers as not the same person: the pair never comes back as a candidate. PT404 for an unknown customer, 22023 for the same one twice.';

-- The fields a merge may take from a duplicate.
CREATE OR REPLACE FUNCTION merge_fields() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['fullName', 'email', 'phoneNumber', 'dateOfBirth', 'gender', 'province', 'avatarUrl']
$$;
COMMENT ON FUNCTION merge_fields() IS 'Internal: the profile fields a merge may take from a duplicate (the keys of field_choices, as the detail names them).';

-- The merge itself, in the caller's transaction; returns what it did.
CREATE OR REPLACE FUNCTION merge_apply(survivor_id uuid, duplicate_ids uuid[], field_choices jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.users;
    before jsonb;
    profile jsonb := '{}';
    f text;
    src uuid;
    v jsonb;
    moved jsonb := '{}';
    n bigint;
    key text;
    dropped bigint;
    dups customer_mgmt.users[];
BEGIN
    -- checks: every argument before anything is locked
    IF survivor_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('survivor_id', 'is required');
    END IF;
    IF duplicate_ids IS NULL OR cardinality(duplicate_ids) NOT BETWEEN 1 AND 20 OR array_position(duplicate_ids, NULL) IS NOT NULL THEN
        PERFORM customer_mgmt.raise_invalid('duplicate_ids', 'must list from 1 to 20 customer ids');
    END IF;
    IF survivor_id = ANY (duplicate_ids) THEN
        PERFORM customer_mgmt.raise_invalid('duplicate_ids', 'must not list the survivor', survivor_id::text);
    END IF;
    IF (SELECT count(DISTINCT x) FROM unnest(duplicate_ids) x) <> cardinality(duplicate_ids) THEN
        PERFORM customer_mgmt.raise_invalid('duplicate_ids', 'must list each customer once');
    END IF;
    field_choices := coalesce(field_choices, '{}');
    IF jsonb_typeof(field_choices) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('field_choices', 'must be a JSON object of fields to the customer id to take each from');
    END IF;
    FOR f, v IN SELECT * FROM jsonb_each(field_choices) LOOP
        IF NOT f = ANY (customer_mgmt.merge_fields()) THEN
            PERFORM customer_mgmt.raise_invalid('field_choices', format('%s is not a field a merge chooses (%s)', f,
                                                array_to_string(customer_mgmt.merge_fields(), ', ')));
        END IF;
        IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
           OR NOT (v #>> '{}')::uuid = ANY (duplicate_ids || survivor_id) THEN
            PERFORM customer_mgmt.raise_invalid('field_choices', format('%s must name the survivor or one of the duplicates', f));
        END IF;
    END LOOP;
    -- every customer locked, in one order (two merges of overlapping
    -- customers wait for each other instead of deadlocking)
    PERFORM customer_mgmt.lock_customer(x) FROM unnest(duplicate_ids || survivor_id) x ORDER BY x;
    SELECT * INTO s FROM customer_mgmt.users u WHERE u.id = survivor_id;
    SELECT array_agg(u ORDER BY u.id) INTO dups FROM customer_mgmt.users u WHERE u.id = ANY (duplicate_ids);
    IF EXISTS (SELECT FROM customer_mgmt.users u WHERE u.id = ANY (duplicate_ids || survivor_id) AND u.anonymized_at IS NOT NULL) THEN
        RAISE EXCEPTION 'cannot merge: a customer is anonymised'
            USING ERRCODE = 'raise_exception',
                  DETAIL = 'An anonymised customer has no profile left to merge, and merging one would bring its orders to a person.',
                  HINT = 'Leave anonymised customers as they are.';
    END IF;
    before := jsonb_build_object('survivor', customer_mgmt.customer_analytics_dto(
                  (SELECT a FROM customer_mgmt.customer_analytics a WHERE a.customer_id = survivor_id), now()));
    -- the resulting profile, field by field, and where each value comes from
    FOREACH f IN ARRAY customer_mgmt.merge_fields() LOOP
        src := coalesce((field_choices ->> f)::uuid, survivor_id);
        v := (SELECT to_jsonb(u) -> lower(regexp_replace(f, '([A-Z])', '_\1', 'g')) FROM customer_mgmt.users u WHERE u.id = src);
        profile := profile || jsonb_build_object(f, jsonb_build_object('value', v, 'from', src));
    END LOOP;
    -- what the duplicates own, moved (orders and visits first: their
    -- triggers queue both customers)
    FOR f, key IN VALUES ('orders', 'orders'), ('web_sessions', 'sessions'), ('customer_notes', 'notes'),
                         ('customer_status_history', 'statusHistory'), ('event_outbox', 'events'),
                         ('marketing_consents', 'marketingConsents') LOOP
        EXECUTE format('UPDATE customer_mgmt.%I x SET customer_id = $1 WHERE x.customer_id = ANY ($2)', f)
          USING survivor_id, duplicate_ids;
        GET DIAGNOSTICS n = ROW_COUNT;
        moved := moved || jsonb_build_object(key, n);
    END LOOP;
    -- addresses, without those the survivor has already; of each kind of
    -- default the survivor keeps its own, else the first duplicate's
    DELETE FROM customer_mgmt.addresses a
     WHERE a.customer_id = ANY (duplicate_ids)
       AND EXISTS (SELECT FROM customer_mgmt.addresses x
                    WHERE x.customer_id = survivor_id
                      AND (x.recipient_name, x.phone_number, x.street, x.ward, coalesce(x.district, ''), coalesce(x.province, ''))
                        = (a.recipient_name, a.phone_number, a.street, a.ward, coalesce(a.district, ''), coalesce(a.province, '')));
    GET DIAGNOSTICS dropped = ROW_COUNT;
    WITH d AS (
        SELECT y.id,
               first_value(y.id) OVER (ORDER BY y.is_default_shipping DESC, y.created_at, y.id) AS first_shipping,
               first_value(y.id) OVER (ORDER BY y.is_default_billing DESC, y.is_default_shipping DESC, y.created_at, y.id)
                   AS first_billing
          FROM customer_mgmt.addresses y WHERE y.customer_id = ANY (duplicate_ids))
    UPDATE customer_mgmt.addresses a
       SET customer_id = survivor_id,
           is_default_shipping = a.is_default_shipping AND a.id = d.first_shipping AND NOT EXISTS (
               SELECT FROM customer_mgmt.addresses x WHERE x.customer_id = survivor_id AND x.is_default_shipping),
           is_default_billing = a.is_default_billing AND a.id = d.first_billing AND NOT EXISTS (
               SELECT FROM customer_mgmt.addresses x WHERE x.customer_id = survivor_id AND x.is_default_billing)
      FROM d WHERE a.id = d.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    moved := moved || jsonb_build_object('addresses', n, 'addressesAlreadyKnown', dropped);
    -- manual memberships kept; the system's are the survivor's to earn
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, assigned_at, expires_at)
    SELECT survivor_id, x.segment_id, x.assigned_by, x.assigned_at, x.expires_at
      FROM customer_mgmt.customer_segment_assignments x
     WHERE x.customer_id = ANY (duplicate_ids) AND x.assigned_by = 'manual'
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    moved := moved || jsonb_build_object('segmentAssignments', n);
    -- the duplicates' tags join the survivor's, each once (folded), the
    -- survivor's spelling first (past 20 if they hold more together)
    INSERT INTO customer_mgmt.customer_tags (customer_id, tag_key, tag, added_at)
    SELECT survivor_id, x.tag_key, x.tag, x.added_at
      FROM customer_mgmt.customer_tags x
     WHERE x.customer_id = ANY (duplicate_ids)
     ORDER BY x.customer_id, x.id
    ON CONFLICT ON CONSTRAINT customer_tags_pkey DO NOTHING;
    -- the duplicates' ids, and those merged into them before, resolve to the survivor
    UPDATE customer_mgmt.customer_merges m SET survivor_id = merge_apply.survivor_id WHERE m.survivor_id = ANY (duplicate_ids);
    INSERT INTO customer_mgmt.customer_merges (merged_id, survivor_id, external_id, actor_id, moved)
    SELECT x.id, survivor_id, x.external_id, customer_mgmt.current_actor(), moved FROM unnest(dups) x;
    -- the duplicates stop existing as customers (what is left of them goes
    -- with them: their analytics, list rows, queue entries, candidate pairs)
    DELETE FROM customer_mgmt.users u WHERE u.id = ANY (duplicate_ids);
    -- the profile chosen
    UPDATE customer_mgmt.users u
       SET full_name = profile #>> '{fullName,value}', email = profile #>> '{email,value}',
           phone_number = profile #>> '{phoneNumber,value}', date_of_birth = (profile #>> '{dateOfBirth,value}')::date,
           gender = (profile #>> '{gender,value}')::customer_mgmt.gender, province = profile #>> '{province,value}',
           avatar_url = profile #>> '{avatarUrl,value}'
     WHERE u.id = survivor_id
       AND (u.full_name, u.email, u.phone_number, u.date_of_birth, u.gender, u.province, u.avatar_url)
           IS DISTINCT FROM (profile #>> '{fullName,value}', profile #>> '{email,value}', profile #>> '{phoneNumber,value}',
                             (profile #>> '{dateOfBirth,value}')::date, (profile #>> '{gender,value}')::customer_mgmt.gender,
                             profile #>> '{province,value}', profile #>> '{avatarUrl,value}');
    -- the consent in force: the latest record of either
    PERFORM customer_mgmt.consent_sync(survivor_id);
    -- the survivor recalculated now: analytics, list row, CLV summary, segments
    PERFORM customer_mgmt.calculate_customer_analytics(survivor_id);
    DELETE FROM customer_mgmt.analytics_queue q WHERE q.customer_id = survivor_id;
    PERFORM customer_mgmt.emit_event('customer.merged', survivor_id,
                                     jsonb_build_object('customerId', survivor_id, 'mergedIds', to_jsonb(duplicate_ids)));
    RETURN jsonb_build_object(
        'survivorId', survivor_id, 'mergedIds', to_jsonb(duplicate_ids),
        'profile', profile,
        'moved', moved,
        'analyticsBefore', before || jsonb_build_object('duplicates',
            (SELECT jsonb_agg(jsonb_build_object('customerId', x.id) || customer_mgmt.customer_analytics_dto(
                        (SELECT a FROM customer_mgmt.customer_analytics a WHERE a.customer_id = x.id), now()) ORDER BY x.n)
               FROM unnest(dups) WITH ORDINALITY x (id, n))),
        'analyticsAfter', customer_mgmt.customer_analytics_dto(
            (SELECT a FROM customer_mgmt.customer_analytics a WHERE a.customer_id = survivor_id), now()));
END
$$;
COMMENT ON FUNCTION merge_apply(uuid, uuid[], jsonb) IS
    'Internal: merges duplicates into a survivor in the caller''s transaction (checks, locks, moves, aliases, the profile chosen, the recalculation, customer.merged) and returns what it did.';

CREATE OR REPLACE FUNCTION preview_merge(survivor_id uuid, duplicate_ids uuid[], field_choices jsonb DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    -- the merge itself, undone: what it shows is what merge_customers does
    BEGIN
        result := customer_mgmt.merge_apply(survivor_id, duplicate_ids, field_choices);
        RAISE EXCEPTION USING ERRCODE = 'PT299';
    EXCEPTION WHEN SQLSTATE 'PT299' THEN
        NULL;
    END;
    RETURN result || jsonb_build_object('preview', true);
END
$$;
COMMENT ON FUNCTION preview_merge(uuid, uuid[], jsonb) IS
    'Admin: what merge_customers would do, written nowhere: the resulting profile field by field with the customer each value comes from, the counts of what moves, the analytics before and after. Fails as merge_customers would.';

CREATE OR REPLACE FUNCTION merge_customers(survivor_id uuid, duplicate_ids uuid[], field_choices jsonb DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb := customer_mgmt.merge_apply(survivor_id, duplicate_ids, field_choices);
BEGIN
    PERFORM customer_mgmt.audit('merge_customers', 'customer', survivor_id::text,
                                jsonb_build_object('mergedIds', to_jsonb(duplicate_ids), 'moved', result -> 'moved',
                                                   'fieldChoices', coalesce(field_choices, '{}')));
    RETURN result || jsonb_build_object('preview', false);
END
$$;
COMMENT ON FUNCTION merge_customers(uuid, uuid[], jsonb) IS
    'Admin: merges duplicates into a survivor in one transaction (docs/duplicates.md): orders, visits, addresses (not those the survivor has), notes, status history, manual segment memberships, events and the shop''s ids move; the profile takes each field in field_choices from the customer named (the survivor''s by default); the duplicates stop existing and their ids resolve to the survivor; the survivor is recalculated; customer.merged to the outbox; audited. 22023 naming survivor_id, duplicate_ids or field_choices, PT404, P0001 for an anonymised customer.';

-- What ingestion does with a new customer whose canonical phone number or
-- mailbox an existing customer has (setting identity.on_duplicate): allow
-- (nothing), warn, refuse (23505 naming the field) or merge (the existing
-- customer is the one).  Returns {id, reason, mode} of the existing
-- customer, or NULL.
CREATE OR REPLACE FUNCTION identity_match(u users) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mode text := customer_mgmt.setting('identity.on_duplicate');
    found uuid;
    reason text;
BEGIN
    IF mode = 'allow' THEN
        RETURN NULL;
    END IF;
    SELECT x.id, 'email' INTO found, reason FROM customer_mgmt.users x
     WHERE customer_mgmt.email_identity(x.email) = customer_mgmt.email_identity(u.email) AND x.role = 'customer'
       AND x.anonymized_at IS NULL
     ORDER BY x.created_at, x.id LIMIT 1;
    IF found IS NULL AND u.phone_number IS NOT NULL THEN
        SELECT x.id, 'phone' INTO found, reason FROM customer_mgmt.users x
         WHERE x.phone_number = u.phone_number AND x.role = 'customer' AND x.anonymized_at IS NULL
         ORDER BY x.created_at, x.id LIMIT 1;
    END IF;
    IF found IS NULL THEN
        RETURN NULL;
    END IF;
    IF mode = 'refuse' THEN
        RAISE EXCEPTION 'a customer with this % exists', CASE reason WHEN 'email' THEN 'mailbox' ELSE 'phone number' END
            USING ERRCODE = 'unique_violation', COLUMN = CASE reason WHEN 'email' THEN 'email' ELSE 'phone_number' END,
                  DETAIL = format('Field "%s" matches customer %s (the shop refuses duplicates: setting identity.on_duplicate).',
                                  CASE reason WHEN 'email' THEN 'email' ELSE 'phone_number' END, found),
                  HINT = 'Update that customer, or merge the two with merge_customers.';
    END IF;
    RETURN jsonb_build_object('id', found, 'reason', reason, 'mode', mode);
END
$$;
COMMENT ON FUNCTION identity_match(users) IS
    'Internal: the existing customer a new one duplicates by mailbox or canonical phone, as the setting identity.on_duplicate asks: NULL (allow, or none), 23505 naming the field (refuse), or {id, reason, mode} (warn, merge).';

-- After ingestion met a duplicate: warn records the pair at once and says
-- so (ids only); merge gives the existing customer the shop's id (or an
-- alias of it, when it has its own).
CREATE OR REPLACE FUNCTION identity_followup(matched jsonb, new_id uuid, external_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    existing uuid := (matched ->> 'id')::uuid;
BEGIN
    IF matched IS NULL THEN
        RETURN;
    ELSIF matched ->> 'mode' = 'warn' THEN
        INSERT INTO customer_mgmt.duplicate_candidates (customer_a, customer_b, reasons, score)
        VALUES (least(existing, new_id), greatest(existing, new_id), ARRAY[matched ->> 'reason'],
                customer_mgmt.duplicate_reason_weight(matched ->> 'reason'))
        ON CONFLICT ON CONSTRAINT duplicate_candidates_pkey DO NOTHING;
        RAISE WARNING 'customer % may be customer % (the same %)', new_id, existing,
                      CASE matched ->> 'reason' WHEN 'email' THEN 'mailbox' ELSE 'phone number' END
            USING HINT = 'find_duplicate_customers lists the pair; merge_customers joins them.';
    ELSIF external_id IS NOT NULL THEN
        UPDATE customer_mgmt.users x SET external_id = identity_followup.external_id
         WHERE x.id = existing AND x.external_id IS NULL;
        IF NOT FOUND THEN
            INSERT INTO customer_mgmt.customer_merges (merged_id, survivor_id, external_id, actor_id, moved)
            VALUES (gen_random_uuid(), existing, identity_followup.external_id, customer_mgmt.current_actor(),
                    jsonb_build_object('matchedAtIngestion', matched ->> 'reason'))
            ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION identity_followup(jsonb, uuid, text) IS
    'Internal: after ingestion met a duplicate (identity_match): warn records the pair and raises a WARNING naming the ids; merge gives the existing customer the shop''s id, or keeps it as an alias.';
