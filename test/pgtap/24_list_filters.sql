-- The list's filters of 1.4 (province, gender, age, ordered, an order in
-- progress, the shop's id) against the same questions asked of the tables
-- by hand, mixed with each other and every sort; their bad values; the
-- export taking them; saved views, private and shared, under each role.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(54);

SELECT customer_mgmt.generate_demo_shop(600, seed => 11);
-- a few customers at the edges: born on 29 February, a former province,
-- an order in progress, the shop's own id
CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('leap', customer_mgmt.register_customer('Lê Nhuận', 'nhuan@example.vn', date_of_birth => '2000-02-29',
                                             gender => 'male', province => 'Bình Dương', external_id => 'KH-0042')),
    ('young', customer_mgmt.register_customer('Mai Trẻ', 'tre@example.vn', date_of_birth => '2008-03-01', gender => 'female')),
    ('lan', customer_mgmt.register_staff('Phạm Lan', 'lan@cuahang.vn', 'staff')),
    ('minh', customer_mgmt.register_staff('Đỗ Minh', 'minh@cuahang.vn', 'staff')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'leap'), 300000, 'processing', now() - interval '1 day');
GRANT SELECT ON p TO PUBLIC;

-- the same question asked of the tables
CREATE FUNCTION pg_temp.hand(cond text, ord text) RETURNS uuid[]
    LANGUAGE plpgsql AS $$
DECLARE
    result uuid[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(u.id ORDER BY %s), ''{}'') FROM customer_mgmt.users u'
                   ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id'
                   ' LEFT JOIN customer_mgmt.provinces pr ON pr.name = u.province'
                   ' WHERE u.role = ''customer'' AND %s', ord, cond) INTO result;
    RETURN result;
END
$$;

SELECT is(pg_temp.ids($$province => 'Hồ Chí Minh',$$),
          pg_temp.hand($$coalesce(pr.current_name, u.province) = 'Hồ Chí Minh'$$, 'u.created_at DESC, u.id DESC'),
          'province: its customers, those of the provinces merged into it too');
SELECT is(pg_temp.ids($$province => 'binh duong',$$), pg_temp.ids($$province => 'TP. HCM',$$),
          'a former province is the one it merged into, in any spelling');
SELECT ok((SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$province => 'Hồ Chí Minh',$$)), 'the customer of Bình Dương is in Hồ Chí Minh');
SELECT is(pg_temp.ids($$gender => 'FEMALE',$$), pg_temp.hand($$u.gender = 'female'$$, 'u.created_at DESC, u.id DESC'),
          'gender, in any case');
-- ages at the shop's date: on 2026-02-28 the leap-day child is 25, on 1 March 26
SELECT ok((SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$min_age => 25, max_age => 25, as_of => '2026-02-28 12:00+07',$$))
          AND NOT (SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$min_age => 26, as_of => '2026-02-28 12:00+07',$$))
          AND (SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$min_age => 26, max_age => 26, as_of => '2026-03-01 00:30+07',$$)),
          'born on 29 February: a year older on 1 March, in the shop''s time zone');
SELECT ok((SELECT id FROM p WHERE k = 'young') = ANY (pg_temp.ids($$max_age => 17, as_of => '2026-02-28 23:59+07',$$))
          AND NOT (SELECT id FROM p WHERE k = 'young') = ANY (pg_temp.ids($$max_age => 17, as_of => '2026-03-01 00:00+07',$$)),
          'eighteen on the birthday, not the day before');
SELECT is(pg_temp.ids($$min_age => 30, max_age => 39, as_of => '2026-06-01',$$),
          pg_temp.hand($$customer_mgmt.age_years(u.date_of_birth, '2026-06-01') BETWEEN 30 AND 39$$, 'u.created_at DESC, u.id DESC'),
          'an age range: as segments count age');
SELECT is(pg_temp.ids($$has_orders => false,$$), pg_temp.hand('a.total_orders = 0', 'u.created_at DESC, u.id DESC'),
          'never ordered: no completed order');
SELECT is(cardinality(pg_temp.ids($$has_orders => true,$$)) + cardinality(pg_temp.ids($$has_orders => false,$$)),
          (SELECT count(*)::int FROM customer_mgmt.users WHERE role = 'customer'), 'ordered and never ordered: every customer once');
SELECT is(pg_temp.ids($$has_pending_order => true, sort_by => 'fullName', sort_order => 'asc',$$),
          pg_temp.hand($$EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = u.id AND o.status IN ('pending', 'processing'))$$,
                       'u.full_name, u.id'),
          'an order in progress (pending or processing)');
SELECT ok((SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$has_pending_order => true,$$))
          AND NOT (SELECT id FROM p WHERE k = 'leap') = ANY (pg_temp.ids($$has_pending_order => false,$$)), 'the processing order counts');
