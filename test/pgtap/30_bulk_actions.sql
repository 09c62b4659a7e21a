-- Bulk actions on a shop counted by hand: the preview's counts equal what
-- the run does; chunks that resume where they stopped; each customer
-- through the single-customer rules (tags over 20, a deactivation with an
-- order in progress or a recent login refused one by one, never half
-- applied); manual segments, notes; targets by filters, a saved view and a
-- segment; the audit log; who may run what; bad parameters.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(42);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn', province => 'Hà Nội')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn', province => 'Hà Nội')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@example.vn', province => 'Hà Nội')),
    ('dung', customer_mgmt.register_customer('Phạm Dũng', 'dung@example.vn', province => 'Hà Nội')),
    ('em', customer_mgmt.register_customer('Võ Em', 'em@example.vn', province => 'Đà Nẵng')),
    ('lan', customer_mgmt.register_staff('Phạm Lan', 'lan@cuahang.vn', 'staff')),
    ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
GRANT SELECT ON c TO PUBLIC;
-- Bình has 20 tags already; Chi an order in progress; Dũng logged in just now
SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'binh'), ARRAY(SELECT 't' || i FROM generate_series(1, 20) i));
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'chi'), 500000, 'pending');
SELECT customer_mgmt.record_login((SELECT id FROM c WHERE k = 'dung'), now() - interval '1 hour');
SELECT customer_mgmt.add_customer_tags((SELECT id FROM c WHERE k = 'an'), ARRAY['sỉ']);

CREATE FUNCTION pg_temp.act(who text, db_role text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt.claims',
                       json_build_object('role', db_role, 'sub', (SELECT id FROM c WHERE k = who))::text, true);
    EXECUTE format('SET LOCAL ROLE %I', db_role);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.act(text, text) TO PUBLIC;
CREATE TEMP TABLE r (k text PRIMARY KEY, v jsonb);
GRANT ALL ON r TO PUBLIC;

-- staff tag every customer of Hà Nội
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
INSERT INTO r VALUES ('preview', customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["Sỉ", "khách quen"]}',
                                                                  filters => '{"province": "Hà Nội"}'));
SELECT is((SELECT v - 'refusals' FROM r WHERE k = 'preview'),
          '{"customerCount": 4, "wouldApply": 3, "wouldBeUnchanged": 0, "wouldRefuse": 1}'::jsonb,
          'the preview: four customers, Bình refused (20 tags)');
SELECT is((SELECT v -> 'refusals' FROM r WHERE k = 'preview'),
          jsonb_build_array(jsonb_build_object('customerId', (SELECT id FROM c WHERE k = 'binh'), 'reason', 'would hold 22 tags: at most 20')),
          'with the refusal and its reason');
INSERT INTO r VALUES ('tags', customer_mgmt.start_bulk_action('add_tags', '{"tags": ["Sỉ", "khách quen"]}',
                                                              filters => '{"province": "Hà Nội"}'));
SELECT is((SELECT v ->> 'total' || ' ' || (v ->> 'done') || ' ' || (v ->> 'status') FROM r WHERE k = 'tags'), '4 0 running',
          'started: four customers, none done');
SELECT is((SELECT customer_mgmt.run_bulk_action((v ->> 'id')::bigint, 3) ->> 'done' FROM r WHERE k = 'tags'), '3', 'a chunk of three');
SELECT is((SELECT customer_mgmt.run_bulk_action((v ->> 'id')::bigint, 3) - 'id' - 'target' - 'params' - 'actorId' - 'startedAt' - 'finishedAt'
             FROM r WHERE k = 'tags'),
          '{"action": "add_tags", "status": "succeeded", "total": 4, "done": 4, "applied": 3, "unchanged": 0, "refused": 1}'::jsonb,
          'the next call resumes and finishes: the counts of the preview');
SELECT is((SELECT customer_mgmt.run_bulk_action((v ->> 'id')::bigint) ->> 'done' FROM r WHERE k = 'tags'), '4',
          'a call after the end does nothing');
RESET ROLE;
SELECT is((SELECT array_agg(k || ':' || array_to_string(customer_mgmt.customer_tag_array(c.id), '|') ORDER BY k) FROM c
            WHERE k IN ('an', 'chi', 'em')),
          ARRAY['an:sỉ|khách quen', 'chi:Sỉ|khách quen', 'em:'], 'tags as add_customer_tags adds them: the first spelling kept');
SELECT is(cardinality(customer_mgmt.customer_tag_array((SELECT id FROM c WHERE k = 'binh'))), 20,
          'the refused customer is untouched');
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is((SELECT customer_mgmt.get_bulk_action((v ->> 'id')::bigint) -> 'refusals' -> 'data' -> 0 ->> 'reason' FROM r WHERE k = 'tags'),
          'would hold 22 tags: at most 20', 'get_bulk_action lists the refusals');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(customer_mgmt.get_customer_timeline((SELECT id FROM c WHERE k = 'chi')) -> 'data') e
            WHERE e ->> 'type' = 'customer.tags_changed'), 1, 'each customer''s timeline shows the change');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.start_bulk_action('set_status', '{"status": "inactive"}', filters => '{}')$$),
          '42501', 'staff may not change statuses in bulk');
