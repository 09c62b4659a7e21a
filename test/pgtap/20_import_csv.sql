-- Customers from a CSV file as a spreadsheet user uploads it (import_csv,
-- docs/onboarding.md): the header recognised in Vietnamese and English or
-- by the shop's own names, BOM, Vietnamese text, dates day first and as
-- Excel numbers, bad rows to the rejects with the others imported, a
-- re-run that changes nothing, refusals of what is not a customer file,
-- and only admins.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(28);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
GRANT SELECT ON p TO PUBLIC;
INSERT INTO p VALUES ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);

CREATE TEMP TABLE f (k text PRIMARY KEY, data bytea);
GRANT SELECT ON f TO PUBLIC;
INSERT INTO f VALUES
    -- Excel's "CSV UTF-8" with the semicolon, a BOM and CRLF
    ('sheet', convert_to(E'\uFEFFMã khách hàng;Họ tên;Email;Số điện thoại;Ngày sinh;Giới tính;Tỉnh/Thành phố;Ngày đăng ký;Ghi chú\r\n'
        || E'KH-0001;Nguyễn Văn An;an.nguyen@example.vn;0912 345 678;15/03/1990;Nam;Hà Nội;01/02/2024 08:30;khách quen\r\n'
        || E'KH-0002;"Trần Thị ""Bé"" Bình";binh@example.vn;+84 987 654 321;32/01/1990;Nữ;TP. Hồ Chí Minh;45000;\r\n'
        || E'KH-0003;Lê Văn Cường;not-an-email;0900000000;;Khác;Đà Nẵng;;\r\n'
        || E'KH-0004;Phạm Thị Dung;dung@example.vn;;04.07.1995;F;;45292;\r\n', 'UTF8')),
    -- the API's own names, the comma, no BOM
    ('api', convert_to(E'externalId,fullName,email,dateOfBirth\nKH-0005,Hoàng Văn Em,em@example.vn,1988-12-01\n', 'UTF8')),
    ('no_mail', convert_to(E'Mã KH,Họ tên,Ngày sinh\nKH-0007,Đỗ Văn Hùng,01/01/1990\n', 'UTF8')),
    -- the shop's own headers
    ('own', convert_to(E'Code,Customer,Mail\nKH-0006,Vũ Thị Giang,giang@example.vn\n', 'UTF8')),
    ('no_id', convert_to(E'Họ tên,Email\nNguyễn Văn An,an@example.vn\n', 'UTF8')),
    ('twice', convert_to(E'Mã KH,Họ tên,Email,Tên khách hàng\nKH-1,A,a@example.vn,B\n', 'UTF8')),
    ('broken', convert_to(E'Mã KH,Họ tên\nKH-1,"không đóng\n', 'UTF8')),
    ('cp1258', '\x4dc3a32c48e1bb8d2074c3aa6e0a4b482d312c4e6775796ee52c310a'::bytea);

SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'sheet')) AS r \gset
SELECT is((:'r'::jsonb) - 'id' - 'columns',
          '{"kind": "customers", "status": "succeeded", "rowsTotal": 4, "rowsDone": 4, "inserted": 2, "updated": 0,
            "unchanged": 0, "rejected": 2, "ignoredColumns": ["Ghi chú"]}'::jsonb,
          'a sheet of four: two customers in, two rejected, the notes column ignored and said so');
SELECT is((:'r'::jsonb) -> 'columns',
          '[{"header": "Mã khách hàng", "field": "external_id"}, {"header": "Họ tên", "field": "full_name"},
            {"header": "Email", "field": "email"}, {"header": "Số điện thoại", "field": "phone_number"},
            {"header": "Ngày sinh", "field": "date_of_birth"}, {"header": "Giới tính", "field": "gender"},
            {"header": "Tỉnh/Thành phố", "field": "province"}, {"header": "Ngày đăng ký", "field": "registered_at"}]'::jsonb,
          'the Vietnamese headers are read as the customer''s fields');
SELECT is((SELECT row(u.full_name, u.email, u.phone_number, u.date_of_birth, u.gender, u.province)::text
             FROM customer_mgmt.users u WHERE u.external_id = 'KH-0001'),
          row('Nguyễn Văn An', 'an.nguyen@example.vn', '0912345678', DATE '1990-03-15', 'male', 'Hà Nội')::text,
          'the first row: the phone in canonical form, the birth date day first, Nam as male');
