-- Customer list, detail, order history and account status.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(148);

-- fixture: eight customers with known analytics, as of 2026-06-01 -------------
CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
GRANT SELECT ON c TO PUBLIC;
INSERT INTO c VALUES
 ('duc',   customer_mgmt.register_customer('Nguyễn Văn Đức', 'duc@example.vn', '0912 345 678', registered_at => '2025-01-10 09:00+07')),
 ('lan',   customer_mgmt.register_customer('Trần Thị Lan', 'lan.tran@example.vn', '0987654321', registered_at => '2025-02-01 09:00+07')),
 ('tuan',  customer_mgmt.register_customer('Lê Minh Tuấn', 'tuan_le@example.vn', '0356789012', registered_at => '2025-03-15 09:00+07')),
 ('huong', customer_mgmt.register_customer('Phạm Thu Hương', 'huong%pham@example.vn', '0398765432', registered_at => '2025-04-20 09:00+07')),
 ('anh',   customer_mgmt.register_customer('Hoàng Đức Anh', 'anh@example.vn', '0701234567', registered_at => '2025-06-01 09:00+07')),
 ('anh2',  customer_mgmt.register_customer('Nguyễn Thị Ánh', 'anh.nguyen@example.vn', NULL, registered_at => '2025-08-20 09:00+07')),
 ('bao',   customer_mgmt.register_customer('Vũ Quốc Bảo', 'bao_vu@example.vn', '0912000111', registered_at => '2025-10-05 09:00+07')),
 ('mai',   customer_mgmt.register_customer('Đặng Thị Mai', 'mai@example.vn', '0868000222', registered_at => '2026-01-15 09:00+07'));
INSERT INTO c VALUES ('admin', customer_mgmt.register_staff('Phan Quản Trị', 'admin@cuahang.vn', 'admin')),
                     ('staff', customer_mgmt.register_staff('Lý Nhân Viên', 'staff@cuahang.vn'));
UPDATE customer_mgmt.users SET status = 'inactive' WHERE id = (SELECT id FROM c WHERE k = 'tuan');
UPDATE customer_mgmt.users SET status = 'suspended' WHERE id = (SELECT id FROM c WHERE k = 'anh');
UPDATE customer_mgmt.users SET last_login_at = '2026-05-31 20:00+07' WHERE id = (SELECT id FROM c WHERE k = 'duc');
UPDATE customer_mgmt.users SET last_login_at = '2026-02-01 20:00+07' WHERE id = (SELECT id FROM c WHERE k = 'lan');
UPDATE customer_mgmt.customer_analytics a
   SET total_orders = f.orders, total_spent = f.spent, last_order_date = f.lod, churn_risk_score = f.churn,
       segment = f.seg::customer_mgmt.lifecycle_segment
  FROM (VALUES ('duc', 12, 60000000, timestamptz '2026-05-25 10:00+07', 0.10, 'vip'),
               ('lan', 1, 500000, timestamptz '2025-12-01 10:00+07', 0.50, 'churned'),
               ('tuan', 0, 0, NULL, 0.50, 'new'),
               ('huong', 0, 0, NULL, 0.30, 'new'),
               ('anh', 3, 3000000, timestamptz '2026-04-01 10:00+07', 0.80, 'at_risk'),
               ('anh2', 6, 12000000, timestamptz '2026-05-20 10:00+07', 0.20, 'loyal'),
               ('bao', 2, 1500000, timestamptz '2026-03-01 10:00+07', 0.40, 'active'),
               ('mai', 0, 0, NULL, 0.60, 'new')) AS f(k, orders, spent, lod, churn, seg)
  JOIN c ON c.k = f.k
 WHERE a.customer_id = c.id;

-- names of a list, in order
CREATE FUNCTION pg_temp.names(list jsonb) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(e ->> 'fullName' ORDER BY n), '{}') FROM jsonb_array_elements(list -> 'data') WITH ORDINALITY x(e, n)
$$;
CREATE FUNCTION pg_temp.list(args text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    EXECUTE format('SELECT customer_mgmt.get_customers(%s)', concat_ws(', ', nullif(args, ''), 'as_of => ''2026-06-01 00:00+07''')) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION pg_temp.names(args text) RETURNS text[] LANGUAGE sql AS $$ SELECT pg_temp.names(pg_temp.list(args)) $$;
CREATE FUNCTION pg_temp.total(args text) RETURNS bigint LANGUAGE sql AS $$ SELECT (pg_temp.list(args) ->> 'total')::bigint $$;

-- every customer has an analytics row
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_analytics WHERE customer_id IN (SELECT id FROM c)), 8,
          'registration created the analytics rows of the 8 customers, none for staff');

