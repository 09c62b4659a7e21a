-- Segments: the design's criteria and the segment language on a
-- shop counted by hand, saved segments, the list by segment and RFM group.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(91);

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
      FROM jsonb_array_elements(customer_mgmt.preview_segment(query, criteria, page_size => 100) -> 'data') e
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
SELECT is((customer_mgmt.preview_segment(criteria => '{"totalSpentMin": 0}') ->> 'total')::int, 5, 'the count');

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
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"totalSpentMinimum": 5}')$$), '22023 totalSpentMinimum',
          'an unknown key');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"totalSpentMin": "5"}')$$), '22023 totalSpentMin',
          'a number as a string');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"totalSpentMin": -1}')$$), '22023 totalSpentMin',
          'a negative bound');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"churnRiskMin": 0.8, "churnRiskMax": 0.2}')$$),
          '22023 churnRiskMin', 'min above max');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"registeredAfter": "2026-02-30"}')$$),
          '22023 registeredAfter', 'a date that does not exist');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '{"geographicRegions": "Hà Nội"}')$$),
          '22023 geographicRegions', 'a list that is a string');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(criteria => '[1]')$$), '22023 criteria', 'criteria not an object');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment()$$), '22023 criteria', 'no definition');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('total_spent > 0; DROP TABLE customer_mgmt.users')$$),
          '22023 query', 'a hostile query');

-- roles: staff read, the ingesting app does not
SET LOCAL ROLE customer_mgmt_staff;
SELECT is((customer_mgmt.preview_segment('total_orders >= 0') ->> 'total')::int, 5, 'staff may preview');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('total_orders >= 0')$$), '42501', 'the app may not');
RESET ROLE;

-- saved segments: created, counted, refreshed, changed, deleted
CREATE TEMP TABLE seg (k text PRIMARY KEY, id uuid);
INSERT INTO seg VALUES
    ('big', (customer_mgmt.create_segment('Big spenders', NULL, '{"totalSpentMin": 3000000}', 'Spent 3M or more', '#1565C0') ->> 'id')::uuid),
    ('south', (customer_mgmt.create_segment('South', 'province = ''Hồ Chí Minh''') ->> 'id')::uuid),
    ('hand', (customer_mgmt.create_segment('Hand picked', NULL, '{"totalOrdersMin": 100}', NULL, NULL, false) ->> 'id')::uuid);
SELECT is(customer_mgmt.get_segment((SELECT id FROM seg WHERE k = 'big')) - 'id' - 'createdAt' - 'updatedAt',
          '{"name": "Big spenders", "query": null, "criteria": {"totalSpentMin": 3000000}, "isActive": true,
            "isSystem": false, "colorCode": "#1565C0", "createdBy": null, "autoAssign": true, "description": "Spent 3M or more",
            "customerCount": 2}'::jsonb, 'CustomerSegmentDto, members counted at creation');
SELECT is((SELECT string_agg(c.k, ',' ORDER BY c.k) FROM customer_mgmt.customer_segment_assignments x JOIN c ON c.id = x.customer_id
            WHERE x.segment_id = (SELECT id FROM seg WHERE k = 'south')), 'an,chi', 'a segment of the language holds its matches');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE event_type = 'customer.segment_entered'), 4,
          'each entry went to the outbox');
SELECT is(jsonb_path_query_array(customer_mgmt.get_segments() -> 'data', '$[*].name'),
          '["at-risk-customers", "new-customers", "Big spenders", "Hand picked", "South"]'::jsonb, 'system segments first, then by name');

-- a customer who now matches joins at the refresh; a manual member stays
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'dung'), 5000000, 'completed', now() - interval '1 day') IS NOT NULL AS ordered \gset
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'dung')) IS NOT NULL AS calculated \gset
SELECT is(jsonb_array_length(customer_mgmt.assign_customer_segments((SELECT id FROM c WHERE k = 'em'),
                                                                    ARRAY[(SELECT id FROM seg WHERE k = 'big')]) -> 'data'), 2,
          'Em put in Big spenders by hand (and in new-customers at registration)');
SELECT is((SELECT string_agg(c.k, ',' ORDER BY c.k) FROM customer_mgmt.customer_segment_assignments x JOIN c ON c.id = x.customer_id
            WHERE x.segment_id = (SELECT id FROM seg WHERE k = 'big')), 'an,chi,dung,em',
          'Dũng joined Big spenders as his analytics were calculated');
