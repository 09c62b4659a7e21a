-- customer_mgmt: Ingestion API, for applications that do not write the tables directly:
-- customers, staff, addresses, orders and their status, sessions, logins.
-- Every argument is validated (22023 naming the field); an unknown customer is
-- PT404; a failing call writes nothing.

-- Insert a user; a duplicate e-mail (case-insensitive) is 23505 naming email.
CREATE OR REPLACE FUNCTION insert_user(u customer_mgmt.users) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    key_name text;
BEGIN
    INSERT INTO customer_mgmt.users
        (full_name, email, phone_number, role, date_of_birth, gender, province, created_at, updated_at,
         external_id, source_updated_at)
    VALUES (u.full_name, u.email, u.phone_number, u.role, u.date_of_birth, u.gender, u.province,
            u.created_at, u.created_at, u.external_id, u.source_updated_at)
    RETURNING id INTO new_id;
    RETURN new_id;
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS key_name = CONSTRAINT_NAME;
    IF key_name = 'users_external_id_key' THEN
        PERFORM customer_mgmt.raise_taken('external_id', 'a customer');
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'unique_violation',
        -- not the address: the server log keeps what an error says
        MESSAGE = 'a user with this e-mail address already exists',
        DETAIL = 'Field "email" must be unique (case-insensitively).',
        HINT = 'Look the user up by e-mail instead of registering again.',
        COLUMN = 'email';
END
$$;
COMMENT ON FUNCTION insert_user(customer_mgmt.users) IS
    'Internal: inserts a validated user row; a duplicate e-mail or external id is SQLSTATE 23505 naming the field.';

-- 23505 for an external id another row of the kind has: named, not quoted.
CREATE OR REPLACE FUNCTION raise_taken(field text, kind text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'unique_violation',
        MESSAGE = format('%s with this %s already exists', kind, field),
        DETAIL = format('Field "%s" must be unique.', field),
        HINT = 'upsert_customer and upsert_order apply a record again by its external id.',
        COLUMN = field;
END
$$;
COMMENT ON FUNCTION raise_taken(text, text) IS
    'Internal: raises 23505 naming a field whose value another row already has (an external id), without quoting it.';

-- A customer's fields checked as ingestion takes them (register_customer,
-- upsert_customer, the import): the row to write, or 22023 naming the field.
CREATE OR REPLACE FUNCTION check_customer(full_name text, email text, phone_number text, date_of_birth date,
                                          gender text, province text) RETURNS users
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
BEGIN
    u.full_name := customer_mgmt.check_text('full_name', full_name, 255);
    u.email := customer_mgmt.check_email('email', email);
    u.phone_number := customer_mgmt.check_phone('phone_number', phone_number, false);
    IF date_of_birth IS NOT NULL AND NOT isfinite(date_of_birth) THEN
        PERFORM customer_mgmt.raise_invalid('date_of_birth', 'must be a finite date', date_of_birth::text);
    END IF;
    IF date_of_birth < DATE '1900-01-01' OR date_of_birth > current_date THEN
        PERFORM customer_mgmt.raise_invalid('date_of_birth', 'must be between 1900-01-01 and today', date_of_birth::text);
    END IF;
    u.date_of_birth := date_of_birth;
    IF gender IS NOT NULL THEN
        u.gender := customer_mgmt.check_enum('gender', gender, NULL::customer_mgmt.gender);
    END IF;
    u.province := customer_mgmt.check_province('province', province, false);
    u.role := 'customer';
    RETURN u;
END
$$;
COMMENT ON FUNCTION check_customer(text, text, text, date, text, text) IS
    'Internal: a customer''s fields checked (name, e-mail, phone in canonical form, birth date, gender, province in its canonical spelling) as a users row, or 22023 naming the field.';

