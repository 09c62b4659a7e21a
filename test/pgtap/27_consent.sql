-- Marketing consent: records per channel with when and from where, the
-- latest by consented_at in force (a late, older record kept without
-- changing it), the detail, the export, the data export, the segment
-- attributes against the records by hand, merges, anonymisation keeping
-- only the withdrawals, bad input, and who may record.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(31);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@example.vn')),
    ('lan', customer_mgmt.register_staff('Phạm Lan', 'lan@cuahang.vn', 'staff'));
GRANT SELECT ON c TO PUBLIC;

-- the app at registration
SET LOCAL ROLE customer_mgmt_app;
SELECT is(customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'an'), 'email', 'subscribed', 'đăng ký trên web',
                                              '2026-11-01 09:00+07') - 'recordedAt' - 'customerId',
          '{"channel": "email", "status": "subscribed", "source": "đăng ký trên web", "consentedAt": "2026-11-01T02:00:00+00:00",
            "actorId": null, "inForce": "subscribed"}'::jsonb, 'the app records a consent given at registration');
SELECT is(customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'binh'), 'SMS', 'subscribed', 'quầy cửa hàng',
                                              '2026-11-02') ->> 'inForce', 'subscribed', 'a channel in any case');
SELECT is(customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'binh'), 'email', 'not_asked', 'nhập từ hệ thống cũ',
                                              '2026-10-01') ->> 'inForce', 'not_asked', 'not asked is a status too');
RESET ROLE;
-- staff later, as the acting user
SELECT set_config('request.jwt.claims', json_build_object('role', 'customer_mgmt_staff', 'sub', (SELECT id FROM c WHERE k = 'lan'))::text, true);
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'an'), 'email', 'unsubscribed', 'khách gọi điện',
                                              '2026-11-20') - 'recordedAt' - 'customerId' - 'consentedAt',
          jsonb_build_object('channel', 'email', 'status', 'unsubscribed', 'source', 'khách gọi điện',
                             'actorId', (SELECT id FROM c WHERE k = 'lan'), 'inForce', 'unsubscribed'),
          'staff record a withdrawal: in force, with who recorded it');
SELECT is(customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'an'), 'email', 'subscribed', 'nhập muộn',
                                              '2026-11-10') ->> 'inForce', 'unsubscribed',
          'a record older than the one in force is kept and changes nothing');
SELECT is((customer_mgmt.get_customer((SELECT id FROM c WHERE k = 'an')) -> 'marketingConsent') - 'history',
          '{"email": "unsubscribed", "sms": "not_asked"}'::jsonb, 'the detail: in force per channel');
SELECT is((SELECT array_agg(h ->> 'source' ORDER BY n) FROM jsonb_array_elements(
               customer_mgmt.get_customer((SELECT id FROM c WHERE k = 'an')) -> 'marketingConsent' -> 'history') WITH ORDINALITY x (h, n)),
          ARRAY['khách gọi điện', 'nhập muộn', 'đăng ký trên web'], 'and every record, newest first');

-- bad input, each naming its argument, nothing written
SELECT is(pg_temp.failure(q), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'zalo', 'subscribed', 'web')$$, '22023 channel'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), NULL, 'subscribed', 'web')$$, '22023 channel'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'yes', 'web')$$, '22023 status'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'subscribed', NULL)$$, '22023 source'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'subscribed', repeat('x', 201))$$, '22023 source'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'subscribed', 'web', now() + interval '3 days')$$, '22023 consented_at'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'subscribed', 'web', now() + interval '1 hour')$$, '22023 consented_at'),
               ($$SELECT customer_mgmt.set_marketing_consent((SELECT id FROM c WHERE k = 'chi'), 'email', 'subscribed', 'web', NULL)$$, '22023 consented_at'),
               ($$SELECT customer_mgmt.set_marketing_consent(NULL, 'email', 'subscribed', 'web')$$, '22023 customer_id'),
               ($$SELECT customer_mgmt.set_marketing_consent('00000000-0000-4000-8000-0000000000ff', 'email', 'subscribed', 'web')$$, 'PT404'))
       v (q, want);
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.marketing_consents WHERE customer_id = (SELECT id FROM c WHERE k = 'chi')), 0,
          'no record from a refused call');