-- shape ---------------------------------------------------------------------------
SELECT is(pg_temp.total(''), 8::bigint, 'no filter: 8 customers');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.list('')) k),
          ARRAY['data', 'page', 'pageSize', 'total', 'totalIsEstimate', 'totalPages'], 'paginated envelope');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.list('') -> 'data' -> 0) k),
          ARRAY['churnRiskScore', 'createdAt', 'daysSinceLastOrder', 'email', 'externalId', 'fullName', 'id', 'lastLoginAt',
                'lastOrderDate', 'phoneNumber', 'province', 'segment', 'status', 'tags', 'totalOrders', 'totalSpent'], 'list item keys');
SELECT is(pg_temp.names(''), ARRAY['Đặng Thị Mai', 'Vũ Quốc Bảo', 'Nguyễn Thị Ánh', 'Hoàng Đức Anh', 'Phạm Thu Hương',
                                    'Lê Minh Tuấn', 'Trần Thị Lan', 'Nguyễn Văn Đức'], 'default order: newest first');
SELECT is((pg_temp.list('search => ''duc@''') -> 'data' -> 0 ->> 'daysSinceLastOrder')::int, 6,
          'daysSinceLastOrder measured at as_of');

-- search ------------------------------------------------------------------------------
SELECT is(pg_temp.names('search => ''nguyen van duc'''), ARRAY['Nguyễn Văn Đức'], 'search: nguyen van duc');
SELECT is(pg_temp.names('search => ''NGUYỄN'''), ARRAY['Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'search: NGUYỄN');
SELECT is(pg_temp.names('search => ''duc@'''), ARRAY['Nguyễn Văn Đức'], 'search: duc@ (e-mail)');
SELECT is(pg_temp.names('search => ''0912 345 678'''), ARRAY['Nguyễn Văn Đức'], 'search: 0912 345 678');
SELECT is(pg_temp.names('search => ''+84 912 345 678'''), ARRAY['Nguyễn Văn Đức'], 'search: +84 912 345 678');
SELECT is(pg_temp.names('search => ''0912'''), ARRAY['Vũ Quốc Bảo', 'Nguyễn Văn Đức'], 'search: a phone prefix');
SELECT is(pg_temp.names('search => ''đức'''), ARRAY['Hoàng Đức Anh', 'Nguyễn Văn Đức'], 'search: đức in any field');
SELECT is(pg_temp.names('search => ''  Thị  Ánh '''), ARRAY['Nguyễn Thị Ánh'], 'search: white space folded');
SELECT is(pg_temp.names('search => ''%'''), ARRAY['Phạm Thu Hương'], 'search: % matches only a literal %');
SELECT is(pg_temp.names('search => ''_'''), ARRAY['Vũ Quốc Bảo', 'Lê Minh Tuấn'], 'search: _ matches only a literal _');
SELECT is(pg_temp.names('search => ''van duc@'''), '{}'::text[], 'search: no match across fields');
SELECT is(pg_temp.names('search => '''''), pg_temp.names(''), 'search: empty is no filter');

-- filters one by one -----------------------------------------------------------------
SELECT is(pg_temp.names('status => ''inactive'''), ARRAY['Lê Minh Tuấn'], 'status');
SELECT is(pg_temp.names('status => ''SUSPENDED'''), ARRAY['Hoàng Đức Anh'], 'status, case-insensitive');
SELECT is(pg_temp.names('segment => ''vip'''), ARRAY['Nguyễn Văn Đức'], 'segment');
SELECT is(pg_temp.names('segment => ''new'''), ARRAY['Đặng Thị Mai', 'Phạm Thu Hương', 'Lê Minh Tuấn'], 'segment new');
SELECT is(pg_temp.names('registered_after => ''2025-06-01 09:00+07'''),
          ARRAY['Đặng Thị Mai', 'Vũ Quốc Bảo', 'Nguyễn Thị Ánh', 'Hoàng Đức Anh'], 'registered_after (inclusive)');
SELECT is(pg_temp.names('registered_before => ''2025-02-01 09:00+07'''), ARRAY['Trần Thị Lan', 'Nguyễn Văn Đức'],
          'registered_before (inclusive)');
SELECT is(pg_temp.total('min_total_spent => 0'), 8::bigint, 'min_total_spent 0 is a real bound: everyone');
SELECT is(pg_temp.names('min_total_spent => 3000000'), ARRAY['Nguyễn Thị Ánh', 'Hoàng Đức Anh', 'Nguyễn Văn Đức'], 'min_total_spent');
SELECT is(pg_temp.names('max_total_spent => 500000'), ARRAY['Đặng Thị Mai', 'Phạm Thu Hương', 'Lê Minh Tuấn', 'Trần Thị Lan'],
          'max_total_spent (inclusive)');
SELECT is(pg_temp.names('max_total_spent => 0'), ARRAY['Đặng Thị Mai', 'Phạm Thu Hương', 'Lê Minh Tuấn'], 'max_total_spent 0');
SELECT is(pg_temp.names('min_orders => 6'), ARRAY['Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'min_orders');
SELECT is(pg_temp.total('min_orders => 0'), 8::bigint, 'min_orders 0: everyone');
SELECT is(pg_temp.names('max_days_since_last_order => 7'), ARRAY['Nguyễn Văn Đức'], 'max_days_since_last_order 7 (6 days ago)');
SELECT is(pg_temp.names('max_days_since_last_order => 5'), '{}'::text[], 'max_days_since_last_order 5');
SELECT is(pg_temp.names('max_days_since_last_order => 30'), ARRAY['Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'max_days_since_last_order 30');
SELECT is(pg_temp.total('max_days_since_last_order => 100000'), 5::bigint, 'never ordered: no days since the last order');

-- filters combined
SELECT is(pg_temp.names('status => ''active'', min_orders => 2, max_days_since_last_order => 100'),
          ARRAY['Vũ Quốc Bảo', 'Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'status + min_orders + days');
SELECT is(pg_temp.names('search => ''nguyen'', min_total_spent => 20000000'), ARRAY['Nguyễn Văn Đức'], 'search + spend');
SELECT is(pg_temp.names('segment => ''new'', registered_after => ''2025-04-01'', max_total_spent => 0, search => ''@example.vn'''),
          ARRAY['Đặng Thị Mai', 'Phạm Thu Hương'], 'four filters');
SELECT is(pg_temp.names('status => ''active'', segment => ''vip'', min_orders => 13'), '{}'::text[], 'nothing matches');

-- every sort key, both directions -------------------------------------------------------
SELECT is(pg_temp.names('sort_by => ''fullName'', sort_order => ''ASC'''),
          (SELECT array_agg(full_name ORDER BY full_name, id) FROM customer_mgmt.users WHERE id IN (SELECT id FROM c) AND role = 'customer'),
          'fullName ASC');
SELECT is(pg_temp.names('sort_by => ''fullName'', sort_order => ''desc'''),
          (SELECT array_agg(full_name ORDER BY full_name DESC, id DESC) FROM customer_mgmt.users WHERE id IN (SELECT id FROM c) AND role = 'customer'),
          'fullName DESC');
SELECT is(pg_temp.names('sort_by => ''createdAt'', sort_order => ''ASC'''),
          ARRAY['Nguyễn Văn Đức', 'Trần Thị Lan', 'Lê Minh Tuấn', 'Phạm Thu Hương', 'Hoàng Đức Anh', 'Nguyễn Thị Ánh',
                'Vũ Quốc Bảo', 'Đặng Thị Mai'], 'createdAt ASC');
SELECT is(pg_temp.names('sort_by => ''email'', sort_order => ''ASC'''),
          (SELECT array_agg(full_name ORDER BY email, id) FROM customer_mgmt.users WHERE id IN (SELECT id FROM c) AND role = 'customer'),
          'email ASC');
SELECT is(pg_temp.names('sort_by => ''email'', sort_order => ''DESC'''),
          (SELECT array_agg(full_name ORDER BY email DESC, id DESC) FROM customer_mgmt.users WHERE id IN (SELECT id FROM c) AND role = 'customer'),
          'email DESC');
SELECT is(pg_temp.names('sort_by => ''totalSpent'', sort_order => ''DESC'', max_total_spent => 100000000, min_total_spent => 1'),
          ARRAY['Nguyễn Văn Đức', 'Nguyễn Thị Ánh', 'Hoàng Đức Anh', 'Vũ Quốc Bảo', 'Trần Thị Lan'], 'totalSpent DESC');
SELECT is(pg_temp.names('sort_by => ''totalSpent'', sort_order => ''ASC'', min_total_spent => 1'),
          ARRAY['Trần Thị Lan', 'Vũ Quốc Bảo', 'Hoàng Đức Anh', 'Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'totalSpent ASC');
SELECT is(pg_temp.names('sort_by => ''totalOrders'', sort_order => ''DESC'', min_orders => 1'),
          ARRAY['Nguyễn Văn Đức', 'Nguyễn Thị Ánh', 'Hoàng Đức Anh', 'Vũ Quốc Bảo', 'Trần Thị Lan'], 'totalOrders DESC');
SELECT is(pg_temp.names('sort_by => ''totalOrders'', sort_order => ''ASC'', min_orders => 1'),
          ARRAY['Trần Thị Lan', 'Vũ Quốc Bảo', 'Hoàng Đức Anh', 'Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'totalOrders ASC');
SELECT is((pg_temp.names('sort_by => ''lastOrderDate'', sort_order => ''DESC'''))[1:5],
          ARRAY['Nguyễn Văn Đức', 'Nguyễn Thị Ánh', 'Hoàng Đức Anh', 'Vũ Quốc Bảo', 'Trần Thị Lan'], 'lastOrderDate DESC, never ordered last');
SELECT is((pg_temp.names('sort_by => ''lastOrderDate'', sort_order => ''ASC'''))[1:5],
          ARRAY['Trần Thị Lan', 'Vũ Quốc Bảo', 'Hoàng Đức Anh', 'Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'lastOrderDate ASC, never ordered last');
SELECT is(pg_temp.names('sort_by => ''churnRiskScore'', sort_order => ''DESC'', min_orders => 1'),
          ARRAY['Hoàng Đức Anh', 'Trần Thị Lan', 'Vũ Quốc Bảo', 'Nguyễn Thị Ánh', 'Nguyễn Văn Đức'], 'churnRiskScore DESC');
SELECT is(pg_temp.names('sort_by => ''churnRiskScore'', sort_order => ''ASC'', min_orders => 1'),
          ARRAY['Nguyễn Văn Đức', 'Nguyễn Thị Ánh', 'Vũ Quốc Bảo', 'Trần Thị Lan', 'Hoàng Đức Anh'], 'churnRiskScore ASC');
SELECT is((pg_temp.names('sort_by => ''lastLoginAt'', sort_order => ''DESC'''))[1:2], ARRAY['Nguyễn Văn Đức', 'Trần Thị Lan'],
          'lastLoginAt DESC, never logged in last');
SELECT is((pg_temp.names('sort_by => ''lastLoginAt'', sort_order => ''ASC'''))[1:2], ARRAY['Trần Thị Lan', 'Nguyễn Văn Đức'],
          'lastLoginAt ASC, never logged in last');

-- paging ------------------------------------------------------------------------------------
SELECT is(pg_temp.list('page_size => 3') - 'data',
          '{"page": 1, "total": 8, "pageSize": 3, "totalPages": 3, "totalIsEstimate": false}'::jsonb, 'envelope of page 1 of 3');
SELECT is(pg_temp.names('page_size => 3, page => 3'), ARRAY['Trần Thị Lan', 'Nguyễn Văn Đức'], 'last page is short');
SELECT is(pg_temp.list('page_size => 3, page => 4') - 'data',
          '{"page": 4, "total": 8, "pageSize": 3, "totalPages": 3, "totalIsEstimate": false}'::jsonb, 'page past the end: envelope');
SELECT is(pg_temp.names('page_size => 3, page => 4'), '{}'::text[], 'page past the end: no data');
SELECT is(cardinality(pg_temp.names('page_size => 100')), 8, 'page_size 100');
SELECT is(pg_temp.list('segment => ''vip'', page_size => 1') -> 'totalPages', '1'::jsonb, 'one page');
SELECT is(pg_temp.list('segment => ''vip'', min_orders => 100') - 'data',
          '{"page": 1, "total": 0, "pageSize": 20, "totalPages": 0, "totalIsEstimate": false}'::jsonb, 'no match: 0 pages');

-- totals past 10,000 are estimates unless exact_total
INSERT INTO customer_mgmt.users (full_name, email, created_at)
SELECT 'Khách ' || g, 'khach' || g || '@example.vn', timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 10050) g;
ANALYZE customer_mgmt.users;
SELECT is((pg_temp.list('') ->> 'totalIsEstimate')::boolean, true, 'more than 10,000 matches: estimated total');
SELECT cmp_ok(pg_temp.total(''), '>', 10000::bigint, 'the estimate is more than 10,000');
SELECT is(pg_temp.list('exact_total => true') - 'data',
          '{"page": 1, "total": 10058, "pageSize": 20, "totalPages": 503, "totalIsEstimate": false}'::jsonb,
          'exact_total => true counts exactly');
SELECT is(pg_temp.list('search => ''khach 1000''') - 'data',
          '{"page": 1, "total": 11, "pageSize": 20, "totalPages": 1, "totalIsEstimate": false}'::jsonb,
          'a selective search stays exact: Khách 1000 and 10000-10009');
DELETE FROM customer_mgmt.users WHERE email LIKE 'khach%@example.vn';

-- get_customer ---------------------------------------------------------------------------------
SELECT customer_mgmt.add_customer_address((SELECT id FROM c WHERE k = 'duc'), 'Nguyễn Văn Đức', '0912345678', '12 Lê Lợi',
       'Phường Bến Thành', NULL, 'Hồ Chí Minh', true, true);
SELECT customer_mgmt.add_customer_address((SELECT id FROM c WHERE k = 'duc'), 'Đức (cơ quan)', '0912345678', '45 Pasteur',
       'Phường Bến Nghé', 'Quận 1', 'Bình Dương', false, false);
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'duc'), 100000 * g, 'completed', timestamptz '2026-05-01 10:00+07' + g * interval '1 day',
       '[{"productName": "Cà phê Trung Nguyên", "unitPrice": 50000, "quantity": 2}]')
  FROM generate_series(1, 7) g;
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'duc'), 99000, 'pending', '2026-05-30 10:00+07');
INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, content, created_at)
SELECT (SELECT id FROM c WHERE k = 'duc'), (SELECT id FROM c WHERE k = 'staff'), 'Ghi chú ' || g, timestamptz '2026-01-01' + g * interval '1 day'
  FROM generate_series(1, 6) g;
-- registration assigned new-customers; an expired assignment must not show
INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, expires_at)
VALUES ((SELECT id FROM c WHERE k = 'duc'), '00000000-0000-4000-8000-000000000002', '2020-01-01');
CREATE TEMP TABLE d AS SELECT customer_mgmt.get_customer((SELECT id FROM c WHERE k = 'duc')) AS j;

SELECT is((SELECT array_agg(k ORDER BY k) FROM d, jsonb_object_keys(j) k),
          ARRAY['addresses', 'analytics', 'avatarUrl', 'createdAt', 'dateOfBirth', 'defaultBillingAddress',
                'defaultShippingAddress', 'email', 'emailVerifiedAt', 'externalId', 'fullName', 'gender', 'id', 'lastLoginAt',
                'marketingConsent', 'phoneNumber', 'phoneVerifiedAt', 'province', 'recentNotes', 'recentOrders', 'segments',
                'status', 'tags', 'updatedAt'], 'CustomerDetailDto keys');
SELECT is((SELECT j ->> 'fullName' FROM d), 'Nguyễn Văn Đức', 'fullName');
SELECT is((SELECT jsonb_array_length(j -> 'addresses') FROM d), 2, 'two addresses');
SELECT is((SELECT j -> 'defaultShippingAddress' ->> 'street' FROM d), '12 Lê Lợi', 'default shipping address');
SELECT is((SELECT j -> 'defaultBillingAddress' ->> 'street' FROM d), '12 Lê Lợi', 'default billing address');
SELECT is((SELECT j -> 'addresses' -> 1 ->> 'currentProvince' FROM d), 'Hồ Chí Minh', 'a former province maps to the current one');
SELECT is((SELECT jsonb_array_length(j -> 'recentOrders') FROM d), 5, 'the 5 most recent orders');
SELECT is((SELECT j -> 'recentOrders' -> 0 ->> 'status' FROM d), 'pending', 'most recent order first');
SELECT is((SELECT j -> 'recentOrders' -> 1 -> 'itemCount' FROM d), '2'::jsonb, 'orders carry their item count');
SELECT is((SELECT array_agg(n ->> 'content' ORDER BY o) FROM d, jsonb_array_elements(j -> 'recentNotes') WITH ORDINALITY x(n, o)),
          ARRAY['Ghi chú 6', 'Ghi chú 5', 'Ghi chú 4', 'Ghi chú 3', 'Ghi chú 2'], 'the 5 most recent notes');
SELECT is((SELECT j -> 'recentNotes' -> 0 ->> 'authorName' FROM d), 'Lý Nhân Viên', 'notes carry the author''s name');
SELECT is((SELECT array_agg(s ->> 'name') FROM d, jsonb_array_elements(j -> 'segments') s), ARRAY['new-customers'],
          'segments: expired assignments left out');
SELECT is((SELECT (j -> 'analytics' ->> 'daysSinceLastOrder')::int FROM d),
          customer_mgmt.days_between('2026-05-25 10:00+07', now()), 'daysSinceLastOrder measured at call time');
SELECT is((SELECT j -> 'analytics' -> 'predictedLtv' FROM d), 'null'::jsonb, 'predictedLtv stays NULL');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer('00000000-0000-4000-8000-0000000000aa')$$), 'PT404', 'unknown customer');
SELECT throws_ok($$SELECT customer_mgmt.get_customer('00000000-0000-4000-8000-0000000000aa')$$, 'PT404',
                 'Customer with ID 00000000-0000-4000-8000-0000000000aa not found', 'the design''s message');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer('not-a-uuid')$$), '22P02', 'malformed id: PostgreSQL''s own 22P02');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer(NULL)$$), '22023 customer_id', 'NULL id');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.get_customer(%L)$$, (SELECT id FROM c WHERE k = 'staff'))), 'PT404',
          'a staff user is not a customer');

