-- Trust, as an attacker with the roles a deployment hands out would try it
-- (docs/operations.md, Who is acting; docs/privacy.md, Audit log): the
-- acting user is the login's, a claim counts only from a trusted gateway,
-- links and staff are an admin's, the audit log is append-only, no session
-- switches the triggers off, internal state cannot be fed from outside.
-- SET SESSION AUTHORIZATION gives session_user exactly as a login does;
-- test/t/007_trust.pl logs in for real.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(57);

CREATE ROLE cm_t_hoa LOGIN IN ROLE customer_mgmt_staff;
CREATE ROLE cm_t_minh LOGIN IN ROLE customer_mgmt_staff;
CREATE ROLE cm_t_boss LOGIN IN ROLE customer_mgmt_admin;
CREATE ROLE cm_t_shop LOGIN IN ROLE customer_mgmt_app;
CREATE ROLE cm_t_nobody LOGIN IN ROLE customer_mgmt_staff;
CREATE ROLE cm_t_gateway LOGIN NOINHERIT IN ROLE customer_mgmt_gateway;
GRANT customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app TO cm_t_gateway;

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'staff', 'cm_t_hoa')),
    ('minh', customer_mgmt.register_staff('Lê Minh', 'minh@cuahang.vn', 'staff', 'cm_t_minh')),
    ('boss', customer_mgmt.register_staff('Trần Chủ', 'boss@cuahang.vn', 'admin', 'cm_t_boss')),
    ('an', customer_mgmt.register_customer('Nguyễn Văn An', 'an@example.vn', '0903123456'));
GRANT SELECT ON p TO PUBLIC;

-- a staff login acts as its own user
SET SESSION AUTHORIZATION cm_t_hoa;
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM p WHERE k = 'hoa'), 'a staff login acts as the user linked to it');
SELECT is(customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'Gọi lại sau') ->> 'authorId',
          (SELECT id::text FROM p WHERE k = 'hoa'), 'and writes notes in its own name');
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), false);
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM p WHERE k = 'hoa'), 'claiming its own id is fine');
-- ... and cannot claim anyone else, by the setting or by JWT claims
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'minh'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'a staff login cannot claim a colleague');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'in Minh''s name')$$),
          '42501', 'nor write a note in the colleague''s name');
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'boss'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'nor an admin');
SELECT set_config('customer_mgmt.actor_id', '', false);
SELECT set_config('request.jwt.claims', json_build_object('sub', (SELECT id FROM p WHERE k = 'minh'))::text, false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'nor through request.jwt.claims');
SELECT set_config('request.jwt.claims', '', false);
SELECT set_config('jwt.claims.sub', (SELECT id::text FROM p WHERE k = 'minh'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'nor through jwt.claims.sub (PostGraphile''s)');
SELECT set_config('jwt.claims.sub', '', false);
RESET SESSION AUTHORIZATION;

-- Minh's note is safe from Hoa
SET SESSION AUTHORIZATION cm_t_minh;
SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'Ghi chú của Minh') ->> 'id' AS minh_note \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cm_t_hoa;
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'minh'), false);
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.delete_customer_note(%L)$$, :'minh_note')), '42501',
          'a staff login posing as the author cannot delete the note');
SELECT set_config('customer_mgmt.actor_id', '', false);
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_note(%L, '{"content": "x"}')$$, :'minh_note')), '42501',
          'nor, as itself, change it');
RESET SESSION AUTHORIZATION;

-- a login linked to nobody acts as nobody, and claims nothing
SET SESSION AUTHORIZATION cm_t_nobody;
SELECT is(customer_mgmt.current_actor(), NULL, 'an unlinked login acts as nobody');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'x')$$), '42501',
          'and writes no note');
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'nor claims a user');
SELECT set_config('customer_mgmt.actor_id', '', false);
RESET SESSION AUTHORIZATION;

