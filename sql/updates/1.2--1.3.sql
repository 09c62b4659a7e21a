-- customer_mgmt 1.2 -> 1.3, the hand-written part: only what changes tables,
-- types or data, or removes and moves functions.  The Makefile's update rule
-- appends every function file (CREATE OR REPLACE), 1.2--1.3.post.sql and
-- privileges.sql.

-- the internal schema (sql/schema/roles.sql)
CREATE SCHEMA customer_mgmt_internal;
COMMENT ON SCHEMA customer_mgmt_internal IS
    'customer_mgmt internals that roles execute on behalf of the API; not API: do not expose it through PostgREST or PostGraphile.';
ALTER FUNCTION finish_job_run(bigint, bigint, text) SET SCHEMA customer_mgmt_internal;
DROP FUNCTION begin_full_recalculation(timestamptz, integer, text, boolean);
ALTER FUNCTION recalculate_slice(bigint, integer) SET SCHEMA customer_mgmt_internal;

-- ids are uuid: the text versions go (PostgREST refuses two functions of the
-- same name and argument names, PGRST203)
DROP FUNCTION get_customer(text);
DROP FUNCTION get_customer_orders(text, text, timestamptz, timestamptz, text, integer, integer);
DROP FUNCTION update_customer_status(text, text, text);
DROP FUNCTION calculate_customer_analytics(text, timestamptz);
DROP FUNCTION find_customer(text);
DROP FUNCTION check_uuid(text, text);
-- get_customers gains segment_id and rfm_group
DROP FUNCTION get_customers(text, text, text, timestamptz, timestamptz, numeric, numeric, integer, integer,
                            text, text, integer, integer, boolean, timestamptz);

-- a login opens a visit with no page view (docs/analytics.md): 1.0-1.2
-- recorded each login as a one-page session of 0 seconds, which counted as a
-- bounce.  Such rows become what a login records now (a browsing session of
-- 0 seconds is what no tracker writes), and their customers are queued for
-- recalculation.
ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_page_views_check,
    ADD CONSTRAINT web_sessions_page_views_check CHECK (page_views BETWEEN 0 AND 100000);
COMMENT ON TABLE web_sessions IS
    'Visits of customers. A login opens a visit with no page view (page_views 0); a browsing session has at least one, and with exactly one it is a bounce; converted means it ended in an order. Bounce and conversion rates count browsing sessions only (docs/analytics.md).';
WITH logins AS (
    UPDATE web_sessions w SET page_views = 0
     WHERE w.duration_seconds = 0 AND w.page_views = 1 AND NOT w.converted
    RETURNING w.customer_id)
INSERT INTO analytics_queue (customer_id, reason)
SELECT DISTINCT customer_id, 'logins recorded as visits (1.3)' FROM logins
ON CONFLICT (customer_id) DO NOTHING;

-- the list's narrow table (sql/schema/tables.sql); 1.2--1.3.post.sql fills
-- it (ensure_analytics_rows) and creates its triggers, after their
-- functions.  The list no longer reads the indexes it replaces: those of
-- users, and those of customer_analytics but the churn risk's (the
-- dashboard's at-risk list); the nightly run no longer maintains them.
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
    brand_keys           text[] NOT NULL DEFAULT '{}'
)
-- the nightly run rewrites the rows of the customers whose analytics
-- changed: room on each page keeps the new versions near the old ones
-- (and HOT when no indexed column changed), as in customer_analytics
WITH (fillfactor = 70);
COMMENT ON TABLE customer_list IS
    'The filter and sort columns of the customer list (get_customers) and the attributes segments read, one row per customer, copied from users and customer_analytics by their triggers (customer_list_rows() defines every column), so that every filter mix and sort is answered by the indexes of one table and a segment by one scan (the search stays on users: its trigram index would be rewritten with every change of the analytics). province_key is the current province, folded; category_keys and brand_keys the favourites, folded.';
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
SELECT pg_catalog.pg_extension_config_dump('customer_list', '');
DROP INDEX users_customers_status_created_at_idx, users_customers_full_name_idx, users_customers_last_login_at_asc_idx,
    users_customers_last_login_at_desc_idx, users_customers_email_idx;
DROP INDEX customer_analytics_total_spent_idx, customer_analytics_total_orders_idx, customer_analytics_segment_idx,
    customer_analytics_last_order_date_asc_idx, customer_analytics_last_order_date_desc_idx;

