-- Anonymisation: every table of the extension scanned for every
-- personal value of the customer, in the spellings ingestion accepts and
-- people type, before and after; idempotence; refusals; what stays.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(43);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('anh', customer_mgmt.register_customer('Nguyễn Thị Ánh', 'Anh.Nguyen@Example.vn', '+84 903 123 456', '1990-03-05',
                                            'female', 'Hà Nội', now() - interval '400 days')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn', '0987654321')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
GRANT SELECT ON p TO PUBLIC;
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);
SELECT customer_mgmt.add_customer_address((SELECT id FROM p WHERE k = 'anh'), 'Nguyễn Thị Ánh', '(+84) 912-345-678', '12 Lê Lợi',
                                          'Phường Bến Nghé', NULL, 'Hồ Chí Minh', true, true);
SELECT count(customer_mgmt.record_order((SELECT id FROM p WHERE k = 'anh'), 1500000, 'completed', now() - d * interval '30 days'))
  FROM generate_series(1, 3) d;
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM p WHERE k = 'anh'));
SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'anh'),
    'Khách NGUYEN THI ANH gọi từ số 0903.123.456 (cũng dùng 84903123456), email anh.nguyen@example.vn, '
    || 'sinh ngày 5/3/1990 (05-03-1990), giao tới 12 le loi; số người nhận (+84) 912 345 678.',
    title => 'Nguyễn  Thị Ánh hỏi bảo hành', tags => '["Nguyễn Thị Ánh", "VIP"]');
SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'anh'), 'Khách thích hàng Apple, gọi lúc 9 giờ.');
SELECT customer_mgmt.update_customer_status((SELECT id FROM p WHERE k = 'anh'), 'suspended', 'Chị Nguyễn Thị Ánh (0903 123 456) yêu cầu khoá tài khoản');
INSERT INTO customer_mgmt.job_runs (job_name, status, error) VALUES ('probe', 'failed', 'duplicate key: anh.nguyen@example.vn');

-- every spelling of every personal value, folded as the scan folds the rows
CREATE TEMP TABLE spellings (s text);
INSERT INTO spellings VALUES ('Nguyễn Thị Ánh'), ('nguyen thi anh'), ('anh.nguyen@example.vn'), ('0903123456'), ('0903 123 456'),
    ('+84 903 123 456'), ('84903123456'), ('0903.123.456'), ('0912345678'), ('912 345 678'), ('912-345-678'), ('1990-03-05'),
    ('5/3/1990'), ('05-03-1990'), ('12 Lê Lợi');
GRANT SELECT ON spellings TO PUBLIC;
-- rows of every table of the extension holding any of them, per table
CREATE FUNCTION pg_temp.personal_hits() RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    t text;
    n bigint;
    result text[] := '{}';
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'customer_mgmt'::regnamespace AND c.relkind = 'r' ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM customer_mgmt.%I x WHERE customer_mgmt.search_fold(x::text) LIKE ANY '
                       || '(SELECT ''%%'' || customer_mgmt.like_escape(customer_mgmt.search_fold(s)) || ''%%'' FROM spellings)', t)
           INTO n;
        IF n > 0 THEN
            result := result || (t || '=' || n);
        END IF;
    END LOOP;
    RETURN array_to_string(result, ' ');
END
$$;
SELECT is(pg_temp.personal_hits(),
          'addresses=1 customer_list=1 customer_notes=1 customer_status_history=1 event_outbox=2 job_runs=1 users=1',
          'before: the personal data is in the rows, the notes, the history, the outbox and the job log');
CREATE TEMP TABLE kept AS
    SELECT (SELECT count(*) FROM customer_mgmt.orders WHERE customer_id = p.id) AS orders,
           (SELECT total_spent FROM customer_mgmt.customer_analytics WHERE customer_id = p.id) AS spent
      FROM p WHERE k = 'anh';

