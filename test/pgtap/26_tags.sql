-- Customer tags: added and removed by staff, matched without case or
-- accents with the first spelling kept, limited as notes' tags are; shown in
-- the list, the detail, the export and the timeline; the list's filter and
-- the segment attribute customer_tags against the tags counted by hand; the
-- audit log; anonymisation and merges; bad input and the app role.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(35);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@example.vn')),
    ('dung', customer_mgmt.register_customer('Phạm Dũng', 'dung@example.vn')),
    ('lan', customer_mgmt.register_staff('Phạm Lan', 'lan@cuahang.vn', 'staff'));
GRANT SELECT ON c TO PUBLIC;
SELECT set_config('request.jwt.claims', json_build_object('role', 'customer_mgmt_staff', 'sub', (SELECT id FROM c WHERE k = 'lan'))::text, true);
SET LOCAL ROLE customer_mgmt_staff;

SELECT is(customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'an'), ARRAY['Sỉ', ' khách quen ', 'si', 'KHÁCH QUEN']) - 'customerId',
          '{"tags": ["Sỉ", "khách quen"], "added": ["Sỉ", "khách quen"]}'::jsonb,
          'tags added trimmed, repeats ignoring case and accents dropped, the first spelling kept');
SELECT is(customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'an'), ARRAY['SỈ', 'đã khiếu nại']) - 'customerId',
          '{"tags": ["Sỉ", "khách quen", "đã khiếu nại"], "added": ["đã khiếu nại"]}'::jsonb,
          'a tag the customer has is not added again, in any spelling');
SELECT is(customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'binh'), ARRAY['si']) -> 'tags', '["si"]'::jsonb,
          'another customer keeps their own spelling');
SELECT is(customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'chi'), ARRAY['khach quen']) -> 'added', '["khach quen"]'::jsonb,
          'Chi is a regular too');
SELECT is(customer_mgmt.remove_customer_tags((SELECT id FROM c WHERE k = 'an'), ARRAY['Da khieu nai', 'vip']) - 'customerId',
          '{"tags": ["Sỉ", "khách quen"], "removed": ["đã khiếu nại"]}'::jsonb,
          'removed ignoring case and accents; a tag the customer does not have is no error');

-- shown everywhere
SELECT is(customer_mgmt.get_customer((SELECT id FROM c WHERE k = 'an')) -> 'tags', '["Sỉ", "khách quen"]'::jsonb, 'in the detail');
SELECT is((SELECT e -> 'tags' FROM jsonb_array_elements(customer_mgmt.get_customers(search => 'an@example.vn') -> 'data') e),
          '["Sỉ", "khách quen"]'::jsonb, 'in the list item');
SELECT is((SELECT array_agg(e ->> 'type' ORDER BY e ->> 'at') FROM jsonb_array_elements(
               customer_mgmt.get_customer_timeline((SELECT id FROM c WHERE k = 'an')) -> 'data') e WHERE e ->> 'type' = 'customer.tags_changed'),
          ARRAY['customer.tags_changed', 'customer.tags_changed', 'customer.tags_changed'], 'in the timeline, each change');
SELECT is((SELECT e -> 'payload' FROM jsonb_array_elements(customer_mgmt.get_customer_timeline((SELECT id FROM c WHERE k = 'an')) -> 'data') e
            WHERE e ->> 'type' = 'customer.tags_changed' AND e -> 'payload' ? 'removed'),
          '{"removed": ["đã khiếu nại"]}'::jsonb, 'with what changed');
SELECT is((SELECT e ->> 'actorName' FROM jsonb_array_elements(customer_mgmt.get_customer_timeline((SELECT id FROM c WHERE k = 'an')) -> 'data') e
            WHERE e ->> 'type' = 'customer.tags_changed' LIMIT 1),
          'Phạm Lan', 'and who changed it');

-- the list's filter and the segment attribute, against the tags by hand
SELECT is((SELECT array_agg(c.k ORDER BY c.k) FROM jsonb_array_elements(customer_mgmt.get_customers(tag => 'KHÁCH QUEN') -> 'data') e
             JOIN c ON c.id = (e ->> 'id')::uuid),
          ARRAY['an', 'chi'], 'the list filters by a tag in any spelling');
SELECT is((SELECT array_agg(c.k ORDER BY c.k) FROM jsonb_array_elements(customer_mgmt.get_customers(tag => 'sỉ', search => 'example.vn') -> 'data') e
             JOIN c ON c.id = (e ->> 'id')::uuid),
          ARRAY['an', 'binh'], 'mixed with a search');
