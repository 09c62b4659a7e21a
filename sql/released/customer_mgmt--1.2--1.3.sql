-- customer_mgmt 1.2 to 1.3: update script, built by make from sql/ (do not edit).
\echo Use "ALTER EXTENSION customer_mgmt UPDATE TO '1.3'" to load this file. \quit

-- sql/updates/1.2--1.3.sql
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

-- sql/functions/search.sql
-- customer_mgmt: Search and normalisation: the C functions that fold text for accent-insensitive
-- search and canonicalise phone numbers (src/searchkey.c, src/phone.c), and the
-- LIKE pattern of a search text.  Runs before the tables: an index uses them.

CREATE OR REPLACE FUNCTION search_fold(input text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_fold'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION search_fold(text) IS
    'Accent- and case-folded form of a text, as used by customer search: search_fold(''Nguyễn Văn Đức'') = ''nguyen van duc''.';

CREATE OR REPLACE FUNCTION search_key(full_name text, email text, phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION search_key(text, text, text) IS
    'Indexed search key of a user: folded name, e-mail and phone separated by tabs.';

CREATE OR REPLACE FUNCTION normalize_phone(phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_normalize_phone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION normalize_phone(text) IS
    'Canonical national form (0912345678) of a Vietnamese phone number, or NULL when the text is not one.';

-- Escape LIKE's wildcards in user input.
CREATE OR REPLACE FUNCTION like_escape(input text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(input, '\', '\\'), '%', '\%'), '_', '\_')
$$;
COMMENT ON FUNCTION like_escape(text) IS 'Escapes \, % and _ so that user input matches literally in LIKE.';

-- The LIKE pattern of a search text over search_key(): a phone-like text
-- ("0912 345 678", "+84 912 345 678") matches the canonical phone digits,
-- anything else its folded form.
CREATE OR REPLACE FUNCTION search_pattern(search text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := btrim(search);
    digits text;
BEGIN
    IF q IS NULL OR q = '' THEN
        RETURN NULL;
    END IF;
    IF length(q) > 200 THEN
        PERFORM customer_mgmt.raise_invalid('search', 'must be at most 200 characters long', q);
    END IF;
    digits := regexp_replace(q, '[^0-9]', '', 'g');
    IF q ~ '^[0-9 ().+-]+$' AND length(digits) >= 3 THEN
        IF q ~ '^[ (]*\+' THEN
            IF digits !~ '^84' THEN
                RETURN '%' || digits || '%';        -- not Vietnamese: cannot match a canonical number
            END IF;
            digits := '0' || ltrim(substr(digits, 3), '0');
        END IF;
        RETURN '%' || digits || '%';
    END IF;
    RETURN '%' || customer_mgmt.like_escape(customer_mgmt.search_fold(q)) || '%';
END
$$;
COMMENT ON FUNCTION search_pattern(text) IS
    'The LIKE pattern over search_key() for a search text: phone-like text matches canonical phone digits, other text its folded form; NULL for no search.';

-- sql/functions/common.sql
-- customer_mgmt: Shared helpers of every API function: errors (22023 naming the field, PT404),
-- argument checks, pagination, the customer lookup, the updated_at trigger and
-- the restore guard of the triggers.

-- touch updated_at on every UPDATE that does not set it itself
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
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

-- Raise SQLSTATE 22023 for a bad argument, naming the field in DETAIL and in
-- the error's column field.  The offending value is quoted, cut to 80 chars.
CREATE OR REPLACE FUNCTION raise_invalid(field text, problem text, value text DEFAULT NULL, hint text DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION raise_not_found(kind text, id text) RETURNS void
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
CREATE OR REPLACE FUNCTION check_text(field text, value text, max_length integer, required boolean DEFAULT true)
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
CREATE OR REPLACE FUNCTION check_past_time(field text, value timestamptz) RETURNS timestamptz
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
CREATE OR REPLACE FUNCTION check_amount(field text, value numeric) RETURNS numeric
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
CREATE OR REPLACE FUNCTION check_phone(field text, value text, required boolean) RETURNS text
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
CREATE OR REPLACE FUNCTION check_province(field text, value text, required boolean) RETURNS text
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
CREATE OR REPLACE FUNCTION check_enum(field text, value text, allowed anyenum) RETURNS anyenum
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
CREATE OR REPLACE FUNCTION lock_customer(customer_id uuid) RETURNS void
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

-- An e-mail address, trimmed, or 22023 naming the field.
CREATE OR REPLACE FUNCTION check_email(field text, value text) RETURNS text
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

-- Whether a dump is being restored: every script pg_dump writes (and so
-- every pg_restore) empties search_path before it loads data, which no
-- application session does; customer_mgmt.restoring = on says it explicitly.
-- Triggers skip their side effects then: the dump already holds them.
-- No SET clause here or in the triggers that call it: they must see the
-- caller's search_path.
CREATE OR REPLACE FUNCTION restoring() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.current_setting('search_path') = ''
        OR COALESCE(pg_catalog.current_setting('customer_mgmt.restoring', true), '') = 'on'
$$;
COMMENT ON FUNCTION restoring() IS
    'True while a dump is restored (search_path is empty, as pg_dump''s scripts set it, or customer_mgmt.restoring = on): triggers skip their side effects.';

CREATE OR REPLACE FUNCTION check_page(page integer, page_size integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF page IS NULL OR page < 1 OR page > 1000000 THEN
        PERFORM customer_mgmt.raise_invalid('page', 'must be from 1 to 1000000', page::text);
    END IF;
    IF page_size IS NULL OR page_size < 1 OR page_size > 100 THEN
        PERFORM customer_mgmt.raise_invalid('page_size', 'must be from 1 to 100', page_size::text);
    END IF;
END
$$;
COMMENT ON FUNCTION check_page(integer, integer) IS 'Internal: checks page (1..1000000) and page_size (1..100), or raises 22023.';

CREATE OR REPLACE FUNCTION check_sort_order(sort_order text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF upper(btrim(sort_order)) IN ('ASC', 'DESC') THEN
        RETURN upper(btrim(sort_order));
    END IF;
    PERFORM customer_mgmt.raise_invalid('sort_order', 'must be ASC or DESC', sort_order);
END
$$;
COMMENT ON FUNCTION check_sort_order(text) IS 'Internal: ASC or DESC (case-insensitive), or raises 22023.';

CREATE OR REPLACE FUNCTION check_time_range(from_field text, from_value timestamptz, to_field text, to_value timestamptz)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT isfinite(from_value) THEN
        PERFORM customer_mgmt.raise_invalid(from_field, 'must be a finite time', from_value::text);
    END IF;
    IF NOT isfinite(to_value) THEN
        PERFORM customer_mgmt.raise_invalid(to_field, 'must be a finite time', to_value::text);
    END IF;
    IF from_value > to_value THEN
        PERFORM customer_mgmt.raise_invalid(to_field, format('must not be before %s', from_field), to_value::text);
    END IF;
END
$$;
COMMENT ON FUNCTION check_time_range(text, timestamptz, text, timestamptz) IS
    'Internal: checks an optional time range is finite and ordered, or raises 22023.';

-- The paginated envelope of every list (docs/reference.md).
CREATE OR REPLACE FUNCTION page_envelope(data jsonb, total bigint, page integer, page_size integer,
                              total_is_estimate boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'data', coalesce(data, '[]'::jsonb),
        'total', total,
        'page', page,
        'pageSize', page_size,
        'totalPages', CASE WHEN total = 0 THEN 0 ELSE (total + page_size - 1) / page_size END,
        'totalIsEstimate', total_is_estimate)
$$;
COMMENT ON FUNCTION page_envelope(jsonb, bigint, integer, integer, boolean) IS
    'Internal: {"data", "total", "page", "pageSize", "totalPages", "totalIsEstimate"} of a list.';

-- Whole days from a time to as_of (NULL when the time is NULL).
CREATE OR REPLACE FUNCTION days_between(since timestamptz, as_of timestamptz) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- date_part is float8, extract numeric: the same whole days (an interval is
    -- whole microseconds, which float8 holds exactly at these magnitudes), and
    -- the nightly run evaluates this for every customer
    SELECT CASE WHEN since IS NOT NULL THEN greatest(0, floor(date_part('epoch', as_of - since) / 86400))::integer END
$$;
COMMENT ON FUNCTION days_between(timestamptz, timestamptz) IS
    'Whole days from since to as_of (0 when since is later), NULL when since is NULL.';

-- The planner's row estimate of a query.  EXPLAIN is a utility command,
-- which SPI refuses inside STABLE functions, so the list calls this
-- (VOLATILE, but it writes nothing) only when it needs an estimate.
CREATE OR REPLACE FUNCTION estimate_rows(query text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$;
COMMENT ON FUNCTION estimate_rows(text) IS
    'Internal: the planner''s estimate of the rows a query returns (EXPLAIN); the query must carry its values as quoted literals.';

-- The customer row, or PT404; 22023 when no id is given.  A malformed id
-- never gets here: the uuid parameter makes it PostgreSQL's own 22P02.
CREATE OR REPLACE FUNCTION find_customer(customer_id uuid) RETURNS users
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
BEGIN
    IF customer_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = find_customer.customer_id AND x.role = 'customer';
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', customer_id::text);
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION find_customer(uuid) IS 'Internal: the customer with this id, PT404 when there is none, 22023 when it is NULL.';

-- The as_of of a calculation: a finite time, or 22023 naming as_of.
CREATE OR REPLACE FUNCTION check_as_of(as_of timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM customer_mgmt.raise_invalid('as_of', 'must be a finite time', as_of::text);
    END IF;
    RETURN as_of;
END
$$;
COMMENT ON FUNCTION check_as_of(timestamptz) IS 'Internal: checks the as_of of a calculation is a finite time, or raises 22023.';

-- A date as the integer YYYYMMDD.  Whole years from a birth date to a day,
-- as age() counts them (a birthday on 29 February comes on 1 March), are
-- the difference of the two keys divided by 10,000: segments evaluate it
-- for every customer.
CREATE OR REPLACE FUNCTION date_key(d date) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (date_part('year', d) * 10000 + date_part('month', d) * 100 + date_part('day', d))::integer
$$;
COMMENT ON FUNCTION date_key(date) IS 'Internal: a date as the integer YYYYMMDD; NULL for NULL.';

CREATE OR REPLACE FUNCTION age_years(date_of_birth date, at date) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (customer_mgmt.date_key(at) - customer_mgmt.date_key(date_of_birth)) / 10000
$$;
COMMENT ON FUNCTION age_years(date, date) IS
    'Internal: whole years from a birth date to a day (extract(year FROM age(at, date_of_birth))); NULL when either is NULL.';

-- Age bands of the dashboard and the segments' insights: the band of a
-- birth date at a day (8: unknown), and the bands with their labels.
CREATE OR REPLACE FUNCTION age_band(date_of_birth date, at date) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(width_bucket(customer_mgmt.age_years(date_of_birth, at), ARRAY[18, 25, 35, 45, 55, 65]) + 1, 8)
$$;
COMMENT ON FUNCTION age_band(date, date) IS
    'Internal: the age band (1 under 18, 2 18-24, ... 7 65+, 8 unknown) of a birth date at a day; see age_bands().';

CREATE OR REPLACE FUNCTION age_bands() RETURNS TABLE (ord integer, label text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES (1, 'under 18'), (2, '18-24'), (3, '25-34'), (4, '35-44'), (5, '45-54'), (6, '55-64'), (7, '65+'), (8, 'unknown')
$$;
COMMENT ON FUNCTION age_bands() IS 'Internal: the age bands of age_band(), in order, with their labels.';

-- sql/functions/identity.sql
-- customer_mgmt: Identity: the acting user (PostgREST's JWT subject or customer_mgmt.actor_id)
-- and the calling role (src/actor.c).

CREATE OR REPLACE FUNCTION invoker() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cm_invoker'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION invoker() IS
    'The role the caller acts as (after SET ROLE), unaffected by SECURITY DEFINER.';

-- The acting user: request.jwt.claims ->> 'sub' (PostgREST) or the setting
-- customer_mgmt.actor_id.  NULL when neither is set.
CREATE OR REPLACE FUNCTION current_actor() RETURNS uuid
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

-- sql/functions/settings.sql
-- customer_mgmt: Settings: the shop's thresholds and time zone, read with setting() and
-- changed by admins with set_setting().

-- Settings
CREATE OR REPLACE FUNCTION setting(name text) RETURNS text
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

CREATE OR REPLACE FUNCTION set_setting(name text, value text) RETURNS text
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
    IF def.value_type = 'text' THEN
        v := customer_mgmt.check_text('value', v, coalesce(def.max_value, 2000)::integer);
    ELSIF def.value_type = 'timezone' THEN
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

-- sql/functions/ingestion.sql
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

CREATE OR REPLACE FUNCTION register_customer(
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

CREATE OR REPLACE FUNCTION register_staff(full_name text, email text, role text DEFAULT 'staff') RETURNS uuid
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

CREATE OR REPLACE FUNCTION add_customer_address(
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

-- sql/functions/customers.sql
-- customer_mgmt: The customer API (docs/reference.md, Customers): the list with its filters and sorts,
-- the 360 degree detail, the analytics, the order history and the account status.

-- The list item of a customer (the columns an admin screen shows).
CREATE OR REPLACE FUNCTION customer_list_item(u users, a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', u.id,
        'fullName', u.full_name,
        'email', u.email,
        'phoneNumber', u.phone_number,
        'status', u.status,
        'segment', coalesce(a.segment, 'new'),
        'totalOrders', coalesce(a.total_orders, 0),
        'totalSpent', coalesce(a.total_spent, 0),
        'lastOrderDate', a.last_order_date,
        'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, as_of),
        'churnRiskScore', coalesce(a.churn_risk_score, 0),
        'createdAt', u.created_at,
        'lastLoginAt', u.last_login_at)
$$;
COMMENT ON FUNCTION customer_list_item(users, customer_analytics, timestamptz) IS
    'Internal: the list item of a customer (id, fullName, email, phoneNumber, status, segment, totalOrders, totalSpent, lastOrderDate, daysSinceLastOrder, churnRiskScore, createdAt, lastLoginAt).';

-- The folded names of a favourites array ([{"category": …}, …]), as
-- segments compare them.
CREATE OR REPLACE FUNCTION favorite_keys(favorites jsonb, key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(customer_mgmt.search_fold(e ->> key) ORDER BY n), '{}')
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(favorites) = 'array' THEN favorites END)
           WITH ORDINALITY AS x (e, n)
     WHERE e ->> key IS NOT NULL
$$;
COMMENT ON FUNCTION favorite_keys(jsonb, text) IS
    'Internal: the names under key of a favourites array, folded (case and accents), in order; {} for none.';

-- The list's table (customer_list) follows users and customer_analytics:
-- customer_list_rows() defines every column, and the triggers below copy
-- each change.  A customer's row is inserted with the analytics row
-- (users_after_insert, ensure_analytics_rows); a user who stops being a
-- customer leaves the list.
CREATE OR REPLACE FUNCTION customer_list_rows() RETURNS SETOF customer_list
    LANGUAGE sql STABLE PARALLEL SAFE
    -- no SET clause: inlined, a filter on customer_id reaches the indexes
AS $$
    SELECT u.id, u.created_at, u.full_name, u.email, u.status, u.last_login_at,
           coalesce(a.segment, 'new'), coalesce(a.total_spent, 0), coalesce(a.total_orders, 0), a.last_order_date,
           coalesce(a.churn_risk_score, 0),
           u.gender, u.date_of_birth, customer_mgmt.search_fold(coalesce(p.current_name, u.province)),
           coalesce(a.average_order_value, 0), coalesce(a.engagement_score, 0), coalesce(a.total_sessions, 0),
           coalesce(a.bounce_rate, 0), coalesce(a.conversion_rate, 0), a.rfm_score,
           customer_mgmt.rfm_group(a.rfm_score),
           customer_mgmt.favorite_keys(a.favorite_categories, 'category'),
           customer_mgmt.favorite_keys(a.favorite_brands, 'brand')
      FROM customer_mgmt.users u
      LEFT JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id
      LEFT JOIN customer_mgmt.provinces p ON p.name = u.province
     WHERE u.role = 'customer'
$$;
COMMENT ON FUNCTION customer_list_rows() IS
    'Internal: every customer''s customer_list row as users, customer_analytics and provinces give it now (what the list''s triggers keep the table equal to).';

CREATE OR REPLACE FUNCTION users_list_sync() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.role <> 'customer' THEN
        DELETE FROM customer_mgmt.customer_list l WHERE l.customer_id = OLD.id;
        RETURN NULL;
    END IF;
    PERFORM customer_mgmt.list_row_sync(NEW.id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_list_sync() IS
    'Trigger: copies a customer''s listed columns (name, e-mail, status, registration, last login, gender, birth date, province) into customer_list; a user who is no longer a customer leaves it.';

-- Insert or rewrite a customer's list row from customer_list_rows().
CREATE OR REPLACE FUNCTION list_row_sync(customer_id uuid) RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO customer_mgmt.customer_list AS l
    SELECT * FROM customer_mgmt.customer_list_rows() r WHERE r.customer_id = list_row_sync.customer_id
    ON CONFLICT ON CONSTRAINT customer_list_pkey DO UPDATE
       SET (created_at, full_name, email, status, last_login_at, segment, total_spent, total_orders, last_order_date,
            churn_risk_score, gender, date_of_birth, province_key, average_order_value, engagement_score,
            total_sessions, bounce_rate, conversion_rate, rfm_score, rfm_group, category_keys, brand_keys)
         = (excluded.created_at, excluded.full_name, excluded.email, excluded.status, excluded.last_login_at,
            excluded.segment, excluded.total_spent, excluded.total_orders, excluded.last_order_date,
            excluded.churn_risk_score, excluded.gender, excluded.date_of_birth, excluded.province_key,
            excluded.average_order_value, excluded.engagement_score, excluded.total_sessions, excluded.bounce_rate,
            excluded.conversion_rate, excluded.rfm_score, excluded.rfm_group, excluded.category_keys,
            excluded.brand_keys)
$$;
COMMENT ON FUNCTION list_row_sync(uuid) IS
    'Internal: inserts or rewrites a customer''s customer_list row from customer_list_rows().';

-- Statement-level, with the transition tables: the nightly run updates
-- 100,000s of analytics rows in one statement, and one join updates their
-- list rows (a row trigger ran an UPDATE per row).
CREATE OR REPLACE FUNCTION analytics_list_sync() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE customer_mgmt.customer_list l
       SET segment = n.segment, total_spent = n.total_spent, total_orders = n.total_orders,
           last_order_date = n.last_order_date, churn_risk_score = n.churn_risk_score,
           average_order_value = n.average_order_value, engagement_score = n.engagement_score,
           total_sessions = n.total_sessions, bounce_rate = n.bounce_rate, conversion_rate = n.conversion_rate,
           rfm_score = n.rfm_score, rfm_group = customer_mgmt.rfm_group(n.rfm_score),
           -- the favourites are folded when they change
           category_keys = CASE WHEN n.favorite_categories IS DISTINCT FROM o.favorite_categories
                                THEN customer_mgmt.favorite_keys(n.favorite_categories, 'category')
                                ELSE l.category_keys END,
           brand_keys = CASE WHEN n.favorite_brands IS DISTINCT FROM o.favorite_brands
                             THEN customer_mgmt.favorite_keys(n.favorite_brands, 'brand')
                             ELSE l.brand_keys END
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE l.customer_id = n.customer_id
       AND (o.segment, o.total_spent, o.total_orders, o.last_order_date, o.churn_risk_score, o.average_order_value,
            o.engagement_score, o.total_sessions, o.bounce_rate, o.conversion_rate, o.rfm_score,
            o.favorite_categories, o.favorite_brands, o.customer_id)
           IS DISTINCT FROM
           (n.segment, n.total_spent, n.total_orders, n.last_order_date, n.churn_risk_score, n.average_order_value,
            n.engagement_score, n.total_sessions, n.bounce_rate, n.conversion_rate, n.rfm_score,
            n.favorite_categories, n.favorite_brands, n.customer_id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_list_sync() IS
    'Statement trigger: copies the analytics that the list and segments read (segment, spend, orders, last order, churn risk, order value, engagement, sessions, rates, RFM, favourites) into customer_list for the rows whose values changed.';

-- The list's filters and sort (CustomerQueryDto), checked: the SQL
-- condition over customer_list l, every value a quoted literal, and the
-- ORDER BY.  get_customers and the export share it.
CREATE OR REPLACE FUNCTION customer_filter(
    search text, status text, segment text, segment_id uuid, registered_after timestamptz,
    registered_before timestamptz, min_total_spent numeric, max_total_spent numeric, min_orders integer,
    max_days_since_last_order integer, sort_by text, sort_order text, as_of timestamptz, rfm_group text,
    OUT conditions text, OUT key_column text, OUT order_by text, OUT searching boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pattern text := customer_mgmt.search_pattern(search);
    dir text := customer_mgmt.check_sort_order(coalesce(sort_order, 'DESC'));
    nulls_last boolean := false;
    conds text[] := ARRAY['true'];
    v numeric;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM customer_mgmt.raise_invalid('as_of', 'must be a finite time', as_of::text);
    END IF;
    -- the search reads the trigram index on users (customer_list has no
    -- search key: its index would be rewritten with every analytics change)
    IF pattern IS NOT NULL THEN
        conds := conds || ('l.customer_id IN (SELECT u.id FROM customer_mgmt.users u WHERE u.role = ''customer'''
                           || ' AND customer_mgmt.search_key(u.full_name, u.email, u.phone_number) LIKE '
                           || quote_literal(pattern) || ')');
    END IF;
    IF status IS NOT NULL THEN
        conds := conds || ('l.status = ' || quote_literal(customer_mgmt.check_enum('status', status, NULL::customer_mgmt.user_status))
                           || '::customer_mgmt.user_status');
    END IF;
    IF segment IS NOT NULL THEN
        conds := conds || ('l.segment = '
                           || quote_literal(customer_mgmt.check_enum('segment', segment, NULL::customer_mgmt.lifecycle_segment))
                           || '::customer_mgmt.lifecycle_segment');
    END IF;
    -- members of a saved segment: the assignments in force at as_of
    IF customer_filter.segment_id IS NOT NULL THEN
        PERFORM customer_mgmt.find_segment(customer_filter.segment_id);
        conds := conds || format('l.customer_id IN (SELECT x.customer_id FROM customer_mgmt.customer_segment_assignments x'
                                 ' WHERE x.segment_id = %L::uuid AND (x.expires_at IS NULL OR x.expires_at > %L::timestamptz))',
                                 customer_filter.segment_id, as_of);
    END IF;
    PERFORM customer_mgmt.check_time_range('registered_after', registered_after, 'registered_before', registered_before);
    IF registered_after IS NOT NULL THEN conds := conds || format('l.created_at >= %L::timestamptz', registered_after); END IF;
    IF registered_before IS NOT NULL THEN conds := conds || format('l.created_at <= %L::timestamptz', registered_before); END IF;
    IF min_total_spent IS NOT NULL THEN
        v := customer_mgmt.check_amount('min_total_spent', min_total_spent);
        conds := conds || format('l.total_spent >= %L::numeric', v);
    END IF;
    IF max_total_spent IS NOT NULL THEN
        v := customer_mgmt.check_amount('max_total_spent', max_total_spent);
        conds := conds || format('l.total_spent <= %L::numeric', v);
    END IF;
    IF min_total_spent > max_total_spent THEN
        PERFORM customer_mgmt.raise_invalid('max_total_spent', 'must not be less than min_total_spent', max_total_spent::text);
    END IF;
    IF min_orders < 0 THEN
        PERFORM customer_mgmt.raise_invalid('min_orders', 'must not be negative', min_orders::text);
    END IF;
    IF min_orders IS NOT NULL THEN conds := conds || format('l.total_orders >= %s', min_orders); END IF;
    IF max_days_since_last_order < 0 OR max_days_since_last_order > 100000 THEN
        PERFORM customer_mgmt.raise_invalid('max_days_since_last_order', 'must be from 0 to 100000',
                                            max_days_since_last_order::text);
    END IF;
    -- days since the last order <= N  <=>  the last order is after as_of - (N + 1) days
    IF max_days_since_last_order IS NOT NULL THEN
        conds := conds || format('l.last_order_date > %L::timestamptz', as_of - make_interval(days => max_days_since_last_order + 1));
    END IF;
    IF customer_filter.rfm_group IS NOT NULL THEN
        IF customer_filter.rfm_group <> ALL (customer_mgmt.rfm_group_names()) THEN
            PERFORM customer_mgmt.raise_invalid('rfm_group', 'must be one of ' || array_to_string(customer_mgmt.rfm_group_names(), ', '),
                                                customer_filter.rfm_group);
        END IF;
        conds := conds || format('l.rfm_group = %L', customer_filter.rfm_group);
    END IF;

    CASE coalesce(sort_by, 'createdAt')
        WHEN 'createdAt' THEN key_column := 'l.created_at';
        WHEN 'fullName' THEN key_column := 'l.full_name';
        WHEN 'email' THEN key_column := 'l.email';
        WHEN 'lastLoginAt' THEN key_column := 'l.last_login_at'; nulls_last := true;
        WHEN 'totalSpent' THEN key_column := 'l.total_spent';
        WHEN 'totalOrders' THEN key_column := 'l.total_orders';
        WHEN 'lastOrderDate' THEN key_column := 'l.last_order_date'; nulls_last := true;
        WHEN 'churnRiskScore' THEN key_column := 'l.churn_risk_score';
        WHEN 'predictedLtv' THEN
            -- the CLV model's, computed when read (docs/clv.md): no index
            -- serves it, so each match's is computed before the page is cut
            key_column := format('(SELECT customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()),'
                                 ' (SELECT customer_mgmt.clv_fit_gamma_gamma()), %L::date,'
                                 ' (SELECT customer_mgmt.clv_discount_rate()), ''predicted_ltv'')'
                                 ' FROM customer_mgmt.customer_clv c WHERE c.customer_id = l.customer_id)',
                                 customer_mgmt.clv_day(as_of));
            nulls_last := true;
        ELSE
            PERFORM customer_mgmt.raise_invalid('sort_by',
                'must be one of createdAt, fullName, email, lastLoginAt, totalSpent, totalOrders, lastOrderDate, churnRiskScore, predictedLtv',
                sort_by);
    END CASE;
    conditions := array_to_string(conds, ' AND ');
    order_by := format(' ORDER BY %s %s%s, l.customer_id %s', key_column, dir,
                       CASE WHEN nulls_last THEN ' NULLS LAST' ELSE '' END, dir);
    searching := pattern IS NOT NULL;
END
$$;
COMMENT ON FUNCTION customer_filter(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                    text, text, timestamptz, text) IS
    'Internal: the list''s filters and sort checked (22023 naming the argument, PT404 for a segment): the SQL condition over customer_list l with every value a quoted literal, the sort key column, the ORDER BY, and whether there is a search.';

-- get_customers: the customer list
CREATE OR REPLACE FUNCTION get_customers(
    search                     text DEFAULT NULL,
    status                     text DEFAULT NULL,
    segment                    text DEFAULT NULL,
    segment_id                 uuid DEFAULT NULL,
    registered_after           timestamptz DEFAULT NULL,
    registered_before          timestamptz DEFAULT NULL,
    min_total_spent            numeric DEFAULT NULL,
    max_total_spent            numeric DEFAULT NULL,
    min_orders                 integer DEFAULT NULL,
    max_days_since_last_order  integer DEFAULT NULL,
    sort_by                    text DEFAULT 'createdAt',
    sort_order                 text DEFAULT 'DESC',
    page                       integer DEFAULT 1,
    page_size                  integer DEFAULT 20,
    exact_total                boolean DEFAULT false,
    as_of                      timestamptz DEFAULT now(),
    rfm_group                  text DEFAULT NULL
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- every value is a quoted literal in f.conditions; only whitelisted
    -- column names become SQL text
    f record := customer_mgmt.customer_filter(search, status, segment, segment_id, registered_after, registered_before,
                                              min_total_spent, max_total_spent, min_orders, max_days_since_last_order,
                                              sort_by, sort_order, as_of, rfm_group);
    where_clause text := ' FROM customer_mgmt.customer_list l WHERE ' || f.conditions;
    total bigint;
    estimate boolean := false;
    -- the matches with their sort key, and the same order over them
    matches text := 'SELECT l.customer_id, ' || f.key_column || ' AS sort_key' || where_clause;
    matches_order_by text := replace(replace(f.order_by, f.key_column, 'm.sort_key'), 'l.customer_id', 'm.customer_id');
    -- the items of a page, in order, from a query of the page's ids
    items constant text := 'SELECT coalesce(jsonb_agg(customer_mgmt.customer_list_item(u, a, $3) ORDER BY p.n), ''[]'')'
        || ' FROM (SELECT p.customer_id, row_number() OVER () AS n FROM (%s LIMIT $1 OFFSET $2) p) p'
        || ' JOIN customer_mgmt.users u ON u.id = p.customer_id'
        || ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = p.customer_id';
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    -- The count stops at 10,001.  With at most 10,000 matches, they are all
    -- the matches: the page is sorted from them alone (bounded work whatever
    -- the correlation between the filters and the sort key: loyal customers
    -- registered long ago), and only the page's customers are then read from
    -- users and customer_analytics for their JSON.  A search keeps the
    -- matches it counted (its trigram index scan is the cost, so it runs
    -- once); other filters count from their indexes alone, which is cheaper
    -- than keeping 10,001 rows when the matches are many.
    IF f.searching THEN
        EXECUTE 'WITH m AS MATERIALIZED (' || matches || ' LIMIT 10001), n AS (SELECT count(*) AS n FROM m)'
                || ' SELECT n.n, CASE WHEN n.n <= 10000 THEN ('
                || format(items, 'SELECT m.customer_id FROM m' || matches_order_by) || ') END FROM n'
           INTO total, data
          USING page_size, (page - 1)::bigint * page_size, as_of;
    ELSE
        EXECUTE 'SELECT count(*) FROM (SELECT 1' || where_clause || ' LIMIT 10001) c' INTO total;
        IF total <= 10000 THEN
            EXECUTE format(items, 'WITH m AS MATERIALIZED (' || matches || ') SELECT m.customer_id FROM m'
                                  || matches_order_by)
               INTO data
              USING page_size, (page - 1)::bigint * page_size, as_of;
        END IF;
    END IF;

    IF total > 10000 THEN
        IF exact_total THEN
            EXECUTE 'SELECT count(*)' || where_clause INTO total;
        ELSE
            total := greatest(10001, customer_mgmt.estimate_rows('SELECT 1' || where_clause));
            estimate := true;
        END IF;
        -- more than 10,000 matches: they are dense, and the sort key's index,
        -- walked and filtered, finds a page quickly
        EXECUTE format(items, 'SELECT l.customer_id' || where_clause || f.order_by)
           INTO data
          USING page_size, (page - 1)::bigint * page_size, as_of;
    END IF;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size, estimate);
END
$$;
COMMENT ON FUNCTION get_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                  text, text, integer, integer, boolean, timestamptz, text) IS
    'Staff: the customer list with the filters of CustomerQueryDto, membership of a saved segment (segment_id) and an RFM group, a whitelisted sort and pagination; total exact up to 10,000 (or with exact_total), else the planner''s estimate flagged totalIsEstimate.';

-- get_customer: the 360° detail
-- CustomerAnalyticsDto of an analytics row, days since the last order
-- measured at as_of, with the saved insights.
CREATE OR REPLACE FUNCTION customer_analytics_dto(a customer_analytics, as_of timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'totalOrders', coalesce(a.total_orders, 0),
        'totalSpent', coalesce(a.total_spent, 0),
        'averageOrderValue', coalesce(a.average_order_value, 0),
        'lastOrderDate', a.last_order_date,
        'daysSinceLastOrder', customer_mgmt.days_between(a.last_order_date, customer_analytics_dto.as_of),
        'totalSessions', coalesce(a.total_sessions, 0),
        'totalPageViews', coalesce(a.total_page_views, 0),
        'averageSessionDuration', coalesce(a.average_session_duration, 0),
        'bounceRate', coalesce(a.bounce_rate, 0),
        'conversionRate', coalesce(a.conversion_rate, 0),
        'favoriteCategories', coalesce(a.favorite_categories, '[]'),
        'favoriteBrands', coalesce(a.favorite_brands, '[]'),
        'preferredPriceRange', a.preferred_price_range,
        'customerLifetimeValue', coalesce(a.customer_lifetime_value, 0),
        -- the CLV model's at as_of (docs/clv.md): NULL without a completed order or a usable fit
        'predictedLtv', round(p.predicted_ltv::numeric, 2),
        'totalCustomerValue', coalesce(a.customer_lifetime_value, 0) + round(p.predicted_ltv::numeric, 2),
        'probabilityAlive', round(p.probability_alive::numeric, 4),
        'expectedOrders365', round(p.expected_orders_365::numeric, 4),
        'churnProbability', round(p.churn_probability::numeric, 4),
        'expectedNextOrderDate', p.expected_next_order_date,
        'averageDaysBetweenOrders', round(p.average_days_between_orders::numeric, 2),
        -- what the predictions rest on: why they are NULL, or how much of the
        -- predicted order rate is the customer's own history (the rest is the shop's average)
        'predictionStatus', p.status,
        'predictionHistoryWeight', round(p.own_history_weight::numeric, 4),
        'churnRiskScore', coalesce(a.churn_risk_score, 0),
        'engagementScore', coalesce(a.engagement_score, 0),
        'segment', coalesce(a.segment, 'new'),
        'rfmScore', a.rfm_score, 'rfmGroup', customer_mgmt.rfm_group(a.rfm_score),
        'lastCalculatedAt', a.last_calculated_at,
        'insights', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', i.type, 'title', i.title, 'description', i.description,
                       'priority', i.priority, 'actionRecommendation', i.action_recommendation,
                       'generatedAt', i.generated_at)
                   ORDER BY i.priority DESC, i.type)
              FROM customer_mgmt.customer_insights i WHERE i.customer_id = a.customer_id), '[]'))
      FROM (SELECT) one
      LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = a.customer_id
      LEFT JOIN LATERAL customer_mgmt.clv_predict(c, customer_mgmt.clv_fit_bgnbd(), customer_mgmt.clv_fit_gamma_gamma(),
                                                  customer_mgmt.clv_day(customer_analytics_dto.as_of),
                                                  customer_mgmt.clv_discount_rate()) p ON true
$$;
COMMENT ON FUNCTION customer_analytics_dto(customer_analytics, timestamptz) IS
    'Internal: CustomerAnalyticsDto of an analytics row with its insights and the CLV model''s predictions; daysSinceLastOrder and the predictions at as_of.';

CREATE OR REPLACE FUNCTION address_dto(x addresses) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', x.id, 'recipientName', x.recipient_name, 'phoneNumber', x.phone_number,
        'street', x.street, 'ward', x.ward, 'district', x.district, 'province', x.province,
        'currentProvince', (SELECT p.current_name FROM customer_mgmt.provinces p WHERE p.name = x.province),
        'isDefaultShipping', x.is_default_shipping, 'isDefaultBilling', x.is_default_billing,
        'createdAt', x.created_at, 'updatedAt', x.updated_at)
$$;
COMMENT ON FUNCTION address_dto(addresses) IS
    'Internal: AddressDto; currentProvince is the province in force since 2025 for a former one.';

CREATE OR REPLACE FUNCTION order_summary_dto(o orders) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', o.id, 'status', o.status, 'totalAmount', o.total_amount,
        'orderDate', o.order_date, 'completedAt', o.completed_at,
        'itemCount', coalesce(sum(i.quantity), 0), 'lineCount', count(i.id),
        'itemsTotal', coalesce(sum(i.unit_price * i.quantity), 0))
      FROM customer_mgmt.order_items i WHERE i.order_id = o.id
$$;
COMMENT ON FUNCTION order_summary_dto(orders) IS
    'Internal: OrderSummaryDto: id, status, totalAmount, orderDate, completedAt, itemCount (units), lineCount, itemsTotal.';

CREATE OR REPLACE FUNCTION get_customer(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    a customer_mgmt.customer_analytics;
    as_of timestamptz := now();
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    a.customer_id := u.id;
    RETURN jsonb_build_object(
        'id', u.id,
        'fullName', u.full_name,
        'email', u.email,
        'phoneNumber', u.phone_number,
        'status', u.status,
        'emailVerifiedAt', u.email_verified_at,
        'phoneVerifiedAt', u.phone_verified_at,
        'avatarUrl', u.avatar_url,
        'dateOfBirth', u.date_of_birth,
        'gender', u.gender,
        'province', u.province,
        'addresses', coalesce((SELECT jsonb_agg(customer_mgmt.address_dto(x) ORDER BY x.is_default_shipping DESC,
                                                x.is_default_billing DESC, x.created_at, x.id)
                                 FROM customer_mgmt.addresses x WHERE x.customer_id = u.id), '[]'),
        'defaultShippingAddress', (SELECT customer_mgmt.address_dto(x) FROM customer_mgmt.addresses x
                                    WHERE x.customer_id = u.id AND x.is_default_shipping),
        'defaultBillingAddress', (SELECT customer_mgmt.address_dto(x) FROM customer_mgmt.addresses x
                                   WHERE x.customer_id = u.id AND x.is_default_billing),
        'analytics', customer_mgmt.customer_analytics_dto(a, as_of),
        'segments', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', s.id, 'name', s.name, 'description', s.description, 'colorCode', s.color_code,
                       'isSystem', s.is_system, 'assignedAt', sa.assigned_at, 'assignedBy', sa.assigned_by,
                       'expiresAt', sa.expires_at)
                   ORDER BY sa.assigned_at, s.name)
              FROM customer_mgmt.customer_segment_assignments sa
              JOIN customer_mgmt.customer_segments s ON s.id = sa.segment_id
             WHERE sa.customer_id = u.id AND (sa.expires_at IS NULL OR sa.expires_at > as_of)), '[]'),
        'recentOrders', coalesce((
            SELECT jsonb_agg(customer_mgmt.order_summary_dto(o) ORDER BY o.order_date DESC, o.id DESC)
              FROM (SELECT * FROM customer_mgmt.orders x WHERE x.customer_id = u.id
                     ORDER BY x.order_date DESC, x.id DESC LIMIT 5) o), '[]'),
        'recentNotes', coalesce((
            SELECT jsonb_agg(customer_mgmt.note_dto(n) ORDER BY n.created_at DESC, n.id DESC)
              FROM (SELECT * FROM customer_mgmt.customer_notes x WHERE x.customer_id = u.id
                     ORDER BY x.created_at DESC, x.id DESC LIMIT 5) n), '[]'),
        'createdAt', u.created_at,
        'updatedAt', u.updated_at,
        'lastLoginAt', u.last_login_at);
END
$$;
COMMENT ON FUNCTION get_customer(uuid) IS
    'Staff: CustomerDetailDto of a customer: profile, addresses, analytics with insights, segments, 5 most recent orders and notes. PT404 for an unknown id, 22P02 for a malformed one.';

-- get_customer_analytics: the design's GET :id/analytics
CREATE OR REPLACE FUNCTION get_customer_analytics(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    a customer_mgmt.customer_analytics;
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    a.customer_id := u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, now());
END
$$;
COMMENT ON FUNCTION get_customer_analytics(uuid) IS
    'Staff: CustomerAnalyticsDto of a customer with its saved insights, as last calculated; daysSinceLastOrder measured at call time. PT404 for an unknown id.';

-- get_customer_orders: order history
CREATE OR REPLACE FUNCTION get_customer_orders(
    customer_id  uuid,
    status       text DEFAULT NULL,
    date_from    timestamptz DEFAULT NULL,
    date_to      timestamptz DEFAULT NULL,
    sort_order   text DEFAULT 'DESC',
    page         integer DEFAULT 1,
    page_size    integer DEFAULT 20
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    v_status customer_mgmt.order_status;
    descending boolean := customer_mgmt.check_sort_order(coalesce(sort_order, 'DESC')) = 'DESC';
    total bigint;
    data jsonb;
BEGIN
    IF status IS NOT NULL THEN
        v_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.order_status);
    END IF;
    PERFORM customer_mgmt.check_time_range('date_from', date_from, 'date_to', date_to);
    PERFORM customer_mgmt.check_page(page, page_size);

    SELECT count(*) INTO total FROM customer_mgmt.orders o
     WHERE o.customer_id = u.id AND (v_status IS NULL OR o.status = v_status)
       AND (date_from IS NULL OR o.order_date >= date_from) AND (date_to IS NULL OR o.order_date <= date_to);
    SELECT coalesce(jsonb_agg(customer_mgmt.order_summary_dto(o.x) ORDER BY o.n), '[]') INTO data
      FROM (SELECT x, row_number() OVER (ORDER BY
                       CASE WHEN descending THEN x.order_date END DESC, CASE WHEN descending THEN x.id END DESC,
                       CASE WHEN NOT descending THEN x.order_date END, CASE WHEN NOT descending THEN x.id END) AS n
              FROM customer_mgmt.orders x
             WHERE x.customer_id = u.id AND (v_status IS NULL OR x.status = v_status)
               AND (date_from IS NULL OR x.order_date >= date_from) AND (date_to IS NULL OR x.order_date <= date_to)) o
     WHERE o.n > (page - 1)::bigint * page_size AND o.n <= page::bigint * page_size;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_orders(uuid, text, timestamptz, timestamptz, text, integer, integer) IS
    'Staff: a customer''s orders, filtered by status and order date (both ends inclusive), newest first by default, with item counts and totals.';

-- update_customer_status
CREATE OR REPLACE FUNCTION update_customer_status(customer_id uuid, status text, reason text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id uuid := update_customer_status.customer_id;
    new_status customer_mgmt.user_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.user_status);
    v_reason text := customer_mgmt.check_text('reason', reason, 1000, false);
    actor uuid := customer_mgmt.current_actor();
    recent_hours integer := customer_mgmt.setting('status.recent_activity_hours')::integer;
    u customer_mgmt.users;
    a customer_mgmt.customer_analytics;
    old_status customer_mgmt.user_status;
    open_orders bigint;
    changed_at timestamptz := now();
    outbox_id bigint;
BEGIN
    IF v_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    -- the row lock orders this change after any concurrent order insert
    -- (record_order locks the same row)
    SELECT * INTO u FROM customer_mgmt.users x
     WHERE x.id = v_id AND x.role = 'customer'
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Customer', v_id::text);
    END IF;
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    old_status := u.status;

    IF old_status = new_status THEN
        -- reported, not recorded twice
        RETURN customer_mgmt.customer_list_item(u, a, changed_at) || jsonb_build_object('statusChanged', false);
    END IF;

    -- leaving active obeys docs/analytics.md, Lifecycle segment; reactivation is always allowed
    IF old_status = 'active' THEN
        SELECT count(*) INTO open_orders FROM customer_mgmt.orders o
         WHERE o.customer_id = u.id AND o.status IN ('pending', 'processing');
        IF open_orders > 0 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'raise_exception',
                MESSAGE = 'Cannot deactivate customer with pending orders',
                DETAIL = format('Customer %s has %s pending or processing order(s).', u.id, open_orders),
                HINT = 'Complete or cancel the orders first.';
        END IF;
        -- never logged in counts as no recent activity
        IF u.last_login_at > changed_at - make_interval(hours => recent_hours) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'raise_exception',
                MESSAGE = 'Cannot deactivate customer with recent activity',
                DETAIL = format('Customer %s logged in at %s, within the last %s hours.', u.id, u.last_login_at, recent_hours),
                HINT = 'Try again later; the limit is the setting status.recent_activity_hours.';
        END IF;
    END IF;

    UPDATE customer_mgmt.users x SET status = new_status WHERE x.id = u.id RETURNING * INTO u;
    INSERT INTO customer_mgmt.customer_status_history (customer_id, old_status, new_status, reason, actor_id, changed_at)
    VALUES (u.id, old_status, new_status, v_reason, actor, changed_at);
    INSERT INTO customer_mgmt.event_outbox AS e (event_type, customer_id, payload)
    VALUES ('customer.status_changed', u.id,
            jsonb_build_object('customerId', u.id, 'oldStatus', old_status, 'newStatus', new_status,
                               'reason', v_reason, 'actorId', actor, 'changedAt', changed_at))
    RETURNING e.id INTO outbox_id;
    PERFORM pg_notify('customer_mgmt_events', jsonb_build_object('id', outbox_id, 'eventType', 'customer.status_changed',
                                                                 'customerId', u.id)::text);
    RETURN customer_mgmt.customer_list_item(u, a, changed_at) || jsonb_build_object('statusChanged', true);
END
$$;
COMMENT ON FUNCTION update_customer_status(uuid, text, text) IS
    'Admin: sets a customer''s status (active, inactive, suspended). Leaving active is refused (P0001) while an order is pending or processing or after a login in the last 24 hours; every change is recorded in customer_status_history with the actor and emits customer.status_changed. Returns the list item with statusChanged.';

-- sql/functions/scoring.sql
-- customer_mgmt: Scoring rules in C (src/scoring.c, src/preferences.c): engagement, churn
-- risk, lifecycle segment, RFM digits, insights, and the purchase-preferences
-- aggregate.  Pure functions of their arguments: thresholds come in as arguments.

-- The rules (src/scoring.c)
CREATE OR REPLACE FUNCTION engagement_score(days_since_last_order integer, total_orders integer, total_spent double precision,
                                 bounce_rate double precision, average_session_duration integer, total_sessions integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_engagement_score'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION engagement_score(integer, integer, double precision, double precision, integer, integer) IS
    'Engagement in [0,1]: 0.3 recency + 0.3 frequency + 0.2 monetary + 0.2 session behaviour; see docs/analytics.md for each component.';

CREATE OR REPLACE FUNCTION churn_risk(days_since_last_order integer, total_orders integer, engagement_score double precision,
                           bounce_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_churn_risk'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION churn_risk(integer, integer, double precision, double precision) IS
    'Churn risk in [0,1] (docs/analytics.md): recency (+0.1/0.2/0.3 past 30/60/90 days), fewer than 2 orders (+0.2), engagement below 0.5/0.3 (+0.2/0.3), bounce rate above 0.8 (+0.2), capped at 1.';

CREATE OR REPLACE FUNCTION lifecycle_segment(total_spent double precision, churn_risk double precision, total_orders integer,
                                  days_since_last_order integer,
                                  vip_min_spent double precision DEFAULT 50000000,
                                  vip_max_churn_risk double precision DEFAULT 0.3,
                                  loyal_min_orders integer DEFAULT 5,
                                  loyal_max_days integer DEFAULT 60,
                                  at_risk_min_churn_risk double precision DEFAULT 0.7,
                                  active_max_days integer DEFAULT 30,
                                  churned_min_days integer DEFAULT 180)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cm_lifecycle_segment'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lifecycle_segment(double precision, double precision, integer, integer, double precision,
                                      double precision, integer, integer, double precision, integer, integer) IS
    'Design 8.1 calculateCustomerSegment, rules in order: vip, loyal, at_risk, active, churned, new, else active; no order yet satisfies no recency rule.';

CREATE OR REPLACE FUNCTION rfm_digit(value double precision, breakpoints double precision[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'cm_rfm_digit'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rfm_digit(double precision, double precision[]) IS
    '1 + the number of the four quintile breakpoints that value exceeds (5 = best fifth); pass minus the days for recency.';

CREATE OR REPLACE FUNCTION insights(total_spent double precision, churn_risk double precision, total_orders integer,
                         days_since_last_order integer,
                         high_value_min_spent double precision DEFAULT 10000000,
                         churn_risk_min double precision DEFAULT 0.7,
                         loyal_min_orders integer DEFAULT 5,
                         loyal_max_days integer DEFAULT 30)
    RETURNS TABLE (type text, title text, description text, priority text, action_recommendation text)
    AS 'MODULE_PATHNAME', 'cm_insights'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION insights(double precision, double precision, integer, integer, double precision, double precision,
                             integer, integer) IS
    'The insights (docs/analytics.md) that hold: high_value (spent above the threshold, priority high), churn_risk (risk above it, critical), loyal (more orders and fewer days since the last than the thresholds, medium), with title, description and action recommendation.';

CREATE OR REPLACE FUNCTION analytics_scores(last_order_date timestamptz, as_of timestamptz, total_orders integer,
                                 total_spent double precision, bounce_rate double precision,
                                 average_session_duration integer, total_sessions integer,
                                 old_total_spent double precision, old_churn_risk double precision,
                                 old_total_orders integer, old_days integer, thresholds double precision[],
                                 OUT days integer, OUT engagement double precision, OUT churn double precision,
                                 OUT segment text, OUT new_flags integer, OUT old_flags integer)
    AS 'MODULE_PATHNAME', 'cm_analytics_scores'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION analytics_scores(timestamptz, timestamptz, integer, double precision, double precision, integer,
                                     integer, double precision, double precision, integer, integer, double precision[]) IS
    'Internal: every score of one customer in one call (days since the last order, engagement, churn risk, segment, the insight flags now and for the stored values), by the rules of the functions above; thresholds as analytics_thresholds() gives them.';

-- Purchase preferences of a customer (src/preferences.c)
CREATE OR REPLACE FUNCTION preferences_accum(state internal, order_id uuid, category text, brand text, unit_price_cents bigint,
                                  quantity integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_accum'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_accum(internal, uuid, text, text, bigint, integer) IS
    'Internal: transition function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_preferences_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_final(internal) IS 'Internal: final function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_combine(state internal, other internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_combine'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_combine(internal, internal) IS
    'Internal: combine function of purchase_preferences (parallel aggregation; an order split between workers counts once).';

CREATE OR REPLACE FUNCTION preferences_serialize(state internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cm_preferences_serialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_serialize(internal) IS 'Internal: serialisation function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_deserialize(data bytea, state internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_deserialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_deserialize(bytea, internal) IS 'Internal: deserialisation function of purchase_preferences.';

CREATE OR REPLACE AGGREGATE purchase_preferences(order_id uuid, category text, brand text, unit_price_cents bigint, quantity integer) (
    SFUNC = preferences_accum,
    STYPE = internal,
    SSPACE = 1024,
    FINALFUNC = preferences_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = preferences_combine,
    SERIALFUNC = preferences_serialize,
    DESERIALFUNC = preferences_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE purchase_preferences(uuid, text, text, bigint, integer) IS
    'Favourite categories and brands (top 3 by distinct orders, then spend, then name bytewise) and preferred price range (25th/50th/75th discrete percentile of unit prices) of order lines: {"favoriteCategories", "favoriteBrands", "preferredPriceRange"}.';

-- sql/functions/clv.sql
-- customer_mgmt: The predicted lifetime value's statistical building blocks (docs/clv.md):
-- BG/NBD and Gamma-Gamma fits as aggregates and their conditional expectations,
-- in C (src/clv.c, src/clv_bgnbd.c, src/clv_predict.c), usable on any data in any time unit.  The shop's model (fit_clv_model)
-- is built on them in clv_model.sql.

CREATE OR REPLACE FUNCTION bgnbd_fit_add(state internal, frequency double precision, recency double precision,
                                         age double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_bgnbd_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_fit_add(internal, double precision, double precision, double precision) IS
    'Internal: bgnbd_fit''s transition, one customer''s (frequency, recency, age) checked and kept.';

CREATE OR REPLACE FUNCTION bgnbd_fit_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_bgnbd_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_fit_final(internal) IS
    'Internal: bgnbd_fit''s final function, the maximum-likelihood fit.';

CREATE OR REPLACE AGGREGATE bgnbd_fit(frequency double precision, recency double precision, age double precision) (
    SFUNC = bgnbd_fit_add,
    STYPE = internal,
    FINALFUNC = bgnbd_fit_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bgnbd_fit(double precision, double precision, double precision) IS
    'The BG/NBD model (Fader, Hardie & Lee 2005) fitted by maximum likelihood to customers'' (frequency = repeat purchases, recency = time of the last purchase since the first, age = time since the first), in any one time unit: {"r", "alpha", "a", "b", "atBoundary", "logLikelihood", "customers", "iterations", "evaluations", "converged"}. Where the data show no heterogeneity the fit runs to a boundary and takes its limiting model: r and alpha null with one "purchaseRate", a and b null with one "dropoutProbability", atBoundary naming them (docs/clv.md). Rows with a NULL are skipped; NULL over no rows; 22023 for a negative or non-finite value, recency above age, or no repeat purchase at all.';

CREATE OR REPLACE FUNCTION gamma_gamma_fit_add(state internal, frequency double precision,
                                               monetary_value double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_fit_add(internal, double precision, double precision) IS
    'Internal: gamma_gamma_fit''s transition, one customer''s (frequency, monetary_value) checked and kept when frequency > 0.';

CREATE OR REPLACE FUNCTION gamma_gamma_fit_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_fit_final(internal) IS
    'Internal: gamma_gamma_fit''s final function, the maximum-likelihood fit.';

CREATE OR REPLACE AGGREGATE gamma_gamma_fit(frequency double precision, monetary_value double precision) (
    SFUNC = gamma_gamma_fit_add,
    STYPE = internal,
    FINALFUNC = gamma_gamma_fit_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE gamma_gamma_fit(double precision, double precision) IS
    'The Gamma-Gamma model of order value (Fader, Hardie & Lee 2005) fitted by maximum likelihood to customers'' (frequency = repeat purchases, monetary_value = mean value of those purchases): {"p", "q", "gamma", "logLikelihood", "customers", "iterations", "converged"}. Customers without a repeat purchase carry nothing and are skipped, as are rows with a NULL; NULL when none is left; 22023 for a negative frequency or a monetary value not above 0.';

CREATE OR REPLACE FUNCTION bgnbd_expected_purchases(params jsonb, t double precision, frequency double precision,
                                                    recency double precision, age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_expected_purchases'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_expected_purchases(jsonb, double precision, double precision, double precision, double precision) IS
    'The expected number of purchases in the next t of a customer of (frequency, recency, age) under a BG/NBD fit (bgnbd_fit''s result, at a boundary too), equation 10 of Fader, Hardie & Lee (2005), to a relative error below 1e-9 for any parameters (docs/clv.md); t in the fit''s time unit. 22023 naming a bad argument or a params that is not a fit.';

CREATE OR REPLACE FUNCTION bgnbd_probability_alive(params jsonb, frequency double precision, recency double precision,
                                                   age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_probability_alive'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_probability_alive(jsonb, double precision, double precision, double precision) IS
    'The probability that a customer of (frequency, recency, age) is still alive (will buy again) under a BG/NBD fit; 1 for a customer without a repeat purchase. 22023 naming a bad argument.';

CREATE OR REPLACE FUNCTION bgnbd_probability_no_purchase(params jsonb, t double precision, frequency double precision,
                                                         recency double precision, age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_probability_no_purchase'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_probability_no_purchase(jsonb, double precision, double precision, double precision, double precision) IS
    'Internal: the probability that a customer of (frequency, recency, age) makes no purchase in the next t under a BG/NBD fit, by the C function churnProbability uses (t = 90 days); for the tests of its formula.';

CREATE OR REPLACE FUNCTION gamma_gamma_expected_value(params jsonb, frequency double precision,
                                                      monetary_value double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_expected_value'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_expected_value(jsonb, double precision, double precision) IS
    'The expected value of a future purchase of a customer of (frequency, monetary_value) under a Gamma-Gamma fit (gamma_gamma_fit''s result): (gamma + frequency * monetary_value) * p / (p * frequency + q - 1). 22023 naming a bad argument, or when p * frequency + q is not above 1.';

CREATE OR REPLACE FUNCTION hyp2f1(a double precision, b double precision, c double precision, z double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_hyp2f1'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hyp2f1(double precision, double precision, double precision, double precision) IS
    'Internal: the Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 by its series, as the BG/NBD expectation sums it where it is good (src/clv_bgnbd.c); NULL when it does not end within 2,000 terms. For the tests.';

-- sql/functions/clv_model.sql
-- customer_mgmt: The shop's CLV model : every customer's purchase summary
-- (src/clv_summary.c, kept in customer_clv), the fit of BG/NBD and Gamma-Gamma on it
-- (fit_clv_model, stored in clv_models), and each customer's predictions, computed from both
-- when read (clv_predict; docs/clv.md).

CREATE OR REPLACE FUNCTION clv_summary_rows(as_of timestamptz, as_of_day date, timezone text, customer_id uuid)
    RETURNS TABLE (customer_id uuid, frequency integer, recency integer, age integer,
                   monetary_value double precision, first_purchase date)
    AS 'MODULE_PATHNAME', 'cm_clv_summary'
    LANGUAGE C STABLE
    -- planned for one customer (the queue worker's case, a join by key);
    -- everyone's summary goes to a temporary table first (fit_clv_model)
    ROWS 1;
COMMENT ON FUNCTION clv_summary_rows(timestamptz, date, text, uuid) IS
    'Internal: the purchase summary of every customer with a completed order by as_of (or of one), in days of the time zone: repeat purchase days, days from the first purchase day to the last and to as_of_day, mean amount of the repeat purchase days, first purchase day (src/clv_summary.c).';

CREATE OR REPLACE FUNCTION clv_summary(as_of timestamptz, customer_id uuid DEFAULT NULL)
    RETURNS TABLE (customer_id uuid, frequency integer, recency integer, age integer,
                   monetary_value double precision, first_purchase date)
    LANGUAGE sql STABLE
AS $$
    SELECT * FROM customer_mgmt.clv_summary_rows(as_of, (as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date,
                                                 customer_mgmt.setting('shop_timezone'), customer_id)
$$;
COMMENT ON FUNCTION clv_summary(timestamptz, uuid) IS
    'Internal: clv_summary_rows in the shop''s time zone (setting shop_timezone).';

-- A customer's predictions under a fit, as of a day (src/clv_predict.c, docs/clv.md):
-- probability alive; expected orders in the next 365 days; probability of
-- no order in the next 90; predicted spend in the next 365 days (expected
-- orders times the expected order value, discounted monthly at an annual
-- rate); the expected next order date, the day by which the customer has
-- an even chance of having ordered again (NULL when that is more than 365
-- days away); the historical mean days between purchase days.
CREATE OR REPLACE FUNCTION clv_predictions(bgnbd jsonb, gamma_gamma jsonb, frequency integer, recency integer,
                                           first_purchase date, monetary_value double precision, as_of_day date,
                                           discount_rate double precision)
    RETURNS clv_prediction
    AS 'MODULE_PATHNAME', 'cm_clv_predictions'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION clv_predictions(jsonb, jsonb, integer, integer, date, double precision, date, double precision) IS
    'Internal: one customer''s CLV predictions under a BG/NBD and a Gamma-Gamma fit, in days, at a day, the age counted from the first purchase day, with the share of the customer''s own history and the status (docs/clv.md): no_completed_order without a summary, no_usable_model without the fits, history_too_short below the fit''s minCustomerDays, not_computable when a fit cannot give them (logged once per session and fit); never an error because of the fits.';

CREATE OR REPLACE FUNCTION clv_model_dto(m clv_models) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN m.id IS NOT NULL THEN jsonb_build_object(
        'id', m.id, 'fittedAt', m.fitted_at, 'asOf', m.as_of, 'usable', m.usable, 'reason', m.reason,
        'customers', m.customers, 'repeatCustomers', m.repeat_customers, 'historyDays', m.history_days,
        'timeUnit', 'day', 'bgnbd', m.bgnbd, 'gammaGamma', m.gamma_gamma, 'fitSeconds', m.fit_seconds,
        'summarisedCustomers', m.summarised_customers, 'summarySeconds', m.summary_seconds) END
$$;
COMMENT ON FUNCTION clv_model_dto(clv_models) IS
    'Internal: a stored fit as JSON (fit_clv_model''s result, the overview''s clvModel).';

CREATE OR REPLACE FUNCTION current_clv_model() RETURNS clv_models
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m FROM customer_mgmt.clv_models m ORDER BY m.fitted_at DESC, m.id DESC LIMIT 1
$$;
COMMENT ON FUNCTION current_clv_model() IS
    'Internal: the latest fit, the one in force (NULL before the first).';

-- The fits in force when usable, else NULL (and then so is every
-- prediction): called once per query, as (SELECT clv_fit_bgnbd()).  The
-- BG/NBD fit carries the shop's gate on a customer's history
-- (minCustomerDays, setting clv.min_customer_days), which clv_predictions
-- reads with it.
CREATE OR REPLACE FUNCTION clv_fit_bgnbd() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN m.usable
                THEN m.bgnbd || jsonb_build_object('minCustomerDays', customer_mgmt.setting('clv.min_customer_days')::integer)
           END
      FROM customer_mgmt.current_clv_model() m
$$;
COMMENT ON FUNCTION clv_fit_bgnbd() IS 'Internal: the BG/NBD fit in force with minCustomerDays (setting clv.min_customer_days), NULL when the latest fit is not usable.';
CREATE OR REPLACE FUNCTION clv_fit_gamma_gamma() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN m.usable THEN m.gamma_gamma END FROM customer_mgmt.current_clv_model() m
$$;
COMMENT ON FUNCTION clv_fit_gamma_gamma() IS 'Internal: the Gamma-Gamma fit in force, NULL when the latest fit is not usable.';

-- The day a prediction at a time is for (the shop's), and the discount rate.
CREATE OR REPLACE FUNCTION clv_day(at timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (at AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date
$$;
COMMENT ON FUNCTION clv_day(timestamptz) IS 'Internal: the day of a time in the shop''s time zone, the day CLV predictions are for.';
CREATE OR REPLACE FUNCTION clv_discount_rate() RETURNS double precision
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.setting('clv.discount_rate')::float8
$$;
COMMENT ON FUNCTION clv_discount_rate() IS 'Internal: the setting clv.discount_rate.';

-- A customer's predictions at a day, all of them, from the summary row
-- (NULL: none) and the fits: for the DTO, the demo and the export's date
-- column.  A single prediction is clv_predict_value's.  Both are inlined
-- where they are called, with the fits, the day and the rate passed as
-- (SELECT clv_fit_bgnbd()), (SELECT clv_day(...)) ... (initplans, computed
-- once per query): one call of the C function a row.  (Their bodies must
-- hold no subquery: a function that does is not inlined, and runs as a
-- query a row.)
CREATE OR REPLACE FUNCTION clv_predict(c customer_clv, bgnbd jsonb, gamma_gamma jsonb, at_day date,
                                       discount_rate double precision)
    RETURNS clv_prediction
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.clv_predictions(bgnbd, gamma_gamma, c.frequency, c.recency, c.first_purchase,
                                         c.monetary_value::float8, at_day, discount_rate)
$$;
COMMENT ON FUNCTION clv_predict(customer_clv, jsonb, jsonb, date, double precision) IS
    'Internal: a customer''s CLV predictions at a day from the summary row and the fits (NULL without either).';

-- One of the predictions, computing only what it needs (probability_alive
-- and churn_probability skip the expected purchases' series): for a
-- segment, a sort or an export column; inlined like clv_predict, with the
-- field a constant.
CREATE OR REPLACE FUNCTION clv_prediction(bgnbd jsonb, gamma_gamma jsonb, frequency integer, recency integer,
                                          first_purchase date, monetary_value double precision, as_of_day date,
                                          discount_rate double precision, field integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_clv_prediction'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION clv_prediction(jsonb, jsonb, integer, integer, date, double precision, date, double precision, integer) IS
    'Internal: one of clv_predictions'' values (field 1 probability_alive, 2 churn_probability, 3 predicted_ltv, 4 expected_orders_365), computing only what it needs; NULL unless clv_predictions'' status would be predicted.';
CREATE OR REPLACE FUNCTION clv_predict_value(c customer_clv, bgnbd jsonb, gamma_gamma jsonb, at_day date,
                                             discount_rate double precision, field text)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.clv_prediction(bgnbd, gamma_gamma, c.frequency, c.recency, c.first_purchase,
                                        c.monetary_value::float8, at_day, discount_rate,
                                        CASE field WHEN 'probability_alive' THEN 1 WHEN 'churn_probability' THEN 2
                                                   WHEN 'predicted_ltv' THEN 3 WHEN 'expected_orders_365' THEN 4 END)
$$;
COMMENT ON FUNCTION clv_predict_value(customer_clv, jsonb, jsonb, date, double precision, text) IS
    'Internal: one of a customer''s CLV predictions at a day (probability_alive, churn_probability, predicted_ltv, expected_orders_365), from the summary row and the fits.';

-- Store the purchase summaries of every customer of pg_temp.cm_clv_summary
-- (fit_clv_model's), or of one customer (from the orders), in customer_clv:
-- only the rows that changed are written, and a customer without a
-- completed order by as_of loses the row.  Returns the customers with a
-- summary.
CREATE OR REPLACE FUNCTION clv_store_summaries(as_of timestamptz, customer_id uuid DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the statement of both cases; %1$s is the summaries, %2$s which rows
    -- of customer_clv are the customers' (one: by its key, the queue
    -- worker's case, once per customer)
    store constant text := $q$
        WITH s AS MATERIALIZED (
            SELECT s.customer_id, s.frequency, s.recency, s.first_purchase, round(s.monetary_value::numeric, 2) AS monetary_value
              FROM %1$s s),
        written AS (
            INSERT INTO customer_mgmt.customer_clv AS c
            SELECT s.customer_id, $1, s.frequency, s.recency, s.first_purchase, s.monetary_value
              FROM s LEFT JOIN customer_mgmt.customer_clv o ON o.customer_id = s.customer_id
             WHERE (o.frequency, o.recency, o.first_purchase, o.monetary_value)
                   IS DISTINCT FROM (s.frequency, s.recency, s.first_purchase, s.monetary_value)
            ON CONFLICT (customer_id) DO UPDATE
               SET as_of = excluded.as_of, frequency = excluded.frequency, recency = excluded.recency,
                   first_purchase = excluded.first_purchase, monetary_value = excluded.monetary_value),
        removed AS (
            DELETE FROM customer_mgmt.customer_clv c
             WHERE %2$s AND NOT EXISTS (SELECT FROM s WHERE s.customer_id = c.customer_id))
        SELECT count(*) FROM s$q$;
    summarised bigint;
BEGIN
    IF customer_id IS NULL THEN
        EXECUTE format(store, 'pg_temp.cm_clv_summary', 'true') INTO summarised USING as_of;
    ELSE
        EXECUTE format(store, 'customer_mgmt.clv_summary($1, $2)', 'c.customer_id = $2') INTO summarised USING as_of, customer_id;
    END IF;
    RETURN summarised;
END
$$;
COMMENT ON FUNCTION clv_store_summaries(timestamptz, uuid) IS
    'Internal: writes the changed purchase summaries of every customer of fit_clv_model''s summary, or of one customer, into customer_clv (no row without a completed order); returns the customers with a summary.';

CREATE OR REPLACE FUNCTION fit_clv_model(as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    fitted timestamptz;
    tz text := customer_mgmt.setting('shop_timezone');
    n integer;
    repeat integer;
    history integer;
    bgnbd jsonb;
    gamma_gamma jsonb;
    why text;
    m customer_mgmt.clv_models;
    summarised bigint;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    -- one fit at a time (17229, 3); the recalculation holds (17229, 1) and (17229, 2)
    PERFORM pg_advisory_xact_lock(17229, 3);
    IF to_regclass('pg_temp.cm_clv_summary') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_clv_summary;
    END IF;
    CREATE TEMP TABLE cm_clv_summary ON COMMIT DROP AS SELECT * FROM customer_mgmt.clv_summary(as_of);
    SELECT count(*), count(*) FILTER (WHERE s.frequency >= 2), (as_of AT TIME ZONE tz)::date - min(s.first_purchase)
      INTO n, repeat, history
      FROM pg_temp.cm_clv_summary s;
    -- enough data to learn from (Klaviyo: 500 buyers, 180 days, some who bought three times)
    IF n < customer_mgmt.setting('clv.min_customers')::integer THEN
        why := format('%s customers with a completed order; the model needs %s (setting clv.min_customers)',
                      n, customer_mgmt.setting('clv.min_customers'));
    ELSIF history < customer_mgmt.setting('clv.min_history_days')::integer THEN
        why := format('%s days from the first completed order; the model needs %s (setting clv.min_history_days)',
                      history, customer_mgmt.setting('clv.min_history_days'));
    ELSIF repeat < customer_mgmt.setting('clv.min_repeat_customers')::integer THEN
        why := format('%s customers bought on three days or more; the model needs %s (setting clv.min_repeat_customers)',
                      repeat, customer_mgmt.setting('clv.min_repeat_customers'));
    ELSE
        BEGIN
            SELECT customer_mgmt.bgnbd_fit(s.frequency, s.recency, s.age),
                   customer_mgmt.gamma_gamma_fit(s.frequency, s.monetary_value)
              INTO bgnbd, gamma_gamma
              FROM pg_temp.cm_clv_summary s;
        EXCEPTION WHEN invalid_parameter_value THEN
            why := 'the data do not determine the model: ' || SQLERRM;
        END;
        IF why IS NULL AND NOT (bgnbd ->> 'converged')::boolean THEN
            why := format('the BG/NBD fit did not converge in %s iterations', bgnbd ->> 'iterations');
        ELSIF why IS NULL AND NOT (gamma_gamma ->> 'converged')::boolean THEN
            why := format('the Gamma-Gamma fit did not converge in %s iterations', gamma_gamma ->> 'iterations');
        ELSIF why IS NULL AND (gamma_gamma ->> 'q')::float8 <= 1 THEN
            why := format('the Gamma-Gamma fit has q = %s: the mean order value it describes is infinite', gamma_gamma ->> 'q');
        END IF;
    END IF;
    fitted := clock_timestamp();
    INSERT INTO customer_mgmt.clv_models (fitted_at, as_of, customers, repeat_customers, history_days, bgnbd, gamma_gamma,
                                          usable, reason, fit_seconds)
    VALUES (fitted, as_of, n, repeat, history, bgnbd, gamma_gamma, why IS NULL, why,
            round(extract(epoch FROM fitted - started)::numeric, 3))
    RETURNING * INTO m;
    summarised := customer_mgmt.clv_store_summaries(as_of);
    UPDATE customer_mgmt.clv_models x
       SET summarised_customers = summarised, summary_seconds = round(extract(epoch FROM clock_timestamp() - fitted)::numeric, 3)
     WHERE x.id = m.id
    RETURNING * INTO m;
    DROP TABLE pg_temp.cm_clv_summary;
    RETURN customer_mgmt.clv_model_dto(m);
END
$$;
COMMENT ON FUNCTION fit_clv_model(timestamptz) IS
    'Admin: fits the CLV model (BG/NBD and Gamma-Gamma, in days) to every customer''s completed orders up to as_of, stores the fit in clv_models (the fit in force) and every customer''s purchase summary in customer_clv, from which the predictions (predictedLtv, probabilityAlive, expectedOrders365, churnProbability, expectedNextOrderDate, averageDaysBetweenOrders) are computed when read; below clv.min_customers customers with orders, clv.min_history_days of history or clv.min_repeat_customers who bought three times, or when a fit does not converge, the fit is stored unusable with the reason and the predictions are NULL. Returns the stored fit. 22023 for an infinite as_of.';

-- sql/functions/analytics_stats.sql
-- customer_mgmt: The analytics' inputs: every customer's analytics row, the
-- per-customer statistics from orders and sessions, the RFM breakpoints, the
-- thresholds of the settings, and the insights brought in line with them.

-- Every customer has an analytics row (the list reads its columns).
-- Insert the default analytics row of customers who have none; returns how
-- many.  Used after bulk loads that bypass triggers, and by this upgrade.
CREATE OR REPLACE FUNCTION ensure_analytics_rows() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created bigint;
BEGIN
    WITH ins AS (
        INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
        SELECT u.id, u.created_at, u.created_at
          FROM customer_mgmt.users u
         WHERE u.role = 'customer'
        -- not NOT EXISTS: probing the table this statement fills makes the
        -- planner's nested loop read every row inserted so far, quadratic
        ON CONFLICT (customer_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO created FROM ins;
    -- and each customer's list row, from the analytics row
    INSERT INTO customer_mgmt.customer_list
    SELECT * FROM customer_mgmt.customer_list_rows()
    ON CONFLICT (customer_id) DO NOTHING;
    RETURN created;
END
$$;
COMMENT ON FUNCTION ensure_analytics_rows() IS
    'Creates the default analytics row and the list row of every customer who has none (after a load that bypassed the triggers); returns the number of analytics rows created.';

-- Statistics of a range of customers, as of a time, optionally only those
-- of a list.  One set-based query serves a single customer (lo = hi: index
-- scans), the customers whose data changed (ids: index scans) and everyone
-- (hash aggregates), so all give the same numbers.  Called with constants,
-- the function is inlined and a NULL ids folds away.
CREATE OR REPLACE FUNCTION customer_stats(as_of timestamptz, lo uuid, hi uuid, ids uuid[] DEFAULT NULL)
    RETURNS TABLE (customer_id uuid, total_orders integer, total_spent numeric, last_order_date timestamptz,
                   total_sessions integer, total_page_views integer, average_session_duration integer,
                   bounce_rate numeric, conversion_rate numeric, favorite_categories jsonb,
                   favorite_brands jsonb, preferred_price_range jsonb)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH o AS (
        SELECT o.customer_id, count(*)::integer AS n, sum(o.total_amount) AS spent, max(o.order_date) AS last
          FROM customer_mgmt.orders o
         WHERE o.customer_id BETWEEN lo AND hi AND (ids IS NULL OR o.customer_id = ANY (ids))
           AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id),
    s AS (
        -- every visit counts as a session; duration, bounce and conversion are
        -- of the browsing sessions (a login views no page: docs/analytics.md)
        SELECT w.customer_id, count(*)::integer AS n, sum(w.page_views)::integer AS pv,
               round(avg(w.duration_seconds) FILTER (WHERE w.page_views > 0))::integer AS duration,
               round(avg((w.page_views = 1)::integer) FILTER (WHERE w.page_views > 0), 4) AS bounce,
               round(avg(w.converted::integer) FILTER (WHERE w.page_views > 0), 4) AS conversion
          FROM customer_mgmt.web_sessions w
         WHERE w.customer_id BETWEEN lo AND hi AND (ids IS NULL OR w.customer_id = ANY (ids)) AND w.started_at <= as_of
         GROUP BY w.customer_id),
    -- favourites and price range in one pass over the lines (src/preferences.c)
    pref AS (
        SELECT o.customer_id,
               customer_mgmt.purchase_preferences(o.id, i.category, i.brand, (i.unit_price * 100)::bigint, i.quantity) AS j
          FROM customer_mgmt.orders o
          JOIN customer_mgmt.order_items i ON i.order_id = o.id
         WHERE o.customer_id BETWEEN lo AND hi AND (ids IS NULL OR o.customer_id = ANY (ids))
           AND o.status = 'completed' AND o.order_date <= as_of
         GROUP BY o.customer_id)
    SELECT u.id, coalesce(o.n, 0), coalesce(o.spent, 0), o.last,
           coalesce(s.n, 0), coalesce(s.pv, 0), coalesce(s.duration, 0), coalesce(s.bounce, 0), coalesce(s.conversion, 0),
           coalesce(pref.j -> 'favoriteCategories', '[]'), coalesce(pref.j -> 'favoriteBrands', '[]'),
           pref.j -> 'preferredPriceRange'
      FROM customer_mgmt.users u
      LEFT JOIN o ON o.customer_id = u.id
      LEFT JOIN s ON s.customer_id = u.id
      LEFT JOIN pref ON pref.customer_id = u.id
     WHERE u.role = 'customer' AND u.id BETWEEN lo AND hi AND (ids IS NULL OR u.id = ANY (ids))
$$;
COMMENT ON FUNCTION customer_stats(timestamptz, uuid, uuid, uuid[]) IS
    'Order, session and preference statistics of the customers with ids in [lo, hi] (and in ids, when given) as of a time (completed orders only; preferences by purchase_preferences).';

-- The RFM breakpoints as of a time: quintiles of the recency, frequency and
-- spend of every customer who has a completed order, from a query giving
-- (last_order_date, total_orders, total_spent) per customer; stored, and
-- returned (NULL when no customer has ordered).
CREATE OR REPLACE FUNCTION store_rfm_breakpoints(as_of timestamptz, customers text) RETURNS rfm_breakpoints
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bp customer_mgmt.rfm_breakpoints;
BEGIN
    EXECUTE format($q$
    INSERT INTO customer_mgmt.rfm_breakpoints (as_of, recency, frequency, monetary, customers)
    SELECT $1,
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY -x.days),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.n),
           percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x.spent),
           count(*)
      FROM (SELECT customer_mgmt.days_between(c.last_order_date, $1)::float8 AS days, c.total_orders::float8 AS n,
                   c.total_spent::float8 AS spent
              FROM (%s) c (last_order_date, total_orders, total_spent)
             WHERE c.total_orders > 0) x
    HAVING count(*) > 0
    RETURNING *$q$, customers) INTO bp USING as_of;
    RETURN bp;
END
$$;
COMMENT ON FUNCTION store_rfm_breakpoints(timestamptz, text) IS
    'Internal: computes, stores and returns the RFM quintile breakpoints as of a time from per-customer (last_order_date, total_orders, total_spent) given as a query (NULL when no customer has a completed order).';

-- The breakpoints from the orders themselves (a customer calculated before
-- any full recalculation stored some).
CREATE OR REPLACE FUNCTION compute_rfm_breakpoints(as_of timestamptz) RETURNS rfm_breakpoints
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.store_rfm_breakpoints(as_of, format(
        'SELECT max(o.order_date), count(*), sum(o.total_amount) FROM customer_mgmt.orders o
          WHERE o.status = %L AND o.order_date <= %L GROUP BY o.customer_id', 'completed', as_of))
$$;
COMMENT ON FUNCTION compute_rfm_breakpoints(timestamptz) IS
    'Internal: computes, stores and returns the RFM quintile breakpoints as of a time from the completed orders (NULL when there are none).';

-- The thresholds of the scores, read once per statement: segment (vip
-- minimum spend, vip maximum churn risk, loyal minimum orders, loyal maximum
-- days, at-risk minimum churn risk, active maximum days, churned minimum
-- days), then insight (high-value minimum spend, churn-risk minimum, loyal
-- minimum orders, loyal maximum days).
CREATE OR REPLACE FUNCTION analytics_thresholds() RETURNS double precision[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[customer_mgmt.setting('segment.vip_min_spent'), customer_mgmt.setting('segment.vip_max_churn_risk'),
                 customer_mgmt.setting('segment.loyal_min_orders'), customer_mgmt.setting('segment.loyal_max_days_since_order'),
                 customer_mgmt.setting('segment.at_risk_min_churn_risk'),
                 customer_mgmt.setting('segment.active_max_days_since_order'),
                 customer_mgmt.setting('segment.churned_min_days_since_order'),
                 customer_mgmt.setting('insight.high_value_min_spent'), customer_mgmt.setting('insight.churn_risk_min'),
                 customer_mgmt.setting('insight.loyal_min_orders'),
                 customer_mgmt.setting('insight.loyal_max_days_since_order')]::double precision[]
$$;
COMMENT ON FUNCTION analytics_thresholds() IS
    'Internal: the segment and insight thresholds of the settings, in the order the analytics writer reads them.';

-- Bring the insights of the customers with ids in [lo, hi] in line with
-- their analytics rows and the rules as they are now: those that no longer
-- hold go, new ones come (generated_at as_of), the others stay.  The
-- recalculation touches only the insights of customers whose set changed;
-- a run from scratch also runs this, so that a change of the thresholds
-- reaches everyone.
CREATE OR REPLACE FUNCTION reconcile_insights(as_of timestamptz, lo uuid, hi uuid) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH t AS MATERIALIZED (
        SELECT th[8] AS high_value, th[9] AS churn, th[10]::integer AS loyal_orders, th[11]::integer AS loyal_days
          FROM customer_mgmt.analytics_thresholds() th),
    want AS MATERIALIZED (
        SELECT a.customer_id, r.type::customer_mgmt.insight_type AS type, r.title, r.description,
               r.priority::customer_mgmt.note_priority AS priority, r.action_recommendation AS action
          FROM customer_mgmt.customer_analytics a CROSS JOIN t
         CROSS JOIN LATERAL customer_mgmt.insights(a.total_spent::float8, a.churn_risk_score::float8, a.total_orders,
                                                   a.days_since_last_order, t.high_value, t.churn, t.loyal_orders,
                                                   t.loyal_days) r
         WHERE a.customer_id BETWEEN lo AND hi),
    gone AS (
        DELETE FROM customer_mgmt.customer_insights i
         WHERE i.customer_id BETWEEN lo AND hi
           AND NOT EXISTS (SELECT FROM want w WHERE w.customer_id = i.customer_id AND w.type = i.type))
    INSERT INTO customer_mgmt.customer_insights (customer_id, type, title, description, priority, action_recommendation,
                                                 generated_at)
    SELECT w.customer_id, w.type, w.title, w.description, w.priority, w.action, as_of FROM want w
    ON CONFLICT (customer_id, type) DO NOTHING
$$;
COMMENT ON FUNCTION reconcile_insights(timestamptz, uuid, uuid) IS
    'Internal: brings the insights of the customers with ids in [lo, hi] in line with their analytics rows and the current thresholds.';

-- sql/functions/analytics_writer.sql
-- customer_mgmt: The writer of analytics rows and insights (one customer, or a
-- slice of a recalculation of everyone), one customer's calculation, and the
-- queue worker.

-- The analytics of customers as of a time, with the given RFM breakpoints,
-- are written in two ways (write_customer_analytics: one customer, from its
-- statistics; write_slice_analytics: a slice of a recalculation of
-- everyone) that share the scoring query (analytics_changes_query) and the
-- statement that writes what changed (apply_analytics_changes).  Only the
-- rows whose values or insights change are written (the days since the last
-- order are as of last_calculated_at, the time of the last calculation that
-- changed the row: docs/architecture.md).

-- The new values of the customers of a source whose values or insights
-- change: source is a query giving customer_id, the columns of
-- customer_stats and old_<column> of the analytics row before.  Parameters
-- of the query: $1 as_of, $2 lo, $3 hi, $4 the breakpoints, $5 the
-- thresholds (analytics_thresholds()), $6 the customers whose statistics
-- changed, $7 full_run, $8 whether the statistics may differ from the
-- row's (false: they are the row's).  Parameters of EXECUTE are constants to
-- the planner.  The scores come from one call per customer, a LATERAL
-- function scan: computed once, and in parallel.
CREATE OR REPLACE FUNCTION analytics_changes_query(source text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format($q$
    SELECT f.* FROM (
        SELECT x.customer_id, x.total_orders, x.total_spent,
               (CASE WHEN x.total_orders > 0 THEN round(x.total_spent / x.total_orders, 2) ELSE 0 END)::numeric(15,2)
                   AS average_order_value,
               x.last_order_date, sc.days, x.total_sessions, x.total_page_views, x.average_session_duration,
               x.bounce_rate, x.conversion_rate, x.favorite_categories, x.favorite_brands, x.preferred_price_range,
               sc.churn::numeric(3,2) AS churn_risk_score, sc.engagement::numeric(3,2) AS engagement_score,
               sc.segment::customer_mgmt.lifecycle_segment AS segment,
               (CASE WHEN x.total_orders > 0 AND ($4).id IS NOT NULL THEN
                    customer_mgmt.rfm_digit(-sc.days::float8, ($4).recency)::text
                    || customer_mgmt.rfm_digit(x.total_orders::float8, ($4).frequency)::text
                    || customer_mgmt.rfm_digit(x.total_spent::float8, ($4).monetary)::text END)::char(3) AS rfm_score,
               sc.new_flags, sc.old_flags,
               x.old_total_orders, x.old_total_spent, x.old_average_order_value, x.old_last_order_date,
               x.old_total_sessions, x.old_total_page_views, x.old_average_session_duration, x.old_bounce_rate,
               x.old_conversion_rate, x.old_favorite_categories, x.old_favorite_brands, x.old_preferred_price_range,
               x.old_customer_lifetime_value, x.old_churn_risk_score, x.old_engagement_score,
               x.old_segment, x.old_rfm_score, x.old_last_calculated_at
          FROM (%s) x
         CROSS JOIN LATERAL customer_mgmt.analytics_scores(
                   x.last_order_date, $1, x.total_orders, x.total_spent::float8, x.bounce_rate::float8,
                   x.average_session_duration, x.total_sessions, x.old_total_spent::float8,
                   x.old_churn_risk_score::float8, x.old_total_orders, x.old_days_since_last_order, $5) sc) f
     WHERE f.old_last_calculated_at IS NULL OR f.new_flags <> f.old_flags
        OR (f.old_churn_risk_score, f.old_engagement_score, f.old_segment, f.old_rfm_score)
           IS DISTINCT FROM (f.churn_risk_score, f.engagement_score, f.segment, f.rfm_score)
        OR $8 AND (f.old_total_orders, f.old_total_spent, f.old_average_order_value, f.old_last_order_date,
                   f.old_total_sessions, f.old_total_page_views, f.old_average_session_duration, f.old_bounce_rate,
                   f.old_conversion_rate, f.old_favorite_categories, f.old_favorite_brands,
                   f.old_preferred_price_range, f.old_customer_lifetime_value)
                  IS DISTINCT FROM
                  (f.total_orders, f.total_spent, f.average_order_value, f.last_order_date, f.total_sessions,
                   f.total_page_views, f.average_session_duration, f.bounce_rate, f.conversion_rate,
                   f.favorite_categories, f.favorite_brands, f.preferred_price_range, f.total_spent)$q$, source)
$fn$;
COMMENT ON FUNCTION analytics_changes_query(text) IS
    'Internal: the query of the new analytics values of the customers of a source whose values or insights change (write_customer_analytics, write_slice_analytics).';

-- The source columns of analytics_changes_query: the statistics' columns
-- from table alias src, and the analytics row's (alias a) as old_<column>.
CREATE OR REPLACE FUNCTION analytics_source_columns(src text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_to_string(ARRAY(
               SELECT src || '.' || c
                 FROM unnest(ARRAY['total_orders', 'total_spent', 'last_order_date', 'total_sessions',
                                   'total_page_views', 'average_session_duration', 'bounce_rate', 'conversion_rate',
                                   'favorite_categories', 'favorite_brands', 'preferred_price_range']) c), ', ')
           || ', '
           || array_to_string(ARRAY(
               SELECT format('a.%1$s AS old_%1$s', c)
                 FROM unnest(ARRAY['total_orders', 'total_spent', 'average_order_value', 'last_order_date',
                                   'total_sessions', 'total_page_views', 'average_session_duration', 'bounce_rate',
                                   'conversion_rate', 'favorite_categories', 'favorite_brands',
                                   'preferred_price_range', 'customer_lifetime_value', 'churn_risk_score',
                                   'engagement_score', 'segment', 'rfm_score', 'days_since_last_order',
                                   'last_calculated_at']) c), ', ')
$$;
COMMENT ON FUNCTION analytics_source_columns(text) IS
    'Internal: the columns a source of analytics_changes_query selects: the statistics of alias src and the analytics row''s (a) as old_<column>.';

-- Write the changes of changed_rows (a relation or a parenthesised query of
-- analytics_changes_query's columns), in one statement: the UPDATE, the
-- insights of the customers whose set changed, the churn-detected events of
-- those whose risk crossed the high threshold.  Returns the rows written.
CREATE OR REPLACE FUNCTION apply_analytics_changes(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints,
                                                   thresholds double precision[], changed_rows text)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format($q$
    WITH upd AS (
        UPDATE customer_mgmt.customer_analytics AS a SET
            total_orders = c.total_orders, total_spent = c.total_spent, average_order_value = c.average_order_value,
            last_order_date = c.last_order_date, days_since_last_order = c.days, total_sessions = c.total_sessions,
            total_page_views = c.total_page_views, average_session_duration = c.average_session_duration,
            bounce_rate = c.bounce_rate, conversion_rate = c.conversion_rate,
            favorite_categories = c.favorite_categories, favorite_brands = c.favorite_brands,
            preferred_price_range = c.preferred_price_range,
            customer_lifetime_value = c.total_spent,
            churn_risk_score = c.churn_risk_score, engagement_score = c.engagement_score,
            segment = c.segment, rfm_score = c.rfm_score, last_calculated_at = $1,
            -- after the start of a run, even in a writer that waited for it
            updated_at = clock_timestamp()
          FROM %s c
         WHERE a.customer_id = c.customer_id
        RETURNING a.customer_id, a.total_spent, a.churn_risk_score, a.total_orders, a.days_since_last_order,
                  c.old_churn_risk_score AS old_churn, c.old_last_calculated_at AS old_lc, c.old_flags, c.new_flags),
    -- insights (docs/analytics.md): those that no longer hold go, new ones come,
    -- the others stay (generated_at: since when an insight holds)
    changed AS MATERIALIZED (
        SELECT u.* FROM upd u WHERE u.new_flags <> u.old_flags OR u.old_lc IS NULL),
    want AS MATERIALIZED (
        SELECT u.customer_id, r.type::customer_mgmt.insight_type AS type, r.title, r.description,
               r.priority::customer_mgmt.note_priority AS priority, r.action_recommendation AS action
          FROM changed u
         CROSS JOIN LATERAL customer_mgmt.insights(u.total_spent::float8, u.churn_risk_score::float8, u.total_orders,
                                                   u.days_since_last_order, $5[8], $5[9], $5[10]::integer,
                                                   $5[11]::integer) r),
    gone AS (
        DELETE FROM customer_mgmt.customer_insights i
         USING changed u
         WHERE i.customer_id = u.customer_id
           AND NOT EXISTS (SELECT FROM want w WHERE w.customer_id = i.customer_id AND w.type = i.type)),
    added AS (
        INSERT INTO customer_mgmt.customer_insights (customer_id, type, title, description, priority,
                                                     action_recommendation, generated_at)
        SELECT w.customer_id, w.type, w.title, w.description, w.priority, w.action, $1 FROM want w
        ON CONFLICT (customer_id, type) DO NOTHING),
    -- churn detected: the risk crossed the high threshold; a
    -- first calculation only sets the baseline
    churned AS (
        SELECT customer_mgmt.churn_detected(u.customer_id, u.churn_risk_score)
          FROM upd u
         WHERE u.old_lc IS NOT NULL AND u.old_churn < $9 AND u.churn_risk_score >= $9)
    SELECT (SELECT count(*) FROM upd) + 0 * (SELECT count(*) FROM churned)$q$, changed_rows)
    INTO written
    USING as_of, lo, hi, bp, thresholds, NULL::uuid[], true, true, customer_mgmt.setting('churn.threshold_high')::numeric;
    RETURN written;
END
$$;
COMMENT ON FUNCTION apply_analytics_changes(timestamptz, uuid, uuid, rfm_breakpoints, double precision[], text) IS
    'Internal: writes the analytics changes of a source in one statement (rows, insights whose set changed, churn-detected events); returns the rows written.';

-- One customer (calculate_customer_analytics, the queue worker), from its
-- statistics: after any other writer of the row (docs/architecture.md,
-- "Concurrent writers of the analytics"); then every insight of the customer
-- brought in line with the rules as they are now, and the purchase summary
-- the CLV predictions are computed from (everyone's: fit_clv_model).
-- Returns the rows written (0 or 1).
CREATE OR REPLACE FUNCTION write_customer_analytics(as_of timestamptz, customer_id uuid, bp rfm_breakpoints)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    cid constant uuid := write_customer_analytics.customer_id;
BEGIN
    -- wait for any other writer of the row first, so that the statistics
    -- below are read after it committed
    INSERT INTO customer_mgmt.customer_analytics (customer_id)
    SELECT u.id FROM customer_mgmt.users u WHERE u.id = cid AND u.role = 'customer'
    ON CONFLICT ON CONSTRAINT customer_analytics_customer_id_key DO NOTHING;
    PERFORM FROM customer_mgmt.customer_analytics x WHERE x.customer_id = cid FOR UPDATE;
    written := customer_mgmt.apply_analytics_changes(as_of, cid, cid, bp, customer_mgmt.analytics_thresholds(),
        '(' || customer_mgmt.analytics_changes_query(format(
            'SELECT st.customer_id, %s FROM customer_mgmt.customer_stats($1, $2, $3) st
               JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id',
            customer_mgmt.analytics_source_columns('st'))) || ')');
    PERFORM customer_mgmt.reconcile_insights(as_of, cid, cid);
    PERFORM customer_mgmt.clv_store_summaries(as_of, cid);
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_customer_analytics(timestamptz, uuid, rfm_breakpoints) IS
    'Internal: computes and writes one customer''s analytics row, insights, churn-detected event and CLV purchase summary as of a time, from its statistics; only what changes is written.';

-- A slice [lo, hi] of a recalculation of everyone: the customers whose
-- statistics did not change are scored from their rows, in parallel into a
-- temporary table (an UPDATE is never parallel), and those in
-- pg_temp.cm_recalc_stats from it (full: every customer is there); then the
-- one statement of apply_analytics_changes; in a full run, every insight is
-- reconciled after.  Returns the rows written.
CREATE OR REPLACE FUNCTION write_slice_analytics(as_of timestamptz, lo uuid, hi uuid, bp rfm_breakpoints,
                                                 full_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
    unchanged uuid[];
    thresholds constant float8[] := customer_mgmt.analytics_thresholds();
BEGIN
    IF to_regclass('pg_temp.cm_recalc_rows') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_recalc_rows;
    END IF;
    SELECT coalesce(array_agg(st.customer_id), '{}') INTO unchanged
      FROM pg_temp.cm_recalc_stats st WHERE st.customer_id BETWEEN lo AND hi;
    -- whose statistics did not change: from their rows (those without an
    -- order: nothing of theirs moves with time); none in a full run
    EXECUTE 'CREATE TEMP TABLE cm_recalc_rows AS ' || customer_mgmt.analytics_changes_query(format(
        'SELECT a.customer_id, %s FROM customer_mgmt.customer_analytics a
          WHERE a.customer_id BETWEEN $2 AND $3 AND a.total_orders > 0 AND NOT $7
            AND NOT (a.customer_id = ANY ($6))', customer_mgmt.analytics_source_columns('a')))
    USING as_of, lo, hi, bp, thresholds, unchanged, full_run, false;
    -- whose statistics changed (all, in a full run): from the new ones
    EXECUTE 'INSERT INTO pg_temp.cm_recalc_rows ' || customer_mgmt.analytics_changes_query(format(
        'SELECT st.customer_id, %s FROM pg_temp.cm_recalc_stats st
           JOIN customer_mgmt.customer_analytics a ON a.customer_id = st.customer_id
          WHERE st.customer_id BETWEEN $2 AND $3', customer_mgmt.analytics_source_columns('st')))
    USING as_of, lo, hi, bp, thresholds, NULL::uuid[], full_run, true;
    ANALYZE pg_temp.cm_recalc_rows;
    written := customer_mgmt.apply_analytics_changes(as_of, lo, hi, bp, thresholds, 'pg_temp.cm_recalc_rows');
    DROP TABLE pg_temp.cm_recalc_rows;
    -- in a full run, every insight is brought in line with the rules as they
    -- are now (after a change of the thresholds)
    IF full_run THEN
        PERFORM customer_mgmt.reconcile_insights(as_of, lo, hi);
    END IF;
    RETURN written;
END
$$;
COMMENT ON FUNCTION write_slice_analytics(timestamptz, uuid, uuid, rfm_breakpoints, boolean) IS
    'Internal: computes and writes the analytics rows, insights and churn-detected events of a slice of a recalculation of everyone, as of a time; only rows whose values or insights change are written.';

-- The queue worker.
CREATE OR REPLACE FUNCTION process_analytics_queue(max_items integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    as_of timestamptz := now();
    bp customer_mgmt.rfm_breakpoints;
    item record;
    done bigint := 0;
    run_id bigint;
BEGIN
    IF max_items IS NULL OR max_items NOT BETWEEN 1 AND 100000 THEN
        PERFORM customer_mgmt.raise_invalid('max_items', 'must be from 1 to 100000', max_items::text);
    END IF;
    INSERT INTO customer_mgmt.job_runs (job_name, details)
    VALUES ('process_analytics_queue', jsonb_build_object('maxItems', max_items)) RETURNING id INTO run_id;
    -- a recalculation of everyone is writing: leave the queue to the next run
    IF NOT customer_mgmt.analytics_write_lock(false) THEN
        UPDATE customer_mgmt.job_runs
           SET finished_at = clock_timestamp(), status = 'succeeded', details = details || '{"deferred": true}'
         WHERE id = run_id;
        RETURN jsonb_build_object('processed', 0, 'remaining', (SELECT count(*) FROM customer_mgmt.analytics_queue),
                                  'deferred', true, 'jobRunId', run_id);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints r ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    -- concurrent workers skip each other's rows: no customer twice
    FOR item IN
        SELECT q.customer_id FROM customer_mgmt.analytics_queue q
         ORDER BY q.enqueued_at, q.customer_id
         LIMIT max_items
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM customer_mgmt.write_customer_analytics(as_of, item.customer_id, bp);
        PERFORM customer_mgmt.apply_customer_segments(item.customer_id, as_of);
        DELETE FROM customer_mgmt.analytics_queue q WHERE q.customer_id = item.customer_id;
        done := done + 1;
    END LOOP;
    UPDATE customer_mgmt.job_runs SET finished_at = clock_timestamp(), status = 'succeeded', rows_processed = done
     WHERE id = run_id;
    RETURN jsonb_build_object('processed', done, 'remaining', (SELECT count(*) FROM customer_mgmt.analytics_queue),
                              'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION process_analytics_queue(integer) IS
    'Admin (and pg_cron): recalculates up to max_items queued customers, oldest first, with FOR UPDATE SKIP LOCKED so that workers never share a customer; logged in job_runs. Returns {processed, remaining, jobRunId}.';

CREATE OR REPLACE FUNCTION calculate_customer_analytics(customer_id uuid, as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    bp customer_mgmt.rfm_breakpoints;
    a customer_mgmt.customer_analytics;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    PERFORM customer_mgmt.analytics_write_lock(true);
    -- the breakpoints of the last recalculation of everyone at or before as_of
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints r WHERE r.as_of <= calculate_customer_analytics.as_of
     ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    IF NOT FOUND THEN
        bp := customer_mgmt.compute_rfm_breakpoints(as_of);
    END IF;
    PERFORM customer_mgmt.write_customer_analytics(as_of, u.id, bp);
    PERFORM customer_mgmt.apply_customer_segments(u.id, as_of);
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    RETURN customer_mgmt.customer_analytics_dto(a, as_of);
END
$$;
COMMENT ON FUNCTION calculate_customer_analytics(uuid, timestamptz) IS
    'Admin: calculates and stores one customer''s analytics and insights as of a time (RFM with the breakpoints of the last recalculation of everyone); returns CustomerAnalyticsDto.';

-- sql/functions/recalculation.sql
-- customer_mgmt: The recalculation of everyone (function and batched
-- procedure, with their helpers in customer_mgmt_internal): the locks, the job
-- runs, the customers that changed, the slices.

-- Concurrent writers of the analytics (docs/architecture.md).  Advisory lock
-- (17229, 1): a recalculation of everyone holds it exclusively from its
-- start to its end; writers of one customer (the queue worker,
-- calculate_customer_analytics) share it and lock that customer's
-- analytics row.  Every writer so reads its statistics after the previous
-- writer of the row committed, a slow writer never overwrites a fresher row
-- with older numbers, and the recalculation's view of which customers
-- changed holds until it ends.  (17229, 2) guards against a second
-- recalculation of everyone.
CREATE OR REPLACE FUNCTION analytics_write_lock(wait boolean) RETURNS boolean
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock_shared(17229, 1);
        RETURN true;
    END IF;
    RETURN pg_try_advisory_xact_lock_shared(17229, 1);
END
$$;
COMMENT ON FUNCTION analytics_write_lock(boolean) IS
    'Internal: takes, for the transaction, the shared analytics writers'' advisory lock (17229, 1) that a writer of one customer needs; without wait returns false instead of waiting while a recalculation of everyone runs.';

-- Close a job run: finished, succeeded or failed with the error, rows.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.finish_job_run(run_id bigint, rows_processed bigint DEFAULT NULL, error text DEFAULT NULL)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE customer_mgmt.job_runs r
       SET finished_at = clock_timestamp(),
           status = CASE WHEN error IS NULL THEN 'succeeded' ELSE 'failed' END::customer_mgmt.job_status,
           rows_processed = coalesce(finish_job_run.rows_processed, r.rows_processed),
           error = finish_job_run.error
     WHERE r.id = run_id
$$;
COMMENT ON FUNCTION customer_mgmt_internal.finish_job_run(bigint, bigint, text) IS
    'Internal: marks a job run finished, succeeded (error NULL) or failed, with its row count when given.';

-- Which customers' statistics must be recomputed to bring everyone to
-- as_of (docs/architecture.md, "The nightly run").  After the previous run
-- (as of prev_as_of, started at prev_started) every row held the
-- statistics as of prev_as_of, written or found unchanged; a row written
-- since holds them as of its last_calculated_at.  A customer must be
-- recomputed whose row was never calculated, holds statistics as of a time
-- after as_of or before the window, is queued (its data changed in a way
-- its date cannot show: the triggers queue it), or has a completed order or
-- a visit dated after its statistics' time and not after as_of, found by
-- index in the window (least(prev_as_of, as_of), as_of].
CREATE OR REPLACE FUNCTION changed_customers(as_of timestamptz, prev_as_of timestamptz, prev_started timestamptz)
    RETURNS uuid[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH a AS NOT MATERIALIZED (
        SELECT x.customer_id,
               x.last_calculated_at IS NULL AS never,
               CASE WHEN x.updated_at >= prev_started THEN x.last_calculated_at ELSE prev_as_of END AS stats_as_of
          FROM customer_mgmt.customer_analytics x)
    SELECT coalesce(array_agg(DISTINCT c.customer_id ORDER BY c.customer_id), '{}')
      FROM (SELECT a.customer_id FROM a
             WHERE a.never OR a.stats_as_of > as_of OR a.stats_as_of < least(prev_as_of, as_of)
            UNION ALL
            SELECT q.customer_id FROM customer_mgmt.analytics_queue q
            UNION ALL
            SELECT o.customer_id FROM customer_mgmt.orders o JOIN a ON a.customer_id = o.customer_id
             WHERE o.status = 'completed' AND o.order_date > least(prev_as_of, as_of) AND o.order_date <= as_of
               AND o.order_date > a.stats_as_of
            UNION ALL
            SELECT w.customer_id FROM customer_mgmt.web_sessions w JOIN a ON a.customer_id = w.customer_id
             WHERE w.started_at > least(prev_as_of, as_of) AND w.started_at <= as_of AND w.started_at > a.stats_as_of) c
$$;
COMMENT ON FUNCTION changed_customers(timestamptz, timestamptz, timestamptz) IS
    'Internal: the customers whose statistics a recalculation of everyone as of a time must recompute, given the previous run''s as_of and start (docs/architecture.md).';

-- Start a recalculation of everyone: check the arguments, make sure no
-- other one runs, take the analytics writers' lock, compute the statistics
-- that changed (or everyone's, with full) into pg_temp.cm_recalc_stats,
-- store the RFM breakpoints, log the run.  The locks are the transaction's
-- (the function) or the session's (the procedure, which commits between
-- slices and releases them at the end).
CREATE OR REPLACE FUNCTION customer_mgmt_internal.begin_recalculation(as_of timestamptz, batches integer, job_name text,
                                                                      session_lock boolean, full_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
AS $$
DECLARE
    bp customer_mgmt.rfm_breakpoints;
    run_id bigint;
    other customer_mgmt.job_runs;
    locked boolean;
    stale regclass;
    since timestamptz;
    since_started timestamptz;
    changed uuid[];
    customers bigint;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    IF batches IS NULL OR batches NOT BETWEEN 1 AND 4096 THEN
        PERFORM customer_mgmt.raise_invalid('batches', 'must be from 1 to 4096', batches::text);
    END IF;
    IF full_run IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('full', 'is required');
    END IF;
    IF session_lock THEN
        locked := pg_try_advisory_lock(17229, 2);
    ELSE
        locked := pg_try_advisory_xact_lock(17229, 2);
    END IF;
    IF NOT locked THEN
        SELECT * INTO other FROM customer_mgmt.job_runs r
         WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'running'
         ORDER BY r.id DESC LIMIT 1;
        RAISE EXCEPTION 'a full analytics recalculation is already running'
            USING ERRCODE = 'P0001',
                  DETAIL = format('Job run %s (%s) started at %s.', other.id, other.job_name, other.started_at),
                  HINT = 'Wait for it to finish; its progress is in customer_mgmt.job_runs.';
    END IF;
    BEGIN
        -- writers of one customer finish first, and wait (or defer) until the end
        IF session_lock THEN
            PERFORM pg_advisory_lock(17229, 1);
        ELSE
            PERFORM pg_advisory_xact_lock(17229, 1);
        END IF;
        -- holding the lock, any other run still marked running was interrupted
        UPDATE customer_mgmt.job_runs r
           SET status = 'failed', finished_at = clock_timestamp(), error = 'interrupted (its session ended)'
         WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'running';
        -- a bulk load that autovacuum has not analysed yet would leave the
        -- planner estimating one row per slice: nested loops, quadratic time
        FOR stale IN
            SELECT t.relid::regclass FROM pg_stat_user_tables t
             WHERE t.schemaname = 'customer_mgmt' AND t.relname IN ('users', 'orders', 'order_items', 'web_sessions')
               AND (coalesce(t.last_analyze, t.last_autoanalyze) IS NULL OR t.n_mod_since_analyze > t.n_live_tup / 2 + 1000)
        LOOP
            EXECUTE format('ANALYZE %s', stale);
        END LOOP;
        -- every customer has an analytics row: the registration trigger makes
        -- it; a run from scratch also makes those of loads that bypassed it
        IF full_run THEN
            PERFORM customer_mgmt.ensure_analytics_rows();
        END IF;
        -- what changed since the previous run; with none, or when much
        -- changed, everyone (the same numbers, computed in one pass)
        IF NOT full_run THEN
            SELECT (r.details ->> 'asOf')::timestamptz, r.started_at INTO since, since_started FROM customer_mgmt.job_runs r
             WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'succeeded'
             ORDER BY r.id DESC LIMIT 1;
            IF since IS NULL THEN
                full_run := true;
            ELSE
                changed := customer_mgmt.changed_customers(as_of, since, since_started);
                SELECT greatest(c.reltuples, 0)::bigint INTO customers FROM pg_class c
                 WHERE c.oid = 'customer_mgmt.customer_analytics'::regclass;
                full_run := cardinality(changed) > greatest(10000, customers / 10);
            END IF;
        END IF;
        PERFORM customer_mgmt_internal.end_recalculation(NULL, NULL, NULL, false);
        -- CREATE TABLE AS may use parallel workers, an UPDATE may not
        IF full_run THEN
            EXECUTE format('CREATE TEMP TABLE cm_recalc_stats AS SELECT * FROM customer_mgmt.customer_stats(%L, %L, %L)',
                           as_of, customer_mgmt.uuid_slice_bound(0, 1), customer_mgmt.uuid_slice_bound(1, 1, true));
        ELSE
            EXECUTE format('CREATE TEMP TABLE cm_recalc_stats AS SELECT * FROM customer_mgmt.customer_stats(%L, %L, %L, %L)',
                           as_of, customer_mgmt.uuid_slice_bound(0, 1), customer_mgmt.uuid_slice_bound(1, 1, true), changed);
        END IF;
        ANALYZE pg_temp.cm_recalc_stats;
        -- the breakpoints from every customer's statistics as of as_of: those
        -- recomputed, and the others' as the list holds them (a narrow table)
        bp := customer_mgmt.store_rfm_breakpoints(as_of,
                  'SELECT CASE WHEN st.customer_id IS NULL THEN l.last_order_date ELSE st.last_order_date END,
                          CASE WHEN st.customer_id IS NULL THEN l.total_orders ELSE st.total_orders END,
                          CASE WHEN st.customer_id IS NULL THEN l.total_spent ELSE st.total_spent END
                     FROM customer_mgmt.customer_list l
                     LEFT JOIN pg_temp.cm_recalc_stats st ON st.customer_id = l.customer_id');
        INSERT INTO customer_mgmt.job_runs (job_name, details)
        VALUES (job_name, jsonb_build_object('asOf', as_of, 'batches', batches, 'full', full_run, 'since', since,
                                             'changedCustomers', (SELECT count(*) FROM pg_temp.cm_recalc_stats),
                                             'slicesDone', 0, 'rfmBreakpointsId', bp.id))
        RETURNING id INTO run_id;
    EXCEPTION WHEN OTHERS THEN
        -- the procedure's locks are the session's: do not keep them past a failure
        IF session_lock THEN
            PERFORM customer_mgmt_internal.end_recalculation(NULL, NULL, NULL, true);
        END IF;
        RAISE;
    END;
    RETURN run_id;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.begin_recalculation(timestamptz, integer, text, boolean, boolean) IS
    'Internal: starts a recalculation of everyone (arguments checked, one at a time, writers of one customer held off, the statistics that changed or with full everyone''s computed, RFM breakpoints stored, run logged); returns the job run id.';

-- One slice of a recalculation of everyone: write_slice_analytics over slice i of
-- n of the id space, progress in the job run.
CREATE OR REPLACE FUNCTION customer_mgmt_internal.recalculate_slice(run_id bigint, slice integer) RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
AS $$
DECLARE
    r customer_mgmt.job_runs;
    bp customer_mgmt.rfm_breakpoints;
    batches integer;
    written bigint;
BEGIN
    SELECT * INTO r FROM customer_mgmt.job_runs x
     WHERE x.id = run_id AND x.job_name LIKE 'recalculate_all_analytics%' AND x.status = 'running';
    IF NOT FOUND OR to_regclass('pg_temp.cm_recalc_stats') IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('run_id', 'is not a recalculation running in this session', run_id::text);
    END IF;
    batches := (r.details ->> 'batches')::integer;
    IF slice IS NULL OR slice NOT BETWEEN 0 AND batches - 1 THEN
        PERFORM customer_mgmt.raise_invalid('slice', format('must be from 0 to %s', batches - 1), slice::text);
    END IF;
    SELECT * INTO bp FROM customer_mgmt.rfm_breakpoints b WHERE b.id = (r.details ->> 'rfmBreakpointsId')::bigint;
    written := customer_mgmt.write_slice_analytics((r.details ->> 'asOf')::timestamptz,
                                                   customer_mgmt.uuid_slice_bound(slice, batches),
                                                   customer_mgmt.uuid_slice_bound(slice + 1, batches, true), bp,
                                                   (r.details ->> 'full')::boolean);
    UPDATE customer_mgmt.job_runs x
       SET rows_processed = x.rows_processed + written,
           details = x.details || jsonb_build_object('slicesDone', slice + 1)
     WHERE x.id = run_id;
    RETURN written;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.recalculate_slice(bigint, integer) IS
    'Internal: recalculates slice i of the id space for the recalculation running in this session and records the progress in its job run; returns the customers written.';

-- End a recalculation of everyone: the auto-assigned segments refreshed
-- (when it succeeded), its job run closed (when given), its temporary
-- statistics dropped, the session's locks released (the procedure's).
CREATE OR REPLACE FUNCTION customer_mgmt_internal.end_recalculation(run_id bigint, rows_processed bigint, error text,
                                                                    session_lock boolean)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a run that succeeded refits the CLV model, rescoring everyone, and
    -- refreshes every auto-assigned segment, as of its time
    IF run_id IS NOT NULL AND error IS NULL THEN
        PERFORM customer_mgmt.fit_clv_model((r.details ->> 'asOf')::timestamptz),
                customer_mgmt.refresh_all_segments((r.details ->> 'asOf')::timestamptz)
           FROM customer_mgmt.job_runs r WHERE r.id = run_id;
    END IF;
    IF run_id IS NOT NULL THEN
        PERFORM customer_mgmt_internal.finish_job_run(run_id, rows_processed, error);
    END IF;
    IF to_regclass('pg_temp.cm_recalc_stats') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_recalc_stats;
    END IF;
    -- the session-level locks this session holds (none if the start failed early)
    IF session_lock THEN
        PERFORM pg_advisory_unlock(l.classid::integer, l.objid::integer)
           FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.classid = 17229 AND l.objsubid = 2
            AND l.objid IN (1, 2) AND l.mode = 'ExclusiveLock' AND l.granted;
    END IF;
END
$$;
COMMENT ON FUNCTION customer_mgmt_internal.end_recalculation(bigint, bigint, text, boolean) IS
    'Internal: ends a recalculation of everyone: job run closed, temporary statistics dropped, the procedure''s session locks released.';

CREATE OR REPLACE FUNCTION recalculate_all_analytics(as_of timestamptz DEFAULT now(), full boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    run_id bigint := customer_mgmt_internal.begin_recalculation(as_of, 1, 'recalculate_all_analytics', false,
                                                                recalculate_all_analytics.full);
    r customer_mgmt.job_runs;
    written bigint;
BEGIN
    written := customer_mgmt_internal.recalculate_slice(run_id, 0);
    PERFORM customer_mgmt_internal.end_recalculation(run_id, written, NULL, false);
    SELECT * INTO r FROM customer_mgmt.job_runs x WHERE x.id = run_id;
    RETURN jsonb_build_object('customers', (SELECT count(*) FROM customer_mgmt.customer_list), 'written', written,
                              'asOf', as_of, 'full', (r.details ->> 'full')::boolean,
                              'changedCustomers', (r.details ->> 'changedCustomers')::bigint,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3),
                              'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION recalculate_all_analytics(timestamptz, boolean) IS
    'Admin: brings every customer''s analytics and insights to as_of in one transaction, recomputing from orders and sessions only the customers whose data changed since the previous run (full: everyone); both give the same rows. Logged in job_runs. Returns {customers, written (rows whose values changed), asOf, full, changedCustomers (statistics recomputed), seconds, jobRunId}.';

-- The same in batches with a commit after each: progress is visible in
-- job_runs from other sessions, and locks on the rows stay short.  Not
-- SECURITY DEFINER (a procedure that commits cannot be); everything it
-- calls is schema-qualified and SECURITY DEFINER itself.
CREATE OR REPLACE PROCEDURE recalculate_all_analytics_batched(as_of timestamptz DEFAULT now(), batches integer DEFAULT 8,
                                                              full boolean DEFAULT false)
    LANGUAGE plpgsql
AS $$
DECLARE
    run_id bigint;
    written bigint := 0;
    failure text;
    failure_state text;
BEGIN
    run_id := customer_mgmt_internal.begin_recalculation(as_of, batches, 'recalculate_all_analytics_batched', true,
                                                         recalculate_all_analytics_batched.full);
    COMMIT;
    FOR i IN 0 .. batches - 1 LOOP
        BEGIN
            written := written + customer_mgmt_internal.recalculate_slice(run_id, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE;
        END;
        IF failure IS NOT NULL THEN
            PERFORM customer_mgmt_internal.end_recalculation(run_id, written, failure, true);
            COMMIT;
            RAISE EXCEPTION '%', failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.format('Slice %s of %s of job run %s; the slices before it are committed.',
                                                 i, batches, run_id);
        END IF;
        COMMIT;
    END LOOP;
    PERFORM customer_mgmt_internal.end_recalculation(run_id, written, NULL, true);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer, boolean) IS
    'Admin (and pg_cron, daily): recalculate_all_analytics committing after each of batches slices, so that progress shows in job_runs and row locks stay short; a failure is logged before it is raised. CALL it outside a transaction block.';

-- Bound i of n equal slices of the uuid space (the last bound is the maximum).
CREATE OR REPLACE FUNCTION uuid_slice_bound(i integer, n integer, upper boolean DEFAULT false) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN upper AND i >= n THEN 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
        ELSE (lpad(to_hex((i::bigint * 4294967296 / n) - CASE WHEN upper THEN 1 ELSE 0 END), 8, '0')
              || CASE WHEN upper THEN '-ffff-ffff-ffff-ffffffffffff' ELSE '-0000-0000-0000-000000000000' END)::uuid
    END
$$;
COMMENT ON FUNCTION uuid_slice_bound(integer, integer, boolean) IS
    'Internal: the lower (or, with upper, the upper) bound of slice i of n equal slices of the uuid space.';

-- sql/functions/events.sql
-- customer_mgmt: Events (docs/reference.md, Event triggers): the outbox with NOTIFY, the trigger functions of
-- registration, completed orders and logins, churn detection, and the outbox
-- consumer API (claim_events, mark_events_processed).

-- Registration: analytics row, the "new-customers" segment, the welcome e-mail.
CREATE OR REPLACE FUNCTION users_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
    VALUES (NEW.id, NEW.created_at, NEW.created_at)
    ON CONFLICT (customer_id) DO NOTHING;
    PERFORM customer_mgmt.list_row_sync(NEW.id);
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, assigned_at)
    VALUES (NEW.id, '00000000-0000-4000-8000-000000000001', 'system', NEW.created_at)
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    PERFORM customer_mgmt.emit_event('customer.registered', NEW.id,
        jsonb_build_object('customerId', NEW.id, 'fullName', NEW.full_name, 'email', NEW.email,
                           'registeredAt', NEW.created_at));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_insert() IS
    'Trigger (customer registered): analytics row and list row, new-customers segment, customer.registered outbox event for the welcome e-mail; not while a dump is restored.';

-- Put an event in the outbox and announce it.
CREATE OR REPLACE FUNCTION emit_event(event_type text, customer_id uuid, payload jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    event_id bigint;
BEGIN
    INSERT INTO customer_mgmt.event_outbox AS e (event_type, customer_id, payload)
    VALUES (emit_event.event_type, emit_event.customer_id, payload)
    RETURNING e.id INTO event_id;
    PERFORM pg_notify('customer_mgmt_events',
                      jsonb_build_object('id', event_id, 'eventType', event_type, 'customerId', customer_id)::text);
    RETURN event_id;
END
$$;
COMMENT ON FUNCTION emit_event(text, uuid, jsonb) IS
    'Internal: writes an event to event_outbox and announces it with NOTIFY customer_mgmt_events ({"id", "eventType", "customerId"}).';

-- Churn detected: the at-risk segment, a system note, the retention campaign.
CREATE OR REPLACE FUNCTION churn_detected(customer_id uuid, churn_risk numeric) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by)
    VALUES (churn_detected.customer_id, '00000000-0000-4000-8000-000000000002', 'system')
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, title, content, type, priority, is_internal)
    VALUES (churn_detected.customer_id, NULL, 'Churn Risk Detected',
            format('Customer shows high churn risk (score: %s)', churn_risk), 'system', 'high', true);
    PERFORM customer_mgmt.emit_event('customer.churn_detected', churn_detected.customer_id,
                                     jsonb_build_object('customerId', churn_detected.customer_id, 'churnScore', churn_risk));
END
$$;
COMMENT ON FUNCTION churn_detected(uuid, numeric) IS
    'Internal: what happens when a customer''s churn risk crosses the high threshold: at-risk-customers segment, a system note, a customer.churn_detected event (retention campaign).';

-- Order completed (inserted as completed, or moved to completed): the
-- customer is queued for recalculation.  DO UPDATE, not DO NOTHING: when a
-- worker holds the queue row, this waits for it, and once the worker has
-- deleted the row it inserts a new one, so the order is never missed.
CREATE OR REPLACE FUNCTION orders_after_write() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'completed')
       OR TG_OP = 'UPDATE' AND OLD.status = 'completed' AND NEW.status <> 'completed' THEN
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        VALUES (NEW.customer_id, 'order.' || NEW.status)
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION orders_after_write() IS
    'Trigger (order completed, or a completed order refunded): queues the customer for recalculation; not while a dump is restored.';

-- Data that the statistics read changed in a way its date cannot show (the
-- nightly run finds orders and visits dated after a customer's last
-- calculation by itself, docs/architecture.md): the customers are queued,
-- so that the queue worker and the next run recompute them.  A row of a
-- customer being deleted queues nothing.
CREATE OR REPLACE FUNCTION analytics_data_changed() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids uuid[];
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'order_items' THEN
        ids := ARRAY(SELECT o.customer_id FROM customer_mgmt.orders o
                      WHERE o.status = 'completed'
                        AND o.id IN (OLD.order_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.order_id END));
    ELSIF TG_OP = 'UPDATE' THEN
        ids := ARRAY[OLD.customer_id, NEW.customer_id];
    ELSE
        ids := ARRAY[OLD.customer_id];
    END IF;
    INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
    SELECT DISTINCT u.id, TG_TABLE_NAME || '.' || lower(TG_OP)
      FROM customer_mgmt.users u WHERE u.id = ANY (ids)
    ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_data_changed() IS
    'Trigger (a completed order''s customer, amount or date changed, or it was deleted; an order line or a visit changed or was deleted): queues the customers for recalculation; not while a dump is restored.';

-- Rows added with a date at or before their customer's last calculation
-- (a back-dated visit, a line added to an order already counted): queued
-- likewise.  Rows dated later are what the nightly run finds by date.
CREATE OR REPLACE FUNCTION analytics_rows_added() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'web_sessions' THEN
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        SELECT DISTINCT n.customer_id, 'web_sessions.insert'
          FROM new_rows n JOIN customer_mgmt.customer_analytics a ON a.customer_id = n.customer_id
         WHERE n.started_at <= a.last_calculated_at
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    ELSE
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        SELECT DISTINCT o.customer_id, 'order_items.insert'
          FROM (SELECT DISTINCT n.order_id FROM new_rows n) n
          JOIN customer_mgmt.orders o ON o.id = n.order_id
          JOIN customer_mgmt.customer_analytics a ON a.customer_id = o.customer_id
         WHERE o.status = 'completed' AND o.order_date <= a.last_calculated_at
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_rows_added() IS
    'Statement trigger (visits or order lines added): queues the customers of those dated at or before the customer''s last calculation; not while a dump is restored.';

-- The outbox, for the application that sends e-mails and campaigns:
-- BEGIN; claim_events(); ...send...; mark_events_processed(ids); COMMIT.
-- Claimed rows stay locked until the caller's transaction ends, so two
-- consumers never get the same event, and a consumer that fails rolls its
-- claim back.
CREATE OR REPLACE FUNCTION claim_events(max_events integer DEFAULT 100, consumer text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimed jsonb;
BEGIN
    IF max_events IS NULL OR max_events NOT BETWEEN 1 AND 10000 THEN
        PERFORM customer_mgmt.raise_invalid('max_events', 'must be from 1 to 10000', max_events::text);
    END IF;
    WITH c AS (
        SELECT e.id FROM customer_mgmt.event_outbox e
         WHERE e.processed_at IS NULL
         ORDER BY e.id
         LIMIT max_events
           FOR UPDATE SKIP LOCKED),
    u AS (
        UPDATE customer_mgmt.event_outbox e
           SET claimed_at = now(), claimed_by = left(coalesce(consumer, session_user::text), 200)
          FROM c WHERE e.id = c.id
        RETURNING e.*)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'eventType', u.event_type, 'customerId', u.customer_id,
                                                 'payload', u.payload, 'createdAt', u.created_at) ORDER BY u.id), '[]')
      INTO claimed FROM u;
    RETURN claimed;
END
$$;
COMMENT ON FUNCTION claim_events(integer, text) IS
    'App: claims up to max_events unprocessed outbox events (FOR UPDATE SKIP LOCKED, held until the caller''s transaction ends) and returns them.';

CREATE OR REPLACE FUNCTION mark_events_processed(event_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF event_ids IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('event_ids', 'is required');
    END IF;
    UPDATE customer_mgmt.event_outbox e SET processed_at = now()
     WHERE e.id = ANY (event_ids) AND e.processed_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION mark_events_processed(bigint[]) IS 'App: marks outbox events done; returns how many were not done before.';

-- Login (customer.login): whichever path moves last_login_at
-- forward, record_login or the application's own UPDATE, the login is
-- recorded as a session.
CREATE OR REPLACE FUNCTION users_after_login() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    -- a login opens a visit; it views no page (docs/analytics.md)
    INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
    VALUES (NEW.id, NEW.last_login_at, 0, 0, false);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_login() IS
    'Trigger (customer login): a customer''s last_login_at moved forward records a visit at that time with no page view (not a bounce); not while a dump is restored.';

-- sql/functions/jobs.sql
-- customer_mgmt: Jobs: the pg_cron schedule (cron_jobs, schedule_jobs, unschedule_jobs,
-- cron_script) and the expiry of segment assignments.

-- Expired segment assignments
CREATE OR REPLACE FUNCTION remove_expired_segment_assignments() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run_id bigint;
    removed bigint;
BEGIN
    INSERT INTO customer_mgmt.job_runs (job_name) VALUES ('remove_expired_segment_assignments') RETURNING id INTO run_id;
    DELETE FROM customer_mgmt.customer_segment_assignments a WHERE a.expires_at <= now();
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, removed);
    RETURN jsonb_build_object('removed', removed, 'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION remove_expired_segment_assignments() IS
    'Admin (and pg_cron, every 10 minutes): deletes the segment assignments whose expires_at has passed; logged in job_runs. Returns {removed, jobRunId}.';

-- pg_cron.  pg_cron lives in the one database named by cron.database_name:
-- schedule_jobs() works when that is the shop's database; otherwise
-- cron_script() writes the statements to run there.
CREATE OR REPLACE FUNCTION cron_jobs() RETURNS TABLE (job_name text, schedule text, command text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shop_tz text := customer_mgmt.setting('shop_timezone');
    -- pg_cron 1.4 reads schedules in GMT; later versions have cron.timezone
    cron_tz text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
    nightly timestamp := ((now() AT TIME ZONE shop_tz)::date + time '02:00') AT TIME ZONE shop_tz AT TIME ZONE cron_tz;
BEGIN
    RETURN QUERY VALUES
        ('customer_mgmt.analytics-queue.' || (current_database()::text COLLATE "default"), '* * * * *',
         'SELECT customer_mgmt.process_analytics_queue(1000)'),
        ('customer_mgmt.recalculate-all.' || (current_database()::text COLLATE "default"),
         format('%s %s * * *', extract(minute FROM nightly)::integer, extract(hour FROM nightly)::integer),
         'CALL customer_mgmt.recalculate_all_analytics_batched()'),
        ('customer_mgmt.expire-assignments.' || (current_database()::text COLLATE "default"), '*/10 * * * *',
         'SELECT customer_mgmt.remove_expired_segment_assignments()');
    -- retention, when the shop turned it on: daily, an hour after the nightly run
    IF customer_mgmt.setting('privacy.anonymize_inactive_years')::integer > 0 THEN
        RETURN QUERY VALUES
            ('customer_mgmt.anonymize-inactive.' || (current_database()::text COLLATE "default"),
             format('%s %s * * *', extract(minute FROM nightly)::integer, (extract(hour FROM nightly)::integer + 1) % 24),
             'SELECT customer_mgmt.anonymize_inactive_customers()');
    END IF;
END
$$;
COMMENT ON FUNCTION cron_jobs() IS
    'The pg_cron jobs of this shop database: queue worker every minute, full recalculation at 02:00 shop time (setting shop_timezone, converted to pg_cron''s zone), expired assignments every 10 minutes, and, when privacy.anonymize_inactive_years is set, the anonymisation of inactive customers at 03:00.';

-- Every name a job of this shop may have, whether scheduled now or not.
CREATE OR REPLACE FUNCTION cron_job_names() RETURNS SETOF text
    LANGUAGE sql STABLE
AS $$
    SELECT 'customer_mgmt.' || n || '.' || (current_database()::text COLLATE "default")
      FROM unnest(ARRAY['analytics-queue', 'recalculate-all', 'expire-assignments', 'anonymize-inactive']) n
$$;
COMMENT ON FUNCTION cron_job_names() IS 'Internal: the names of every pg_cron job this shop database may have.';

CREATE OR REPLACE FUNCTION require_cron() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN NOT 'pg_cron' = ANY (string_to_array(
                                         translate(current_setting('shared_preload_libraries'), ' "', ''), ','))
                                THEN 'pg_cron is not in shared_preload_libraries.'
                                WHEN coalesce(current_setting('cron.database_name', true), 'postgres') = current_database()
                                THEN 'pg_cron is preloaded for this database, but CREATE EXTENSION pg_cron was not run here.'
                                ELSE format('pg_cron runs in database %s (cron.database_name).',
                                            coalesce(current_setting('cron.database_name', true), 'postgres')) END,
                  HINT = 'Run CREATE EXTENSION pg_cron in the database pg_cron runs in; when that is not this one, run there the statements of SELECT customer_mgmt.cron_script() (docs/operations.md).';
    END IF;
END
$$;
COMMENT ON FUNCTION require_cron() IS 'Internal: raises 55000 with what to do when pg_cron is not installed in this database.';

CREATE OR REPLACE FUNCTION schedule_jobs() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    scheduled jsonb := '[]';
BEGIN
    PERFORM customer_mgmt.require_cron();
    -- a job of ours that is no longer wanted (retention turned off) goes
    PERFORM cron.unschedule(c.jobid) FROM cron.job c
      WHERE c.jobname IN (SELECT x.job_name FROM customer_mgmt.cron_job_names() x (job_name))
        AND c.jobname NOT IN (SELECT w.job_name FROM customer_mgmt.cron_jobs() w);
    FOR j IN SELECT * FROM customer_mgmt.cron_jobs() LOOP
        -- cron.schedule replaces a job of the same name and owner
        scheduled := scheduled || jsonb_build_object('jobName', j.job_name, 'schedule', j.schedule,
                                                     'command', j.command,
                                                     'jobId', cron.schedule(j.job_name, j.schedule, j.command));
    END LOOP;
    RETURN scheduled;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
    'Admin: installs (or updates) the jobs of cron_jobs() in pg_cron, which must be installed in this database; idempotent. Returns [{jobName, schedule, command, jobId}].';

CREATE OR REPLACE FUNCTION unschedule_jobs() RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    id bigint;
BEGIN
    PERFORM customer_mgmt.require_cron();
    FOR id IN SELECT c.jobid FROM cron.job c WHERE c.jobname IN (SELECT x.job_name FROM customer_mgmt.cron_job_names() x (job_name)) LOOP
        PERFORM cron.unschedule(id);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
    'Admin: removes exactly the jobs of cron_jobs() from pg_cron (other jobs stay); idempotent. Returns how many were removed.';

CREATE OR REPLACE FUNCTION cron_script(unschedule boolean DEFAULT false) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(CASE WHEN unschedule
                           THEN format('SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %L;', j.job_name)
                           ELSE format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                       j.job_name, j.schedule, j.command, current_database()) END,
                      E'\n' ORDER BY j.job_name) || E'\n'
      FROM customer_mgmt.cron_jobs() j
$$;
COMMENT ON FUNCTION cron_script(boolean) IS
    'The SQL that schedules (or, with unschedule, removes) this shop''s jobs from the database where pg_cron is installed, when that is another database: psql -d shop -Atc ''SELECT customer_mgmt.cron_script()'' | psql -d <cron database>.';

-- sql/functions/dashboard.sql
-- customer_mgmt: The overview dashboard and the customer health score.

-- Overview dashboard
-- The date range of the dashboard: [date_from, date_to), by default the
-- 30 days before now.
CREATE OR REPLACE FUNCTION overview_range(date_from timestamptz, date_to timestamptz, OUT range_from timestamptz,
                               OUT range_to timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    range_to := coalesce(date_to, now());
    range_from := coalesce(date_from, range_to - interval '30 days');
    PERFORM customer_mgmt.check_time_range('date_from', range_from, 'date_to', range_to);
    IF range_to - range_from > interval '5 years' THEN
        PERFORM customer_mgmt.raise_invalid('date_to', 'must be at most 5 years after date_from', range_to::text);
    END IF;
END
$$;
COMMENT ON FUNCTION overview_range(timestamptz, timestamptz) IS
    'Internal: the dashboard''s range [date_from, date_to) with its defaults (the last 30 days), or 22023.';

-- The counts of the range: new, active, churned customers.  Each reads
-- indexes over the range, not every customer (docs/performance.md):
-- customer_list holds exactly the customers; orders are customers'.
CREATE OR REPLACE FUNCTION overview_counts(range_from timestamptz, range_to timestamptz,
                                OUT total_customers bigint, OUT new_customers bigint,
                                OUT active_customers bigint, OUT churned_customers bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL plans with the range's values (a SQL function would plan for
    -- any range, and pick the wrong scans)
    SELECT (SELECT count(*) FROM customer_mgmt.customer_list l WHERE l.created_at < range_to),
           (SELECT count(*) FROM customer_mgmt.customer_list l
             WHERE l.created_at >= range_from AND l.created_at < range_to),
           -- a session (a login is one) or a completed order in the range
           (SELECT count(*) FROM customer_mgmt.customer_list l
             WHERE l.customer_id IN (SELECT w.customer_id FROM customer_mgmt.web_sessions w
                                      WHERE w.started_at >= range_from AND w.started_at < range_to
                                     UNION
                                     SELECT o.customer_id FROM customer_mgmt.orders o
                                      WHERE o.status = 'completed' AND o.order_date >= range_from
                                        AND o.order_date < range_to)),
           -- whose last completed order before the end of the range became
           -- older than the churned threshold during it: an order in the range
           -- moved back by the threshold, and none after that before the end
           (SELECT count(*)
              FROM (SELECT make_interval(days => customer_mgmt.setting('segment.churned_min_days_since_order')::integer)
                           AS after OFFSET 0) k,
                   LATERAL (SELECT DISTINCT o.customer_id FROM customer_mgmt.orders o
                             WHERE o.status = 'completed' AND o.order_date >= range_from - k.after
                               AND o.order_date < range_to - k.after) x
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.orders o
                                WHERE o.customer_id = x.customer_id AND o.status = 'completed'
                                  AND o.order_date >= range_to - k.after AND o.order_date < range_to))
      INTO total_customers, new_customers, active_customers, churned_customers;
END
$$;
COMMENT ON FUNCTION overview_counts(timestamptz, timestamptz) IS
    'Internal: customers registered before the end of the range, new in it, active in it (a session or a completed order), churned in it (their last completed order passed the churned threshold during it).';

CREATE OR REPLACE FUNCTION get_customer_overview(date_from timestamptz DEFAULT NULL, date_to timestamptz DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := customer_mgmt.overview_range(date_from, date_to);
    c record := customer_mgmt.overview_counts(r.range_from, r.range_to);
    shop_tz text := customer_mgmt.setting('shop_timezone');
    low numeric := customer_mgmt.setting('churn.threshold_low')::numeric;
    medium numeric := customer_mgmt.setting('churn.threshold_medium')::numeric;
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    distributions jsonb;
    result jsonb;
BEGIN
    result := jsonb_build_object(
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers);

    -- distributions over the stored analytics (as fresh as the last run),
    -- in one read of the list's narrow copy of them (lifetime value is total
    -- spent): every customer counted by segment, value band and risk band
    WITH n AS (
        SELECT GROUPING(x.segment, x.value_band, x.risk_band) AS g, x.segment, x.value_band, x.risk_band, count(*) AS n
          FROM (SELECT l.segment,
                       -- the bands of 'lifetimeValueDistribution' below: (lo, hi]
                       CASE WHEN l.total_spent = 0 THEN 1
                            ELSE 2 + (l.total_spent > 1000000)::integer + (l.total_spent > 5000000)::integer
                                   + (l.total_spent > 10000000)::integer + (l.total_spent > 50000000)::integer
                       END AS value_band,
                       -- [lo, hi) at the thresholds
                       1 + (l.churn_risk_score >= low)::integer + (l.churn_risk_score >= medium)::integer
                         + (l.churn_risk_score >= high)::integer AS risk_band
                  FROM customer_mgmt.customer_list l) x
         GROUP BY GROUPING SETS ((x.segment), (x.value_band), (x.risk_band), ())),
    total AS (SELECT greatest(n.n, 1) AS n FROM n WHERE n.g = 7)
    SELECT jsonb_build_object(
        'segmentDistribution', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('segment', s.segment, 'count', coalesce(x.n, 0),
                                                         'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                                      ORDER BY s.segment), '[]')
              FROM unnest(enum_range(NULL::customer_mgmt.lifecycle_segment)) AS s(segment)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 3 AND x.segment = s.segment),
        'lifetimeValueDistribution', (
            SELECT jsonb_agg(jsonb_build_object('range', b.label, 'min', b.lo, 'max', b.hi, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                             ORDER BY b.ord)
              FROM (VALUES (1, '0', 0::numeric, 0::numeric), (2, 'under 1M', 0, 1000000), (3, '1M-5M', 1000000, 5000000),
                           (4, '5M-10M', 5000000, 10000000), (5, '10M-50M', 10000000, 50000000), (6, '50M+', 50000000, NULL))
                   AS b(ord, label, lo, hi)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 5 AND x.value_band = b.ord),
        'churnRiskDistribution', (
            SELECT jsonb_agg(jsonb_build_object('level', b.label, 'min', b.lo, 'max', b.hi, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / total.n, 2))
                             ORDER BY b.ord)
              FROM (VALUES (1, 'low', 0::numeric, low), (2, 'moderate', low, medium), (3, 'medium', medium, high),
                           (4, 'high', high, NULL)) AS b(ord, label, lo, hi)
              CROSS JOIN total
              LEFT JOIN n x ON x.g = 6 AND x.risk_band = b.ord))
      INTO distributions;
    result := result || distributions;

    -- the top and the most at risk, by the list's indexes
    result := result || jsonb_build_object('topCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name, 'email', l.email,
                                                     'customerLifetimeValue', l.total_spent,
                                                     'totalOrders', l.total_orders, 'segment', l.segment)
                                  ORDER BY l.total_spent DESC, l.customer_id DESC), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_list x
                 WHERE x.total_spent > 0
                 ORDER BY x.total_spent DESC, x.customer_id DESC LIMIT 10) l));

    result := result || jsonb_build_object('atRiskCustomers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name, 'email', l.email,
                                                     'churnRiskScore', l.churn_risk_score,
                                                     'customerLifetimeValue', l.total_spent,
                                                     'daysSinceLastOrder', customer_mgmt.days_between(l.last_order_date, r.range_to),
                                                     'segment', l.segment)
                                  ORDER BY l.churn_risk_score DESC, l.total_spent DESC, l.customer_id), '[]')
          FROM (SELECT * FROM customer_mgmt.customer_list x
                 WHERE x.churn_risk_score > customer_mgmt.setting('segment.at_risk_min_churn_risk')::numeric
                   AND x.status = 'active'
                 ORDER BY x.churn_risk_score DESC, x.total_spent DESC, x.customer_id LIMIT 20) l));
    -- the CLV model in force (fit_clv_model; docs/clv.md), NULL before the first fit
    result := result || jsonb_build_object('clvModel', customer_mgmt.clv_model_dto(customer_mgmt.current_clv_model()));

    -- where and who: provinces as they are named since 2025, ages at date_to;
    -- one read of the customers, counted by province as written and age band
    WITH pa AS MATERIALIZED (
        SELECT u.province,
               customer_mgmt.age_band(u.date_of_birth, (r.range_to AT TIME ZONE shop_tz)::date) AS ord,
               count(*) AS n
          FROM customer_mgmt.users u
         WHERE u.role = 'customer' AND u.created_at < r.range_to
         GROUP BY 1, 2)
    SELECT result || jsonb_build_object(
        'geographicDistribution', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('province', x.province, 'count', x.n,
                                                         'percentage', round(100.0 * x.n / greatest(c.total_customers, 1), 2))
                                      ORDER BY x.n DESC, x.province NULLS LAST), '[]')
              FROM (SELECT coalesce(p.current_name, pa.province) AS province, sum(pa.n)::bigint AS n
                      FROM pa LEFT JOIN customer_mgmt.provinces p ON p.name = pa.province
                     GROUP BY 1) x),
        'ageDistribution', (
            SELECT jsonb_agg(jsonb_build_object('range', b.label, 'count', coalesce(x.n, 0),
                                                'percentage', round(100.0 * coalesce(x.n, 0) / greatest(c.total_customers, 1), 2))
                             ORDER BY b.ord)
              FROM customer_mgmt.age_bands() b
              LEFT JOIN (SELECT pa.ord, sum(pa.n)::bigint AS n FROM pa GROUP BY pa.ord) x ON x.ord = b.ord))
      INTO result;

    -- the customers registered in the range, step by step
    result := result || jsonb_build_object('conversionFunnel', (
        SELECT jsonb_build_array(
                   jsonb_build_object('stage', 'registered', 'count', f.registered, 'rate', 1),
                   jsonb_build_object('stage', 'visited', 'count', f.visited,
                                      'rate', round(f.visited::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'ordered', 'count', f.ordered,
                                      'rate', round(f.ordered::numeric / greatest(f.registered, 1), 4)),
                   jsonb_build_object('stage', 'orderedAgain', 'count', f.again,
                                      'rate', round(f.again::numeric / greatest(f.registered, 1), 4)))
          FROM (SELECT count(*) AS registered,
                       count(*) FILTER (WHERE y.sessions > 0) AS visited,
                       count(*) FILTER (WHERE y.orders >= 1) AS ordered,
                       count(*) FILTER (WHERE y.orders >= 2) AS again
                  FROM (SELECT (SELECT count(*) FROM customer_mgmt.web_sessions w
                                 WHERE w.customer_id = u.id AND w.started_at >= r.range_from
                                   AND w.started_at < r.range_to) AS sessions,
                               (SELECT count(*) FROM customer_mgmt.orders o
                                 WHERE o.customer_id = u.id AND o.status = 'completed'
                                   AND o.order_date >= r.range_from AND o.order_date < r.range_to) AS orders
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to) y) f));

    -- monthly cohorts (shop time) of the customers registered in the range:
    -- the share of each cohort with a completed order in each month since
    result := result || jsonb_build_object('retentionCohorts', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('cohort', to_char(k.cohort, 'YYYY-MM'), 'customers', k.size,
                                                     'months', k.months) ORDER BY k.cohort), '[]')
          FROM (SELECT m.cohort, m.size,
                       (SELECT jsonb_agg(jsonb_build_object('month', g.i, 'customers', coalesce(z.n, 0),
                                                            'rate', round(coalesce(z.n, 0)::numeric / m.size, 4))
                                         ORDER BY g.i)
                          FROM generate_series(0, (extract(year FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)) * 12
                                                   + extract(month FROM age(date_trunc('month', (r.range_to - interval '1 microsecond')
                                                                          AT TIME ZONE shop_tz), m.cohort)))::integer) AS g(i)
                          LEFT JOIN (
                               SELECT (extract(year FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)) * 12
                                       + extract(month FROM age(date_trunc('month', o.order_date AT TIME ZONE shop_tz), m.cohort)))::integer AS i,
                                      count(DISTINCT o.customer_id) AS n
                                 FROM customer_mgmt.users u
                                 JOIN customer_mgmt.orders o ON o.customer_id = u.id
                                WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                                  AND date_trunc('month', u.created_at AT TIME ZONE shop_tz) = m.cohort
                                  AND o.status = 'completed' AND o.order_date >= u.created_at AND o.order_date < r.range_to
                                GROUP BY 1) z ON z.i = g.i) AS months
                  FROM (SELECT date_trunc('month', u.created_at AT TIME ZONE shop_tz) AS cohort, count(*) AS size
                          FROM customer_mgmt.users u
                         WHERE u.role = 'customer' AND u.created_at >= r.range_from AND u.created_at < r.range_to
                         GROUP BY 1) m) k));
    RETURN result;
END
$$;
COMMENT ON FUNCTION get_customer_overview(timestamptz, timestamptz) IS
    'Staff: the customer dashboard for [date_from, date_to) (default the last 30 days): totals, new/active/churned in the range, segment, lifetime-value and churn-risk distributions, top 10 by value, 20 most at risk, provinces, ages, conversion funnel, monthly retention cohorts.';

CREATE OR REPLACE FUNCTION get_customer_health_score(as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    c record;
    total numeric;
    gini numeric;
    acquisition numeric;
    retention numeric;
    engagement numeric;
    value_score numeric;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    r := customer_mgmt.overview_range(as_of - interval '1 month', as_of);
    c := customer_mgmt.overview_counts(r.range_from, r.range_to);
    total := greatest(c.total_customers, 1);
    -- valueScore = 1 - the Gini coefficient of the lifetime values (total
    -- spent) of the customers who spent, in the order of the list's index: 1 when value is spread evenly, 0 when one
    -- customer holds it all (docs/analytics.md)
    SELECT CASE WHEN count(*) > 0 AND sum(v) > 0
                THEN 2 * sum(k * v) / (count(*) * sum(v)) - (count(*) + 1)::numeric / count(*) END
      INTO gini
      FROM (SELECT l.total_spent AS v, row_number() OVER (ORDER BY l.total_spent) AS k
              FROM customer_mgmt.customer_list l WHERE l.total_spent > 0) x;
    acquisition := least(c.new_customers / total * 100, 25);
    retention := (1 - c.churned_customers / total) * 30;
    engagement := c.active_customers / total * 25;
    value_score := 1 - coalesce(gini, 1);
    RETURN jsonb_build_object(
        'healthScore', round(acquisition + retention + engagement + value_score * 20)::integer,
        'dateFrom', r.range_from, 'dateTo', r.range_to,
        'totalCustomers', c.total_customers, 'newCustomers', c.new_customers,
        'activeCustomers', c.active_customers, 'churnedCustomers', c.churned_customers,
        'components', jsonb_build_object(
            'acquisition', round(acquisition, 2), 'retention', round(retention, 2),
            'engagement', round(engagement, 2), 'valueDistribution', round(value_score * 20, 2)),
        'valueScore', round(value_score, 4));
END
$$;
COMMENT ON FUNCTION get_customer_health_score(timestamptz) IS
    'Staff: the customer health score over the month before as_of (default now), 0-100: acquisition (new/total x 100, at most 25) + retention ((1 - churned/total) x 30) + engagement (active/total x 25) + valueScore x 20, valueScore = 1 - Gini of lifetime values. Returns {healthScore, components, ...}.';

-- sql/functions/segment_language.sql
-- customer_mgmt: The segment language, compiled in C
-- (src/segment_lang.c): its attributes, the design's criteria written in it,
-- the segments' view it is evaluated over, the predicate of a definition,
-- the top customers' aggregate, and preview_segment.

CREATE OR REPLACE FUNCTION compile_segment_query(query text, as_of timestamptz) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_compile_segment_query'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION compile_segment_query(text, timestamptz) IS
    'Internal: the SQL predicate, over the attribute row s, of a query in the segment language (docs/segments.md); relative dates count back from as_of; 22023 with the position of anything else.';

-- A province as segments compare it: the province it is now (a former one
-- means the one it merged into, 2025), folded (case and accents).
CREATE OR REPLACE FUNCTION province_key(province text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.search_fold(coalesce(
        (SELECT p.current_name FROM customer_mgmt.provinces p
          WHERE customer_mgmt.search_fold(p.name) = customer_mgmt.search_fold(province)
          ORDER BY p.is_current DESC LIMIT 1),
        province))
$$;
COMMENT ON FUNCTION province_key(text) IS
    'Internal: a province as segments compare it: the current province it is or merged into, folded; NULL for NULL.';

-- The name of a customer's RFM cell, as Shopify names them (docs/analytics.md).
CREATE OR REPLACE FUNCTION rfm_group(rfm_score text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    -- one expression, without FROM, so that a query over every customer
    -- inlines it; R is the first digit, FM the mean of the other two
AS $$
    SELECT CASE
        WHEN rfm_score IS NULL OR rfm_score !~ '^[1-5]{3}$' THEN NULL
        WHEN (ascii(rfm_score) - 48) >= 4 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 4 THEN 'champions'
        WHEN (ascii(rfm_score) - 48) >= 3 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 3 THEN 'loyal'
        WHEN (ascii(rfm_score) - 48) >= 4 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 2 THEN 'active'
        WHEN (ascii(rfm_score) - 48) = 5 THEN 'new'
        WHEN (ascii(rfm_score) - 48) = 4 THEN 'promising'
        WHEN (ascii(rfm_score) - 48) = 3 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 2 THEN 'needs_attention'
        WHEN (ascii(rfm_score) - 48) = 3 THEN 'almost_lost'
        WHEN (ascii(rfm_score) - 48) = 2 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 4 THEN 'at_risk'
        WHEN (ascii(rfm_score) - 48) = 2 AND ((ascii(substr(rfm_score, 2, 1)) + ascii(substr(rfm_score, 3, 1)) - 96) / 2) >= 3 THEN 'previously_loyal'
        WHEN (ascii(rfm_score) - 48) = 2 THEN 'dormant'
        ELSE 'prospects' END
$$;
COMMENT ON FUNCTION rfm_group(text) IS
    'The name of an RFM cell (champions, loyal, active, new, promising, needs_attention, almost_lost, at_risk, previously_loyal, dormant, prospects) from the three digits: recency, and the mean of frequency and monetary rounded down (docs/analytics.md); NULL without a score.';

CREATE OR REPLACE FUNCTION rfm_group_names() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['champions', 'loyal', 'active', 'new', 'promising', 'needs_attention', 'almost_lost', 'at_risk',
                 'previously_loyal', 'dormant', 'prospects']
$$;
COMMENT ON FUNCTION rfm_group_names() IS 'Internal: the names rfm_group() gives, from the best cell to the least.';

-- The JSON criteria (SegmentCriteria) as a query of the language: one compiler
-- and one evaluator for both.  Every key of SegmentCriteria; 0 is a bound;
-- unknown keys, wrong types and min > max are 22023 naming the key.
CREATE OR REPLACE FUNCTION criteria_query(criteria jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- key, attribute, kind (number, date, list), bound (min, max, any)
    keys constant text[][] := ARRAY[
        ['totalSpentMin', 'total_spent', 'number', 'min'], ['totalSpentMax', 'total_spent', 'number', 'max'],
        ['totalOrdersMin', 'total_orders', 'number', 'min'], ['totalOrdersMax', 'total_orders', 'number', 'max'],
        ['daysSinceLastOrderMin', 'days_since_last_order', 'number', 'min'],
        ['daysSinceLastOrderMax', 'days_since_last_order', 'number', 'max'],
        ['churnRiskMin', 'churn_risk', 'number', 'min'], ['churnRiskMax', 'churn_risk', 'number', 'max'],
        ['engagementScoreMin', 'engagement_score', 'number', 'min'],
        ['engagementScoreMax', 'engagement_score', 'number', 'max'],
        ['registeredAfter', 'registered_at', 'date', 'min'], ['registeredBefore', 'registered_at', 'date', 'max'],
        ['preferredCategories', 'favorite_categories', 'list', 'any'],
        ['geographicRegions', 'province', 'list', 'any']];
    k text;
    v jsonb;
    spec text[];
    parts text[] := '{}';
    item text;
    items text[];
    lo text;
    hi text;
BEGIN
    IF criteria IS NULL OR jsonb_typeof(criteria) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('criteria', 'must be a JSON object', left(criteria::text, 100));
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(criteria) e ORDER BY e.key LOOP
        spec := NULL;
        FOR i IN 1 .. array_length(keys, 1) LOOP
            IF keys[i][1] = k THEN
                spec := ARRAY[keys[i][1], keys[i][2], keys[i][3], keys[i][4]];
            END IF;
        END LOOP;
        IF spec IS NULL THEN
            PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a key of SegmentCriteria (docs/segments.md)', left(v::text, 100));
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        END IF;
        IF spec[3] = 'number' THEN
            IF jsonb_typeof(v) <> 'number' OR v::text::numeric < 0 THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a number, 0 or more', left(v::text, 100));
            END IF;
            parts := parts || format('%s %s %s', spec[2], CASE spec[4] WHEN 'min' THEN '>=' ELSE '<=' END, v::text);
        ELSIF spec[3] = 'date' THEN
            item := CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END;
            BEGIN
                IF item !~ '^\d{4}-\d{2}-\d{2}$' OR item::date IS NULL THEN
                    item := NULL;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                item := NULL;
            END;
            IF item IS NULL THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a date, YYYY-MM-DD', left(v::text, 100));
            END IF;
            parts := parts || format('%s %s DATE %s', spec[2], CASE spec[4] WHEN 'min' THEN '>=' ELSE '<' END,
                                     quote_literal(item));
        ELSE
            IF jsonb_typeof(v) <> 'array' OR EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
                PERFORM customer_mgmt.raise_invalid(k, 'must be a list of strings', left(v::text, 100));
            END IF;
            items := ARRAY(SELECT quote_literal(e) FROM jsonb_array_elements_text(v) e);
            IF cardinality(items) > 0 THEN
                IF spec[2] = 'province' THEN
                    parts := parts || format('province IN (%s)', array_to_string(items, ', '));
                ELSE
                    parts := parts || ('(' || array_to_string(ARRAY(SELECT spec[2] || ' CONTAINS ' || i FROM unnest(items) i), ' OR ') || ')');
                END IF;
            END IF;
        END IF;
    END LOOP;
    -- a minimum above its maximum (the pairs are next to each other above)
    FOR i IN 1 .. array_length(keys, 1) - 1 LOOP
        CONTINUE WHEN keys[i][4] <> 'min' OR keys[i + 1][4] <> 'max';
        lo := criteria ->> keys[i][1];
        hi := criteria ->> keys[i + 1][1];
        IF lo IS NOT NULL AND hi IS NOT NULL
           AND ((keys[i][3] = 'number' AND lo::numeric > hi::numeric) OR (keys[i][3] = 'date' AND lo::date >= hi::date)) THEN
            PERFORM customer_mgmt.raise_invalid(keys[i][1],
                        format('must be %s %s', CASE keys[i][3] WHEN 'number' THEN 'at most' ELSE 'before' END,
                               keys[i + 1][1]), lo);
        END IF;
    END LOOP;
    RETURN nullif(array_to_string(parts, ' AND '), '');
END
$$;
COMMENT ON FUNCTION criteria_query(jsonb) IS
    'Internal: the JSON criteria (SegmentCriteria) as a query of the segment language, NULL for none; 22023 naming an unknown key, a wrong type or a minimum above its maximum.';

-- Every customer's attributes as of a time, as the compiled predicates of
-- the segment language name them (src/segment_lang.c, docs/segments.md):
-- one row of customer_list each, which its triggers keep current; what
-- depends on the time (days since the last order, age) is measured at as_of.
CREATE OR REPLACE FUNCTION segment_attributes(as_of timestamptz)
    RETURNS TABLE (customer_id uuid, age integer, average_order_value numeric, bounce_rate numeric, churn_risk numeric,
                   conversion_rate numeric, days_since_last_order integer, engagement_score numeric,
                   favorite_brands text[], favorite_categories text[], gender text, last_login_at timestamptz,
                   last_order_date timestamptz, lifecycle_segment text, province_key text, registered_at timestamptz,
                   rfm_frequency integer, rfm_group text, rfm_monetary integer, rfm_recency integer, status text,
                   total_orders integer, total_sessions integer, total_spent numeric,
                   predicted_ltv numeric, probability_alive numeric, churn_probability numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
    -- no SET clause: inlined, a filter on customer_id reaches the index
AS $$
    SELECT l.customer_id,
           -- whole years at the shop's date (age_years(), with the date's key
           -- computed once per query: an initplan)
           ((SELECT customer_mgmt.date_key((segment_attributes.as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date))
            - customer_mgmt.date_key(l.date_of_birth)) / 10000,
           l.average_order_value, l.bounce_rate, l.churn_risk_score, l.conversion_rate,
           customer_mgmt.days_between(l.last_order_date, segment_attributes.as_of), l.engagement_score,
           l.brand_keys, l.category_keys, l.gender::text, l.last_login_at, l.last_order_date, l.segment::text,
           l.province_key, l.created_at,
           ascii(substr(l.rfm_score, 2, 1)) - 48, l.rfm_group, ascii(substr(l.rfm_score, 3, 1)) - 48,
           ascii(l.rfm_score) - 48, l.status::text, l.total_orders, l.total_sessions, l.total_spent,
           -- the CLV model's predictions at as_of, computed for the rows a
           -- query asks them of (the fits: initplans, once per query)
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'predicted_ltv')::numeric,
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'probability_alive')::numeric,
           customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()),
                                           (SELECT customer_mgmt.clv_day(segment_attributes.as_of)),
                                           (SELECT customer_mgmt.clv_discount_rate()), 'churn_probability')::numeric
      FROM customer_mgmt.customer_list l
      -- a query that names no prediction does not join (customer_id is
      -- customer_clv's key: the join is removed); its column as_of is why
      -- the argument is named in full above
      LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = l.customer_id
$$;
COMMENT ON FUNCTION segment_attributes(timestamptz) IS
    'Internal: every customer''s attributes as of a time, from customer_list and customer_clv (the CLV model''s predictions at that time, NULL without them), named as the segment language names them (province_key: province_key(province); lists folded; age in whole years at the shop''s date).';

-- The predicate of a definition: its criteria and its query, both
-- compiled, joined by AND; 22023 for a definition with neither.
CREATE OR REPLACE FUNCTION segment_predicate(criteria jsonb, query text, as_of timestamptz) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    from_criteria text := customer_mgmt.criteria_query(coalesce(criteria, '{}'));
BEGIN
    IF from_criteria IS NULL AND nullif(btrim(query), '') IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('criteria', 'or query is required: a segment needs a definition');
    END IF;
    RETURN concat_ws(' AND ', '(' || customer_mgmt.compile_segment_query(from_criteria, as_of) || ')',
                     '(' || customer_mgmt.compile_segment_query(nullif(btrim(query), ''), as_of) || ')');
END
$$;
COMMENT ON FUNCTION segment_predicate(jsonb, text, timestamptz) IS
    'Internal: the SQL predicate over segment_attributes() of a definition (criteria AND query), every value quoted by the compiler.';

-- The 20 customers of a group with the highest spend (ties: the higher id
-- first), best first, in one parallel pass (src/segment_top.c).
CREATE OR REPLACE FUNCTION top_customers_add(internal, numeric, uuid) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cm_top_customers_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_top_customers_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION top_customers_final(internal) RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'cm_top_customers_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE AGGREGATE top_customers(total_spent numeric, customer_id uuid) (
    SFUNC = top_customers_add, STYPE = internal, FINALFUNC = top_customers_final,
    COMBINEFUNC = top_customers_combine, SERIALFUNC = top_customers_serialize,
    DESERIALFUNC = top_customers_deserialize, PARALLEL = SAFE);
COMMENT ON FUNCTION top_customers_add(internal, numeric, uuid) IS 'Internal: transition function of top_customers.';
COMMENT ON FUNCTION top_customers_combine(internal, internal) IS 'Internal: combine function of top_customers.';
COMMENT ON FUNCTION top_customers_serialize(internal) IS 'Internal: serialize function of top_customers.';
COMMENT ON FUNCTION top_customers_deserialize(bytea, internal) IS 'Internal: deserialize function of top_customers.';
COMMENT ON FUNCTION top_customers_final(internal) IS 'Internal: final function of top_customers.';
COMMENT ON AGGREGATE top_customers(numeric, uuid) IS
    'Internal: the ids of the 20 rows with the highest spend (ties: the higher id first), best first; rows with a NULL are skipped.';

-- The segment language's attributes, from its parser (src/segment_lang.c):
-- the one definition that the API, docs/segments.md and the segments' view
-- are checked against (test/t/006_segment_attributes.pl, 11_segments).
CREATE OR REPLACE FUNCTION segment_language_attributes(OUT name text, OUT kind text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cm_segment_language_attributes'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment_language_attributes() IS
    'Internal: the attributes a query of the segment language may name and their kinds (number, time, text, code, list), from its parser.';

CREATE OR REPLACE FUNCTION get_segment_attributes() RETURNS jsonb
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.page_envelope(
               jsonb_agg(jsonb_build_object(
                   'name', a.name, 'kind', a.kind,
                   'operators', CASE a.kind
                       WHEN 'list' THEN '["CONTAINS", "NOT CONTAINS"]'::jsonb
                       WHEN 'number' THEN '["=", "!=", "<", "<=", ">", ">=", "BETWEEN", "NOT BETWEEN", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]'
                       WHEN 'time' THEN '["=", "!=", "<", "<=", ">", ">=", "BETWEEN", "NOT BETWEEN", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]'
                       ELSE '["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]' END)
                   ORDER BY a.name),
               count(*), 1, count(*)::integer)
      FROM customer_mgmt.segment_language_attributes() a
$$;
COMMENT ON FUNCTION get_segment_attributes() IS
    'Staff: the attributes a segment query may name, with their kind (number, time, text: folded, code: as written, list) and the operators each takes, for a UI to offer (docs/segments.md); the list''s envelope, every attribute on one page.';

-- How many customers a definition would hold now, and the first 20 by
-- spend, without saving anything: one parallel scan of customer_list
-- counts and ranks (top_customers keeps 20 entries per worker).
CREATE OR REPLACE FUNCTION preview_segment(criteria jsonb DEFAULT NULL, query text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    predicate text := customer_mgmt.segment_predicate(criteria, query, now());
    n bigint;
    ids uuid[];
BEGIN
    EXECUTE format('SELECT count(*), customer_mgmt.top_customers(s.total_spent, s.customer_id)'
                   ' FROM customer_mgmt.segment_attributes($1) s WHERE %s', predicate)
       INTO n, ids USING now();
    RETURN jsonb_build_object(
        'customerCount', n,
        'customers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.customer_id, 'fullName', l.full_name,
                                                                    'email', l.email, 'totalSpent', l.total_spent,
                                                                    'segment', l.segment) ORDER BY t.n), '[]')
                        FROM unnest(ids) WITH ORDINALITY AS t (id, n)
                        JOIN customer_mgmt.customer_list l ON l.customer_id = t.id),
        'criteriaQuery', customer_mgmt.criteria_query(coalesce(criteria, '{}')));
END
$$;
COMMENT ON FUNCTION preview_segment(jsonb, text) IS
    'Staff: how many customers a segment defined by criteria and/or a query (docs/segments.md) would hold now, and the first 20 by spend, without saving anything. Returns {customerCount, customers, criteriaQuery}.';

-- sql/functions/segments.sql
-- customer_mgmt: Segments (docs/segments.md): their definitions and
-- DTOs, writes, memberships (applied, assigned, refreshed) and reads.

-- CustomerSegmentDto: the entity's columns in camelCase; customerCount is
-- kept exact by the assignments' trigger.
CREATE OR REPLACE FUNCTION segment_dto(s customer_segments) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('id', s.id, 'name', s.name, 'description', s.description, 'criteria', s.criteria,
                              'query', s.query, 'colorCode', s.color_code, 'isActive', s.is_active,
                              'autoAssign', s.auto_assign, 'isSystem', s.is_system, 'customerCount', s.customer_count,
                              'createdBy', s.created_by, 'createdAt', s.created_at, 'updatedAt', s.updated_at)
$$;
COMMENT ON FUNCTION segment_dto(customer_segments) IS 'Internal: CustomerSegmentDto of a segment row.';

-- The segment with this id, PT404 when there is none, 22023 when NULL.
CREATE OR REPLACE FUNCTION find_segment(segment_id uuid, for_update boolean DEFAULT false) RETURNS customer_segments
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
BEGIN
    IF segment_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('segment_id', 'is required');
    END IF;
    IF for_update THEN
        SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = segment_id FOR UPDATE;
    ELSE
        SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = segment_id;
    END IF;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('Segment', segment_id::text);
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION find_segment(uuid, boolean) IS
    'Internal: the segment with this id (locked, with for_update), PT404 when there is none, 22023 when it is NULL.';

-- Checked columns of a segment (the name and description are checked
-- before they are put in the row, whose types would cut them); 22023
-- naming the field.
CREATE OR REPLACE FUNCTION check_segment(s customer_segments) RETURNS customer_segments
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF s.color_code IS NOT NULL AND s.color_code !~ '^#[0-9A-Fa-f]{6}$' THEN
        PERFORM customer_mgmt.raise_invalid('color_code', 'must be #RRGGBB', left(s.color_code, 100));
    END IF;
    s.query := nullif(btrim(s.query), '');
    s.criteria := coalesce(s.criteria, '{}');
    -- compiles, or 22023 naming the key or the position
    PERFORM customer_mgmt.segment_predicate(s.criteria, s.query, now());
    IF s.is_active IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('isActive', 'must be true or false');
    END IF;
    IF s.auto_assign IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('autoAssign', 'must be true or false');
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION check_segment(customer_segments) IS
    'Internal: a segment row with its colour, flags and definition checked (22023 naming the field); the definition must compile.';

-- A system segment is the extension's: not redefined, not deleted.
CREATE OR REPLACE FUNCTION refuse_system_segment(s customer_segments, action text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF s.is_system THEN
        RAISE EXCEPTION 'system segment % cannot be %', s.name, action
            USING ERRCODE = 'P0001',
                  DETAIL = format('Segment %s (%s) is maintained by the extension.', s.id, s.name),
                  HINT = 'Create a segment of your own.';
    END IF;
END
$$;
COMMENT ON FUNCTION refuse_system_segment(customer_segments, text) IS
    'Internal: P0001 for a system segment (new-customers, at-risk-customers).';

-- The name is unique, case-insensitively: 23505 naming it.
CREATE OR REPLACE FUNCTION write_segment(s customer_segments, is_new boolean) RETURNS customer_segments
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF is_new THEN
        INSERT INTO customer_mgmt.customer_segments
               (id, name, description, criteria, query, color_code, is_active, auto_assign, created_by)
        VALUES (s.id, s.name, s.description, s.criteria, s.query, s.color_code, s.is_active, s.auto_assign,
                s.created_by)
        RETURNING * INTO s;
    ELSE
        UPDATE customer_mgmt.customer_segments x
           SET name = s.name, description = s.description, criteria = s.criteria, query = s.query,
               color_code = s.color_code, is_active = s.is_active, auto_assign = s.auto_assign
         WHERE x.id = s.id
        RETURNING * INTO s;
    END IF;
    RETURN s;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'a segment named % already exists', s.name
        USING ERRCODE = '23505', COLUMN = 'name',
              DETAIL = format('Field "name": segment names are unique regardless of case (%s).', s.name),
              HINT = 'Choose another name, or update the existing segment.';
END
$$;
COMMENT ON FUNCTION write_segment(customer_segments, boolean) IS
    'Internal: inserts or updates a checked segment row; 23505 naming "name" for a duplicate.';

-- Bring an auto-assigned segment's members to exactly the customers who
-- match it now: system assignments added and removed, manual ones kept
-- (expired ones aside); entering and leaving go to the outbox.  Returns
-- {added, removed, customerCount}.
CREATE OR REPLACE FUNCTION apply_segment(s customer_segments, as_of timestamptz) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    -- the matches and the members are compared whole, by hash: the planner
    -- cannot know a segment's size before it is filled (statistics), and a
    -- nested loop over two sets of 100,000s is quadratic
    SET enable_nestloop = off
AS $$
DECLARE
    added bigint := 0;
    removed bigint := 0;
BEGIN
    IF s.auto_assign AND s.is_active AND NOT s.is_system THEN
        EXECUTE format($q$
            -- the matches and the members, each read once, compared by
            -- hash: only the difference is written
            WITH m AS MATERIALIZED (
                SELECT s.customer_id FROM customer_mgmt.segment_attributes($1) s WHERE %s),
            cur AS MATERIALIZED (
                SELECT x.customer_id, x.assigned_by FROM customer_mgmt.customer_segment_assignments x
                 WHERE x.segment_id = $2),
            gone AS (
                DELETE FROM customer_mgmt.customer_segment_assignments x
                 WHERE x.segment_id = $2 AND x.assigned_by = 'system'
                   AND x.customer_id IN (SELECT c.customer_id FROM cur c
                                          WHERE c.assigned_by = 'system'
                                            AND NOT EXISTS (SELECT FROM m WHERE m.customer_id = c.customer_id))
                RETURNING x.customer_id),
            new AS (
                INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_at, assigned_by)
                SELECT m.customer_id, $2, $1, 'system' FROM m
                 WHERE NOT EXISTS (SELECT FROM cur c WHERE c.customer_id = m.customer_id)
                -- a member added since cur was read (the queue worker)
                ON CONFLICT (customer_id, segment_id) DO NOTHING
                RETURNING customer_id),
            events AS (
                INSERT INTO customer_mgmt.event_outbox (event_type, customer_id, payload)
                SELECT e.t, e.customer_id, jsonb_build_object('customerId', e.customer_id, 'segmentId', $2, 'segmentName', $3)
                  FROM (SELECT 'customer.segment_left' AS t, g.customer_id FROM gone g
                        UNION ALL SELECT 'customer.segment_entered', n.customer_id FROM new n) e)
            SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM gone)$q$,
            customer_mgmt.segment_predicate(s.criteria, s.query, as_of))
        INTO added, removed USING as_of, s.id, s.name;
    END IF;
    RETURN jsonb_build_object('added', added, 'removed', removed,
                              'customerCount', (SELECT x.customer_count FROM customer_mgmt.customer_segments x WHERE x.id = s.id));
END
$$;
COMMENT ON FUNCTION apply_segment(customer_segments, timestamptz) IS
    'Internal: makes an active auto-assigned segment''s system assignments exactly the customers who match it as of a time, manual assignments kept; customer.segment_entered and customer.segment_left to the outbox.';

-- customer_count follows the assignments (statement trigger).
CREATE OR REPLACE FUNCTION segment_assignments_count() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE customer_mgmt.customer_segments s SET customer_count = s.customer_count + d.n
          FROM (SELECT n.segment_id, count(*) AS n FROM new_rows n GROUP BY n.segment_id) d
         WHERE s.id = d.segment_id;
    ELSE
        UPDATE customer_mgmt.customer_segments s SET customer_count = s.customer_count - d.n
          FROM (SELECT o.segment_id, count(*) AS n FROM old_rows o GROUP BY o.segment_id) d
         WHERE s.id = d.segment_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION segment_assignments_count() IS
    'Statement trigger (assignments added or removed): keeps customer_segments.customer_count equal to the members.';

CREATE OR REPLACE FUNCTION create_segment(name text, criteria jsonb DEFAULT NULL, query text DEFAULT NULL,
                                          description text DEFAULT NULL, color_code text DEFAULT NULL,
                                          auto_assign boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
BEGIN
    s.id := gen_random_uuid();
    s.name := customer_mgmt.check_text('name', name, 100);
    s.criteria := coalesce(create_segment.criteria, '{}');
    s.query := create_segment.query;
    s.description := customer_mgmt.check_text('description', create_segment.description, 500, false);
    s.color_code := create_segment.color_code;
    s.is_active := true;
    s.auto_assign := coalesce(create_segment.auto_assign, true);
    s.created_by := customer_mgmt.current_actor();
    s := customer_mgmt.write_segment(customer_mgmt.check_segment(s), true);
    PERFORM customer_mgmt.apply_segment(s, now());
    SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN customer_mgmt.segment_dto(s);
END
$$;
COMMENT ON FUNCTION create_segment(text, jsonb, text, text, text, boolean) IS
    'Admin: creates a segment defined by criteria, a query of the segment language (docs/segments.md), or both (AND); an auto-assigned one gets its members at once. Returns CustomerSegmentDto. 22023 naming a bad field or key (or the query''s position), 23505 for a name taken.';

CREATE OR REPLACE FUNCTION update_segment(segment_id uuid, changes jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id, true);
    k text;
BEGIN
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' THEN
        PERFORM customer_mgmt.raise_invalid('changes', 'must be a JSON object', left(changes::text, 100));
    END IF;
    FOR k IN SELECT jsonb_object_keys(changes) LOOP
        IF k NOT IN ('name', 'description', 'criteria', 'query', 'colorCode', 'isActive', 'autoAssign') THEN
            PERFORM customer_mgmt.raise_invalid(left(k, 100), 'is not a field a segment update may change');
        END IF;
        IF k IN ('isActive', 'autoAssign') AND jsonb_typeof(changes -> k) <> 'boolean' THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be true or false', left((changes -> k)::text, 100));
        END IF;
        IF k IN ('name', 'description', 'query', 'colorCode') AND jsonb_typeof(changes -> k) NOT IN ('string', 'null') THEN
            PERFORM customer_mgmt.raise_invalid(k, 'must be a string', left((changes -> k)::text, 100));
        END IF;
    END LOOP;
    PERFORM customer_mgmt.refuse_system_segment(s, 'redefined');
    IF changes ? 'name' THEN s.name := customer_mgmt.check_text('name', changes ->> 'name', 100); END IF;
    IF changes ? 'description' THEN
        s.description := customer_mgmt.check_text('description', changes ->> 'description', 500, false);
    END IF;
    IF changes ? 'criteria' THEN s.criteria := CASE WHEN jsonb_typeof(changes -> 'criteria') = 'null' THEN '{}' ELSE changes -> 'criteria' END; END IF;
    IF changes ? 'query' THEN s.query := changes ->> 'query'; END IF;
    IF changes ? 'colorCode' THEN s.color_code := changes ->> 'colorCode'; END IF;
    IF changes ? 'isActive' THEN s.is_active := (changes ->> 'isActive')::boolean; END IF;
    IF changes ? 'autoAssign' THEN s.auto_assign := (changes ->> 'autoAssign')::boolean; END IF;
    s := customer_mgmt.write_segment(customer_mgmt.check_segment(s), false);
    PERFORM customer_mgmt.apply_segment(s, now());
    SELECT * INTO s FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN customer_mgmt.segment_dto(s);
END
$$;
COMMENT ON FUNCTION update_segment(uuid, jsonb) IS
    'Admin: changes a segment (keys as in CustomerSegmentDto: name, description, criteria, query, colorCode, isActive, autoAssign; absent keys unchanged) and re-evaluates its members. Returns CustomerSegmentDto. P0001 for a system segment.';

CREATE OR REPLACE FUNCTION delete_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id, true);
BEGIN
    PERFORM customer_mgmt.refuse_system_segment(s, 'deleted');
    DELETE FROM customer_mgmt.customer_segments x WHERE x.id = s.id;
    RETURN jsonb_build_object('id', s.id, 'name', s.name, 'deleted', true, 'customerCount', s.customer_count);
END
$$;
COMMENT ON FUNCTION delete_segment(uuid) IS
    'Admin: deletes a segment and its assignments. Returns {id, name, deleted, customerCount}. P0001 for a system segment, PT404 for none.';

CREATE OR REPLACE FUNCTION refresh_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id, true);
BEGIN
    RETURN customer_mgmt.apply_segment(s, now()) || jsonb_build_object('segmentId', s.id);
END
$$;
COMMENT ON FUNCTION refresh_segment(uuid) IS
    'Admin (and the nightly job): brings an active auto-assigned segment''s members to exactly the customers who match it now, keeping manual assignments; entering and leaving go to the outbox. Returns {segmentId, added, removed, customerCount}.';

CREATE OR REPLACE FUNCTION get_segments() RETURNS jsonb
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(customer_mgmt.segment_dto(s) ORDER BY s.is_system DESC, s.name), '[]')
      FROM customer_mgmt.customer_segments s
$$;
COMMENT ON FUNCTION get_segments() IS 'Staff: every segment, system ones first, then by name: an array of CustomerSegmentDto.';

CREATE OR REPLACE FUNCTION get_segment(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN customer_mgmt.segment_dto(customer_mgmt.find_segment(segment_id));
END
$$;
COMMENT ON FUNCTION get_segment(uuid) IS 'Staff: one segment as CustomerSegmentDto; PT404 when there is none.';

CREATE OR REPLACE FUNCTION assign_customer_segments(customer_id uuid, segment_ids uuid[], expires_at timestamptz DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    sid uuid;
    s customer_mgmt.customer_segments;
BEGIN
    IF segment_ids IS NULL OR cardinality(segment_ids) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('segment_ids', 'must name at least one segment');
    END IF;
    IF cardinality(segment_ids) > 100 THEN
        PERFORM customer_mgmt.raise_invalid('segment_ids', 'must name at most 100 segments', cardinality(segment_ids)::text);
    END IF;
    IF assign_customer_segments.expires_at IS NOT NULL
       AND (NOT isfinite(assign_customer_segments.expires_at) OR assign_customer_segments.expires_at <= now()) THEN
        PERFORM customer_mgmt.raise_invalid('expires_at', 'must be a finite time in the future',
                                            assign_customer_segments.expires_at::text);
    END IF;
    FOREACH sid IN ARRAY segment_ids LOOP
        s := customer_mgmt.find_segment(sid);
        PERFORM customer_mgmt.refuse_system_segment(s, 'assigned by hand');
        WITH up AS (
            INSERT INTO customer_mgmt.customer_segment_assignments AS x (customer_id, segment_id, assigned_by, expires_at)
            VALUES (u.id, s.id, 'manual', assign_customer_segments.expires_at)
            ON CONFLICT (customer_id, segment_id) DO UPDATE
               SET assigned_by = 'manual', expires_at = excluded.expires_at
            RETURNING (xmax = 0) AS inserted)
        INSERT INTO customer_mgmt.event_outbox (event_type, customer_id, payload)
        SELECT 'customer.segment_entered', u.id, jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'segmentName', s.name)
          FROM up WHERE up.inserted;
    END LOOP;
    RETURN customer_mgmt.get_customer_segments(u.id);
END
$$;
COMMENT ON FUNCTION assign_customer_segments(uuid, uuid[], timestamptz) IS
    'Admin: puts a customer in segments by hand (kept by refreshes; until expires_at, when given); a new membership goes to the outbox as customer.segment_entered. Returns the customer''s segments. P0001 for a system segment.';

CREATE OR REPLACE FUNCTION remove_customer_from_segment(customer_id uuid, segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id);
    n integer;
BEGIN
    DELETE FROM customer_mgmt.customer_segment_assignments x WHERE x.customer_id = u.id AND x.segment_id = s.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM customer_mgmt.emit_event('customer.segment_left', u.id,
                                         jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'segmentName', s.name));
    END IF;
    RETURN jsonb_build_object('customerId', u.id, 'segmentId', s.id, 'removed', n > 0);
END
$$;
COMMENT ON FUNCTION remove_customer_from_segment(uuid, uuid) IS
    'Admin: takes a customer out of a segment (an auto-assigned one takes them back at its next refresh if they still match). Returns {customerId, segmentId, removed}.';

CREATE OR REPLACE FUNCTION get_customer_segments(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
BEGIN
    RETURN coalesce((
        SELECT jsonb_agg(customer_mgmt.segment_dto(s) || jsonb_build_object('assignedAt', x.assigned_at,
                         'assignedBy', x.assigned_by, 'expiresAt', x.expires_at) ORDER BY x.assigned_at, s.name)
          FROM customer_mgmt.customer_segment_assignments x
          JOIN customer_mgmt.customer_segments s ON s.id = x.segment_id
         WHERE x.customer_id = u.id AND (x.expires_at IS NULL OR x.expires_at > now())), '[]');
END
$$;
COMMENT ON FUNCTION get_customer_segments(uuid) IS
    'Staff: the segments a customer is in now: CustomerSegmentDto with assignedAt, assignedBy (system, manual) and expiresAt.';

CREATE OR REPLACE FUNCTION get_segment_insights(segment_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments := customer_mgmt.find_segment(segment_id);
    shop_tz text := customer_mgmt.setting('shop_timezone');
    high numeric := customer_mgmt.setting('churn.threshold_high')::numeric;
    result jsonb;
BEGIN
    WITH m AS MATERIALIZED (
        SELECT a.*, u.province, u.date_of_birth
          FROM customer_mgmt.customer_segment_assignments x
          JOIN customer_mgmt.customer_analytics a ON a.customer_id = x.customer_id
          JOIN customer_mgmt.users u ON u.id = x.customer_id
         WHERE x.segment_id = s.id AND (x.expires_at IS NULL OR x.expires_at > now())),
    n AS (SELECT greatest(count(*), 1) AS n FROM m)
    SELECT jsonb_build_object(
        'segmentId', s.id, 'segmentName', s.name,
        'customerCount', (SELECT count(*) FROM m),
        'averageLifetimeValue', (SELECT round(coalesce(avg(m.customer_lifetime_value), 0), 2) FROM m),
        'averageOrderValue', (SELECT round(coalesce(sum(m.total_spent) / nullif(sum(m.total_orders), 0), 0), 2) FROM m),
        'totalRevenue', (SELECT coalesce(sum(m.total_spent), 0) FROM m),
        'churnRate', (SELECT round(count(*) FILTER (WHERE m.churn_risk_score >= high)::numeric / n.n, 4) FROM m, n GROUP BY n.n),
        'engagementRate', (SELECT round(count(*) FILTER (WHERE m.engagement_score >= 0.5)::numeric / n.n, 4) FROM m, n GROUP BY n.n),
        'topCategories', (SELECT coalesce(jsonb_agg(jsonb_build_object('category', t.category, 'customers', t.customers)
                                                   ORDER BY t.customers DESC, t.category COLLATE "C"), '[]')
                            FROM (SELECT e ->> 'category' AS category, count(*) AS customers
                                    FROM m, jsonb_array_elements(m.favorite_categories) e
                                   GROUP BY 1 ORDER BY 2 DESC, (e ->> 'category') COLLATE "C" LIMIT 5) t),
        'ageDistribution', (SELECT jsonb_agg(jsonb_build_object('range', b.label, 'count', coalesce(x.n, 0)) ORDER BY b.ord)
                              FROM customer_mgmt.age_bands() b
                              LEFT JOIN (SELECT customer_mgmt.age_band(m.date_of_birth, (now() AT TIME ZONE shop_tz)::date) AS ord,
                                                count(*) AS n
                                           FROM m GROUP BY 1) x ON x.ord = b.ord),
        'geographicDistribution', (SELECT coalesce(jsonb_agg(jsonb_build_object('province', g.province, 'count', g.n)
                                                            ORDER BY g.n DESC, g.province NULLS LAST), '[]')
                                     FROM (SELECT coalesce(p.current_name, m.province) AS province, count(*) AS n
                                             FROM m LEFT JOIN customer_mgmt.provinces p ON p.name = m.province
                                            GROUP BY 1) g))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION get_segment_insights(uuid) IS
    'Staff: the design''s SegmentInsights of a segment''s current members: customerCount, averageLifetimeValue, averageOrderValue, totalRevenue, churnRate (churn risk at or above the high threshold), engagementRate (engagement at least 0.5), topCategories, ageDistribution, geographicDistribution.';

-- One customer's auto-assigned segments re-evaluated (after their analytics
-- changed: the queue worker, calculate_customer_analytics): joined or left,
-- with the outbox events.  Returns how many memberships changed.
CREATE OR REPLACE FUNCTION apply_customer_segments(customer_id uuid, as_of timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s customer_mgmt.customer_segments;
    predicate text;
    matches boolean;
    member boolean;
    changed integer := 0;
BEGIN
    -- FOR SHARE: a refresh of the segment (FOR UPDATE) finishes first, or
    -- waits for this transaction; each reads what the other wrote
    -- (test/specs/segment_refresh.spec)
    FOR s IN SELECT * FROM customer_mgmt.customer_segments x
              WHERE x.auto_assign AND x.is_active AND NOT x.is_system ORDER BY x.id FOR SHARE LOOP
        -- a segment without a definition that compiles (one written to the
        -- table by hand, or by 1.2) is left alone: the worker goes on
        BEGIN
            predicate := customer_mgmt.segment_predicate(s.criteria, s.query, as_of);
        EXCEPTION WHEN invalid_parameter_value THEN
            CONTINUE;
        END;
        EXECUTE format('SELECT EXISTS (SELECT FROM customer_mgmt.segment_attributes($1) s WHERE s.customer_id = $2 AND %s)',
                       predicate)
           INTO matches USING as_of, apply_customer_segments.customer_id;
        SELECT EXISTS (SELECT FROM customer_mgmt.customer_segment_assignments x
                        WHERE x.customer_id = apply_customer_segments.customer_id AND x.segment_id = s.id)
          INTO member;
        IF matches AND NOT member THEN
            INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_at, assigned_by)
            VALUES (apply_customer_segments.customer_id, s.id, as_of, 'system')
            ON CONFLICT ON CONSTRAINT customer_segment_assignments_customer_id_segment_id_key DO NOTHING;
            PERFORM customer_mgmt.emit_event('customer.segment_entered', apply_customer_segments.customer_id,
                        jsonb_build_object('customerId', apply_customer_segments.customer_id, 'segmentId', s.id,
                                           'segmentName', s.name));
            changed := changed + 1;
        ELSIF NOT matches AND member THEN
            DELETE FROM customer_mgmt.customer_segment_assignments x
             WHERE x.customer_id = apply_customer_segments.customer_id AND x.segment_id = s.id AND x.assigned_by = 'system';
            IF FOUND THEN
                PERFORM customer_mgmt.emit_event('customer.segment_left', apply_customer_segments.customer_id,
                            jsonb_build_object('customerId', apply_customer_segments.customer_id, 'segmentId', s.id,
                                               'segmentName', s.name));
                changed := changed + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION apply_customer_segments(uuid, timestamptz) IS
    'Internal: one customer''s active auto-assigned segments re-evaluated as of a time (joined or left, with customer.segment_entered and customer.segment_left); returns the memberships changed.';

-- Every active auto-assigned segment refreshed (the end of the nightly run).
CREATE OR REPLACE FUNCTION refresh_all_segments(as_of timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s customer_mgmt.customer_segments;
    n integer := 0;
BEGIN
    FOR s IN SELECT * FROM customer_mgmt.customer_segments x
              WHERE x.auto_assign AND x.is_active AND NOT x.is_system ORDER BY x.id FOR UPDATE LOOP
        -- one without a definition that compiles is left alone (as above)
        BEGIN
            PERFORM customer_mgmt.apply_segment(s, as_of);
            n := n + 1;
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;
        END;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION refresh_all_segments(timestamptz) IS
    'Internal: refreshes every active auto-assigned segment whose definition compiles as of a time (apply_segment); returns how many.';

-- sql/functions/notes.sql
-- customer_mgmt: Internal notes on customers (docs/reference.md, Notes): writing, changing,
-- deleting and listing them, with the ownership rules of docs/operations.md, Roles.

-- CustomerNoteDto; authorName is NULL for system notes.
CREATE OR REPLACE FUNCTION note_dto(n customer_notes) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', n.id, 'customerId', n.customer_id, 'authorId', n.author_id,
        'authorName', (SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = n.author_id),
        'title', n.title, 'content', n.content, 'type', n.type, 'priority', n.priority,
        'isInternal', n.is_internal, 'tags', n.tags, 'createdAt', n.created_at, 'updatedAt', n.updated_at)
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
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor uuid := customer_mgmt.current_actor();
BEGIN
    IF actor IS NULL OR NOT EXISTS (SELECT FROM customer_mgmt.users u WHERE u.id = actor AND u.role IN ('staff', 'admin')) THEN
        RAISE EXCEPTION 'notes are written by a staff member or an admin'
            USING ERRCODE = '42501',
                  DETAIL = CASE WHEN actor IS NULL THEN 'No acting user is set.'
                                ELSE format('The acting user %s is not a staff member or an admin.', actor) END,
                  HINT = 'Set request.jwt.claims ->> ''sub'' (PostgREST) or customer_mgmt.actor_id to the id of a user registered with register_staff.';
    END IF;
    RETURN actor;
END
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
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
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
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
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

-- sql/functions/timeline.sql
-- customer_mgmt: The customer's timeline (docs/reference.md): one feed,
-- newest first, of what happened to a customer, read from the tables and the
-- outbox the extension keeps anyway.

-- Every entry of a customer's timeline: its time, type, acting user (NULL
-- for the customer or the extension) and a short payload.  An inlined
-- query: the caller's filter on the customer reaches each source's index.
CREATE OR REPLACE FUNCTION timeline_entries(customer_id uuid)
    RETURNS TABLE (at timestamptz, type text, actor_id uuid, payload jsonb)
    LANGUAGE sql STABLE
AS $$
    SELECT u.created_at, 'customer.registered', NULL::uuid, '{}'::jsonb
      FROM customer_mgmt.users u WHERE u.id = timeline_entries.customer_id
    UNION ALL
    SELECT o.order_date, 'order.placed', NULL,
           jsonb_build_object('orderId', o.id, 'status', o.status, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o WHERE o.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT o.completed_at, 'order.completed', NULL, jsonb_build_object('orderId', o.id, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o
     WHERE o.customer_id = timeline_entries.customer_id AND o.completed_at IS NOT NULL
    UNION ALL
    -- an order cancelled or refunded: its status has no time of its own, the
    -- order's last change stands for it
    SELECT o.updated_at, 'order.' || o.status, NULL, jsonb_build_object('orderId', o.id, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o
     WHERE o.customer_id = timeline_entries.customer_id AND o.status IN ('cancelled', 'refunded')
    UNION ALL
    SELECT w.started_at, 'customer.login', NULL, '{}'::jsonb
      FROM customer_mgmt.web_sessions w
     WHERE w.customer_id = timeline_entries.customer_id AND w.page_views = 0
    UNION ALL
    SELECT h.changed_at, 'customer.status_changed', h.actor_id,
           jsonb_build_object('oldStatus', h.old_status, 'newStatus', h.new_status, 'reason', h.reason)
      FROM customer_mgmt.customer_status_history h WHERE h.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT n.created_at, 'note.added', n.author_id,
           jsonb_build_object('noteId', n.id, 'type', n.type, 'priority', n.priority, 'title', n.title)
      FROM customer_mgmt.customer_notes n WHERE n.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT x.anonymized_at, 'customer.anonymized', x.actor_id, jsonb_build_object('reason', x.reason)
      FROM customer_mgmt.customer_anonymizations x WHERE x.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT e.created_at,
           CASE e.event_type WHEN 'customer.segment_entered' THEN 'segment.entered'
                             WHEN 'customer.segment_left' THEN 'segment.left'
                             ELSE 'customer.churn_detected' END,
           NULL, e.payload - 'customerId'
      FROM customer_mgmt.event_outbox e
     WHERE e.customer_id = timeline_entries.customer_id
       AND e.event_type IN ('customer.segment_entered', 'customer.segment_left', 'customer.churn_detected')
$$;
COMMENT ON FUNCTION timeline_entries(uuid) IS
    'Internal: every entry of a customer''s timeline (registration, orders placed, completed, cancelled or refunded, logins, status changes, notes, segments entered and left, churn detected, anonymisation) with its time, type, acting user and payload.';

CREATE OR REPLACE FUNCTION get_customer_timeline(customer_id uuid, page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    total bigint;
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    SELECT count(*) INTO total FROM customer_mgmt.timeline_entries(u.id);
    SELECT coalesce(jsonb_agg(jsonb_build_object('at', t.at, 'type', t.type, 'actorId', t.actor_id,
                                                 'actorName', a.full_name, 'payload', t.payload)
                              ORDER BY t.at DESC, t.type, t.payload::text), '[]')
      INTO data
      FROM (SELECT * FROM customer_mgmt.timeline_entries(u.id) e
             ORDER BY e.at DESC, e.type, e.payload::text LIMIT page_size OFFSET (page - 1)::bigint * page_size) t
      LEFT JOIN customer_mgmt.users a ON a.id = t.actor_id;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_timeline(uuid, integer, integer) IS
    'Staff: one feed, newest first, of what happened to a customer (customer.registered, order.placed, order.completed, order.cancelled, order.refunded, customer.login, customer.status_changed, note.added, segment.entered, segment.left, customer.churn_detected, customer.anonymized), each {at, type, actorId, actorName, payload}, as a page. PT404, 22023 for the page.';

-- sql/functions/privacy.sql
-- customer_mgmt: Data protection (docs/privacy.md): anonymising a customer
-- completely, with the patterns that find their personal data however it was written
-- (docs/privacy.md).

-- A regular expression that finds a text (a name, a street, an e-mail) in
-- any case, with or without Vietnamese accents, with any run of white space
-- between its words, as a whole (not inside a longer word).  Every
-- character but a letter is escaped.
CREATE OR REPLACE FUNCTION personal_regex(value text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the letters of Vietnamese, lower case; upper() gives the rest
    letters constant text := 'aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệfghiìíỉĩịjklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvwxyỳýỷỹỵz';
    v text := regexp_replace(btrim(normalize(value, NFC)), '\s+', ' ', 'g');
    ch text;
    base text;
    result text := '';
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. length(v) LOOP
        ch := substr(v, i, 1);
        base := customer_mgmt.search_fold(ch);
        IF ch = ' ' THEN
            result := result || '\s+';
        ELSIF base ~ '^[a-z]$' THEN
            result := result || '[' || (SELECT string_agg(c, '') FROM regexp_split_to_table(letters || upper(letters), '') c
                                          WHERE customer_mgmt.search_fold(c) = base) || ']';
        ELSIF ch ~ '^[0-9]$' THEN
            result := result || ch;
        ELSIF ascii(ch) < 128 THEN
            result := result || '\' || ch;      -- ASCII punctuation, escaped
        ELSE
            result := result || '[' || ch || ']';  -- any other character, as itself
        END IF;
    END LOOP;
    RETURN '(?<![[:alnum:]])' || result || '(?![[:alnum:]])';
END
$$;
COMMENT ON FUNCTION personal_regex(text) IS
    'Internal: a regular expression that finds a text as a whole word sequence, in any case, with or without accents, with any white space between its words; NULL for none.';

-- A regular expression that finds a Vietnamese phone number however it is
-- written: 0903123456, 0903 123 456, 0903.123.456, +84 903 123 456,
-- (+84) 903-123-456, 84903123456.
CREATE OR REPLACE FUNCTION phone_regex(phone_number text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT '(?<![0-9+])(?:\(?\+?84\)?[\s.()-]*0?|0)'
           || array_to_string(regexp_split_to_array(substr(customer_mgmt.normalize_phone(phone_number), 2), ''), '[\s.()-]*')
           || '(?![0-9])'
$$;
COMMENT ON FUNCTION phone_regex(text) IS
    'Internal: a regular expression that finds a Vietnamese phone number in any of its spellings (national or +84, with spaces, dots, dashes or parentheses); NULL when the text is not a phone number.';

-- A regular expression that finds a date in the ways a birth date is
-- written: 1990-03-05, 05/03/1990, 5/3/1990, 5-3-90, 05.03.1990,
-- ngày 5 tháng 3 năm 1990.
CREATE OR REPLACE FUNCTION birth_date_regex(d date) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT format('(?<![0-9])(?:0?%1$s[/.\s-]+0?%2$s[/.\s-]+(?:%3$s|%4$s)|%3$s[/.\s-]+0?%2$s[/.\s-]+0?%1$s)(?![0-9])|%5$s',
                  extract(day FROM d), extract(month FROM d), extract(year FROM d), to_char(d, 'YY'),
                  customer_mgmt.personal_regex(format('ngày %s tháng %s năm %s', extract(day FROM d), extract(month FROM d),
                                                      extract(year FROM d))))
$$;
COMMENT ON FUNCTION birth_date_regex(date) IS
    'Internal: a regular expression that finds a date written as YYYY-MM-DD, DD/MM/YYYY, D/M/YY (with /, -, . or spaces) or "ngày D tháng M năm YYYY"; NULL for NULL.';

-- A text with every match of the patterns replaced by [redacted].
CREATE OR REPLACE FUNCTION redact(value text, patterns text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := normalize(value, NFC);
    p text;
BEGIN
    FOREACH p IN ARRAY patterns LOOP
        CONTINUE WHEN p IS NULL;
        v := regexp_replace(v, p, '[redacted]', 'g');
    END LOOP;
    RETURN v;
END
$$;
COMMENT ON FUNCTION redact(text, text[]) IS
    'Internal: the text (NFC) with every match of the regular expressions replaced by [redacted]; NULL for NULL.';

-- The string values of a JSON object redacted, nested ones included.
CREATE OR REPLACE FUNCTION redact_json(value jsonb, patterns text[]) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE jsonb_typeof(value)
        WHEN 'string' THEN to_jsonb(customer_mgmt.redact(value #>> '{}', patterns))
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, customer_mgmt.redact_json(v, patterns)), '{}')
                              FROM jsonb_each(value) x (k, v))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(customer_mgmt.redact_json(v, patterns) ORDER BY n), '[]')
                             FROM jsonb_array_elements(value) WITH ORDINALITY x (v, n))
        ELSE value END
$$;
COMMENT ON FUNCTION redact_json(jsonb, text[]) IS 'Internal: every string in a JSON value redacted (redact()), keys kept.';

-- The patterns of a customer's personal data: name, e-mail, phone numbers,
-- birth date, and of each address its recipient, phone and street.
CREATE OR REPLACE FUNCTION personal_patterns(customer_id uuid) RETURNS text[]
    LANGUAGE sql STABLE
AS $$
    SELECT array_agg(DISTINCT p) FILTER (WHERE p IS NOT NULL)
      FROM (SELECT customer_mgmt.personal_regex(u.full_name) AS p FROM customer_mgmt.users u WHERE u.id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.personal_regex(u.email) FROM customer_mgmt.users u WHERE u.id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.phone_regex(u.phone_number) FROM customer_mgmt.users u WHERE u.id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.birth_date_regex(u.date_of_birth) FROM customer_mgmt.users u WHERE u.id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.personal_regex(a.recipient_name) FROM customer_mgmt.addresses a WHERE a.customer_id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.phone_regex(a.phone_number) FROM customer_mgmt.addresses a WHERE a.customer_id = personal_patterns.customer_id
            UNION ALL SELECT customer_mgmt.personal_regex(a.street) FROM customer_mgmt.addresses a WHERE a.customer_id = personal_patterns.customer_id) x
$$;
COMMENT ON FUNCTION personal_patterns(uuid) IS
    'Internal: the regular expressions of a customer''s name, e-mail, phone numbers, birth date and addresses'' recipients, phones and streets.';

CREATE OR REPLACE FUNCTION anonymize_customer(customer_id uuid, reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
    v_reason text := customer_mgmt.check_text('reason', reason, 1000);
    done customer_mgmt.customer_anonymizations;
    patterns text[];
    open_orders bigint;
    counts jsonb;
    n_notes bigint;
    n_history bigint;
    n_events bigint;
    n_jobs bigint;
    n_addresses bigint;
BEGIN
    PERFORM customer_mgmt.lock_customer(anonymize_customer.customer_id);
    u := customer_mgmt.find_customer(anonymize_customer.customer_id);
    SELECT * INTO done FROM customer_mgmt.customer_anonymizations x WHERE x.customer_id = u.id;
    IF FOUND THEN
        RETURN jsonb_build_object('customerId', u.id, 'anonymizedAt', done.anonymized_at, 'alreadyAnonymized', true);
    END IF;
    SELECT count(*) INTO open_orders FROM customer_mgmt.orders o
     WHERE o.customer_id = u.id AND o.status IN ('pending', 'processing');
    IF open_orders > 0 THEN
        RAISE EXCEPTION 'customer % has % open orders', u.id, open_orders
            USING ERRCODE = 'P0001',
                  DETAIL = format('Customer %s has %s order(s) pending or processing; their delivery needs the address.', u.id, open_orders),
                  HINT = 'Anonymise the customer once the orders are completed, cancelled or refunded.';
    END IF;
    patterns := coalesce(customer_mgmt.personal_patterns(u.id), '{}');
    -- why, without the personal data it may name
    v_reason := customer_mgmt.redact(v_reason, patterns);

    -- each text redacted once (MATERIALIZED), and only the rows it changes written
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact(x.title, patterns) AS title, customer_mgmt.redact(x.content, patterns) AS content,
               customer_mgmt.redact_json(x.tags, patterns) AS tags, (x.title::text, x.content, x.tags) AS before
          FROM customer_mgmt.customer_notes x WHERE x.customer_id = u.id),
    n AS (
        UPDATE customer_mgmt.customer_notes x SET title = r.title, content = r.content, tags = r.tags
          FROM r WHERE x.id = r.id AND r.before IS DISTINCT FROM (r.title, r.content, r.tags)
        RETURNING 1)
    SELECT count(*) INTO n_notes FROM n;
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact(x.reason, patterns) AS reason, x.reason AS before
          FROM customer_mgmt.customer_status_history x WHERE x.customer_id = u.id),
    h AS (
        UPDATE customer_mgmt.customer_status_history x SET reason = r.reason
          FROM r WHERE x.id = r.id AND r.before IS DISTINCT FROM r.reason
        RETURNING 1)
    SELECT count(*) INTO n_history FROM h;
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact_json(x.payload, patterns) AS payload, x.payload AS before
          FROM customer_mgmt.event_outbox x WHERE x.customer_id = u.id),
    e AS (
        UPDATE customer_mgmt.event_outbox x SET payload = r.payload
          FROM r WHERE x.id = r.id AND r.before IS DISTINCT FROM r.payload
        RETURNING 1)
    SELECT count(*) INTO n_events FROM e;
    -- the job log's details are counts and times; an error message might
    -- quote a customer's data
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact(x.error, patterns) AS error, x.error AS before
          FROM customer_mgmt.job_runs x WHERE x.error IS NOT NULL),
    j AS (
        UPDATE customer_mgmt.job_runs x SET error = r.error
          FROM r WHERE x.id = r.id AND r.before IS DISTINCT FROM r.error
        RETURNING 1)
    SELECT count(*) INTO n_jobs FROM j;
    DELETE FROM customer_mgmt.addresses x WHERE x.customer_id = u.id;
    GET DIAGNOSTICS n_addresses = ROW_COUNT;
    -- the design's replacements; the e-mail stays unique and invalid (RFC 2606)
    UPDATE customer_mgmt.users x
       SET full_name = 'Anonymous-' || right(u.id::text, 8),
           email = 'anonymized-' || u.id || '@anonymized.invalid',
           phone_number = NULL, avatar_url = NULL, date_of_birth = NULL,
           email_verified_at = NULL, phone_verified_at = NULL, anonymized_at = now()
     WHERE x.id = u.id;
    counts := jsonb_build_object('notes', n_notes, 'statusHistory', n_history, 'outboxEvents', n_events,
                                 'jobRuns', n_jobs, 'addressesDeleted', n_addresses);
    INSERT INTO customer_mgmt.customer_anonymizations AS x (customer_id, anonymized_at, actor_id, reason, scrubbed)
    VALUES (u.id, now(), customer_mgmt.current_actor(), v_reason, counts)
    RETURNING * INTO done;
    PERFORM customer_mgmt.emit_event('customer.anonymized', u.id, jsonb_build_object('customerId', u.id));
    RETURN jsonb_build_object('customerId', u.id, 'anonymizedAt', done.anonymized_at, 'alreadyAnonymized', false,
                              'scrubbed', counts);
END
$$;
COMMENT ON FUNCTION anonymize_customer(uuid, text) IS
    'Admin: anonymises a customer, irreversibly (docs/privacy.md): name, e-mail, phone, avatar and birth date replaced, addresses deleted, every spelling of them redacted from the customer''s notes, status-history reasons, outbox payloads and the job log; orders and analytics kept. Recorded in customer_anonymizations (who, when, why, what was scrubbed); customer.anonymized to the outbox. Idempotent. P0001 while an order is pending or processing. Returns {customerId, anonymizedAt, alreadyAnonymized, scrubbed}.';

-- The personal-data export (CustomerDataExport), recorded in
-- export_log.
CREATE OR REPLACE FUNCTION export_customer_data(customer_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.find_customer(customer_id);
    a customer_mgmt.customer_analytics;
    result jsonb;
BEGIN
    SELECT * INTO a FROM customer_mgmt.customer_analytics x WHERE x.customer_id = u.id;
    result := jsonb_build_object(
        'personalInformation', jsonb_build_object(
            'id', u.id, 'fullName', u.full_name, 'email', u.email, 'phoneNumber', u.phone_number,
            'dateOfBirth', u.date_of_birth, 'gender', u.gender, 'province', u.province, 'avatarUrl', u.avatar_url,
            'emailVerifiedAt', u.email_verified_at, 'phoneVerifiedAt', u.phone_verified_at,
            'registrationDate', u.created_at, 'lastLoginDate', u.last_login_at, 'accountStatus', u.status,
            'anonymizedAt', u.anonymized_at,
            'addresses', coalesce((SELECT jsonb_agg(customer_mgmt.address_dto(x) ORDER BY x.created_at, x.id)
                                     FROM customer_mgmt.addresses x WHERE x.customer_id = u.id), '[]')),
        'orderHistory', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', o.id, 'status', o.status, 'totalAmount', o.total_amount, 'orderDate', o.order_date,
                       'completedAt', o.completed_at,
                       'items', coalesce((SELECT jsonb_agg(jsonb_build_object('productName', i.product_name,
                                                                              'category', i.category, 'brand', i.brand,
                                                                              'unitPrice', i.unit_price,
                                                                              'quantity', i.quantity) ORDER BY i.id)
                                            FROM customer_mgmt.order_items i WHERE i.order_id = o.id), '[]'))
                   ORDER BY o.order_date, o.id)
              FROM customer_mgmt.orders o WHERE o.customer_id = u.id), '[]'),
        'accountActivity', jsonb_build_object(
            'logins', coalesce((SELECT jsonb_agg(w.started_at ORDER BY w.started_at)
                                  FROM customer_mgmt.web_sessions w WHERE w.customer_id = u.id AND w.page_views = 0), '[]'),
            'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('startedAt', w.started_at,
                                                                      'durationSeconds', w.duration_seconds,
                                                                      'pageViews', w.page_views, 'converted', w.converted)
                                                   ORDER BY w.started_at, w.id)
                                    FROM customer_mgmt.web_sessions w WHERE w.customer_id = u.id AND w.page_views > 0), '[]'),
            'statusChanges', coalesce((SELECT jsonb_agg(jsonb_build_object('oldStatus', h.old_status,
                                                                           'newStatus', h.new_status, 'reason', h.reason,
                                                                           'changedAt', h.changed_at)
                                                        ORDER BY h.changed_at, h.id)
                                         FROM customer_mgmt.customer_status_history h WHERE h.customer_id = u.id), '[]')),
        'analyticsData', CASE WHEN a.customer_id IS NOT NULL THEN customer_mgmt.customer_analytics_dto(a, now()) END,
        'notes', coalesce((SELECT jsonb_agg(customer_mgmt.note_dto(n) ORDER BY n.created_at, n.id)
                             FROM customer_mgmt.customer_notes n WHERE n.customer_id = u.id AND NOT n.is_internal), '[]'),
        'exportDate', now(),
        'dataRetentionPolicy', customer_mgmt.setting('privacy.data_retention_policy'));
    INSERT INTO customer_mgmt.export_log (actor_id, kind, customer_id, details)
    VALUES (customer_mgmt.current_actor(), 'customer_data', u.id,
            jsonb_build_object('orders', jsonb_array_length(result -> 'orderHistory'),
                               'notes', jsonb_array_length(result -> 'notes')));
    RETURN result;
END
$$;
COMMENT ON FUNCTION export_customer_data(uuid) IS
    'Admin: everything the shop holds about a customer (CustomerDataExport): personalInformation with addresses, orderHistory with items, accountActivity (logins, sessions, status changes), analyticsData, the notes that are not internal, exportDate and dataRetentionPolicy (setting privacy.data_retention_policy). Recorded in export_log. PT404, 42501.';

-- Retention (beyond the design): customers with no registration, login or
-- order in the setting's number of years are anonymised, each as
-- anonymize_customer does; customers with an open order wait.  Logged in
-- job_runs.
CREATE OR REPLACE FUNCTION anonymize_inactive_customers() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    years integer := customer_mgmt.setting('privacy.anonymize_inactive_years')::integer;
    cutoff timestamptz;
    run_id bigint;
    id uuid;
    n bigint := 0;
BEGIN
    INSERT INTO customer_mgmt.job_runs (job_name, details)
    VALUES ('anonymize_inactive_customers', jsonb_build_object('years', years))
    RETURNING job_runs.id INTO run_id;
    IF years > 0 THEN
        cutoff := now() - make_interval(years => years);
        FOR id IN
            SELECT l.customer_id FROM customer_mgmt.customer_list l
              JOIN customer_mgmt.users u ON u.id = l.customer_id
             WHERE u.anonymized_at IS NULL AND l.created_at < cutoff
               AND coalesce(l.last_login_at, '-infinity') < cutoff
               AND NOT EXISTS (SELECT FROM customer_mgmt.orders o
                                WHERE o.customer_id = l.customer_id
                                  AND (o.order_date >= cutoff OR o.status IN ('pending', 'processing')))
             ORDER BY l.customer_id
        LOOP
            PERFORM customer_mgmt.anonymize_customer(id, format('Retention: no registration, login or order in %s years', years));
            n := n + 1;
        END LOOP;
    END IF;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, n);
    RETURN jsonb_build_object('anonymized', n, 'years', years, 'jobRunId', run_id);
END
$$;
COMMENT ON FUNCTION anonymize_inactive_customers() IS
    'Admin (and pg_cron, daily, when privacy.anonymize_inactive_years is set): anonymises every customer with no registration, login or order in that many years and no open order (anonymize_customer); nothing when the setting is 0. Logged in job_runs. Returns {anonymized, years, jobRunId}.';

-- sql/functions/export.sql
-- customer_mgmt: The customer export (docs/reference.md, Export): export_customers writes the
-- list's customers, filtered and sorted as get_customers does, as an .xlsx workbook or CSV.
-- export_customers is C (src/export.c): it asks export_plan, here, for the query, the
-- columns and the Summary sheet, streams the rows into the file, and logs the export, so
-- that the file is built once, in the memory it is returned from.

-- The columns an export may have, in their documented order: key (as
-- columns names them), header, kind (how the writer types the cell), the
-- SQL over l (customer_list), u (users), a (customer_analytics), c
-- (customer_clv, joined only when a column reads it) and p (the shop's time
-- zone tz and as_of), and whether it is in the default set.
CREATE OR REPLACE FUNCTION export_columns()
    RETURNS TABLE (key text, header text, kind text, expression text, is_default boolean)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('id', 'ID', 'text', 'l.customer_id::text', false),
           ('fullName', 'Full name', 'text', 'u.full_name', true),
           ('email', 'E-mail', 'text', 'u.email', true),
           ('phoneNumber', 'Phone', 'text', 'u.phone_number', true),
           ('status', 'Status', 'text', 'l.status::text', true),
           ('segment', 'Segment', 'text', 'l.segment::text', true),
           ('totalOrders', 'Orders', 'integer', 'l.total_orders::int8', true),
           ('totalSpent', 'Total spent', 'amount', 'l.total_spent::float8', true),
           ('averageOrderValue', 'Average order value', 'amount', 'l.average_order_value::float8', false),
           ('lastOrderDate', 'Last order', 'datetime', 'l.last_order_date AT TIME ZONE p.tz', true),
           ('daysSinceLastOrder', 'Days since last order', 'integer', 'customer_mgmt.days_between(l.last_order_date, p.as_of)::int8', false),
           ('churnRiskScore', 'Churn risk', 'rate', 'l.churn_risk_score::float8', true),
           ('engagementScore', 'Engagement', 'rate', 'l.engagement_score::float8', false),
           ('rfmScore', 'RFM', 'text', 'l.rfm_score::text', false),
           ('rfmGroup', 'RFM group', 'text', 'l.rfm_group', false),
           ('customerLifetimeValue', 'Lifetime value', 'amount', 'a.customer_lifetime_value::float8', false),
           ('predictedLtv', 'Predicted spend, next 365 days', 'amount', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''predicted_ltv'')', false),
           ('probabilityAlive', 'Probability active', 'rate', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''probability_alive'')', false),
           ('churnProbability', 'Probability of no order in 90 days', 'rate', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''churn_probability'')', false),
           ('expectedNextOrderDate', 'Expected next order', 'date', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).expected_next_order_date', false),
           ('predictionStatus', 'Prediction status', 'text', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).status', false),
           ('predictionHistoryWeight', 'Share of own history in prediction', 'rate', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).own_history_weight', false),
           ('totalSessions', 'Sessions', 'integer', 'l.total_sessions::int8', false),
           ('bounceRate', 'Bounce rate', 'rate', 'l.bounce_rate::float8', false),
           ('conversionRate', 'Conversion rate', 'rate', 'l.conversion_rate::float8', false),
           ('gender', 'Gender', 'text', 'l.gender::text', false),
           ('dateOfBirth', 'Date of birth', 'date', 'u.date_of_birth', false),
           ('province', 'Province', 'text', 'u.province', false),
           ('shippingAddress', 'Shipping address', 'text',
            '(SELECT concat_ws('', '', x.street, x.ward, x.district, x.province) FROM customer_mgmt.addresses x'
            || ' WHERE x.customer_id = l.customer_id ORDER BY x.is_default_shipping DESC, x.created_at LIMIT 1)', false),
           ('createdAt', 'Registered', 'datetime', 'l.created_at AT TIME ZONE p.tz', true),
           ('lastLoginAt', 'Last login', 'datetime', 'l.last_login_at AT TIME ZONE p.tz', false)
$$;
COMMENT ON FUNCTION export_columns() IS
    'The columns export_customers can write: key, header, kind (text, amount, integer, rate, datetime, date), SQL expression, and whether it is in the default set.';

-- Everything export_customers needs before it writes a row: the arguments
-- checked, the query (the list's filters and sort), the columns' headers and
-- kinds, for xlsx the Summary sheet's cells and charts, and what the log
-- records; it sets PostgREST's response headers.  Internal: only
-- export_customers (SECURITY DEFINER) calls it.
CREATE OR REPLACE FUNCTION export_plan(
    search text, status text, segment text, segment_id uuid, registered_after timestamptz,
    registered_before timestamptz, min_total_spent numeric, max_total_spent numeric, min_orders integer,
    max_days_since_last_order integer, sort_by text, sort_order text, format text, columns text[], rfm_group text,
    OUT query text, OUT headers text[], OUT kinds text[], OUT summary_query text, OUT chart_titles text[],
    OUT chart_types text[], OUT chart_first_rows integer[], OUT chart_last_rows integer[], OUT sheet_rows integer,
    OUT log_details jsonb)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    as_of timestamptz := now();
    tz text := customer_mgmt.setting('shop_timezone');
    f record := customer_mgmt.customer_filter(search, status, segment, segment_id, registered_after, registered_before,
                                              min_total_spent, max_total_spent, min_orders, max_days_since_last_order,
                                              sort_by, sort_order, as_of, rfm_group);
    chosen text[] := coalesce(columns, ARRAY(SELECT c.key FROM customer_mgmt.export_columns() c WHERE c.is_default));
    cols record;
    filters jsonb;
    n bigint;
    cells text[] := '{}';
    rows integer[] := '{}';
    cols_at integer[] := '{}';
    numbers boolean[] := '{}';
    bolds boolean[] := '{}';
    r integer;
    t record;
BEGIN
    IF format IS NULL OR format NOT IN ('xlsx', 'csv') THEN
        PERFORM customer_mgmt.raise_invalid('format', 'must be xlsx or csv', format);
    END IF;
    IF cardinality(chosen) IS NULL OR cardinality(chosen) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('columns', 'must name at least one column (see export_columns())');
    END IF;
    FOR i IN 1 .. cardinality(chosen) LOOP
        IF chosen[i] IS NULL OR NOT EXISTS (SELECT FROM customer_mgmt.export_columns() c WHERE c.key = chosen[i]) THEN
            PERFORM customer_mgmt.raise_invalid('columns', 'holds a column that does not exist (see export_columns())', chosen[i]);
        END IF;
        IF array_position(chosen, chosen[i]) <> i THEN
            PERFORM customer_mgmt.raise_invalid('columns', 'names a column twice', chosen[i]);
        END IF;
    END LOOP;
    -- Excel's limit, which a test may lower (SET customer_mgmt.export_sheet_rows)
    sheet_rows := coalesce(nullif(current_setting('customer_mgmt.export_sheet_rows', true), '')::integer, 1048576);
    SELECT array_agg(c.header ORDER BY o.n) AS headers, array_agg(c.kind ORDER BY o.n) AS kinds,
           string_agg(c.expression, ', ' ORDER BY o.n) AS exprs
      INTO cols
      FROM unnest(chosen) WITH ORDINALITY o (key, n) JOIN customer_mgmt.export_columns() c ON c.key = o.key;
    headers := cols.headers;
    kinds := cols.kinds;
    query := format('SELECT %s FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id'
                    ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id'
                    ' LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = l.customer_id'
                    ' CROSS JOIN (SELECT %L::text AS tz, %L::timestamptz AS as_of) p WHERE %s%s',
                    cols.exprs, tz, as_of, f.conditions, f.order_by);
    filters := jsonb_strip_nulls(jsonb_build_object(
        'search', search, 'status', status, 'segment', segment, 'segmentId', segment_id,
        'registeredAfter', registered_after, 'registeredBefore', registered_before,
        'minTotalSpent', min_total_spent, 'maxTotalSpent', max_total_spent, 'minOrders', min_orders,
        'maxDaysSinceLastOrder', max_days_since_last_order, 'rfmGroup', rfm_group,
        'sortBy', coalesce(sort_by, 'createdAt'), 'sortOrder', upper(coalesce(sort_order, 'DESC'))));
    -- the log holds no personal data: whether there was a search, not its text
    -- (export_customers adds the number of rows written)
    log_details := jsonb_build_object('format', format, 'columns', to_jsonb(chosen),
                                      'filters', filters - 'search' || CASE WHEN search IS NOT NULL THEN '{"search": true}'::jsonb
                                                                            ELSE '{}' END);
    -- behind PostgREST, a file download
    PERFORM set_config('response.headers', jsonb_build_array(
        jsonb_build_object('Content-Type', CASE format WHEN 'csv' THEN 'text/csv; charset=utf-8'
                                           ELSE 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' END),
        jsonb_build_object('Content-Disposition',
                           format('attachment; filename="customers-%s.%s"', to_char(as_of AT TIME ZONE tz, 'YYYYMMDD-HH24MI'), format))
        )::text, true);
    IF format = 'csv' THEN
        RETURN;                 -- a CSV has no Summary sheet
    END IF;

    -- the Summary sheet: who, when, the filters, the count (row 3, once the
    -- tables below have counted), and three tables with their charts
    -- (lifecycle segments, churn-risk bands, lifetime-value bands)
    cells := ARRAY['Customer export', 'Exported at', to_char(as_of AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' (' || tz || ')',
                   'Exported by', coalesce((SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = customer_mgmt.current_actor()),
                                           customer_mgmt.invoker()::text),
                   'Filters'];
    rows := ARRAY[0, 1, 1, 2, 2, 5];
    cols_at := ARRAY[0, 0, 1, 0, 1, 0];
    numbers := ARRAY[false, false, false, false, false, false];
    bolds := ARRAY[true, false, false, false, false, true];
    r := 6;
    FOR t IN SELECT e.key, e.value #>> '{}' AS value FROM jsonb_each(filters) e ORDER BY e.key LOOP
        cells := cells || t.key || t.value;
        rows := rows || r || r;
        cols_at := cols_at || 0 || 1;
        numbers := numbers || false || false;
        bolds := bolds || false || false;
        r := r + 1;
    END LOOP;
    chart_titles := ARRAY['Lifecycle segments', 'Churn risk', 'Lifetime value (VND)'];
    chart_types := ARRAY['pie', 'column', 'column'];
    chart_first_rows := '{}';
    chart_last_rows := '{}';
    FOR t IN
        EXECUTE format($q$
            WITH m AS (SELECT l.segment::text AS segment,
                              CASE WHEN l.churn_risk_score >= %1$L::numeric THEN '3 high'
                                   WHEN l.churn_risk_score >= %2$L::numeric THEN '2 medium' ELSE '1 low' END AS churn,
                              CASE WHEN a.customer_lifetime_value < 1000000 THEN '1 under 1M'
                                   WHEN a.customer_lifetime_value < 5000000 THEN '2 1M-5M'
                                   WHEN a.customer_lifetime_value < 20000000 THEN '3 5M-20M'
                                   WHEN a.customer_lifetime_value < 50000000 THEN '4 20M-50M'
                                   ELSE '5 50M and more' END AS ltv
                         FROM customer_mgmt.customer_list l
                         JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id
                        WHERE %3$s)
            SELECT 1 AS part, s.label, count(m.segment) AS n, s.o
              FROM unnest(enum_range(NULL::customer_mgmt.lifecycle_segment)::text[]) WITH ORDINALITY s (label, o)
              LEFT JOIN m ON m.segment = s.label GROUP BY s.label, s.o
            UNION ALL
            SELECT 2, substr(b.label, 3), count(m.churn), b.o
              FROM unnest(ARRAY['1 low', '2 medium', '3 high']) WITH ORDINALITY b (label, o)
              LEFT JOIN m ON m.churn = b.label GROUP BY b.label, b.o
            UNION ALL
            SELECT 3, substr(b.label, 3), count(m.ltv), b.o
              FROM unnest(ARRAY['1 under 1M', '2 1M-5M', '3 5M-20M', '4 20M-50M', '5 50M and more']) WITH ORDINALITY b (label, o)
              LEFT JOIN m ON m.ltv = b.label GROUP BY b.label, b.o
            ORDER BY 1, 4$q$,
            customer_mgmt.setting('churn.threshold_medium'), customer_mgmt.setting('churn.threshold_low'), f.conditions)
    LOOP
        IF t.part > cardinality(chart_first_rows) THEN
            r := r + 1;
            cells := cells || chart_titles[t.part] || 'Customers'::text;
            rows := rows || r || r;
            cols_at := cols_at || 0 || 1;
            numbers := numbers || false || false;
            bolds := bolds || true || true;
            r := r + 1;
            chart_first_rows := chart_first_rows || r;
            chart_last_rows := chart_last_rows || r;
        END IF;
        cells := cells || t.label || t.n::text;
        rows := rows || r || r;
        cols_at := cols_at || 0 || 1;
        numbers := numbers || false || true;
        bolds := bolds || false || false;
        chart_last_rows[cardinality(chart_last_rows)] := r;
        r := r + 1;
        -- every customer is in one lifecycle segment: the first table counts them all
        IF t.part = 1 THEN
            n := coalesce(n, 0) + t.n;
        END IF;
    END LOOP;
    cells := cells || 'Customers'::text || n::text;
    rows := rows || 3 || 3;
    cols_at := cols_at || 0 || 1;
    numbers := numbers || false || true;
    bolds := bolds || false || false;
    summary_query := format('SELECT r, c, v, n, b FROM unnest(%L::int[], %L::int[], %L::text[], %L::bool[], %L::bool[])'
                            ' x (r, c, v, n, b) ORDER BY r, c', rows, cols_at, cells, numbers, bolds);
END
$$;
COMMENT ON FUNCTION export_plan(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                text, text, text, text[], text) IS
    'Internal: for export_customers, its arguments checked (22023), the query of the rows, the columns'' headers and kinds, the xlsx Summary sheet (a query of its cells, the charts'' titles, types and rows), the rows a sheet holds, and the log''s details; sets response.headers.';

CREATE OR REPLACE FUNCTION export_customers(
    search                     text DEFAULT NULL,
    status                     text DEFAULT NULL,
    segment                    text DEFAULT NULL,
    segment_id                 uuid DEFAULT NULL,
    registered_after           timestamptz DEFAULT NULL,
    registered_before          timestamptz DEFAULT NULL,
    min_total_spent            numeric DEFAULT NULL,
    max_total_spent            numeric DEFAULT NULL,
    min_orders                 integer DEFAULT NULL,
    max_days_since_last_order  integer DEFAULT NULL,
    sort_by                    text DEFAULT 'createdAt',
    sort_order                 text DEFAULT 'DESC',
    format                     text DEFAULT 'xlsx',
    columns                    text[] DEFAULT NULL,
    rfm_group                  text DEFAULT NULL
) RETURNS "*/*"
    AS 'MODULE_PATHNAME', 'cm_export_customers'
    LANGUAGE C
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION export_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                     text, text, text, text[], text) IS
    'Admin: (a file: bytea, domain "*/*" for PostgREST, with Content-Type and Content-Disposition in response.headers) the customers of get_customers'' filters, in the order of its sort arguments, as an .xlsx workbook (a Summary sheet with charts, then the customers, continuing on a new sheet every 1,048,576 rows) or CSV (format => ''csv''); columns from export_columns() (default: its default set). Every export is logged in export_log without personal data. 22023 naming a bad filter, format or column.';

-- sql/functions/demo.sql
-- customer_mgmt: The demo-shop generator (owner only): a deterministic Vietnamese shop of any
-- size, generated in one call or in parts over several connections
-- (scripts/generate.sh).  Random numbers and catalogue come from src/demo.c.
-- Every value is demo_random(seed, stream, key): the same seed, size and
-- as_of give the same shop, whether it is generated in one call or in parts
-- over several connections.  Streams: 1.. customers, 20.. addresses,
-- 30.. orders, 40.. items, 50.. sessions, 70.. staff.
-- Keys: customer n; order n*256+j; item order_key*8+k; session n*512+k.

CREATE OR REPLACE FUNCTION demo_random(seed bigint, stream integer, key bigint) RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_demo_random'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_random(bigint, integer, bigint) IS
    'Deterministic pseudo-random number in [0,1) for (seed, stream, key); used by the demo-shop generator.';

CREATE OR REPLACE FUNCTION demo_uuid(seed bigint, stream integer, key bigint) RETURNS uuid
    AS 'MODULE_PATHNAME', 'cm_demo_uuid'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_uuid(bigint, integer, bigint) IS
    'Deterministic version-4-shaped UUID for (seed, stream, key); used by the demo-shop generator.';

-- Persona and timeline of customers first..last.
--   persona 0 never ordered (22%), 1 one-off (25%), 2 occasional (28%),
--   3 loyal (15%), 4 lapsed (8%), 5 big spender (2%)
CREATE OR REPLACE FUNCTION demo_plan(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
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
CREATE OR REPLACE FUNCTION demo_orders(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
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
CREATE OR REPLACE FUNCTION demo_items(seed bigint, order_key bigint, persona integer)
    RETURNS TABLE (product_name text, category text, brand text, unit_price numeric, quantity integer)
    AS 'MODULE_PATHNAME', 'cm_demo_items'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION demo_items(bigint, bigint, integer) IS
    'Demo generator: the 1-4 lines of one order (category, brand, product, VND price, quantity).';

CREATE OR REPLACE FUNCTION demo_order_total(seed bigint, order_key bigint, persona integer) RETURNS numeric
    AS 'MODULE_PATHNAME', 'cm_demo_order_total'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_order_total(bigint, bigint, integer) IS
    'Demo generator: the total of demo_items(seed, order_key, persona).';

-- Generate customers first_n..last_n of a demo shop of the given seed, with
-- their addresses, orders, items and sessions.  Does not check that the shop is
-- empty: the caller does (generate_demo_shop, or scripts/demo.sh for parallel
-- loading).  Returns the number of rows written per table.
CREATE OR REPLACE FUNCTION generate_demo_customers(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
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
CREATE OR REPLACE FUNCTION demo_secondary_indexes() RETURNS TABLE (index_name text, definition text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i
     WHERE i.indrelid IN ('customer_mgmt.users'::regclass, 'customer_mgmt.addresses'::regclass,
                          'customer_mgmt.orders'::regclass, 'customer_mgmt.order_items'::regclass,
                          'customer_mgmt.web_sessions'::regclass, 'customer_mgmt.customer_list'::regclass)
       AND NOT i.indisunique
     ORDER BY 1
$$;
COMMENT ON FUNCTION demo_secondary_indexes() IS
    'Demo generator: the non-unique indexes of the tables it fills, with their definitions, for drop-and-rebuild around a bulk load.';

CREATE OR REPLACE FUNCTION generate_demo_staff(seed bigint, as_of timestamptz) RETURNS integer
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

-- the demo generator skips triggers: give its customers their rows
CREATE OR REPLACE FUNCTION generate_demo_shop(
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
    -- the load bypassed the triggers: the analytics and list rows, before the
    -- list's indexes are built
    PERFORM ensure_analytics_rows();
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE definitions[i];
    END LOOP;
    RETURN counts || jsonb_build_object('staff', generate_demo_staff(seed, as_of));
END
$$;
COMMENT ON FUNCTION generate_demo_shop(integer, bigint, timestamptz) IS
    'Fills an empty shop with a deterministic demo: customers with Vietnamese names, addresses, orders, items, sessions, and 15 staff. Owner only.';

-- sql/updates/1.2--1.3.post.sql
-- customer_mgmt 1.2 -> 1.3, the hand-written part that needs the new
-- functions: customer_list filled, the triggers that keep it current, and
-- those that queue customers whose data changed in a way its date cannot
-- show (sql/schema/triggers.sql).

SELECT ensure_analytics_rows();

CREATE TRIGGER users_list_sync
    AFTER UPDATE OF full_name, email, status, last_login_at, created_at, role, gender, date_of_birth, province ON users
    FOR EACH ROW
    WHEN ((OLD.full_name, OLD.email, OLD.status, OLD.last_login_at, OLD.created_at, OLD.role, OLD.gender,
           OLD.date_of_birth, OLD.province)
          IS DISTINCT FROM (NEW.full_name, NEW.email, NEW.status, NEW.last_login_at, NEW.created_at, NEW.role,
                            NEW.gender, NEW.date_of_birth, NEW.province)
          AND (OLD.role = 'customer' OR NEW.role = 'customer'))
    EXECUTE FUNCTION users_list_sync();
CREATE TRIGGER analytics_list_sync AFTER UPDATE ON customer_analytics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_list_sync();

CREATE TRIGGER orders_after_change AFTER UPDATE OF customer_id, total_amount, order_date ON orders
    FOR EACH ROW
    WHEN ((OLD.status = 'completed' OR NEW.status = 'completed')
          AND (OLD.customer_id, OLD.total_amount, OLD.order_date) IS DISTINCT FROM (NEW.customer_id, NEW.total_amount, NEW.order_date))
    EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER orders_after_delete AFTER DELETE ON orders
    FOR EACH ROW WHEN (OLD.status = 'completed') EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER order_items_after_change AFTER UPDATE OR DELETE ON order_items
    FOR EACH ROW EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER order_items_after_insert AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_rows_added();
CREATE TRIGGER web_sessions_after_change AFTER UPDATE OR DELETE ON web_sessions
    FOR EACH ROW EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER web_sessions_after_insert AFTER INSERT ON web_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_rows_added();

CREATE TRIGGER segment_assignments_added AFTER INSERT ON customer_segment_assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segment_assignments_count();
CREATE TRIGGER segment_assignments_removed AFTER DELETE ON customer_segment_assignments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segment_assignments_count();

-- sql/privileges.sql
-- customer_mgmt privileges: who may call what (SPEC section 6).  Runs last,
-- on a fresh install and at the end of every update: it first takes every
-- privilege of PUBLIC and of the three roles away, then grants exactly the
-- list below, so an updated install ends with the same privileges as a fresh
-- one.
--   customer_mgmt_staff  reads
--   customer_mgmt_admin  everything staff can (it is a member), and all writes
--   customer_mgmt_app    ingestion of events from the shop's application
-- No role has privileges on the tables: the API is the functions.

REVOKE ALL ON SCHEMA customer_mgmt, customer_mgmt_internal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA customer_mgmt, customer_mgmt_internal
    FROM PUBLIC, customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

GRANT USAGE ON SCHEMA customer_mgmt TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;
GRANT USAGE ON SCHEMA customer_mgmt_internal TO customer_mgmt_admin;

-- helpers every role may use: search, identity, settings, the scoring rules
GRANT EXECUTE ON FUNCTION
    search_fold(text), search_key(text, text, text), normalize_phone(text),
    invoker(), current_actor(), setting(text),
    engagement_score(integer, integer, double precision, double precision, integer, integer),
    churn_risk(integer, integer, double precision, double precision),
    lifecycle_segment(double precision, double precision, integer, integer, double precision, double precision,
                      integer, integer, double precision, integer, integer),
    rfm_digit(double precision, double precision[]),
    insights(double precision, double precision, integer, integer, double precision, double precision, integer, integer)
TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

-- reads
GRANT EXECUTE ON FUNCTION
    get_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                  text, text, integer, integer, boolean, timestamptz, text),
    get_customer(uuid),
    get_customer_analytics(uuid),
    get_customer_orders(uuid, text, timestamptz, timestamptz, text, integer, integer),
    get_customer_overview(timestamptz, timestamptz),
    get_customer_health_score(timestamptz),
    preview_segment(jsonb, text),
    get_segments(), get_segment(uuid), get_customer_segments(uuid), get_segment_insights(uuid),
    get_segment_attributes(),
    get_customer_notes(uuid, text, text, text, text, integer, integer),
    get_customer_timeline(uuid, integer, integer),
    bgnbd_fit(double precision, double precision, double precision),
    gamma_gamma_fit(double precision, double precision),
    bgnbd_expected_purchases(jsonb, double precision, double precision, double precision, double precision),
    bgnbd_probability_alive(jsonb, double precision, double precision, double precision),
    gamma_gamma_expected_value(jsonb, double precision, double precision)
TO customer_mgmt_staff;

-- notes: staff write them, and change or delete their own (admins any: the
-- functions check, SPEC section 6)
GRANT EXECUTE ON FUNCTION
    add_customer_note(uuid, text, text, text, text, boolean, jsonb),
    update_customer_note(uuid, jsonb),
    delete_customer_note(uuid)
TO customer_mgmt_staff;

-- ingestion
GRANT EXECUTE ON FUNCTION
    register_customer(text, text, text, date, text, text, timestamptz),
    register_staff(text, text, text),
    add_customer_address(uuid, text, text, text, text, text, text, boolean, boolean),
    record_order(uuid, numeric, text, timestamptz, jsonb),
    set_order_status(uuid, text),
    record_session(uuid, timestamptz, integer, integer, boolean),
    record_login(uuid, timestamptz)
TO customer_mgmt_admin, customer_mgmt_app;

-- the event outbox, for the application that sends e-mails and campaigns
GRANT EXECUTE ON FUNCTION claim_events(integer, text), mark_events_processed(bigint[])
TO customer_mgmt_app, customer_mgmt_admin;

-- admin writes and jobs
GRANT EXECUTE ON FUNCTION
    set_setting(text, text),
    update_customer_status(uuid, text, text),
    calculate_customer_analytics(uuid, timestamptz),
    recalculate_all_analytics(timestamptz, boolean),
    process_analytics_queue(integer),
    create_segment(text, jsonb, text, text, text, boolean), update_segment(uuid, jsonb), delete_segment(uuid),
    refresh_segment(uuid), assign_customer_segments(uuid, uuid[], timestamptz), remove_customer_from_segment(uuid, uuid),
    remove_expired_segment_assignments(),
    anonymize_customer(uuid, text), export_customer_data(uuid), anonymize_inactive_customers(),
    export_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer, text, text, text, text[], text),
    fit_clv_model(timestamptz),
    export_columns(),
    schedule_jobs(), unschedule_jobs(), cron_jobs(), cron_script(boolean)
TO customer_mgmt_admin;
GRANT EXECUTE ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer, boolean) TO customer_mgmt_admin;

-- what the procedure above runs as its caller (it commits, so it cannot be
-- SECURITY DEFINER): internal, not API
GRANT EXECUTE ON FUNCTION
    customer_mgmt_internal.begin_recalculation(timestamptz, integer, text, boolean, boolean),
    customer_mgmt_internal.recalculate_slice(bigint, integer),
    customer_mgmt_internal.end_recalculation(bigint, bigint, text, boolean)
TO customer_mgmt_admin;
