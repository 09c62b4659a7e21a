-- Internal notes: the DTO's rules with their SQLSTATEs, ownership
-- under each role with request.jwt.claims as PostgREST sets them, system
-- notes, filters and paging.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(63);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn')),
    ('lan', customer_mgmt.register_staff('Phạm Lan', 'lan@cuahang.vn', 'staff')),
    ('minh', customer_mgmt.register_staff('Đỗ Minh', 'minh@cuahang.vn', 'staff')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
GRANT SELECT ON p TO PUBLIC;

-- act as a user, as PostgREST does: the role and the JWT's claims
CREATE FUNCTION pg_temp.act(who text, db_role text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt.claims',
                       json_build_object('role', db_role, 'sub', (SELECT id FROM p WHERE k = who))::text, true);
    EXECUTE format('SET LOCAL ROLE %I', db_role);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.act(text, text) TO PUBLIC;

SELECT pg_temp.act('lan', 'customer_mgmt_staff');
CREATE TEMP TABLE n AS
    SELECT 'first'::text AS k, customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), '  Khách hàng hỏi về bảo hành.  ') AS dto;
SELECT is((SELECT dto - 'id' - 'createdAt' - 'updatedAt' FROM n WHERE k = 'first'),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'an'), 'authorId', (SELECT id FROM p WHERE k = 'lan'),
                             'authorName', 'Phạm Lan', 'title', NULL, 'content', 'Khách hàng hỏi về bảo hành.',
                             'type', 'general', 'priority', 'medium', 'isInternal', true, 'tags', '[]'::jsonb),
          'staff add a note: the author is the acting user, the defaults of the design, the content trimmed');
INSERT INTO n SELECT 'second', customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'Đã gọi lại, khách hài lòng',
                                                               'support', 'high', 'Gọi lại', false, '["VIP", " vip ", "Hà Nội"]');
SELECT is((SELECT dto -> 'tags' FROM n WHERE k = 'second'), '["VIP", "Hà Nội"]'::jsonb, 'tags trimmed, repeats ignoring case dropped');
SELECT is((SELECT dto ->> 'type' || ' ' || (dto ->> 'priority') || ' ' || (dto ->> 'title') || ' ' || (dto ->> 'isInternal')
             FROM n WHERE k = 'second'), 'support high Gọi lại false', 'type, priority, title and isInternal as given');
SELECT is(length(customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'binh'), repeat('x', 5000)) ->> 'content'), 5000,
          'content of 5,000 characters');

-- the DTO's rules, each with its field
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.add_customer_note(%L, %s)', (SELECT id FROM p WHERE k = 'an'), v)), want, v)
  FROM (VALUES ('NULL', '22023 content'), ($$'   '$$, '22023 content'), ($$repeat('x', 5001)$$, '22023 content'),
               ($$E'a\x01b'$$, '22023 content'),
               ($$'x', title => repeat('t', 256)$$, '22023 title'),
               ($$'x', type => 'urgent'$$, '22023 type'), ($$'x', type => 'system'$$, '22023 type'),
               ($$'x', priority => 'extreme'$$, '22023 priority'), ($$'x', is_internal => NULL$$, '22023 is_internal'),
               ($$'x', tags => '"vip"'$$, '22023 tags'), ($$'x', tags => '[1]'$$, '22023 tags'),
               ($$'x', tags => '["  "]'$$, '22023 tags'), ($$'x', tags => to_jsonb(ARRAY[repeat('t', 51)])$$, '22023 tags'),
               ($$'x', tags => (SELECT jsonb_agg(i::text) FROM generate_series(1, 21) i)$$, '22023 tags')) v(v, want);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_note('00000000-0000-4000-8000-0000000000ff', 'x')$$), 'PT404',
          'a customer that does not exist');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.add_customer_note(NULL, 'x')$$), '22023 customer_id', 'no customer');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.add_customer_note(%L, %L)', (SELECT id FROM p WHERE k = 'lan'), 'x')),
          'PT404', 'a staff member is not a customer');
RESET ROLE;

-- who may write
SELECT set_config('request.jwt.claims', '', true);
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.add_customer_note(%L, %L)', (SELECT id FROM p WHERE k = 'an'), 'x')),
          '42501', 'no acting user: refused');
RESET ROLE;
SELECT pg_temp.act('binh', 'customer_mgmt_staff');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.add_customer_note(%L, %L)', (SELECT id FROM p WHERE k = 'an'), 'x')),
          '42501', 'an acting user who is a customer: refused');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_app');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.add_customer_note(%L, %L)', (SELECT id FROM p WHERE k = 'an'), 'x')),
          '42501', 'the app role may not write notes');
RESET ROLE;

-- changes: staff their own, admins any
SELECT pg_temp.act('minh', 'customer_mgmt_staff');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_note(%L, '{"content": "sửa"}')$$, (SELECT dto ->> 'id' FROM n WHERE k = 'first'))),
          '42501', 'staff may not change a colleague''s note');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.delete_customer_note(%L)', (SELECT dto ->> 'id' FROM n WHERE k = 'first'))),
          '42501', 'nor delete it');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is(customer_mgmt.update_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'first'),
                                             '{"content": "Khách hỏi về bảo hành 24 tháng", "priority": "low", "tags": ["bảo hành"]}')
              - 'id' - 'createdAt' - 'updatedAt' - 'customerId' - 'authorId',
          '{"authorName": "Phạm Lan", "title": null, "content": "Khách hỏi về bảo hành 24 tháng", "type": "general",
            "priority": "low", "isInternal": true, "tags": ["bảo hành"]}'::jsonb,
          'the author changes her note; absent keys unchanged');