-- get_customer_orders -----------------------------------------------------------------------
CREATE FUNCTION pg_temp.orders(args text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    EXECUTE format('SELECT customer_mgmt.get_customer_orders(%L%s)', (SELECT id FROM c WHERE k = 'duc'),
                   CASE WHEN args = '' THEN '' ELSE ', ' || args END) INTO r;
    RETURN r;
END $$;
SELECT is(pg_temp.orders('') - 'data', '{"page": 1, "total": 8, "pageSize": 20, "totalPages": 1, "totalIsEstimate": false}'::jsonb,
          'all orders');
SELECT is(pg_temp.orders('') -> 'data' -> 0 ->> 'status', 'pending', 'newest first');
SELECT is((pg_temp.orders('sort_order => ''ASC''') -> 'data' -> 0 ->> 'totalAmount')::numeric, 100000.00, 'oldest first');
SELECT is((pg_temp.orders('status => ''completed''') ->> 'total')::int, 7, 'status filter');
SELECT is((pg_temp.orders('date_from => ''2026-05-03 10:00+07'', date_to => ''2026-05-05 10:00+07''') ->> 'total')::int, 3,
          'date range, both ends inclusive');
SELECT is((SELECT array_agg((e ->> 'totalAmount')::numeric ORDER BY n) FROM jsonb_array_elements(pg_temp.orders('status => ''completed'', page => 2, page_size => 3') -> 'data') WITH ORDINALITY x(e, n)),
          ARRAY[400000.00, 300000.00, 200000.00], 'paging');
SELECT is(pg_temp.orders('') -> 'data' -> 1 -> 'itemsTotal', '100000.00'::jsonb, 'items total');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_orders('00000000-0000-4000-8000-0000000000aa')$$), 'PT404', 'orders of an unknown customer');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.get_customer_orders(%L, status => 'paid')$$, (SELECT id FROM c WHERE k = 'duc'))),
          '22023 status', 'unknown order status');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.get_customer_orders(%L, date_from => '2026-02-01', date_to => '2026-01-01')$$, (SELECT id FROM c WHERE k = 'duc'))),
          '22023 date_to', 'date range backwards');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.get_customer_orders(%L, sort_order => 'up')$$, (SELECT id FROM c WHERE k = 'duc'))),
          '22023 sort_order', 'bad sort order');