SELECT is(customer_mgmt.refresh_segment((SELECT id FROM seg WHERE k = 'big')) - 'segmentId',
          '{"added": 0, "removed": 0, "customerCount": 4}'::jsonb, 'so the refresh has nothing to add, and keeps Em');
SELECT is(customer_mgmt.update_segment((SELECT id FROM seg WHERE k = 'big'), '{"criteria": {"totalSpentMin": 10000000}}') ->> 'customerCount',
          '2', 'raising the bound removes the system members below it, not the manual one');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox WHERE event_type = 'customer.segment_left'), 2,
          'and they left through the outbox');
-- the queue worker re-evaluates the customers it recalculates
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = 'binh'), 20000000, 'completed', now() - interval '1 hour') IS NOT NULL AS ordered \gset
SELECT is((customer_mgmt.process_analytics_queue(100) ->> 'processed')::int >= 1, true, 'the worker ran');
SELECT ok(EXISTS (SELECT FROM customer_mgmt.customer_segment_assignments x
                   WHERE x.customer_id = (SELECT id FROM c WHERE k = 'binh') AND x.segment_id = (SELECT id FROM seg WHERE k = 'big')),
          'Bình joined Big spenders when the worker recalculated him');
-- the nightly run refreshes every auto-assigned segment
DELETE FROM customer_mgmt.customer_segment_assignments
 WHERE segment_id = (SELECT id FROM seg WHERE k = 'south') AND customer_id = (SELECT id FROM c WHERE k = 'chi');
SELECT is((customer_mgmt.recalculate_all_analytics(now()) ->> 'full') IS NOT NULL, true, 'a nightly run');
SELECT is((SELECT string_agg(c.k, ',' ORDER BY c.k) FROM customer_mgmt.customer_segment_assignments x JOIN c ON c.id = x.customer_id
            WHERE x.segment_id = (SELECT id FROM seg WHERE k = 'south')), 'an,chi', 'it put Chi back in South');
SELECT is(customer_mgmt.remove_customer_from_segment((SELECT id FROM c WHERE k = 'em'), (SELECT id FROM seg WHERE k = 'big')) ->> 'removed',
          'true', 'a member removed by hand');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_segments s
            WHERE s.customer_count <> (SELECT count(*) FROM customer_mgmt.customer_segment_assignments x WHERE x.segment_id = s.id)),
          0, 'every customer_count equals the members');
SELECT is(customer_mgmt.get_segment_insights((SELECT id FROM seg WHERE k = 'south')) - 'segmentId' - 'ageDistribution' - 'engagementRate',
          '{"churnRate": 0.0000, "segmentName": "South", "totalRevenue": 15000000.00, "customerCount": 2,
            "topCategories": [{"category": "Mỹ phẩm", "customers": 1}, {"category": "Thời trang", "customers": 1},
                              {"category": "Điện thoại", "customers": 1}],
            "averageOrderValue": 3000000.00, "averageLTV": 7500000.00, "averageLifetimeValue": 7500000.00,
            "geographicDistribution": [{"count": 2, "province": "Hồ Chí Minh"}]}'::jsonb, 'SegmentInsights');
SELECT is((customer_mgmt.get_customer_segments((SELECT id FROM c WHERE k = 'an')) ->> 'total')::int, 3,
          'An is in new-customers, Big spenders and South');
SELECT is((customer_mgmt.delete_segment((SELECT id FROM seg WHERE k = 'hand'))) ->> 'deleted', 'true', 'deleted');

-- what they refuse
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('big SPENDERS', criteria => '{"totalOrdersMin": 1}')$$), '23505 name', 'a name taken, in any case');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment(repeat('x', 101), criteria => '{"totalOrdersMin": 1}')$$), '22023 name', 'a name of 101 characters');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('x', NULL, '{"totalOrdersMin": 1}', repeat('x', 501))$$), '22023 description', 'a description of 501');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('x', NULL, '{"totalOrdersMin": 1}', NULL, 'red')$$), '22023 color_code', 'a colour that is not #RRGGBB');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('x', 'total_spent >')$$), '22023 query', 'a query that does not parse');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('x')$$), '22023 criteria', 'no definition');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_segment((SELECT id FROM seg WHERE k = 'big'), '{"colour": "#000000"}')$$), '22023 colour', 'an unknown change');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_segment((SELECT id FROM seg WHERE k = 'big'), '{"isActive": "yes"}')$$), '22023 isActive', 'a flag that is not a boolean');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.delete_segment('00000000-0000-4000-8000-000000000001')$$), 'P0001', 'a system segment is not deleted');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.update_segment('00000000-0000-4000-8000-000000000002', '{"name": "x"}')$$), 'P0001', 'nor redefined');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_segment('00000000-0000-4000-8000-0000000000ff')$$), 'PT404', 'no such segment');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.assign_customer_segments((SELECT id FROM c WHERE k = 'an'), ARRAY[(SELECT id FROM seg WHERE k = 'big')], now() - interval '1 day')$$),
          '22023 expires_at', 'an assignment that has expired already');
