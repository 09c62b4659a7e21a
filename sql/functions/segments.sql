-- customer_mgmt: Segments (docs/segments.md): their definitions and
-- DTOs, writes, memberships (applied, assigned, refreshed) and reads.

-- CustomerSegmentDto: the entity's columns in camelCase; customerCount is
-- kept exact by the assignments' trigger.
CREATE OR REPLACE FUNCTION segment_dto(s customer_segments) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('id', s.id, 'name', s.name, 'description', s.description, 'criteria', s.criteria,
                              'query', s.query, 'colorCode', s.color_code, 'isActive', s.is_active,
                              'autoAssign', s.auto_assign, 'isSystem', s.is_system, 'customerCount', s.customer_count,
                              'createdBy', s.created_by, 'createdAt', s.created_at, 'updatedAt', s.updated_at)
$$;
COMMENT ON FUNCTION segment_dto(customer_segments) IS 'Internal: CustomerSegmentDto of a segment row.';

-- The segment with this id, PT404 when there is none, 22023 when NULL.
CREATE OR REPLACE FUNCTION find_segment(segment_id uuid, for_update boolean DEFAULT false) RETURNS customer_segments
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
BEGIN
    IF segment_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('segment_id', 'is required');
    END IF;
    IF for_update THEN
        SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = segment_id FOR UPDATE;
    ELSE
        SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = segment_id;
    END IF;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Segment', segment_id::text);
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION find_segment(uuid, boolean) IS
    'Internal: the segment with this id (locked, with for_update), PT404 when there is none, 22023 when it is NULL.';

-- Checked columns of a segment (the name and description are checked
-- before they are put in the row, whose types would cut them); 22023
-- naming the field.
CREATE OR REPLACE FUNCTION check_segment(s customer_segments) RETURNS customer_segments
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF s.color_code IS NOT NULL AND s.color_code !~ '^#[0-9A-Fa-f]{6}$' THEN
        PERFORM customer_mgmt.raise_invalid('color_code', 'must be #RRGGBB', left(s.color_code, 100));
    END IF;
    s.query := nullif(btrim(s.query), '');
    s.criteria := coalesce(s.criteria, '{}');
    -- compiles, or 22023 naming the key or the position
    PERFORM customer_mgmt.segment_predicate(s.criteria, s.query, now());
    -- refers to no segment that refers back to it, however far
    IF s.query IS NOT NULL AND EXISTS (
        WITH RECURSIVE r (name) AS (
            SELECT lower(n) FROM unnest(customer_mgmt.segment_query_segments(s.query)) n
            UNION
            SELECT n
              FROM r JOIN customer_mgmt.customer_segments g ON lower(g.name) = r.name AND g.id IS DISTINCT FROM s.id,
                   unnest(customer_mgmt.segment_refs(g.query)) n)
        SELECT FROM r WHERE r.name = lower(s.name)) THEN
        PERFORM customer_mgmt.raise_invalid('query', 'refers to the segment itself, directly or through the segments it refers to',
                                            s.name);
    END IF;
    IF s.is_active IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('isActive', 'must be true or false');
    END IF;
    IF s.auto_assign IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('autoAssign', 'must be true or false');
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION check_segment(customer_segments) IS
    'Internal: a segment row with its colour, flags and definition checked (22023 naming the field); the definition must compile.';

-- The segments a stored query refers to, folded; {} for a query that no
-- longer compiles (one written to the table by hand: left alone).
CREATE OR REPLACE FUNCTION segment_refs(query text) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(SELECT lower(n) FROM unnest(customer_mgmt.segment_query_segments(query)) n);
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN '{}';
END
$$;
COMMENT ON FUNCTION segment_refs(text) IS
    'Internal: the names (lower case) of the segments a stored query refers to; {} for NULL or a query that does not compile.';

-- Every segment's depth of references (0: refers to no segment; else one
-- more than the deepest it refers to), kept on the segments whenever one
-- is written or deleted: the order the events and the nightly refresh
-- evaluate them in, so that one pass sees the new members of those they
-- refer to.  Each reference once (UNION), at most 20 deep.
CREATE OR REPLACE FUNCTION set_segment_depths() RETURNS void
    LANGUAGE sql