-- update_customer_status ---------------------------------------------------------------------
SELECT set_config('request.jwt.claims', json_build_object('sub', (SELECT id FROM c WHERE k = 'admin'), 'role', 'customer_mgmt_admin')::text, true);
SELECT throws_ok(format($$SELECT customer_mgmt.update_customer_status(%L, 'inactive', 'test')$$, (SELECT id FROM c WHERE k = 'duc')),
                 'P0001', 'Cannot deactivate customer with pending orders', 'a pending order refuses deactivation');
UPDATE customer_mgmt.users SET last_login_at = now() - interval '2 hours' WHERE id = (SELECT id FROM c WHERE k = 'lan');
SELECT throws_ok(format($$SELECT customer_mgmt.update_customer_status(%L, 'suspended')$$, (SELECT id FROM c WHERE k = 'lan')),
                 'P0001', 'Cannot deactivate customer with recent activity', 'a login 2 hours ago refuses deactivation');
UPDATE customer_mgmt.users SET last_login_at = now() - interval '23 hours 59 minutes' WHERE id = (SELECT id FROM c WHERE k = 'lan');
SELECT throws_ok(format($$SELECT customer_mgmt.update_customer_status(%L, 'inactive')$$, (SELECT id FROM c WHERE k = 'lan')),
                 'P0001', 'Cannot deactivate customer with recent activity', 'a login 23h59m ago still refuses');
