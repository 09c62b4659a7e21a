-- Roles and privileges (docs/operations.md, Roles); the acting user.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(34);

SELECT has_role('customer_mgmt_staff');
SELECT has_role('customer_mgmt_admin');
SELECT has_role('customer_mgmt_app');
SELECT is((SELECT bool_or(rolcanlogin) FROM pg_roles WHERE rolname LIKE 'customer\_mgmt\_%'), false, 'group roles cannot log in');
SELECT ok(pg_has_role('customer_mgmt_admin', 'customer_mgmt_staff', 'MEMBER'), 'admin is a member of staff');
SELECT ok(NOT pg_has_role('customer_mgmt_app', 'customer_mgmt_staff', 'MEMBER'), 'app is not staff');

-- PUBLIC gets nothing
SELECT ok(NOT has_schema_privilege('public', 'customer_mgmt', 'USAGE'), 'PUBLIC has no USAGE on the schema');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'customer_mgmt'::regnamespace
                     AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0))$$,
                'PUBLIC may execute no function');
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c, aclexplode(c.relacl) a
                   WHERE c.relnamespace = 'customer_mgmt'::regnamespace AND a.grantee <> c.relowner$$,
                'no role but the owner has privileges on tables and sequences');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND p.prosecdef
                     AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')$$,
                'every SECURITY DEFINER function pins search_path');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND p.prorettype = 'trigger'::regtype
                     AND p.oid NOT IN ('customer_mgmt.touch_updated_at()'::regprocedure,
                                       'customer_mgmt.audit_log_guard()'::regprocedure)
                     AND EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')$$,
                'event triggers see the caller''s search_path (to know a restore)');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL$$,
                'every function has a comment');
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c
                   WHERE c.relnamespace = 'customer_mgmt'::regnamespace AND c.relkind = 'r'
                     AND obj_description(c.oid, 'pg_class') IS NULL$$,
                'every table has a comment');

-- least privilege: the objects belong to a NOLOGIN owner that holds nothing
-- else; only the two pg_cron writers run as the installer
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
                     AND p.proowner <> 'customer_mgmt_owner'::regrole
                     AND p.oid NOT IN ('customer_mgmt.schedule_jobs()'::regprocedure, 'customer_mgmt.unschedule_jobs()'::regprocedure)$$,
                'every function but schedule_jobs and unschedule_jobs belongs to customer_mgmt_owner');
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c
                   WHERE c.relnamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
                     AND c.relowner <> 'customer_mgmt_owner'::regrole$$,
                'every table, index and sequence belongs to customer_mgmt_owner');
SELECT is((SELECT format('%s %s %s %s', r.rolsuper, r.rolcanlogin, r.rolcreaterole,
                         (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid))
             FROM pg_roles r WHERE r.rolname = 'customer_mgmt_owner'),
          'f f f 0', 'the owner is no superuser, cannot log in, creates no role and is a member of nothing');