AS $$
    WITH RECURSIVE e AS MATERIALIZED (
        SELECT g.id, r.name FROM customer_mgmt.customer_segments g, unnest(customer_mgmt.segment_refs(g.query)) r (name)
         WHERE g.query IS NOT NULL),
    d (id, depth) AS (
        SELECT g.id, 0 FROM customer_mgmt.customer_segments g
        UNION
        SELECT e.id, d.depth + 1
          FROM d JOIN customer_mgmt.customer_segments t ON t.id = d.id JOIN e ON e.name = lower(t.name)
         WHERE d.depth < 20)
    UPDATE customer_mgmt.customer_segments x SET reference_depth = m.depth
      FROM (SELECT d.id, max(d.depth) AS depth FROM d GROUP BY d.id) m
     WHERE x.id = m.id AND x.reference_depth <> m.depth
$$;
COMMENT ON FUNCTION set_segment_depths() IS
    'Internal: sets every segment''s reference_depth from the references of the stored queries (segment = ''name'').';

-- Definitions are written one at a time (a transaction-scoped lock), so
-- that the checks of references (no cycle, no reference to a segment being
-- renamed or deleted) see every definition committed before them.
CREATE OR REPLACE FUNCTION lock_segment_definitions() RETURNS void
    LANGUAGE sql
AS $$
    SELECT pg_catalog.pg_advisory_xact_lock('customer_mgmt.customer_segments'::regclass::oid::integer, 0)
$$;
COMMENT ON FUNCTION lock_segment_definitions() IS
    'Internal: takes the transaction''s lock on segment definitions (an advisory lock keyed by customer_segments'' oid): create, update and delete of segments take it before their checks.';

