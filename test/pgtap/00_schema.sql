-- Schema, columns of the design's tables, constraints, pg_dump registration.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(40);

SELECT has_schema('customer_mgmt');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'customer_mgmt'),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'customer_mgmt'), 'the default version is installed');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'customer_mgmt'), false, 'not relocatable');

SELECT tables_are('customer_mgmt', ARRAY[
    'users', 'addresses', 'orders', 'order_items', 'web_sessions',
    'customer_notes', 'customer_analytics', 'customer_segments', 'customer_segment_assignments',
    'customer_insights', 'customer_status_history', 'analytics_queue', 'event_outbox',
    'job_runs', 'setting_definitions', 'settings', 'provinces', 'rfm_breakpoints', 'customer_list',
    'customer_anonymizations', 'export_log', 'clv_models', 'customer_clv', 'user_logins', 'audit_log', 'imports', 'import_rejects', 'sources',
    'customer_merges', 'duplicate_candidates', 'duplicate_dismissals', 'customer_views', 'customer_tags', 'marketing_consents', 'bulk_actions', 'bulk_action_items']);

-- every column of the design's DDL (section 4), and the note type "system"
SELECT columns_are('customer_mgmt', 'customer_notes', ARRAY[
    'id', 'customer_id', 'author_id', 'title', 'content', 'type', 'priority', 'is_internal', 'tags',
    'created_at', 'updated_at']);
SELECT columns_are('customer_mgmt', 'customer_analytics', ARRAY[
    'id', 'customer_id', 'total_orders', 'total_spent', 'average_order_value', 'last_order_date',
    'days_since_last_order', 'total_sessions', 'total_page_views', 'average_session_duration',
    'bounce_rate', 'conversion_rate', 'favorite_categories', 'favorite_brands', 'preferred_price_range',
    'customer_lifetime_value', 'predicted_ltv', 'churn_risk_score', 'engagement_score', 'segment',
    'rfm_score', 'last_calculated_at', 'created_at', 'updated_at']);
SELECT columns_are('customer_mgmt', 'customer_segments', ARRAY[
    'id', 'name', 'description', 'criteria', 'color_code', 'is_active', 'auto_assign', 'customer_count',
    'is_system', 'created_by', 'created_at', 'updated_at', 'query', 'reference_depth']);
SELECT columns_are('customer_mgmt', 'customer_segment_assignments', ARRAY[
    'id', 'customer_id', 'segment_id', 'assigned_at', 'assigned_by', 'expires_at']);
SELECT enum_has_labels('customer_mgmt', 'note_type',
    ARRAY['general', 'support', 'sales', 'complaint', 'feedback', 'system']);
SELECT enum_has_labels('customer_mgmt', 'order_status',
    ARRAY['pending', 'processing', 'shipped', 'completed', 'cancelled', 'refunded']);
SELECT enum_has_labels('customer_mgmt', 'lifecycle_segment',
    ARRAY['new', 'active', 'loyal', 'at_risk', 'churned', 'vip']);
SELECT col_type_is('customer_mgmt', 'orders', 'total_amount', 'numeric(15,2)', 'amounts are numeric(15,2)');
SELECT col_type_is('customer_mgmt', 'customer_analytics', 'total_spent', 'numeric(15,2)', 'total_spent is numeric(15,2)');
SELECT col_is_null('customer_mgmt', 'addresses', 'district', 'district is optional');
SELECT col_hasnt_default('customer_mgmt', 'customer_analytics', 'predicted_ltv', 'predicted_ltv has no default value');

-- cascades as in the design
SELECT is((SELECT confdeltype FROM pg_constraint WHERE conrelid = 'customer_mgmt.customer_notes'::regclass
            AND contype = 'f' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute
             WHERE attrelid = 'customer_mgmt.customer_notes'::regclass AND attname = 'customer_id')]),
          'c'::"char", 'notes cascade with their customer');
SELECT is((SELECT confdeltype FROM pg_constraint WHERE conrelid = 'customer_mgmt.customer_segment_assignments'::regclass
            AND contype = 'f' AND confrelid = 'customer_mgmt.customer_segments'::regclass),
          'c'::"char", 'assignments cascade with their segment');

