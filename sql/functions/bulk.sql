-- customer_mgmt: Bulk actions (docs/reference.md, Bulk actions): one action on every customer
-- of the list's filters, a saved view or a segment: tags added or removed, a manual segment
-- joined or left, the same note, a status changed through its business rules.  Previewed,
-- then started (the customers fixed), then run in chunks that each commit, resumable,
-- recorded customer by customer and in the audit log with its counts.

-- What a bulk action is checked against: its action and parameters, 22023
-- naming the parameter; returns the parameters normalised.
CREATE OR REPLACE FUNCTION check_bulk_action(action text, params jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p jsonb := coalesce(params, '{}');
    k text;
    allowed text[];
    s customer_mgmt.customer_segments;
BEGIN
    IF jsonb_typeof(p) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('params', 'must be a JSON object', left(params::text, 100));
    END IF;
    allowed := CASE action
        WHEN 'add_tags' THEN ARRAY['tags'] WHEN 'remove_tags' THEN ARRAY['tags']
        WHEN 'assign_segment' THEN ARRAY['segmentId', 'expiresAt'] WHEN 'remove_from_segment' THEN ARRAY['segmentId']
        WHEN 'add_note' THEN ARRAY['content', 'title', 'type', 'priority', 'isInternal', 'tags']
        WHEN 'set_status' THEN ARRAY['status', 'reason'] END;
    IF allowed IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('action',
            'must be add_tags, remove_tags, assign_segment, remove_from_segment, add_note or set_status', action);
    END IF;
    SELECT x INTO k FROM jsonb_object_keys(p) x WHERE x <> ALL (allowed) LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a parameter of ' || action || ' (' || array_to_string(allowed, ', ') || ')');
    END IF;
    CASE action
        WHEN 'add_tags', 'remove_tags' THEN
            IF jsonb_typeof(p -> 'tags') IS DISTINCT FROM 'array'
               OR EXISTS (SELECT FROM jsonb_array_elements(p -> 'tags') e WHERE jsonb_typeof(e) <> 'string') THEN
                PERFORM customer_mgmt.raise_invalid('tags', 'must be an array of strings', left((p -> 'tags')::text, 100));
            END IF;
            p := jsonb_build_object('tags', to_jsonb(customer_mgmt.check_customer_tags(
                     ARRAY(SELECT jsonb_array_elements_text(p -> 'tags')))));
        WHEN 'assign_segment', 'remove_from_segment' THEN
            s := customer_mgmt.find_segment(customer_mgmt.filter_value(p, 'segmentId', 'params', NULL::uuid));
            PERFORM customer_mgmt.refuse_system_segment(s, 'assigned by hand');
            IF s.auto_assign AND action = 'assign_segment' THEN
                PERFORM customer_mgmt.raise_invalid('segmentId', 'must be a manual segment (autoAssign false): an automatic one holds its matches',
                                                    s.id::text);
            END IF;
            p := jsonb_strip_nulls(jsonb_build_object('segmentId', s.id, 'expiresAt',
                     customer_mgmt.filter_value(p, 'expiresAt', 'params', NULL::timestamptz)));
            IF (p ->> 'expiresAt')::timestamptz <= now() THEN
                PERFORM customer_mgmt.raise_invalid('expiresAt', 'must be in the future', p ->> 'expiresAt');
            END IF;
        WHEN 'add_note' THEN
            p := jsonb_build_object(
                'content', customer_mgmt.check_text('content', p ->> 'content', 5000),
                'title', customer_mgmt.check_text('title', p ->> 'title', 255, false),
                'type', customer_mgmt.check_note_type(coalesce(p ->> 'type', 'general')),
                'priority', customer_mgmt.check_enum('priority', coalesce(p ->> 'priority', 'medium'), NULL::customer_mgmt.note_priority),
                'isInternal', coalesce(customer_mgmt.filter_value(p, 'isInternal', 'params', NULL::boolean), true),
                'tags', customer_mgmt.check_note_tags(p -> 'tags'));
        WHEN 'set_status' THEN
            p := jsonb_strip_nulls(jsonb_build_object(
                'status', customer_mgmt.check_enum('status', p ->> 'status', NULL::customer_mgmt.user_status),
                'reason', customer_mgmt.check_text('reason', p ->> 'reason', 1000, false)));
    END CASE;
    RETURN p;
END
$$;
COMMENT ON FUNCTION check_bulk_action(text, jsonb) IS
    'Internal: a bulk action''s action and parameters checked (22023 naming the parameter; PT404 for a segment, P0001 for a system one) and normalised.';

-- Who may run an action: staff tags and notes, admins all.
CREATE OR REPLACE FUNCTION check_bulk_actor(action text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF action NOT IN ('add_tags', 'remove_tags', 'add_note')
       AND NOT pg_catalog.pg_has_role(customer_mgmt.invoker(), 'customer_mgmt_admin', 'USAGE') THEN
        RAISE EXCEPTION 'only an admin may run the bulk action %', action
            USING ERRCODE = '42501',
                  DETAIL = 'Staff may add and remove tags and add notes in bulk; the other actions are an admin''s.',
                  HINT = 'Ask an admin.';
    END IF;
END
$$;
COMMENT ON FUNCTION check_bulk_actor(text) IS 'Internal: 42501 unless the caller may run the action (staff: tags and notes; admins: all).';

-- A bulk action is its starter's, and any admin's: staff do not run or read
-- another's (its target may be a private view's filters).
CREATE OR REPLACE FUNCTION check_bulk_owner(b bulk_actions) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF b.actor_id IS DISTINCT FROM customer_mgmt.current_actor()
       AND NOT pg_catalog.pg_has_role(customer_mgmt.invoker(), 'customer_mgmt_admin', 'USAGE') THEN
        RAISE EXCEPTION 'bulk action % is another''s', b.id
            USING ERRCODE = '42501',
                  DETAIL = format('Bulk action %s was started by the user %s.', b.id, b.actor_id),
                  HINT = 'Its starter or an admin runs and reads it.';
    END IF;
END
$$;
COMMENT ON FUNCTION check_bulk_owner(bulk_actions) IS 'Internal: 42501 unless the caller started the bulk action or is an admin.';

-- The customers a bulk action is for: exactly one of the list's filters,
-- a saved view, a segment's members; the SQL condition over customer_list l
-- and the target as recorded.
CREATE OR REPLACE FUNCTION bulk_target(filters jsonb, view_id uuid, segment_id uuid, OUT conditions text, OUT target jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v customer_mgmt.customer_views;
BEGIN
    IF (filters IS NOT NULL)::int + (view_id IS NOT NULL)::int + (segment_id IS NOT NULL)::int <> 1 THEN
        PERFORM customer_mgmt.raise_invalid('filters', 'or view_id or segment_id: exactly one says which customers');
    END IF;
    IF filters IS NOT NULL THEN
        conditions := (customer_mgmt.customer_filter(filters - 'sortBy' - 'sortOrder', now(), 'filters')).conditions;
        target := jsonb_build_object('filters', filters);
    ELSIF view_id IS NOT NULL THEN
        v := customer_mgmt.visible_customer_view(view_id);
        conditions := (customer_mgmt.customer_filter(v.filters, now(), 'filters')).conditions;
        target := jsonb_build_object('viewId', v.id, 'filters', v.filters);
    ELSE
        PERFORM customer_mgmt.find_segment(segment_id);
        conditions := (customer_mgmt.customer_filter(jsonb_build_object('segmentId', segment_id), now())).conditions;
        target := jsonb_build_object('segmentId', segment_id);
    END IF;
END
$$;
COMMENT ON FUNCTION bulk_target(jsonb, uuid, uuid) IS
    'Internal: the customers of a bulk action (exactly one of filters, view_id, segment_id; 22023 otherwise) as a condition over customer_list l, and the target as recorded.';

-- What an action would do to each customer, without doing it: applied,
-- unchanged or refused with the reason, and for tags the tags each would
-- gain or lose.  The status rules are update_customer_status's (which the
-- run itself calls).
CREATE OR REPLACE FUNCTION bulk_outcomes(action text, params jsonb, ids uuid[])
    RETURNS TABLE (customer_id uuid, outcome text, reason text, tags_changed text[])
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    -- a chunk of 10,000 customers is estimated costly enough to compile,
    -- which takes longer than the work
    SET jit = off
AS $$
    WITH given AS (SELECT ARRAY(SELECT jsonb_array_elements_text(params -> 'tags')) AS tags,
                          customer_mgmt.tag_keys(ARRAY(SELECT jsonb_array_elements_text(params -> 'tags'))) AS keys,
                          now() - make_interval(hours => customer_mgmt.setting('status.recent_activity_hours')::integer)
                              AS recent),
    held AS (
        SELECT u.id, u.status, u.last_login_at,
               -- (removing reads the tags to remove directly, below)
               CASE WHEN action = 'add_tags'
                   THEN ARRAY(SELECT k.tag_key FROM customer_mgmt.customer_tags k WHERE k.customer_id = u.id) END AS held_keys,
               CASE WHEN action IN ('assign_segment', 'remove_from_segment')
                   THEN EXISTS (SELECT FROM customer_mgmt.customer_segment_assignments x
                                 WHERE x.customer_id = u.id AND x.segment_id = (params ->> 'segmentId')::uuid) END AS is_member
          FROM customer_mgmt.users u
         WHERE u.id = ANY (ids) AND u.role = 'customer'),
    t AS (
        SELECT h.*,
               CASE action
                   WHEN 'add_tags' THEN ARRAY(SELECT x.g FROM unnest((SELECT tags FROM given), (SELECT keys FROM given))
                                                   WITH ORDINALITY x (g, k, n)
                                               WHERE x.k <> ALL (h.held_keys) ORDER BY x.n)
                   WHEN 'remove_tags' THEN ARRAY(SELECT k.tag FROM customer_mgmt.customer_tags k
                                                  WHERE k.customer_id = h.id AND k.tag_key = ANY ((SELECT keys FROM given)::text[])
                                                  ORDER BY k.id)
               END AS tags_changed
          FROM held h),
    -- why a customer is refused (NULL: not refused), as the rules of the
    -- single-customer functions say it
    r AS (
        SELECT t.*,
               CASE
                   WHEN action = 'add_tags' AND cardinality(t.tags_changed) > 0
                        AND cardinality(t.held_keys) + cardinality(t.tags_changed) > 20
                       THEN format('would hold %s tags: at most 20', cardinality(t.held_keys) + cardinality(t.tags_changed))
                   WHEN action = 'set_status' AND t.status = 'active' AND t.status::text <> params ->> 'status'
                        AND EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = t.id AND o.status IN ('pending', 'processing'))
                       THEN 'Cannot deactivate customer with pending orders'
                   WHEN action = 'set_status' AND t.status = 'active' AND t.status::text <> params ->> 'status'
                        AND t.last_login_at > (SELECT recent FROM given)
                       THEN 'Cannot deactivate customer with recent activity'
               END AS refusal
          FROM t)
    SELECT r.id,
           CASE
               WHEN r.refusal IS NOT NULL THEN 'refused'
               WHEN action IN ('add_tags', 'remove_tags') AND cardinality(r.tags_changed) = 0 THEN 'unchanged'
               WHEN action = 'assign_segment' AND r.is_member THEN 'unchanged'
               WHEN action = 'remove_from_segment' AND NOT r.is_member THEN 'unchanged'
               WHEN action = 'set_status' AND r.status::text = params ->> 'status' THEN 'unchanged'
               ELSE 'applied'
           END,
           r.refusal,
           r.tags_changed
      FROM r