SELECT is(customer_mgmt.update_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'first'), '{"title": null}') ->> 'title',
          NULL, 'a title removed');
SELECT is(pg_temp.failure(format(q, (SELECT dto ->> 'id' FROM n WHERE k = 'first'))), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.update_customer_note(%L, '{"colour": "red"}')$$, '22023 colour'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"isInternal": "yes"}')$$, '22023 isInternal'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"content": ""}')$$, '22023 content'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"content": 5}')$$, '22023 content'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"type": "system"}')$$, '22023 type'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"priority": "urgent"}')$$, '22023 priority'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '{"tags": "vip"}')$$, '22023 tags'),
               ($$SELECT customer_mgmt.update_customer_note(%L, '[]')$$, '22023 changes')) v(q, want);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_customer_note('00000000-0000-4000-8000-0000000000ff', '{}')$$), 'PT404',
          'a note that does not exist');
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(customer_mgmt.update_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'second'), '{"priority": "critical"}') ->> 'priority',
          'critical', 'an admin changes anyone''s note');
SELECT is(customer_mgmt.update_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'second'), '{}') ->> 'authorName',
          'Phạm Lan', 'the author stays the author');
RESET ROLE;

-- system notes keep their words
SELECT customer_mgmt.churn_detected((SELECT id FROM p WHERE k = 'binh'), 0.9);
INSERT INTO n SELECT 'system', customer_mgmt.note_dto(x) FROM customer_mgmt.customer_notes x
 WHERE x.customer_id = (SELECT id FROM p WHERE k = 'binh') AND x.type = 'system';
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_note(%L, '{"content": "x"}')$$, (SELECT dto ->> 'id' FROM n WHERE k = 'system'))),
          'P0001', 'not even an admin changes a system note''s content');
SELECT is(customer_mgmt.update_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'system'), '{"tags": ["retention"]}') -> 'tags',
          '["retention"]'::jsonb, 'its tags may change');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is(pg_temp.failure(format($$SELECT customer_mgmt.update_customer_note(%L, '{"priority": "low"}')$$, (SELECT dto ->> 'id' FROM n WHERE k = 'system'))),
          '42501', 'staff do not own a system note');
RESET ROLE;

-- the list of a customer's notes
SELECT pg_temp.act('minh', 'customer_mgmt_staff');
SELECT customer_mgmt.add_customer_note((SELECT id FROM p WHERE k = 'an'), 'Khiếu nại giao hàng chậm', 'complaint', 'critical',
                                       tags => '["Giao hàng"]');
CREATE FUNCTION pg_temp.notes(page jsonb) RETURNS text
    LANGUAGE sql AS $$ SELECT string_agg(e ->> 'content', ' | ' ORDER BY o) FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY x(e, o) $$;
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'))),
          'Khiếu nại giao hàng chậm | Đã gọi lại, khách hài lòng | Khách hỏi về bảo hành 24 tháng', 'newest first');
SELECT is((customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an')) - 'data'),
          '{"total": 3, "page": 1, "pageSize": 20, "totalPages": 1, "totalIsEstimate": false}'::jsonb, 'the envelope');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), type => 'support')),
          'Đã gọi lại, khách hài lòng', 'by type');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), priority => 'critical')),
          'Khiếu nại giao hàng chậm | Đã gọi lại, khách hài lòng', 'by priority');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), tag => 'giao HÀNG')),
          'Khiếu nại giao hàng chậm', 'by tag, ignoring case');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), search => 'BAO HANH')),
          'Khách hỏi về bảo hành 24 tháng', 'search, case- and accent-insensitive, over the content');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), search => 'goi lai')),
          'Đã gọi lại, khách hài lòng', 'and the title');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), search => '100%')), NULL,
          '% is literal');
SELECT is(pg_temp.notes(customer_mgmt.get_customer_notes((SELECT id FROM p WHERE k = 'an'), page => 2, page_size => 1)),
          'Đã gọi lại, khách hài lòng', 'paging');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.get_customer_notes(%L, %s)', (SELECT id FROM p WHERE k = 'an'), v)), want, v)
  FROM (VALUES ($$type => 'urgent'$$, '22023 type'), ($$priority => 'x'$$, '22023 priority'),
               ($$page => 0$$, '22023 page'), ($$page_size => 101$$, '22023 page_size'),
               ($$search => repeat('x', 201)$$, '22023 search'), ($$tag => repeat('x', 51)$$, '22023 tag')) v(v, want);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customer_notes('00000000-0000-4000-8000-0000000000ff')$$), 'PT404',
          'the notes of a customer who does not exist');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(customer_mgmt.get_customer((SELECT id FROM p WHERE k = 'an')) -> 'recentNotes' -> 0) k),
          ARRAY['authorId', 'authorName', 'content', 'createdAt', 'customerId', 'id', 'isInternal', 'priority', 'tags', 'title',
                'type', 'updatedAt'], 'get_customer''s recentNotes are CustomerNoteDto');
RESET ROLE;

-- deleting
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is(customer_mgmt.delete_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'first')) ->> 'deleted', 'true',
          'the author deletes her note');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.delete_customer_note(%L)', (SELECT dto ->> 'id' FROM n WHERE k = 'first'))),
          'PT404', 'it is gone');
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(customer_mgmt.delete_customer_note((SELECT (dto ->> 'id')::uuid FROM n WHERE k = 'system')) ->> 'deleted', 'true',
          'an admin deletes a system note');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_notes WHERE customer_id IN (SELECT id FROM p)), 3, 'three notes remain');

SELECT * FROM finish();
ROLLBACK;
