-- customer_mgmt schema: tables, their indexes and comments, and their
-- registration with pg_extension_config_dump (so that pg_dump keeps the rows).
-- Fresh install only: an update changes tables in sql/updates/, and a test
-- proves the result equal to this (test/t/003_upgrade.pl).


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
    anonymized_at      timestamptz,
    external_id        text CHECK (length(external_id) BETWEEN 1 AND 200),
    source_updated_at  timestamptz,
    email_consent      consent_status NOT NULL DEFAULT 'not_asked',
    sms_consent        consent_status NOT NULL DEFAULT 'not_asked'
);
COMMENT ON TABLE users IS
    'Customers and the staff who work on them (the design''s tbl_user, minimal). Phone numbers are stored in canonical national form.';
COMMENT ON COLUMN users.province IS 'Province or city of the customer (region), as canonically spelled in table provinces.';
COMMENT ON COLUMN users.anonymized_at IS 'Set when the customer''s personal data was anonymised (data protection).';
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
COMMENT ON COLUMN users.external_id IS 'The shop''s own id of the customer (any text: an integer, a uuid, a code), unique; upsert_customer finds the customer by it.';
COMMENT ON COLUMN users.email_consent IS 'Marketing consent by e-mail in force: the latest record of marketing_consents for the channel, not_asked without one.';
COMMENT ON COLUMN users.sms_consent IS 'Marketing consent by SMS in force: the latest record of marketing_consents for the channel, not_asked without one.';
COMMENT ON COLUMN users.source_updated_at IS 'The updated_at of the version of the shop''s record last applied (upsert_customer): an older version is not applied.';
CREATE UNIQUE INDEX users_external_id_key ON users (external_id) WHERE external_id IS NOT NULL;
-- find_customer(phone_number => …): the call centre's lookup
CREATE INDEX users_customers_created_at_idx ON users (created_at, id) WHERE role = 'customer';
CREATE INDEX users_customers_phone_idx ON users (phone_number) WHERE role = 'customer';
-- one person's mailbox, for ingestion's duplicate check (docs/duplicates.md)
CREATE INDEX users_customers_mailbox_idx ON users (email_identity(email)) WHERE role = 'customer';
CREATE INDEX users_customers_search_idx ON users
    USING gin (search_key(full_name, email, phone_number) gin_trgm_ops) WHERE role = 'customer';
-- the staff, a handful: the dashboard's active and churned customers are
-- the range's visitors and buyers who are not staff (overview_counts)
CREATE INDEX users_staff_idx ON users (id) WHERE role <> 'customer';

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
    updated_at          timestamptz NOT NULL DEFAULT now(),
    external_id         text CHECK (length(external_id) BETWEEN 1 AND 200)
);
COMMENT ON TABLE addresses IS
    'Postal addresses of customers. district is optional: since mid-2025 Vietnam has 34 provinces and no district level; older addresses keep a former province and a district.';