SET LOCAL ROLE customer_mgmt_staff;
SELECT is((customer_mgmt.get_segments() ->> 'total')::int, 4, 'staff read segments');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.create_segment('x', criteria => '{"totalOrdersMin": 1}')$$), '42501', 'staff may not create one');
RESET ROLE;

-- the list by a saved segment (the assignments in force at as_of) and by an RFM group
CREATE FUNCTION pg_temp.listed(page jsonb) RETURNS text
    LANGUAGE sql AS $$
    SELECT string_agg(c.k, ',' ORDER BY c.k) FROM jsonb_array_elements(page -> 'data') e JOIN c ON c.id = (e ->> 'id')::uuid
$$;
SELECT is(pg_temp.listed(customer_mgmt.get_customers(segment_id => (SELECT id FROM seg WHERE k = 'south'))), 'an,chi',
          'get_customers(segment_id): the members');
SELECT customer_mgmt.assign_customer_segments((SELECT id FROM c WHERE k = 'em'), ARRAY[(SELECT id FROM seg WHERE k = 'south')],
                                              now() + interval '1 day');
UPDATE customer_mgmt.customer_segment_assignments SET expires_at = now() - interval '1 minute'
 WHERE customer_id = (SELECT id FROM c WHERE k = 'em') AND segment_id = (SELECT id FROM seg WHERE k = 'south');
SELECT is(pg_temp.listed(customer_mgmt.get_customers(segment_id => (SELECT id FROM seg WHERE k = 'south'))), 'an,chi',
          'an expired assignment is not a membership');
SELECT is(pg_temp.listed(customer_mgmt.get_customers(segment_id => (SELECT id FROM seg WHERE k = 'south'),
                                                     as_of => now() - interval '1 hour')), 'an,chi,em',
          'it was one before it expired');
SELECT is(pg_temp.listed(customer_mgmt.get_customers(segment_id => (SELECT id FROM seg WHERE k = 'south'), min_orders => 3)),
          'an', 'with another filter');
SELECT is((customer_mgmt.get_customers(segment_id => (SELECT id FROM seg WHERE k = 'south'), exact_total => true) ->> 'total')::int, 2,
          'its total');
SELECT cmp_ok((SELECT count(*)::int FROM customer_mgmt.customer_analytics WHERE rfm_score IS NOT NULL), '>', 0, 'some customers have RFM digits');
SELECT is((SELECT count(*)::int FROM unnest(customer_mgmt.rfm_group_names()) g
            WHERE (SELECT coalesce(array_agg(e ->> 'id' ORDER BY e ->> 'id'), '{}')
                     FROM jsonb_array_elements(customer_mgmt.get_customers(rfm_group => g, page_size => 100) -> 'data') e)
                  IS DISTINCT FROM
                  (SELECT coalesce(array_agg(a.customer_id::text ORDER BY a.customer_id::text), '{}')
                     FROM customer_mgmt.customer_analytics a WHERE customer_mgmt.rfm_group(a.rfm_score) = g)), 0,
          'get_customers(rfm_group): for every group, the customers whose digits it names');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(rfm_group => 'vip')$$), '22023 rfm_group', 'an RFM group that does not exist');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.get_customers(segment_id => '00000000-0000-4000-8000-0000000000ff')$$), 'PT404',
          'a segment that does not exist');

-- the preview's first 20: by spend, the higher id first among equals (three customers have spent 0)
SELECT is(ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(customer_mgmt.preview_segment(criteria => '{"totalSpentMin": 0}') -> 'data') e),
          ARRAY(SELECT customer_id FROM customer_mgmt.customer_list ORDER BY total_spent DESC, customer_id DESC),
          'preview_segment ranks by spend, then id');
SELECT is(ARRAY(SELECT (e ->> 'id')::uuid FROM generate_series(1, 3) p,
                 jsonb_array_elements(customer_mgmt.preview_segment(criteria => '{"totalSpentMin": 0}', page => p, page_size => 2) -> 'data') e),
          ARRAY(SELECT customer_id FROM customer_mgmt.customer_list ORDER BY total_spent DESC, customer_id DESC),
          'preview_segment pages through the same order (pages past the first 20 sorted apart)');