SELECT is((SELECT u.created_at FROM customer_mgmt.users u WHERE u.external_id = 'KH-0001'),
          timestamptz '2024-02-01 08:30 Asia/Ho_Chi_Minh', 'a registration time is the shop''s local time');
SELECT is((SELECT row(u.date_of_birth, u.gender, u.created_at)::text FROM customer_mgmt.users u WHERE u.external_id = 'KH-0004'),
          row(DATE '1995-07-04', 'female', timestamptz '2024-01-01 00:00 Asia/Ho_Chi_Minh')::text,
          'dotted dates, F, and an Excel date number (45292: 2024-01-01)');
SELECT is((SELECT jsonb_agg(jsonb_build_object('row', r ->> 'row', 'field', r ->> 'field', 'sqlstate', r ->> 'sqlstate'))
             FROM jsonb_array_elements(customer_mgmt.get_import_rejects((:'r'::jsonb ->> 'id')::bigint) -> 'data') r),
          '[{"row": "3", "field": "date_of_birth", "sqlstate": "22008"}, {"row": "4", "field": "email", "sqlstate": "22023"}]'::jsonb,
          'the rejects: the 32nd of January and an e-mail that is not one, each with its row as the sheet numbers it');
SELECT is(customer_mgmt.get_import_rejects((:'r'::jsonb ->> 'id')::bigint) -> 'data' -> 0 -> 'raw' ->> 'Họ tên',
          'Trần Thị "Bé" Bình', 'a reject keeps the row''s values under the file''s own headers, quotes undone');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_analytics a JOIN customer_mgmt.users u ON u.id = a.customer_id
            WHERE u.external_id IN ('KH-0001', 'KH-0004') AND a.last_calculated_at IS NOT NULL), 2,
          'the imported customers are calculated at the end');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id
            WHERE u.external_id LIKE 'KH-%'), 2, 'and listed');
SELECT is(pg_temp.list_drift(), 0::bigint, 'the list agrees with the tables');
SELECT is((SELECT count(*)::int FROM customer_mgmt.audit_log a WHERE a.action = 'import_csv'), 1,
          'the import is in the audit log once');

-- again: nothing changes
SELECT pg_temp.shop_counts() AS before \gset
SELECT is(customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'sheet')) - 'id' - 'columns' - 'ignoredColumns',
          '{"kind": "customers", "status": "succeeded", "rowsTotal": 4, "rowsDone": 4, "inserted": 0, "updated": 0,
            "unchanged": 2, "rejected": 2}'::jsonb, 'the same sheet again: the two known rows unchanged');
SELECT is(pg_temp.shop_counts(), :'before', 'and nothing written');

-- the API's names and the shop's own
SELECT is(customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'api')) ->> 'inserted', '1', 'the API''s names are read too');
SELECT is((SELECT u.date_of_birth FROM customer_mgmt.users u WHERE u.external_id = 'KH-0005'), DATE '1988-12-01',
          'an ISO date');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'own'))$$), '22023 data',
          'headers it does not know: 22023 naming data');
SELECT customer_mgmt.set_setting('import.csv_columns', 'Code=external_id; Customer = full_name');
SELECT is(customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'own')) -> 'columns',
          '[{"header": "Code", "field": "external_id"}, {"header": "Customer", "field": "full_name"},
            {"header": "Mail", "field": "email"}]'::jsonb, 'the shop''s own headers, declared once in a setting');

-- what is not a customer file: refused naming data, nothing written
SELECT pg_temp.shop_counts() AS before \gset
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'no_id'))$$), '22023 data',
          'no column of the shop''s id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'no_mail'))$$), '22023 data',
          'no column of the e-mail, which every customer has');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'twice'))$$), '22023 data',
          'two columns of one field');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'broken'))$$), '22P04 data',
          'a quote never closed: 22P04');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'cp1258'))$$), '22021 data',
          'a file that is not UTF-8: 22021');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv(''::bytea)$$), '22023 data', 'an empty file');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv(NULL)$$), '22023 data', 'no file');
SELECT is(pg_temp.shop_counts(), :'before', 'nothing written by any of them');
SELECT is((SELECT count(*)::int FROM customer_mgmt.imports i WHERE i.source LIKE 'CSV%'), 4,
          'and no import recorded for them');

-- admins only
SET ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'api'))$$), '42501',
          'staff cannot import');
RESET ROLE;
SET ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.import_csv((SELECT data FROM f WHERE k = 'api'))$$), '42501',
          'nor can the app');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