CREATE INDEX addresses_customer_id_idx ON addresses (customer_id);
CREATE UNIQUE INDEX addresses_external_id_key ON addresses (external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_default_shipping_key ON addresses (customer_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_default_billing_key ON addresses (customer_id) WHERE is_default_billing;

-- orders ---------------------------------------------------------------------
CREATE TABLE orders (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES users (id),
    status        order_status NOT NULL DEFAULT 'pending',
    total_amount  numeric(15,2) NOT NULL CHECK (total_amount >= 0 AND total_amount <> 'NaN'),
    order_date    timestamptz NOT NULL CHECK (isfinite(order_date)),
    completed_at  timestamptz CHECK (completed_at >= order_date),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    external_id        text CHECK (length(external_id) BETWEEN 1 AND 200),
    source_updated_at  timestamptz
);
COMMENT ON TABLE orders IS
    'Orders of customers (minimal version of the orders module). Only completed orders count as spend. Deleting a customer with orders is refused: orders are accounting records.';
-- status and total_amount included: the dashboard's churned count asks, per
-- customer, for a completed order in a window, and the CLV model's purchase
-- summary reads every completed order in customer order (src/clv_summary.c),
-- both from the index alone
CREATE INDEX orders_customer_id_order_date_idx ON orders (customer_id, order_date DESC) INCLUDE (status, total_amount);
-- the orders dated in a window, with their customers, amounts and ids, from
-- the index alone: the nightly run's since the previous run, the
-- dashboard's active and churned, the segment functions with a date
-- (orders_placed; products_purchased joins the ids to the lines)
CREATE INDEX orders_completed_order_date_idx ON orders (order_date) INCLUDE (customer_id, total_amount, id) WHERE status = 'completed';
CREATE INDEX orders_open_customer_id_idx ON orders (customer_id) WHERE status IN ('pending', 'processing');
COMMENT ON COLUMN orders.external_id IS 'The shop''s own id of the order (ORD-2026-000123, an integer, …), unique; upsert_order finds the order by it, so a retried delivery records nothing twice.';
COMMENT ON COLUMN orders.source_updated_at IS 'The updated_at of the version of the shop''s order last applied (upsert_order).';
CREATE UNIQUE INDEX orders_external_id_key ON orders (external_id) WHERE external_id IS NOT NULL;
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
    page_views        integer NOT NULL DEFAULT 1 CHECK (page_views BETWEEN 0 AND 100000),
    converted         boolean NOT NULL DEFAULT false,
    external_id       text CHECK (length(external_id) BETWEEN 1 AND 200)
);
COMMENT ON TABLE web_sessions IS
    'Visits of customers. A login opens a visit with no page view (page_views 0); a browsing session has at least one, and with exactly one it is a bounce; converted means it ended in an order. Bounce and conversion rates count browsing sessions only (docs/analytics.md).';
CREATE INDEX web_sessions_customer_id_started_at_idx ON web_sessions (customer_id, started_at);
CREATE UNIQUE INDEX web_sessions_external_id_key ON web_sessions (external_id) WHERE external_id IS NOT NULL;
-- the visits dated in a window, with their customers (the nightly run, the dashboard)
CREATE INDEX web_sessions_started_at_idx ON web_sessions (started_at) INCLUDE (customer_id);
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
    'Internal notes on customers. System notes, written by event handlers, have no author.';
CREATE INDEX customer_notes_customer_id_created_at_idx ON customer_notes (customer_id, created_at DESC);
CREATE INDEX customer_notes_author_id_idx ON customer_notes (author_id);
CREATE INDEX customer_notes_type_idx ON customer_notes (type);
CREATE INDEX customer_notes_priority_idx ON customer_notes (priority);
CREATE INDEX customer_notes_created_at_idx ON customer_notes (created_at);
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
)
-- the nightly recalculation rewrites every row: leave room on each page so
-- that rows whose indexed columns did not change are updated HOT
WITH (fillfactor = 70);
COMMENT ON TABLE customer_analytics IS
    'Per-customer analytics, the materialised cache of the scoring engine; last_calculated_at says how fresh a row is. Rates are fractions in [0,1]. predicted_ltv is the design''s column and stays NULL: the CLV model''s predictions, predictedLtv among them, are computed when read, from customer_clv and the fit in force (docs/clv.md).';
COMMENT ON COLUMN customer_analytics.days_since_last_order IS
    'As of last_calculated_at. Reads never use it: they measure days since last_order_date at query time.';
CREATE INDEX customer_analytics_churn_risk_score_idx ON customer_analytics (churn_risk_score, customer_id);
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
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- the segment language (docs/segments.md), ANDed with criteria
    query           text CHECK (length(query) <= 10000),
    reference_depth integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE customer_segments IS
    'Rule-based and system segments. System segments (is_system) are created by the extension with fixed ids and are not dumped.';
COMMENT ON COLUMN customer_segments.reference_depth IS
    'How deep the segment''s references to other segments go (segment = ''name''): 0 for none; segments are evaluated in this order (set_segment_depths).';
CREATE UNIQUE INDEX customer_segments_name_key ON customer_segments (lower(name));
CREATE INDEX customer_segments_is_active_idx ON customer_segments (is_active);
CREATE TABLE customer_segment_assignments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    segment_id   uuid NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    assigned_by  assignment_source NOT NULL DEFAULT 'system',
    expires_at   timestamptz,
    UNIQUE (customer_id, segment_id)
);
COMMENT ON TABLE customer_segment_assignments IS 'Membership of customers in segments; expired rows are removed by a scheduled job.';
-- a segment's members in force from the index alone (segment = 'name')
CREATE INDEX customer_segment_assignments_segment_id_idx ON customer_segment_assignments (segment_id)
    INCLUDE (customer_id, expires_at);
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
COMMENT ON TABLE customer_insights IS 'Saved insights of the last analytics calculation of each customer.';
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
COMMENT ON COLUMN customer_status_history.actor_id IS
    'The acting user (current_actor()); not a foreign key, so a service account unknown to users can act.';
