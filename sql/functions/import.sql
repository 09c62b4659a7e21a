-- customer_mgmt: Bulk import from the shop's staging tables (docs/onboarding.md):
-- the procedure import_table, its chunk writers in customer_mgmt_internal,
-- the import records and their rejects.
--
-- A chunk is a range of the staging table's blocks, read by the procedure
-- with the caller's rights and handed over as JSON.  Its new rows go in with
-- one statement, checked by the single-row functions' own checks
-- (check_customer, check_order); rows the shop sent before, and every row
-- of a chunk that statement refused, go through upsert_customer /
-- upsert_order one by one, a refused row becoming a reject.  The triggers'
-- work is done for the chunk at once (importing()), and the import ends
-- with one recalculation.

-- Start an import of a staging table, or resume the one that is running.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.begin_import(kind text, source regclass, rows_total bigint,
                                                               OUT import_id bigint, OUT next_block bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ns oid := (SELECT c.relnamespace FROM pg_class c WHERE c.oid = source);
BEGIN
    IF kind IS NULL OR kind NOT IN ('customers', 'orders', 'addresses', 'sessions') THEN
        PERFORM customer_mgmt.raise_invalid('kind', 'must be one of customers, orders, addresses, sessions', kind);
    END IF;
    IF source IS NULL OR ns IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
       OR NOT has_table_privilege(customer_mgmt.invoker(), source, 'SELECT') THEN
        PERFORM customer_mgmt.raise_invalid('source', 'must be a staging table the caller may read, outside the extension''s schemas',
                                            source::text);
    END IF;
    SELECT i.id, i.next_block INTO import_id, next_block FROM customer_mgmt.imports i
     WHERE i.kind = begin_import.kind AND i.source = begin_import.source::text AND i.status = 'running'
     ORDER BY i.id DESC LIMIT 1 FOR UPDATE;
    IF import_id IS NULL THEN
        INSERT INTO customer_mgmt.imports AS i (kind, source, rows_total, actor_id, session_role)
        VALUES (kind, source::text, rows_total, customer_mgmt.current_actor(), session_user)
        RETURNING i.id, i.next_block INTO import_id, next_block;
        PERFORM customer_mgmt.audit('import_table', 'import', import_id::text,
                                    jsonb_build_object('kind', kind, 'source', source::text, 'rowsTotal', rows_total));
    END IF;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.begin_import(text, regclass, bigint) IS
    'Internal: starts an import of a staging table (22023 naming kind or source: a table the caller may read, outside the extension''s schemas), or finds the running import of that table to resume; returns its id and the block it resumes at.';

-- One reject: the row's position, the refusal's field, SQLSTATE and message,
-- the raw values.
CREATE OR REPLACE FUNCTION import_reject(import_id bigint, raw jsonb, field text, sqlstate text, message text)
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO customer_mgmt.import_rejects (import_id, row_ref, field, sqlstate, message, raw)
    VALUES (import_id, raw ->> '_row', nullif(field, ''), sqlstate, message, raw - '_row')
    ON CONFLICT (import_id, row_ref) DO NOTHING
$$;
COMMENT ON FUNCTION import_reject(bigint, jsonb, text, text, text) IS
    'Internal: records a row an import refused.';

-- The customer a row of addresses or visits belongs to: by the shop's id
-- (customer_external_id) or ours (customer_id); PT404 when neither names one.
CREATE OR REPLACE FUNCTION import_customer_ref(raw jsonb) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found uuid;
BEGIN
    IF raw ->> 'customer_external_id' IS NOT NULL THEN
        SELECT u.id INTO found FROM customer_mgmt.users u
         WHERE u.external_id = btrim(raw ->> 'customer_external_id') AND u.role = 'customer';
    ELSIF raw ->> 'customer_id' IS NOT NULL THEN
        SELECT u.id INTO found FROM customer_mgmt.users u WHERE u.id = (raw ->> 'customer_id')::uuid AND u.role = 'customer';
    ELSE
        PERFORM customer_mgmt.raise_invalid('customer_external_id', 'is required (or customer_id)');
    END IF;
    IF found IS NULL THEN
        PERFORM customer_mgmt.raise_not_found('Customer', coalesce(raw ->> 'customer_external_id', raw ->> 'customer_id'));
    END IF;
    RETURN found;
END
$$;
COMMENT ON FUNCTION import_customer_ref(jsonb) IS
    'Internal: the customer of an imported address or visit row, by customer_external_id or customer_id; 22023 when neither is given, PT404 when none matches.';

-- One row of addresses or visits: added through add_customer_address or
-- record_session, so the same checks and triggers apply; one whose
-- external_id is known is left as it is (imported before: addresses and
-- visits are imported once, never updated by an import).
CREATE OR REPLACE FUNCTION import_visit_or_address(kind text, r jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ext text := customer_mgmt.check_text('external_id', btrim(r ->> 'external_id'), 200);
    customer uuid;
BEGIN
    IF kind = 'addresses' THEN
        IF EXISTS (SELECT FROM customer_mgmt.addresses a WHERE a.external_id = ext) THEN
            RETURN jsonb_build_object('action', 'unchanged');
        END IF;
        customer := customer_mgmt.import_customer_ref(r);
        PERFORM customer_mgmt.add_customer_address(customer, r ->> 'recipient_name', r ->> 'phone_number', r ->> 'street',
                                                   r ->> 'ward', r ->> 'district', r ->> 'province',
                                                   coalesce((r ->> 'is_default_shipping')::boolean, false),
                                                   coalesce((r ->> 'is_default_billing')::boolean, false), ext);
    ELSE
        IF EXISTS (SELECT FROM customer_mgmt.web_sessions w WHERE w.external_id = ext) THEN
            RETURN jsonb_build_object('action', 'unchanged');
        END IF;
        customer := customer_mgmt.import_customer_ref(r);
        PERFORM customer_mgmt.record_session(customer, (r ->> 'started_at')::timestamptz,
                                             coalesce((r ->> 'duration_seconds')::integer, 0),
                                             coalesce((r ->> 'page_views')::integer, 1),
                                             coalesce((r ->> 'converted')::boolean, false), ext);
    END IF;
    RETURN jsonb_build_object('action', 'inserted', 'customerId', customer);
END
$$;
COMMENT ON FUNCTION import_visit_or_address(text, jsonb) IS
    'Internal: imports one address or visit row through add_customer_address or record_session (external_id required; one known already is left unchanged).';

-- The rows of a chunk that the one statement did not write (not in
-- fast_ids), each through upsert_customer or upsert_order as a single
-- delivery would go; a refused row becomes a reject.  queued: the
-- customers whose orders were written.
CREATE OR REPLACE FUNCTION import_rows_one_by_one(import_id bigint, kind text, rows jsonb, fast_ids text[],
                                                  OUT inserted uuid[], OUT updated bigint, OUT unchanged bigint,
                                                  OUT rejected bigint, OUT queued uuid[])
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
    res jsonb;
    state text;
    message text;
    field text;
BEGIN
    inserted := '{}';
    queued := '{}';
    updated := 0;
    unchanged := 0;
    rejected := 0;
    FOR r IN SELECT e.value FROM jsonb_array_elements(rows) e
              WHERE NOT coalesce(btrim(e.value ->> 'external_id') = ANY (fast_ids), false) LOOP
        BEGIN
            IF kind IN ('addresses', 'sessions') THEN
                res := customer_mgmt.import_visit_or_address(kind, r);
            ELSIF kind = 'customers' THEN
                res := customer_mgmt.upsert_customer(r ->> 'external_id', r ->> 'full_name', r ->> 'email', r ->> 'phone_number',
                                                     (r ->> 'date_of_birth')::date, r ->> 'gender', r ->> 'province',
                                                     coalesce((r ->> 'registered_at')::timestamptz, now()),
                                                     (r ->> 'updated_at')::timestamptz);
            ELSE
                res := customer_mgmt.upsert_order(r ->> 'external_id', (r ->> 'total_amount')::numeric, r ->> 'customer_external_id',
                                                  (r ->> 'customer_id')::uuid, coalesce(r ->> 'status', 'completed'),
                                                  coalesce((r ->> 'order_date')::timestamptz, now()), coalesce(r -> 'items', '[]'),
                                                  (r ->> 'updated_at')::timestamptz);
            END IF;
            CASE res ->> 'action'
                WHEN 'inserted' THEN inserted := inserted || coalesce(res ->> 'orderId', res ->> 'customerId')::uuid;
                    -- (an address or a visit: its customer)
                WHEN 'updated' THEN updated := updated + 1;
                ELSE unchanged := unchanged + 1;
            END CASE;
            IF kind <> 'customers' AND res ->> 'action' IN ('inserted', 'updated') THEN
                queued := queued || (res ->> 'customerId')::uuid;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
            PERFORM customer_mgmt.import_reject(import_id, r, field, state, message);
            rejected := rejected + 1;
        END;
    END LOOP;
END
$$;
COMMENT ON FUNCTION import_rows_one_by_one(bigint, text, jsonb, text[]) IS
    'Internal: the rows of an import''s chunk not written by its one statement, each through upsert_customer or upsert_order, a refused row recorded as a reject; what happened to them.';

-- The customers of a chunk.  Columns read from each row (any other is
-- ignored): external_id (required), full_name, email, phone_number,
-- date_of_birth, gender, province, registered_at, updated_at.
CREATE OR REPLACE FUNCTION import_customers_chunk(import_id bigint, rows jsonb,
                                                  OUT inserted uuid[], OUT updated bigint, OUT unchanged bigint,
                                                  OUT rejected bigint)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fast_ids text[] := '{}';
    one record;
BEGIN
    inserted := '{}';
    updated := 0;
    unchanged := 0;
    rejected := 0;
    -- the rows the shop sends for the first time, in one statement (unless
    -- the shop asked for duplicates to be checked: then each row as
    -- upsert_customer takes it)
    IF customer_mgmt.setting('identity.on_duplicate') = 'allow' THEN
    BEGIN
        WITH x AS (
            SELECT e.value AS raw, btrim(e.value ->> 'external_id') AS ext FROM jsonb_array_elements(rows) e),
        c AS MATERIALIZED (
            SELECT x.ext,
                   customer_mgmt.check_customer(x.raw ->> 'full_name', x.raw ->> 'email', x.raw ->> 'phone_number',
                                                (x.raw ->> 'date_of_birth')::date, x.raw ->> 'gender', x.raw ->> 'province') AS u,
                   customer_mgmt.check_text('external_id', x.ext, 200) AS checked_ext,
                   customer_mgmt.check_past_time('registered_at', coalesce((x.raw ->> 'registered_at')::timestamptz, now())) AS created,
                   customer_mgmt.check_source_time((x.raw ->> 'updated_at')::timestamptz) AS version
              FROM x
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.users u WHERE u.external_id = x.ext)),
        ins AS (
            INSERT INTO customer_mgmt.users (full_name, email, phone_number, role, date_of_birth, gender, province,
                                             created_at, updated_at, external_id, source_updated_at)
            SELECT (c.u).full_name, (c.u).email, (c.u).phone_number, 'customer', (c.u).date_of_birth, (c.u).gender,
                   (c.u).province, c.created, c.created, c.checked_ext, c.version
              FROM c
            RETURNING id, external_id)
        SELECT coalesce(array_agg(ins.id), '{}'), coalesce(array_agg(ins.external_id), '{}') INTO inserted, fast_ids FROM ins;
    EXCEPTION WHEN OTHERS THEN
        -- a row the checks refuse, or two rows of one e-mail or id: row by row
        inserted := '{}';
        fast_ids := '{}';
    END;
    END IF;
    -- the others, each as upsert_customer applies it
    SELECT * INTO one FROM customer_mgmt.import_rows_one_by_one(import_id, 'customers', rows, fast_ids);
    inserted := inserted || one.inserted;
    updated := one.updated;
    unchanged := one.unchanged;
    rejected := one.rejected;
    -- what users_after_insert does, for the chunk at once (no welcome
    -- event: an imported customer registered long ago)
    INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
    SELECT u.id, u.created_at, u.created_at FROM customer_mgmt.users u WHERE u.id = ANY (inserted)
    ON CONFLICT (customer_id) DO NOTHING;
    INSERT INTO customer_mgmt.customer_list
    SELECT * FROM customer_mgmt.customer_list_rows() l WHERE l.customer_id = ANY (inserted)
    ON CONFLICT ON CONSTRAINT customer_list_pkey DO NOTHING;
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, assigned_at)
    SELECT u.id, '00000000-0000-4000-8000-000000000001', 'system', u.created_at
      FROM customer_mgmt.users u WHERE u.id = ANY (inserted)
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
END
$$;
COMMENT ON FUNCTION import_customers_chunk(bigint, jsonb) IS
    'Internal: imports a chunk of customers (new ones in one statement checked by check_customer, the others and any refused chunk row by row through upsert_customer, rejects recorded), then their analytics rows, list rows and new-customers membership at once.';