-- An order's fields checked as ingestion takes them (record_order,
-- upsert_order, the import): the order row (without its customer) and its
-- lines, or 22023 naming the field; nothing is written.
CREATE OR REPLACE FUNCTION check_order(total_amount numeric, status text, order_date timestamptz, items jsonb,
                                       OUT o orders, OUT lines order_items[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    o.total_amount := customer_mgmt.check_amount('total_amount', total_amount);
    o.status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.order_status);
    o.order_date := customer_mgmt.check_past_time('order_date', order_date);
    SELECT coalesce(array_agg(t), '{}') INTO lines FROM customer_mgmt.check_order_items(items) t;
END
$$;
COMMENT ON FUNCTION check_order(numeric, text, timestamptz, jsonb) IS
    'Internal: an order''s amount, status, date and items checked: the order row and its lines, or 22023 naming the field.';

CREATE OR REPLACE FUNCTION register_customer(
    full_name      text,
    email          text,
    phone_number   text DEFAULT NULL,
    date_of_birth  date DEFAULT NULL,
    gender         text DEFAULT NULL,
    province       text DEFAULT NULL,
    registered_at  timestamptz DEFAULT now(),
    external_id    text DEFAULT NULL
) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.check_customer(full_name, email, phone_number, date_of_birth, gender, province);
    matched jsonb;
BEGIN
    u.created_at := customer_mgmt.check_past_time('registered_at', registered_at);
    u.external_id := customer_mgmt.check_text('external_id', external_id, 200, false);
    -- the same person registered before (setting identity.on_duplicate)
    matched := customer_mgmt.identity_match(u);
    IF matched ->> 'mode' = 'merge' THEN
        PERFORM customer_mgmt.identity_followup(matched, NULL, u.external_id);
        RETURN (matched ->> 'id')::uuid;
    END IF;
    u.id := customer_mgmt.insert_user(u);
    PERFORM customer_mgmt.identity_followup(matched, u.id, u.external_id);
    RETURN u.id;
END
$$;
COMMENT ON FUNCTION register_customer(text, text, text, date, text, text, timestamptz, text) IS
    'Ingestion: registers a customer and returns the new id. The phone number is stored in canonical form, the province in its canonical spelling; external_id is the shop''s own id (23505 when taken). A customer with the same mailbox or phone number is allowed, warned about, refused (23505) or returned instead, as the setting identity.on_duplicate says.';

CREATE OR REPLACE FUNCTION register_staff(full_name text, email text, role text DEFAULT 'staff',
                                          login_role text DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
BEGIN
    u.full_name := customer_mgmt.check_text('full_name', full_name, 255);
    u.email := customer_mgmt.check_email('email', email);
    u.role := customer_mgmt.check_enum('role', role, NULL::customer_mgmt.user_role);
    IF u.role = 'customer' THEN
        PERFORM customer_mgmt.raise_invalid('role', 'must be one of staff, admin', role,
            'Customers are registered with register_customer().');
    END IF;
    u.created_at := now();
    u.id := customer_mgmt.insert_user(u);
    PERFORM customer_mgmt.audit('register_staff', 'user', u.id::text, jsonb_build_object('role', u.role));
    IF login_role IS NOT NULL THEN
        PERFORM customer_mgmt.link_login_role(u.id, login_role);
    END IF;
    RETURN u.id;
END
$$;
COMMENT ON FUNCTION register_staff(text, text, text, text) IS
    'Admin: registers a staff member or admin (the authors of notes, the actors of status changes) and returns the new id; with login_role, links that database login to the user (link_login_role), so that its sessions act as them.';

CREATE OR REPLACE FUNCTION add_customer_address(
    customer_id          uuid,
    recipient_name       text,
    phone_number         text,
    street               text,
    ward                 text,
    district             text DEFAULT NULL,
    province             text DEFAULT NULL,
    is_default_shipping  boolean DEFAULT false,
    is_default_billing   boolean DEFAULT false,
    external_id          text DEFAULT NULL
) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a customer_mgmt.addresses;
BEGIN
    a.recipient_name := customer_mgmt.check_text('recipient_name', recipient_name, 255);
    a.phone_number := customer_mgmt.check_phone('phone_number', phone_number, true);
    a.street := customer_mgmt.check_text('street', street, 255);
    a.ward := customer_mgmt.check_text('ward', ward, 100);
    a.district := customer_mgmt.check_text('district', district, 100, false);
    a.province := customer_mgmt.check_province('province', province, true);
    a.is_default_shipping := coalesce(is_default_shipping, false);
    a.is_default_billing := coalesce(is_default_billing, false);
    a.external_id := customer_mgmt.check_text('external_id', external_id, 200, false);

    -- serialises address changes of one customer, so "one default" holds
    PERFORM customer_mgmt.lock_customer(customer_id);

    IF a.is_default_shipping THEN
        UPDATE customer_mgmt.addresses x SET is_default_shipping = false
         WHERE x.customer_id = add_customer_address.customer_id AND x.is_default_shipping;
    END IF;
    IF a.is_default_billing THEN
        UPDATE customer_mgmt.addresses x SET is_default_billing = false
         WHERE x.customer_id = add_customer_address.customer_id AND x.is_default_billing;
    END IF;

    BEGIN
        INSERT INTO customer_mgmt.addresses AS x
            (customer_id, recipient_name, phone_number, street, ward, district, province,
             is_default_shipping, is_default_billing, external_id)
        VALUES (add_customer_address.customer_id, a.recipient_name, a.phone_number, a.street, a.ward,
                a.district, a.province, a.is_default_shipping, a.is_default_billing, a.external_id)
        RETURNING x.id INTO a.id;
    EXCEPTION WHEN unique_violation THEN
        PERFORM customer_mgmt.raise_taken('external_id', 'an address');
    END;
    RETURN a.id;
END
$$;
COMMENT ON FUNCTION add_customer_address(uuid, text, text, text, text, text, text, boolean, boolean, text) IS
    'Ingestion: adds an address to a customer and returns its id; a new default shipping or billing address replaces the previous default.';

-- Validate an order's items (JSON array of {"productName", "category",
-- "brand", "unitPrice", "quantity"}) and return them as rows.
CREATE OR REPLACE FUNCTION check_order_items(items jsonb)
    RETURNS SETOF order_items
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r customer_mgmt.order_items;
    item jsonb;
    i integer := 0;
    f text;
    key text;
    q numeric;