-- A segment another refers to keeps its name and stays: P0001 naming them.
CREATE OR REPLACE FUNCTION refuse_referenced_segment(s customer_segments, action text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    referrers text;
BEGIN
    SELECT string_agg(g.name, ', ' ORDER BY g.name) INTO referrers
      FROM customer_mgmt.customer_segments g
     WHERE g.id <> s.id AND g.query IS NOT NULL
       AND lower(s.name) = ANY (customer_mgmt.segment_refs(g.query));
    IF referrers IS NOT NULL THEN
        RAISE EXCEPTION 'segment % cannot be %: other segments refer to it', s.name, action
            USING ERRCODE = 'P0001',
                  DETAIL = format('The queries of %s name segment %s.', referrers, s.name),
                  HINT = 'Change those segments first.';
    END IF;
END
$$;
COMMENT ON FUNCTION refuse_referenced_segment(customer_segments, text) IS
    'Internal: P0001 when another segment''s query refers to this one (segment = ''name''), before it is renamed or deleted.';

-- A system segment is the extension's: not redefined, not deleted.
CREATE OR REPLACE FUNCTION refuse_system_segment(s customer_segments, action text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF s.is_system THEN
        RAISE EXCEPTION 'system segment % cannot be %', s.name, action
            USING ERRCODE = 'P0001',
                  DETAIL = format('Segment %s (%s) is maintained by the extension.', s.id, s.name),
                  HINT = 'Create a segment of your own.';
    END IF;
END
$$;
COMMENT ON FUNCTION refuse_system_segment(customer_segments, text) IS
    'Internal: P0001 for a system segment (new-customers, at-risk-customers).';

-- The name is unique, case-insensitively: 23505 naming it.
CREATE OR REPLACE FUNCTION write_segment(s customer_segments, is_new boolean) RETURNS customer_segments
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF is_new THEN
        INSERT INTO customer_mgmt.customer_segments
               (id, name, description, criteria, query, color_code, is_active, auto_assign, created_by)
        VALUES (s.id, s.name, s.description, s.criteria, s.query, s.color_code, s.is_active, s.auto_assign,
                s.created_by)
        RETURNING * INTO s;
    ELSE
        UPDATE customer_mgmt.customer_segments x
           SET name = s.name, description = s.description, criteria = s.criteria, query = s.query,
               color_code = s.color_code, is_active = s.is_active, auto_assign = s.auto_assign
         WHERE x.id = s.id
        RETURNING * INTO s;
    END IF;
    PERFORM customer_mgmt.set_segment_depths();
    SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN s;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'a segment named % already exists', s.name
        USING ERRCODE = '23505', COLUMN = 'name',
              DETAIL = format('Field "name": segment names are unique regardless of case (%s).', s.name),
              HINT = 'Choose another name, or update the existing segment.';
END
$$;
COMMENT ON FUNCTION write_segment(customer_segments, boolean) IS
    'Internal: inserts or updates a checked segment row; 23505 naming "name" for a duplicate.';

-- Bring an auto-assigned segment's members to exactly the customers who
-- match it now: system assignments added and removed, manual ones kept
-- (expired ones aside); entering and leaving go to the outbox.  Returns
-- {added, removed, customerCount}.
CREATE OR REPLACE FUNCTION apply_segment(s customer_segments, as_of timestamptz) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    -- the matches and the members are compared whole, by hash: the planner
    -- cannot know a segment's size before it is filled (statistics), and a
    -- nested loop over two sets of 100,000s is quadratic
    SET enable_nestloop = off
    -- a scan of every customer is estimated costly enough to compile, and
    -- the compilation (up to a second) is never won back
    SET jit = off
AS $$
DECLARE
    added bigint := 0;
    removed bigint := 0;
BEGIN
    IF s.auto_assign AND s.is_active AND NOT s.is_system THEN
        EXECUTE format($q$
            -- the matches and the members, each read once, compared by
            -- hash: only the difference is written
            WITH m AS MATERIALIZED (
                SELECT s.customer_id FROM customer_mgmt.segment_attributes($1) s WHERE %s),
            cur AS MATERIALIZED (
                SELECT x.customer_id, x.assigned_by FROM customer_mgmt.customer_segment_assignments x
                 WHERE x.segment_id = $2),
            gone AS (
                DELETE FROM customer_mgmt.customer_segment_assignments x
                 WHERE x.segment_id = $2 AND x.assigned_by = 'system'
                   AND x.customer_id IN (SELECT c.customer_id FROM cur c
                                          WHERE c.assigned_by = 'system'
                                            AND NOT EXISTS (SELECT FROM m WHERE m.customer_id = c.customer_id))
                RETURNING x.customer_id),
            new AS (
                INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_at, assigned_by)
                SELECT m.customer_id, $2, $1, 'system' FROM m
                 WHERE NOT EXISTS (SELECT FROM cur c WHERE c.customer_id = m.customer_id)
                -- a member added since cur was read (the queue worker)
                ON CONFLICT (customer_id, segment_id) DO NOTHING
                RETURNING customer_id),
            events AS (
                INSERT INTO customer_mgmt.event_outbox (event_type, customer_id, payload)
                SELECT e.t, e.customer_id, jsonb_build_object('customerId', e.customer_id, 'segmentId', $2, 'segmentName', $3)
                  FROM (SELECT 'customer.segment_left' AS t, g.customer_id FROM gone g
                        UNION ALL SELECT 'customer.segment_entered', n.customer_id FROM new n) e)
            SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM gone)$q$,
            customer_mgmt.segment_predicate(s.criteria, s.query, as_of))
        INTO added, removed USING as_of, s.id, s.name;
    END IF;
    RETURN jsonb_build_object('added', added, 'removed', removed,
                              'customerCount', (SELECT x.customer_count FROM customer_mgmt.customer_segments x WHERE x.id = s.id));
END
$$;
COMMENT ON FUNCTION apply_segment(customer_segments, timestamptz) IS
    'Internal: makes an active auto-assigned segment''s system assignments exactly the customers who match it as of a time, manual assignments kept; customer.segment_entered and customer.segment_left to the outbox.';

