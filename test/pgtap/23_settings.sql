-- The settings through the API (get_settings): every definition with the
-- value in force, its default, its type and bounds or choices, and who
-- changed it; admins only.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(7);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
GRANT SELECT ON p TO PUBLIC;
INSERT INTO p VALUES ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);

SELECT set_eq($$SELECT s ->> 'name' FROM jsonb_array_elements(customer_mgmt.get_settings() -> 'data') s$$,
              $$SELECT name FROM customer_mgmt.setting_definitions$$, 'every setting, once');
SELECT is((SELECT s - 'description' FROM jsonb_array_elements(customer_mgmt.get_settings() -> 'data') s WHERE s ->> 'name' = 'shop_timezone'),
          '{"name": "shop_timezone", "value": "Asia/Ho_Chi_Minh", "defaultValue": "Asia/Ho_Chi_Minh", "isDefault": true,
            "valueType": "timezone", "minValue": null, "maxValue": null, "choices": null, "updatedAt": null, "updatedBy": null}'::jsonb,
          'a setting at its default');
SELECT customer_mgmt.set_setting('insight.high_value_min_spent', '20000000');
SELECT is((SELECT jsonb_build_array(s -> 'value', s -> 'isDefault', s -> 'updatedBy')
             FROM jsonb_array_elements(customer_mgmt.get_settings() -> 'data') s WHERE s ->> 'name' = 'insight.high_value_min_spent'),
          jsonb_build_array('20000000', false, (SELECT id FROM p WHERE k = 'hoa')), 'a setting changed: the value in force and who changed it');
SELECT is((SELECT s -> 'choices' FROM jsonb_array_elements(customer_mgmt.get_settings() -> 'data') s WHERE s ->> 'name' = 'identity.on_duplicate'),
          '["allow", "warn", "refuse", "merge"]'::jsonb, 'a setting of choices lists them');
SELECT ok((SELECT bool_and(length(s ->> 'description') > 10) FROM jsonb_array_elements(customer_mgmt.get_settings() -> 'data') s),
          'every setting says what it does');
SET ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure('SELECT customer_mgmt.get_settings()'), '42501', 'staff may not read the settings');
RESET ROLE;
SET ROLE customer_mgmt_app;
SELECT is(pg_temp.failure('SELECT customer_mgmt.get_settings()'), '42501', 'nor may the app');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
