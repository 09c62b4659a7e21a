/*
 * customer_mgmt 1.0: base install script.
 *
 * Built into sql/customer_mgmt--1.0.sql by `make`.  Once 1.0 is released this
 * file is frozen: every later change goes into an upgrade script
 * sql/customer_mgmt--A--B.sql, and a fresh install runs 1.0 and then the
 * upgrade chain, so every install exercises the upgrade scripts.
 *
 * Layout of this file:
 *   1. roles                 4. tables, indexes, pg_dump registration
 *   2. types                 5. reference data (provinces, settings, segments)
 *   3. C helpers             6. internal helpers (errors, actor, settings)
 *                            7. ingestion API
 *                            8. demo-shop generator
 *                            9. privileges
 */

\echo Use "CREATE EXTENSION customer_mgmt" to load this file. \quit

-------------------------------------------------------------------------------
-- 1. Roles.  Roles are cluster-wide: create them only where they are missing,
--    so the extension installs in a second database of the same cluster.
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_staff') THEN
        CREATE ROLE customer_mgmt_staff NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_admin') THEN
        CREATE ROLE customer_mgmt_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_app') THEN
        CREATE ROLE customer_mgmt_app NOLOGIN;
    END IF;
    -- an admin can do everything staff can
    IF NOT pg_catalog.pg_has_role('customer_mgmt_admin', 'customer_mgmt_staff', 'MEMBER') THEN
        GRANT customer_mgmt_staff TO customer_mgmt_admin;
    END IF;
END
$roles$;

-------------------------------------------------------------------------------
-- 2. Types
-------------------------------------------------------------------------------
CREATE TYPE user_role AS ENUM ('customer', 'staff', 'admin');
CREATE TYPE user_status AS ENUM ('active', 'inactive', 'suspended');
CREATE TYPE gender AS ENUM ('male', 'female', 'other');
CREATE TYPE order_status AS ENUM ('pending', 'processing', 'shipped', 'completed', 'cancelled', 'refunded');
CREATE TYPE note_type AS ENUM ('general', 'support', 'sales', 'complaint', 'feedback', 'system');
CREATE TYPE note_priority AS ENUM ('low', 'medium', 'high', 'critical');
CREATE TYPE lifecycle_segment AS ENUM ('new', 'active', 'loyal', 'at_risk', 'churned', 'vip');
CREATE TYPE assignment_source AS ENUM ('system', 'manual');
CREATE TYPE insight_type AS ENUM ('high_value', 'churn_risk', 'loyal');
CREATE TYPE job_status AS ENUM ('running', 'succeeded', 'failed');

COMMENT ON TYPE user_role IS 'Kind of user: a shop customer, or staff/admin who work on customers.';
COMMENT ON TYPE user_status IS 'Account status of a user (design BE.03.3).';
COMMENT ON TYPE order_status IS 'Life cycle of an order; only completed orders count as spend.';
COMMENT ON TYPE note_type IS 'Note types of the design (section 4.1) plus system, written by the event handlers.';
COMMENT ON TYPE lifecycle_segment IS 'Lifecycle segment of a customer (design section 8.1).';