-- a table of the caller's own named as the extension might name one is
-- never used by the definer's code
CREATE TEMP TABLE cm_bulk_outcomes (customer_id uuid, outcome text, reason text, new_tags text[]);
CREATE FUNCTION pg_temp.trap() RETURNS trigger LANGUAGE plpgsql AS $t$ BEGIN RAISE EXCEPTION 'trapped'; END $t$;
CREATE TRIGGER trap BEFORE INSERT OR TRUNCATE ON cm_bulk_outcomes FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trap();
SELECT is(pg_temp.failure($$SELECT customer_mgmt.run_bulk_action((customer_mgmt.start_bulk_action('add_tags', '{"tags": ["x"]}',
              filters => '{"province": "Đà Nẵng"}') ->> 'id')::bigint)$$), 'no error', 'a temporary table of the caller''s is not used');
DROP TABLE cm_bulk_outcomes;
SELECT is(customer_mgmt.remove_customer_tags((SELECT id FROM c WHERE k = 'em'), ARRAY['x']) -> 'tags', '[]'::jsonb, 'x removed again');
SELECT is(customer_mgmt.run_bulk_action((customer_mgmt.start_bulk_action('add_note', '{"content": "Mời dự sự kiện tháng 12"}',
                                             filters => '{"tag": "khách quen"}') ->> 'id')::bigint) ->> 'applied', '3',
          'a note to every regular');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_notes WHERE content = 'Mời dự sự kiện tháng 12'
              AND author_id = (SELECT id FROM c WHERE k = 'lan')), 3, 'written by the acting staff member');
SELECT is((SELECT array_agg(action || ' ' || (changes ->> 'customers')::text ORDER BY id) FROM customer_mgmt.audit_log
            WHERE action = 'start_bulk_action'), ARRAY['start_bulk_action 4', 'start_bulk_action 1', 'start_bulk_action 3'], 'the audit log: each start');
SELECT is((SELECT changes - 'action' FROM customer_mgmt.audit_log WHERE action = 'finish_bulk_action' ORDER BY id LIMIT 1),
          '{"total": 4, "applied": 3, "unchanged": 0, "refused": 1}'::jsonb, 'and each end with its counts');

-- an admin deactivates; the rules refuse customer by customer
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
INSERT INTO r VALUES ('status-preview', customer_mgmt.preview_bulk_action('set_status', '{"status": "inactive", "reason": "Dọn danh sách"}',
                                                                         filters => '{"province": "Hà Nội"}'));
INSERT INTO r VALUES ('status', customer_mgmt.run_bulk_action((customer_mgmt.start_bulk_action(
    'set_status', '{"status": "inactive", "reason": "Dọn danh sách"}', filters => '{"province": "Hà Nội"}') ->> 'id')::bigint));
SELECT is((SELECT jsonb_build_array(v -> 'applied', v -> 'unchanged', v -> 'refused') FROM r WHERE k = 'status'),
          (SELECT jsonb_build_array(v -> 'wouldApply', v -> 'wouldBeUnchanged', v -> 'wouldRefuse') FROM r WHERE k = 'status-preview'),
          'the preview predicted what the rules did');
SELECT is((SELECT v ->> 'refused' FROM r WHERE k = 'status'), '2', 'an order in progress and a recent login refused');
SELECT is((SELECT array_agg(i ->> 'reason' ORDER BY i ->> 'reason') FROM r,
                  jsonb_array_elements(customer_mgmt.get_bulk_action((v ->> 'id')::bigint) -> 'refusals' -> 'data') i WHERE k = 'status'),
          ARRAY['Cannot deactivate customer with pending orders', 'Cannot deactivate customer with recent activity'],
          'each refusal with update_customer_status''s reason');
RESET ROLE;
SELECT is((SELECT array_agg(k || ':' || status ORDER BY k) FROM c JOIN customer_mgmt.users u USING (id) WHERE k <> 'lan' AND k <> 'hoa'),
          ARRAY['an:inactive', 'binh:inactive', 'chi:active', 'dung:active', 'em:active'], 'the others deactivated, with their history');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_status_history WHERE reason = 'Dọn danh sách'), 2, 'recorded as one change each');