-- an admin login cannot forge the actor of a status change
SET SESSION AUTHORIZATION cm_t_boss;
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_customer_status((SELECT id FROM p WHERE k = 'an'), 'suspended')$$),
          '42501', 'an admin cannot act in a staff member''s name');
SELECT set_config('customer_mgmt.actor_id', '', false);
SELECT customer_mgmt.update_customer_status((SELECT id FROM p WHERE k = 'an'), 'suspended', 'Nguyễn Văn An asked');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT actor_id FROM customer_mgmt.customer_status_history WHERE customer_id = (SELECT id FROM p WHERE k = 'an')),
          (SELECT id FROM p WHERE k = 'boss'), 'the status change records the admin''s own user');

-- a trusted gateway vouches for the user; its claims are checked
SET SESSION AUTHORIZATION cm_t_gateway;
SET ROLE customer_mgmt_staff;
SELECT set_config('request.jwt.claims', json_build_object('sub', (SELECT id FROM p WHERE k = 'minh'), 'role', 'customer_mgmt_staff')::text, false);
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM p WHERE k = 'minh'), 'a gateway''s JWT subject is the acting user');
SELECT set_config('request.jwt.claims', '', false);
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), false);
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM p WHERE k = 'hoa'), 'and so is its customer_mgmt.actor_id (PostGraphile''s pgSettings)');
SELECT set_config('customer_mgmt.actor_id', gen_random_uuid()::text, false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'an id that is no user is refused');
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'an'), false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '42501', 'a staff role does not act as a customer');
SELECT set_config('customer_mgmt.actor_id', 'not-a-uuid', false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '22023 customer_mgmt.actor_id', 'a malformed id is 22023');
SELECT set_config('customer_mgmt.actor_id', '', false);
RESET ROLE;
SET ROLE customer_mgmt_app;
SELECT set_config('request.jwt.claims', '{"sub": ', false);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '22023 request.jwt.claims',
          'malformed claims are 22023 for the app role too');
SELECT set_config('request.jwt.claims', '', false);
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- who may link logins and register staff: admins
SET SESSION AUTHORIZATION cm_t_shop;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_staff('Kẻ Gian', 'x@cuahang.vn', 'admin')$$), '42501',
          'the app cannot create an admin');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'boss'), 'cm_t_shop')$$), '42501',
          'nor link its login to one');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cm_t_hoa;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'boss'), 'cm_t_hoa')$$), '42501',
          'nor can staff');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cm_t_boss;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'minh'), 'cm_t_hoa')$$),
          '23505 login_role', 'a login that acts as someone else is not relinked silently');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'boss'), 'cm_t_nobody')$$),
          '22023 login_role', 'an admin user needs a login in customer_mgmt_admin');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'minh'), 'cm_t_gateway')$$),
          '22023 login_role', 'a trusted gateway is no person''s login');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'minh'), 'customer_mgmt_staff')$$),
          '22023 login_role', 'nor is a group role');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'minh'), 'cm_t_no_such_role')$$),
          '22023 login_role', 'a role that does not exist');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'an'), 'cm_t_nobody')$$),
          '22023 user_id', 'a customer gets no login');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.link_login_role(gen_random_uuid(), 'cm_t_nobody')$$), 'PT404', 'an unknown user');
SELECT is(customer_mgmt.link_login_role((SELECT id FROM p WHERE k = 'minh'), 'cm_t_nobody') ->> 'loginRole', 'cm_t_nobody',
          'an admin links a login');
SELECT is(customer_mgmt.unlink_login_role('cm_t_nobody'), true, 'and unlinks it');
RESET SESSION AUTHORIZATION;

-- the audit log: who, as what, which function, what changed, and no words
SELECT is((SELECT count(*)::int FROM customer_mgmt.audit_log WHERE action = 'add_customer_note'), 2,
          'each note written is audited once');
SELECT is((SELECT session_role || ' ' || (actor_id = (SELECT id FROM p WHERE k = 'boss'))::text || ' ' || (changes -> 'after' ->> 'status')
             FROM customer_mgmt.audit_log WHERE action = 'update_customer_status'),
          'cm_t_boss true suspended', 'the status change: the login, the acting user, the new status');
