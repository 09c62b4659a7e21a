-- One person, one customer (docs/duplicates.md): duplicates in every spelling
-- a Vietnamese shop sees are found with their reasons, a dismissed pair
-- stays away, anonymised customers are never candidates; a merge moves
-- everything a duplicate owns, its preview writes nothing and says the
-- same, the survivor's analytics equal those of one customer created with
-- the union of the orders, the old ids resolve, and every bad argument is
-- refused.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(52);

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
GRANT SELECT ON p TO PUBLIC;
INSERT INTO p VALUES ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);
INSERT INTO p VALUES
    -- the same phone, spelled twice
    ('phone1', customer_mgmt.register_customer('Trần Văn Nam', 'nam.tran@example.vn', '0903 123 456', registered_at => now() - interval '400 days')),
    ('phone2', customer_mgmt.register_customer('Tran Nam', 'namtran.shop@example.vn', '+84903123456', registered_at => now() - interval '100 days')),
    -- one Gmail mailbox: dots, a +tag, capitals
    ('mail1', customer_mgmt.register_customer('Lê Thị Mai', 'le.thi.mai@gmail.com', registered_at => now() - interval '300 days')),
    ('mail2', customer_mgmt.register_customer('Mai Le', 'LeThiMai+sale@Gmail.com', registered_at => now() - interval '50 days')),
    -- the name with and without accents, the same birth date
    ('name1', customer_mgmt.register_customer('Nguyễn Thị Thu Hà', 'thuha@example.vn', date_of_birth => '1990-04-30', registered_at => now() - interval '500 days')),
    ('name2', customer_mgmt.register_customer('nguyen thi thu ha', 'ha.nguyen@example.vn', date_of_birth => '1990-04-30', registered_at => now() - interval '20 days')),
    -- a similar name at the same address
    ('addr1', customer_mgmt.register_customer('Phạm Minh Tuấn', 'tuan@example.vn', registered_at => now() - interval '200 days')),
    ('addr2', customer_mgmt.register_customer('Phạm Tuấn', 'pmtuan@example.vn', registered_at => now() - interval '10 days')),
    -- nobody's twin
    ('alone', customer_mgmt.register_customer('Đỗ Quang Vinh', 'vinh@example.vn', '0912000111')),
    -- a twin who was erased
    ('erased', customer_mgmt.register_customer('Đỗ Quang Vinh', 'vinh2@example.vn', '0912 000 111'));
SELECT customer_mgmt.add_customer_address(id, 'Phạm Minh Tuấn', '0987654321', '12 Lý Thường Kiệt', 'Phường Cửa Nam', 'Hoàn Kiếm', 'Hà Nội', true)
  FROM p WHERE k IN ('addr1', 'addr2');
SELECT customer_mgmt.anonymize_customer((SELECT id FROM p WHERE k = 'erased'), 'asked');

SELECT is(customer_mgmt.refresh_duplicate_candidates() ->> 'pairs', '4', 'four pairs found');
CREATE TEMP TABLE found AS
SELECT (SELECT string_agg(k, '+' ORDER BY k) FROM p WHERE p.id::text IN (c -> 'customerIds' ->> 0, c -> 'customerIds' ->> 1)) AS pair,
       c -> 'reasons' AS reasons, (c ->> 'score')::numeric AS score
  FROM jsonb_array_elements(customer_mgmt.find_duplicate_customers(page_size => 100) -> 'data') c;
SELECT is((SELECT reasons FROM found WHERE pair = 'phone1+phone2'), '["phone"]', 'one phone in two spellings');
SELECT is((SELECT reasons FROM found WHERE pair = 'mail1+mail2'), '["email"]', 'one Gmail mailbox: dots, +tag, capitals');
SELECT is((SELECT reasons FROM found WHERE pair = 'name1+name2'), '["name_birth_date"]', 'one name with and without accents, one birth date');
SELECT is((SELECT reasons FROM found WHERE pair = 'addr1+addr2'), '["similar_name_address"]',
          'a similar name at the same address');
SELECT is((SELECT count(*)::int FROM found WHERE pair LIKE '%alone%' OR pair LIKE '%erased%'), 0, 'an erased customer is never a candidate');
SELECT is((SELECT score FROM found WHERE pair = 'mail1+mail2'), 0.950, 'the score of a reason');
SELECT is((SELECT jsonb_agg(c -> 'reasons') FROM jsonb_array_elements(customer_mgmt.find_duplicate_customers(reason => 'phone') -> 'data') c),
          '[["phone"]]', 'filtered by reason');