SELECT is(pg_temp.ids($$external_id => 'KH-0042',$$), ARRAY[(SELECT id FROM p WHERE k = 'leap')], 'the shop''s own id, exactly');
SELECT is(pg_temp.ids($$external_id => 'kh-0042',$$), '{}'::uuid[], 'the shop''s id is matched as written');

-- every new filter mixed with the others and with every sort, against the tables
SELECT is(pg_temp.ids(format('province => %L, gender => %L, min_age => 20, has_orders => true, status => %L, sort_by => %L, sort_order => %L,',
                             'Hà Nội', 'male', 'active', s.sort_by, s.dir)),
          pg_temp.hand($$coalesce(pr.current_name, u.province) = 'Hà Nội' AND u.gender = 'male' AND u.status = 'active'
                         AND customer_mgmt.age_years(u.date_of_birth, (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) >= 20
                         AND a.total_orders > 0$$, s.ord),
          'a mix of the new filters sorted by ' || s.sort_by || ' ' || s.dir)
  FROM (VALUES ('createdAt', 'DESC', 'u.created_at DESC, u.id DESC'), ('fullName', 'ASC', 'u.full_name, u.id'),
               ('totalSpent', 'DESC', 'a.total_spent DESC, u.id DESC'), ('lastOrderDate', 'ASC', 'a.last_order_date NULLS LAST, u.id'),
               ('churnRiskScore', 'DESC', 'a.churn_risk_score DESC, u.id DESC')) s (sort_by, dir, ord);
SELECT is(pg_temp.ids($$search => 'nguyen', has_pending_order => false, max_age => 60, min_total_spent => 1000000, sort_by => 'totalOrders',$$),
          pg_temp.hand($$customer_mgmt.search_key(u.full_name, u.email, u.phone_number) LIKE '%nguyen%'
                         AND NOT EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = u.id AND o.status IN ('pending', 'processing'))
                         AND customer_mgmt.age_years(u.date_of_birth, (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) <= 60
                         AND a.total_spent >= 1000000$$, 'a.total_orders DESC, u.id DESC'),
          'a search mixed with the new filters');
SELECT is((customer_mgmt.get_customers(external_id => 'KH-0042') -> 'data' -> 0 ->> 'province'), 'Bình Dương',
          'list items carry the province as registered');

-- bad values, each naming its argument, nothing written
SELECT is(pg_temp.failure('SELECT customer_mgmt.get_customers(' || a || ')'), want, a)
  FROM (VALUES ($$province => 'Atlantis'$$, '22023 province'), ($$province => ''$$, '22023 province'),
               ($$gender => 'x'$$, '22023 gender'), ($$min_age => -1$$, '22023 min_age'), ($$max_age => 151$$, '22023 max_age'),
               ($$min_age => 30, max_age => 29$$, '22023 max_age'), ($$external_id => repeat('x', 201)$$, '22023 external_id'),
               ($$view_id => '00000000-0000-4000-8000-000000000001'$$, 'PT404')) v (a, want);
-- the export takes the same filters
SET LOCAL customer_mgmt.export_sheet_rows = 1048576;
SELECT is((SELECT count(*)::int - 1 FROM regexp_split_to_table(convert_from(
              customer_mgmt.export_customers(province => 'Hà Nội', has_orders => true, format => 'csv', columns => '{id}'), 'UTF8'),
              E'\r?\n') l WHERE l <> ''),
          cardinality(pg_temp.ids($$province => 'Hà Nội', has_orders => true,$$)), 'the export takes the new filters');

-- saved views: a staff member's, private or shared
CREATE FUNCTION pg_temp.act(who text, db_role text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt.claims',
                       json_build_object('role', db_role, 'sub', (SELECT id FROM p WHERE k = who))::text, true);
    EXECUTE format('SET LOCAL ROLE %I', db_role);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.act(text, text) TO PUBLIC;
CREATE TEMP TABLE v (k text PRIMARY KEY, dto jsonb);
GRANT ALL ON v TO PUBLIC;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
INSERT INTO v VALUES ('hn', customer_mgmt.save_customer_view('Hà Nội, đã mua', '{"province": "Hà Nội", "hasOrders": true}',
                                                             sort_by => 'totalSpent', is_shared => true)),
                     ('mine', customer_mgmt.save_customer_view('Chờ giao', '{"hasPendingOrder": true}'));
SELECT is((SELECT dto - 'id' - 'ownerId' - 'createdAt' - 'updatedAt' FROM v WHERE k = 'hn'),
          '{"name": "Hà Nội, đã mua", "filters": {"province": "Hà Nội", "hasOrders": true}, "sortBy": "totalSpent",
            "sortOrder": null, "isShared": true, "ownerName": "Phạm Lan"}'::jsonb, 'a view saved: its DTO');
SELECT is(pg_temp.ids(format('view_id => %L,', (SELECT dto ->> 'id' FROM v WHERE k = 'hn'))),
          pg_temp.ids($$province => 'Hà Nội', has_orders => true, sort_by => 'totalSpent',$$), 'a view applied: its filters and sort');
SELECT is(pg_temp.ids(format('view_id => %L, gender => %L, sort_by => %L, sort_order => %L,', (SELECT dto ->> 'id' FROM v WHERE k = 'hn'),
                             'female', 'fullName', 'ASC')),
          pg_temp.ids($$province => 'Hà Nội', has_orders => true, gender => 'female', sort_by => 'fullName', sort_order => 'ASC',$$),
          'arguments given with a view add to its filters and replace its sort');
SELECT is(customer_mgmt.save_customer_view('chờ giao', '{"hasPendingOrder": true, "minAge": 18}') ->> 'id',
          (SELECT dto ->> 'id' FROM v WHERE k = 'mine'), 'saving under the same name (any case) replaces the view');
SELECT is((SELECT array_agg(e ->> 'name' ORDER BY n) FROM jsonb_array_elements(customer_mgmt.get_customer_views() -> 'data')
                   WITH ORDINALITY x (e, n)),
          ARRAY['chờ giao', 'Hà Nội, đã mua'], 'views listed by name, ignoring case; the new spelling of a name kept');
SET LOCAL timezone = 'Asia/Ho_Chi_Minh';
SELECT is(customer_mgmt.save_customer_view('Từ đầu năm', '{"registeredAfter": "2026-01-01", "minTotalSpent": "1e6"}') -> 'filters',
          '{"registeredAfter": "2026-01-01T00:00:00+07:00", "minTotalSpent": 1000000}'::jsonb,
          'a view keeps its values as read: the time with its offset, the number as a number');
SELECT is(customer_mgmt.delete_customer_view((SELECT id FROM customer_mgmt.get_customer_views() x, jsonb_array_elements(x -> 'data') e,
                                              LATERAL (SELECT (e ->> 'id')::uuid AS id) i WHERE e ->> 'name' = 'Từ đầu năm')) ->> 'deleted',
          'true', 'and is deleted');
SELECT is(pg_temp.failure(q), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.save_customer_view('x', '{"minAge": "old"}')$$, '22023 minAge'),
               ($$SELECT customer_mgmt.save_customer_view('x', '{"province": "Atlantis"}')$$, '22023 province'),
               ($$SELECT customer_mgmt.save_customer_view('x', '{"colour": "red"}')$$, '22023 filters'),
               ($$SELECT customer_mgmt.save_customer_view('x', '{"sortBy": "fullName"}')$$, '22023 filters'),
               ($$SELECT customer_mgmt.save_customer_view('x', '[1]')$$, '22023 filters'),
               ($$SELECT customer_mgmt.save_customer_view('x', '{}', sort_by => 'age')$$, '22023 sort_by'),
               ($$SELECT customer_mgmt.save_customer_view('   ', '{}')$$, '22023 name'),
               ($$SELECT customer_mgmt.save_customer_view(repeat('x', 101), '{}')$$, '22023 name'),
               ($$SELECT customer_mgmt.save_customer_view('x', '{"segmentId": "00000000-0000-4000-8000-0000000000ff"}')$$, 'PT404'))
       x (q, want);