$$;
COMMENT ON FUNCTION bulk_outcomes(text, jsonb, uuid[]) IS
    'Internal: what a bulk action would do to each customer (applied, unchanged, refused with the reason) and, for tags, the tags each gains or loses; the status rules as update_customer_status applies them.';

CREATE OR REPLACE FUNCTION bulk_action_dto(b bulk_actions) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', b.id, 'action', b.action, 'target', b.target, 'params', b.params, 'status', b.status,
                              'total', b.total, 'done', b.applied + b.unchanged + b.refused, 'applied', b.applied,
                              'unchanged', b.unchanged, 'refused', b.refused, 'actorId', b.actor_id,
                              'startedAt', b.started_at, 'finishedAt', b.finished_at)
$$;
COMMENT ON FUNCTION bulk_action_dto(bulk_actions) IS
    'Internal: a bulk action as {id, action, target, params, status, total, done, applied, unchanged, refused, actorId, startedAt, finishedAt}.';

-- preview_bulk_action: how many customers, and what the action would do.
CREATE OR REPLACE FUNCTION preview_bulk_action(action text, params jsonb, filters jsonb DEFAULT NULL, view_id uuid DEFAULT NULL,
                                               segment_id uuid DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p jsonb;
    t record;
    ids uuid[];
    result jsonb;
BEGIN
    PERFORM customer_mgmt.check_bulk_actor(action);
    p := customer_mgmt.check_bulk_action(action, params);
    t := customer_mgmt.bulk_target(filters, view_id, segment_id);
    EXECUTE 'SELECT coalesce(array_agg(l.customer_id), ''{}'') FROM customer_mgmt.customer_list l WHERE ' || t.conditions INTO ids;
    -- every customer's outcome, once
    WITH o AS MATERIALIZED (SELECT * FROM customer_mgmt.bulk_outcomes(action, p, ids))
    SELECT jsonb_build_object(
               'customerCount', cardinality(ids),
               'wouldApply', (SELECT count(*) FROM o WHERE o.outcome = 'applied'),
               'wouldBeUnchanged', (SELECT count(*) FROM o WHERE o.outcome = 'unchanged'),
               'wouldRefuse', (SELECT count(*) FROM o WHERE o.outcome = 'refused'),
               'refusals', coalesce((SELECT jsonb_agg(jsonb_build_object('customerId', r.customer_id, 'reason', r.reason)
                                                      ORDER BY r.customer_id)
                                       FROM (SELECT * FROM o WHERE o.outcome = 'refused' ORDER BY o.customer_id LIMIT 20) r), '[]'))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION preview_bulk_action(text, jsonb, jsonb, uuid, uuid) IS
    'Staff (tags and notes) and admins: how many customers of the filters, saved view or segment a bulk action is for, how many it would change, leave unchanged or refuse, and the first 20 refusals with their reasons; writes nothing.';

-- start_bulk_action: the action recorded and its customers fixed; run it
-- with run_bulk_action.
CREATE OR REPLACE FUNCTION start_bulk_action(action text, params jsonb, filters jsonb DEFAULT NULL, view_id uuid DEFAULT NULL,
                                             segment_id uuid DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p jsonb;
    t record;
    b customer_mgmt.bulk_actions;
    n bigint;
BEGIN
    PERFORM customer_mgmt.check_bulk_actor(action);
    p := customer_mgmt.check_bulk_action(action, params);
    t := customer_mgmt.bulk_target(filters, view_id, segment_id);
    INSERT INTO customer_mgmt.bulk_actions AS x (action, target, params, total, actor_id)
    VALUES (action, t.target, p, 0, customer_mgmt.current_actor())
    RETURNING * INTO b;
    EXECUTE format('INSERT INTO customer_mgmt.bulk_action_items (action_id, customer_id)'
                   ' SELECT %s, l.customer_id FROM customer_mgmt.customer_list l WHERE %s', b.id, t.conditions);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE customer_mgmt.bulk_actions x SET total = n, status = CASE WHEN n = 0 THEN 'succeeded' ELSE 'running' END,
                                            finished_at = CASE WHEN n = 0 THEN now() END
     WHERE x.id = b.id RETURNING * INTO b;
    PERFORM customer_mgmt.audit('start_bulk_action', 'bulk_action', b.id::text,
                                jsonb_build_object('action', action, 'target', t.target - 'filters' || jsonb_build_object(
                                    'filters', (t.target -> 'filters') - 'search'), 'customers', n));
    RETURN customer_mgmt.bulk_action_dto(b);
END
$$;
COMMENT ON FUNCTION start_bulk_action(text, jsonb, jsonb, uuid, uuid) IS
    'Staff (tags and notes) and admins: records a bulk action (add_tags, remove_tags: {tags}; assign_segment: {segmentId, expiresAt}, remove_from_segment: {segmentId}, a manual segment; add_note: the note''s fields; set_status: {status, reason}) on the customers of the filters, saved view or segment, fixed now; run_bulk_action does it. Returns the action with its progress.';

-- run_bulk_action: up to max_customers of the action's customers not yet
-- done, in the caller's transaction: call it again until status is
-- succeeded; each call's work commits with it, so the action resumes
-- where it stopped.
CREATE OR REPLACE FUNCTION run_bulk_action(bulk_action_id bigint, max_customers integer DEFAULT 1000) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b customer_mgmt.bulk_actions;
    ids uuid[];
    c uuid;
    res jsonb;
    n_applied bigint := 0;
    n_unchanged bigint := 0;
    n_refused bigint := 0;
    state text;
    msg text;
    author uuid;
    finished customer_mgmt.bulk_actions;
BEGIN
    IF bulk_action_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('bulk_action_id', 'is required');
    END IF;
    IF max_customers IS NULL OR max_customers NOT BETWEEN 1 AND 100000 THEN
        PERFORM customer_mgmt.raise_invalid('max_customers', 'must be from 1 to 100000', max_customers::text);
    END IF;
    -- one runner at a time
    SELECT * INTO b FROM customer_mgmt.bulk_actions x WHERE x.id = bulk_action_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Bulk action', bulk_action_id::text);
    END IF;
    PERFORM customer_mgmt.check_bulk_actor(b.action);
    PERFORM customer_mgmt.check_bulk_owner(b);
    IF b.status = 'succeeded' THEN
        RETURN customer_mgmt.bulk_action_dto(b);
    END IF;
    ids := ARRAY(SELECT i.customer_id FROM customer_mgmt.bulk_action_items i
                  WHERE i.action_id = b.id AND i.outcome IS NULL ORDER BY i.customer_id LIMIT max_customers);
    IF b.action = 'set_status' THEN
        -- each customer through update_customer_status and its rules, in a
        -- subtransaction of its own: at most 1,000 a call
        FOREACH c IN ARRAY ids[1:1000] LOOP
            BEGIN
                res := customer_mgmt.update_customer_status(c, b.params ->> 'status', b.params ->> 'reason');
                UPDATE customer_mgmt.bulk_action_items i
                   SET outcome = CASE WHEN (res ->> 'statusChanged')::boolean IS FALSE THEN 'unchanged' ELSE 'applied' END
                 WHERE i.action_id = b.id AND i.customer_id = c;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                -- what passes (a deadlock, a lock or statement timeout, a
                -- cancel, no memory) is not the customer's refusal: the call
                -- fails, and the customer stays to do
                IF state IN ('40001', '40P01', '55P03', '57014') OR state LIKE '53%' THEN
                    RAISE;
                END IF;
                UPDATE customer_mgmt.bulk_action_items i SET outcome = 'refused', sqlstate = state, reason = left(msg, 200)
                 WHERE i.action_id = b.id AND i.customer_id = c;
            END;
        END LOOP;
        ids := ids[1:1000];
    ELSE
        -- the chunk's customers locked, as the single-customer functions
        -- lock them; then, in one statement each (its CTEs see the rows as
        -- they were), what each customer gets, the writes and the outcomes
        -- (IN: a join by the primary key, where = ANY of 10,000 ids is
        -- planned as a scan of every customer)
        PERFORM FROM customer_mgmt.users u WHERE u.id IN (SELECT unnest(ids)) ORDER BY u.id FOR UPDATE;
        CASE b.action
            WHEN 'add_tags', 'remove_tags' THEN
                WITH o AS MATERIALIZED (SELECT * FROM customer_mgmt.bulk_outcomes(b.action, b.params, ids)),
                -- the timeline and the audit log, as for one customer: what
                -- each gained or lost
                logged AS (
                    INSERT INTO customer_mgmt.audit_log (occurred_at, session_role, db_role, actor_id, action, target_type,
                                                         target_id, changes)
                    SELECT now(), session_user, customer_mgmt.invoker()::text, customer_mgmt.current_actor(),
                           CASE b.action WHEN 'add_tags' THEN 'add_customer_tags' ELSE 'remove_customer_tags' END, 'customer',
                           o.customer_id::text,
                           jsonb_build_object(CASE b.action WHEN 'add_tags' THEN 'added' ELSE 'removed' END,
                                              to_jsonb(o.tags_changed), 'bulkActionId', b.id)
                      FROM o WHERE o.outcome = 'applied'),
                -- (the tags as stored: an anonymisation since the start may
                -- have redacted a name in them, which can lengthen a tag or
                -- make two equal)
                added AS (
                    INSERT INTO customer_mgmt.customer_tags (customer_id, tag_key, tag)
                    SELECT o.customer_id, customer_mgmt.search_fold(left(g.t, 50)), left(g.t, 50)
                      FROM o, unnest(o.tags_changed) WITH ORDINALITY g (t, n)
                     WHERE b.action = 'add_tags' AND o.outcome = 'applied'
                     ORDER BY o.customer_id, g.n
                    ON CONFLICT ON CONSTRAINT customer_tags_pkey DO NOTHING),
                removed AS (
                    DELETE FROM customer_mgmt.customer_tags k USING o
                     WHERE b.action = 'remove_tags' AND o.outcome = 'applied' AND k.customer_id = o.customer_id
                       AND k.tag = ANY (o.tags_changed))
                UPDATE customer_mgmt.bulk_action_items i
                   SET outcome = o.outcome, reason = o.reason, sqlstate = CASE WHEN o.outcome = 'refused' THEN '22023' END
                  FROM o WHERE i.action_id = b.id AND i.customer_id = o.customer_id;
            WHEN 'assign_segment' THEN
                WITH o AS MATERIALIZED (SELECT * FROM customer_mgmt.bulk_outcomes(b.action, b.params, ids)),
                assigned AS (
                    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_at, assigned_by,
                                                                            expires_at)
                    SELECT o.customer_id, (b.params ->> 'segmentId')::uuid, now(), 'manual', (b.params ->> 'expiresAt')::timestamptz
                      FROM o WHERE o.outcome = 'applied'
                    ON CONFLICT ON CONSTRAINT customer_segment_assignments_customer_id_segment_id_key DO NOTHING
                    RETURNING customer_id),
                events AS (
                    SELECT customer_mgmt.emit_event('customer.segment_entered', a.customer_id,
                               jsonb_build_object('customerId', a.customer_id, 'segmentId', g.id, 'segmentName', g.name)) AS e
                      FROM assigned a, customer_mgmt.customer_segments g WHERE g.id = (b.params ->> 'segmentId')::uuid),
                marked AS (
                    UPDATE customer_mgmt.bulk_action_items i SET outcome = o.outcome, reason = o.reason
                      FROM o WHERE i.action_id = b.id AND i.customer_id = o.customer_id)
                SELECT count(*) INTO n_applied FROM events;
            WHEN 'remove_from_segment' THEN
                WITH o AS MATERIALIZED (SELECT * FROM customer_mgmt.bulk_outcomes(b.action, b.params, ids)),
                removed AS (
                    DELETE FROM customer_mgmt.customer_segment_assignments x USING o
                     WHERE x.customer_id = o.customer_id AND x.segment_id = (b.params ->> 'segmentId')::uuid AND o.outcome = 'applied'
                    RETURNING x.customer_id),
                events AS (
                    SELECT customer_mgmt.emit_event('customer.segment_left', r.customer_id,
                               jsonb_build_object('customerId', r.customer_id, 'segmentId', g.id, 'segmentName', g.name)) AS e
                      FROM removed r, customer_mgmt.customer_segments g WHERE g.id = (b.params ->> 'segmentId')::uuid),
                marked AS (
                    UPDATE customer_mgmt.bulk_action_items i SET outcome = o.outcome, reason = o.reason
                      FROM o WHERE i.action_id = b.id AND i.customer_id = o.customer_id)
                SELECT count(*) INTO n_applied FROM events;
            WHEN 'add_note' THEN
                -- written by who started the action
                author := coalesce(b.actor_id, customer_mgmt.acting_staff('notes are written'));
                WITH o AS MATERIALIZED (SELECT * FROM customer_mgmt.bulk_outcomes(b.action, b.params, ids)),
                noted AS (
                    INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, title, content, type, priority, is_internal,
                                                              tags)
                    SELECT o.customer_id, author, b.params ->> 'title', b.params ->> 'content',
                           (b.params ->> 'type')::customer_mgmt.note_type, (b.params ->> 'priority')::customer_mgmt.note_priority,
                           (b.params ->> 'isInternal')::boolean, b.params -> 'tags'
                      FROM o WHERE o.outcome = 'applied')
                UPDATE customer_mgmt.bulk_action_items i SET outcome = o.outcome, reason = o.reason
                  FROM o WHERE i.action_id = b.id AND i.customer_id = o.customer_id;
        END CASE;
        -- a customer who is no longer one (deleted by a merge) is done, unchanged
        UPDATE customer_mgmt.bulk_action_items i SET outcome = 'unchanged'
         WHERE i.action_id = b.id AND i.customer_id = ANY (ids) AND i.outcome IS NULL;
    END IF;
    SELECT count(*) FILTER (WHERE i.outcome = 'applied'), count(*) FILTER (WHERE i.outcome = 'unchanged'),
           count(*) FILTER (WHERE i.outcome = 'refused')
      INTO n_applied, n_unchanged, n_refused
      FROM customer_mgmt.bulk_action_items i WHERE i.action_id = b.id AND i.customer_id = ANY (ids);
    UPDATE customer_mgmt.bulk_actions x
       SET applied = x.applied + n_applied, unchanged = x.unchanged + n_unchanged, refused = x.refused + n_refused
     WHERE x.id = b.id RETURNING * INTO b;
    IF NOT EXISTS (SELECT FROM customer_mgmt.bulk_action_items i WHERE i.action_id = b.id AND i.outcome IS NULL) THEN
        UPDATE customer_mgmt.bulk_actions x SET status = 'succeeded', finished_at = now()
         WHERE x.id = b.id AND x.status = 'running' RETURNING * INTO finished;
        IF finished.id IS NOT NULL THEN
            b := finished;
            PERFORM customer_mgmt.audit('finish_bulk_action', 'bulk_action', b.id::text,
                                        jsonb_build_object('action', b.action, 'total', b.total, 'applied', b.applied,
                                                           'unchanged', b.unchanged, 'refused', b.refused));
        END IF;
    END IF;
    RETURN customer_mgmt.bulk_action_dto(b);
