-- Segments (issue 10, in progress): the design's criteria and the segment
-- language on a shop counted by hand, through preview_segment.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(34);

-- five customers; times relative to now, as preview_segment counts
CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn', date_of_birth => (now() - interval '30 years')::date,
                                           province => 'Bình Dương', registered_at => now() - interval '400 days')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn', date_of_birth => (now() - interval '22 years')::date,
                                             province => 'Hà Nội', registered_at => now() - interval '200 days')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@example.vn', province => 'Hồ Chí Minh',
                                            registered_at => now() - interval '100 days')),
    ('dung', customer_mgmt.register_customer('Phạm Dũng', 'dung@example.vn', province => 'Đà Nẵng',
                                             registered_at => now() - interval '50 days')),
    ('em', customer_mgmt.register_customer('Hoàng Em', 'em@example.vn', registered_at => now() - interval '10 days'));
-- An: 3 orders, phones, 12,000,000, last 5 days ago; Bình: 1 order, fashion, 0 VND gift, 100 days ago;
-- Chi: 2 orders, fashion and cosmetics, 3,000,000, last 40 days ago; Dũng and Em: none
SELECT count(customer_mgmt.record_order((SELECT id FROM c WHERE k = o.k), o.amount, 'completed', now() - o.ago,
                                        jsonb_build_array(jsonb_build_object('productName', 'x', 'category', o.category,
                                                                             'brand', o.brand, 'unitPrice', o.amount,
                                                                             'quantity', 1))))
  FROM (VALUES ('an', 4000000, interval '60 days', 'Điện thoại', 'Samsung'),
               ('an', 4000000, interval '20 days', 'Điện thoại', 'Samsung'),
               ('an', 4000000, interval '5 days', 'Điện thoại', 'Apple'),
               ('binh', 0, interval '100 days', 'Thời trang', 'Việt Tiến'),
               ('chi', 1000000, interval '70 days', 'Thời trang', 'Ivy moda'),
               ('chi', 2000000, interval '40 days', 'Mỹ phẩm', 'Cocoon')) o(k, amount, ago, category, brand);
SELECT count(customer_mgmt.calculate_customer_analytics(id)) FROM c;

CREATE FUNCTION pg_temp.members(criteria jsonb, query text DEFAULT NULL) RETURNS text
    LANGUAGE sql AS $$
    SELECT string_agg(c.k, ',' ORDER BY c.k)
      FROM jsonb_array_elements(customer_mgmt.preview_segment(criteria, query) -> 'customers') e
      JOIN c ON c.id = (e ->> 'id')::uuid
$$;

-- every criteria key alone; 0 is a bound
SELECT is(pg_temp.members(cr), want, cr::text)
  FROM (VALUES ('{"totalSpentMin": 0}'::jsonb, 'an,binh,chi,dung,em'),
               ('{"totalSpentMin": 3000000}', 'an,chi'),
               ('{"totalSpentMax": 0}', 'binh,dung,em'),
               ('{"totalOrdersMin": 2}', 'an,chi'),
               ('{"totalOrdersMax": 0}', 'dung,em'),
               ('{"daysSinceLastOrderMin": 40}', 'binh,chi'),
               ('{"daysSinceLastOrderMax": 0}', NULL),
               ('{"daysSinceLastOrderMax": 30}', 'an'),
               ('{"churnRiskMin": 0}', 'an,binh,chi,dung,em'),
               ('{"engagementScoreMin": 0.5}', 'an'),
               ('{"registeredAfter": "2020-01-01"}', 'an,binh,chi,dung,em'),
               ('{"preferredCategories": ["dien THOAI"]}', 'an'),
               ('{"preferredCategories": ["Thời trang", "Mỹ phẩm"]}', 'binh,chi'),
               ('{"geographicRegions": ["Hồ Chí Minh"]}', 'an,chi'),
               ('{"geographicRegions": ["ha noi", "Đà Nẵng"]}', 'binh,dung')) v(cr, want);
SELECT is(pg_temp.members('{"totalSpentMin": 1000000, "geographicRegions": ["Hồ Chí Minh"], "totalOrdersMax": 2}'), 'chi',
          'keys combined by AND');
SELECT is((customer_mgmt.preview_segment('{"totalSpentMin": 0}') ->> 'customerCount')::int, 5, 'the count');

-- the language, alone and with criteria
SELECT is(pg_temp.members(NULL, q), want, q)
  FROM (VALUES ('total_spent >= 3000000 AND last_order_date > -30d', 'an'),
               -- Bình Dương merged into Hồ Chí Minh: Chi lives there
               ('province = ''binh duong'' OR total_orders = 0', 'an,chi,dung,em'),
               ('favorite_brands CONTAINS ''samsung'' OR favorite_categories CONTAINS ''my pham''', 'an,chi'),
               ('NOT (total_orders BETWEEN 1 AND 2) AND age IS NOT NULL', 'an'),
               -- Bình's one order of nothing, 100 days ago: at risk
               ('registered_at < -150d AND lifecycle_segment != ''new''', 'an,binh')) v(q, want);
SELECT is(pg_temp.members('{"totalOrdersMin": 1}', 'days_since_last_order >= 40'), 'binh,chi', 'criteria AND query');

-- errors name the key; nothing is written
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"totalSpentMinimum": 5}')$$), '22023 totalSpentMinimum',
          'an unknown key');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"totalSpentMin": "5"}')$$), '22023 totalSpentMin',
          'a number as a string');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"totalSpentMin": -1}')$$), '22023 totalSpentMin',
          'a negative bound');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"churnRiskMin": 0.8, "churnRiskMax": 0.2}')$$),
          '22023 churnRiskMin', 'min above max');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"registeredAfter": "2026-02-30"}')$$),
          '22023 registeredAfter', 'a date that does not exist');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"geographicRegions": "Hà Nội"}')$$),
          '22023 geographicRegions', 'a list that is a string');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('[1]')$$), '22023 criteria', 'criteria not an object');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment()$$), '22023 criteria', 'no definition');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(NULL, 'total_spent > 0; DROP TABLE customer_mgmt.users')$$),
          '22023 query', 'a hostile query');

-- roles: staff read, the ingesting app does not
SET LOCAL ROLE customer_mgmt_staff;
SELECT is((customer_mgmt.preview_segment(NULL, 'total_orders >= 0') ->> 'customerCount')::int, 5, 'staff may preview');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(NULL, 'total_orders >= 0')$$), '42501', 'the app may not');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