-- The orders of a chunk.  Columns read from each row: external_id
-- (required), customer_external_id or customer_id, total_amount, status,
-- order_date, items (a JSON array as record_order takes it), updated_at.
CREATE OR REPLACE FUNCTION import_orders_chunk(import_id bigint, rows jsonb,
                                               OUT inserted uuid[], OUT updated bigint, OUT unchanged bigint,
                                               OUT rejected bigint)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fast_ids text[] := '{}';
    queued uuid[] := '{}';
    one record;
BEGIN
    inserted := '{}';
    updated := 0;
    unchanged := 0;
    rejected := 0;
    BEGIN
        WITH x AS (
            SELECT e.value AS raw, btrim(e.value ->> 'external_id') AS ext FROM jsonb_array_elements(rows) e),
        c AS MATERIALIZED (
            SELECT gen_random_uuid() AS id, x.ext,
                   customer_mgmt.check_order((x.raw ->> 'total_amount')::numeric, coalesce(x.raw ->> 'status', 'completed'),
                                             coalesce((x.raw ->> 'order_date')::timestamptz, now()),
                                             coalesce(x.raw -> 'items', '[]')) AS chk,
                   customer_mgmt.check_text('external_id', x.ext, 200) AS checked_ext,
                   coalesce((SELECT u.id FROM customer_mgmt.users u
                              WHERE u.external_id = x.raw ->> 'customer_external_id' AND u.role = 'customer'),
                            (SELECT u.id FROM customer_mgmt.users u
                              WHERE u.id = (x.raw ->> 'customer_id')::uuid AND u.role = 'customer')) AS customer_id,
                   customer_mgmt.check_source_time((x.raw ->> 'updated_at')::timestamptz) AS version
              FROM x
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.external_id = x.ext)),
        ins AS (
            INSERT INTO customer_mgmt.orders (id, customer_id, status, total_amount, order_date, completed_at, external_id,
                                              source_updated_at)
            SELECT c.id, c.customer_id, ((c.chk).o).status, ((c.chk).o).total_amount, ((c.chk).o).order_date,
                   CASE WHEN ((c.chk).o).status IN ('completed', 'refunded') THEN ((c.chk).o).order_date END,
                   c.checked_ext, c.version
              FROM c
            RETURNING id, customer_id, status, external_id),
        lines AS (
            INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
            SELECT c.id, l.product_name, l.category, l.brand, l.unit_price, l.quantity
              FROM c CROSS JOIN LATERAL unnest((c.chk).lines) l)
        SELECT coalesce(array_agg(ins.id), '{}'), coalesce(array_agg(ins.external_id), '{}'),
               coalesce(array_agg(DISTINCT ins.customer_id) FILTER (WHERE ins.status = 'completed'), '{}')
          INTO inserted, fast_ids, queued FROM ins;
    EXCEPTION WHEN OTHERS THEN
        inserted := '{}';
        fast_ids := '{}';
        queued := '{}';
    END;
    SELECT * INTO one FROM customer_mgmt.import_rows_one_by_one(import_id, 'orders', rows, fast_ids);
    inserted := inserted || one.inserted;
    updated := one.updated;
    unchanged := one.unchanged;
    rejected := one.rejected;
    queued := queued || one.queued;
    -- what the orders' triggers do, for the chunk at once: the customers
    -- whose completed orders came in are recalculated at the import's end
    INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
    SELECT DISTINCT c, 'import' FROM unnest(queued) c
    ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