-- customer_count follows the assignments (statement trigger).
CREATE OR REPLACE FUNCTION segment_assignments_count() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE customer_mgmt.customer_segments s SET customer_count = s.customer_count + d.n
          FROM (SELECT n.segment_id, count(*) AS n FROM new_rows n GROUP BY n.segment_id) d
         WHERE s.id = d.segment_id;
    ELSE
        UPDATE customer_mgmt.customer_segments s SET customer_count = s.customer_count - d.n
          FROM (SELECT o.segment_id, count(*) AS n FROM old_rows o GROUP BY o.segment_id) d
         WHERE s.id = d.segment_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION segment_assignments_count() IS
    'Statement trigger (assignments added or removed): keeps customer_segments.customer_count equal to the members.';

CREATE OR REPLACE FUNCTION create_segment(name text, query text DEFAULT NULL, criteria jsonb DEFAULT NULL,
                                          description text DEFAULT NULL, color_code text DEFAULT NULL,
                                          auto_assign boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
BEGIN
    PERFORM customer_mgmt.lock_segment_definitions();
    s.id := gen_random_uuid();
    s.name := customer_mgmt.check_text('name', name, 100);
    s.criteria := coalesce(create_segment.criteria, '{}');
    s.query := create_segment.query;
    s.description := customer_mgmt.check_text('description', create_segment.description, 500, false);
    s.color_code := create_segment.color_code;
    s.is_active := true;
    s.auto_assign := coalesce(create_segment.auto_assign, true);
    s.created_by := customer_mgmt.current_actor();
    s := customer_mgmt.write_segment(customer_mgmt.check_segment(s), true);
    PERFORM customer_mgmt.audit('create_segment', 'segment', s.id::text,
        jsonb_build_object('after', jsonb_build_object('name', s.name, 'criteria', s.criteria, 'query', s.query,
                                                       'autoAssign', s.auto_assign)));
    PERFORM customer_mgmt.apply_segment(s, now());
    SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN customer_mgmt.segment_dto(s);
END
$$;
COMMENT ON FUNCTION create_segment(text, text, jsonb, text, text, boolean) IS
    'Admin: creates a segment defined by a query of the segment language (docs/segments.md), criteria, or both (AND); an auto-assigned one gets its members at once. Returns CustomerSegmentDto. 22023 naming a bad field or key (or the query''s position), 23505 for a name taken.';

CREATE OR REPLACE FUNCTION update_segment(segment_id uuid, changes jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
    before jsonb;
    k text;
BEGIN
    PERFORM customer_mgmt.lock_segment_definitions();
    s := customer_mgmt.find_segment(segment_id, true);
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('changes', 'must be a JSON object', left(changes::text, 100));
    END IF;
    FOR k IN SELECT jsonb_object_keys(changes) LOOP
        IF k NOT IN ('name', 'description', 'criteria', 'query', 'colorCode', 'isActive', 'autoAssign') THEN
            PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a field a segment update may change');
        END IF;
        IF k IN ('isActive', 'autoAssign') AND jsonb_typeof(changes -> k) <> 'boolean' THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be true or false', left((changes -> k)::text, 100));
        END IF;
        IF k IN ('name', 'description', 'query', 'colorCode') AND jsonb_typeof(changes -> k) NOT IN ('string', 'null') THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be a string', left((changes -> k)::text, 100));
        END IF;
    END LOOP;
    PERFORM customer_mgmt.refuse_system_segment(s, 'redefined');
    IF changes ? 'name' AND lower(btrim(changes ->> 'name')) IS DISTINCT FROM lower(s.name) THEN
        PERFORM customer_mgmt.refuse_referenced_segment(s, 'renamed');
    END IF;
    IF changes ? 'name' THEN s.name := customer_mgmt.check_text('name', changes ->> 'name', 100); END IF;
    IF changes ? 'description' THEN
        s.description := customer_mgmt.check_text('description', changes ->> 'description', 500, false);
    END IF;
    IF changes ? 'criteria' THEN s.criteria := CASE WHEN jsonb_typeof(changes -> 'criteria') = 'null' THEN '{}' ELSE changes -> 'criteria' END; END IF;
    IF changes ? 'query' THEN s.query := changes ->> 'query'; END IF;
    IF changes ? 'colorCode' THEN s.color_code := changes ->> 'colorCode'; END IF;
    IF changes ? 'isActive' THEN s.is_active := (changes ->> 'isActive')::boolean; END IF;
    IF changes ? 'autoAssign' THEN s.auto_assign := (changes ->> 'autoAssign')::boolean; END IF;
    before := customer_mgmt.segment_dto(customer_mgmt.find_segment(s.id));
    s := customer_mgmt.write_segment(customer_mgmt.check_segment(s), false);
    -- a segment's definition is the shop's, not a person's: before and after
    PERFORM customer_mgmt.audit('update_segment', 'segment', s.id::text,
        (SELECT jsonb_build_object('before', jsonb_object_agg(c.key, before -> c.key), 'after', jsonb_object_agg(c.key, c.value))
           FROM jsonb_each(changes) c));
    PERFORM customer_mgmt.apply_segment(s, now());
    SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN customer_mgmt.segment_dto(s);
END
$$;
COMMENT ON FUNCTION update_segment(uuid, jsonb) IS
    'Admin: changes a segment (keys as in CustomerSegmentDto: name, description, criteria, query, colorCode, isActive, autoAssign; absent keys unchanged) and re-evaluates its members. Returns CustomerSegmentDto. P0001 for a system segment.';

CREATE OR REPLACE FUNCTION delete_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
BEGIN
    PERFORM customer_mgmt.lock_segment_definitions();
    s := customer_mgmt.find_segment(segment_id, true);
    PERFORM customer_mgmt.refuse_system_segment(s, 'deleted');
    PERFORM customer_mgmt.refuse_referenced_segment(s, 'deleted');
    DELETE FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    PERFORM customer_mgmt.set_segment_depths();
    PERFORM customer_mgmt.audit('delete_segment', 'segment', s.id::text,
        jsonb_build_object('before', jsonb_build_object('name', s.name, 'criteria', s.criteria, 'query', s.query),
                           'customerCount', s.customer_count));
    RETURN jsonb_build_object('id', s.id, 'name', s.name, 'deleted', true, 'customerCount', s.customer_count);
END
$$;
COMMENT ON FUNCTION delete_segment(uuid) IS
    'Admin: deletes a segment and its assignments. Returns {id, name, deleted, customerCount}. P0001 for a system segment, PT404 for none.';

CREATE OR REPLACE FUNCTION refresh_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id, true);
    result jsonb;
BEGIN
    result := customer_mgmt.apply_segment(s, now()) || jsonb_build_object('segmentId', s.id);
    PERFORM customer_mgmt.audit('refresh_segment', 'segment', s.id::text, result - 'segmentId');
    RETURN result;
END
$$;
COMMENT ON FUNCTION refresh_segment(uuid) IS
    'Admin (and the nightly job): brings an active auto-assigned segment''s members to exactly the customers who match it now, keeping manual assignments; entering and leaving go to the outbox. Returns {segmentId, added, removed, customerCount}.';

CREATE OR REPLACE FUNCTION get_segments(page integer DEFAULT 1, page_size integer DEFAULT 20) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    RETURN customer_mgmt.page_envelope(
        (SELECT jsonb_agg(customer_mgmt.segment_dto(s) ORDER BY s.is_system DESC, s.name, s.id)
           FROM (SELECT * FROM customer_mgmt.customer_segments x ORDER BY x.is_system DESC, x.name, x.id
                  LIMIT page_size OFFSET (page - 1)::bigint * page_size) s),
        (SELECT count(*) FROM customer_mgmt.customer_segments), page, page_size);
END
$$;
COMMENT ON FUNCTION get_segments(integer, integer) IS
    'Staff: the segments, system ones first, then by name: a page of CustomerSegmentDto in the list envelope.';

CREATE OR REPLACE FUNCTION get_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN customer_mgmt.segment_dto(customer_mgmt.find_segment(segment_id));
END
$$;
COMMENT ON FUNCTION get_segment(uuid) IS 'Staff: one segment as CustomerSegmentDto; PT404 when there is none.';

CREATE OR REPLACE FUNCTION assign_customer_segments(customer_id uuid, segment_ids uuid[], expires_at timestamptz DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    sid uuid;
    s customer_mgmt.customer_segments;
BEGIN
    IF segment_ids IS NULL OR cardinality(segment_ids) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('segment_ids', 'must name at least one segment');
    END IF;
    IF cardinality(segment_ids) > 100 THEN
        PERFORM customer_mgmt.raise_invalid('segment_ids', 'must name at most 100 segments', cardinality(segment_ids)::text);
    END IF;
    IF assign_customer_segments.expires_at IS NOT NULL
       AND (NOT isfinite(assign_customer_segments.expires_at) OR assign_customer_segments.expires_at <= now()) THEN
        PERFORM customer_mgmt.raise_invalid('expires_at', 'must be a finite time in the future',
                                            assign_customer_segments.expires_at::text);
    END IF;
    FOREACH sid IN ARRAY segment_ids LOOP
        s := customer_mgmt.find_segment(sid);
        PERFORM customer_mgmt.refuse_system_segment(s, 'assigned by hand');
        WITH up AS (
            INSERT INTO customer_mgmt.customer_segment_assignments AS x (customer_id, segment_id, assigned_by, expires_at)
            VALUES (u.id, s.id, 'manual', assign_customer_segments.expires_at)
            ON CONFLICT (customer_id, segment_id) DO UPDATE
               SET assigned_by = 'manual', expires_at = excluded.expires_at
            RETURNING (xmax = 0) AS inserted)
        INSERT INTO customer_mgmt.event_outbox (event_type, customer_id, payload)
        SELECT 'customer.segment_entered', u.id, jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'segmentName', s.name)
          FROM up WHERE up.inserted;
    END LOOP;
    PERFORM customer_mgmt.audit('assign_customer_segments', 'customer', u.id::text,
        jsonb_build_object('segmentIds', to_jsonb(segment_ids), 'expiresAt', assign_customer_segments.expires_at));
    RETURN customer_mgmt.get_customer_segments(u.id, 1, 100);
END
$$;
COMMENT ON FUNCTION assign_customer_segments(uuid, uuid[], timestamptz) IS
    'Admin: puts a customer in segments by hand (kept by refreshes; until expires_at, when given); a new membership goes to the outbox as customer.segment_entered. Returns the customer''s segments as get_customer_segments does (its first 100). P0001 for a system segment.';

CREATE OR REPLACE FUNCTION remove_customer_from_segment(customer_id uuid, segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id);
    n integer;
BEGIN
    DELETE FROM customer_mgmt.customer_segment_assignments x WHERE x.customer_id = u.id AND x.segment_id = s.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM customer_mgmt.emit_event('customer.segment_left', u.id,
                                         jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'segmentName', s.name));
    END IF;
    PERFORM customer_mgmt.audit('remove_customer_from_segment', 'customer', u.id::text,
        jsonb_build_object('segmentId', s.id, 'removed', n > 0));
    RETURN jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'removed', n > 0);
