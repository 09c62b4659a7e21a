-- customer_mgmt: Idempotent ingestion by the shop's own ids (docs/onboarding.md):
-- upsert_customer and upsert_order apply a record of the shop's, once,
-- whatever order and however often it arrives.

-- The version rule of both: the source's updated_at decides.  A record
-- older than the one applied is stale; one equal in every field is
-- unchanged (nothing is written, no event, no queue entry).

-- A source's updated_at: finite; now() when not given.
CREATE OR REPLACE FUNCTION check_source_time(updated_at timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF updated_at IS NULL THEN
        RETURN now();
    END IF;
    IF NOT isfinite(updated_at) THEN
        PERFORM customer_mgmt.raise_invalid('updated_at', 'must be a finite time', updated_at::text);
    END IF;
    RETURN updated_at;
END
$$;
COMMENT ON FUNCTION check_source_time(timestamptz) IS
    'Internal: the source''s updated_at of an upsert, checked (finite; now() when NULL).';

CREATE OR REPLACE FUNCTION upsert_customer(
    external_id    text,
    full_name      text,
    email          text,
    phone_number   text DEFAULT NULL,
    date_of_birth  date DEFAULT NULL,
    gender         text DEFAULT NULL,
    province       text DEFAULT NULL,
    registered_at  timestamptz DEFAULT now(),
    updated_at     timestamptz DEFAULT now()
) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.check_customer(full_name, email, phone_number, date_of_birth, gender, province);
    cur customer_mgmt.users;
    version timestamptz := customer_mgmt.check_source_time(upsert_customer.updated_at);
    action text;
    key_name text;
    matched jsonb;
BEGIN
    u.external_id := customer_mgmt.check_text('external_id', upsert_customer.external_id, 200);
    u.created_at := customer_mgmt.check_past_time('registered_at', registered_at);
    u.source_updated_at := version;
    -- a customer merged into another: the shop's record of it no longer
    -- applies (docs/duplicates.md)
    SELECT m.survivor_id INTO u.id FROM customer_mgmt.customer_merges m WHERE m.external_id = u.external_id;
    IF u.id IS NOT NULL THEN
        RETURN jsonb_build_object('customerId', u.id, 'externalId', u.external_id, 'action', 'merged');
    END IF;
    -- a new record of the same person (setting identity.on_duplicate)
    IF customer_mgmt.setting('identity.on_duplicate') <> 'allow'
       AND NOT EXISTS (SELECT FROM customer_mgmt.users x WHERE x.external_id = u.external_id) THEN
        matched := customer_mgmt.identity_match(u);
        IF matched ->> 'mode' = 'merge' THEN
            PERFORM customer_mgmt.identity_followup(matched, NULL, u.external_id);
            RETURN jsonb_build_object('customerId', (matched ->> 'id')::uuid, 'externalId', u.external_id, 'action', 'matched');
        END IF;
    END IF;
    BEGIN
        -- a second session upserting the same id waits here for the first,
        -- then finds its row
        INSERT INTO customer_mgmt.users AS x
            (full_name, email, phone_number, role, date_of_birth, gender, province, created_at, updated_at,
             external_id, source_updated_at)
        VALUES (u.full_name, u.email, u.phone_number, 'customer', u.date_of_birth, u.gender, u.province,
                u.created_at, u.created_at, u.external_id, version)
        ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING
        RETURNING x.id INTO u.id;
        IF u.id IS NOT NULL THEN
            action := 'inserted';
            PERFORM customer_mgmt.identity_followup(matched, u.id, u.external_id);
        ELSE
            SELECT * INTO cur FROM customer_mgmt.users x WHERE x.external_id = u.external_id FOR NO KEY UPDATE;
            u.id := cur.id;
            IF cur.role <> 'customer' THEN
                PERFORM customer_mgmt.raise_taken('external_id', 'a staff member');
            ELSIF cur.anonymized_at IS NOT NULL THEN
                -- the person was erased: the shop's copy does not bring them back
                action := 'anonymized';
            ELSIF cur.source_updated_at > version THEN
                action := 'stale';
            ELSIF (cur.full_name, lower(cur.email), cur.phone_number, cur.date_of_birth, cur.gender, cur.province)
                  IS NOT DISTINCT FROM (u.full_name, lower(u.email), u.phone_number, u.date_of_birth, u.gender, u.province) THEN
                action := 'unchanged';
            ELSE
                UPDATE customer_mgmt.users x
                   SET full_name = u.full_name, email = u.email, phone_number = u.phone_number,
                       date_of_birth = u.date_of_birth, gender = u.gender, province = u.province,
                       source_updated_at = version
                 WHERE x.id = cur.id;
                action := 'updated';
            END IF;
        END IF;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS key_name = CONSTRAINT_NAME;
        IF key_name = 'users_email_key' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'unique_violation',
                MESSAGE = 'another user has this e-mail address',
                DETAIL = 'Field "email" must be unique (case-insensitively).',
                HINT = 'Two of the shop''s customers share the address; find_duplicate_customers and merge_customers join one person''s accounts.',
                COLUMN = 'email';
        END IF;
        RAISE;
    END;
    RETURN jsonb_build_object('customerId', u.id, 'externalId', u.external_id, 'action', action);
END
$$;
COMMENT ON FUNCTION upsert_customer(text, text, text, text, date, text, text, timestamptz, timestamptz) IS
    'Ingestion: applies the shop''s record of a customer by its external_id, idempotently: inserted, updated, unchanged (equal fields: nothing written, no event), stale (updated_at older than the version applied: not applied), anonymized (the person was erased: not brought back), merged (the customer was merged into another, customerId: nothing written) or matched (a new record of an existing customer, by mailbox or phone, with the setting identity.on_duplicate at merge: the shop''s id joins that customer). The fields are checked as register_customer checks them; registered_at counts only when inserting. 23505 naming email when another user has it. Returns {customerId, externalId, action}.';

CREATE OR REPLACE FUNCTION upsert_order(
    external_id           text,
    total_amount          numeric,
    customer_external_id  text DEFAULT NULL,
    customer_id           uuid DEFAULT NULL,
    status                text DEFAULT 'completed',
    order_date            timestamptz DEFAULT now(),
    items                 jsonb DEFAULT '[]',
    updated_at            timestamptz DEFAULT now()
) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o customer_mgmt.orders;
    lines customer_mgmt.order_items[];
    checked record;
    cur customer_mgmt.orders;
    version timestamptz := customer_mgmt.check_source_time(upsert_order.updated_at);
    action text;
    same_items boolean;
BEGIN
    SELECT * INTO checked FROM customer_mgmt.check_order(total_amount, status, order_date, items);
    o := checked.o;
    lines := checked.lines;
    o.external_id := customer_mgmt.check_text('external_id', upsert_order.external_id, 200);
    IF (customer_external_id IS NULL) = (upsert_order.customer_id IS NULL) THEN
        PERFORM customer_mgmt.raise_invalid(CASE WHEN upsert_order.customer_id IS NULL THEN 'customer_id' ELSE 'customer_external_id' END,
                                            'exactly one of customer_id and customer_external_id must be given');
    END IF;
    IF customer_external_id IS NOT NULL THEN
        SELECT x.id INTO o.customer_id FROM customer_mgmt.users x
         WHERE x.external_id = customer_mgmt.check_text('customer_external_id', customer_external_id, 200) AND x.role = 'customer'
        UNION ALL
        SELECT m.survivor_id FROM customer_mgmt.customer_merges m WHERE m.external_id = btrim(customer_external_id);
        -- an order before its customer is refused, not held: the shop sends
        -- the customer, then the order again (docs/onboarding.md)
        IF o.customer_id IS NULL THEN
            RAISE EXCEPTION 'Customer not found'
                USING ERRCODE = 'PT404',
                      DETAIL = 'No customer has this customer_external_id.',
                      HINT = 'upsert_customer first, then send the order again: nothing of it was recorded.';
        END IF;
    ELSE
        o.customer_id := upsert_order.customer_id;
    END IF;
    -- one customer's orders are applied one at a time (as record_order does)
    PERFORM customer_mgmt.lock_customer(o.customer_id);
    o.source_updated_at := version;

    o.id := gen_random_uuid();
    IF o.status IN ('completed', 'refunded') THEN
        o.completed_at := o.order_date;
    END IF;
    INSERT INTO customer_mgmt.orders AS x (id, customer_id, status, total_amount, order_date, completed_at, external_id,
                                           source_updated_at)
    VALUES (o.id, o.customer_id, o.status, o.total_amount, o.order_date, o.completed_at, o.external_id, version)
    ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING x.id INTO cur.id;
    IF cur.id IS NOT NULL THEN
        INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
        SELECT o.id, t.product_name, t.category, t.brand, t.unit_price, t.quantity FROM unnest(lines) t;
        RETURN jsonb_build_object('orderId', o.id, 'externalId', o.external_id, 'customerId', o.customer_id,
                                  'action', 'inserted');
    END IF;

    SELECT * INTO cur FROM customer_mgmt.orders x WHERE x.external_id = o.external_id FOR NO KEY UPDATE;
    IF cur.source_updated_at > version THEN
        action := 'stale';
    ELSIF NOT customer_mgmt.order_status_transition_allowed(cur.status, o.status) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'raise_exception',
            MESSAGE = format('Cannot change order status from %s to %s', cur.status, o.status),
            DETAIL = format('Order %s is %s.', cur.id, cur.status),
            HINT = 'Orders move pending -> processing -> shipped -> completed -> refunded; cancelled and refunded are final.';
    ELSE
        SELECT coalesce(array_agg((i.product_name, i.category, i.brand, i.unit_price, i.quantity)::text
                                  ORDER BY (i.product_name, i.category, i.brand, i.unit_price, i.quantity)::text), '{}')
               = (SELECT coalesce(array_agg((t.product_name, t.category, t.brand, t.unit_price, t.quantity)::text
                                            ORDER BY (t.product_name, t.category, t.brand, t.unit_price, t.quantity)::text), '{}')
                    FROM unnest(lines) t)
          INTO same_items
          FROM customer_mgmt.order_items i WHERE i.order_id = cur.id;
        IF same_items AND (cur.customer_id, cur.status, cur.total_amount, cur.order_date)
                          = (o.customer_id, o.status, o.total_amount, o.order_date) THEN
            action := 'unchanged';
        ELSE
            UPDATE customer_mgmt.orders x
               SET customer_id = o.customer_id, status = o.status, total_amount = o.total_amount,
                   order_date = o.order_date, source_updated_at = version,
                   -- completed when the source says it changed, never before the order
                   completed_at = CASE WHEN o.status = cur.status AND x.completed_at IS NULL THEN NULL
                                       WHEN o.status = cur.status THEN greatest(x.completed_at, o.order_date)
                                       WHEN o.status = 'completed' THEN greatest(o.order_date, least(version, now()))
                                       ELSE x.completed_at END
             WHERE x.id = cur.id;
            -- the items are replaced as a whole
            IF NOT same_items THEN
                DELETE FROM customer_mgmt.order_items i WHERE i.order_id = cur.id;
                INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
                SELECT cur.id, t.product_name, t.category, t.brand, t.unit_price, t.quantity FROM unnest(lines) t;
            END IF;
            action := 'updated';
        END IF;
    END IF;
    RETURN jsonb_build_object('orderId', cur.id, 'externalId', cur.external_id, 'customerId', o.customer_id,
                              'action', action);
END
$$;
COMMENT ON FUNCTION upsert_order(text, numeric, text, uuid, text, timestamptz, jsonb, timestamptz) IS
    'Ingestion: applies the shop''s record of an order by its external_id, idempotently: inserted, updated (its items replaced as a whole; a status change follows the order rules, else P0001 with the reason), unchanged (nothing written, no event, no queue entry) or stale (updated_at older than the version applied). The customer by exactly one of customer_id and customer_external_id; an order whose customer has not arrived is PT404, nothing recorded (send the customer, then the order again). Returns {orderId, externalId, customerId, action}.';
