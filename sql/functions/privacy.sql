-- customer_mgmt: Data protection (docs/privacy.md): anonymising a customer
-- completely, with the patterns that find their personal data however it was written
-- (docs/privacy.md).

-- The letters a spelling may use in place of each letter: every Latin
-- letter search_fold knows (ASCII, Latin-1 Supplement, Latin Extended-A, ơ
-- and ư, Latin Extended Additional), both cases listed as code points,
-- grouped by the letter search_fold makes of it.  It depends on no locale:
-- upper() and the regular expressions' case folding do (in a database whose
-- LC_CTYPE is C they leave Đ, Á, Ô as they are).
CREATE OR REPLACE FUNCTION letter_classes() RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_object_agg(base, letters)
      FROM (SELECT customer_mgmt.search_fold(c) AS base, string_agg(c, '' ORDER BY c) AS letters
              FROM (SELECT chr(x) AS c
                      FROM generate_series(1, 7935) x
                     WHERE x BETWEEN 65 AND 90 OR x BETWEEN 97 AND 122 OR (x BETWEEN 192 AND 383 AND x NOT IN (215, 247))
                        OR x IN (416, 417, 431, 432) OR x BETWEEN 7680 AND 7935) l
             GROUP BY 1) g
     WHERE base ~ '^[a-z]+$'
$$;
COMMENT ON FUNCTION letter_classes() IS
    'Internal: for each letter (or letters) search_fold gives, every Latin letter, in both cases, that folds to it: the spellings redaction matches, whatever the database''s locale.';