UPDATE customer_mgmt.users SET last_login_at = now() - interval '24 hours 1 minute' WHERE id = (SELECT id FROM c WHERE k = 'lan');
SELECT is(customer_mgmt.update_customer_status((SELECT id FROM c WHERE k = 'lan'), 'inactive', 'Khách yêu cầu khoá') ->> 'status',
          'inactive', 'a login more than 24 hours ago allows deactivation');
SELECT results_eq(
    $$SELECT old_status::text, new_status::text, reason, actor_id FROM customer_mgmt.customer_status_history
       WHERE customer_id = (SELECT id FROM c WHERE k = 'lan')$$,
    $$VALUES ('active', 'inactive', 'Khách yêu cầu khoá', (SELECT id FROM c WHERE k = 'admin'))$$,
    'the change is recorded with old and new status, reason and actor');
SELECT is((SELECT payload ->> 'newStatus' FROM customer_mgmt.event_outbox
            WHERE event_type = 'customer.status_changed' AND customer_id = (SELECT id FROM c WHERE k = 'lan')), 'inactive',
          'customer.status_changed goes to the outbox');
SELECT is(customer_mgmt.update_customer_status((SELECT id FROM c WHERE k = 'lan'), 'inactive') -> 'statusChanged',
          'false'::jsonb, 'a no-op change is reported');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_status_history WHERE customer_id = (SELECT id FROM c WHERE k = 'lan')), 1,
          'and not recorded twice');