BEGIN
    IF items IS NULL OR jsonb_typeof(items) <> 'array' THEN
        PERFORM customer_mgmt.raise_invalid('items', 'must be a JSON array', left(items::text, 200));
    END IF;
    IF jsonb_array_length(items) > 1000 THEN
        PERFORM customer_mgmt.raise_invalid('items', 'must have at most 1000 elements');
    END IF;
    FOR item IN SELECT e FROM jsonb_array_elements(items) AS e LOOP
        f := format('items[%s]', i);
        IF jsonb_typeof(item) <> 'object' THEN
            PERFORM customer_mgmt.raise_invalid(f, 'must be a JSON object', item::text);
        END IF;
        FOR key IN SELECT jsonb_object_keys(item) LOOP
            IF key <> ALL (ARRAY['productName', 'category', 'brand', 'unitPrice', 'quantity']) THEN
                PERFORM customer_mgmt.raise_invalid(f || '.' || key, 'is not a known key', NULL,
                    'Item keys are productName, category, brand, unitPrice, quantity.');
            END IF;
        END LOOP;
        FOREACH key IN ARRAY ARRAY['productName', 'category', 'brand'] LOOP
            IF item ? key AND jsonb_typeof(item -> key) NOT IN ('string', 'null') THEN
                PERFORM customer_mgmt.raise_invalid(f || '.' || key, 'must be a string', (item -> key)::text);
            END IF;
        END LOOP;
        r.product_name := customer_mgmt.check_text(f || '.productName', item ->> 'productName', 255);
        r.category := customer_mgmt.check_text(f || '.category', item ->> 'category', 100, false);
        r.brand := customer_mgmt.check_text(f || '.brand', item ->> 'brand', 100, false);
        IF jsonb_typeof(item -> 'unitPrice') IS DISTINCT FROM 'number' THEN
            PERFORM customer_mgmt.raise_invalid(f || '.unitPrice', 'must be a number', (item -> 'unitPrice')::text);
        END IF;
        r.unit_price := customer_mgmt.check_amount(f || '.unitPrice', (item ->> 'unitPrice')::numeric);
        IF jsonb_typeof(item -> 'quantity') IS DISTINCT FROM 'number' THEN
            PERFORM customer_mgmt.raise_invalid(f || '.quantity', 'must be a whole number', (item -> 'quantity')::text);
        END IF;
        q := (item ->> 'quantity')::numeric;
        IF q <> trunc(q) OR q < 1 OR q > 100000 THEN
            PERFORM customer_mgmt.raise_invalid(f || '.quantity', 'must be a whole number from 1 to 100000', q::text);
        END IF;
        r.quantity := q::integer;
        RETURN NEXT r;
        i := i + 1;
    END LOOP;