CREATE INDEX customer_status_history_customer_id_idx ON customer_status_history (customer_id, changed_at DESC);
CREATE TABLE analytics_queue (
    customer_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL DEFAULT 'order',
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)
);
COMMENT ON TABLE analytics_queue IS 'Customers whose analytics are stale, drained by process_analytics_queue() with FOR UPDATE SKIP LOCKED.';
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
-- a customer's segment and churn events, for the timeline (timeline.sql)
CREATE INDEX event_outbox_timeline_idx ON event_outbox (customer_id, created_at)
    WHERE event_type IN ('customer.segment_entered', 'customer.segment_left', 'customer.churn_detected');
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
    value_type     text NOT NULL CHECK (value_type IN ('numeric', 'integer', 'timezone', 'text', 'choice')),
    default_value  text NOT NULL,
    min_value      numeric,
    max_value      numeric,
    description    text NOT NULL,
    choices        text[] CHECK ((value_type = 'choice') = (choices IS NOT NULL))
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

CREATE TABLE rfm_breakpoints (
    id           bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    as_of        timestamptz NOT NULL,
    recency      double precision[] NOT NULL CHECK (cardinality(recency) = 4),
    frequency    double precision[] NOT NULL CHECK (cardinality(frequency) = 4),
    monetary     double precision[] NOT NULL CHECK (cardinality(monetary) = 4),
    customers    bigint NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE rfm_breakpoints IS
    'Quintile breakpoints (20/40/60/80th percentiles) of minus days since the last order, completed orders and spend over the customers with a completed order, as of each full recalculation; single-customer calculations use the latest.';

-- customer_list -------------------------------------------------------------
CREATE TABLE customer_list (
    customer_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL,
    full_name         text NOT NULL,
    email             text NOT NULL,
    status            user_status NOT NULL,
    last_login_at     timestamptz,
    segment           lifecycle_segment NOT NULL DEFAULT 'new',
    total_spent       numeric(15,2) NOT NULL DEFAULT 0,
    total_orders      integer NOT NULL DEFAULT 0,
    last_order_date   timestamptz,
    churn_risk_score  numeric(3,2) NOT NULL DEFAULT 0,
    -- read by segments (sql/functions/segment_language.sql) and the list's rfm_group filter
    gender               gender,
    date_of_birth        date,
    province_key         text,
    average_order_value  numeric(15,2) NOT NULL DEFAULT 0,
    engagement_score     numeric(3,2) NOT NULL DEFAULT 0,
    total_sessions       integer NOT NULL DEFAULT 0,
    bounce_rate          numeric(5,4) NOT NULL DEFAULT 0,
    conversion_rate      numeric(5,4) NOT NULL DEFAULT 0,
    rfm_score            char(3),
    rfm_group            text,
    category_keys        text[] NOT NULL DEFAULT '{}',
    brand_keys           text[] NOT NULL DEFAULT '{}',
    email_consent        consent_status NOT NULL DEFAULT 'not_asked',
    sms_consent          consent_status NOT NULL DEFAULT 'not_asked',
    -- search_key() of the user: a frequent search term is tested on the row
    -- (customer_filter); no index, and its statistics say how frequent
    search_key           text NOT NULL
)
-- the nightly run rewrites the rows of the customers whose analytics
-- changed: room on each page keeps the new versions near the old ones
-- (and HOT when no indexed column changed), as in customer_analytics
WITH (fillfactor = 70);
COMMENT ON TABLE customer_list IS
    'The filter and sort columns of the customer list (get_customers) and the attributes segments read, one row per customer, copied from users and customer_analytics by their triggers (customer_list_rows() defines every column), so that every filter mix and sort is answered by the indexes of one table and a segment by one scan (the trigram index of the search stays on users: here it would be rewritten with every change of the analytics; search_key, unindexed, tests a frequent term row by row). province_key is the current province, folded; category_keys and brand_keys the favourites, folded.';
CREATE INDEX customer_list_created_at_idx ON customer_list (created_at, customer_id);
CREATE INDEX customer_list_full_name_idx ON customer_list (full_name, customer_id);
CREATE INDEX customer_list_email_idx ON customer_list (email, customer_id);
CREATE INDEX customer_list_last_login_at_asc_idx ON customer_list (last_login_at ASC NULLS LAST, customer_id);
CREATE INDEX customer_list_last_login_at_desc_idx ON customer_list (last_login_at DESC NULLS LAST, customer_id DESC);
CREATE INDEX customer_list_total_spent_idx ON customer_list (total_spent, customer_id);
CREATE INDEX customer_list_total_orders_idx ON customer_list (total_orders, customer_id);
CREATE INDEX customer_list_last_order_date_asc_idx ON customer_list (last_order_date ASC NULLS LAST, customer_id);
CREATE INDEX customer_list_last_order_date_desc_idx ON customer_list (last_order_date DESC NULLS LAST, customer_id DESC);
CREATE INDEX customer_list_churn_risk_score_idx ON customer_list (churn_risk_score, customer_id);
CREATE INDEX customer_list_segment_created_at_idx ON customer_list (segment, created_at, customer_id);
CREATE INDEX customer_list_segment_total_spent_idx ON customer_list (segment, total_spent, customer_id);
CREATE INDEX customer_list_status_created_at_idx ON customer_list (status, created_at, customer_id);
CREATE INDEX customer_list_status_total_spent_idx ON customer_list (status, total_spent, customer_id);
CREATE INDEX customer_list_province_key_idx ON customer_list (province_key, customer_id);
CREATE INDEX customer_list_date_of_birth_idx ON customer_list (date_of_birth, customer_id);

-- who anonymised whom, when and why (privacy.sql); no personal data: the
-- reason is redacted of the customer's
CREATE TABLE customer_anonymizations (
    customer_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    anonymized_at  timestamptz NOT NULL DEFAULT now(),
    actor_id       uuid,
    reason         text NOT NULL CHECK (length(reason) <= 10000),
    scrubbed       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(scrubbed) = 'object')
);
COMMENT ON TABLE customer_anonymizations IS
    'Every anonymisation (anonymize_customer): the customer, when, the acting user (not a foreign key), the reason with the customer''s personal data redacted, and how many rows were scrubbed. It holds no personal data.';

