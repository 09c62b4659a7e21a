-- customer_mgmt: Internal notes on customers (docs/reference.md, Notes): writing, changing,
-- deleting and listing them, with the ownership rules of docs/operations.md, Roles.

-- CustomerNoteDto; authorName is NULL for system notes.
CREATE OR REPLACE FUNCTION note_dto(n customer_notes) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'id', n.id, 'customerId', n.customer_id, 'authorId', n.author_id,
            'authorName', (SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = n.author_id),
            'title', n.title, 'content', n.content, 'type', n.type, 'priority', n.priority,
            'isInternal', n.is_internal, 'tags', n.tags, 'createdAt', n.created_at, 'updatedAt', n.updated_at));
END
$$;
COMMENT ON FUNCTION note_dto(customer_notes) IS 'Internal: CustomerNoteDto; authorName is NULL for system notes.';

-- A note's tags: a JSON array of at most 20 strings, each trimmed, 1 to 50
-- characters, without control characters; repeats (ignoring case) are
-- dropped, the first spelling kept.  NULL is no tags.
CREATE OR REPLACE FUNCTION check_note_tags(tags jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb := '[]';
    t jsonb;
    v text;
BEGIN
    IF tags IS NULL OR jsonb_typeof(tags) = 'null' THEN
        RETURN result;
    END IF;
    IF jsonb_typeof(tags) <> 'array' THEN
        PERFORM customer_mgmt.raise_invalid('tags', 'must be an array of strings', left(tags::text, 100));
    END IF;
    IF jsonb_array_length(tags) > 20 THEN
        PERFORM customer_mgmt.raise_invalid('tags', 'must hold at most 20 tags', jsonb_array_length(tags)::text);
    END IF;
    FOR t IN SELECT e FROM jsonb_array_elements(tags) e LOOP
        IF jsonb_typeof(t) <> 'string' THEN
            PERFORM customer_mgmt.raise_invalid('tags', 'must be an array of strings', left(t::text, 100));
        END IF;
        v := customer_mgmt.check_text('tags', t #>> '{}', 50);
        IF NOT EXISTS (SELECT FROM jsonb_array_elements_text(result) x WHERE lower(x) = lower(v)) THEN
            result := result || to_jsonb(v);
        END IF;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION check_note_tags(jsonb) IS
    'Internal: a note''s tags checked (an array of at most 20 strings of 1 to 50 characters; 22023 naming "tags") and normalised (trimmed, repeats ignoring case dropped).';

-- The acting user who writes a note: a staff member or an admin (users).
CREATE OR REPLACE FUNCTION note_author() RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.acting_staff('notes are written')
$$;
COMMENT ON FUNCTION note_author() IS
    'Internal: the acting user (current_actor()) when it is a staff member or an admin; 42501 otherwise.';

-- The note with this id, locked, when the caller may change it: admins any,
-- staff their own (42501 otherwise); PT404 when there is none.
CREATE OR REPLACE FUNCTION note_to_change(note_id uuid, action text) RETURNS customer_notes
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n customer_mgmt.customer_notes;
    actor uuid;
BEGIN
    IF note_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('note_id', 'is required');
    END IF;
    SELECT * INTO n FROM customer_mgmt.customer_notes x WHERE x.id = note_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Note', note_id::text);
    END IF;
    IF NOT pg_has_role(customer_mgmt.invoker(), 'customer_mgmt_admin', 'USAGE') THEN
        actor := customer_mgmt.note_author();
        IF n.author_id IS DISTINCT FROM actor THEN
            RAISE EXCEPTION 'only the author or an admin may % note %', action, n.id
                USING ERRCODE = '42501',
                      DETAIL = format('Note %s was written by %s; the acting user is %s.', n.id,
                                      coalesce(n.author_id::text, 'the extension (a system note)'), actor),
                      HINT = 'Ask an admin, or add a note of your own.';
        END IF;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION note_to_change(uuid, text) IS
    'Internal: the note with this id, locked, when the caller may change it (admins any, staff their own: 42501); PT404 when there is none.';

-- The note type a user may give: any of note_type but system.
CREATE OR REPLACE FUNCTION check_note_type(type text) RETURNS note_type
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t customer_mgmt.note_type := customer_mgmt.check_enum('type', type, NULL::customer_mgmt.note_type);
BEGIN
    IF t = 'system' THEN
        PERFORM customer_mgmt.raise_invalid('type', 'system notes are written by the extension only', type,
                                            'Use general, support, sales, complaint or feedback.');
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION check_note_type(text) IS
    'Internal: a note type given by a user (general, support, sales, complaint, feedback); 22023 naming "type" otherwise.';

CREATE OR REPLACE FUNCTION add_customer_note(customer_id uuid, content text, type text DEFAULT 'general',
                                             priority text DEFAULT 'medium', title text DEFAULT NULL,
                                             is_internal boolean DEFAULT true, tags jsonb DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    n customer_mgmt.customer_notes;
BEGIN
    n.content := customer_mgmt.check_text('content', add_customer_note.content, 5000);
    n.title := customer_mgmt.check_text('title', add_customer_note.title, 255, false);
    n.type := customer_mgmt.check_note_type(coalesce(add_customer_note.type, 'general'));
    n.priority := customer_mgmt.check_enum('priority', coalesce(add_customer_note.priority, 'medium'),
                                           NULL::customer_mgmt.note_priority);
    IF add_customer_note.is_internal IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('is_internal', 'must be true or false');
    END IF;
    n.tags := customer_mgmt.check_note_tags(add_customer_note.tags);
    n.author_id := customer_mgmt.note_author();
    -- the time of the call, not of the transaction: notes written in one
    -- transaction still list newest first
    INSERT INTO customer_mgmt.customer_notes AS x (customer_id, author_id, title, content, type, priority, is_internal, tags,
                                                   created_at, updated_at)
    VALUES (u.id, n.author_id, n.title, n.content, n.type, n.priority, add_customer_note.is_internal, n.tags,
            clock_timestamp(), clock_timestamp())
    RETURNING * INTO n;
    PERFORM customer_mgmt.audit('add_customer_note', 'note', n.id::text,
        jsonb_build_object('customerId', n.customer_id, 'type', n.type, 'priority', n.priority, 'isInternal', n.is_internal));
    RETURN customer_mgmt.note_dto(n);
END
$$;
COMMENT ON FUNCTION add_customer_note(uuid, text, text, text, text, boolean, jsonb) IS
    'Staff: adds a note on a customer, written by the acting user (CreateCustomerNoteDto: content required, at most 5,000 characters; title at most 255; type general, support, sales, complaint or feedback; priority low, medium, high or critical; tags a JSON array of at most 20 strings of 1 to 50 characters). Returns CustomerNoteDto. 22023 naming the field, PT404, 42501 without a staff or admin acting user.';

CREATE OR REPLACE FUNCTION update_customer_note(note_id uuid, changes jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n customer_mgmt.customer_notes;
    k text;
BEGIN
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('changes', 'must be a JSON object', left(changes::text, 100));
    END IF;
    FOR k IN SELECT jsonb_object_keys(changes) LOOP
        IF k NOT IN ('title', 'content', 'type', 'priority', 'isInternal', 'tags') THEN
            PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a field a note update may change',
                                                NULL, 'The fields are title, content, type, priority, isInternal and tags.');
        END IF;
        IF k IN ('title', 'content', 'type', 'priority') AND jsonb_typeof(changes -> k) NOT IN ('string', 'null') THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be a string', left((changes -> k)::text, 100));
        END IF;
        IF k = 'isInternal' AND jsonb_typeof(changes -> k) <> 'boolean' THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be true or false', left((changes -> k)::text, 100));
        END IF;
    END LOOP;
    n := customer_mgmt.note_to_change(note_id, 'change');
    IF n.type = 'system' AND (changes ?| ARRAY['title', 'content', 'type']) THEN
        RAISE EXCEPTION 'the title, content and type of system note % cannot be changed', n.id
            USING ERRCODE = 'P0001',
                  DETAIL = 'System notes record what the extension detected (a churn risk); they keep their words.',
                  HINT = 'Change its priority, visibility or tags, or add a note of your own.';
    END IF;
    IF changes ? 'title' THEN n.title := customer_mgmt.check_text('title', changes ->> 'title', 255, false); END IF;
    IF changes ? 'content' THEN n.content := customer_mgmt.check_text('content', changes ->> 'content', 5000); END IF;
    IF changes ? 'type' THEN n.type := customer_mgmt.check_note_type(changes ->> 'type'); END IF;
    IF changes ? 'priority' THEN
        n.priority := customer_mgmt.check_enum('priority', changes ->> 'priority', NULL::customer_mgmt.note_priority);
    END IF;
    IF changes ? 'isInternal' THEN n.is_internal := (changes ->> 'isInternal')::boolean; END IF;
    IF changes ? 'tags' THEN n.tags := customer_mgmt.check_note_tags(changes -> 'tags'); END IF;
    UPDATE customer_mgmt.customer_notes x
       SET title = n.title, content = n.content, type = n.type, priority = n.priority, is_internal = n.is_internal,
           tags = n.tags
     WHERE x.id = n.id
    RETURNING * INTO n;
    -- which keys changed, not their words
    PERFORM customer_mgmt.audit('update_customer_note', 'note', n.id::text,
        jsonb_build_object('customerId', n.customer_id,
                           'changedKeys', (SELECT jsonb_agg(c.key ORDER BY c.key) FROM jsonb_each(changes) c)));
    RETURN customer_mgmt.note_dto(n);
END
$$;
COMMENT ON FUNCTION update_customer_note(uuid, jsonb) IS
    'Staff: changes a note (keys as in CustomerNoteDto: title, content, type, priority, isInternal, tags; absent keys unchanged, unknown keys 22023). Staff change their own notes, admins any (42501); a system note keeps its title, content and type (P0001). Returns CustomerNoteDto.';

CREATE OR REPLACE FUNCTION delete_customer_note(note_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n customer_mgmt.customer_notes := customer_mgmt.note_to_change(note_id, 'delete');
BEGIN
    DELETE FROM customer_mgmt.customer_notes x WHERE x.id = n.id;
    PERFORM customer_mgmt.audit('delete_customer_note', 'note', n.id::text,
        jsonb_build_object('customerId', n.customer_id, 'authorId', n.author_id, 'type', n.type));
    RETURN jsonb_build_object('id', n.id, 'customerId', n.customer_id, 'deleted', true);
END
$$;
COMMENT ON FUNCTION delete_customer_note(uuid) IS
    'Staff: deletes a note; staff their own, admins any (42501). Returns {id, customerId, deleted}. PT404 when there is none.';

CREATE OR REPLACE FUNCTION get_customer_notes(customer_id uuid, type text DEFAULT NULL, priority text DEFAULT NULL,
                                              tag text DEFAULT NULL, search text DEFAULT NULL,
                                              page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    v_type customer_mgmt.note_type;
    v_priority customer_mgmt.note_priority;
    v_tag text := lower(btrim(tag));
    q text := btrim(search);
    pattern text;
    total bigint;
    data jsonb;
BEGIN
    IF get_customer_notes.type IS NOT NULL THEN
        v_type := customer_mgmt.check_enum('type', get_customer_notes.type, NULL::customer_mgmt.note_type);
    END IF;
    IF get_customer_notes.priority IS NOT NULL THEN
        v_priority := customer_mgmt.check_enum('priority', get_customer_notes.priority, NULL::customer_mgmt.note_priority);
    END IF;
    IF length(v_tag) > 50 THEN
        PERFORM customer_mgmt.raise_invalid('tag', 'must be at most 50 characters long', tag);
    END IF;
    IF length(q) > 200 THEN
        PERFORM customer_mgmt.raise_invalid('search', 'must be at most 200 characters long', q);
    END IF;
    IF q <> '' THEN
        pattern := '%' || customer_mgmt.like_escape(customer_mgmt.search_fold(q)) || '%';
    END IF;
    PERFORM customer_mgmt.check_page(page, page_size);
    -- a customer has few notes: filtered from the customer's index range
    WITH m AS (
        SELECT n.* FROM customer_mgmt.customer_notes n
         WHERE n.customer_id = u.id
           AND (v_type IS NULL OR n.type = v_type)
           AND (v_priority IS NULL OR n.priority = v_priority)
           AND (nullif(v_tag, '') IS NULL
                OR EXISTS (SELECT FROM jsonb_array_elements_text(n.tags) t WHERE lower(t) = v_tag))
           AND (pattern IS NULL
                OR customer_mgmt.search_fold(coalesce(n.title, '') || ' ' || n.content) LIKE pattern))
    SELECT (SELECT count(*) FROM m),
           (SELECT coalesce(jsonb_agg(customer_mgmt.note_dto(p) ORDER BY p.created_at DESC, p.id DESC), '[]')
              FROM (SELECT * FROM m ORDER BY m.created_at DESC, m.id DESC
                    LIMIT page_size OFFSET (page - 1)::bigint * page_size) p)
      INTO total, data;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_notes(uuid, text, text, text, text, integer, integer) IS
    'Staff: a customer''s notes, newest first, as a page of CustomerNoteDto; filters: type, priority, a tag (ignoring case), search over title and content (case- and accent-insensitive). 22023 naming a bad filter, PT404.';