RESET ROLE;
SELECT pg_temp.act('minh', 'customer_mgmt_staff');
SELECT is((SELECT array_agg(e ->> 'name') FROM jsonb_array_elements(customer_mgmt.get_customer_views() -> 'data') e),
          ARRAY['Hà Nội, đã mua'], 'a colleague sees the shared view, not the private one');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.get_customers(view_id => %L)', (SELECT dto ->> 'id' FROM v WHERE k = 'mine'))),
          'PT404', 'nor applies it');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.delete_customer_view(%L)', (SELECT dto ->> 'id' FROM v WHERE k = 'hn'))),
          '42501', 'nor deletes the shared one');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true);
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.save_customer_view('x')$$), '42501', 'no acting user: no view saved');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_app');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_views()$$), '42501', 'the app role has no views');
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SET LOCAL customer_mgmt.export_sheet_rows = 1048576;
SELECT is((SELECT count(*)::int - 1 FROM regexp_split_to_table(convert_from(
              customer_mgmt.export_customers(view_id => (SELECT (dto ->> 'id')::uuid FROM v WHERE k = 'hn'), format => 'csv', columns => '{id}'),
              'UTF8'), E'\r?\n') l WHERE l <> ''),
          cardinality(pg_temp.ids(format('view_id => %L,', (SELECT dto ->> 'id' FROM v WHERE k = 'hn')))), 'the export applies a view');
SELECT is(customer_mgmt.delete_customer_view((SELECT (dto ->> 'id')::uuid FROM v WHERE k = 'hn')) ->> 'deleted', 'true',
          'an admin deletes a shared view');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is(customer_mgmt.delete_customer_view((SELECT (dto ->> 'id')::uuid FROM v WHERE k = 'mine')) ->> 'deleted', 'true',
          'the owner deletes her view');
SELECT is(customer_mgmt.get_customer_views() ->> 'total', '0', 'none left');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