SET LOCAL ROLE customer_mgmt_staff;

-- segments and the list's rows, against the records by hand
SELECT is((SELECT array_agg(c.k ORDER BY c.k) FROM jsonb_array_elements(
               customer_mgmt.preview_segment('sms_subscription_status = ''subscribed'' OR email_subscription_status = ''unsubscribed''') -> 'data') e
             JOIN c ON c.id = (e ->> 'id')::uuid),
          ARRAY['an', 'binh'], 'the segment attributes email_subscription_status and sms_subscription_status');
SELECT customer_mgmt.preview_segment('email_subscription_status = ''not_asked''') ->> 'total' AS not_asked \gset
RESET ROLE;
SELECT is(:'not_asked'::int, (SELECT count(*)::int FROM customer_mgmt.users u WHERE u.role = 'customer'
                                 AND customer_mgmt.consent_in_force(u.id, 'email') = 'not_asked'),
          'not_asked: every customer without an e-mail record in force');
SELECT is(pg_temp.list_drift(), 0::bigint, 'customer_list equals users after consent changed');
SELECT is((SELECT count(*)::int FROM customer_mgmt.users u WHERE u.role = 'customer'
             AND (u.email_consent, u.sms_consent) IS DISTINCT FROM
                 (customer_mgmt.consent_in_force(u.id, 'email'), customer_mgmt.consent_in_force(u.id, 'sms'))), 0,
          'users hold the consent in force');
SELECT is((SELECT array_agg(changes ->> 'status' ORDER BY id) FROM customer_mgmt.audit_log
            WHERE action = 'set_marketing_consent' AND target_id = (SELECT id FROM c WHERE k = 'an')::text),
          ARRAY['subscribed', 'unsubscribed', 'subscribed'], 'the audit log records each record, without its source');

-- the exports
SET LOCAL customer_mgmt.export_sheet_rows = 1048576;
SELECT alike(convert_from(customer_mgmt.export_customers(search => 'example.vn', format => 'csv',
                                                         columns => '{email,emailConsent,smsConsent}', sort_by => 'email',
                                                         sort_order => 'ASC'), 'UTF8'),
             E'%an@example.vn,unsubscribed,not_asked\r\nbinh@example.vn,not_asked,subscribed\r\nchi@example.vn,not_asked,not_asked\r\n',
             'the export has the consent in force per channel');
SELECT is(jsonb_array_length(customer_mgmt.export_customer_data((SELECT id FROM c WHERE k = 'an')) -> 'marketingConsent' -> 'history'), 3,
          'the data export has every record');

-- a merge: the records move, the latest of either in force
SELECT customer_mgmt.merge_customers((SELECT id FROM c WHERE k = 'chi'), ARRAY[(SELECT id FROM c WHERE k = 'binh')]) -> 'moved' ->> 'marketingConsents' AS moved \gset
SELECT is(:'moved'::int, 2, 'a merge moves the duplicate''s records');
SELECT is((SELECT (email_consent, sms_consent)::text FROM customer_mgmt.users WHERE id = (SELECT id FROM c WHERE k = 'chi')),
          '(not_asked,subscribed)', 'and the survivor has the consent in force of the records');

-- anonymisation keeps the withdrawals, without their source
SELECT customer_mgmt.anonymize_customer((SELECT id FROM c WHERE k = 'an'), 'Yêu cầu xoá dữ liệu') IS NOT NULL AS anonymized \gset
SELECT is((SELECT array_agg(status::text || ' ' || coalesce(source, '-') ORDER BY id) FROM customer_mgmt.marketing_consents
            WHERE customer_id = (SELECT id FROM c WHERE k = 'an')),
          ARRAY['unsubscribed -'], 'anonymisation: the withdrawal stays, without where it came from; the rest goes');
SELECT is((SELECT email_consent::text FROM customer_mgmt.users WHERE id = (SELECT id FROM c WHERE k = 'an')), 'unsubscribed',
          'the account still says no');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.set_marketing_consent(%L, 'email', 'subscribed', 'web')$$, (SELECT id FROM c WHERE k = 'an'))),
          'P0001', 'no consent for an anonymised customer');
SELECT is(pg_temp.list_drift(), 0::bigint, 'and the list follows');

SELECT * FROM finish();
ROLLBACK;