-- a manual segment, by a saved view and by a segment's members
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT customer_mgmt.create_segment('Mời sự kiện', 'total_orders > 1000', auto_assign => false) ->> 'id' AS event_segment \gset
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT customer_mgmt.save_customer_view('Khách quen', '{"tag": "khach quen"}') ->> 'id' AS regulars \gset
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.start_bulk_action(%L, %L, view_id => %L)', 'assign_segment',
                                 jsonb_build_object('segmentId', :'event_segment'), :'regulars')), 'PT404',
          'another''s private view is not there');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT customer_mgmt.save_customer_view('Khách quen', '{"tag": "khach quen"}', is_shared => true) IS NOT NULL AS shared \gset
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(customer_mgmt.run_bulk_action((customer_mgmt.start_bulk_action('assign_segment',
              jsonb_build_object('segmentId', :'event_segment', 'expiresAt', now() + interval '30 days'), view_id => :'regulars') ->> 'id')::bigint)
              ->> 'applied', '3', 'the regulars of a shared view put in a manual segment, until a date');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_segment_assignments
            WHERE segment_id = :'event_segment' AND assigned_by = 'manual' AND expires_at > now()), 3, 'as manual assignments');
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT is(customer_mgmt.run_bulk_action((customer_mgmt.start_bulk_action('remove_from_segment',
              jsonb_build_object('segmentId', :'event_segment'), segment_id => :'event_segment') ->> 'id')::bigint) ->> 'applied', '3',
          'the members of a segment taken out of it');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE payload ->> 'segmentId' = :'event_segment'), 6,
          'each entry and exit in the outbox');
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');

-- bad parameters, nothing written
SELECT is(pg_temp.failure(q), want, q)
  FROM (VALUES ($$SELECT customer_mgmt.preview_bulk_action('delete', '{}', filters => '{}')$$, '22023 action'),
               ($$SELECT customer_mgmt.preview_bulk_action('add_tags', '{"tags": "vip"}', filters => '{}')$$, '22023 tags'),
               ($$SELECT customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["vip"], "colour": "red"}', filters => '{}')$$, '22023 colour'),
               ($$SELECT customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["vip"]}')$$, '22023 filters'),
               ($$SELECT customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["vip"]}', filters => '{"minAge": "old"}')$$, '22023 minAge'),
               ($$SELECT customer_mgmt.preview_bulk_action('set_status', '{"status": "gone"}', filters => '{}')$$, '22023 status'),
               ($$SELECT customer_mgmt.preview_bulk_action('assign_segment', '{"segmentId": "00000000-0000-4000-8000-000000000001"}', filters => '{}')$$, 'P0001'),
               ($$SELECT customer_mgmt.run_bulk_action(-1)$$, 'PT404'),
               ($$SELECT customer_mgmt.run_bulk_action(1, 0)$$, '22023 max_customers')) v (q, want);
RESET ROLE;
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT customer_mgmt.start_bulk_action('add_tags', '{"tags": ["y"]}', filters => '{"province": "Đà Nẵng"}') ->> 'id' AS admins \gset
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_staff');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.run_bulk_action(%s)', :admins)), '42501', 'staff run only the actions they started');
SELECT is(pg_temp.failure(format('SELECT customer_mgmt.get_bulk_action(%s)', :admins)), '42501', 'nor read another''s');
RESET ROLE;
SELECT pg_temp.act('lan', 'customer_mgmt_app');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_bulk_action('add_tags', '{"tags": ["x"]}', filters => '{}')$$), '42501',
          'the app runs no bulk action');
RESET ROLE;

-- a customer merged into another while the action runs is counted unchanged:
-- the action still finishes with every customer done
INSERT INTO c VALUES
    ('x1', customer_mgmt.register_customer('Đỗ Xuân', 'xuan@example.vn', province => 'Cần Thơ')),
    ('x2', customer_mgmt.register_customer('Đỗ Xuân', 'xuan.do@example.vn', province => 'Cần Thơ'));
SELECT pg_temp.act('hoa', 'customer_mgmt_admin');
SELECT customer_mgmt.start_bulk_action('add_tags', '{"tags": ["miền Tây"]}', filters => '{"province": "Cần Thơ"}') ->> 'id' AS merged \gset
SELECT customer_mgmt.merge_customers((SELECT id FROM c WHERE k = 'x1'), ARRAY[(SELECT id FROM c WHERE k = 'x2')]) IS NOT NULL;
SELECT is((SELECT r ->> 'status' || ' ' || (r ->> 'total') || ' ' || (r ->> 'done') || ' ' || (r ->> 'applied') || ' ' || (r ->> 'unchanged')
             FROM customer_mgmt.run_bulk_action(:merged) r),
          'succeeded 2 2 1 1', 'a customer merged away meanwhile: unchanged, and the action finishes');
RESET ROLE;
SELECT is(customer_mgmt.customer_tag_array((SELECT id FROM c WHERE k = 'x1')), ARRAY['miền Tây'], 'the survivor tagged');
SELECT is(pg_temp.list_drift(), 0::bigint, 'customer_list equals users after the bulk actions');

SELECT * FROM finish();
ROLLBACK;