-- the personal-data export
SET LOCAL ROLE customer_mgmt_admin;
CREATE TEMP TABLE x AS SELECT customer_mgmt.export_customer_data((SELECT id FROM p WHERE k = 'anh')) AS d;
RESET ROLE;
SELECT is((SELECT array_agg(k ORDER BY k) FROM x, jsonb_object_keys(x.d) k),
          ARRAY['accountActivity', 'analyticsData', 'dataRetentionPolicy', 'exportDate', 'marketingConsent', 'notes', 'orderHistory',
                'personalInformation'],
          'CustomerDataExport''s sections');
SELECT is((SELECT (d -> 'personalInformation') - 'id' - 'registrationDate' - 'addresses' FROM x),
          '{"fullName": "Nguyễn Thị Ánh", "email": "Anh.Nguyen@Example.vn", "phoneNumber": "0903123456", "dateOfBirth": "1990-03-05",
            "gender": "female", "province": "Hà Nội", "avatarUrl": null, "emailVerifiedAt": null, "phoneVerifiedAt": null,
            "lastLoginDate": null, "accountStatus": "suspended", "anonymizedAt": null, "tags": []}'::jsonb, 'personalInformation');
SELECT is((SELECT d -> 'personalInformation' -> 'addresses' -> 0 ->> 'street' FROM x), '12 Lê Lợi', 'with the addresses');
SELECT is((SELECT jsonb_array_length(d -> 'orderHistory') FROM x), 3, 'orderHistory: the orders');
SELECT is((SELECT d -> 'accountActivity' -> 'statusChanges' -> 0 ->> 'newStatus' FROM x), 'suspended', 'accountActivity: status changes');
SELECT is((SELECT (d -> 'analyticsData' ->> 'totalOrders')::int FROM x), 3, 'analyticsData');
SELECT is((SELECT jsonb_array_length(d -> 'notes') FROM x), 0, 'internal notes are not exported');
SELECT is((SELECT d ->> 'dataRetentionPolicy' FROM x), customer_mgmt.setting('privacy.data_retention_policy'), 'the retention policy');
SELECT customer_mgmt.set_setting('privacy.data_retention_policy', 'Chúng tôi giữ dữ liệu trong 5 năm.');
SELECT is((SELECT customer_mgmt.export_customer_data((SELECT id FROM p WHERE k = 'anh')) ->> 'dataRetentionPolicy'),
          'Chúng tôi giữ dữ liệu trong 5 năm.', 'which the shop can change');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('privacy.data_retention_policy', repeat('x', 2001))$$), '22023 value',
          'a policy of 2,001 characters');
SELECT is((SELECT count(*)::int FROM customer_mgmt.export_log WHERE kind = 'customer_data' AND customer_id = (SELECT id FROM p WHERE k = 'anh')
                                                          AND actor_id = (SELECT id FROM p WHERE k = 'hoa')), 2, 'every export recorded, with who');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.export_customer_data(%L)', (SELECT id FROM p WHERE k = 'anh'))), '42501',
          'staff may not export personal data');
RESET ROLE;

-- refusals
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.anonymize_customer(%L, NULL)', (SELECT id FROM p WHERE k = 'anh'))),
          '22023 reason', 'a reason is required');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.anonymize_customer('00000000-0000-4000-8000-0000000000ff', 'x')$$), 'PT404',
          'a customer who does not exist');
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'binh'), 300000, 'pending');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.anonymize_customer(%L, %L)', (SELECT id FROM p WHERE k = 'binh'), 'x')),
          'P0001', 'refused while an order is pending, nothing written');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.anonymize_customer(%L, %L)', (SELECT id FROM p WHERE k = 'anh'), 'x')),
          '42501', 'staff may not anonymise');
RESET ROLE;

SET LOCAL ROLE customer_mgmt_admin;
CREATE TEMP TABLE r AS
    SELECT customer_mgmt.anonymize_customer((SELECT id FROM p WHERE k = 'anh'), 'Yêu cầu của chị Nguyễn Thị Ánh qua email anh.nguyen@example.vn') AS r;