-------------------------------------------------------------------------------
-- 3. C helpers (src/)
-------------------------------------------------------------------------------
CREATE FUNCTION search_fold(input text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_fold'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION search_fold(text) IS
    'Accent- and case-folded form of a text, as used by customer search: search_fold(''Nguyễn Văn Đức'') = ''nguyen van duc''.';

CREATE FUNCTION search_key(full_name text, email text, phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION search_key(text, text, text) IS
    'Indexed search key of a user: folded name, e-mail and phone separated by tabs.';

CREATE FUNCTION normalize_phone(phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_normalize_phone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION normalize_phone(text) IS
    'Canonical national form (0912345678) of a Vietnamese phone number, or NULL when the text is not one.';

CREATE FUNCTION invoker() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cm_invoker'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION invoker() IS
    'The role the caller acts as (after SET ROLE), unaffected by SECURITY DEFINER.';

CREATE FUNCTION demo_random(seed bigint, stream integer, key bigint) RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_demo_random'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_random(bigint, integer, bigint) IS
    'Deterministic pseudo-random number in [0,1) for (seed, stream, key); used by the demo-shop generator.';

CREATE FUNCTION demo_uuid(seed bigint, stream integer, key bigint) RETURNS uuid
    AS 'MODULE_PATHNAME', 'cm_demo_uuid'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_uuid(bigint, integer, bigint) IS
    'Deterministic version-4-shaped UUID for (seed, stream, key); used by the demo-shop generator.';

-------------------------------------------------------------------------------
-- 4. Tables
-------------------------------------------------------------------------------

-- touch updated_at on every UPDATE that does not set it itself
CREATE FUNCTION touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION touch_updated_at() IS 'Trigger: sets updated_at to now() on UPDATE unless the statement set it.';

-- users --------------------------------------------------------------------
CREATE TABLE users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    full_name          text NOT NULL
                       CHECK (length(full_name) BETWEEN 1 AND 255 AND full_name = btrim(full_name)),
    email              text NOT NULL
                       CHECK (length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    phone_number       text CHECK (phone_number ~ '^0[0-9]{9,10}$'),
    role               user_role NOT NULL DEFAULT 'customer',
    status             user_status NOT NULL DEFAULT 'active',
    email_verified_at  timestamptz,
    phone_verified_at  timestamptz,
    avatar_url         text CHECK (length(avatar_url) <= 2048),
    date_of_birth      date CHECK (date_of_birth >= DATE '1900-01-01'),
    gender             gender,
    province           text CHECK (length(province) <= 100),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_login_at      timestamptz,
    anonymized_at      timestamptz
);
COMMENT ON TABLE users IS
    'Customers and the staff who work on them (the design''s tbl_user, minimal). Phone numbers are stored in canonical national form.';
COMMENT ON COLUMN users.province IS 'Province or city of the customer (region), as canonically spelled in table provinces.';
COMMENT ON COLUMN users.anonymized_at IS 'Set when the customer''s personal data was anonymised (data protection).';

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_customers_created_at_idx ON users (created_at, id) WHERE role = 'customer';
CREATE INDEX users_customers_status_created_at_idx ON users (status, created_at) WHERE role = 'customer';
CREATE INDEX users_customers_full_name_idx ON users (full_name, id) WHERE role = 'customer';
CREATE INDEX users_customers_last_login_at_idx ON users (last_login_at) WHERE role = 'customer';
CREATE INDEX users_customers_phone_idx ON users (phone_number) WHERE role = 'customer';
CREATE INDEX users_customers_search_idx ON users
    USING gin (search_key(full_name, email, phone_number) gin_trgm_ops) WHERE role = 'customer';
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- addresses ------------------------------------------------------------------
CREATE TABLE addresses (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_name      text NOT NULL CHECK (length(recipient_name) BETWEEN 1 AND 255),
    phone_number        text NOT NULL CHECK (phone_number ~ '^0[0-9]{9,10}$'),
    street              text NOT NULL CHECK (length(street) BETWEEN 1 AND 255),
    ward                text NOT NULL CHECK (length(ward) BETWEEN 1 AND 100),
    district            text CHECK (length(district) BETWEEN 1 AND 100),
    province            text NOT NULL CHECK (length(province) BETWEEN 1 AND 100),
    is_default_shipping boolean NOT NULL DEFAULT false,
    is_default_billing  boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE addresses IS
    'Postal addresses of customers. district is optional: since mid-2025 Vietnam has 34 provinces and no district level; older addresses keep a former province and a district.';
CREATE INDEX addresses_customer_id_idx ON addresses (customer_id);
CREATE UNIQUE INDEX addresses_default_shipping_key ON addresses (customer_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_default_billing_key ON addresses (customer_id) WHERE is_default_billing;
CREATE TRIGGER addresses_touch BEFORE UPDATE ON addresses
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- orders ---------------------------------------------------------------------
CREATE TABLE orders (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES users (id),
    status        order_status NOT NULL DEFAULT 'pending',
    total_amount  numeric(15,2) NOT NULL CHECK (total_amount >= 0 AND total_amount <> 'NaN'),
    order_date    timestamptz NOT NULL CHECK (isfinite(order_date)),
    completed_at  timestamptz CHECK (completed_at >= order_date),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE orders IS
    'Orders of customers (minimal version of the orders module). Only completed orders count as spend. Deleting a customer with orders is refused: orders are accounting records.';
CREATE INDEX orders_customer_id_order_date_idx ON orders (customer_id, order_date DESC);
CREATE INDEX orders_open_customer_id_idx ON orders (customer_id) WHERE status IN ('pending', 'processing');
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE order_items (
    id            bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    order_id      uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_name  text NOT NULL CHECK (length(product_name) BETWEEN 1 AND 255),
    category      text CHECK (length(category) BETWEEN 1 AND 100),
    brand         text CHECK (length(brand) BETWEEN 1 AND 100),
    unit_price    numeric(15,2) NOT NULL CHECK (unit_price >= 0 AND unit_price <> 'NaN'),
    quantity      integer NOT NULL CHECK (quantity BETWEEN 1 AND 100000)
);
COMMENT ON TABLE order_items IS 'Lines of an order: product, category, brand, unit price (VND), quantity.';
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

-- web sessions ---------------------------------------------------------------
CREATE TABLE web_sessions (
    id                bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    customer_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at        timestamptz NOT NULL CHECK (isfinite(started_at)),
    duration_seconds  integer NOT NULL DEFAULT 0 CHECK (duration_seconds BETWEEN 0 AND 86400),
    page_views        integer NOT NULL DEFAULT 1 CHECK (page_views BETWEEN 1 AND 100000),
    converted         boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE web_sessions IS
    'Web sessions of customers. A session with one page view is a bounce; converted means it ended in an order.';
CREATE INDEX web_sessions_customer_id_started_at_idx ON web_sessions (customer_id, started_at);

-- the design's four tables (section 4) ----------------------------------------
CREATE TABLE customer_notes (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    author_id    uuid REFERENCES users (id),
    title        varchar(255),
    content      text NOT NULL CHECK (length(content) BETWEEN 1 AND 5000),
    type         note_type NOT NULL DEFAULT 'general',
    priority     note_priority NOT NULL DEFAULT 'medium',
    is_internal  boolean NOT NULL DEFAULT true,
    tags         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (author_id IS NOT NULL OR type = 'system')
);
COMMENT ON TABLE customer_notes IS
    'Internal notes on customers (design 4.1). System notes, written by event handlers, have no author.';
CREATE INDEX customer_notes_customer_id_created_at_idx ON customer_notes (customer_id, created_at DESC);
CREATE INDEX customer_notes_author_id_idx ON customer_notes (author_id);
CREATE INDEX customer_notes_type_idx ON customer_notes (type);
CREATE INDEX customer_notes_priority_idx ON customer_notes (priority);
CREATE INDEX customer_notes_created_at_idx ON customer_notes (created_at);
CREATE TRIGGER customer_notes_touch BEFORE UPDATE ON customer_notes
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE customer_analytics (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id               uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    -- order statistics (completed orders only)
    total_orders              integer NOT NULL DEFAULT 0 CHECK (total_orders >= 0),
    total_spent               numeric(15,2) NOT NULL DEFAULT 0 CHECK (total_spent >= 0),
    average_order_value       numeric(15,2) NOT NULL DEFAULT 0 CHECK (average_order_value >= 0),
    last_order_date           timestamptz,
    days_since_last_order     integer CHECK (days_since_last_order >= 0),
    -- behaviour
    total_sessions            integer NOT NULL DEFAULT 0 CHECK (total_sessions >= 0),
    total_page_views          integer NOT NULL DEFAULT 0 CHECK (total_page_views >= 0),
    average_session_duration  integer NOT NULL DEFAULT 0 CHECK (average_session_duration >= 0),
    bounce_rate               numeric(5,4) NOT NULL DEFAULT 0 CHECK (bounce_rate BETWEEN 0 AND 1),
    conversion_rate           numeric(5,4) NOT NULL DEFAULT 0 CHECK (conversion_rate BETWEEN 0 AND 1),
    -- product preferences
    favorite_categories       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(favorite_categories) = 'array'),
    favorite_brands           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(favorite_brands) = 'array'),
    preferred_price_range     jsonb CHECK (jsonb_typeof(preferred_price_range) = 'object'),
    -- lifecycle
    customer_lifetime_value   numeric(15,2) NOT NULL DEFAULT 0 CHECK (customer_lifetime_value >= 0),
    predicted_ltv             numeric(15,2) CHECK (predicted_ltv >= 0),
    churn_risk_score          numeric(3,2) NOT NULL DEFAULT 0 CHECK (churn_risk_score BETWEEN 0 AND 1),
    engagement_score          numeric(3,2) NOT NULL DEFAULT 0 CHECK (engagement_score BETWEEN 0 AND 1),
    -- segmentation
    segment                   lifecycle_segment NOT NULL DEFAULT 'new',
    rfm_score                 char(3) CHECK (rfm_score ~ '^[1-5]{3}$'),
    -- timestamps
    last_calculated_at        timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customer_analytics IS
    'Per-customer analytics (design 4.2), the materialised cache of the scoring engine; last_calculated_at says how fresh a row is. Rates are fractions in [0,1]. predicted_ltv stays NULL until a predictive model exists.';
COMMENT ON COLUMN customer_analytics.days_since_last_order IS
    'As of last_calculated_at. Reads never use it: they measure days since last_order_date at query time.';
CREATE INDEX customer_analytics_segment_idx ON customer_analytics (segment);
CREATE INDEX customer_analytics_total_spent_idx ON customer_analytics (total_spent);
CREATE INDEX customer_analytics_total_orders_idx ON customer_analytics (total_orders);
CREATE INDEX customer_analytics_churn_risk_score_idx ON customer_analytics (churn_risk_score);
CREATE INDEX customer_analytics_last_order_date_idx ON customer_analytics (last_order_date);
CREATE TRIGGER customer_analytics_touch BEFORE UPDATE ON customer_analytics
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE customer_segments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            varchar(100) NOT NULL CHECK (length(btrim(name)) > 0),
    description     varchar(500),
    criteria        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(criteria) = 'object'),
    color_code      varchar(7) CHECK (color_code ~ '^#[0-9A-Fa-f]{6}$'),
    is_active       boolean NOT NULL DEFAULT true,
    auto_assign     boolean NOT NULL DEFAULT true,
    customer_count  integer NOT NULL DEFAULT 0 CHECK (customer_count >= 0),
    is_system       boolean NOT NULL DEFAULT false,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customer_segments IS
    'Rule-based and system segments (design 4.3). System segments (is_system) are created by the extension with fixed ids and are not dumped.';
CREATE UNIQUE INDEX customer_segments_name_key ON customer_segments (lower(name));
CREATE INDEX customer_segments_is_active_idx ON customer_segments (is_active);
CREATE TRIGGER customer_segments_touch BEFORE UPDATE ON customer_segments
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE customer_segment_assignments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    segment_id   uuid NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    assigned_by  assignment_source NOT NULL DEFAULT 'system',
    expires_at   timestamptz,
    UNIQUE (customer_id, segment_id)
);
COMMENT ON TABLE customer_segment_assignments IS 'Membership of customers in segments (design 4.4); expired rows are removed by a scheduled job.';
CREATE INDEX customer_segment_assignments_segment_id_idx ON customer_segment_assignments (segment_id);
CREATE INDEX customer_segment_assignments_assigned_at_idx ON customer_segment_assignments (assigned_at);
CREATE INDEX customer_segment_assignments_expires_at_idx ON customer_segment_assignments (expires_at)
    WHERE expires_at IS NOT NULL;

-- what the design implies --------------------------------------------------------
CREATE TABLE customer_insights (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type                   insight_type NOT NULL,
    title                  text NOT NULL,
    description            text NOT NULL,
    priority               note_priority NOT NULL,
    action_recommendation  text NOT NULL,
    generated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, type)
);
COMMENT ON TABLE customer_insights IS 'Saved insights of the last analytics calculation of each customer (design 6.2).';

CREATE TABLE customer_status_history (
    id           bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    customer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_status   user_status NOT NULL,
    new_status   user_status NOT NULL,
    reason       text CHECK (length(reason) <= 1000),
    actor_id     uuid,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (old_status <> new_status)
);
COMMENT ON TABLE customer_status_history IS 'Every change of a customer''s account status: who, when, from what to what, and why.';
CREATE INDEX customer_status_history_customer_id_idx ON customer_status_history (customer_id, changed_at DESC);

CREATE TABLE analytics_queue (
    customer_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL DEFAULT 'order',
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)
);
COMMENT ON TABLE analytics_queue IS 'Customers whose analytics are stale, drained by process_analytics_queue() with FOR UPDATE SKIP LOCKED.';
CREATE INDEX analytics_queue_enqueued_at_idx ON analytics_queue (enqueued_at);

CREATE TABLE event_outbox (
    id            bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    event_type    text NOT NULL CHECK (event_type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    customer_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    payload       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_at    timestamptz,
    claimed_by    text,
    processed_at  timestamptz
);
COMMENT ON TABLE event_outbox IS
    'Events for side effects the database cannot do itself (welcome e-mail, retention campaign), announced with NOTIFY customer_mgmt_events.';
CREATE INDEX event_outbox_pending_idx ON event_outbox (id) WHERE processed_at IS NULL;

CREATE TABLE job_runs (
    id              bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    job_name        text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    status          job_status NOT NULL DEFAULT 'running',
    rows_processed  bigint NOT NULL DEFAULT 0 CHECK (rows_processed >= 0),
    error           text,
    details         jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE job_runs IS 'Log of job runs (recalculation, queue worker, expiry): started, finished, rows, error.';
CREATE INDEX job_runs_job_name_started_at_idx ON job_runs (job_name, started_at DESC);

-- settings: definitions ship with the extension, overrides are the shop's ------
CREATE TABLE setting_definitions (
    name           text PRIMARY KEY,
    value_type     text NOT NULL CHECK (value_type IN ('numeric', 'integer', 'timezone')),
    default_value  text NOT NULL,
    min_value      numeric,
    max_value      numeric,
    description    text NOT NULL
);
COMMENT ON TABLE setting_definitions IS
    'The settings the extension knows, with their defaults. Shipped by the extension; the shop''s values are in settings.';

CREATE TABLE settings (
    name        text PRIMARY KEY REFERENCES setting_definitions (name),
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid
);
COMMENT ON TABLE settings IS
    'The shop''s overrides of setting_definitions; a setting without a row here has its default. Change them with set_setting().';

-- reference data: provinces ---------------------------------------------------
CREATE TABLE provinces (
    name             text PRIMARY KEY,
    current_name     text NOT NULL REFERENCES provinces (name) DEFERRABLE INITIALLY DEFERRED,
    is_current       boolean GENERATED ALWAYS AS (name = current_name) STORED,
    is_city          boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE provinces IS
    'Vietnam''s 34 provinces and centrally-run cities in force since mid-2025, and the former 63 with the one each merged into. Shipped by the extension.';
CREATE UNIQUE INDEX provinces_folded_name_key ON provinces (search_fold(name));

-- pg_dump: every table that holds the shop's data (not shipped reference data)
SELECT pg_catalog.pg_extension_config_dump('users', '');
SELECT pg_catalog.pg_extension_config_dump('addresses', '');
SELECT pg_catalog.pg_extension_config_dump('orders', '');
SELECT pg_catalog.pg_extension_config_dump('order_items', '');
SELECT pg_catalog.pg_extension_config_dump('order_items_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('web_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('web_sessions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('customer_notes', '');
SELECT pg_catalog.pg_extension_config_dump('customer_analytics', '');
SELECT pg_catalog.pg_extension_config_dump('customer_segments', 'WHERE NOT is_system');
SELECT pg_catalog.pg_extension_config_dump('customer_segment_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('customer_insights', '');
SELECT pg_catalog.pg_extension_config_dump('customer_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('customer_status_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('analytics_queue', '');
SELECT pg_catalog.pg_extension_config_dump('event_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('event_outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('job_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('settings', '');

-------------------------------------------------------------------------------
-- 5. Reference data
-------------------------------------------------------------------------------
-- The 34 provinces and cities since 2025 (name = current_name), then the former
-- provinces merged into them.  Resolution 202/2025/QH15.
INSERT INTO provinces (name, current_name, is_city) VALUES
    ('Hà Nội', 'Hà Nội', true), ('Huế', 'Huế', true), ('Hải Phòng', 'Hải Phòng', true),
    ('Đà Nẵng', 'Đà Nẵng', true), ('Hồ Chí Minh', 'Hồ Chí Minh', true), ('Cần Thơ', 'Cần Thơ', true),
    ('Lai Châu', 'Lai Châu', false), ('Điện Biên', 'Điện Biên', false), ('Sơn La', 'Sơn La', false),
    ('Lạng Sơn', 'Lạng Sơn', false), ('Quảng Ninh', 'Quảng Ninh', false), ('Thanh Hóa', 'Thanh Hóa', false),
    ('Nghệ An', 'Nghệ An', false), ('Hà Tĩnh', 'Hà Tĩnh', false), ('Cao Bằng', 'Cao Bằng', false),
    ('Tuyên Quang', 'Tuyên Quang', false), ('Lào Cai', 'Lào Cai', false), ('Thái Nguyên', 'Thái Nguyên', false),
    ('Phú Thọ', 'Phú Thọ', false), ('Bắc Ninh', 'Bắc Ninh', false), ('Hưng Yên', 'Hưng Yên', false),
    ('Ninh Bình', 'Ninh Bình', false), ('Quảng Trị', 'Quảng Trị', false), ('Quảng Ngãi', 'Quảng Ngãi', false),
    ('Gia Lai', 'Gia Lai', false), ('Khánh Hòa', 'Khánh Hòa', false), ('Lâm Đồng', 'Lâm Đồng', false),
    ('Đắk Lắk', 'Đắk Lắk', false), ('Đồng Nai', 'Đồng Nai', false), ('Tây Ninh', 'Tây Ninh', false),
    ('Vĩnh Long', 'Vĩnh Long', false), ('Đồng Tháp', 'Đồng Tháp', false), ('Cà Mau', 'Cà Mau', false),
    ('An Giang', 'An Giang', false),
    ('Thừa Thiên Huế', 'Huế', false), ('Hải Dương', 'Hải Phòng', false), ('Quảng Nam', 'Đà Nẵng', false),
    ('Bình Dương', 'Hồ Chí Minh', false), ('Bà Rịa - Vũng Tàu', 'Hồ Chí Minh', false),
    ('Sóc Trăng', 'Cần Thơ', false), ('Hậu Giang', 'Cần Thơ', false),
    ('Hà Giang', 'Tuyên Quang', false), ('Yên Bái', 'Lào Cai', false), ('Bắc Kạn', 'Thái Nguyên', false),
    ('Vĩnh Phúc', 'Phú Thọ', false), ('Hòa Bình', 'Phú Thọ', false), ('Bắc Giang', 'Bắc Ninh', false),
    ('Thái Bình', 'Hưng Yên', false), ('Hà Nam', 'Ninh Bình', false), ('Nam Định', 'Ninh Bình', false),
    ('Quảng Bình', 'Quảng Trị', false), ('Kon Tum', 'Quảng Ngãi', false), ('Bình Định', 'Gia Lai', false),
    ('Ninh Thuận', 'Khánh Hòa', false), ('Đắk Nông', 'Lâm Đồng', false), ('Bình Thuận', 'Lâm Đồng', false),
    ('Phú Yên', 'Đắk Lắk', false), ('Bình Phước', 'Đồng Nai', false), ('Long An', 'Tây Ninh', false),
    ('Bến Tre', 'Vĩnh Long', false), ('Trà Vinh', 'Vĩnh Long', false), ('Tiền Giang', 'Đồng Tháp', false),
    ('Bạc Liêu', 'Cà Mau', false), ('Kiên Giang', 'An Giang', false);

INSERT INTO setting_definitions (name, value_type, default_value, min_value, max_value, description) VALUES
    ('shop_timezone', 'timezone', 'Asia/Ho_Chi_Minh', NULL, NULL,
     'Time zone of the shop: the daily jobs run at 02:00 in it.'),
    ('churn.threshold_low', 'numeric', '0.3', 0, 1, 'Churn risk below this is low (design CHURN_RISK_THRESHOLDS.LOW).'),
    ('churn.threshold_medium', 'numeric', '0.6', 0, 1, 'Churn risk from this on is medium (design CHURN_RISK_THRESHOLDS.MEDIUM).'),
    ('churn.threshold_high', 'numeric', '0.8', 0, 1,
     'Churn risk from this on is high; crossing it is the churn-detected event (design CHURN_RISK_THRESHOLDS.HIGH).'),
    ('insight.high_value_min_spent', 'numeric', '10000000', 0, NULL, 'High-value insight when total spent (VND) is above this.'),
    ('insight.churn_risk_min', 'numeric', '0.7', 0, 1, 'Churn-risk insight when the churn risk is above this.'),
    ('insight.loyal_min_orders', 'integer', '5', 0, NULL, 'Loyal insight when total orders is above this ...'),
    ('insight.loyal_max_days_since_order', 'integer', '30', 0, NULL, '... and days since the last order is below this.'),
    ('segment.vip_min_spent', 'numeric', '50000000', 0, NULL, 'VIP segment: total spent (VND) above this ...'),
    ('segment.vip_max_churn_risk', 'numeric', '0.3', 0, 1, '... and churn risk below this.'),
    ('segment.loyal_min_orders', 'integer', '5', 0, NULL, 'Loyal segment: total orders above this ...'),
    ('segment.loyal_max_days_since_order', 'integer', '60', 0, NULL, '... and days since the last order below this.'),
    ('segment.at_risk_min_churn_risk', 'numeric', '0.7', 0, 1, 'At-risk segment: churn risk above this.'),
    ('segment.active_max_days_since_order', 'integer', '30', 0, NULL, 'Active segment: days since the last order below this.'),
    ('segment.churned_min_days_since_order', 'integer', '180', 0, NULL, 'Churned segment: days since the last order above this.'),
    ('status.recent_activity_hours', 'integer', '24', 0, NULL,
     'A customer who logged in within this many hours cannot be deactivated.');

-- system segments have fixed ids so that restored assignments still match them
INSERT INTO customer_segments (id, name, description, criteria, color_code, auto_assign, is_system) VALUES
    ('00000000-0000-4000-8000-000000000001', 'new-customers',
     'Customers who registered recently; assigned at registration.', '{}', '#2E7D32', false, true),
    ('00000000-0000-4000-8000-000000000002', 'at-risk-customers',
     'Customers whose churn risk crossed the high threshold.', '{}', '#C62828', false, true);

-------------------------------------------------------------------------------
-- 6. Internal helpers
-------------------------------------------------------------------------------

-- Raise SQLSTATE 22023 for a bad argument, naming the field in DETAIL and in
-- the error's column field.  The offending value is quoted, cut to 80 chars.
CREATE FUNCTION raise_invalid(field text, problem text, value text DEFAULT NULL, hint text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shown text := CASE
        WHEN value IS NULL THEN ''
        WHEN length(value) > 80 THEN format(' (got %s...)', quote_literal(left(value, 80)))
        ELSE format(' (got %s)', quote_literal(value)) END;
BEGIN
    IF hint IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid %s: %s', field, problem),
            DETAIL = format('Field "%s" %s%s.', field, problem, shown),
            COLUMN = field;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('invalid %s: %s', field, problem),
        DETAIL = format('Field "%s" %s%s.', field, problem, shown),
        HINT = hint,
        COLUMN = field;
END
$$;
COMMENT ON FUNCTION raise_invalid(text, text, text, text) IS
    'Internal: raises SQLSTATE 22023 naming the bad field in DETAIL.';

-- Raise SQLSTATE PT404 (PostgREST: 404) for an unknown object.
CREATE FUNCTION raise_not_found(kind text, id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'PT404',
        MESSAGE = format('%s with ID %s not found', kind, id),
        DETAIL = format('No %s has the ID %s.', lower(kind), id),
        HINT = 'Check the ID; the object may have been deleted.';
END
$$;
COMMENT ON FUNCTION raise_not_found(text, text) IS
    'Internal: raises SQLSTATE PT404 ("Customer with ID ... not found").';

-- Check that a text argument is present, trimmed and within a length.
CREATE FUNCTION check_text(field text, value text, max_length integer, required boolean DEFAULT true)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(value, E' \t\r\n');
BEGIN
    IF v IS NULL OR v = '' THEN
        IF required THEN
            PERFORM customer_mgmt.raise_invalid(field, 'is required');
        END IF;
        RETURN NULL;
    END IF;
    IF length(v) > max_length THEN
        PERFORM customer_mgmt.raise_invalid(field, format('must be at most %s characters long', max_length), v);
    END IF;
    IF v ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must not contain control characters', v);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION check_text(text, text, integer, boolean) IS
    'Internal: trims a text argument and checks presence, length and control characters (22023 naming the field).';

-- Check that a timestamp argument is finite and not in the future.
CREATE FUNCTION check_past_time(field text, value timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        PERFORM customer_mgmt.raise_invalid(field, 'is required');
    END IF;
    IF NOT isfinite(value) THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be a finite time', value::text);
    END IF;
    IF value > now() + interval '1 day' THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must not be in the future', value::text);
    END IF;
    RETURN value;
END
$$;
COMMENT ON FUNCTION check_past_time(text, timestamptz) IS
    'Internal: checks a timestamp argument is given, finite and not in the future (22023).';

-- Check that a numeric argument is a finite amount of VND that fits numeric(15,2).
CREATE FUNCTION check_amount(field text, value numeric) RETURNS numeric
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        PERFORM customer_mgmt.raise_invalid(field, 'is required');
    END IF;
    IF value = 'NaN'::numeric OR value IN ('Infinity'::numeric, '-Infinity'::numeric) THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be a finite number', value::text);
    END IF;
    IF value < 0 THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must not be negative', value::text);
    END IF;
    IF round(value, 2) >= 10000000000000 THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be less than 10,000,000,000,000 VND', value::text);
    END IF;
    RETURN round(value, 2);
END
$$;
COMMENT ON FUNCTION check_amount(text, numeric) IS
    'Internal: checks an amount (VND) is finite, not negative and fits numeric(15,2) (22023).';

-- Canonical phone number or 22023.
CREATE FUNCTION check_phone(field text, value text, required boolean) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := customer_mgmt.check_text(field, value, 30, required);
    canonical text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    canonical := customer_mgmt.normalize_phone(v);
    IF canonical IS NULL THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be a Vietnamese phone number', v,
            'Use a mobile number like 0912 345 678 or +84 912 345 678, or a landline like 024 3825 1234.');
    END IF;
    RETURN canonical;
END
$$;
COMMENT ON FUNCTION check_phone(text, text, boolean) IS
    'Internal: normalises a Vietnamese phone number or raises 22023 naming the field.';

-- Canonical province name or 22023.  Accepts any spelling that folds to a known
-- name, with or without "Tỉnh", "Thành phố", "TP." in front.
CREATE FUNCTION check_province(field text, value text, required boolean) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := customer_mgmt.check_text(field, value, 100, required);
    key text;
    canonical text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    key := regexp_replace(customer_mgmt.search_fold(v), '^(tinh|thanh pho|tp\.?)\s*', '');
    key := CASE key WHEN 'hcm' THEN 'ho chi minh' WHEN 'sai gon' THEN 'ho chi minh'
                    WHEN 'ho chi minh city' THEN 'ho chi minh' WHEN 'ha noi city' THEN 'ha noi'
                    WHEN 'ba ria vung tau' THEN 'ba ria - vung tau' ELSE key END;
    SELECT p.name INTO canonical FROM customer_mgmt.provinces p WHERE customer_mgmt.search_fold(p.name) = key;
    IF canonical IS NULL THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be a Vietnamese province or city', v,
            'Use one of the 34 provinces and cities (or a former province), e.g. Hà Nội, Hồ Chí Minh, Đà Nẵng; see table customer_mgmt.provinces.');
    END IF;
    RETURN canonical;
END
$$;
COMMENT ON FUNCTION check_province(text, text, boolean) IS
    'Internal: canonical spelling of a province (current or former) or 22023 naming the field.';

-- An enum argument given as text, or 22023 listing the allowed values.
CREATE FUNCTION check_enum(field text, value text, allowed anyenum) RETURNS anyenum
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    labels text[] := enum_range(allowed)::text[];
    v text := lower(btrim(value));
BEGIN
    IF v IS NULL OR NOT v = ANY (labels) THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be one of ' || array_to_string(labels, ', '), value);
    END IF;
    RETURN v;   -- assigned to anyenum: cast by PL/pgSQL
END
$$;
COMMENT ON FUNCTION check_enum(text, text, anyenum) IS
    'Internal: converts a text argument to an enum value or raises 22023 listing the allowed values; pass NULL::the_enum as allowed.';

-- Lock a customer row, or PT404 when there is no such customer.
CREATE FUNCTION lock_customer(customer_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF customer_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    PERFORM FROM customer_mgmt.users u
     WHERE u.id = lock_customer.customer_id AND u.role = 'customer'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', customer_id::text);
    END IF;
END
$$;
COMMENT ON FUNCTION lock_customer(uuid) IS
    'Internal: locks a customer''s row against concurrent changes, or raises PT404.';

-- The acting user: request.jwt.claims ->> 'sub' (PostgREST) or the setting
-- customer_mgmt.actor_id.  NULL when neither is set.
CREATE FUNCTION current_actor() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claims text := current_setting('request.jwt.claims', true);
    sub text;
    source text := 'request.jwt.claims.sub';
BEGIN
    IF claims IS NOT NULL AND claims <> '' THEN
        BEGIN
            sub := claims::jsonb ->> 'sub';
        EXCEPTION WHEN invalid_text_representation THEN
            PERFORM customer_mgmt.raise_invalid('request.jwt.claims', 'must be a JSON object', claims);
        END;
    END IF;
    IF sub IS NULL OR sub = '' THEN
        sub := nullif(current_setting('customer_mgmt.actor_id', true), '');
        source := 'customer_mgmt.actor_id';
    END IF;
    IF sub IS NULL THEN
        RETURN NULL;
    END IF;
    IF sub !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        PERFORM customer_mgmt.raise_invalid(source, 'must be a user id (uuid)', sub);
    END IF;
    RETURN sub::uuid;
END
$$;
COMMENT ON FUNCTION current_actor() IS
    'The acting user: request.jwt.claims ->> ''sub'' (PostgREST) or the setting customer_mgmt.actor_id; NULL when neither is set.';

-- Settings
CREATE FUNCTION setting(name text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(s.value, d.default_value)
      FROM customer_mgmt.setting_definitions d
      LEFT JOIN customer_mgmt.settings s ON s.name = d.name
     WHERE d.name = setting.name
$$;
COMMENT ON FUNCTION setting(text) IS 'The value of a setting: the shop''s override, else its default; NULL for an unknown name.';

CREATE FUNCTION set_setting(name text, value text) RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def customer_mgmt.setting_definitions;
    v text := btrim(value);
    n numeric;
BEGIN
    SELECT * INTO def FROM customer_mgmt.setting_definitions d WHERE d.name = set_setting.name;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_invalid('name', 'is not a known setting', set_setting.name,
            'See table customer_mgmt.setting_definitions.');
    END IF;
    IF v IS NULL OR v = '' THEN
        -- back to the default
        DELETE FROM customer_mgmt.settings s WHERE s.name = def.name;
        RETURN def.default_value;
    END IF;
    IF def.value_type = 'timezone' THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names t WHERE t.name = v) THEN
            PERFORM customer_mgmt.raise_invalid('value', 'must be a time zone name like Asia/Ho_Chi_Minh', v);
        END IF;
    ELSE
        IF v !~ (CASE def.value_type WHEN 'integer' THEN '^-?[0-9]{1,9}$' ELSE '^-?[0-9]{1,15}(\.[0-9]{1,6})?$' END) THEN
            PERFORM customer_mgmt.raise_invalid('value', 'must be ' ||
                CASE def.value_type WHEN 'integer' THEN 'a whole number' ELSE 'a number' END, v);
        END IF;
        n := v::numeric;
        IF n < def.min_value OR n > def.max_value THEN
            PERFORM customer_mgmt.raise_invalid('value',
                format('must be between %s and %s', coalesce(def.min_value::text, '-inf'), coalesce(def.max_value::text, 'inf')), v);
        END IF;
    END IF;
    INSERT INTO customer_mgmt.settings AS s (name, value, updated_at, updated_by)
    VALUES (def.name, v, now(), customer_mgmt.current_actor())
    ON CONFLICT ON CONSTRAINT settings_pkey
    DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by;
    RETURN v;
END
$$;
COMMENT ON FUNCTION set_setting(text, text) IS
    'Admin: sets a setting (validated against its definition); NULL or empty restores the default. Returns the value in force.';
COMMENT ON COLUMN customer_status_history.actor_id IS
    'The acting user (current_actor()); not a foreign key, so a service account unknown to users can act.';

-------------------------------------------------------------------------------
-- 7. Ingestion API: for applications that do not write the tables directly.
--    Every argument is validated (22023 naming the field); an unknown customer
--    is PT404; a failing call writes nothing (one statement, one transaction).
-------------------------------------------------------------------------------

CREATE FUNCTION check_email(field text, value text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := customer_mgmt.check_text(field, value, 254, true);
BEGIN
    -- local part: RFC 5322 atext and dots; domain: LDH labels, at least two
    IF v !~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$'
       OR length(split_part(v, '@', 1)) > 64 THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must be an e-mail address', v, 'Use an address like name@example.com.');
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION check_email(text, text) IS 'Internal: checks an e-mail address or raises 22023 naming the field.';

-- Insert a user; a duplicate e-mail (case-insensitive) is 23505 naming email.
CREATE FUNCTION insert_user(u customer_mgmt.users) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
BEGIN
    INSERT INTO customer_mgmt.users
        (full_name, email, phone_number, role, date_of_birth, gender, province, created_at, updated_at)
    VALUES (u.full_name, u.email, u.phone_number, u.role, u.date_of_birth, u.gender, u.province,
            u.created_at, u.created_at)
    RETURNING id INTO new_id;
    RETURN new_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING
        ERRCODE = 'unique_violation',
        MESSAGE = format('a user with e-mail %s already exists', u.email),
        DETAIL = 'Field "email" must be unique (case-insensitively).',
        HINT = 'Look the user up by e-mail instead of registering again.',
        COLUMN = 'email';
END
$$;
COMMENT ON FUNCTION insert_user(customer_mgmt.users) IS
    'Internal: inserts a validated user row; a duplicate e-mail is SQLSTATE 23505 naming the field.';

CREATE FUNCTION register_customer(
    full_name      text,
    email          text,
    phone_number   text DEFAULT NULL,
    date_of_birth  date DEFAULT NULL,
    gender         text DEFAULT NULL,
    province       text DEFAULT NULL,
    registered_at  timestamptz DEFAULT now()
) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
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
    u.created_at := customer_mgmt.check_past_time('registered_at', registered_at);
    u.role := 'customer';
    RETURN customer_mgmt.insert_user(u);
END
$$;
COMMENT ON FUNCTION register_customer(text, text, text, date, text, text, timestamptz) IS
    'Ingestion: registers a customer and returns the new id. The phone number is stored in canonical form, the province in its canonical spelling.';

CREATE FUNCTION register_staff(full_name text, email text, role text DEFAULT 'staff') RETURNS uuid
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
    RETURN customer_mgmt.insert_user(u);
END
$$;
COMMENT ON FUNCTION register_staff(text, text, text) IS
    'Ingestion: registers a staff member or admin (the authors of notes, the actors of status changes) and returns the new id.';

CREATE FUNCTION add_customer_address(
    customer_id          uuid,
    recipient_name       text,
    phone_number         text,
    street               text,
    ward                 text,
    district             text DEFAULT NULL,
    province             text DEFAULT NULL,
    is_default_shipping  boolean DEFAULT false,
    is_default_billing   boolean DEFAULT false
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

    INSERT INTO customer_mgmt.addresses AS x
        (customer_id, recipient_name, phone_number, street, ward, district, province,
         is_default_shipping, is_default_billing)
    VALUES (add_customer_address.customer_id, a.recipient_name, a.phone_number, a.street, a.ward,
            a.district, a.province, a.is_default_shipping, a.is_default_billing)
    RETURNING x.id INTO a.id;
    RETURN a.id;
END
$$;
COMMENT ON FUNCTION add_customer_address(uuid, text, text, text, text, text, text, boolean, boolean) IS
    'Ingestion: adds an address to a customer and returns its id; a new default shipping or billing address replaces the previous default.';

-- Validate an order's items (JSON array of {"productName", "category",
-- "brand", "unitPrice", "quantity"}) and return them as rows.
CREATE FUNCTION check_order_items(items jsonb)
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

CREATE FUNCTION record_order(
    customer_id   uuid,
    total_amount  numeric,
    status        text DEFAULT 'completed',
    order_date    timestamptz DEFAULT now(),
    items         jsonb DEFAULT '[]'
) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o customer_mgmt.orders;
    lines customer_mgmt.order_items[];
BEGIN
    o.total_amount := customer_mgmt.check_amount('total_amount', total_amount);
    o.status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.order_status);
    o.order_date := customer_mgmt.check_past_time('order_date', order_date);
    -- validate every item before anything is written
    SELECT coalesce(array_agg(t), '{}') INTO lines FROM customer_mgmt.check_order_items(items) t;

    PERFORM customer_mgmt.lock_customer(customer_id);

    o.id := gen_random_uuid();
    -- an order recorded as completed (or later refunded) completed on its date
    IF o.status IN ('completed', 'refunded') THEN
        o.completed_at := o.order_date;
    END IF;
    INSERT INTO customer_mgmt.orders (id, customer_id, status, total_amount, order_date, completed_at)
    VALUES (o.id, record_order.customer_id, o.status, o.total_amount, o.order_date, o.completed_at);
    INSERT INTO customer_mgmt.order_items (order_id, product_name, category, brand, unit_price, quantity)
    SELECT o.id, t.product_name, t.category, t.brand, t.unit_price, t.quantity FROM unnest(lines) t;
    RETURN o.id;
END
$$;
COMMENT ON FUNCTION record_order(uuid, numeric, text, timestamptz, jsonb) IS
    'Ingestion: records an order with its items and returns the order id. An order recorded as completed (or refunded) is taken as completed at its order date.';

-- Which order status may follow which.
CREATE FUNCTION order_status_transition_allowed(old_status order_status, new_status order_status)
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

CREATE FUNCTION set_order_status(order_id uuid, status text) RETURNS void
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

CREATE FUNCTION record_session(
    customer_id       uuid,
    started_at        timestamptz DEFAULT now(),
    duration_seconds  integer DEFAULT 0,
    page_views        integer DEFAULT 1,
    converted         boolean DEFAULT false
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
    INSERT INTO customer_mgmt.web_sessions AS w (customer_id, started_at, duration_seconds, page_views, converted)
    VALUES (record_session.customer_id, s.started_at, duration_seconds, page_views, converted)
    RETURNING w.id INTO s.id;
    RETURN s.id;
END
$$;
COMMENT ON FUNCTION record_session(uuid, timestamptz, integer, integer, boolean) IS
    'Ingestion: records a web session of a customer and returns its id.';

CREATE FUNCTION record_login(customer_id uuid, logged_in_at timestamptz DEFAULT now()) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := customer_mgmt.check_past_time('logged_in_at', logged_in_at);
    session_id bigint;
BEGIN
    PERFORM customer_mgmt.lock_customer(customer_id);
    UPDATE customer_mgmt.users u
       SET last_login_at = greatest(u.last_login_at, t)
     WHERE u.id = record_login.customer_id;
    INSERT INTO customer_mgmt.web_sessions AS w (customer_id, started_at, duration_seconds, page_views, converted)
    VALUES (record_login.customer_id, t, 0, 1, false)
    RETURNING w.id INTO session_id;
    RETURN session_id;
END
$$;
COMMENT ON FUNCTION record_login(uuid, timestamptz) IS
    'Ingestion: records a login: moves the customer''s last login forward and records a session; returns the session id.';

-------------------------------------------------------------------------------
-- 8. Demo-shop generator.
--    Every value is demo_random(seed, stream, key): the same seed, size and
--    as_of give the same shop, whether it is generated in one call or in
--    parts over several connections.  Streams: 1.. customers, 20.. addresses,
--    30.. orders, 40.. items, 50.. sessions, 70.. staff.
--    Keys: customer n; order n*256+j; item order_key*8+k; session n*512+k.
-------------------------------------------------------------------------------

-- Persona and timeline of customers first..last.
--   persona 0 never ordered (22%), 1 one-off (25%), 2 occasional (28%),
--   3 loyal (15%), 4 lapsed (8%), 5 big spender (2%)
CREATE FUNCTION demo_plan(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS TABLE (n bigint, customer_id uuid, persona integer, registered_at timestamptz,
                   last_active_at timestamptz, order_count integer, browse_count integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT g.n, customer_mgmt.demo_uuid(seed, 60, g.n), p.persona, t.reg, t.last_active,
           least(CASE p.persona
                   WHEN 0 THEN 0
                   WHEN 1 THEN 1
                   WHEN 2 THEN 2 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 9)::int
                   WHEN 3 THEN 12 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 34)::int
                   WHEN 4 THEN 4 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 13)::int
                   ELSE 20 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 41)::int END,
                 1 + floor(extract(epoch FROM t.last_active - t.reg) / 172800)::int),
           CASE p.persona
               WHEN 0 THEN floor(customer_mgmt.demo_random(seed, 15, g.n) * 7)::int
               WHEN 1 THEN 2 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 8)::int
               WHEN 2 THEN 3 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 10)::int
               WHEN 4 THEN 3 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 8)::int
               ELSE 8 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 17)::int END
      FROM generate_series(first_n, last_n) AS g(n)
     CROSS JOIN LATERAL (SELECT width_bucket(customer_mgmt.demo_random(seed, 1, g.n),
                                             ARRAY[0.22, 0.47, 0.75, 0.90, 0.98]::float8[]) AS persona OFFSET 0) p
     CROSS JOIN LATERAL (
           SELECT (CASE p.persona WHEN 2 THEN 14 WHEN 3 THEN 60 WHEN 4 THEN 200 WHEN 5 THEN 90 ELSE 0 END)::float8
                  AS min_age OFFSET 0) a
     CROSS JOIN LATERAL (
           SELECT as_of - make_interval(secs => 86400 * (a.min_age + (1095 - a.min_age)
                                                * power(customer_mgmt.demo_random(seed, 2, g.n), 1.5))) AS reg OFFSET 0) r
     CROSS JOIN LATERAL (
           SELECT r.reg, least(as_of, greatest(r.reg, CASE p.persona
                   WHEN 0 THEN r.reg + least(interval '30 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 1 THEN r.reg + least(interval '90 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 2 THEN as_of - least(interval '200 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 4 THEN r.reg + (as_of - interval '100 days' - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   ELSE as_of - least(interval '25 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n) END))
                  AS last_active OFFSET 0) t
$$;
COMMENT ON FUNCTION demo_plan(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: persona, registration, last activity, order and browse-session counts of customers first_n..last_n.';

-- Orders of customers first..last with their timing and status.
CREATE FUNCTION demo_orders(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS TABLE (customer_id uuid, persona integer, order_key bigint, order_id uuid,
                   status customer_mgmt.order_status, order_date timestamptz, completed_at timestamptz)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT p.customer_id, p.persona, k.key, customer_mgmt.demo_uuid(seed, 62, k.key), s.status, d.order_date,
           CASE WHEN s.status IN ('completed', 'refunded')
                THEN least(as_of, d.order_date + make_interval(secs => 86400 * (1 + 4 * customer_mgmt.demo_random(seed, 33, k.key))))
           END
      FROM (SELECT * FROM customer_mgmt.demo_plan(seed, as_of, first_n, last_n) OFFSET 0) p
     CROSS JOIN LATERAL generate_series(1, p.order_count) AS j(j)
     CROSS JOIN LATERAL (SELECT p.n * 256 + j.j AS key) k
     CROSS JOIN LATERAL (
           SELECT p.registered_at + (p.last_active_at - p.registered_at)
                  * ((j.j - customer_mgmt.demo_random(seed, 30, k.key)) / p.order_count) AS order_date OFFSET 0) d
     CROSS JOIN LATERAL (SELECT customer_mgmt.demo_random(seed, 31, k.key) AS r OFFSET 0) rs
     CROSS JOIN LATERAL (
           SELECT (CASE
                     WHEN d.order_date > as_of - interval '3 days' THEN
                          (ARRAY['pending', 'processing', 'shipped', 'completed'])[width_bucket(rs.r, ARRAY[0.3, 0.6, 0.85]::float8[]) + 1]
                     WHEN rs.r < 0.06 THEN 'cancelled'
                     WHEN rs.r < 0.09 THEN 'refunded'
                     ELSE 'completed' END)::customer_mgmt.order_status AS status) s
$$;
COMMENT ON FUNCTION demo_orders(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: the orders of customers first_n..last_n (timing spread over each customer''s active life).';

-- Items of one order: 1-4 lines from a Vietnamese shop's catalogue (src/demo.c).
CREATE FUNCTION demo_items(seed bigint, order_key bigint, persona integer)
    RETURNS TABLE (product_name text, category text, brand text, unit_price numeric, quantity integer)
    AS 'MODULE_PATHNAME', 'cm_demo_items'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION demo_items(bigint, bigint, integer) IS
    'Demo generator: the 1-4 lines of one order (category, brand, product, VND price, quantity).';

CREATE FUNCTION demo_order_total(seed bigint, order_key bigint, persona integer) RETURNS numeric
    AS 'MODULE_PATHNAME', 'cm_demo_order_total'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_order_total(bigint, bigint, integer) IS
    'Demo generator: the total of demo_items(seed, order_key, persona).';

-- Generate customers first_n..last_n of a demo shop of the given seed, with
-- their addresses, orders, items and sessions.  Does not check that the shop is
-- empty: the caller does (generate_demo_shop, or scripts/demo.sh for parallel
-- loading).  Returns the number of rows written per table.
CREATE FUNCTION generate_demo_customers(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
    SET jit = off
AS $$
DECLARE
    counts jsonb := '{}';
    c bigint;
    old_role text := current_setting('session_replication_role');
    superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF seed IS NULL OR as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM raise_invalid('seed/as_of', 'are required and as_of must be finite');
    END IF;
    IF first_n IS NULL OR last_n IS NULL OR first_n < 1 OR last_n < first_n - 1 OR last_n > 100000000 THEN
        PERFORM raise_invalid('first_n/last_n', 'must be a range within 1..100000000',
                              format('%s..%s', first_n, last_n));
    END IF;
    -- The generated rows are consistent by construction: skip the per-row
    -- foreign-key triggers, which would cost more than the inserts.
    IF superuser THEN
        PERFORM set_config('session_replication_role', 'replica', true);
    END IF;

    INSERT INTO users (id, full_name, email, phone_number, role, status, email_verified_at, phone_verified_at,
                       date_of_birth, gender, province, created_at, updated_at, last_login_at)
    SELECT p.customer_id,
           nm.family || ' ' || nm.middle || ' ' || nm.given,
           replace(search_fold(nm.given || '.' || nm.family), ' ', '') || p.n
               || (ARRAY['@gmail.com', '@yahoo.com', '@outlook.com', '@icloud.com', '@hotmail.com', '@fpt.vn'])
                  [width_bucket(demo_random(seed, 9, p.n), ARRAY[0.70, 0.80, 0.86, 0.91, 0.95]::float8[]) + 1],
           CASE WHEN demo_random(seed, 16, p.n) < 0.92 THEN
               (ARRAY['086', '096', '097', '098', '032', '033', '034', '035', '036', '037', '038', '039',
                      '088', '091', '094', '081', '082', '083', '084', '085',
                      '089', '090', '093', '070', '076', '077', '078', '079', '092', '056', '058', '099', '059'])
                  [1 + floor(demo_random(seed, 7, p.n) * 33)::int]
               || lpad(floor(demo_random(seed, 8, p.n) * 10000000)::bigint::text, 7, '0') END,
           'customer',
           (ARRAY['active', 'inactive', 'suspended'])[width_bucket(demo_random(seed, 12, p.n), ARRAY[0.95, 0.99]::float8[]) + 1]::user_status,
           CASE WHEN demo_random(seed, 17, p.n) < 0.8 THEN p.registered_at + interval '5 minutes' END,
           CASE WHEN demo_random(seed, 18, p.n) < 0.6 THEN p.registered_at + interval '10 minutes' END,
           CASE WHEN demo_random(seed, 11, p.n) < 0.85 THEN
               (as_of - make_interval(days => (365.25 * (18 + 47 * power(demo_random(seed, 19, p.n), 1.4)))::int))::date END,
           nm.gender,
           CASE WHEN demo_random(seed, 10, p.n) < 0.93 THEN nm.province END,
           p.registered_at, p.last_active_at,
           CASE WHEN p.order_count + p.browse_count > 0 THEN p.last_active_at END
      FROM demo_plan(seed, as_of, first_n, last_n) p
     CROSS JOIN LATERAL (
           SELECT g.gender,
                  (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Huỳnh', 'Phan', 'Vũ', 'Võ', 'Đặng', 'Bùi', 'Đỗ',
                         'Hồ', 'Ngô', 'Dương', 'Lý', 'Trương', 'Đinh', 'Lâm', 'Mai'])
                     [width_bucket(demo_random(seed, 3, p.n),
                        ARRAY[0.38, 0.49, 0.585, 0.655, 0.705, 0.745, 0.79, 0.82, 0.85, 0.871, 0.891, 0.905,
                              0.918, 0.931, 0.941, 0.946, 0.956, 0.966, 0.976]::float8[]) + 1] AS family,
                  CASE WHEN g.gender = 'female'
                       THEN (ARRAY['Thị', 'Ngọc', 'Thu', 'Thanh', 'Minh', 'Phương', 'Bảo', 'Khánh', 'Hồng', 'Mai'])
                            [1 + floor(demo_random(seed, 4, p.n) * 10)::int]
                       ELSE (ARRAY['Văn', 'Hữu', 'Đức', 'Minh', 'Quốc', 'Thanh', 'Gia', 'Hoàng', 'Công', 'Anh'])
                            [1 + floor(demo_random(seed, 4, p.n) * 10)::int] END AS middle,
                  CASE WHEN g.gender = 'female'
                       THEN (ARRAY['Anh', 'Châu', 'Chi', 'Dung', 'Giang', 'Hà', 'Hạnh', 'Hằng', 'Hiền', 'Hoa', 'Hồng',
                                   'Hương', 'Lan', 'Linh', 'Loan', 'Mai', 'My', 'Nga', 'Ngân', 'Ngọc', 'Nhung', 'Oanh',
                                   'Phương', 'Quyên', 'Tâm', 'Thảo', 'Thủy', 'Trang', 'Trâm', 'Uyên', 'Vân', 'Vy',
                                   'Xuân', 'Yến'])[1 + floor(demo_random(seed, 5, p.n) * 34)::int]
                       ELSE (ARRAY['An', 'Bảo', 'Bình', 'Cường', 'Dũng', 'Duy', 'Đạt', 'Đức', 'Hải', 'Hiếu', 'Hòa',
                                   'Hoàng', 'Hùng', 'Huy', 'Khang', 'Khánh', 'Khoa', 'Kiên', 'Lâm', 'Long', 'Minh',
                                   'Nam', 'Nghĩa', 'Phong', 'Phúc', 'Quân', 'Quang', 'Sơn', 'Tài', 'Thắng', 'Thành',
                                   'Thịnh', 'Trung', 'Tuấn', 'Tùng', 'Việt', 'Vinh'])[1 + floor(demo_random(seed, 5, p.n) * 37)::int]
                  END AS given,
                  CASE WHEN demo_random(seed, 20, p.n) < 0.25 THEN 'Hồ Chí Minh'
                       WHEN demo_random(seed, 20, p.n) < 0.45 THEN 'Hà Nội'
                       ELSE (SELECT array_agg(pr.name ORDER BY pr.name) FROM provinces pr WHERE pr.is_current)
                            [1 + floor(demo_random(seed, 21, p.n) * 34)::int] END AS province
             FROM (SELECT (ARRAY['female', 'male', 'other', NULL])
                          [width_bucket(demo_random(seed, 6, p.n), ARRAY[0.47, 0.94, 0.95]::float8[]) + 1]::gender AS gender) g
           ) nm;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('customers', c);

    -- 1 or 2 addresses for customers who ordered, half of the others have one.
    -- 30% are older addresses: a former province and a district.
    INSERT INTO addresses (id, customer_id, recipient_name, phone_number, street, ward, district, province,
                           is_default_shipping, is_default_billing, created_at, updated_at)
    SELECT demo_uuid(seed, 61, u.n * 4 + k.k), u.id,
           u.full_name,
           coalesce(u.phone_number, '09' || lpad(floor(demo_random(seed, 22, u.n) * 100000000)::bigint::text, 8, '0')),
           (1 + floor(demo_random(seed, 23, u.n * 4 + k.k) * 300)::int) || ' '
               || (ARRAY['Lê Lợi', 'Nguyễn Huệ', 'Trần Hưng Đạo', 'Hai Bà Trưng', 'Lý Thường Kiệt', 'Nguyễn Trãi',
                         'Lê Duẩn', 'Điện Biên Phủ', 'Cách Mạng Tháng Tám', 'Võ Văn Tần', 'Pasteur',
                         'Nguyễn Thị Minh Khai', 'Phan Đình Phùng', 'Hoàng Diệu', 'Bạch Đằng', 'Quang Trung',
                         'Trần Phú', 'Lê Thánh Tôn', 'Hùng Vương', 'Nguyễn Văn Cừ'])
                  [1 + floor(demo_random(seed, 24, u.n * 4 + k.k) * 20)::int],
           (ARRAY['Phường ', 'Phường ', 'Xã '])[1 + floor(demo_random(seed, 25, u.n * 4 + k.k) * 3)::int]
               || (ARRAY['Bến Nghé', 'Tân Định', 'Hàng Bạc', 'Cửa Nam', 'Láng Thượng', 'Thạch Thang', 'Hòa Cường',
                         'An Hòa', 'Tân Phong', 'Phú Mỹ', 'Long Bình', 'Hòa Khánh', 'Vĩnh Phú', 'Tân Hiệp',
                         'Bình An', 'Phước Long'])[1 + floor(demo_random(seed, 26, u.n * 4 + k.k) * 16)::int],
           CASE WHEN o.old_style THEN
               (ARRAY['Quận 1', 'Quận 3', 'Quận 5', 'Quận 7', 'Quận 10', 'Quận Ba Đình', 'Quận Cầu Giấy',
                      'Quận Hải Châu', 'Quận Ninh Kiều', 'Huyện Đông Anh', 'Huyện Củ Chi', 'Thị xã Sơn Tây',
                      'Thành phố Thủ Đức', 'Huyện Hòa Vang'])[1 + floor(demo_random(seed, 27, u.n * 4 + k.k) * 14)::int] END,
           CASE WHEN o.old_style THEN
               coalesce((SELECT f.name FROM provinces f WHERE f.current_name = coalesce(u.province, 'Hồ Chí Minh')
                          ORDER BY f.name
                         OFFSET floor(demo_random(seed, 28, u.n * 4 + k.k)
                                      * (SELECT count(*) FROM provinces f2
                                          WHERE f2.current_name = coalesce(u.province, 'Hồ Chí Minh')))::int
                          LIMIT 1), 'Hồ Chí Minh')
               ELSE coalesce(u.province, 'Hồ Chí Minh') END,
           k.k = 1, k.k = 1, u.created_at, u.created_at
      FROM (SELECT p.n, p.persona, x.id, x.full_name, x.phone_number, x.province, x.created_at
              FROM demo_plan(seed, as_of, first_n, last_n) p
              JOIN users x ON x.id = p.customer_id) u
     CROSS JOIN LATERAL generate_series(1,
           CASE WHEN u.persona = 0 THEN (demo_random(seed, 29, u.n) < 0.5)::int
                ELSE 1 + (demo_random(seed, 29, u.n) < 0.3)::int END) AS k(k)
     CROSS JOIN LATERAL (SELECT demo_random(seed, 35, u.n * 4 + k.k) < 0.3 AS old_style) o;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('addresses', c);

    INSERT INTO orders (id, customer_id, status, total_amount, order_date, completed_at, created_at, updated_at)
    SELECT o.order_id, o.customer_id, o.status,
           demo_order_total(seed, o.order_key, o.persona),
           o.order_date, o.completed_at, o.order_date, coalesce(o.completed_at, o.order_date)
      FROM demo_orders(seed, as_of, first_n, last_n) o;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('orders', c);

    INSERT INTO order_items (order_id, product_name, category, brand, unit_price, quantity)
    SELECT o.order_id, i.product_name, i.category, i.brand, i.unit_price, i.quantity
      FROM demo_orders(seed, as_of, first_n, last_n) o
     CROSS JOIN LATERAL demo_items(seed, o.order_key, o.persona) i;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('order_items', c);

    -- one converting session before each order, and browsing sessions spread
    -- over the customer's active life, the last one at the last login; 38% of
    -- browsing sessions bounce
    INSERT INTO web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
    SELECT o.customer_id, o.order_date - make_interval(secs => v.pv * v.per_page), v.pv * v.per_page, v.pv, true
      FROM demo_orders(seed, as_of, first_n, last_n) o
     CROSS JOIN LATERAL (SELECT 3 + floor(demo_random(seed, 52, o.order_key) * 20)::int AS pv,
                                30 + floor(demo_random(seed, 53, o.order_key) * 90)::int AS per_page) v
    UNION ALL
    SELECT p.customer_id,
           p.registered_at + (p.last_active_at - p.registered_at) * (k.k::float8 / p.browse_count),
           CASE WHEN b.bounce THEN 5 + floor(demo_random(seed, 54, k.key) * 55)::int
                ELSE b.pv * (20 + floor(demo_random(seed, 53, k.key) * 100)::int) END,
           b.pv, false
      FROM demo_plan(seed, as_of, first_n, last_n) p
     CROSS JOIN LATERAL generate_series(1, p.browse_count) AS g(k)
     CROSS JOIN LATERAL (SELECT g.k, p.n * 512 + g.k AS key) k
     CROSS JOIN LATERAL (SELECT demo_random(seed, 51, k.key) < 0.38 AS bounce) b0
     CROSS JOIN LATERAL (SELECT b0.bounce,
                                CASE WHEN b0.bounce THEN 1 ELSE 2 + floor(demo_random(seed, 52, k.key) * 14)::int END AS pv) b;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('web_sessions', c);

    PERFORM set_config('session_replication_role', old_role, true);
    RETURN counts;
END
$$;
COMMENT ON FUNCTION generate_demo_customers(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: writes customers first_n..last_n of the demo shop of a seed (no emptiness check; see generate_demo_shop).';

-- The secondary (non-unique) indexes of the tables the generator fills.  A
-- bulk load into an empty shop drops them and builds them afresh afterwards,
-- as pg_restore does: building an index once is far cheaper than growing it
-- row by row.
CREATE FUNCTION demo_secondary_indexes() RETURNS TABLE (index_name text, definition text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i
     WHERE i.indrelid IN ('customer_mgmt.users'::regclass, 'customer_mgmt.addresses'::regclass,
                          'customer_mgmt.orders'::regclass, 'customer_mgmt.order_items'::regclass,
                          'customer_mgmt.web_sessions'::regclass)
       AND NOT i.indisunique
     ORDER BY 1
$$;
COMMENT ON FUNCTION demo_secondary_indexes() IS
    'Demo generator: the non-unique indexes of the tables it fills, with their definitions, for drop-and-rebuild around a bulk load.';

CREATE FUNCTION generate_demo_staff(seed bigint, as_of timestamptz) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO users (id, full_name, email, role, status, email_verified_at, created_at, updated_at, last_login_at)
        SELECT demo_uuid(seed, 70, s.k),
               nm.full_name,
               replace(search_fold(split_part(nm.full_name, ' ', 3) || '.' || split_part(nm.full_name, ' ', 1)), ' ', '')
                   || '.staff' || s.k || '@cuahang.vn',
               CASE WHEN s.k <= 3 THEN 'admin' ELSE 'staff' END::user_role,
               'active', as_of - interval '800 days', as_of - interval '800 days', as_of - interval '800 days',
               as_of - make_interval(secs => 86400 * 3 * demo_random(seed, 71, s.k))
          FROM generate_series(1, 15) AS s(k)
         CROSS JOIN LATERAL (
               SELECT (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Võ'])[1 + floor(demo_random(seed, 72, s.k) * 5)::int]
                      || ' ' || (ARRAY['Thị', 'Văn', 'Minh', 'Ngọc', 'Quốc'])[1 + floor(demo_random(seed, 73, s.k) * 5)::int]
                      || ' ' || (ARRAY['Hạnh', 'Tuấn', 'Linh', 'Phúc', 'Trang', 'Khoa', 'Nhi', 'Bảo'])
                                [1 + floor(demo_random(seed, 74, s.k) * 8)::int] AS full_name) nm
        RETURNING 1)
    SELECT count(*)::int FROM ins
$$;
COMMENT ON FUNCTION generate_demo_staff(bigint, timestamptz) IS
    'Demo generator: writes the 15 staff users (3 admins) of the demo shop of a seed.';

CREATE FUNCTION generate_demo_shop(
    customers  integer DEFAULT 10000,
    seed       bigint DEFAULT 42,
    as_of      timestamptz DEFAULT date_trunc('day', now())
) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
AS $$
DECLARE
    counts jsonb;
    names text[];
    definitions text[];
BEGIN
    IF customers IS NULL OR customers NOT BETWEEN 0 AND 10000000 THEN
        PERFORM raise_invalid('customers', 'must be from 0 to 10000000', customers::text);
    END IF;
    IF EXISTS (SELECT FROM users) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'raise_exception',
            MESSAGE = 'the demo shop can only be generated into an empty shop',
            DETAIL = 'Table customer_mgmt.users already has rows.',
            HINT = 'Create the extension in a new database for the demo.';
    END IF;
    SELECT array_agg(d.index_name), array_agg(d.definition) INTO names, definitions FROM demo_secondary_indexes() d;
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE 'DROP INDEX ' || names[i];
    END LOOP;
    counts := generate_demo_customers(seed, as_of, 1, customers);
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE definitions[i];
    END LOOP;
    RETURN counts || jsonb_build_object('staff', generate_demo_staff(seed, as_of));
END
$$;
COMMENT ON FUNCTION generate_demo_shop(integer, bigint, timestamptz) IS
    'Fills an empty shop with a deterministic demo: customers with Vietnamese names, addresses, orders, items, sessions, and 15 staff. Owner only.';

-------------------------------------------------------------------------------
-- 9. Privileges.  PUBLIC gets nothing; the API is reached through functions
--    only (no role has privileges on the tables):
--      customer_mgmt_staff  reads (and, later, notes)
--      customer_mgmt_admin  everything staff can, and all writes
--      customer_mgmt_app    ingestion of events from the shop's application
-------------------------------------------------------------------------------
REVOKE ALL ON SCHEMA customer_mgmt FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customer_mgmt FROM PUBLIC;

GRANT USAGE ON SCHEMA customer_mgmt TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

GRANT EXECUTE ON FUNCTION
    search_fold(text), search_key(text, text, text), normalize_phone(text),
    invoker(), current_actor(), setting(text)
TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

GRANT EXECUTE ON FUNCTION
    register_customer(text, text, text, date, text, text, timestamptz),
    register_staff(text, text, text),
    add_customer_address(uuid, text, text, text, text, text, text, boolean, boolean),
    record_order(uuid, numeric, text, timestamptz, jsonb),
    set_order_status(uuid, text),
    record_session(uuid, timestamptz, integer, integer, boolean),
    record_login(uuid, timestamptz)
TO customer_mgmt_admin, customer_mgmt_app;

GRANT EXECUTE ON FUNCTION set_setting(text, text) TO customer_mgmt_admin;
