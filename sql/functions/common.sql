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
        -- no echo of a text: it may be a name, an address or a note, and
        -- the server log keeps what an error says
        PERFORM customer_mgmt.raise_invalid(field, format('must be at most %s characters long', max_length));
    END IF;
    -- control characters, and U+FFFE and U+FFFF, which XML 1.0 forbids (an
    -- .xlsx is XML)
    IF v ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]' THEN
        PERFORM customer_mgmt.raise_invalid(field, 'must not contain control characters or U+FFFE/U+FFFF');
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION check_text(text, text, integer, boolean) IS
    'Internal: trims a text argument and checks presence, length, control characters and the code points XML forbids (22023 naming the field).';

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
        PERFORM customer_mgmt.raise_invalid(field, 'must be a Vietnamese phone number', NULL,
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

-- The same for ingestion by our id: a customer merged into another (even
-- by a merge that committed while this waited for its lock) is the
-- survivor, whose id is returned (docs/duplicates.md).
CREATE OR REPLACE FUNCTION lock_ingested_customer(customer_id uuid) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found uuid;
BEGIN
    IF customer_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    SELECT u.id INTO found FROM customer_mgmt.users u
     WHERE u.id = lock_ingested_customer.customer_id AND u.role = 'customer'
       FOR NO KEY UPDATE;
    IF found IS NULL THEN
        SELECT m.survivor_id INTO found FROM customer_mgmt.customer_merges m WHERE m.merged_id = lock_ingested_customer.customer_id;
        IF found IS NULL THEN
            PERFORM customer_mgmt.raise_not_found('Customer', customer_id::text);
        END IF;
        PERFORM customer_mgmt.lock_customer(found);
    END IF;
    RETURN found;
END
$$;
COMMENT ON FUNCTION lock_ingested_customer(uuid) IS
    'Internal: locks a customer''s row for ingestion and returns its id, the survivor''s for a customer merged into another; PT404 when there is none.';

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
        PERFORM customer_mgmt.raise_invalid(field, 'must be an e-mail address', NULL, 'Use an address like name@example.com.');
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION check_email(text, text) IS 'Internal: checks an e-mail address or raises 22023 naming the field.';

-- Whether a bulk import's chunk is running (docs/onboarding.md): its code,
-- SECURITY DEFINER as customer_mgmt_owner, creates pg_temp.cm_import while
-- it writes and drops it before it returns, and does the triggers' work
-- for the whole chunk itself.  A table of that name that anyone else made
-- does not count.
CREATE OR REPLACE FUNCTION importing() RETURNS boolean
    AS 'MODULE_PATHNAME', 'cm_importing'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION importing() IS
    'Internal: true while a bulk import''s chunk writes in this session (a temporary table cm_import that the extension''s owner created): the triggers leave their work to it.';

-- Whether a dump is being restored: every script pg_dump writes (and so
-- every pg_restore) empties search_path before it loads data, which no
-- application session does; customer_mgmt.restoring = on says it explicitly.
-- Triggers skip their side effects then: the dump already holds them.
-- Only a superuser's session restores (CREATE EXTENSION customer_mgmt needs
-- one): any other session may empty search_path or set the setting, and
-- the rules still hold for it.  The role is looked up only when the
-- settings say restore, so an ordinary write pays two setting reads.
-- It is C (src/restore.c): every completed order asks.  The triggers that
-- call it pin no search_path: it reads the caller's.
CREATE OR REPLACE FUNCTION restoring() RETURNS boolean
    AS 'MODULE_PATHNAME', 'cm_restoring'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION restoring() IS
    'True while a superuser''s session restores a dump (search_path is empty, as pg_dump''s scripts set it, or customer_mgmt.restoring = on), or a bulk import''s chunk writes (importing()): triggers skip their side effects. False in any other session, whatever it sets.';

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
-- (VOLATILE, but it writes nothing) only when it needs an estimate.  A
-- value that is personal data (a search) is passed as $1, the parameter:
-- a utility statement's text is kept as written by pg_stat_statements and
-- shown in the context of an error.
CREATE OR REPLACE FUNCTION estimate_rows(query text, parameter text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan USING parameter;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$;
COMMENT ON FUNCTION estimate_rows(text, text) IS
    'Internal: the planner''s estimate of the rows a query returns (EXPLAIN); the query carries its values as quoted literals, or one as $1, the parameter.';

-- The customer row, or PT404; 22023 when no id is given.  A malformed id
-- never gets here: the uuid parameter makes it PostgreSQL's own 22P02.
CREATE OR REPLACE FUNCTION customer_row(customer_id uuid) RETURNS users
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
BEGIN
    IF customer_id IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('customer_id', 'is required');
    END IF;
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = customer_row.customer_id AND x.role = 'customer';
    IF NOT FOUND THEN
        -- a customer merged into another resolves to it (docs/duplicates.md)
        SELECT x.* INTO u FROM customer_mgmt.customer_merges m JOIN customer_mgmt.users x ON x.id = m.survivor_id
         WHERE m.merged_id = customer_row.customer_id;
        IF NOT FOUND THEN
            PERFORM customer_mgmt.raise_not_found('Customer', customer_id::text);
        END IF;
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION customer_row(uuid) IS 'Internal: the customer with this id (or the one it was merged into), PT404 when there is none, 22023 when it is NULL.';

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

-- The shop's day of a time (the setting shop_timezone).
CREATE OR REPLACE FUNCTION shop_day(t timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (t AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date
$$;
COMMENT ON FUNCTION shop_day(timestamptz) IS 'Internal: the day of a time in the shop''s time zone; NULL for NULL.';

-- The days of the year, as month * 100 + day, whose dates have an
-- anniversary from a day to that day plus some days: each day's own, and
-- 29 February's on 1 March of a year without it (the day age() counts the
-- year complete, age_years).  Computed once per query; a row then compares
-- its date's month and day with them.
CREATE OR REPLACE FUNCTION anniversary_days(from_day date, days integer) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT k.mmdd), '{}')
      FROM generate_series(0, greatest(days, 0)) i,
           LATERAL (SELECT from_day + i AS day) x,
           LATERAL (SELECT (date_part('month', x.day) * 100 + date_part('day', x.day))::integer AS mmdd
                    UNION ALL
                    SELECT 229 WHERE date_part('month', x.day) = 3 AND date_part('day', x.day) = 1
                                 AND NOT (date_part('year', x.day)::integer % 4 = 0
                                          AND (date_part('year', x.day)::integer % 100 <> 0
                                               OR date_part('year', x.day)::integer % 400 = 0))) k
$$;
COMMENT ON FUNCTION anniversary_days(date, integer) IS
    'Internal: month * 100 + day of the dates whose anniversary falls from from_day to from_day + days (29 February''s on 1 March in a year without it); what anniversary MATCHES compares each row''s date with.';
