-- The customer export: arguments, roles, the CSV's bytes, the
-- log; the workbook's structure is read back with openpyxl by
-- test/xlsx/check_export.py.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(25);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('duc', customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example.vn', '0912345678', registered_at => now() - interval '3 days')),
    ('evil', customer_mgmt.register_customer('=HYPERLINK("http://x", "y")', 'evil@example.vn', registered_at => now() - interval '2 days')),
    ('comma', customer_mgmt.register_customer('Trần, "Bé" Ba', 'ba@example.vn', registered_at => now() - interval '1 day')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'duc'), 1234567.89, 'completed', now() - interval '2 days');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM p WHERE k = 'duc'));
GRANT SELECT ON p TO PUBLIC;
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);

SET LOCAL ROLE customer_mgmt_admin;
CREATE TEMP TABLE csv AS
    SELECT convert_from(customer_mgmt.export_customers(format => 'csv', sort_by => 'fullName', sort_order => 'ASC',
                                                       columns => ARRAY['fullName', 'email', 'totalSpent', 'totalOrders']), 'UTF8') AS t;
RESET ROLE;
SELECT is(left((SELECT t FROM csv), 1), U&'\FEFF', 'CSV: a byte-order mark first');
SELECT ok(current_setting('response.headers') ~ '"Content-Type": "text/csv; charset=utf-8"'
          AND current_setting('response.headers') ~ '"Content-Disposition": "attachment; filename=\\"customers-[0-9]{8}-[0-9]{4}\.csv\\""',
          'the headers PostgREST sends: Content-Type and a file name');
SELECT is((SELECT t FROM csv),
          U&'\FEFF' || E'Full name,E-mail,Total spent,Orders\r\n'
          || E'"''=HYPERLINK(""http://x"", ""y"")",evil@example.vn,0,0\r\n'
          || E'Nguyễn Văn Đức,duc@example.vn,1234567.89,1\r\n'
          || E'"Trần, ""Bé"" Ba",ba@example.vn,0,0\r\n',
          'CSV: RFC 4180 quoting, the formula neutralised, Vietnamese intact, sorted as asked');
SELECT is((SELECT details - 'columns' FROM customer_mgmt.export_log WHERE kind = 'customers' ORDER BY id DESC LIMIT 1),
          '{"format": "csv", "rows": 3, "filters": {"sortBy": "fullName", "sortOrder": "ASC"}}'::jsonb, 'logged: format, rows, filters');
SELECT is((SELECT actor_id FROM customer_mgmt.export_log ORDER BY id DESC LIMIT 1), (SELECT id FROM p WHERE k = 'hoa'), 'with who');
SET LOCAL ROLE customer_mgmt_admin;
SELECT is(substr(customer_mgmt.export_customers(search => 'nguyen van duc', format => 'csv'), 1, 3), '\xefbbbf'::bytea, 'a search');
RESET ROLE;
SELECT is((SELECT details -> 'filters' FROM customer_mgmt.export_log ORDER BY id DESC LIMIT 1),
          '{"search": true, "sortBy": "createdAt", "sortOrder": "DESC"}'::jsonb, 'the log says there was a search, not what');
SELECT is((SELECT count(*)::int FROM regexp_matches(convert_from(customer_mgmt.export_customers(search => 'nguyen van duc', format => 'csv'), 'UTF8'),
                                                    E'\r\n', 'g')), 2, 'the search''s filter applies: a header and one row');
SELECT is(substr(customer_mgmt.export_customers(), 1, 2), '\x504b'::bytea, 'the default is an .xlsx (a zip) workbook');
SELECT ok(length(customer_mgmt.export_customers(status => 'suspended')) > 1000, 'an export with no rows is still a workbook');

-- refusals
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(format => 'pdf')$$), '22023 format', 'an unknown format');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(columns => ARRAY['fullName', 'password'])$$), '22023 columns', 'an unknown column');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(columns => ARRAY['email', 'email'])$$), '22023 columns', 'a column twice');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(columns => '{}')$$), '22023 columns', 'no column');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(status => 'gone')$$), '22023 status', 'a bad filter, as get_customers says');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers(sort_by => 'password')$$), '22023 sort_by', 'a bad sort');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.export_customers()$$), '42501', 'staff may not export');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.export_columns() WHERE is_default), 10, 'ten columns by default');