-- exactly these functions, per role
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'customer_mgmt'::regnamespace
                 AND has_function_privilege('customer_mgmt_staff', p.oid, 'EXECUTE')$$,
              ARRAY['search_fold', 'search_key', 'normalize_phone', 'invoker', 'current_actor', 'setting',
                    'engagement_score', 'churn_risk', 'lifecycle_segment', 'rfm_digit', 'insights',
                    'get_customers', 'get_customer', 'get_customer_analytics', 'get_customer_orders', 'find_customer',
                    'get_customer_overview', 'get_customer_health_score', 'preview_segment',
                    'get_segments', 'get_segment', 'get_customer_segments', 'get_segment_insights',
                    'get_segment_attributes',
                    'get_customer_notes', 'add_customer_note', 'update_customer_note', 'delete_customer_note',
                    'save_customer_view', 'get_customer_views', 'delete_customer_view', 'add_customer_tags', 'remove_customer_tags',
                    'preview_bulk_action', 'start_bulk_action', 'run_bulk_action', 'get_bulk_action',
                    'set_marketing_consent',
                    'get_customer_timeline', 'bgnbd_fit', 'gamma_gamma_fit', 'bgnbd_expected_purchases',
                    'bgnbd_probability_alive', 'gamma_gamma_expected_value', 'find_duplicate_customers'],
              'staff executes the helpers, the rules, the reads and the notes');
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'customer_mgmt'::regnamespace
                 AND has_function_privilege('customer_mgmt_app', p.oid, 'EXECUTE')$$,
              ARRAY['search_fold', 'search_key', 'normalize_phone', 'invoker', 'current_actor', 'setting',
                    'engagement_score', 'churn_risk', 'lifecycle_segment', 'rfm_digit', 'insights',
                    'register_customer', 'add_customer_address', 'record_order',
                    'set_order_status', 'record_session', 'record_login', 'claim_events', 'mark_events_processed',
                    'upsert_customer', 'upsert_order', 'set_marketing_consent'],
              'app executes the helpers, the rules, the ingestion API and the outbox (no register_staff: it makes no staff)');
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'customer_mgmt'::regnamespace
                 AND has_function_privilege('customer_mgmt_admin', p.oid, 'EXECUTE')$$,
              ARRAY['search_fold', 'search_key', 'normalize_phone', 'invoker', 'current_actor', 'setting',
                    'register_customer', 'register_staff', 'add_customer_address', 'record_order',
                    'set_order_status', 'record_session', 'record_login', 'set_setting',
                    'engagement_score', 'churn_risk', 'lifecycle_segment', 'rfm_digit', 'insights',
                    'get_customers', 'get_customer', 'get_customer_analytics', 'get_customer_orders', 'find_customer',
                    'update_customer_status', 'upsert_customer', 'upsert_order',
                    'calculate_customer_analytics', 'recalculate_all_analytics', 'process_analytics_queue',
                    'claim_events', 'mark_events_processed', 'get_customer_overview', 'get_customer_health_score',
                    'preview_segment', 'get_segments', 'get_segment', 'get_customer_segments', 'get_segment_insights',
                    'get_segment_attributes', 'get_customer_notes', 'add_customer_note', 'update_customer_note', 'delete_customer_note',
                    'save_customer_view', 'get_customer_views', 'delete_customer_view', 'add_customer_tags', 'remove_customer_tags',
                    'preview_bulk_action', 'start_bulk_action', 'run_bulk_action', 'get_bulk_action',
                    'set_marketing_consent',
                    'get_customer_timeline', 'anonymize_customer', 'export_customer_data', 'anonymize_inactive_customers', 'export_customers', 'export_columns',
                    'create_segment', 'update_segment', 'delete_segment', 'refresh_segment',
                    'assign_customer_segments', 'remove_customer_from_segment', 'recalculate_all_analytics_batched', 'remove_expired_segment_assignments',
                    'schedule_jobs', 'unschedule_jobs', 'cron_jobs', 'cron_script',
                    'bgnbd_fit', 'gamma_gamma_fit', 'bgnbd_expected_purchases', 'bgnbd_probability_alive',
                    'gamma_gamma_expected_value', 'fit_clv_model',
                    'link_login_role', 'unlink_login_role', 'get_audit_log', 'purge_audit_log',
                    'import_table', 'get_imports', 'get_import_rejects', 'delete_import', 'import_csv', 'attach_source', 'detach_source',
                    'find_duplicate_customers', 'refresh_duplicate_candidates', 'dismiss_duplicate', 'preview_merge', 'merge_customers',
                    'get_settings'],
              'admin executes everything of staff and app, set_setting, status changes, analytics and jobs');
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'customer_mgmt_internal'::regnamespace$$,
              ARRAY['customer_mgmt_internal.begin_recalculation(timestamp with time zone,integer,text,boolean,boolean)',
                    'customer_mgmt_internal.recalculate_slice(bigint,integer)',
                    'customer_mgmt_internal.end_recalculation(bigint,bigint,text,boolean)',
                    'customer_mgmt_internal.begin_import(text,regclass,bigint)',
                    'customer_mgmt_internal.import_chunk(bigint,jsonb,bigint)',
                    'customer_mgmt_internal.end_import(bigint)',
                    'customer_mgmt_internal.register_source(text,regclass,jsonb,text)',
                    'customer_mgmt_internal.unregister_source(regclass)',
                    'customer_mgmt_internal.source_changed()',
                    'customer_mgmt_internal.finish_job_run(bigint,bigint,text)'],
              'the internal schema holds what the batched procedure, which is not SECURITY DEFINER, calls, and the job log''s writer');