END
$$;
COMMENT ON FUNCTION import_orders_chunk(bigint, jsonb) IS
    'Internal: imports a chunk of orders with their items (new ones in one statement checked by check_order, the others and any refused chunk row by row through upsert_order, rejects recorded), then queues the customers whose completed orders came in.';

-- One chunk of an import, in the caller's transaction: the chunk's writes,
-- the progress and where the import resumes.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.import_chunk(import_id bigint, rows jsonb, next_block bigint)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    imp customer_mgmt.imports;
    src customer_mgmt.sources;
    done record;
BEGIN
    SELECT * INTO imp FROM customer_mgmt.imports i WHERE i.id = import_chunk.import_id AND i.status = 'running' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_invalid('import_id', 'is not a running import', import_id::text);
    END IF;
    IF rows IS NULL OR jsonb_typeof(rows) <> 'array' THEN
        PERFORM customer_mgmt.raise_invalid('rows', 'must be a JSON array');
    END IF;
    -- the backfill of an attached table: its columns mapped to our fields,
    -- an order's lines read from the attached table of lines
    SELECT * INTO src FROM customer_mgmt.sources s WHERE s.source::text = imp.source AND s.kind = imp.kind;
    IF FOUND THEN
        -- (the mapping's keys are the API's, camelCase; a staging row's are
        -- the columns', snake_case)
        SELECT coalesce(jsonb_agg(m.r || jsonb_build_object('_row', e.value ->> '_row')
                                      || CASE WHEN imp.kind = 'orders'
                                              THEN jsonb_build_object('items', customer_mgmt.source_order_items(m.r ->> 'external_id'))
                                              ELSE '{}' END), '[]')
          INTO rows
          FROM jsonb_array_elements(rows) e,
               LATERAL (SELECT jsonb_object_agg(lower(regexp_replace(k.key, '([A-Z])', '_\1', 'g')), k.value) AS r
                          FROM jsonb_each(customer_mgmt.source_row(src.mapping, e.value - '_row')) k) m;
    END IF;
    IF imp.kind IN ('addresses', 'sessions') THEN
        -- row by row through the single-row functions, their triggers firing;
        -- the customers the visits queued are the import's to recalculate
        SELECT * INTO done FROM customer_mgmt.import_rows_one_by_one(imp.id, imp.kind, rows, '{}');
        UPDATE customer_mgmt.analytics_queue q SET reason = 'import' WHERE q.customer_id = ANY (done.queued);
    ELSE
        -- the triggers leave their work to the chunk while it writes (importing())
        CREATE TEMP TABLE cm_import () ON COMMIT DROP;
        IF imp.kind = 'customers' THEN
            SELECT * INTO done FROM customer_mgmt.import_customers_chunk(imp.id, rows);
        ELSE
            SELECT * INTO done FROM customer_mgmt.import_orders_chunk(imp.id, rows);
        END IF;
        DROP TABLE pg_temp.cm_import;
    END IF;
    UPDATE customer_mgmt.imports i
       SET rows_done = i.rows_done + jsonb_array_length(rows), inserted = i.inserted + cardinality(done.inserted),
           updated = i.updated + done.updated, unchanged = i.unchanged + done.unchanged,
           rejected = i.rejected + done.rejected, next_block = greatest(i.next_block, import_chunk.next_block)
     WHERE i.id = imp.id;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.import_chunk(bigint, jsonb, bigint) IS
    'Internal: writes one chunk of a running import (import_customers_chunk or import_orders_chunk, the triggers'' work done for the chunk at once) and records its progress and the block the import resumes at.';

-- The end of an import: the customers it brought or changed recalculated
-- in one run, the record closed.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.end_import(import_id bigint) RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    imp customer_mgmt.imports;
BEGIN
    SELECT * INTO imp FROM customer_mgmt.imports i WHERE i.id = end_import.import_id AND i.status = 'running' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_invalid('import_id', 'is not a running import', import_id::text);
    END IF;
    -- new customers have never been calculated, customers with new orders
    -- are queued: the run takes exactly those (everyone, from scratch, when
    -- they are many)
    PERFORM customer_mgmt.recalculate_all_analytics(now());
    -- what the run recalculated leaves the queue (a live change since, which
    -- sets another reason, stays)
    DELETE FROM customer_mgmt.analytics_queue q
     WHERE q.reason = 'import'
       AND EXISTS (SELECT FROM customer_mgmt.customer_analytics a
                    WHERE a.customer_id = q.customer_id AND a.last_calculated_at >= now());
    UPDATE customer_mgmt.imports i SET status = 'succeeded', finished_at = now() WHERE i.id = imp.id;
    PERFORM customer_mgmt.audit('import_table', 'import', imp.id::text,
        (SELECT jsonb_build_object('status', i.status, 'rowsDone', i.rows_done, 'inserted', i.inserted, 'updated', i.updated,
                                   'unchanged', i.unchanged, 'rejected', i.rejected)
           FROM customer_mgmt.imports i WHERE i.id = imp.id));
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.end_import(bigint) IS
    'Internal: ends a running import: recalculates the customers it brought or changed (recalculate_all_analytics) and marks it succeeded.';

CREATE OR REPLACE PROCEDURE import_table(kind text, source regclass, chunk_blocks integer DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    imp record;
    total bigint;
    blocks bigint;
    b bigint;
    rows jsonb;
BEGIN
    IF chunk_blocks IS NULL OR chunk_blocks NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'invalid chunk_blocks: must be from 1 to 100000'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'chunk_blocks',
                  DETAIL = 'Field "chunk_blocks" must be from 1 to 100000.';
    END IF;
    -- the staging table is read with the caller's rights
    EXECUTE format('SELECT count(*) FROM %s', source) INTO total;
    SELECT * INTO imp FROM customer_mgmt_internal.begin_import(kind, source, total);
    COMMIT;
    blocks := pg_catalog.pg_relation_size(source) / pg_catalog.current_setting('block_size')::bigint;
    b := imp.next_block;
    WHILE b < blocks LOOP
        EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object(''_row'', s.ctid::text)), ''[]'')'
                       ' FROM %s s WHERE s.ctid >= %L::tid AND s.ctid < %L::tid',
                       source, format('(%s,0)', b), format('(%s,0)', b + chunk_blocks))
           INTO rows;
        PERFORM customer_mgmt_internal.import_chunk(imp.import_id, rows, b + chunk_blocks);
        COMMIT;
        b := b + chunk_blocks;
    END LOOP;
    PERFORM customer_mgmt_internal.end_import(imp.import_id);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE import_table(text, regclass, integer) IS
    'Admin: imports the rows of a staging table the shop filled (kind customers, orders, addresses or sessions; docs/onboarding.md) in chunks of chunk_blocks blocks, each committed: re-run after a crash or cancel, it resumes at the first chunk not committed; rows sent before are upserted (a re-run of the same rows changes nothing); a refused row goes to import_rejects and the others go on; progress in imports. Ends with one recalculation.';