END
$$;
COMMENT ON FUNCTION remove_customer_from_segment(uuid, uuid) IS
    'Admin: takes a customer out of a segment (an auto-assigned one takes them back at its next refresh if they still match). Returns {customerId, segmentId, removed}.';

CREATE OR REPLACE FUNCTION get_customer_segments(customer_id uuid, page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    RETURN customer_mgmt.page_envelope(
        (SELECT jsonb_agg(customer_mgmt.segment_dto(s) || jsonb_build_object('assignedAt', m.assigned_at,
                          'assignedBy', m.assigned_by, 'expiresAt', m.expires_at) ORDER BY m.assigned_at, s.name, s.id)
           FROM (SELECT x.* FROM customer_mgmt.customer_segment_assignments x
                   JOIN customer_mgmt.customer_segments y ON y.id = x.segment_id
                  WHERE x.customer_id = u.id AND (x.expires_at IS NULL OR x.expires_at > now())
                  ORDER BY x.assigned_at, y.name, y.id
                  LIMIT page_size OFFSET (page - 1)::bigint * page_size) m
           JOIN customer_mgmt.customer_segments s ON s.id = m.segment_id),
        (SELECT count(*) FROM customer_mgmt.customer_segment_assignments x
          WHERE x.customer_id = u.id AND (x.expires_at IS NULL OR x.expires_at > now())),
        page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_segments(uuid, integer, integer) IS
    'Staff: the segments a customer is in now, in the order they joined: a page of CustomerSegmentDto with assignedAt, assignedBy (system, manual) and expiresAt, in the list envelope.';

CREATE OR REPLACE FUNCTION get_segment_insights(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id);
    shop_tz text := customer_mgmt.setting('shop_timezone');
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    result jsonb;
BEGIN
    WITH m AS MATERIALIZED (
        SELECT a.*, u.province, u.date_of_birth
          FROM customer_mgmt.customer_segment_assignments x
          JOIN customer_mgmt.customer_analytics a ON a.customer_id = x.customer_id
          JOIN customer_mgmt.users u ON u.id = x.customer_id
         WHERE x.segment_id = s.id AND (x.expires_at IS NULL OR x.expires_at > now())),
    n AS (SELECT greatest(count(*), 1) AS n FROM m)
    SELECT jsonb_build_object(
        'segmentId', s.id, 'segmentName', s.name,
        'customerCount', (SELECT count(*) FROM m),
        'averageLTV', (SELECT round(coalesce(avg(m.customer_lifetime_value), 0), 2) FROM m),
        'averageOrderValue', (SELECT round(coalesce(sum(m.total_spent) / nullif(sum(m.total_orders), 0), 0), 2) FROM m),
        'totalRevenue', (SELECT coalesce(sum(m.total_spent), 0) FROM m),
        'churnRate', (SELECT round(count(*) FILTER (WHERE m.churn_risk_score >= high)::numeric / n.n, 4) FROM m, n GROUP BY n.n),
        'engagementRate', (SELECT round(count(*) FILTER (WHERE m.engagement_score >= 0.5)::numeric / n.n, 4) FROM m, n GROUP BY n.n),
        'topCategories', (SELECT coalesce(jsonb_agg(jsonb_build_object('category', t.category, 'customers', t.customers)
                                                   ORDER BY t.customers DESC, t.category COLLATE "C"), '[]')
                            FROM (SELECT e ->> 'category' AS category, count(*) AS customers
                                    FROM m, jsonb_array_elements(m.favorite_categories) e
                                   GROUP BY 1 ORDER BY 2 DESC, (e ->> 'category') COLLATE "C" LIMIT 5) t),
        'ageDistribution', (SELECT jsonb_agg(jsonb_build_object('range', b.label, 'count', coalesce(x.n, 0)) ORDER BY b.ord)
                              FROM customer_mgmt.age_bands() b
                              LEFT JOIN (SELECT customer_mgmt.age_band(m.date_of_birth, (now() AT TIME ZONE shop_tz)::date) AS ord,
                                                count(*) AS n
                                           FROM m GROUP BY 1) x ON x.ord = b.ord),
        'geographicDistribution', (SELECT coalesce(jsonb_agg(jsonb_build_object('province', g.province, 'count', g.n)
                                                            ORDER BY g.n DESC, g.province NULLS LAST), '[]')
                                     FROM (SELECT coalesce(p.current_name, m.province) AS province, count(*) AS n
                                             FROM m LEFT JOIN customer_mgmt.provinces p ON p.name = m.province
                                            GROUP BY 1) g))
      INTO result;
    -- 1.3's name of averageLTV, deprecated (CHANGELOG.md): gone in 1.5
    RETURN result || jsonb_build_object('averageLifetimeValue', result -> 'averageLTV');
END
$$;
COMMENT ON FUNCTION get_segment_insights(uuid) IS
    'Staff: the design''s SegmentInsights of a segment''s current members: customerCount, averageLTV (averageLifetimeValue: its deprecated 1.3 name), averageOrderValue, totalRevenue, churnRate (churn risk at or above the high threshold), engagementRate (engagement at least 0.5), topCategories, ageDistribution, geographicDistribution.';

-- One customer's auto-assigned segments re-evaluated (after their analytics
-- changed: the queue worker, calculate_customer_analytics): joined or left,
-- with the outbox events.  Returns how many memberships changed.
CREATE OR REPLACE FUNCTION apply_customer_segments(customer_id uuid, as_of timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s customer_mgmt.customer_segments;
    predicate text;
    matches boolean;
    member boolean;
    changed integer := 0;
BEGIN
    -- FOR SHARE: a refresh of the segment (FOR UPDATE) finishes first, or
    -- waits for this transaction; each reads what the other wrote
    -- (test/specs/segment_refresh.spec)
    FOR s IN SELECT * FROM customer_mgmt.customer_segments x
              WHERE x.auto_assign AND x.is_active AND NOT x.is_system ORDER BY x.reference_depth, x.id FOR SHARE LOOP
        -- a segment without a definition that compiles (one written to the
        -- table by hand, or by 1.2) is left alone: the worker goes on
        BEGIN
            predicate := customer_mgmt.segment_predicate(s.criteria, s.query, as_of);
        EXCEPTION WHEN invalid_parameter_value THEN
            CONTINUE;
        END;
        EXECUTE format('SELECT EXISTS (SELECT FROM customer_mgmt.segment_attributes($1) s WHERE s.customer_id = $2 AND %s)',
                       predicate)
           INTO matches USING as_of, apply_customer_segments.customer_id;
        SELECT EXISTS (SELECT FROM customer_mgmt.customer_segment_assignments x
                        WHERE x.customer_id = apply_customer_segments.customer_id AND x.segment_id = s.id)
          INTO member;
        IF matches AND NOT member THEN
            INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_at, assigned_by)
            VALUES (apply_customer_segments.customer_id, s.id, as_of, 'system')
            ON CONFLICT ON CONSTRAINT customer_segment_assignments_customer_id_segment_id_key DO NOTHING;
            PERFORM customer_mgmt.emit_event('customer.segment_entered', apply_customer_segments.customer_id,
                        jsonb_build_object('customerId', apply_customer_segments.customer_id, 'segmentId', s.id,
                                           'segmentName', s.name));
            changed := changed + 1;
        ELSIF NOT matches AND member THEN
            DELETE FROM customer_mgmt.customer_segment_assignments x
             WHERE x.customer_id = apply_customer_segments.customer_id AND x.segment_id = s.id AND x.assigned_by = 'system';
            IF FOUND THEN
                PERFORM customer_mgmt.emit_event('customer.segment_left', apply_customer_segments.customer_id,
                            jsonb_build_object('customerId', apply_customer_segments.customer_id, 'segmentId', s.id,
                                               'segmentName', s.name));
                changed := changed + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION apply_customer_segments(uuid, timestamptz) IS
    'Internal: one customer''s active auto-assigned segments re-evaluated as of a time (joined or left, with customer.segment_entered and customer.segment_left); returns the memberships changed.';

-- Every active auto-assigned segment refreshed (the end of the nightly run).
CREATE OR REPLACE FUNCTION refresh_all_segments(as_of timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
    n integer := 0;
BEGIN
    FOR s IN SELECT * FROM customer_mgmt.customer_segments x
              WHERE x.auto_assign AND x.is_active AND NOT x.is_system ORDER BY x.reference_depth, x.id FOR UPDATE LOOP
        -- one without a definition that compiles is left alone (as above)
        BEGIN
            PERFORM customer_mgmt.apply_segment(s, as_of);
            n := n + 1;
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;
        END;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION refresh_all_segments(timestamptz) IS
    'Internal: refreshes every active auto-assigned segment whose definition compiles as of a time (apply_segment); returns how many.';