SELECT is(customer_mgmt.update_customer_status((SELECT id FROM c WHERE k = 'mai'), 'suspended') ->> 'status', 'suspended',
          'never logged in counts as no recent activity');
SELECT is(customer_mgmt.update_customer_status((SELECT id FROM c WHERE k = 'mai'), 'inactive') ->> 'status', 'inactive',
          'suspended -> inactive is not leaving active');
UPDATE customer_mgmt.users SET last_login_at = now() WHERE id = (SELECT id FROM c WHERE k = 'mai');
SELECT is(customer_mgmt.update_customer_status((SELECT id FROM c WHERE k = 'mai'), 'active') ->> 'status', 'active',
          'reactivation is always allowed');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_status(%L, 'deleted')$$, (SELECT id FROM c WHERE k = 'mai'))),
          '22023 status', 'unknown status');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_status(%L, 'inactive', repeat('x', 1001))$$, (SELECT id FROM c WHERE k = 'mai'))),
          '22023 reason', 'reason too long');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_customer_status('00000000-0000-4000-8000-0000000000aa', 'inactive')$$),
          'PT404', 'unknown customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_customer_status('123', 'inactive')$$), '22P02', 'malformed id');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_customer_status(NULL, 'inactive')$$), '22023 customer_id', 'no id');

