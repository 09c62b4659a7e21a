-- The API's conventions (docs/reference.md, Conventions) checked on what it
-- answers: every function of the API that returns JSON is called on a small
-- shop, every key of every object in its answer (at any depth) is
-- camelCase, and every list answers in the one envelope.  A function of the
-- API that returns JSON and is not called here fails the first test.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(5);

SELECT customer_mgmt.generate_demo_shop(300, seed => 7) IS NOT NULL AS generated \gset
SELECT customer_mgmt.register_staff('Quy Ước', 'quyuoc@cuahang.vn', 'admin') AS admin \gset
SELECT set_config('customer_mgmt.actor_id', :'admin', true) IS NOT NULL AS acting \gset
SELECT customer_mgmt.refresh_duplicate_candidates() IS NOT NULL AS refreshed \gset
SELECT id AS customer FROM customer_mgmt.users WHERE role = 'customer' ORDER BY created_at, id LIMIT 1 \gset
SELECT id AS other FROM customer_mgmt.users WHERE role = 'customer' ORDER BY created_at, id OFFSET 1 LIMIT 1 \gset
SELECT id AS third FROM customer_mgmt.users WHERE role = 'customer' ORDER BY created_at, id OFFSET 2 LIMIT 1 \gset
SELECT id AS fourth FROM customer_mgmt.users WHERE role = 'customer' ORDER BY created_at, id OFFSET 3 LIMIT 1 \gset
CREATE TABLE pg_temp.shop_customers (code text PRIMARY KEY, name text NOT NULL, mail text NOT NULL);
CREATE ROLE conventions_login IN ROLE customer_mgmt_admin;