SELECT is((SELECT count(*)::int FROM customer_mgmt.audit_log
            WHERE changes::text ~* 'an@example|Nguyễn Văn An|0903123456|Gọi lại|Ghi chú'), 0,
          'no entry holds a personal value or a note''s words');
SELECT is((SELECT array_agg(action ORDER BY id) FROM customer_mgmt.audit_log WHERE action LIKE '%link_login_role'),
          ARRAY['link_login_role', 'link_login_role', 'link_login_role', 'link_login_role', 'unlink_login_role'],
          'links and unlinks are audited');
SET SESSION AUTHORIZATION cm_t_boss;
SELECT is((customer_mgmt.get_audit_log(action => 'add_customer_note', page_size => 1)) - 'data',
          '{"page": 1, "total": 2, "pageSize": 1, "totalPages": 2, "totalIsEstimate": false}'::jsonb,
          'an admin pages and filters the audit log');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_audit_log(occurred_after => 'infinity')$$), '22023 occurred_after',
          'a bad filter is named');
SELECT is(pg_temp.failure($$UPDATE customer_mgmt.audit_log SET action = 'x'$$), '42501', 'an admin cannot change an entry');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cm_t_hoa;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_audit_log()$$), '42501', 'staff do not read the audit log');
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.failure($$UPDATE customer_mgmt.audit_log SET action = 'x'$$), '42501', 'not even the owner changes an entry');
SELECT is(pg_temp.failure($$DELETE FROM customer_mgmt.audit_log$$), '42501', 'nor deletes a young one');
SELECT is(pg_temp.failure($$TRUNCATE customer_mgmt.audit_log$$), '42501', 'nor truncates the log');

-- no session switches the triggers off: only a superuser's restore does
SET SESSION AUTHORIZATION cm_t_shop;
SET customer_mgmt.restoring = on;
SELECT customer_mgmt.register_customer('Phạm Thị Bình', 'binh@example.vn') AS binh \gset
SET search_path = '';
SELECT customer_mgmt.register_customer('Đỗ Văn Cường', 'cuong@example.vn') AS cuong \gset
RESET search_path;
RESET customer_mgmt.restoring;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_list WHERE customer_id IN (:'binh', :'cuong')), 2,
          'the app, restoring or with an empty search_path, still gets list rows');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox
            WHERE event_type = 'customer.registered' AND customer_id IN (:'binh', :'cuong')), 2, 'and events');
SET customer_mgmt.restoring = on;
INSERT INTO customer_mgmt.users (full_name, email, role, status) VALUES ('Restored', 'restored@example.vn', 'customer', 'active');
RESET customer_mgmt.restoring;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id
            WHERE u.email = 'restored@example.vn'), 0, 'a superuser''s restore still loads rows without the triggers');

-- the batched recalculation reads only the statistics it computed
SET SESSION AUTHORIZATION cm_t_boss;
SELECT customer_mgmt_internal.begin_recalculation(now(), 2, 'recalculate_all_analytics_batched', false, false) AS run \gset
SELECT customer_mgmt_internal.end_recalculation(NULL, NULL, NULL, false);
CREATE TEMP TABLE cm_recalc_stats (customer_id uuid, total_spent numeric);
SELECT is(pg_temp.failure(format('SELECT customer_mgmt_internal.recalculate_slice(%s, 0)', :'run')), '22023 run_id',
          'a statistics table of the caller''s own is refused');
RESET SESSION AUTHORIZATION;

-- a staff read's cost is bounded: conditions, lists checked before building
SET SESSION AUTHORIZATION cm_t_hoa;
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.preview_segment(query => %L)',
                                 array_to_string(array_fill('total_spent > 0'::text, ARRAY[101]), ' AND '))),
          '22023 query', 'a query of 101 conditions is refused');