RESET ROLE;
SELECT is((SELECT r - 'anonymizedAt' FROM r),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'anh'), 'alreadyAnonymized', false,
                             'scrubbed', '{"notes": 1, "statusHistory": 1, "outboxEvents": 2, "jobRuns": 1, "importRejects": 0, "addressesDeleted": 1}'::jsonb),
          'anonymised: what was scrubbed');
SELECT is(pg_temp.personal_hits(), '', 'after: no table of the extension holds any spelling of it');
SELECT is((SELECT full_name || ' ' || email || ' ' || coalesce(phone_number, '-') || ' ' || coalesce(date_of_birth::text, '-')
             FROM customer_mgmt.users WHERE id = (SELECT id FROM p WHERE k = 'anh')),
          'Anonymous-' || right((SELECT id::text FROM p WHERE k = 'anh'), 8) || ' anonymized-' || (SELECT id FROM p WHERE k = 'anh')
          || '@anonymized.invalid - -', 'the design''s replacements');
SELECT ok((SELECT anonymized_at IS NOT NULL FROM customer_mgmt.users WHERE id = (SELECT id FROM p WHERE k = 'anh')), 'anonymized_at set');
SELECT is((SELECT content FROM customer_mgmt.customer_notes WHERE customer_id = (SELECT id FROM p WHERE k = 'anh') AND title IS NOT NULL),
          'Khách [redacted] gọi từ số [redacted] (cũng dùng [redacted]), email [redacted], sinh ngày [redacted] ([redacted]), '
          || 'giao tới [redacted]; số người nhận [redacted].', 'the note redacted, every spelling');
SELECT is((SELECT title || ' ' || tags::text FROM customer_mgmt.customer_notes WHERE customer_id = (SELECT id FROM p WHERE k = 'anh') AND title IS NOT NULL),
          '[redacted] hỏi bảo hành ["[redacted]", "VIP"]', 'its title and tags');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_notes WHERE content = 'Khách thích hàng Apple, gọi lúc 9 giờ.'), 1,
          'a note without personal data is unchanged');
SELECT is((SELECT reason FROM customer_mgmt.customer_status_history WHERE customer_id = (SELECT id FROM p WHERE k = 'anh')),
          'Chị [redacted] ([redacted]) yêu cầu khoá tài khoản', 'the status history''s reason');
SELECT is((SELECT payload FROM customer_mgmt.event_outbox WHERE customer_id = (SELECT id FROM p WHERE k = 'anh') AND event_type = 'customer.registered'),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'anh'), 'fullName', '[redacted]', 'email', '[redacted]',
                             'registeredAt', (SELECT payload -> 'registeredAt' FROM customer_mgmt.event_outbox
                                               WHERE customer_id = (SELECT id FROM p WHERE k = 'anh') AND event_type = 'customer.registered')),
          'the registration event, already written, redacted');
SELECT is((SELECT payload FROM customer_mgmt.event_outbox WHERE customer_id = (SELECT id FROM p WHERE k = 'anh') AND event_type = 'customer.anonymized'),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'anh')), 'customer.anonymized with the id only');
SELECT is((SELECT reason || ' ' || (actor_id = (SELECT id FROM p WHERE k = 'hoa'))::text FROM customer_mgmt.customer_anonymizations),
          'Yêu cầu của chị [redacted] qua email [redacted] true', 'recorded: who and why, without the personal data');
SELECT is((SELECT row(orders, spent)::text FROM kept),
          (SELECT row((SELECT count(*) FROM customer_mgmt.orders WHERE customer_id = p.id),
                      (SELECT total_spent FROM customer_mgmt.customer_analytics WHERE customer_id = p.id))::text FROM p WHERE k = 'anh'),
          'orders and analytics stay');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is((customer_mgmt.get_customers(search => s) ->> 'total')::int, 0, 'no longer found by ' || s)
  FROM (VALUES ('nguyen thi anh'), ('anh.nguyen@example.vn'), ('0903 123 456')) v(s);