-- every export of personal data (privacy.sql; the customer export,
-- export.sql): who, when, what; never the data itself
CREATE TABLE export_log (
    id           bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    exported_at  timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    kind         text NOT NULL CHECK (kind IN ('customer_data', 'customers')),
    customer_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
COMMENT ON TABLE export_log IS
    'Every export of personal data: when, the acting user (not a foreign key), the kind (customer_data: export_customer_data), the customer, and details without personal data.';
CREATE INDEX export_log_exported_at_idx ON export_log (exported_at);

-- bulk imports (docs/onboarding.md)
CREATE TABLE imports (
    id            bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    kind          text NOT NULL CHECK (kind IN ('customers', 'orders', 'addresses', 'sessions')),
    source        text NOT NULL,
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    rows_total    bigint NOT NULL DEFAULT 0,
    rows_done     bigint NOT NULL DEFAULT 0,
    inserted      bigint NOT NULL DEFAULT 0,
    updated       bigint NOT NULL DEFAULT 0,
    unchanged     bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    next_block    bigint NOT NULL DEFAULT 0,
    actor_id      uuid,
    session_role  text NOT NULL,
    error         text
);
COMMENT ON TABLE imports IS
    'Every bulk import (docs/onboarding.md): kind, the staging table, status, progress (rows done of rows total, committed chunk by chunk), what happened to the rows, where it resumes (next_block of the staging table), who ran it.';
CREATE INDEX imports_source_idx ON imports (kind, source) WHERE status = 'running';
CREATE TABLE import_rejects (
    import_id     bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_ref       text NOT NULL,
    field         text,
    sqlstate      text NOT NULL,
    message       text NOT NULL,
    raw           jsonb NOT NULL,
    PRIMARY KEY (import_id, row_ref)
);
COMMENT ON TABLE import_rejects IS
    'The rows an import refused: the row (its position in the staging table), the field, SQLSTATE and message of the refusal, and the raw values. They hold the personal data of the row: anonymize_customer redacts them, delete_import removes them.';

-- duplicates and merges (docs/duplicates.md)
CREATE TABLE customer_merges (
    merged_id     uuid PRIMARY KEY,
    survivor_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_id   text,
    merged_at     timestamptz NOT NULL DEFAULT now(),
    actor_id      uuid,
    moved         jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE customer_merges IS
    'Every customer merged into another (merge_customers, docs/duplicates.md): the merged id and the shop''s id it had, both resolving to the survivor (the survivor of a later merge, when it was merged in turn), when, the acting user (not a foreign key), what moved.';
CREATE INDEX customer_merges_survivor_id_idx ON customer_merges (survivor_id);
CREATE UNIQUE INDEX customer_merges_external_id_key ON customer_merges (external_id) WHERE external_id IS NOT NULL;
CREATE TABLE duplicate_candidates (
    customer_a  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_b  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reasons     text[] NOT NULL,
    score       numeric(4, 3) NOT NULL CHECK (score BETWEEN 0 AND 1),
    found_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_a, customer_b),
    CHECK (customer_a < customer_b)
);
COMMENT ON TABLE duplicate_candidates IS
    'The pairs of customers who are probably one person, as refresh_duplicate_candidates last found them: the reasons and a score.';
CREATE INDEX duplicate_candidates_score_idx ON duplicate_candidates (score DESC, customer_a, customer_b);
CREATE INDEX duplicate_candidates_customer_b_idx ON duplicate_candidates (customer_b);
CREATE TABLE duplicate_dismissals (
    customer_a    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_b    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    dismissed_at  timestamptz NOT NULL DEFAULT now(),
    actor_id      uuid,
    PRIMARY KEY (customer_a, customer_b),
    CHECK (customer_a < customer_b)
);
COMMENT ON TABLE duplicate_dismissals IS
    'The pairs an admin marked as not the same person (dismiss_duplicate): never candidates again.';
CREATE INDEX duplicate_dismissals_customer_b_idx ON duplicate_dismissals (customer_b);

-- attached sources (docs/onboarding.md)
CREATE TABLE sources (
    source        regclass PRIMARY KEY,
    kind          text NOT NULL UNIQUE CHECK (kind IN ('customers', 'orders', 'order_items')),
    mapping       jsonb NOT NULL,
    on_reject     text NOT NULL CHECK (on_reject IN ('refuse', 'record')),
    import_id     bigint NOT NULL REFERENCES imports (id),
    attached_at   timestamptz NOT NULL DEFAULT now(),
    actor_id      uuid
);
COMMENT ON TABLE sources IS
    'The shop''s own tables attached with attach_source (docs/onboarding.md): the table, the kind it holds, the mapping of our fields to its columns, what a change our rules refuse does (refuse the shop''s write, or record it in import_rejects under import_id and let it through), who attached it and when.';

-- saved views of the customer list (docs/reference.md, Saved views)
CREATE TABLE customer_views (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    filters     jsonb NOT NULL CHECK (jsonb_typeof(filters) = 'object'),
    sort_by     text,
    sort_order  text CHECK (sort_order IN ('ASC', 'DESC')),
    is_shared   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customer_views IS
    'Saved views of the customer list: a staff member''s named filters (the keys of customer_filter_keys() but the sort) and sort, private to their owner or shared with the team; get_customers and export_customers apply one with view_id.';
CREATE UNIQUE INDEX customer_views_owner_name_key ON customer_views (owner_id, lower(name));
CREATE INDEX customer_views_shared_idx ON customer_views (lower(name)) WHERE is_shared;

-- customer tags (sql/functions/tags.sql): a table of their own, so that
-- tagging 100,000 customers writes 100,000 narrow rows and leaves users and
-- customer_list (and their indexes) alone
CREATE TABLE customer_tags (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    customer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tag_key      text NOT NULL,
    tag          text NOT NULL CHECK (length(tag) BETWEEN 1 AND 50),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, tag_key)
);
COMMENT ON TABLE customer_tags IS
    'The shop''s labels on its customers (add_customer_tags), one row per customer and tag: the tag as first spelled, its folded key (case and accents: tag_key, unique per customer), in the order added (id); at most 20 per customer.';
CREATE INDEX customer_tags_tag_key_idx ON customer_tags (tag_key, customer_id);

-- marketing consent (sql/functions/consent.sql): every record, oldest kept
CREATE TABLE marketing_consents (
    id            bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    customer_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel       text NOT NULL CHECK (channel IN ('email', 'sms')),
    status        consent_status NOT NULL,
    source        text CHECK (length(source) BETWEEN 1 AND 200),
    consented_at  timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    actor_id      uuid
);
COMMENT ON TABLE marketing_consents IS
    'Every record of a customer''s marketing consent per channel (e-mail, SMS): the status, when the customer gave or withdrew it (consented_at), from where (source: a sign-up form, the shop''s counter, an import), when it was recorded and by whom; the latest by consented_at is in force (users.email_consent, users.sms_consent). What a shop shows when asked under the personal-data law; an anonymised customer keeps only the withdrawals, without their source.';
CREATE INDEX marketing_consents_customer_idx ON marketing_consents (customer_id, channel, consented_at DESC, id DESC);

-- bulk actions (sql/functions/bulk.sql): one action on many customers
CREATE TABLE bulk_actions (
    id           bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    action       text NOT NULL CHECK (action IN ('add_tags', 'remove_tags', 'assign_segment', 'remove_from_segment',
                                                 'add_note', 'set_status')),
    target       jsonb NOT NULL CHECK (jsonb_typeof(target) = 'object'),
    params       jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded')),
    total        bigint NOT NULL,
    applied      bigint NOT NULL DEFAULT 0,
    unchanged    bigint NOT NULL DEFAULT 0,
    refused      bigint NOT NULL DEFAULT 0,
    actor_id     uuid,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
COMMENT ON TABLE bulk_actions IS
    'Bulk actions (start_bulk_action): the action, the customers it was started on (target: the list''s filters, a saved view or a segment, as given), its parameters, and its progress: how many customers in all, applied, unchanged and refused; running until every customer is done (run_bulk_action).';
-- no foreign keys: start_bulk_action writes the rows in the action's own
-- transaction from customer_list (a check per row would double its time for
-- 100,000 customers), and a customer deleted by a merge while the action
-- runs stays listed, to be counted as unchanged
CREATE TABLE bulk_action_items (
    action_id    bigint NOT NULL,
    customer_id  uuid NOT NULL,
    outcome      text CHECK (outcome IN ('applied', 'unchanged', 'refused')),
    sqlstate     text,
    reason       text,
    PRIMARY KEY (action_id, customer_id)
);
COMMENT ON TABLE bulk_action_items IS
    'The customers of a bulk action (bulk_actions.id), fixed when it starts: what happened to each (NULL: not yet; unchanged for a customer merged into another meanwhile), and for a refusal its SQLSTATE and reason (our message: ids and rules, no personal value).';
CREATE INDEX bulk_action_items_pending_idx ON bulk_action_items (action_id, customer_id) WHERE outcome IS NULL;

-- who is acting (docs/operations.md, Who is acting): the login roles that
-- act as a staff member or an admin
CREATE TABLE user_logins (
    login_role  text PRIMARY KEY CHECK (length(login_role) BETWEEN 1 AND 63),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at   timestamptz NOT NULL DEFAULT now(),
    linked_by   uuid
);
COMMENT ON TABLE user_logins IS
    'The database login roles that act as a staff member or an admin: a session''s acting user is the one linked to session_user (link_login_role, register_staff). linked_by is the acting user who linked it (not a foreign key).';
CREATE INDEX user_logins_user_id_idx ON user_logins (user_id);

-- the audit log (docs/privacy.md, Audit log): append-only; rows leave only
-- past the retention setting
CREATE TABLE audit_log (
    id            bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    session_role  text NOT NULL,
    db_role       text NOT NULL,
    actor_id      uuid,
    action        text NOT NULL,
    target_type   text,
    target_id     text,
    changes       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(changes) = 'object')
);
COMMENT ON TABLE audit_log IS
    'Every write through the API by staff, admins and the app''s privileged calls, once: when, the login role (session_role), the role acted as (db_role), the acting user (not a foreign key), the function (action), the target and what changed, without personal values. Append-only: no role can change a row, and a row is deleted only past audit.retention_days.';
CREATE INDEX audit_log_occurred_at_idx ON audit_log (occurred_at);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, occurred_at);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id, occurred_at);