SELECT is((customer_mgmt.preview_segment(query => array_to_string(array_fill('predicted_ltv >= 0'::text, ARRAY[100]), ' OR ')) ->> 'customerCount')::int,
          (customer_mgmt.preview_segment(query => 'predicted_ltv >= 0') ->> 'customerCount')::int,
          'a hundred conditions on one prediction count as one does');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => jsonb_build_object('preferredCategories',
                                 (SELECT jsonb_agg(i::text) FROM generate_series(1, 51) i)))$$),
          '22023 preferredCategories', 'a criteria list of 51 values is refused');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => jsonb_build_object('geographicRegions',
                                 (SELECT jsonb_agg(i) FROM generate_series(1, 1000000) i)))$$),
          '22023 geographicRegions', 'a list of a million is refused by its length, before its items are read');
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer(E'Nguy\uFFFEn', 'fffe@example.vn')$$),
          '22023 full_name', 'U+FFFE, which XML forbids, is refused at ingestion');

-- an error never quotes a personal value (the server log keeps errors)
CREATE FUNCTION pg_temp.error_text(sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', m, d, h);
END
$f$;
SELECT is((SELECT count(*)::int FROM unnest(ARRAY[
              pg_temp.error_text($$SELECT customer_mgmt.register_customer('Lý Thị Bí Mật', 'bimat.at.example.vn')$$),
              pg_temp.error_text($$SELECT customer_mgmt.register_customer('Lý Thị Bí Mật', 'bimat@example.vn', '0903 99 BIMAT')$$),
              pg_temp.error_text($$SELECT customer_mgmt.register_customer(repeat('Bí Mật ', 50), 'bimat2@example.vn')$$),
              pg_temp.error_text($$SELECT customer_mgmt.register_customer('Lý Thị Bí Mật', 'an@example.vn')$$),
              pg_temp.error_text($$SELECT customer_mgmt.add_customer_address((SELECT id FROM p WHERE k = 'an'), 'Lý Bí Mật', '0903 99 BIMAT', '12 Phố Bí Mật', 'Phường 1')$$)]) e
            WHERE e ~* 'bí mật|bimat|an@example' OR e = 'no error'), 0,
          'bad e-mails, phones, names and addresses, and a taken e-mail, are refused without quoting them');

-- the retention job goes on past a customer it cannot anonymise, and says so
SELECT customer_mgmt.register_customer('Cũ Một', 'cu1@example.vn', registered_at => now() - interval '3 years') AS old1 \gset
SELECT customer_mgmt.register_customer('Cũ Hai', 'cu2@example.vn', registered_at => now() - interval '3 years') AS old2 \gset
CREATE FUNCTION pg_temp.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF OLD.email = 'cu1@example.vn' THEN
        RAISE EXCEPTION 'simulated failure' USING ERRCODE = 'XX001';
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER refuse_one BEFORE UPDATE ON customer_mgmt.users FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_one();
SELECT customer_mgmt.set_setting('privacy.anonymize_inactive_years', '2');
SELECT is(customer_mgmt.anonymize_inactive_customers() - 'jobRunId', '{"years": 2, "failed": 1, "anonymized": 1}'::jsonb,
          'the retention job anonymises the others when one fails');
SELECT is((SELECT status || ' ' || (details -> 'failures' -> 0 ->> 'customerId') || ' ' || (details -> 'failures' -> 0 ->> 'sqlstate')
             FROM customer_mgmt.job_runs WHERE job_name = 'anonymize_inactive_customers' ORDER BY id DESC LIMIT 1),
          'failed ' || :'old1' || ' XX001', 'and its run is logged as failed, with the customer and the cause');
SELECT is((SELECT anonymized_at IS NOT NULL FROM customer_mgmt.users WHERE id = :'old2'), true, 'the other customer is anonymised');
DROP TRIGGER refuse_one ON customer_mgmt.users;

SELECT * FROM finish();
ROLLBACK;