SELECT is((customer_mgmt.find_duplicate_customers(min_score => 0.85) ->> 'total')::int, 2, 'and by score');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_duplicate_customers(reason => 'nickname')$$), '22023 reason', 'an unknown reason');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.find_duplicate_customers(min_score => 2)$$), '22023 min_score', 'a score above 1');

-- dismissed: never again
SELECT customer_mgmt.dismiss_duplicate((SELECT id FROM p WHERE k = 'addr2'), (SELECT id FROM p WHERE k = 'addr1'));
SELECT customer_mgmt.refresh_duplicate_candidates();
SELECT is((customer_mgmt.find_duplicate_customers() ->> 'total')::int, 3, 'a dismissed pair does not come back');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.dismiss_duplicate((SELECT id FROM p WHERE k = 'alone'), (SELECT id FROM p WHERE k = 'alone'))$$),
          '22023 other_id', 'a customer is not their own duplicate');

-- the duplicates' lives: orders, visits, addresses, notes, a status change, a manual segment
SELECT customer_mgmt.record_order(id, amount, 'completed', now() - (d || ' days')::interval,
                                  '[{"productName": "Áo dài", "category": "Thời trang", "brand": "Lụa Hà Đông", "unitPrice": 250000, "quantity": 2}]')
  FROM p, (VALUES ('phone1', 500000, 380), ('phone1', 300000, 200), ('phone2', 700000, 40), ('phone2', 150000, 5)) o(k2, amount, d)
 WHERE p.k = o.k2;
SELECT customer_mgmt.record_session(id, now() - interval '3 days', 300, 6, true) FROM p WHERE k IN ('phone1', 'phone2');
SELECT customer_mgmt.add_customer_address(id, 'Trần Văn Nam', '0903123456', '5 Nguyễn Huệ', 'Phường Bến Nghé', 'Quận 1', 'Hồ Chí Minh', true)
  FROM p WHERE k IN ('phone1', 'phone2');
SELECT customer_mgmt.add_customer_address(id, 'Trần Văn Nam', '0903123456', '20 Lê Lợi', 'Phường Bến Thành', 'Quận 1', 'Hồ Chí Minh')
  FROM p WHERE k = 'phone2';
SELECT customer_mgmt.add_customer_note(id, 'Khách hỏi về đổi hàng', 'support')
  FROM p WHERE k = 'phone2';
SELECT customer_mgmt.update_customer_status(id, 'inactive', 'yêu cầu tạm dừng') FROM p WHERE k = 'phone2';
SELECT customer_mgmt.create_segment('khach-quen', query => 'total_orders > 1000', description => 'Khách quen của cửa hàng', auto_assign => false) AS seg \gset
SELECT customer_mgmt.assign_customer_segments((SELECT id FROM p WHERE k = 'phone2'), ARRAY[(:'seg'::jsonb ->> 'id')::uuid]);
-- the same orders and visits on one customer created directly
INSERT INTO p VALUES ('direct', customer_mgmt.register_customer('Trần Văn Nam', 'direct@example.vn', '0903 123 456',
                                                                registered_at => now() - interval '400 days'));
SELECT customer_mgmt.record_order((SELECT id FROM p WHERE k = 'direct'), amount, 'completed', now() - (d || ' days')::interval,
                                  '[{"productName": "Áo dài", "category": "Thời trang", "brand": "Lụa Hà Đông", "unitPrice": 250000, "quantity": 2}]')
  FROM (VALUES (500000, 380), (300000, 200), (700000, 40), (150000, 5)) o(amount, d);
SELECT customer_mgmt.record_session((SELECT id FROM p WHERE k = 'direct'), now() - interval '3 days', 300, 6, true) FROM generate_series(1, 2);
SELECT customer_mgmt.calculate_customer_analytics(id) FROM p WHERE k IN ('phone1', 'phone2', 'direct');

-- the preview writes nothing and says what the merge does
SELECT pg_temp.shop_counts() AS before \gset
SELECT customer_mgmt.preview_merge((SELECT id FROM p WHERE k = 'phone1'), ARRAY[(SELECT id FROM p WHERE k = 'phone2')],
                                   jsonb_build_object('email', (SELECT id FROM p WHERE k = 'phone2'))) AS preview \gset