-- each call, in an order where each finds what it needs
CREATE TEMP TABLE calls (n serial, fn text, call text, result jsonb);
INSERT INTO calls (fn, call) VALUES
    ('get_customers', $$customer_mgmt.get_customers(province => 'Hà Nội', page_size => 3)$$),
    ('get_customer', format('customer_mgmt.get_customer(%L)', :'customer')),
    ('find_customer', format('customer_mgmt.find_customer(email => (SELECT email FROM customer_mgmt.users WHERE id = %L))', :'customer')),
    ('get_customer_analytics', format('customer_mgmt.get_customer_analytics(%L)', :'customer')),
    ('get_customer_orders', format('customer_mgmt.get_customer_orders(%L)', :'customer')),
    ('get_customer_overview', 'customer_mgmt.get_customer_overview()'),
    ('get_customer_health_score', 'customer_mgmt.get_customer_health_score()'),
    ('calculate_customer_analytics', format('customer_mgmt.calculate_customer_analytics(%L)', :'customer')),
    ('process_analytics_queue', 'customer_mgmt.process_analytics_queue(10)'),
    ('recalculate_all_analytics', 'customer_mgmt.recalculate_all_analytics()'),
    ('fit_clv_model', 'customer_mgmt.fit_clv_model()'),
    ('bgnbd_fit', 'to_jsonb(customer_mgmt.bgnbd_fit(f, r, t)) FROM (VALUES (2.0, 30.0, 90.0), (0.0, 0.0, 60.0), (5.0, 80.0, 100.0)) v (f, r, t)'),
    ('gamma_gamma_fit', 'to_jsonb(customer_mgmt.gamma_gamma_fit(f, m)) FROM (VALUES (2.0, 300000.0), (3.0, 500000.0), (4.0, 250000.0)) v (f, m)'),
    ('add_customer_note', format($$customer_mgmt.add_customer_note(%L, 'Gọi lại', tags => '["vip"]')$$, :'customer')),
    ('get_customer_notes', format('customer_mgmt.get_customer_notes(%L)', :'customer')),
    ('update_customer_note', format($$customer_mgmt.update_customer_note((SELECT id FROM customer_mgmt.customer_notes WHERE customer_id = %L LIMIT 1), '{"isInternal": false}')$$, :'customer')),
    ('delete_customer_note', format('customer_mgmt.delete_customer_note((SELECT id FROM customer_mgmt.customer_notes WHERE customer_id = %L LIMIT 1))', :'customer')),
    ('get_customer_timeline', format('customer_mgmt.get_customer_timeline(%L)', :'customer')),
    ('create_segment', $$customer_mgmt.create_segment('Quy ước', 'total_orders >= 1')$$),
    ('update_segment', $$customer_mgmt.update_segment((SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'), '{"colorCode": "#AD1457"}')$$),
    ('refresh_segment', $$customer_mgmt.refresh_segment((SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'))$$),
    ('get_segments', 'customer_mgmt.get_segments()'),
    ('get_segment', $$customer_mgmt.get_segment((SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'))$$),
    ('get_segment_insights', $$customer_mgmt.get_segment_insights((SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'))$$),
    ('get_segment_attributes', 'customer_mgmt.get_segment_attributes()'),
    ('preview_segment', $$customer_mgmt.preview_segment('total_spent > 0', criteria => '{"totalOrdersMin": 1}')$$),
    ('assign_customer_segments', format($$customer_mgmt.assign_customer_segments(%L, ARRAY[(SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước')])$$, :'other')),
    ('get_customer_segments', format('customer_mgmt.get_customer_segments(%L)', :'other')),
    ('remove_customer_from_segment', format($$customer_mgmt.remove_customer_from_segment(%L, (SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'))$$, :'other')),
    ('remove_expired_segment_assignments', 'customer_mgmt.remove_expired_segment_assignments()'),
    ('delete_segment', $$customer_mgmt.delete_segment((SELECT id FROM customer_mgmt.customer_segments WHERE name = 'Quy ước'))$$),
    ('add_customer_tags', format($$customer_mgmt.add_customer_tags(%L, ARRAY['sỉ', 'khách quen'])$$, :'customer')),
    ('remove_customer_tags', format($$customer_mgmt.remove_customer_tags(%L, ARRAY['si'])$$, :'customer')),
    ('set_marketing_consent', format($$customer_mgmt.set_marketing_consent(%L, 'email', 'subscribed', 'web')$$, :'customer')),
    ('preview_bulk_action', $$customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["khách quen"]}', filters => '{"province": "Hà Nội"}')$$),
    ('start_bulk_action', $$customer_mgmt.start_bulk_action('add_tags', '{"tags": ["khách quen"]}', filters => '{"province": "Hà Nội"}')$$),
    ('run_bulk_action', '(customer_mgmt.run_bulk_action((SELECT max(id) FROM customer_mgmt.bulk_actions)))'),
    ('get_bulk_action', '(customer_mgmt.get_bulk_action((SELECT max(id) FROM customer_mgmt.bulk_actions)))'),
    ('save_customer_view', $$customer_mgmt.save_customer_view('Quy ước', '{"hasOrders": true}', is_shared => true)$$),
    ('get_customer_views', 'customer_mgmt.get_customer_views()'),
    ('delete_customer_view', $$customer_mgmt.delete_customer_view((SELECT id FROM customer_mgmt.customer_views WHERE name = 'Quy ước'))$$),
    ('update_customer_status', format($$customer_mgmt.update_customer_status(%L, 'suspended', 'Kiểm tra')$$, :'third')),
    ('claim_events', 'customer_mgmt.claim_events(5)'),
    ('export_customer_data', format('customer_mgmt.export_customer_data(%L)', :'customer')),
    ('find_duplicate_customers', 'customer_mgmt.find_duplicate_customers()'),
    ('refresh_duplicate_candidates', 'customer_mgmt.refresh_duplicate_candidates()'),
    ('dismiss_duplicate', format('customer_mgmt.dismiss_duplicate(%L, %L)', :'customer', :'other')),
    ('preview_merge', format('customer_mgmt.preview_merge(%L, ARRAY[%L]::uuid[])', :'customer', :'fourth')),
    ('merge_customers', format('customer_mgmt.merge_customers(%L, ARRAY[%L]::uuid[])', :'customer', :'fourth')),
    ('upsert_customer', $$customer_mgmt.upsert_customer('QU-1', 'Lý Quy', 'ly.quy@example.vn')$$),
    ('upsert_order', $$customer_mgmt.upsert_order('QU-O-1', 250000, customer_external_id => 'QU-1', items => '[{"productName": "Áo", "quantity": 1, "unitPrice": 250000}]')$$),
    ('import_csv', $$customer_mgmt.import_csv(convert_to(E'id,name,e-mail\nQU-2,Lý Ước,ly.uoc@example.vn\n', 'UTF8'))$$),
    ('get_imports', 'customer_mgmt.get_imports()'),
    ('get_import_rejects', '(customer_mgmt.get_import_rejects((SELECT max(id) FROM customer_mgmt.imports)))'),
    ('delete_import', '(customer_mgmt.delete_import((SELECT max(id) FROM customer_mgmt.imports)))'),
    ('attach_source', $$customer_mgmt.attach_source('customers', 'pg_temp.shop_customers', '{"externalId": "code", "fullName": "name", "email": "mail"}')$$),
    ('detach_source', $$customer_mgmt.detach_source('pg_temp.shop_customers')$$),
    ('link_login_role', format($$customer_mgmt.link_login_role(%L, 'conventions_login')$$, :'admin')),
    ('get_audit_log', 'customer_mgmt.get_audit_log(page_size => 50)'),
    ('purge_audit_log', 'customer_mgmt.purge_audit_log()'),
    ('get_settings', 'customer_mgmt.get_settings()'),
    ('anonymize_customer', format($$customer_mgmt.anonymize_customer(%L, 'Yêu cầu xoá')$$, :'third')),
    ('anonymize_inactive_customers', 'customer_mgmt.anonymize_inactive_customers()');

DO $$
DECLARE
    c record;
    r jsonb;
BEGIN
    FOR c IN SELECT * FROM calls ORDER BY n LOOP
        EXECUTE 'SELECT ' || c.call INTO r;
        UPDATE calls SET result = r WHERE n = c.n;
    END LOOP;
END
$$;

-- every function of the API that returns JSON is called above, but
-- schedule_jobs (pg_cron's: test/pgtap/07_jobs.sql)
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND p.prorettype = 'jsonb'::regtype
              AND (has_function_privilege('customer_mgmt_admin', p.oid, 'EXECUTE')
                   OR has_function_privilege('customer_mgmt_app', p.oid, 'EXECUTE'))
              AND p.proname NOT IN (SELECT fn FROM calls) AND p.proname <> 'schedule_jobs'),
          NULL, 'every function of the API that returns JSON is called');
SELECT is((SELECT array_agg(fn ORDER BY n) FROM calls WHERE result IS NULL OR result = 'null'), NULL, 'each answered');

-- every key, at any depth, with the function and the path it is under
CREATE TEMP VIEW keys AS
WITH RECURSIVE walk (fn, path, v) AS (
    SELECT fn, fn, result FROM calls
    UNION ALL
    SELECT w.fn, w.path || c.step, c.v
      FROM walk w,
           LATERAL (SELECT '.' || e.key, e.value FROM jsonb_each(CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v END) e
                    UNION ALL
                    SELECT '[]', e.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v END) e)
                   c (step, v))
SELECT DISTINCT fn, path, regexp_replace(path, '^.*\.', '') AS key
  FROM walk WHERE path ~ '\.[^.\[\]]+$';

-- keys that are data, not names: the changes of an audit entry hold the
-- arguments and columns they record, and the settings' names are values
SELECT is((SELECT array_agg(DISTINCT path ORDER BY path) FROM keys
            WHERE key !~ '^[a-z][a-zA-Z0-9]*$'
              AND path !~ '^get_audit_log\.data\[\]\.changes\.'
              AND path !~ '^purge_audit_log\.'),
          NULL, 'every JSON key is camelCase');
SELECT is((SELECT array_agg(fn ORDER BY fn) FROM calls
            WHERE result ? 'data' AND NOT result ?& ARRAY['data', 'total', 'page', 'pageSize', 'totalPages', 'totalIsEstimate']),
          NULL, 'every answer with data is the whole list envelope');
SELECT is((SELECT array_agg(fn ORDER BY fn) FROM calls WHERE jsonb_typeof(result) = 'array'),
          NULL, 'no function answers a bare array');

SELECT * FROM finish();
ROLLBACK;