-- roles, as PostgREST calls ---------------------------------------------------------------------
SELECT set_config('request.jwt.claims', json_build_object('sub', (SELECT id FROM c WHERE k = 'staff'), 'role', 'customer_mgmt_staff')::text, true);
SET LOCAL ROLE customer_mgmt_staff;
SELECT is((customer_mgmt.get_customers(as_of => '2026-06-01') ->> 'total')::int, 8, 'staff reads the list');
SELECT is(customer_mgmt.get_customer((SELECT id FROM c WHERE k = 'duc')) ->> 'fullName', 'Nguyễn Văn Đức', 'staff reads the detail');
SELECT is((customer_mgmt.get_customer_orders((SELECT id FROM c WHERE k = 'duc')) ->> 'total')::int, 8, 'staff reads the orders');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_status(%L, 'suspended')$$, (SELECT id FROM c WHERE k = 'bao'))),
          '42501', 'staff may not change a status');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers()$$), '42501', 'the ingesting app may not read the list');
RESET ROLE;
CREATE ROLE cm_test_nobody NOLOGIN;
SET LOCAL ROLE cm_test_nobody;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer('00000000-0000-4000-8000-0000000000aa')$$), '42501',
          'a caller without a customer_mgmt role gets 42501');
RESET ROLE;
SELECT is((SELECT array_agg(proname || ':' || provolatile::text ORDER BY proname) FROM pg_proc
            WHERE pronamespace = 'customer_mgmt'::regnamespace
              AND proname IN ('get_customers', 'get_customer', 'get_customer_orders', 'update_customer_status')),
          ARRAY['get_customer:s', 'get_customer_orders:s', 'get_customers:s', 'update_customer_status:v'],
          'reads are STABLE (PostgREST serves them on GET), the write VOLATILE');