CREATE OR REPLACE FUNCTION get_imports(page integer DEFAULT 1, page_size integer DEFAULT 20) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    RETURN customer_mgmt.page_envelope(
        (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'id', i.id, 'kind', i.kind, 'source', i.source, 'status', i.status, 'startedAt', i.started_at,
                    'finishedAt', i.finished_at, 'rowsTotal', i.rows_total, 'rowsDone', i.rows_done,
                    'inserted', i.inserted, 'updated', i.updated, 'unchanged', i.unchanged, 'rejected', i.rejected,
                    'seconds', round(extract(epoch FROM coalesce(i.finished_at, now()) - i.started_at)::numeric, 1),
                    'actorId', i.actor_id, 'sessionRole', i.session_role) ORDER BY i.id DESC), '[]')
           FROM (SELECT * FROM customer_mgmt.imports ORDER BY id DESC
                 LIMIT page_size OFFSET (page - 1)::bigint * page_size) i),
        (SELECT count(*) FROM customer_mgmt.imports), page, page_size);
END
$$;
COMMENT ON FUNCTION get_imports(integer, integer) IS
    'Admin: the imports, newest first, with their progress (rowsDone of rowsTotal, committed chunk by chunk, so visible while one runs), counts, duration and who ran them.';

CREATE OR REPLACE FUNCTION get_import_rejects(import_id bigint, page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    IF NOT EXISTS (SELECT FROM customer_mgmt.imports i WHERE i.id = get_import_rejects.import_id) THEN
        PERFORM customer_mgmt.raise_not_found('Import', coalesce(import_id::text, 'NULL'));
    END IF;
    RETURN customer_mgmt.page_envelope(
        (SELECT coalesce(jsonb_agg(jsonb_build_object('row', r.row_ref, 'field', r.field, 'sqlstate', r.sqlstate,
                                                      'message', r.message, 'raw', r.raw) ORDER BY r.row_ref), '[]')
           FROM (SELECT * FROM customer_mgmt.import_rejects x WHERE x.import_id = get_import_rejects.import_id
                  ORDER BY x.row_ref LIMIT page_size OFFSET (page - 1)::bigint * page_size) r),
        (SELECT count(*) FROM customer_mgmt.import_rejects x WHERE x.import_id = get_import_rejects.import_id),
        page, page_size);
END
$$;
COMMENT ON FUNCTION get_import_rejects(bigint, integer, integer) IS
    'Admin: the rows an import refused, each with its position in the staging table, the field, SQLSTATE, message and raw values. PT404 for an unknown import.';

CREATE OR REPLACE FUNCTION delete_import(import_id bigint) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    imp customer_mgmt.imports;
BEGIN
    DELETE FROM customer_mgmt.imports i WHERE i.id = delete_import.import_id AND i.status <> 'running' RETURNING * INTO imp;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Finished import', coalesce(import_id::text, 'NULL'));
    END IF;
    PERFORM customer_mgmt.audit('delete_import', 'import', imp.id::text, jsonb_build_object('rejected', imp.rejected));
    RETURN jsonb_build_object('id', imp.id, 'deleted', true);
END
$$;
COMMENT ON FUNCTION delete_import(bigint) IS
    'Admin: deletes a finished import''s record and its rejects (their raw values are personal data). PT404 for none or a running one.';

-- A CSV file as a spreadsheet user uploads it (src/csv.c reads it).
CREATE OR REPLACE FUNCTION csv_records(data bytea) RETURNS TABLE (record integer, fields text[])
    AS 'MODULE_PATHNAME', 'cm_csv_records'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION csv_records(bytea) IS
    'Internal: the records of a UTF-8 CSV file (a byte-order mark, CRLF/LF/CR line ends and the comma, semicolon or tab as the header uses it), the header first, each with its number; an empty field is NULL. 22P04 naming the record for what is not CSV, 22021 for what is not UTF-8.';

CREATE OR REPLACE FUNCTION parse_vn_datetime(field text, value text) RETURNS timestamp
    AS 'MODULE_PATHNAME', 'cm_parse_vn_datetime'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION parse_vn_datetime(text, text) IS
    'Internal: a date or date and time as a spreadsheet holds it (31/12/1990, 31-12-1990, 31.12.1990, 1990-12-31, an Excel date number of five to seven digits; optionally hh:mm[:ss]), day first; 22007 or 22008 naming the field.';

-- The customer field a CSV column holds, from its header: the admin's own
-- names first (setting import.csv_columns: "header=field" pairs separated
-- by ";"), then the names of the API, of the export's sheet and the ones
-- spreadsheets usually carry, compared without case, accents or
-- punctuation.  NULL: a column the import ignores.
CREATE OR REPLACE FUNCTION csv_column_field(header text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH h AS (SELECT regexp_replace(customer_mgmt.search_fold(header), '[^a-z0-9]', '', 'g') AS key),
    own AS (
        SELECT btrim(split_part(pair, '=', 2)) AS field,
               regexp_replace(customer_mgmt.search_fold(split_part(pair, '=', 1)), '[^a-z0-9]', '', 'g') AS key
          FROM regexp_split_to_table(coalesce(customer_mgmt.setting('import.csv_columns'), ''), ';') pair
         WHERE position('=' IN pair) > 0)
    SELECT coalesce(
        (SELECT own.field FROM own, h WHERE own.key = h.key LIMIT 1),
        (SELECT CASE
             WHEN h.key IN ('externalid', 'id', 'customerid', 'makhachhang', 'makh', 'ma', 'makhach', 'customercode')
                 THEN 'external_id'
             WHEN h.key IN ('fullname', 'name', 'hoten', 'hovaten', 'tenkhachhang', 'ten', 'khachhang', 'customername')
                 THEN 'full_name'
             WHEN h.key IN ('email', 'mail', 'emailaddress', 'diachiemail', 'thudientu') THEN 'email'
             WHEN h.key IN ('phonenumber', 'phone', 'sodienthoai', 'sdt', 'dienthoai', 'mobile', 'didong') THEN 'phone_number'
             WHEN h.key IN ('dateofbirth', 'dob', 'birthday', 'birthdate', 'ngaysinh') THEN 'date_of_birth'
             WHEN h.key IN ('gender', 'sex', 'gioitinh') THEN 'gender'
             WHEN h.key IN ('province', 'city', 'tinhthanhpho', 'tinhthanh', 'tinh', 'thanhpho', 'tinhtp') THEN 'province'
             WHEN h.key IN ('registeredat', 'createdat', 'ngaydangky', 'ngaytao', 'registrationdate') THEN 'registered_at'
             WHEN h.key IN ('updatedat', 'ngaycapnhat', 'lastupdated') THEN 'updated_at'
         END FROM h))
$$;
COMMENT ON FUNCTION csv_column_field(text) IS
    'Internal: the customer field a CSV header names (the setting import.csv_columns first, then the API''s, the export''s and common English and Vietnamese names, without case, accents or punctuation), or NULL.';

-- One CSV record as the customer row the chunk writer reads, or, for a
-- value that is not one, {"_error": {sqlstate, message, field}}.
CREATE OR REPLACE FUNCTION csv_customer_row(fields text[], values_ text[]) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_ jsonb := '{}';
    tz text := customer_mgmt.setting('shop_timezone');
    i integer;
    v text;
    state text;
    message text;
    field text;
BEGIN
    FOR i IN 1 .. cardinality(fields) LOOP
        v := nullif(btrim(values_[i]), '');
        CONTINUE WHEN fields[i] IS NULL OR v IS NULL;
        v := CASE fields[i]
            WHEN 'date_of_birth' THEN customer_mgmt.parse_vn_datetime('date_of_birth', v)::date::text
            WHEN 'registered_at' THEN (customer_mgmt.parse_vn_datetime('registered_at', v) AT TIME ZONE tz)::text
            WHEN 'updated_at' THEN (customer_mgmt.parse_vn_datetime('updated_at', v) AT TIME ZONE tz)::text
            WHEN 'gender' THEN CASE regexp_replace(customer_mgmt.search_fold(v), '[^a-z]', '', 'g')
                                   WHEN 'nam' THEN 'male' WHEN 'm' THEN 'male'
                                   WHEN 'nu' THEN 'female' WHEN 'f' THEN 'female'
                                   WHEN 'khac' THEN 'other'
                                   ELSE lower(v) END
            ELSE v END;
        row_ := row_ || jsonb_build_object(fields[i], v);
    END LOOP;
    RETURN row_;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
    RETURN jsonb_build_object('_error', jsonb_build_object('sqlstate', state, 'message', message, 'field', field));
END
$$;
COMMENT ON FUNCTION csv_customer_row(text[], text[]) IS
    'Internal: a CSV record as an import row of customers: dates read day first (parse_vn_datetime, times in the shop''s time zone), gender from Nam/Nữ/Khác or M/F as well; for a value that is not one, {"_error": {sqlstate, message, field}}.';

CREATE OR REPLACE FUNCTION import_csv(bytea) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    data ALIAS FOR $1;
    header text[];
    mapped text[];
    imp customer_mgmt.imports;
    rows jsonb;
    chunk integer := 0;
    chunk_size constant integer := 5000;
BEGIN
    IF data IS NULL OR length(data) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('data', 'must be a CSV file with a header row');
    END IF;
    -- the file read once (22P04, 22021 naming the record or line)
    CREATE TEMP TABLE cm_csv ON COMMIT DROP AS
        SELECT r.record, r.fields, row_number() OVER (ORDER BY r.record) - 1 AS n FROM customer_mgmt.csv_records(data) r;
    SELECT c.fields INTO header FROM pg_temp.cm_csv c WHERE c.n = 0;
    IF header IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('data', 'must be a CSV file with a header row');
    END IF;
    SELECT array_agg(customer_mgmt.csv_column_field(h) ORDER BY o) INTO mapped FROM unnest(header) WITH ORDINALITY x(h, o);
    -- the id (what makes a re-import a no-op), and what every customer has
    IF NOT coalesce(ARRAY['external_id', 'full_name', 'email'] <@ mapped, false) THEN
        PERFORM customer_mgmt.raise_invalid('data', 'the header must name a column of the shop''s customer id, one of the full name and one of the e-mail',
                                            NULL, 'Name them "Mã khách hàng", "Họ tên" and "Email" (or externalId, fullName and email), or declare your headers in the setting import.csv_columns.');
    END IF;
    IF (SELECT count(*) <> count(DISTINCT f) FROM unnest(mapped) f WHERE f IS NOT NULL) THEN
        PERFORM customer_mgmt.raise_invalid('data', 'two columns of the header name the same field');
    END IF;
    INSERT INTO customer_mgmt.imports AS i (kind, source, rows_total, actor_id, session_role)
    VALUES ('customers', format('CSV file of %s bytes', length(data)), (SELECT count(*) FROM pg_temp.cm_csv c WHERE c.n > 0),
            customer_mgmt.current_actor(), session_user)
    RETURNING * INTO imp;
    PERFORM customer_mgmt.audit('import_csv', 'import', imp.id::text,
                                jsonb_build_object('kind', imp.kind, 'source', imp.source, 'rowsTotal', imp.rows_total));
    -- each record as a row of customers; a value that is not one: a reject
    CREATE TEMP TABLE cm_csv_rows ON COMMIT DROP AS
        SELECT c.n, c.record, customer_mgmt.csv_customer_row(mapped, c.fields) AS row_, c.fields
          FROM pg_temp.cm_csv c WHERE c.n > 0;
    INSERT INTO customer_mgmt.import_rejects (import_id, row_ref, field, sqlstate, message, raw)
    SELECT imp.id, r.record::text, r.row_ #>> '{_error,field}', r.row_ #>> '{_error,sqlstate}', r.row_ #>> '{_error,message}',
           (SELECT jsonb_object_agg(coalesce(h, 'column ' || o), r.fields[o]) FROM unnest(header) WITH ORDINALITY x(h, o))
      FROM pg_temp.cm_csv_rows r WHERE r.row_ ? '_error';
    GET DIAGNOSTICS chunk = ROW_COUNT;
    UPDATE customer_mgmt.imports i SET rows_done = chunk, rejected = chunk WHERE i.id = imp.id;
    -- the others in chunks, each as import_table writes it
    FOR chunk IN 0 .. (imp.rows_total - 1) / chunk_size LOOP
        SELECT jsonb_agg(r.row_ || jsonb_build_object('_row', r.record::text) ORDER BY r.n) INTO rows
          FROM pg_temp.cm_csv_rows r
         WHERE r.n > chunk * chunk_size AND r.n <= (chunk + 1) * chunk_size AND NOT r.row_ ? '_error';
        CONTINUE WHEN rows IS NULL;
        PERFORM customer_mgmt_internal.import_chunk(imp.id, rows, 0);
    END LOOP;
    DROP TABLE pg_temp.cm_csv_rows, pg_temp.cm_csv;
    PERFORM customer_mgmt_internal.end_import(imp.id);
    SELECT * INTO imp FROM customer_mgmt.imports i WHERE i.id = imp.id;
    RETURN jsonb_build_object(
        'id', imp.id, 'kind', imp.kind, 'status', imp.status, 'rowsTotal', imp.rows_total, 'rowsDone', imp.rows_done,
        'inserted', imp.inserted, 'updated', imp.updated, 'unchanged', imp.unchanged, 'rejected', imp.rejected,
        -- a list, in the file's order: the headers are the file's text, not names
        'columns', (SELECT coalesce(jsonb_agg(jsonb_build_object('header', h, 'field', f) ORDER BY n), '[]')
                      FROM unnest(header, mapped) WITH ORDINALITY x(h, f, n) WHERE h IS NOT NULL AND f IS NOT NULL),
        'ignoredColumns', (SELECT coalesce(jsonb_agg(h), '[]') FROM unnest(header, mapped) x(h, f) WHERE f IS NULL AND h IS NOT NULL));
END
$$;
COMMENT ON FUNCTION import_csv(bytea) IS
    'Admin: imports the customers of a CSV file as a spreadsheet saves it (UTF-8 with or without BOM, a header row whose columns are recognised by name or by the setting import.csv_columns, dates day first or as Excel numbers; docs/onboarding.md), in one transaction: each row checked as upsert_customer checks it, a refused row to import_rejects, re-importing the same rows changes nothing. Its one unnamed argument lets PostgREST pass the request body (Content-Type: application/octet-stream). Returns the import''s counts, the columns read ([{header, field}], field as upsert_customer''s argument) and the headers ignored.';
