-- customer_mgmt: Saved views of the customer list (docs/reference.md, Saved views): a staff
-- member's named filters and sort, private or shared with the team, which get_customers and
-- export_customers apply with view_id.

-- A saved view as the API returns it.
CREATE OR REPLACE FUNCTION customer_view_dto(v customer_views) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', v.id, 'name', v.name, 'filters', v.filters, 'sortBy', v.sort_by, 'sortOrder', v.sort_order,
        'isShared', v.is_shared, 'ownerId', v.owner_id,
        'ownerName', (SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = v.owner_id),
        'createdAt', v.created_at, 'updatedAt', v.updated_at)
$$;
COMMENT ON FUNCTION customer_view_dto(customer_views) IS
    'Internal: a saved view as {id, name, filters, sortBy, sortOrder, isShared, ownerId, ownerName, createdAt, updatedAt}.';

-- The view with this id when the acting user may see it (their own, or
-- shared); PT404 otherwise (another's private view is not there for them).
CREATE OR REPLACE FUNCTION visible_customer_view(view_id uuid) RETURNS customer_views
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor uuid := customer_mgmt.current_actor();
    v customer_mgmt.customer_views;
BEGIN
    SELECT * INTO v FROM customer_mgmt.customer_views x
     WHERE x.id = view_id AND (x.is_shared OR x.owner_id = actor);
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('View', view_id::text);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION visible_customer_view(uuid) IS
    'Internal: the saved view when the acting user may see it (their own or a shared one); PT404 otherwise.';

-- save_customer_view: the acting user's view of that name, created or
-- replaced; its filters are checked as the list checks them.
CREATE OR REPLACE FUNCTION save_customer_view(name text, filters jsonb DEFAULT '{}', sort_by text DEFAULT NULL,
                                              sort_order text DEFAULT NULL, is_shared boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    owner uuid := customer_mgmt.acting_staff('saved views are kept');
    view_name text := customer_mgmt.check_text('name', name, 100);
    applied jsonb;
    v customer_mgmt.customer_views;
BEGIN
    IF filters IS NULL OR jsonb_typeof(filters) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('filters', 'must be a JSON object', left(filters::text, 100));
    END IF;
    IF filters ?| ARRAY['sortBy', 'sortOrder'] THEN
        PERFORM customer_mgmt.raise_invalid('filters', 'holds the sort: pass it as sort_by and sort_order',
                                            left(filters::text, 100));
    END IF;
    IF is_shared IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('is_shared', 'must be true or false');
    END IF;
    -- checked as the list will apply it (22023 naming the key, and
    -- the sort by its argument)
    applied := (customer_mgmt.customer_filter(filters, now(), 'filters')).applied - 'sortBy' - 'sortOrder';
    PERFORM customer_mgmt.customer_filter(jsonb_strip_nulls(jsonb_build_object('sortBy', sort_by, 'sortOrder', sort_order)),
                                          now());
    INSERT INTO customer_mgmt.customer_views AS x (owner_id, name, filters, sort_by, sort_order, is_shared)
    VALUES (owner, view_name, applied, sort_by, upper(btrim(sort_order)), is_shared)
    ON CONFLICT (owner_id, lower(name)) DO UPDATE
       SET name = excluded.name, filters = excluded.filters, sort_by = excluded.sort_by,
           sort_order = excluded.sort_order, is_shared = excluded.is_shared
    RETURNING * INTO v;
    -- the filters may hold a search's text: only their keys
    PERFORM customer_mgmt.audit('save_customer_view', 'customer_view', v.id::text,
                                jsonb_build_object('filters', to_jsonb(ARRAY(SELECT jsonb_object_keys(v.filters))),
                                                   'isShared', v.is_shared));
    RETURN customer_mgmt.customer_view_dto(v);
END
$$;
COMMENT ON FUNCTION save_customer_view(text, jsonb, text, text, boolean) IS
    'Staff: saves the acting user''s view of the customer list under a name (replacing their view of that name): filters with the keys of get_customers'' filter arguments in camelCase, a sort, private or shared with the team. 22023 naming the argument or the key of filters; 42501 without an acting staff member or admin.';

-- get_customer_views: the views the acting user may apply, by name.
CREATE OR REPLACE FUNCTION get_customer_views(page integer DEFAULT 1, page_size integer DEFAULT 20) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor uuid := customer_mgmt.current_actor();
    total bigint;
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    SELECT count(*) INTO total FROM customer_mgmt.customer_views v WHERE v.is_shared OR v.owner_id = actor;
    SELECT jsonb_agg(customer_mgmt.customer_view_dto(v) ORDER BY lower(v.name), v.id) INTO data
      FROM (SELECT * FROM customer_mgmt.customer_views x
             WHERE x.is_shared OR x.owner_id = actor
             ORDER BY lower(x.name), x.id
             LIMIT page_size OFFSET (page - 1)::bigint * page_size) v;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_views(integer, integer) IS
    'Staff: the saved views the acting user may apply (their own and the shared ones), by name, as a page of the list envelope.';

-- delete_customer_view: the owner's, or an admin's for any shared view.
CREATE OR REPLACE FUNCTION delete_customer_view(view_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor uuid := customer_mgmt.acting_staff('saved views are deleted');
    v customer_mgmt.customer_views;
BEGIN
    IF view_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('view_id', 'is required');
    END IF;
    v := customer_mgmt.visible_customer_view(view_id);
    IF v.owner_id <> actor AND NOT pg_catalog.pg_has_role(customer_mgmt.invoker(), 'customer_mgmt_admin', 'USAGE') THEN
        RAISE EXCEPTION 'only its owner or an admin may delete a shared view'
            USING ERRCODE = '42501',
                  DETAIL = format('The view %s belongs to the user %s.', v.id, v.owner_id),
                  HINT = 'Save a view of your own under another name instead.';
    END IF;
    -- as it was checked: the owner's, or shared
    DELETE FROM customer_mgmt.customer_views x WHERE x.id = v.id AND (x.owner_id = actor OR x.is_shared);
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('View', view_id::text);
    END IF;
    PERFORM customer_mgmt.audit('delete_customer_view', 'customer_view', v.id::text);
    RETURN jsonb_build_object('id', v.id, 'deleted', true);
END
$$;
COMMENT ON FUNCTION delete_customer_view(uuid) IS
    'Staff: deletes a saved view (returns {id, deleted}): the owner''s own, or any shared view for an admin. PT404 for a view the caller cannot see, 42501 for another''s shared view.';