-- one definition of the list's filters: customer_filter_keys() are
-- list_filters' arguments (but view_id) in camelCase, in order, and the list
-- and the export take each of them with the same type and default
CREATE TEMP VIEW filter_args AS
SELECT p.proname::text AS fn, a.name, format_type(a.type, NULL) AS type, a.ord
  FROM pg_proc p
  CROSS JOIN LATERAL unnest(p.proargnames, coalesce(p.proallargtypes, p.proargtypes::oid[]),
                            coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])))
                     WITH ORDINALITY AS a(name, type, mode, ord)
 WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND a.mode = 'i'
   AND p.proname IN ('list_filters', 'get_customers', 'export_customers');
SELECT is((SELECT array_agg(name ORDER BY ord) FROM filter_args WHERE fn = 'list_filters' AND name <> 'view_id'),
          (SELECT array_agg(customer_mgmt.filter_field(k, NULL) ORDER BY n)
             FROM unnest(customer_mgmt.customer_filter_keys()) WITH ORDINALITY x (k, n)),
          'list_filters takes every key of customer_filter_keys(), in order');
SELECT is((SELECT count(*)::int FROM (SELECT c.name FROM filter_args c
             LEFT JOIN filter_args f ON f.name = c.name AND f.type = c.type AND f.fn <> 'list_filters'
            WHERE c.fn = 'list_filters' GROUP BY c.name HAVING count(f.fn) <> 2) x),
          0, 'every filter of list_filters is an argument of the list and of the export, with its type');
SELECT is((SELECT array_agg(d ORDER BY d) FROM unnest(string_to_array(pg_get_function_arguments('customer_mgmt.export_customers'::regproc), ', ')) d
            WHERE split_part(d, ' ', 1) IN (SELECT name FROM filter_args WHERE fn = 'list_filters')),
          (SELECT array_agg(d ORDER BY d) FROM unnest(string_to_array(pg_get_function_arguments('customer_mgmt.get_customers'::regproc), ', ')) d
            WHERE split_part(d, ' ', 1) IN (SELECT name FROM filter_args WHERE fn = 'list_filters')),
          'the export''s filters default as the list''s do');

-- export_customers is C and hands its arguments to list_filters by position:
-- each reaches the filters under its own name (the log shows them)
SELECT id AS segment_id FROM customer_mgmt.customer_segments ORDER BY name LIMIT 1 \gset
SET LOCAL timezone = 'UTC';
SET LOCAL ROLE customer_mgmt_admin;
SELECT is(length(customer_mgmt.export_customers(
              search => 'x', status => 'active', segment => 'vip',
              segment_id => :'segment_id',
              registered_after => '2026-01-01', registered_before => '2026-12-01', min_total_spent => 5,
              max_total_spent => 500, min_orders => 1, max_days_since_last_order => 90, sort_by => 'totalSpent',
              sort_order => 'ASC', format => 'csv', columns => '{email}', rfm_group => 'champions', province => 'Hà Nội',
              gender => 'female', min_age => 20, max_age => 60, has_orders => true, has_pending_order => false,
              external_id => 'E-1', tag => 'sỉ')),
          11, 'every filter at once: the header alone');
RESET ROLE;
SELECT is((SELECT details -> 'filters' FROM customer_mgmt.export_log ORDER BY id DESC LIMIT 1),
          jsonb_build_object('segmentId', :'segment_id'::uuid)
          || '{"tag": "sỉ", "gender": "female", "maxAge": 60, "minAge": 20, "search": true, "sortBy": "totalSpent",
               "status": "active", "segment": "vip", "province": "Hà Nội", "rfmGroup": "champions", "hasOrders": true,
               "minOrders": 1, "sortOrder": "ASC", "externalId": "E-1", "maxTotalSpent": 500, "minTotalSpent": 5,
               "hasPendingOrder": false, "registeredAfter": "2026-01-01T00:00:00+00:00",
               "registeredBefore": "2026-12-01T00:00:00+00:00", "maxDaysSinceLastOrder": 90}'::jsonb,
          'each argument reaches the filters under its own name');
SELECT is((SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'customer_mgmt.export_customers'::regproc),
          'c', 'export_customers is the writer itself: a SQL or PL/pgSQL function around it would hold the file twice');
-- the export_customers of 1.3 (15 arguments) on the same symbol, as a
-- database not yet updated has it: refused, with what to do
CREATE FUNCTION pg_temp.export_of_1_3(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                      text, text, text, text[], text) RETURNS bytea
    AS '$libdir/customer_mgmt', 'cm_export_customers' LANGUAGE C;
SELECT throws_ok($$SELECT pg_temp.export_of_1_3(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                                'csv', NULL, NULL)$$,
                 '55000', 'customer_mgmt''s export needs the extension updated to the installed library''s version',
                 'the export of 1.3 with the library of 1.4: 55000, update the extension');

SELECT * FROM finish();
ROLLBACK;