RESET ROLE;

SELECT is((SELECT e -> 'payload' ->> 'reason' FROM jsonb_array_elements(
             customer_mgmt.get_customer_timeline((SELECT id FROM p WHERE k = 'anh')) -> 'data') e WHERE e ->> 'type' = 'customer.anonymized'),
          'Yêu cầu của chị [redacted] qua email [redacted]', 'the timeline shows the anonymisation');

-- idempotent
SELECT is(customer_mgmt.anonymize_customer((SELECT id FROM p WHERE k = 'anh'), 'again') ->> 'alreadyAnonymized', 'true',
          'a second call changes nothing');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_anonymizations), 1, 'recorded once');

-- retention: off by default; on, customers inactive for the years go
INSERT INTO p VALUES
    ('old', customer_mgmt.register_customer('Lý Cũ', 'cu@example.vn', registered_at => now() - interval '3 years')),
    ('old_login', customer_mgmt.register_customer('Lý Đăng Nhập', 'dangnhap@example.vn', registered_at => now() - interval '3 years')),
    ('old_order', customer_mgmt.register_customer('Lý Đặt Hàng', 'dathang@example.vn', registered_at => now() - interval '3 years'));
SELECT customer_mgmt.record_login((SELECT id FROM p WHERE k = 'old_login'), now() - interval '1 year');
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'old_order'), 100000, 'completed', now() - interval '1 year');
SELECT is(customer_mgmt.anonymize_inactive_customers() ->> 'anonymized', '0', 'retention is off by default');
SELECT customer_mgmt.set_setting('privacy.anonymize_inactive_years', '2');
SELECT is(customer_mgmt.anonymize_inactive_customers() ->> 'anonymized', '1', 'on: one customer inactive for two years');
SELECT is((SELECT string_agg(k, ',' ORDER BY k) FROM p JOIN customer_mgmt.users u USING (id) WHERE u.anonymized_at IS NOT NULL),
          'anh,old', 'the one without a login or an order since (Bình waits for his pending order; Ánh was already)');
SELECT is((SELECT payload - 'registeredAt' FROM customer_mgmt.event_outbox
            WHERE customer_id = (SELECT id FROM p WHERE k = 'old') AND event_type = 'customer.registered'),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'old'), 'fullName', '[redacted]', 'email', '[redacted]'),
          'a customer without phone or birth date: only the name and e-mail are redacted');
SELECT is(customer_mgmt.redact('Gọi lúc 9 giờ', ARRAY[customer_mgmt.birth_date_regex(NULL), customer_mgmt.phone_regex(NULL),
                                                      customer_mgmt.phone_regex('not a phone'), customer_mgmt.personal_regex('  ')]),
          'Gọi lúc 9 giờ', 'no value, no pattern: the text is unchanged');
SELECT is(customer_mgmt.redact('Khách O''Brien-Петров (a.b+c@x.io) và o''brien-петров', ARRAY[customer_mgmt.personal_regex('O''Brien-Петров'),
                                                                                               customer_mgmt.personal_regex('A.B+C@X.IO')]),
          'Khách [redacted] ([redacted]) và o''brien-петров', 'punctuation and other scripts are matched as themselves');
SELECT is((SELECT reason FROM customer_mgmt.customer_anonymizations WHERE customer_id = (SELECT id FROM p WHERE k = 'old')),
          'Retention: no registration, login or order in 2 years', 'recorded with the rule as the reason');
SELECT is((SELECT rows_processed::int FROM customer_mgmt.job_runs WHERE job_name = 'anonymize_inactive_customers' ORDER BY id DESC LIMIT 1), 1,
          'logged in job_runs');

SELECT * FROM finish();
ROLLBACK;