SELECT is(pg_temp.shop_counts(), :'before', 'the preview writes nothing');
SELECT is((SELECT count(*)::int FROM customer_mgmt.users WHERE id = (SELECT id FROM p WHERE k = 'phone2')), 1, 'the duplicate is still there');
SELECT is(((:'preview'::jsonb) -> 'moved') - 'events',
          '{"orders": 2, "sessions": 1, "addresses": 1, "addressesAlreadyKnown": 1, "notes": 1, "statusHistory": 1,
            "segmentAssignments": 1, "marketingConsents": 0}'::jsonb,
          'the preview counts what moves (the address the survivor has already stays behind)');
SELECT is((:'preview'::jsonb) -> 'profile' -> 'email',
          jsonb_build_object('value', 'namtran.shop@example.vn', 'from', (SELECT id FROM p WHERE k = 'phone2')),
          'the profile says where each value comes from');
SELECT is((:'preview'::jsonb) #>> '{analyticsAfter,totalOrders}', '4', 'and the analytics after: four orders');

-- the merge
SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'phone1'), ARRAY[(SELECT id FROM p WHERE k = 'phone2')],
                                     jsonb_build_object('email', (SELECT id FROM p WHERE k = 'phone2'))) AS merged \gset
SELECT is(((:'merged'::jsonb) -> 'moved') - 'events', ((:'preview'::jsonb) -> 'moved') - 'events', 'the merge moves what the preview said');
SELECT is((:'merged'::jsonb) -> 'analyticsAfter', (:'preview'::jsonb) -> 'analyticsAfter', 'and ends with the analytics it showed');
SELECT is((SELECT count(*)::int FROM customer_mgmt.users WHERE id = (SELECT id FROM p WHERE k = 'phone2')), 0,
          'the duplicate no longer exists as a customer');
SELECT is((SELECT u.email FROM customer_mgmt.users u WHERE u.id = (SELECT id FROM p WHERE k = 'phone1')), 'namtran.shop@example.vn',
          'the survivor took the e-mail chosen');
SELECT is(customer_mgmt.get_customer((SELECT id FROM p WHERE k = 'phone2')) ->> 'id', (SELECT id::text FROM p WHERE k = 'phone1'),
          'the duplicate''s id resolves to the survivor');
SELECT is((SELECT count(*)::int FROM customer_mgmt.orders o WHERE o.customer_id = (SELECT id FROM p WHERE k = 'phone1')), 4, 'every order moved');
SELECT is((SELECT count(*)::int FROM customer_mgmt.addresses a WHERE a.customer_id = (SELECT id FROM p WHERE k = 'phone1')), 2,
          'addresses without the exact duplicate');
SELECT is((SELECT count(*)::int FROM customer_mgmt.addresses a WHERE a.customer_id = (SELECT id FROM p WHERE k = 'phone1') AND a.is_default_shipping), 1,
          'one default shipping address, the survivor''s');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_segment_assignments a
            WHERE a.customer_id = (SELECT id FROM p WHERE k = 'phone1') AND a.segment_id = (:'seg'::jsonb ->> 'id')::uuid), 1,
          'the manual segment membership moved');
-- every analytics column as if the survivor had placed the orders itself
SELECT is((SELECT to_jsonb(a) - 'customer_id' - 'id' - 'created_at' - 'updated_at' - 'last_calculated_at'
             FROM customer_mgmt.customer_analytics a WHERE a.customer_id = (SELECT id FROM p WHERE k = 'phone1')),
          (SELECT to_jsonb(a) - 'customer_id' - 'id' - 'created_at' - 'updated_at' - 'last_calculated_at'
             FROM customer_mgmt.customer_analytics a WHERE a.customer_id = (SELECT id FROM p WHERE k = 'direct')),
          'every analytics column equals that of one customer created with the union of the orders');
SELECT is(pg_temp.list_drift(), 0::bigint, 'the list agrees with the tables');
SELECT is((SELECT e.payload FROM customer_mgmt.event_outbox e WHERE e.event_type = 'customer.merged'),
          jsonb_build_object('customerId', (SELECT id FROM p WHERE k = 'phone1'), 'mergedIds', jsonb_build_array((SELECT id FROM p WHERE k = 'phone2'))),
          'customer.merged carries both ids');
SELECT is((SELECT t ->> 'type' FROM jsonb_array_elements(customer_mgmt.get_customer_timeline((SELECT id FROM p WHERE k = 'phone1')) -> 'data') t
            WHERE t ->> 'type' = 'customer.merged'), 'customer.merged', 'the survivor''s timeline shows the merge');