END
$$;
COMMENT ON FUNCTION check_order_items(jsonb) IS
    'Internal: validates the items argument of record_order() and returns its rows (22023 naming e.g. items[2].quantity).';

CREATE OR REPLACE FUNCTION record_order(
    customer_id   uuid,
    total_amount  numeric,
    status        text DEFAULT 'completed',
    order_date    timestamptz DEFAULT now(),
    items         jsonb DEFAULT '[]',
    external_id   text DEFAULT NULL
) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o customer_mgmt.orders;
    lines customer_mgmt.order_items[];
    checked record;
BEGIN
    -- every field and item checked before anything is written
    SELECT * INTO checked FROM customer_mgmt.check_order(total_amount, status, order_date, items);
    o := checked.o;
    lines := checked.lines;
    o.external_id := customer_mgmt.check_text('external_id', external_id, 200, false);

    o.customer_id := customer_mgmt.lock_ingested_customer(customer_id);
    RETURN customer_mgmt.insert_order(o, lines);
END
$$;
COMMENT ON FUNCTION record_order(uuid, numeric, text, timestamptz, jsonb, text) IS
    'Ingestion: records an order with its items and returns the order id. An order recorded as completed (or refunded) is taken as completed at its order date; external_id is the shop''s own id (23505 when taken: upsert_order applies an order again).';

-- Insert a checked order and its lines; an order recorded as completed (or
-- later refunded) completed on its date.  23505 for a taken external id.
CREATE OR REPLACE FUNCTION insert_order(o orders, lines order_items[]) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    o.id := gen_random_uuid();
    IF o.status IN ('completed', 'refunded') THEN
        o.completed_at := o.order_date;
    END IF;
    BEGIN
        INSERT INTO customer_mgmt.orders (id, customer_id, status, total_amount, order_date, completed_at, external_id,
                                          source_updated_at)
        VALUES (o.id, o.customer_id, o.status, o.total_amount, o.order_date, o.completed_at, o.external_id,
                o.source_updated_at);
    EXCEPTION WHEN unique_violation THEN
        PERFORM customer_mgmt.raise_taken('external_id', 'an order');
    END;
    INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
    SELECT o.id, t.product_name, t.category, t.brand, t.unit_price, t.quantity FROM unnest(lines) t;
    RETURN o.id;
END
$$;
COMMENT ON FUNCTION insert_order(orders, order_items[]) IS
    'Internal: inserts a checked order (completed_at = order_date when completed or refunded) and its lines; 23505 naming external_id when taken.';

-- Which order status may follow which.
CREATE OR REPLACE FUNCTION order_status_transition_allowed(old_status order_status, new_status order_status)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT old_status = new_status OR CASE old_status
        WHEN 'pending' THEN new_status IN ('processing', 'shipped', 'completed', 'cancelled')
        WHEN 'processing' THEN new_status IN ('shipped', 'completed', 'cancelled')
        WHEN 'shipped' THEN new_status IN ('completed', 'refunded')
        WHEN 'completed' THEN new_status = 'refunded'
        ELSE false
    END
$$;
COMMENT ON FUNCTION order_status_transition_allowed(order_status, order_status) IS
    'Whether an order may move from one status to another: pending -> processing -> shipped -> completed -> refunded, cancelled before shipping; cancelled and refunded are final.';

CREATE OR REPLACE FUNCTION set_order_status(order_id uuid, status text) RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_status customer_mgmt.order_status;
    o customer_mgmt.orders;