-- the CLV model's fits (docs/clv.md): the latest says whether the
-- predictions are in force, or why not
CREATE TABLE clv_models (
    id                  bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    fitted_at           timestamptz NOT NULL DEFAULT now(),
    as_of               timestamptz NOT NULL,
    customers           integer NOT NULL CHECK (customers >= 0),
    repeat_customers    integer NOT NULL CHECK (repeat_customers >= 0),
    history_days        integer CHECK (history_days >= 0),
    bgnbd               jsonb CHECK (jsonb_typeof(bgnbd) = 'object'),
    gamma_gamma         jsonb CHECK (jsonb_typeof(gamma_gamma) = 'object'),
    usable              boolean NOT NULL,
    reason              text CHECK (usable = (reason IS NULL)),
    fit_seconds         numeric(10,3),
    summarised_customers    integer,
    summary_seconds       numeric(10,3),
    time_zone           text
);
COMMENT ON TABLE clv_models IS
    'Every fit of the CLV model (fit_clv_model): as of when, the customers with a completed order, those with three or more purchase days, the days of history, the BG/NBD and Gamma-Gamma fits (bgnbd_fit and gamma_gamma_fit results), whether it is usable and, if not, why; the latest row is the model in force.';
COMMENT ON COLUMN clv_models.time_zone IS 'The shop''s time zone (shop_timezone) whose days the fit counted: the nightly run fits on the stored summaries only when it is still the shop''s.';
CREATE INDEX clv_models_fitted_at_idx ON clv_models (fitted_at);
-- each customer's purchase summary for the CLV model, as of the last fit
-- or the customer's last order: the predictions are computed from it and
-- the fit in force when they are read (clv_model.sql)
CREATE TABLE customer_clv (
    customer_id                 uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    as_of                       timestamptz NOT NULL,
    frequency                   integer NOT NULL CHECK (frequency >= 0),
    recency                     integer NOT NULL CHECK (recency >= 0),
    first_purchase              date NOT NULL,
    monetary_value              numeric(15,2) CHECK (monetary_value >= 0)
);
COMMENT ON TABLE customer_clv IS
    'Each customer''s purchase summary for the CLV model as of as_of, in days of the shop''s time zone: repeat purchase days, days from the first purchase day to the last, the first purchase day, the mean amount of the repeat purchase days; the predictions are computed from it with the fit in force when read (docs/clv.md). No row: no completed order.';

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
SELECT pg_catalog.pg_extension_config_dump('customer_anonymizations', '');
SELECT pg_catalog.pg_extension_config_dump('export_log', '');
SELECT pg_catalog.pg_extension_config_dump('export_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('clv_models', '');
SELECT pg_catalog.pg_extension_config_dump('clv_models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('customer_clv', '');
SELECT pg_catalog.pg_extension_config_dump('settings', '');
SELECT pg_catalog.pg_extension_config_dump('rfm_breakpoints', '');
SELECT pg_catalog.pg_extension_config_dump('rfm_breakpoints_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('customer_list', '');
SELECT pg_catalog.pg_extension_config_dump('user_logins', '');
SELECT pg_catalog.pg_extension_config_dump('imports', '');
SELECT pg_catalog.pg_extension_config_dump('imports_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('import_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('sources', '');
SELECT pg_catalog.pg_extension_config_dump('customer_views', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tags', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tags_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('marketing_consents', '');
SELECT pg_catalog.pg_extension_config_dump('marketing_consents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bulk_actions', '');
SELECT pg_catalog.pg_extension_config_dump('bulk_actions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bulk_action_items', '');
SELECT pg_catalog.pg_extension_config_dump('customer_merges', '');
SELECT pg_catalog.pg_extension_config_dump('duplicate_candidates', '');
SELECT pg_catalog.pg_extension_config_dump('duplicate_dismissals', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log_id_seq', '');