SELECT is(customer_mgmt.preview_segment('total_orders >= 0', page => 2, page_size => 20) -> 'data', '[]'::jsonb, 'a page past the last is empty');
SELECT is((SELECT jsonb_build_array(p -> 'total', p -> 'data') FROM (SELECT customer_mgmt.preview_segment('total_orders >= 0') p) x),
          (SELECT jsonb_build_array(p -> 'customerCount', p -> 'customers') FROM (SELECT customer_mgmt.preview_segment('total_orders >= 0') p) x),
          'the deprecated customerCount and customers of 1.3 are total and data');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(customer_mgmt.preview_segment('total_orders >= 0')) k),
          ARRAY['criteriaQuery', 'customerCount', 'customers', 'data', 'page', 'pageSize', 'total', 'totalIsEstimate', 'totalPages'],
          'the preview is the list envelope with criteriaQuery');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('{"totalSpentMin": 0}')$$), '22023 query',
          'criteria passed where the query goes: named, with a hint');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment(page => 0, query => 'total_orders >= 0')$$), '22023 page', 'page 0');
SELECT is(jsonb_path_query_array(customer_mgmt.get_segments(page => 2, page_size => 2) -> 'data', '$[*].name'),
          '["Big spenders", "South"]'::jsonb, 'get_segments pages');
-- top_customers in parallel (partial states serialized and combined) and not
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text
    LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN ' || q; END $$;
CREATE TABLE public.top_probe AS
    SELECT round((random() * 100)::numeric, 0) AS spent, gen_random_uuid() AS id FROM generate_series(1, 20000);
INSERT INTO public.top_probe VALUES (NULL, gen_random_uuid()), (1000, NULL);
ANALYZE public.top_probe;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT ok((SELECT string_agg(p, ' ') FROM pg_temp.plan_of('SELECT customer_mgmt.top_customers(spent, id) FROM public.top_probe') p)
          ~ 'Partial Aggregate', 'the aggregate runs in parallel');
SELECT is((SELECT customer_mgmt.top_customers(spent, id) FROM public.top_probe),
          ARRAY(SELECT id FROM public.top_probe WHERE spent IS NOT NULL AND id IS NOT NULL ORDER BY spent DESC, id DESC LIMIT 20),
          'top_customers in parallel: the 20 best, NULLs skipped');
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT is((SELECT customer_mgmt.top_customers(spent, id) FROM public.top_probe),
          ARRAY(SELECT id FROM public.top_probe WHERE spent IS NOT NULL AND id IS NOT NULL ORDER BY spent DESC, id DESC LIMIT 20),
          'and in one process');
SELECT is((SELECT customer_mgmt.top_customers(spent, id) FROM public.top_probe WHERE false), '{}'::uuid[], 'no rows: none');
RESET max_parallel_workers_per_gather;

-- age as age() counts it, across 29 February
SELECT is((SELECT count(*)::int
             FROM generate_series(timestamp '1996-02-26', '1996-03-02', '1 day') b,
                  generate_series(timestamp '2023-02-26', '2024-03-02', '1 day') d
            WHERE customer_mgmt.age_years(b::date, d::date) <> extract(year FROM age(d::date, b::date))), 0,
          'age_years equals extract(year FROM age())');

-- the language's attributes, from its parser: every one evaluates over the segments' view
SELECT is((customer_mgmt.get_segment_attributes() ->> 'total')::int, 32, 'get_segment_attributes: the 32 attributes of the parser');
SELECT is((SELECT array_agg(DISTINCT a ->> 'kind' ORDER BY a ->> 'kind')
             FROM jsonb_array_elements(customer_mgmt.get_segment_attributes() -> 'data') a),
          ARRAY['code', 'list', 'number', 'segment', 'text', 'time'], 'with their kinds');
SELECT is((SELECT array_agg(a ->> 'name' ORDER BY a ->> 'name')
             FROM jsonb_array_elements(customer_mgmt.get_segment_attributes() -> 'data') a
            WHERE pg_temp.failure(format('SELECT customer_mgmt.preview_segment(query => %L)',
                                         a ->> 'name' || CASE a ->> 'kind' WHEN 'list' THEN ' CONTAINS ''x'''
                                                         WHEN 'segment' THEN ' = ''new-customers''' ELSE ' IS NULL' END))
                  <> 'no error'), NULL,
          'every attribute compiles and evaluates over the segments'' view');

SELECT * FROM finish();
ROLLBACK;