BEGIN
    IF order_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('order_id', 'is required');
    END IF;
    new_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.order_status);
    SELECT * INTO o FROM customer_mgmt.orders x WHERE x.id = set_order_status.order_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Order', order_id::text);
    END IF;
    IF NOT customer_mgmt.order_status_transition_allowed(o.status, new_status) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'raise_exception',
            MESSAGE = format('Cannot change order status from %s to %s', o.status, new_status),
            DETAIL = format('Order %s is %s.', o.id, o.status),
            HINT = 'Orders move pending -> processing -> shipped -> completed -> refunded; cancelled and refunded are final.';
    END IF;
    IF o.status = new_status THEN
        RETURN;
    END IF;
    UPDATE customer_mgmt.orders x
       SET status = new_status,
           completed_at = CASE WHEN new_status = 'completed' THEN greatest(now(), x.order_date) ELSE x.completed_at END
     WHERE x.id = o.id;
END
$$;
COMMENT ON FUNCTION set_order_status(uuid, text) IS
    'Ingestion: moves an order to a new status (P0001 for a transition that is not allowed); completing it sets completed_at.';

CREATE OR REPLACE FUNCTION record_session(
    customer_id       uuid,
    started_at        timestamptz DEFAULT now(),
    duration_seconds  integer DEFAULT 0,
    page_views        integer DEFAULT 1,
    converted         boolean DEFAULT false,
    external_id       text DEFAULT NULL
) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.web_sessions;
BEGIN
    s.started_at := customer_mgmt.check_past_time('started_at', started_at);
    IF duration_seconds IS NULL OR duration_seconds NOT BETWEEN 0 AND 86400 THEN
        PERFORM customer_mgmt.raise_invalid('duration_seconds', 'must be from 0 to 86400', duration_seconds::text);
    END IF;
    IF page_views IS NULL OR page_views NOT BETWEEN 1 AND 100000 THEN
        PERFORM customer_mgmt.raise_invalid('page_views', 'must be from 1 to 100000', page_views::text);
    END IF;
    IF converted IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('converted', 'is required');
    END IF;
    IF customer_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    PERFORM FROM customer_mgmt.users u WHERE u.id = record_session.customer_id AND u.role = 'customer';
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', customer_id::text);
    END IF;
    s.external_id := customer_mgmt.check_text('external_id', external_id, 200, false);
    BEGIN
        INSERT INTO customer_mgmt.web_sessions AS w (customer_id, started_at, duration_seconds, page_views, converted,
                                                     external_id)
        VALUES (record_session.customer_id, s.started_at, duration_seconds, page_views, converted, s.external_id)
        RETURNING w.id INTO s.id;
    EXCEPTION WHEN unique_violation THEN
        PERFORM customer_mgmt.raise_taken('external_id', 'a visit');
    END;
    RETURN s.id;
END
$$;
COMMENT ON FUNCTION record_session(uuid, timestamptz, integer, integer, boolean, text) IS
    'Ingestion: records a web session of a customer and returns its id.';

CREATE OR REPLACE FUNCTION record_login(customer_id uuid, logged_in_at timestamptz DEFAULT now()) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := customer_mgmt.check_past_time('logged_in_at', logged_in_at);
    session_id bigint;
BEGIN
    PERFORM customer_mgmt.lock_customer(customer_id);
    UPDATE customer_mgmt.users u SET last_login_at = t
     WHERE u.id = record_login.customer_id AND (u.last_login_at IS NULL OR u.last_login_at < t);
    IF FOUND THEN
        -- trigger users_after_login recorded the session
        SELECT max(w.id) INTO session_id FROM customer_mgmt.web_sessions w
         WHERE w.customer_id = record_login.customer_id AND w.started_at = t;
    ELSE
        -- a login older than the last one known: its session, the last login stays
        INSERT INTO customer_mgmt.web_sessions AS w (customer_id, started_at, duration_seconds, page_views, converted)
        VALUES (record_login.customer_id, t, 0, 0, false)
        RETURNING w.id INTO session_id;
    END IF;
    RETURN session_id;
END
$$;
COMMENT ON FUNCTION record_login(uuid, timestamptz) IS
    'Ingestion: records a login: moves the customer''s last login forward and records a visit with no page view (a login is not a bounce); returns the session id.';
