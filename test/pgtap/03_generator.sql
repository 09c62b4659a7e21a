-- The demo-shop generator: deterministic, and its data satisfies every rule.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(29);

-- a digest of everything the generator writes (identity ids left out: they
-- count rows, they are not data)
CREATE FUNCTION pg_temp.shop_digest() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(d, ',' ORDER BY d)) FROM (
        SELECT md5(string_agg(u::text, ',' ORDER BY u.id)) d FROM customer_mgmt.users u
        UNION ALL SELECT md5(string_agg(a::text, ',' ORDER BY a.id)) FROM customer_mgmt.addresses a
        UNION ALL SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM customer_mgmt.orders o
        UNION ALL SELECT md5(string_agg(concat_ws('|', i.order_id, i.product_name, i.category, i.brand, i.unit_price, i.quantity),
                                        ',' ORDER BY i.order_id, i.product_name, i.unit_price, i.quantity))
                    FROM customer_mgmt.order_items i
        UNION ALL SELECT md5(string_agg(concat_ws('|', s.customer_id, s.started_at, s.duration_seconds, s.page_views, s.converted),
                                        ',' ORDER BY s.customer_id, s.started_at, s.converted, s.page_views))
                    FROM customer_mgmt.web_sessions s) x
$$;
CREATE FUNCTION pg_temp.empty_shop() RETURNS void LANGUAGE sql AS $$
    TRUNCATE customer_mgmt.users, customer_mgmt.addresses, customer_mgmt.orders, customer_mgmt.order_items,
             customer_mgmt.web_sessions CASCADE
$$;

SELECT is(customer_mgmt.generate_demo_shop(400, 7, '2026-06-01 00:00+07') ->> 'customers', '400', '400 customers generated');
CREATE TEMP TABLE first_run AS SELECT pg_temp.shop_digest() AS digest;
SELECT is((SELECT count(*)::int FROM customer_mgmt.users WHERE role <> 'customer'), 15, '15 staff users');
SELECT is_empty($$SELECT u.id FROM customer_mgmt.users u WHERE u.role = 'customer'
                   AND NOT EXISTS (SELECT FROM customer_mgmt.customer_analytics a WHERE a.customer_id = u.id)$$,
                'every generated customer has its analytics row (the bulk load bypasses the trigger)');
SELECT is((customer_mgmt.get_customers(exact_total => true) ->> 'total')::int, 400, 'the list shows every generated customer');

-- referential integrity (the bulk load skips the foreign-key triggers)
SELECT is_empty($$SELECT a.id FROM customer_mgmt.addresses a LEFT JOIN customer_mgmt.users u ON u.id = a.customer_id WHERE u.id IS NULL$$,
                'every address belongs to a user');
SELECT is_empty($$SELECT o.id FROM customer_mgmt.orders o LEFT JOIN customer_mgmt.users u ON u.id = o.customer_id WHERE u.id IS NULL OR u.role <> 'customer'$$,
                'every order belongs to a customer');
SELECT is_empty($$SELECT i.id FROM customer_mgmt.order_items i LEFT JOIN customer_mgmt.orders o ON o.id = i.order_id WHERE o.id IS NULL$$,
                'every item belongs to an order');
SELECT is_empty($$SELECT s.id FROM customer_mgmt.web_sessions s LEFT JOIN customer_mgmt.users u ON u.id = s.customer_id WHERE u.id IS NULL$$,
                'every session belongs to a user');
SELECT is_empty($$SELECT o.id FROM customer_mgmt.orders o JOIN customer_mgmt.order_items i ON i.order_id = o.id
                  GROUP BY o.id, o.total_amount HAVING o.total_amount <> sum(i.unit_price * i.quantity)$$,
                'order totals are the sums of their items');
SELECT is_empty($$SELECT customer_id FROM customer_mgmt.addresses GROUP BY customer_id HAVING count(*) FILTER (WHERE is_default_shipping) <> 1$$,
                'a customer with addresses has one default shipping address');

-- plausibility: what a Vietnamese shop would recognise
SELECT is_empty($$SELECT full_name FROM customer_mgmt.users
                  WHERE customer_mgmt.search_fold(full_name) <> lower(public.unaccent(full_name))$$,
                'search_fold agrees with lower(unaccent()) on every generated name');
SELECT is_empty($$SELECT phone_number FROM customer_mgmt.users WHERE customer_mgmt.normalize_phone(phone_number) <> phone_number$$,
                'every phone number is a canonical Vietnamese number');