SELECT is((SELECT count(*)::int FROM customer_mgmt.audit_log a WHERE a.action = 'merge_customers'), 1, 'the audit log records it');

-- refusals: nothing written
SELECT pg_temp.shop_counts() AS before \gset
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'mail1')])$$),
          '22023 duplicate_ids', 'the survivor is not its own duplicate');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'mail2'), (SELECT id FROM p WHERE k = 'mail2')])$$),
          '22023 duplicate_ids', 'a duplicate listed twice');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), '{}')$$),
          '22023 duplicate_ids', 'no duplicate');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'mail2')], '{"nickname": "x"}')$$),
          '22023 field_choices', 'a field a merge does not choose');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'mail2')], jsonb_build_object('email', (SELECT id FROM p WHERE k = 'alone')))$$),
          '22023 field_choices', 'a value from a customer outside the merge');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'erased')])$$),
          'P0001', 'an anonymised customer');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY['00000000-0000-4000-8000-0000000000ff'::uuid])$$),
          'PT404', 'an unknown customer');
SELECT is(pg_temp.shop_counts(), :'before', 'none of them wrote anything');
SET ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.merge_customers((SELECT id FROM p WHERE k = 'mail1'), ARRAY[(SELECT id FROM p WHERE k = 'mail2')])$$),
          '42501', 'staff may not merge');
SELECT ok((customer_mgmt.find_duplicate_customers() ->> 'total')::int >= 1, 'but may look for duplicates');
RESET ROLE;

-- preventing new duplicates (setting identity.on_duplicate): allow by default
SELECT ok(customer_mgmt.register_customer('Lê Mai', 'lethimai+2@gmail.com') IS NOT NULL, 'allowed by default');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.set_setting('identity.on_duplicate', 'sometimes')$$), '22023 value',
          'the setting is one of its choices');
SELECT customer_mgmt.set_setting('identity.on_duplicate', 'refuse');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.register_customer('Vinh Đỗ', 'vinh.do@example.vn', '+84 912 000 111')$$),
          '23505 phone_number', 'refuse: a second customer with that phone, nothing written');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.upsert_customer('KH-77', 'Mai', 'L.E.T.H.I.M.A.I@gmail.com')$$),
          '23505 email', 'refuse: the same Gmail mailbox through the upsert');
SELECT customer_mgmt.set_setting('identity.on_duplicate', 'warn');
SELECT ok(customer_mgmt.register_customer('Vinh Đỗ', 'vinh.do@example.vn', '0912.000.111') IS NOT NULL, 'warn: registered');
SELECT is((SELECT count(*)::int FROM customer_mgmt.duplicate_candidates c
            WHERE (SELECT id FROM p WHERE k = 'alone') IN (c.customer_a, c.customer_b)), 1, 'and the pair is a candidate at once');
SELECT customer_mgmt.set_setting('identity.on_duplicate', 'merge');
SELECT customer_mgmt.upsert_customer('KH-88', 'Vinh', 'vinh.3@example.vn', '84912000111') AS m \gset
SELECT is((:'m'::jsonb ->> 'action') || ' ' || ((:'m'::jsonb ->> 'customerId')::uuid IN (SELECT u.id FROM customer_mgmt.users u
                                                  WHERE u.phone_number = '0912000111' AND u.anonymized_at IS NULL)),
          'matched true', 'merge: the upsert finds an existing customer of that phone');
SELECT is(customer_mgmt.find_customer(external_id => 'KH-88') ->> 'id', :'m'::jsonb ->> 'customerId',
          'whose the shop''s id is now');

-- erasure drops the person's pairs at once, before the next refresh
SELECT customer_mgmt.anonymize_customer((SELECT id FROM p WHERE k = 'name2'), 'asked');
SELECT is((SELECT count(*)::int FROM customer_mgmt.duplicate_candidates c
            WHERE (SELECT id FROM p WHERE k = 'name2') IN (c.customer_a, c.customer_b)), 0,
          'an anonymised customer leaves the candidate pairs at once');
SELECT is((SELECT count(*)::int FROM customer_mgmt.audit_log a WHERE a.action = 'refresh_duplicate_candidates'), 2,
          'each refresh of the pairs is in the audit log');

SELECT * FROM finish();
ROLLBACK;