END
$$;
COMMENT ON FUNCTION run_bulk_action(bigint, integer) IS
    'Staff (tags and notes; the actions they started) and admins: does a started bulk action to up to max_customers (1 to 100,000; default 1,000; set_status at most 1,000 a call) of its customers not yet done, in the caller''s transaction, each through the rules of the single-customer function (a refusal is recorded for that customer, never half-applied); returns the progress. Call again until status is succeeded: what committed stays done, so a stopped action resumes.';

-- get_bulk_action: the progress, and the refusals page by page.
CREATE OR REPLACE FUNCTION get_bulk_action(bulk_action_id bigint, page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b customer_mgmt.bulk_actions;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    SELECT * INTO b FROM customer_mgmt.bulk_actions x WHERE x.id = bulk_action_id;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Bulk action', coalesce(bulk_action_id::text, 'NULL'));
    END IF;
    PERFORM customer_mgmt.check_bulk_owner(b);
    RETURN customer_mgmt.bulk_action_dto(b) || jsonb_build_object('refusals', customer_mgmt.page_envelope(
        (SELECT jsonb_agg(jsonb_build_object('customerId', i.customer_id, 'sqlstate', i.sqlstate, 'reason', i.reason)
                          ORDER BY i.customer_id)
           FROM (SELECT * FROM customer_mgmt.bulk_action_items x WHERE x.action_id = b.id AND x.outcome = 'refused'
                  ORDER BY x.customer_id LIMIT page_size OFFSET (page - 1)::bigint * page_size) i),
        b.refused, page, page_size));
END
$$;
COMMENT ON FUNCTION get_bulk_action(bigint, integer, integer) IS
    'Staff (the actions they started) and admins: a bulk action''s progress (total, done, applied, unchanged, refused, status) and its refusals, a page at a time ({customerId, sqlstate, reason}).';