-- A regular expression for a text, letter by letter: each letter as any
-- letter that folds like it (letter_classes, so with or without accents,
-- in either case), white space as any run of it, digits as themselves,
-- ASCII punctuation escaped, any other character (another script) as
-- itself.
CREATE OR REPLACE FUNCTION spelling_regex(value text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    classes jsonb := customer_mgmt.letter_classes();
    v text := regexp_replace(btrim(normalize(value, NFC)), '\s+', ' ', 'g');
    ch text;
    letters text;
    result text := '';
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. length(v) LOOP
        ch := substr(v, i, 1);
        letters := classes ->> customer_mgmt.search_fold(ch);
        IF ch = ' ' THEN
            result := result || '\s+';
        ELSIF letters IS NOT NULL THEN
            result := result || '[' || letters || CASE WHEN position(ch IN letters) = 0 THEN ch ELSE '' END || ']';
        ELSIF ch ~ '^[0-9]$' THEN
            result := result || ch;
        ELSIF ascii(ch) < 128 THEN
            result := result || '\' || ch;      -- ASCII punctuation, escaped
        ELSE
            result := result || '[' || ch || ']';  -- any other character, as itself
        END IF;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION spelling_regex(text) IS
    'Internal: a regular expression matching a text in any case, with or without accents (letter_classes, independent of the locale), with any white space between its words; NULL for none.';

-- A regular expression that finds a text (a name, a street, an e-mail) as
-- a whole (not inside a longer word), in any of its spellings.
CREATE OR REPLACE FUNCTION personal_regex(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '(?<![[:alnum:]])' || customer_mgmt.spelling_regex(value) || '(?![[:alnum:]])'
$$;
COMMENT ON FUNCTION personal_regex(text) IS
    'Internal: a regular expression that finds a text as a whole word sequence, in any case, with or without accents, with any white space between its words; NULL for none.';

-- A regular expression that finds a Vietnamese phone number however it is
-- written: 0903123456, 0903 123 456, 0903.123.456, +84 903 123 456,
-- (+84) 903-123-456, 84903123456, +84 (0) 903 123 456.
CREATE OR REPLACE FUNCTION phone_regex(phone_number text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT '(?<![0-9+])(?:\(?\+?84\)?[\s.()-]*(?:0[\s.()-]*)?|0)'
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
    SELECT format('(?<![0-9])(?:0?%1$s[/.\s-]+0?%2$s[/.\s-]+(?:%3$s|%4$s)|%3$s[/.\s-]+0?%2$s[/.\s-]+0?%1$s)(?![0-9])'
                  || '|(?<![[:alnum:]])%5$s\s+0?%1$s\s+%6$s\s+0?%2$s\s+%7$s\s+%3$s(?![0-9])',
                  extract(day FROM d), extract(month FROM d), extract(year FROM d), to_char(d, 'YY'),
                  customer_mgmt.spelling_regex('ngày'), customer_mgmt.spelling_regex('tháng'),
                  customer_mgmt.spelling_regex('năm'))
$$;
COMMENT ON FUNCTION birth_date_regex(date) IS
    'Internal: a regular expression that finds a date written as YYYY-MM-DD, DD/MM/YYYY, D/M/YY (with /, -, . or spaces) or "ngày D tháng M năm YYYY" (days and months with or without a leading zero); NULL for NULL.';

-- A text with every match of the patterns replaced by [redacted].  The
-- marker can be longer than what it replaces (a two-letter name): a text
-- that would then pass its column's limit (max_length) is cut to it, ending
-- in an ellipsis, so that redaction always fits and erasure is never
-- refused by a check constraint.
CREATE OR REPLACE FUNCTION redact(value text, patterns text[], max_length integer DEFAULT NULL) RETURNS text
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
    IF length(v) > max_length THEN
        v := left(v, max_length - 1) || '…';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION redact(text, text[], integer) IS
    'Internal: the text (NFC) with every match of the regular expressions replaced by [redacted], cut to max_length (ending in …) when the markers made it longer; NULL for NULL.';

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
    n_rejects bigint;
    n_addresses bigint;
BEGIN
    PERFORM customer_mgmt.lock_customer(anonymize_customer.customer_id);
    u := customer_mgmt.customer_row(anonymize_customer.customer_id);
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
    v_reason := customer_mgmt.redact(v_reason, patterns, 10000);

    -- each text redacted once (MATERIALIZED), and only the rows it changes written
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact(x.title, patterns, 255) AS title, customer_mgmt.redact(x.content, patterns, 5000) AS content,
               customer_mgmt.redact_json(x.tags, patterns) AS tags, (x.title::text, x.content, x.tags) AS before
          FROM customer_mgmt.customer_notes x WHERE x.customer_id = u.id),
    n AS (
        UPDATE customer_mgmt.customer_notes x SET title = r.title, content = r.content, tags = r.tags
          FROM r WHERE x.id = r.id AND r.before IS DISTINCT FROM (r.title, r.content, r.tags)
        RETURNING 1)
    SELECT count(*) INTO n_notes FROM n;
    WITH r AS MATERIALIZED (
        SELECT x.id, customer_mgmt.redact(x.reason, patterns, 1000) AS reason, x.reason AS before
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
    -- an import's rejects hold the raw values of the rows refused
    WITH r AS MATERIALIZED (
        SELECT x.import_id, x.row_ref, customer_mgmt.redact_json(x.raw, patterns) AS raw,
               customer_mgmt.redact(x.message, patterns) AS message, (x.raw, x.message) AS before
          FROM customer_mgmt.import_rejects x),
    i AS (
        UPDATE customer_mgmt.import_rejects x SET raw = r.raw, message = r.message
          FROM r WHERE x.import_id = r.import_id AND x.row_ref = r.row_ref AND r.before IS DISTINCT FROM (r.raw, r.message)
        RETURNING 1)
    SELECT count(*) INTO n_rejects FROM i;
    DELETE FROM customer_mgmt.addresses x WHERE x.customer_id = u.id;
    GET DIAGNOSTICS n_addresses = ROW_COUNT;
    -- an erased person is never a duplicate candidate (docs/duplicates.md)
    DELETE FROM customer_mgmt.duplicate_candidates c WHERE u.id IN (c.customer_a, c.customer_b);
    -- the shop's labels may name the person ("chị Lan, quen chủ")
    DELETE FROM customer_mgmt.customer_tags t WHERE t.customer_id = u.id;
    -- the design's replacements; the e-mail stays unique and invalid (RFC 2606)
    UPDATE customer_mgmt.users x
       SET full_name = 'Anonymous-' || right(u.id::text, 8),
           email = 'anonymized-' || u.id || '@anonymized.invalid',
           phone_number = NULL, avatar_url = NULL, date_of_birth = NULL,
           email_verified_at = NULL, phone_verified_at = NULL, anonymized_at = now()
     WHERE x.id = u.id;
    -- the shop's saved views and bulk actions may have searched for the
    -- person (a name, an e-mail, a phone) or written them in a note or reason
    UPDATE customer_mgmt.customer_views v SET filters = customer_mgmt.redact_json(v.filters, patterns)
     WHERE v.filters IS DISTINCT FROM customer_mgmt.redact_json(v.filters, patterns);
    UPDATE customer_mgmt.bulk_actions b
       SET target = customer_mgmt.redact_json(b.target, patterns), params = customer_mgmt.redact_json(b.params, patterns)
     WHERE (b.target, b.params) IS DISTINCT FROM (customer_mgmt.redact_json(b.target, patterns), customer_mgmt.redact_json(b.params, patterns));
    -- marketing consent: the withdrawals stay (the fact that this account
    -- said no), without where they were given; nothing else
    DELETE FROM customer_mgmt.marketing_consents c WHERE c.customer_id = u.id AND c.status <> 'unsubscribed';
    UPDATE customer_mgmt.marketing_consents c SET source = NULL WHERE c.customer_id = u.id AND c.source IS NOT NULL;
    PERFORM customer_mgmt.consent_sync(u.id);
    counts := jsonb_build_object('notes', n_notes, 'statusHistory', n_history, 'outboxEvents', n_events,
                                 'jobRuns', n_jobs, 'importRejects', n_rejects, 'addressesDeleted', n_addresses);
    INSERT INTO customer_mgmt.customer_anonymizations AS x (customer_id, anonymized_at, actor_id, reason, scrubbed)
    VALUES (u.id, now(), customer_mgmt.current_actor(), v_reason, counts)
    RETURNING * INTO done;
    PERFORM customer_mgmt.emit_event('customer.anonymized', u.id, jsonb_build_object('customerId', u.id));
    PERFORM customer_mgmt.audit('anonymize_customer', 'customer', u.id::text, jsonb_build_object('scrubbed', counts));
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
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
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
            'anonymizedAt', u.anonymized_at, 'tags', to_jsonb(customer_mgmt.customer_tag_array(u.id)),
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
        'marketingConsent', customer_mgmt.marketing_consent_dto(u),
        'analyticsData', CASE WHEN a.customer_id IS NOT NULL THEN customer_mgmt.customer_analytics_dto(a, now()) END,
        'notes', coalesce((SELECT jsonb_agg(customer_mgmt.note_dto(n) ORDER BY n.created_at, n.id)
                             FROM customer_mgmt.customer_notes n WHERE n.customer_id = u.id AND NOT n.is_internal), '[]'),
        'exportDate', now(),
        'dataRetentionPolicy', customer_mgmt.setting('privacy.data_retention_policy'));
    INSERT INTO customer_mgmt.export_log (actor_id, kind, customer_id, details)
    VALUES (customer_mgmt.current_actor(), 'customer_data', u.id,
            jsonb_build_object('orders', jsonb_array_length(result -> 'orderHistory'),
                               'notes', jsonb_array_length(result -> 'notes')));
    PERFORM customer_mgmt.audit('export_customer_data', 'customer', u.id::text,
        jsonb_build_object('orders', jsonb_array_length(result -> 'orderHistory'), 'notes', jsonb_array_length(result -> 'notes')));
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
    failures jsonb := '[]';
    state text;
    message text;
BEGIN
    INSERT INTO customer_mgmt.job_runs (job_name, details)
    VALUES ('anonymize_inactive_customers', jsonb_build_object('years', years))
    RETURNING job_runs.id INTO run_id;
    -- customer by customer: one that fails is logged with its cause (the
    -- SQLSTATE and message, which name ids, never a person) and the others
    -- go on
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
            BEGIN
                PERFORM customer_mgmt.anonymize_customer(id, format('Retention: no registration, login or order in %s years', years));
                n := n + 1;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
                failures := failures || jsonb_build_object('customerId', id, 'sqlstate', state, 'message', message);
            END;
        END LOOP;
    END IF;
    UPDATE customer_mgmt.job_runs x SET details = x.details || jsonb_build_object('failures', failures) WHERE x.id = run_id;
    PERFORM customer_mgmt_internal.finish_job_run(run_id, n,
        CASE WHEN jsonb_array_length(failures) > 0
             THEN format('%s customer(s) could not be anonymised (details.failures)', jsonb_array_length(failures)) END);
    PERFORM customer_mgmt.audit('anonymize_inactive_customers', 'job_run', run_id::text,
                                jsonb_build_object('anonymized', n, 'years', years, 'failed', jsonb_array_length(failures)));
    RETURN jsonb_build_object('anonymized', n, 'years', years, 'jobRunId', run_id, 'failed', jsonb_array_length(failures));
END
$$;
COMMENT ON FUNCTION anonymize_inactive_customers() IS
    'Admin (and pg_cron, daily, when privacy.anonymize_inactive_years is set): anonymises every customer with no registration, login or order in that many years and no open order (anonymize_customer); nothing when the setting is 0. Logged in job_runs. Returns {anonymized, years, jobRunId}.';
