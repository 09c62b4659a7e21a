-- The segment language's attributes of 1.4 on a shop counted by hand: the
-- e-mail's domain, the first order's day, and membership of another saved
-- segment (segment = 'name'): its members at the time, missing segments and
-- cycles refused, a referred segment kept from renaming and deletion, and
-- the events evaluating a segment after those it refers to.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(19);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@Gmail.com', registered_at => '2026-01-05')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@cuahang.vn', registered_at => '2026-01-05')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@gmail.com', registered_at => '2026-01-05'));
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'an'), 30000000, 'completed', '2026-02-10 09:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'an'), 1000000, 'completed', '2026-06-10 09:00+07');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'binh'), 500000, 'completed', '2026-05-01 23:30+07');
SELECT count(customer_mgmt.calculate_customer_analytics(id)) FROM c;

CREATE FUNCTION pg_temp.members(query text) RETURNS text
    LANGUAGE sql AS $$
    SELECT coalesce(string_agg(c.k, ',' ORDER BY c.k), '')
      FROM jsonb_array_elements(customer_mgmt.preview_segment(query, page_size => 100) -> 'data') e
      JOIN c ON c.id = (e ->> 'id')::uuid
$$;

SELECT is(pg_temp.members('customer_email_domain = ''gmail.com'''), 'an,chi', 'the e-mail''s domain, in lower case');
SELECT is(pg_temp.members('first_order_date < DATE ''2026-03-01'''), 'an', 'the first completed order''s day');
SELECT is(pg_temp.members('first_order_date = DATE ''2026-05-01'''), 'binh', 'in the shop''s time zone (23:30 on 1 May in Hà Nội)');
SELECT is(pg_temp.members('first_order_date IS NULL AND customer_email_domain != ''cuahang.vn'''), 'chi', 'none without an order');

-- membership of another segment
SELECT customer_mgmt.create_segment('Khách lớn', 'total_spent >= 10000000') ->> 'id' AS big \gset
SELECT customer_mgmt.create_segment('Gmail', 'customer_email_domain = ''gmail.com''') ->> 'id' AS gmail \gset
SELECT is(pg_temp.members('segment = ''KHÁCH LỚN'''), 'an', 'segment = name: its members, the name in any case');
SELECT is(pg_temp.members('segment != ''Khách lớn'' AND segment IN (''Gmail'', ''Khách lớn'')'), 'chi', '!= and IN');
SELECT is(pg_temp.members('segment NOT IN (''Gmail'')'), 'binh', 'NOT IN');
SELECT customer_mgmt.create_segment('Gmail lớn', 'segment = ''Gmail'' AND segment = ''Khách lớn''') ->> 'id' AS both \gset
SELECT is((SELECT string_agg(c.k, ',' ORDER BY c.k) FROM customer_mgmt.customer_segment_assignments x JOIN c ON c.id = x.customer_id
            WHERE x.segment_id = :'both'), 'an', 'a segment of segments holds the members of both');

SELECT is(pg_temp.failure(q), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.preview_segment('segment = ''Không có''')$$, '22023 query'),
               ($$SELECT customer_mgmt.preview_segment('segment > ''Gmail''')$$, '22023 query'),
               ($$SELECT customer_mgmt.preview_segment('segment = 5')$$, '22023 query'),
               ($$SELECT customer_mgmt.preview_segment('segment IS NULL')$$, '22023 query')) v (q, want);
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_segment(%L, '{"query": "segment = ''Gmail lớn''"}')$$, :'gmail')),
          '22023 query', 'a cycle through another segment is refused');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_segment(%L, '{"query": "segment = ''gmail''"}')$$, :'gmail')),
          '22023 query', 'and a segment of itself');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_segment(%L, '{"name": "Khách rất lớn"}')$$, :'big')), 'P0001',
          'a segment another refers to is not renamed');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.delete_segment(%L)', :'big')), 'P0001', 'nor deleted');
SELECT is(customer_mgmt.update_segment(:'big', '{"name": "KHÁCH LỚN", "colorCode": "#AD1457"}') ->> 'name', 'KHÁCH LỚN',
          'a new case of the same name is no rename');

-- the events: Chi spends, joins Khách lớn and, in the same pass, Gmail lớn
SELECT is((SELECT array_agg(g.name::text ORDER BY g.reference_depth, g.name) FROM customer_mgmt.customer_segments g
            WHERE g.reference_depth > 0), ARRAY['Gmail lớn'],
          'a segment of segments is evaluated after those it refers to');
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'chi'), 20000000, 'completed', now() - interval '1 day');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'chi')) IS NOT NULL AS calculated \gset
SELECT is((SELECT string_agg(c.k, ',' ORDER BY c.k) FROM customer_mgmt.customer_segment_assignments x JOIN c ON c.id = x.customer_id
            WHERE x.segment_id = :'both'), 'an,chi', 'one calculation moves a customer through both levels');

SELECT * FROM finish();
ROLLBACK;