-- hostile input: 22023, nothing written, the backend lives on --------------------------------------
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => 'createdAt; DROP TABLE customer_mgmt.users')$$), '22023 sort_by', 'SQL in sort_by');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => 'created_at')$$), '22023 sort_by', 'a column name is not a DTO name');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => 'u.id')$$), '22023 sort_by', 'qualified column in sort_by');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => '(SELECT 1)')$$), '22023 sort_by', 'subquery in sort_by');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => 'createdAt DESC')$$), '22023 sort_by', 'direction in sort_by');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_by => '')$$), '22023 sort_by', 'empty sort_by');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(sort_order => 'DESC; --')$$), '22023 sort_order', 'SQL in sort_order');
SELECT is(pg_temp.names('search => ''''''; DROP TABLE customer_mgmt.users; --'''), '{}'::text[], 'SQL in search is just text');
SELECT is(pg_temp.names('search => ''%'''' OR 1=1 --'''), '{}'::text[], 'LIKE and SQL fragments in search are literal');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(search => repeat('nguyễn ', 1500))$$), '22023 search', 'a 10,000-character search');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(min_total_spent => 'NaN')$$), '22023 min_total_spent', 'NaN amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(max_total_spent => 'Infinity')$$), '22023 max_total_spent', 'infinite amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(min_total_spent => -1)$$), '22023 min_total_spent', 'negative amount');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(min_total_spent => 10, max_total_spent => 5)$$), '22023 max_total_spent', 'min > max');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(page => -5)$$), '22023 page', 'negative page');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(page => 0)$$), '22023 page', 'page 0');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(page_size => 101)$$), '22023 page_size', 'page_size 101');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(page_size => 0)$$), '22023 page_size', 'page_size 0');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(min_orders => -1)$$), '22023 min_orders', 'negative min_orders');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(max_days_since_last_order => -1)$$), '22023 max_days_since_last_order', 'negative days');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(registered_after => '2026-01-01', registered_before => '2025-01-01')$$),
          '22023 registered_before', 'registered range backwards');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(registered_after => 'infinity')$$), '22023 registered_after', 'infinite date');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(status => 'active'' OR ''1''=''1')$$), '22023 status', 'SQL in status');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(segment => 'vip;')$$), '22023 segment', 'SQL in segment');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(as_of => '-infinity')$$), '22023 as_of', 'infinite as_of');
SELECT is(pg_temp.total(''), 8::bigint, 'after all that, the shop is intact and the backend answers');

SELECT is(pg_temp.list_drift(), 0::bigint, 'after ingestion and status changes, customer_list equals users and analytics');
UPDATE customer_mgmt.users SET full_name = 'Nguyễn Thị Đổi Tên', phone_number = '0987654321'
 WHERE id = (SELECT id FROM c WHERE k = 'mai');
SELECT is((customer_mgmt.get_customers(search => 'doi ten') -> 'data' -> 0 ->> 'id')::uuid, (SELECT id FROM c WHERE k = 'mai'),
          'a renamed customer is found by the new name');
SELECT ok(customer_mgmt.get_customers(search => '0987 654 321') -> 'data'
          @> jsonb_build_array(jsonb_build_object('id', (SELECT id FROM c WHERE k = 'mai'))), 'and by the new phone');
UPDATE customer_mgmt.users SET role = 'staff' WHERE id = (SELECT id FROM c WHERE k = 'mai');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_list WHERE customer_id = (SELECT id FROM c WHERE k = 'mai')), 0,
          'a customer made staff leaves the list');
UPDATE customer_mgmt.users SET role = 'customer' WHERE id = (SELECT id FROM c WHERE k = 'mai');
SELECT is(pg_temp.list_drift(), 0::bigint, 'and comes back as a customer, with the analytics');
SELECT * FROM finish();
ROLLBACK;