SELECT ok(has_schema_privilege('customer_mgmt_admin', 'customer_mgmt_internal', 'USAGE')
          AND NOT has_schema_privilege('customer_mgmt_staff', 'customer_mgmt_internal', 'USAGE')
          AND NOT has_schema_privilege('customer_mgmt_app', 'customer_mgmt_internal', 'USAGE'),
          'only admins reach the internal schema');
SELECT ok(NOT EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = 'customer_mgmt_internal'::regnamespace
                         AND (has_function_privilege('customer_mgmt_staff', p.oid, 'EXECUTE')
                              OR has_function_privilege('customer_mgmt_app', p.oid, 'EXECUTE'))),
          'staff and app execute nothing internal');
SELECT ok(NOT has_function_privilege('customer_mgmt_admin', 'customer_mgmt.generate_demo_shop(integer, bigint, timestamptz)', 'EXECUTE'),
          'the demo generator is for the owner only');

-- as PostgREST would call: SET ROLE and request.jwt.claims
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT ALL ON ids TO PUBLIC;
SET LOCAL ROLE customer_mgmt_app;
INSERT INTO ids SELECT 'customer', customer_mgmt.register_customer('Võ Thị Sáu', 'sau@example.vn');
SELECT is((SELECT count(*)::int FROM ids), 1, 'app may register a customer');
SELECT is(customer_mgmt.invoker()::text, 'customer_mgmt_app', 'invoker() is the role set by SET ROLE');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('X', 'x@example.vn')$$), '42501',
          'staff may not ingest');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('shop_timezone', 'UTC')$$), '42501',
          'staff may not change settings');
SELECT is(pg_temp.failure($$SELECT count(*) FROM customer_mgmt.users$$), '42501', 'staff may not read tables directly');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_admin;
SELECT is(customer_mgmt.set_setting('insight.high_value_min_spent', '20000000'), '20000000', 'admin may change a setting');
RESET ROLE;
SELECT is(pg_temp.failure($$SET LOCAL ROLE customer_mgmt_app; SELECT customer_mgmt.set_setting('shop_timezone', 'UTC')$$),
          '42501', 'app may not change settings');
RESET ROLE;

-- the acting user, as a trusted gateway (here the superuser) names it
-- (the attacks: test/pgtap/18_trust.sql)
INSERT INTO ids VALUES ('admin', customer_mgmt.register_staff('Đặng Quản', 'quan@cuahang.vn', 'admin')),
                       ('staff', customer_mgmt.register_staff('Hồ Nhân', 'nhan@cuahang.vn'));
SELECT set_config('request.jwt.claims', json_build_object('sub', (SELECT id FROM ids WHERE name = 'admin'), 'role', 'customer_mgmt_admin')::text, true);
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM ids WHERE name = 'admin'), 'actor from the JWT claims');
SELECT set_config('request.jwt.claims', '', true);
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM ids WHERE name = 'staff'), true);
SELECT is(customer_mgmt.current_actor(), (SELECT id FROM ids WHERE name = 'staff'), 'actor from customer_mgmt.actor_id');
SELECT set_config('customer_mgmt.actor_id', 'robert''); DROP TABLE x; --', true);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '22023 customer_mgmt.actor_id',
          'a malformed actor id is 22023');
SELECT set_config('request.jwt.claims', '{not json', true);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.current_actor()$$), '22023 request.jwt.claims',
          'malformed claims are 22023');

SELECT * FROM finish();
ROLLBACK;