-- pg_dump registration of every table that holds shop data
SELECT set_eq(
    $$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'customer_mgmt'$$,
    ARRAY['customer_mgmt.users', 'customer_mgmt.addresses', 'customer_mgmt.orders', 'customer_mgmt.order_items',
          'customer_mgmt.order_items_id_seq', 'customer_mgmt.web_sessions', 'customer_mgmt.web_sessions_id_seq',
          'customer_mgmt.customer_notes', 'customer_mgmt.customer_analytics', 'customer_mgmt.customer_segments',
          'customer_mgmt.customer_segment_assignments', 'customer_mgmt.customer_insights',
          'customer_mgmt.customer_status_history', 'customer_mgmt.customer_status_history_id_seq',
          'customer_mgmt.analytics_queue', 'customer_mgmt.event_outbox', 'customer_mgmt.event_outbox_id_seq',
          'customer_mgmt.job_runs', 'customer_mgmt.job_runs_id_seq', 'customer_mgmt.settings',
          'customer_mgmt.rfm_breakpoints', 'customer_mgmt.rfm_breakpoints_id_seq', 'customer_mgmt.customer_list',
          'customer_mgmt.customer_anonymizations', 'customer_mgmt.export_log', 'customer_mgmt.export_log_id_seq',
          'customer_mgmt.clv_models', 'customer_mgmt.clv_models_id_seq', 'customer_mgmt.customer_clv',
          'customer_mgmt.user_logins', 'customer_mgmt.audit_log', 'customer_mgmt.audit_log_id_seq',
          'customer_mgmt.imports', 'customer_mgmt.imports_id_seq', 'customer_mgmt.import_rejects', 'customer_mgmt.sources',
          'customer_mgmt.customer_merges', 'customer_mgmt.duplicate_candidates', 'customer_mgmt.duplicate_dismissals',
          'customer_mgmt.customer_views', 'customer_mgmt.customer_tags', 'customer_mgmt.customer_tags_id_seq',
          'customer_mgmt.marketing_consents', 'customer_mgmt.marketing_consents_id_seq',
          'customer_mgmt.bulk_actions', 'customer_mgmt.bulk_actions_id_seq', 'customer_mgmt.bulk_action_items'],
    'every data table and identity sequence is registered with pg_extension_config_dump');
SELECT is((SELECT extcondition[array_position(extconfig, 'customer_mgmt.customer_segments'::regclass)]
             FROM pg_extension WHERE extname = 'customer_mgmt'),
          'WHERE NOT is_system', 'system segments are not dumped (CREATE EXTENSION creates them)');

-- reference data
SELECT is((SELECT count(*)::int FROM customer_mgmt.provinces WHERE is_current), 34, '34 provinces and cities in force');
SELECT is((SELECT count(*)::int FROM customer_mgmt.provinces WHERE name <> 'Huế'), 63, 'the former 63 provinces are known');
SELECT is((SELECT current_name FROM customer_mgmt.provinces WHERE name = 'Bình Dương'), 'Hồ Chí Minh', 'Bình Dương merged into Hồ Chí Minh');
SELECT set_eq($$SELECT name FROM customer_mgmt.customer_segments WHERE is_system$$,
              ARRAY['new-customers', 'at-risk-customers'], 'system segments exist');
SELECT is(customer_mgmt.setting('shop_timezone'), 'Asia/Ho_Chi_Minh', 'default shop time zone');
SELECT is(customer_mgmt.setting('no.such.setting'), NULL, 'unknown setting is NULL');

-- constraints make bad rows impossible, whoever writes them
INSERT INTO customer_mgmt.users (id, full_name, email, phone_number)
VALUES ('a0000000-0000-4000-8000-000000000001', 'Lê Văn Tám', 'tam@example.vn', '0912345678');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.users (full_name, email) VALUES ('X', 'TAM@Example.VN')$$),
          '23505', 'e-mail is unique case-insensitively');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.users (full_name, email) VALUES ('X', 'not-an-email')$$),
          '23514', 'e-mail must look like one');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.users (full_name, email, phone_number) VALUES ('X', 'x@example.vn', '+84 912')$$),
          '23514', 'phone numbers are stored canonical');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.users (full_name, email, role) VALUES ('X', 'x@example.vn', 'boss')$$),
          '22P02', 'role is an enum');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.orders (customer_id, total_amount, order_date)
                            VALUES ('a0000000-0000-4000-8000-000000000001', -1, now())$$),
          '23514', 'amounts are not negative');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.orders (customer_id, total_amount, order_date)
                            VALUES ('a0000000-0000-4000-8000-000000000001', 'NaN', now())$$),
          '23514', 'amounts are not NaN');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.orders (customer_id, total_amount, order_date)
                            VALUES ('b0000000-0000-4000-8000-000000000001', 1, now())$$),
          '23503', 'orders belong to a user');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_analytics (customer_id, bounce_rate)
                            VALUES ('a0000000-0000-4000-8000-000000000001', 1.5)$$),
          '23514', 'rates are fractions in [0,1]');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_analytics (customer_id, rfm_score)
                            VALUES ('a0000000-0000-4000-8000-000000000001', '506')$$),
          '23514', 'RFM digits are 1-5');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_notes (customer_id, content)
                            VALUES ('a0000000-0000-4000-8000-000000000001', 'no author')$$),
          '23514', 'only system notes have no author');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, content)
                            VALUES ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', repeat('x', 5001))$$),
          '23514', 'note content is at most 5000 characters');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_segments (name, color_code) VALUES ('VIP', 'red')$$),
          '23514', 'color code is #RRGGBB');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_segments (name) VALUES ('NEW-customers')$$),
          '23505', 'segment names are unique case-insensitively');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, page_views)
                            VALUES ('a0000000-0000-4000-8000-000000000001', now(), -1)$$),
          '23514', 'page views are not negative (0 is a login)');
SELECT is(pg_temp.failure($$INSERT INTO customer_mgmt.customer_status_history (customer_id, old_status, new_status)
                            VALUES ('a0000000-0000-4000-8000-000000000001', 'active', 'active')$$),
          '23514', 'a status change changes the status');

SELECT * FROM finish();
ROLLBACK;