-- the nightly run recomputes only what changed (docs/architecture.md, "The
-- nightly run"): it finds the orders and visits dated since the previous
-- run by these indexes (the dashboard's counts read them too); the triggers of 1.2--1.3.post.sql queue the other
-- changes.  The old signatures go.
CREATE INDEX orders_completed_order_date_idx ON orders (order_date) INCLUDE (customer_id) WHERE status = 'completed';
CREATE INDEX web_sessions_started_at_idx ON web_sessions (started_at) INCLUDE (customer_id);
-- the dashboard counts churned customers, and the CLV summary reads the
-- completed orders, from indexes alone (sql/schema/tables.sql)
DROP INDEX orders_customer_id_order_date_idx;
CREATE INDEX orders_customer_id_order_date_idx ON orders (customer_id, order_date DESC) INCLUDE (status, total_amount);
DROP FUNCTION recalculate_all_analytics(timestamptz, integer);
DROP PROCEDURE recalculate_all_analytics_batched(timestamptz, integer);
DROP FUNCTION write_analytics(timestamptz, uuid, uuid, rfm_breakpoints);
DROP FUNCTION analytics_write_lock(boolean, boolean);
DROP FUNCTION customer_stats(timestamptz, uuid, uuid);

-- segments: a query of the segment language beside the criteria
ALTER TABLE customer_segments ADD COLUMN query text CHECK (length(query) <= 10000);
-- customer_count is the members (the count trigger of 1.2--1.3.post.sql keeps it)
UPDATE customer_segments s
   SET customer_count = (SELECT count(*) FROM customer_segment_assignments x WHERE x.segment_id = s.id);

-- a customer's segment and churn events, for the timeline (timeline.sql)
CREATE INDEX event_outbox_timeline_idx ON event_outbox (customer_id, created_at)
    WHERE event_type IN ('customer.segment_entered', 'customer.segment_left', 'customer.churn_detected');

-- anonymisation
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
SELECT pg_catalog.pg_extension_config_dump('customer_anonymizations', '');

-- personal-data exports and a text setting for their retention policy
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
SELECT pg_catalog.pg_extension_config_dump('export_log', '');
SELECT pg_catalog.pg_extension_config_dump('export_log_id_seq', '');
ALTER TABLE setting_definitions DROP CONSTRAINT setting_definitions_value_type_check,
    ADD CONSTRAINT setting_definitions_value_type_check CHECK (value_type IN ('numeric', 'integer', 'timezone', 'text'));
INSERT INTO setting_definitions (name, value_type, default_value, min_value, max_value, description) VALUES
    ('privacy.anonymize_inactive_years', 'integer', '0', 0, 100,
     'Anonymise customers with no registration, login or order in this many years (anonymize_inactive_customers, a daily pg_cron job once schedule_jobs() runs with it set); 0 turns it off.'),
    ('privacy.data_retention_policy', 'text',
     'We keep your account data while your account is open. Orders are kept for as long as accounting law requires, '
     || 'without your name or contact details once your account is anonymised. You may ask us for a copy of your data '
     || 'or to anonymise your account at any time.', NULL, 2000,
     'The data retention policy shown in a personal-data export (export_customer_data), at most 2,000 characters.');

-- the customer export
-- PostgREST 12 answers a function returning a domain named */* with its raw
-- bytes and the headers the function sets (response.headers): the export's
-- file (docs/operations.md; a PostgREST limitation)
CREATE DOMAIN "*/*" AS bytea;
-- (the smart comment gives it a GraphQL name for PostGraphile, which
-- cannot name a type */*)
COMMENT ON DOMAIN "*/*" IS E'@name file\nA file of any media type, for PostgREST: export_customers returns it and sets Content-Type and Content-Disposition.';

-- the predicted lifetime value: the model's fits, each customer's
-- predictions, and its settings (sql/schema/tables.sql, seed.sql)
COMMENT ON TYPE user_status IS 'Account status of a user (docs/reference.md, update_customer_status).';
COMMENT ON TYPE note_type IS 'Note types; system notes are written by the event handlers.';
COMMENT ON TYPE lifecycle_segment IS 'Lifecycle segment of a customer (docs/analytics.md).';
-- the tables' comments point at the documentation in the repository
COMMENT ON TABLE customer_notes IS
    'Internal notes on customers. System notes, written by event handlers, have no author.';
COMMENT ON TABLE customer_segments IS
    'Rule-based and system segments. System segments (is_system) are created by the extension with fixed ids and are not dumped.';
COMMENT ON TABLE customer_insights IS 'Saved insights of the last analytics calculation of each customer.';
COMMENT ON TABLE customer_segment_assignments IS 'Membership of customers in segments; expired rows are removed by a scheduled job.';
COMMENT ON TABLE customer_analytics IS
    'Per-customer analytics, the materialised cache of the scoring engine; last_calculated_at says how fresh a row is. Rates are fractions in [0,1]. predicted_ltv is the design''s column and stays NULL: the CLV model''s predictions, predictedLtv among them, are computed when read, from customer_clv and the fit in force (docs/clv.md).';
-- one customer's CLV predictions (clv_predictions, docs/clv.md)
CREATE TYPE clv_prediction AS (probability_alive double precision, expected_orders_365 double precision,
                               churn_probability double precision, predicted_ltv double precision,
                               expected_next_order_date date, average_days_between_orders double precision,
                               own_history_weight double precision, status text);
COMMENT ON TYPE clv_prediction IS 'One customer''s predictions under the CLV model, the share of the predicted purchase rate that comes from the customer''s own history, and the status (predicted, history_too_short, no_completed_order, no_usable_model, not_computable; docs/clv.md).';
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
    summary_seconds       numeric(10,3)
);
COMMENT ON TABLE clv_models IS
    'Every fit of the CLV model (fit_clv_model): as of when, the customers with a completed order, those with three or more purchase days, the days of history, the BG/NBD and Gamma-Gamma fits (bgnbd_fit and gamma_gamma_fit results), whether it is usable and, if not, why; the latest row is the model in force.';
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
SELECT pg_catalog.pg_extension_config_dump('clv_models', '');
SELECT pg_catalog.pg_extension_config_dump('clv_models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('customer_clv', '');
INSERT INTO setting_definitions (name, value_type, default_value, min_value, max_value, description) VALUES
    ('clv.min_customers', 'integer', '500', 1, NULL,
     'The CLV model is fitted only with at least this many customers with a completed order (Klaviyo asks for 500).'),
    ('clv.min_history_days', 'integer', '180', 0, NULL,
     '... and at least this many days from the first completed order to the fit.'),
    ('clv.min_repeat_customers', 'integer', '10', 1, NULL,
     '... and at least this many customers who bought on three days or more.'),
    ('clv.discount_rate', 'numeric', '0', 0, 1,
     'Annual discount rate of the predicted spend of the next 365 days (predictedLtv), monthly compounded; 0: none.'),
    ('clv.min_customer_days', 'integer', '30', 0, NULL,
     'A customer''s predictions are shown from this many days after the first completed order on (before, they would be the shop''s average: predictionStatus history_too_short).');