SELECT is_empty($$SELECT province FROM customer_mgmt.users WHERE province IS NOT NULL
                  AND province NOT IN (SELECT name FROM customer_mgmt.provinces WHERE is_current)$$,
                'customers live in one of the 34 provinces');
SELECT ok((SELECT count(*) FROM customer_mgmt.addresses WHERE district IS NOT NULL
             AND province IN (SELECT name FROM customer_mgmt.provinces WHERE NOT is_current)) > 0,
          'some older addresses name a former province and a district');
SELECT ok((SELECT count(*) FILTER (WHERE full_name LIKE 'Nguyễn %')::float8 / count(*) FROM customer_mgmt.users WHERE role = 'customer')
          BETWEEN 0.25 AND 0.5, 'Nguyễn is the most common family name');
SELECT ok((SELECT count(*) FROM customer_mgmt.users u WHERE u.role = 'customer'
             AND NOT EXISTS (SELECT FROM customer_mgmt.orders o WHERE o.customer_id = u.id)) BETWEEN 40 AND 140,
          'some customers never ordered');
SELECT ok((SELECT count(*) FROM (SELECT customer_id FROM customer_mgmt.orders WHERE status = 'completed'
             GROUP BY customer_id HAVING count(*) > 10) x) > 20, 'some customers are loyal');
SELECT ok((SELECT count(*) FROM (SELECT customer_id FROM customer_mgmt.orders WHERE status = 'completed'
             GROUP BY customer_id HAVING max(order_date) < timestamptz '2026-06-01 00:00+07' - interval '180 days') x) > 5,
          'some customers lapsed');
SELECT ok((SELECT count(*) FROM (SELECT customer_id FROM customer_mgmt.orders WHERE status = 'completed'
             GROUP BY customer_id HAVING sum(total_amount) > 50000000) x) > 0, 'a few customers spent more than 50M VND');
SELECT ok((SELECT avg((page_views = 1)::int) FROM customer_mgmt.web_sessions WHERE NOT converted) BETWEEN 0.3 AND 0.45,
          'about 38% of browsing sessions bounce');
SELECT ok((SELECT bool_and(last_login_at <= timestamptz '2026-06-01 00:00+07' AND last_login_at >= created_at)
             FROM customer_mgmt.users WHERE role = 'customer'), 'logins fall between registration and as_of');

-- determinism
SELECT pg_temp.empty_shop();
SELECT customer_mgmt.generate_demo_shop(400, 7, '2026-06-01 00:00+07');
SELECT is(pg_temp.shop_digest(), (SELECT digest FROM first_run), 'same seed, same shop');
SELECT pg_temp.empty_shop();
SELECT customer_mgmt.generate_demo_staff(7, '2026-06-01 00:00+07');
SELECT customer_mgmt.generate_demo_customers(7, '2026-06-01 00:00+07', 201, 400);
SELECT customer_mgmt.generate_demo_customers(7, '2026-06-01 00:00+07', 1, 200);
SELECT is(pg_temp.shop_digest(), (SELECT digest FROM first_run), 'generated in two parts, in either order: the same shop');
SELECT pg_temp.empty_shop();
SELECT customer_mgmt.generate_demo_shop(400, 8, '2026-06-01 00:00+07');
SELECT isnt(pg_temp.shop_digest(), (SELECT digest FROM first_run), 'another seed, another shop');

SELECT is(pg_temp.list_drift(), 0::bigint, 'the generated shop''s list rows equal its users and analytics');

-- a load that bypassed the triggers: ensure_analytics_rows (a run from
-- scratch calls it) makes the missing rows, and only those
SET LOCAL session_replication_role = replica;
INSERT INTO customer_mgmt.users (full_name, email, created_at) VALUES ('Khách Nạp Thẳng', 'nap@example.vn', '2026-05-01 10:00+07');
DELETE FROM customer_mgmt.customer_list
 WHERE customer_id = (SELECT min(customer_id::text)::uuid FROM customer_mgmt.customer_list);
SET LOCAL session_replication_role = origin;
SELECT is(pg_temp.list_drift(), 2::bigint, 'a customer without analytics or list row, and one without a list row');
SELECT is(customer_mgmt.ensure_analytics_rows(), 1::bigint, 'one analytics row made');
SELECT is(pg_temp.list_drift(), 0::bigint, 'and both list rows: the list equals its users and analytics again');
SELECT is(customer_mgmt.ensure_analytics_rows(), 0::bigint, 'a second call finds nothing missing');
SELECT * FROM finish();
ROLLBACK;
