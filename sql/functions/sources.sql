-- customer_mgmt: Attached sources (docs/onboarding.md): the shop's own tables of
-- customers, orders and order lines feeding the extension through triggers
-- in the same transaction, by a mapping of their columns to our fields
-- declared once (attach_source), until detach_source.

-- The fields each kind maps (the API's JSON keys), the first one required.
CREATE OR REPLACE FUNCTION source_fields(kind text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE kind
        WHEN 'customers' THEN ARRAY['externalId', 'fullName', 'email', 'phoneNumber', 'dateOfBirth', 'gender',
                                    'province', 'registeredAt', 'updatedAt']
        WHEN 'orders' THEN ARRAY['externalId', 'customerExternalId', 'totalAmount', 'status', 'orderDate', 'updatedAt']
        WHEN 'order_items' THEN ARRAY['orderExternalId', 'productName', 'category', 'brand', 'unitPrice', 'quantity']
    END
$$;
COMMENT ON FUNCTION source_fields(text) IS
    'Internal: the fields an attached source of a kind (customers, orders, order_items) maps, the key first.';

-- A row of the shop's table as our fields: each field's column, its value
-- as text, translated by the mapping's "values" when it has them (for
-- example the shop's order states).
CREATE OR REPLACE FUNCTION source_row(mapping jsonb, shop_row jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_object_agg(m.key, coalesce(m.value -> 'values' ->> (shop_row ->> (m.value ->> 'column')),
                                                     shop_row ->> (m.value ->> 'column'))), '{}')
      FROM jsonb_each(mapping) m
$$;
COMMENT ON FUNCTION source_row(jsonb, jsonb) IS
    'Internal: a row of an attached table (as to_jsonb) mapped to our fields, values translated by the mapping.';

-- The lines of one of the shop's orders, from its attached table of order
-- lines, as record_order takes them; '[]' when no such table is attached.
CREATE OR REPLACE FUNCTION source_order_items(order_key text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src customer_mgmt.sources;
    lines_json jsonb;
BEGIN
    SELECT * INTO src FROM customer_mgmt.sources s WHERE s.kind = 'order_items';
    IF NOT FOUND THEN
        RETURN '[]';
    END IF;
    EXECUTE format('SELECT coalesce(jsonb_agg(jsonb_build_object(''productName'', r ->> ''productName'', ''category'', r ->> ''category'','
                   ' ''brand'', r ->> ''brand'', ''unitPrice'', (r ->> ''unitPrice'')::numeric, ''quantity'', (r ->> ''quantity'')::numeric)), ''[]'')'
                   ' FROM (SELECT customer_mgmt.source_row($1, to_jsonb(t)) AS r FROM %s t WHERE t.%I = $2::%s) x',
                   src.source, src.mapping #>> '{orderExternalId,column}',
                   -- compared in the column's own type, so that its index serves
                   (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a
                     WHERE a.attrelid = src.source AND a.attname = src.mapping #>> '{orderExternalId,column}'))
        INTO lines_json USING src.mapping, order_key;
    RETURN lines_json;
END
$$;
COMMENT ON FUNCTION source_order_items(text) IS
    'Internal: the lines of one of the shop''s orders read from its attached table of order lines (as record_order takes them), or [] when none is attached.';

-- Apply one change of an attached table: the row as it is now (NULL: deleted).
CREATE OR REPLACE FUNCTION source_apply(src sources, op text, old_row jsonb, new_row jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb := customer_mgmt.source_row(src.mapping, coalesce(new_row, old_row));
    k text;
    version timestamptz;
    target uuid;
    lines customer_mgmt.order_items[];
BEGIN
    version := coalesce((r ->> 'updatedAt')::timestamptz, clock_timestamp());
    IF src.kind = 'customers' THEN
        IF op = 'DELETE' THEN
            -- the person is gone from the shop: erased here too
            SELECT u.id INTO target FROM customer_mgmt.users u WHERE u.external_id = r ->> 'externalId' AND u.role = 'customer';
            IF target IS NOT NULL THEN
                PERFORM customer_mgmt.anonymize_customer(target, 'deleted from the shop''s table ' || src.source::text);
            END IF;
        ELSE
            PERFORM customer_mgmt.upsert_customer(r ->> 'externalId', r ->> 'fullName', r ->> 'email', r ->> 'phoneNumber',
                                                  (r ->> 'dateOfBirth')::date, r ->> 'gender', r ->> 'province',
                                                  coalesce((r ->> 'registeredAt')::timestamptz, now()), version);
        END IF;
    ELSIF src.kind = 'orders' THEN
        IF op = 'DELETE' THEN
            DELETE FROM customer_mgmt.orders x WHERE x.external_id = r ->> 'externalId';
        ELSE
            PERFORM customer_mgmt.upsert_order(r ->> 'externalId', (r ->> 'totalAmount')::numeric, r ->> 'customerExternalId',
                                               NULL, coalesce(r ->> 'status', 'completed'),
                                               coalesce((r ->> 'orderDate')::timestamptz, now()),
                                               customer_mgmt.source_order_items(r ->> 'externalId'), version);
        END IF;
    ELSE
        -- a line changed: the order's lines replaced by the shop's, as a whole
        -- (and the old order's too when a line moved to another)
        FOR k IN SELECT DISTINCT v FROM unnest(ARRAY[customer_mgmt.source_row(src.mapping, old_row) ->> 'orderExternalId',
                                                   customer_mgmt.source_row(src.mapping, new_row) ->> 'orderExternalId']) v
                  WHERE v IS NOT NULL LOOP
            SELECT x.id INTO target FROM customer_mgmt.orders x WHERE x.external_id = k;
            CONTINUE WHEN target IS NULL;   -- lines before their order: the order's insert reads them
            SELECT coalesce(array_agg(t), '{}') INTO lines
              FROM customer_mgmt.check_order_items(customer_mgmt.source_order_items(k)) t;
            DELETE FROM customer_mgmt.order_items i WHERE i.order_id = target;
            INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
            SELECT target, l.product_name, l.category, l.brand, l.unit_price, l.quantity FROM unnest(lines) l;
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION source_apply(sources, text, jsonb, jsonb) IS
    'Internal: applies one change of an attached table: customers and orders through upsert_customer / upsert_order (a deleted customer anonymised, a deleted order deleted), order lines replacing their order''s lines as a whole.';

-- The trigger on the shop's attached tables.  It runs as the extension's
-- owner, for whichever role writes the shop's table; a table no admin
-- attached has no mapping and is refused.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.source_changed() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src customer_mgmt.sources;
    state text;
    message text;
    field text;
    key text;
    old_row jsonb;
    new_row jsonb;
BEGIN
    SELECT * INTO src FROM customer_mgmt.sources s WHERE s.source = TG_RELID::regclass;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not an attached source', TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege', DETAIL = 'Only attach_source installs this trigger.';
    END IF;
    old_row := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    IF src.on_reject = 'refuse' THEN
        -- our error is the shop's: no subtransaction on its write path
        PERFORM customer_mgmt.source_apply(src, TG_OP, old_row, new_row);
    ELSE
        BEGIN
            PERFORM customer_mgmt.source_apply(src, TG_OP, old_row, new_row);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
            key := customer_mgmt.source_row(src.mapping, coalesce(new_row, old_row)) ->> (customer_mgmt.source_fields(src.kind))[1];
            PERFORM customer_mgmt.import_reject(src.import_id,
                coalesce(new_row, old_row) || jsonb_build_object('_row', format('%s %s at %s', TG_OP, key, clock_timestamp())),
                field, state, message);
            UPDATE customer_mgmt.imports i SET rejected = i.rejected + 1 WHERE i.id = src.import_id;
        END;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.source_changed() IS
    'Internal: the trigger attach_source installs on the shop''s tables: applies each change (source_apply) in the same transaction; a change our rules refuse fails the shop''s write (on_reject refuse) or is recorded in import_rejects and let through (record).';

CREATE OR REPLACE FUNCTION customer_mgmt_internal.register_source(kind text, source regclass, mapping jsonb, on_reject text)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fields text[] := customer_mgmt.source_fields(kind);
    m record;
    col text;
    normal jsonb := '{}';
    imp bigint;
BEGIN
    IF fields IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('kind', 'must be one of customers, orders, order_items', kind);
    END IF;
    IF source IS NULL OR (SELECT c.relkind NOT IN ('r', 'p') OR c.relnamespace IN ('customer_mgmt'::regnamespace,
                                                                                 'customer_mgmt_internal'::regnamespace)
                            FROM pg_class c WHERE c.oid = source) THEN
        PERFORM customer_mgmt.raise_invalid('source', 'must be a table of the shop''s, outside the extension''s schemas', source::text);
    END IF;
    IF on_reject IS NULL OR on_reject NOT IN ('refuse', 'record') THEN
        PERFORM customer_mgmt.raise_invalid('on_reject', 'must be refuse or record', on_reject);
    END IF;
    IF mapping IS NULL OR jsonb_typeof(mapping) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('mapping', 'must be a JSON object of our fields to the table''s columns');
    END IF;
    FOR m IN SELECT * FROM jsonb_each(mapping) LOOP
        IF NOT m.key = ANY (fields) THEN
            PERFORM customer_mgmt.raise_invalid('mapping', format('%s is not a field of %s (%s)', m.key, kind, array_to_string(fields, ', ')));
        END IF;
        col := CASE jsonb_typeof(m.value) WHEN 'string' THEN m.value #>> '{}' WHEN 'object' THEN m.value ->> 'column' END;
        IF col IS NULL OR NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = source AND a.attname = col
                                                                    AND a.attnum > 0 AND NOT a.attisdropped) THEN
            PERFORM customer_mgmt.raise_invalid('mapping', format('%s must name a column of %s', m.key, source::text));
        END IF;
        IF jsonb_typeof(m.value) = 'object' AND m.value ? 'values' AND jsonb_typeof(m.value -> 'values') <> 'object' THEN
            PERFORM customer_mgmt.raise_invalid('mapping', format('the values of %s must be a JSON object', m.key));
        END IF;
        normal := normal || jsonb_build_object(m.key, jsonb_build_object('column', col)
                                                      || CASE WHEN m.value ? 'values' THEN jsonb_build_object('values', m.value -> 'values')
                                                              ELSE '{}' END);
    END LOOP;
    IF NOT normal ? fields[1] THEN
        PERFORM customer_mgmt.raise_invalid('mapping', format('must map %s, the key of the table', fields[1]));
    END IF;
    IF kind = 'orders' AND NOT normal ? 'customerExternalId' THEN
        PERFORM customer_mgmt.raise_invalid('mapping', 'must map customerExternalId, the order''s customer');
    END IF;
    IF EXISTS (SELECT FROM customer_mgmt.sources s WHERE s.kind = register_source.kind OR s.source = register_source.source) THEN
        RAISE EXCEPTION 'a source of % or the table % is attached already', kind, source
            USING ERRCODE = 'unique_violation', COLUMN = 'source',
                  DETAIL = 'Field "source": one table per kind, one kind per table.', HINT = 'detach_source first.';
    END IF;
    -- the rejects of an on_reject record source go to an import record of their own
    INSERT INTO customer_mgmt.imports AS i (kind, source, status, actor_id, session_role, finished_at)
    VALUES (CASE kind WHEN 'order_items' THEN 'orders' ELSE kind END, 'attached ' || source::text, 'succeeded',
            customer_mgmt.current_actor(), session_user, now())
    RETURNING i.id INTO imp;
    INSERT INTO customer_mgmt.sources (source, kind, mapping, on_reject, import_id, actor_id)
    VALUES (source, kind, normal, on_reject, imp, customer_mgmt.current_actor());
    PERFORM customer_mgmt.audit('attach_source', 'source', source::text,
                                jsonb_build_object('kind', kind, 'mapping', normal, 'onReject', on_reject));
    RETURN imp;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.register_source(text, regclass, jsonb, text) IS
    'Internal: checks and records the mapping of an attached source (22023 naming kind, source, mapping or on_reject; 23505 when the kind or the table is attached already).';

CREATE OR REPLACE FUNCTION customer_mgmt_internal.unregister_source(source regclass) RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src customer_mgmt.sources;
BEGIN
    DELETE FROM customer_mgmt.sources s WHERE s.source = unregister_source.source RETURNING * INTO src;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Attached source', coalesce(source::text, 'NULL'));
    END IF;
    PERFORM customer_mgmt.audit('detach_source', 'source', source::text, jsonb_build_object('kind', src.kind));
    RETURN src.kind;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.unregister_source(regclass) IS
    'Internal: forgets an attached source''s mapping (PT404 for a table not attached).';

CREATE OR REPLACE FUNCTION attach_source(kind text, source regclass, mapping jsonb, on_reject text DEFAULT 'refuse')
    RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    imp bigint := customer_mgmt_internal.register_source(kind, source, mapping, on_reject);
BEGIN
    -- as the caller, who owns the shop's table: the trigger, and the right
    -- of the extension's code to read the table (an order's lines, the
    -- backfill's orders)
    EXECUTE format('GRANT SELECT ON %s TO customer_mgmt_owner', source);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO customer_mgmt_owner',
                   (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source));
    IF NOT has_table_privilege('customer_mgmt_owner', source, 'SELECT')
       OR NOT has_schema_privilege('customer_mgmt_owner', (SELECT c.relnamespace FROM pg_class c WHERE c.oid = source), 'USAGE') THEN
        RAISE EXCEPTION 'cannot attach %: the extension may not read it', source
            USING ERRCODE = 'insufficient_privilege', COLUMN = 'source',
                  DETAIL = 'Field "source": customer_mgmt_owner needs USAGE on its schema and SELECT on it.',
                  HINT = 'Attach it as the owner of the table and its schema, or grant those rights first.';
    END IF;
    EXECUTE format('CREATE TRIGGER customer_mgmt_source AFTER INSERT OR UPDATE OR DELETE ON %s'
                   ' FOR EACH ROW EXECUTE FUNCTION customer_mgmt_internal.source_changed()', source);
    RETURN jsonb_build_object('source', source::text, 'kind', kind, 'onReject', on_reject, 'rejectsImportId', imp,
                              'backfill', format('CALL customer_mgmt.import_table(%L, %L)',
                                                 CASE kind WHEN 'order_items' THEN 'orders' ELSE kind END,
                                                 CASE kind WHEN 'order_items'
                                                      THEN (SELECT s.source::text FROM customer_mgmt.sources s WHERE s.kind = 'orders')
                                                      ELSE source::text END));
END
$$;
COMMENT ON FUNCTION attach_source(text, regclass, jsonb, text) IS
    'Admin: attaches a table of the shop''s own (kind customers, orders or order_items; docs/onboarding.md) by a mapping of our fields to its columns ({"externalId": "id", "status": {"column": "state", "values": {"DONE": "completed"}}}): from now on every insert, update and delete on it reaches the extension in the same transaction, through a trigger; a change our rules refuse fails the shop''s write (on_reject refuse) or is recorded as a reject and let through (record). The existing rows come in with import_table (the answer''s backfill). The caller must own the table.';

CREATE OR REPLACE FUNCTION detach_source(source regclass) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text := customer_mgmt_internal.unregister_source(source);
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS customer_mgmt_source ON %s', source);
    EXECUTE format('REVOKE SELECT ON %s FROM customer_mgmt_owner', source);
    RETURN jsonb_build_object('source', source::text, 'kind', kind, 'detached', true);
END
$$;
COMMENT ON FUNCTION detach_source(regclass) IS
    'Admin: detaches a table attached with attach_source: its trigger dropped, the data it brought kept. PT404 for a table not attached.';