SELECT is((customer_mgmt.get_customers(tag => 'không có') ->> 'total')::int, 0, 'a tag nobody has');
SELECT is((SELECT array_agg(c.k ORDER BY c.k) FROM jsonb_array_elements(
               customer_mgmt.preview_segment('customer_tags CONTAINS ''khach quen'' AND NOT customer_tags CONTAINS ''Sỉ''') -> 'data') e
             JOIN c ON c.id = (e ->> 'id')::uuid),
          ARRAY['chi'], 'the segment attribute customer_tags, folded');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_tags t
            WHERE t.tag_key = 'si' AND t.customer_id IN (SELECT id FROM c)), 2, 'customer_tags holds the folded tag');
SELECT is(pg_temp.list_drift(), 0::bigint, 'customer_list equals users after the tags changed');

-- the audit log
SELECT is((SELECT array_agg(action || ':' || changes::text ORDER BY id) FROM customer_mgmt.audit_log
            WHERE target_id = (SELECT id FROM c WHERE k = 'an')::text),
          ARRAY['add_customer_tags:{"added": ["Sỉ", "khách quen"]}', 'add_customer_tags:{"added": ["đã khiếu nại"]}',
                'remove_customer_tags:{"removed": ["đã khiếu nại"]}'],
          'the audit log records each change, not the calls that changed nothing');
SELECT is((SELECT DISTINCT actor_id FROM customer_mgmt.audit_log WHERE action = 'add_customer_tags'), (SELECT id FROM c WHERE k = 'lan'),
          'by the acting staff member');

-- the export
SET LOCAL customer_mgmt.export_sheet_rows = 1048576;
SELECT alike(convert_from(customer_mgmt.export_customers(tag => 'sỉ', format => 'csv', columns => '{email,tags}', sort_by => 'email', sort_order => 'ASC'), 'UTF8'),
            E'%an@example.vn,"Sỉ, khách quen"\r\nbinh@example.vn,si\r\n', 'the export has a tags column and the filter');

-- limits and bad input
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure(q), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), NULL)$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), '{}')$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY['  '])$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY[repeat('x', 51)])$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY[E'a\x01b'])$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY['a', NULL])$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY(SELECT 't' || i FROM generate_series(1, 21) i))$$, '22023 tags'),
               ($$SELECT customer_mgmt.add_customer_tags(NULL, ARRAY['x'])$$, '22023 customer_id'),
               ($$SELECT customer_mgmt.add_customer_tags('00000000-0000-4000-8000-0000000000ff', ARRAY['x'])$$, 'PT404'),
               ($$SELECT customer_mgmt.get_customers(tag => repeat('x', 51))$$, '22023 tag')) v (q, want);
SELECT is(customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY(SELECT 't' || i FROM generate_series(1, 15) i)) -> 'added' ->> 14,
          't15', 'fifteen tags');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY['a', 'b', 'c', 'd', 'e', 'f'])$$),
          '22023 tags', 'not past 20 in all');
RESET ROLE;
SELECT set_config('request.jwt.claims', json_build_object('role', 'customer_mgmt_app', 'sub', (SELECT id FROM c WHERE k = 'lan'))::text, true);
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'dung'), ARRAY['x'])$$), '42501',
          'the app may not tag');
RESET ROLE;

-- a merge keeps the tags of both; anonymisation drops them
SELECT customer_mgmt.merge_customers((SELECT id FROM c WHERE k = 'chi'), ARRAY[(SELECT id FROM c WHERE k = 'binh')]) IS NOT NULL AS merged \gset
SELECT is(customer_mgmt.customer_tag_array((SELECT id FROM c WHERE k = 'chi')), ARRAY['khach quen', 'si'],
          'a merge: the survivor''s tags, then the duplicate''s it lacked');
SELECT customer_mgmt.anonymize_customer((SELECT id FROM c WHERE k = 'an'), 'Yêu cầu xoá dữ liệu') IS NOT NULL AS anonymized \gset
SELECT is(customer_mgmt.customer_tag_array((SELECT id FROM c WHERE k = 'an')), '{}'::text[], 'anonymisation drops the tags');
SELECT is(pg_temp.list_drift(), 0::bigint, 'and the list follows');

SELECT * FROM finish();
ROLLBACK;
