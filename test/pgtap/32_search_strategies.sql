-- How a search runs (customer_filter): a term that the statistics of
-- customer_list.search_key show in 1 customer of 25 or more is tested on
-- each list row; a rarer one is gathered from the trigram index on users.
-- Either way the answer is the same as the question asked of the tables
-- by hand, with other filters and every sort; the list row's search key
-- follows the user's name, e-mail and phone.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(32);

SELECT customer_mgmt.generate_demo_shop(800, seed => 5);
CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
INSERT INTO p VALUES
    ('kh', customer_mgmt.register_customer('Ông Thái Hà', 'thaiha@example.vn', '0912 000 321', external_id => 'nguyen'));
ANALYZE customer_mgmt.customer_list;

-- the same question asked of the tables: the user's search key (name,
-- e-mail and phone folded) matches the term's pattern, or the shop's id is it
CREATE FUNCTION pg_temp.hand(term text, cond text, ord text) RETURNS uuid[]
    LANGUAGE plpgsql AS $$
DECLARE
    result uuid[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(u.id ORDER BY %s), ''{}'') FROM customer_mgmt.users u'
                   ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id'
                   ' WHERE u.role = ''customer'' AND (customer_mgmt.search_key(u.full_name, u.email, u.phone_number)'
                   ' LIKE %L OR u.external_id = %L) AND %s',
                   ord, customer_mgmt.search_pattern(term), btrim(term), cond) INTO result;
    RETURN result;
END
$$;
CREATE FUNCTION pg_temp.gathered(term text) RETURNS boolean
    LANGUAGE sql AS $$
    SELECT (customer_mgmt.customer_filter(jsonb_build_object('search', term), now())).gathered
$$;

-- the choice, from the statistics
SELECT cmp_ok((SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer'
                 AND customer_mgmt.search_fold(full_name) LIKE '%nguyen%') * 25,
              '>', (SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer'),
              'the fixture: nguyen is a frequent term');
SELECT is(pg_temp.gathered('Nguyễn'), false, 'a frequent term is tested on each list row');
SELECT is(pg_temp.gathered('thaiha@'), true, 'a rare term is gathered from the trigram index');
SELECT is(pg_temp.gathered(NULL), false, 'no search, nothing gathered');
SELECT is(pg_temp.gathered('xq') OR pg_temp.gathered('%a') OR pg_temp.gathered('Ý'), false,
          'a term of one or two characters is tested on each row: the trigram index cannot narrow it');
SELECT is(pg_temp.gathered('thai'), true, 'three characters can be gathered');
SELECT is((customer_mgmt.customer_filter('{"search": "nguyen"}', now())).conditions,
          (customer_mgmt.customer_filter('{"search": "nguyen"}', now())).walk_conditions,
          'a frequent term: one condition for the count and the walk');
SELECT isnt((customer_mgmt.customer_filter('{"search": "thaiha@"}', now())).conditions,
            (customer_mgmt.customer_filter('{"search": "thaiha@"}', now())).walk_conditions,
            'a rare term: gathered for the count, tested on each row for a walk');

-- the estimate of a total past 10,000 EXPLAINs the conditions with the
-- pattern as $1: its text holds no search
SELECT ok((SELECT position('thaiha' IN f.estimate_conditions) = 0 AND position('thaiha' IN f.walk_conditions) > 0
              FROM customer_mgmt.customer_filter('{"search": "thaiha@", "status": "active"}', now()) f),
          'the conditions for the estimate hold no search text (those that run do)');
SELECT is(customer_mgmt.estimate_rows('SELECT 1 FROM customer_mgmt.customer_list l WHERE '
                                      || (customer_mgmt.customer_filter('{"search": "nguyen"}', now())).estimate_conditions,
                                      customer_mgmt.search_pattern('nguyen')),
          customer_mgmt.estimate_rows('SELECT 1 FROM customer_mgmt.customer_list l WHERE l.search_key LIKE ''%nguyen%'''),
          'and estimate as the pattern written out would');

-- the same answers either way
SELECT is(pg_temp.ids($$search => 'Nguyễn',$$), pg_temp.hand('Nguyễn', 'true', 'u.created_at DESC, u.id DESC'),
          'a frequent term: every match, by registration');
SELECT is(pg_temp.ids($$search => 'nguyen', sort_by => 'fullName', sort_order => 'ASC',$$),
          pg_temp.hand('nguyen', 'true', 'u.full_name, u.id'), 'a frequent term, by name');
SELECT is(pg_temp.ids($$search => 'nguyen', gender => 'male', status => 'active', sort_by => 'lastLoginAt',$$),
          pg_temp.hand('nguyen', $$u.gender = 'male' AND u.status = 'active'$$, 'u.last_login_at DESC NULLS LAST, u.id DESC'),
          'a frequent term with other filters, by last login');
SELECT ok((SELECT id FROM p WHERE k = 'kh') = ANY (pg_temp.ids($$search => 'nguyen',$$)),
          'a frequent term finds the shop''s id too');
SELECT is(pg_temp.ids($$search => 'thaiha@',$$), ARRAY[(SELECT id FROM p WHERE k = 'kh')], 'a rare term: its customer');
SELECT is(pg_temp.ids($$search => 'vu', sort_by => 'fullName',$$), pg_temp.hand('vu', 'true', 'u.full_name DESC, u.id DESC'),
          'a term of two characters');
SELECT is(pg_temp.ids($$search => '0912 000',$$), pg_temp.hand('0912 000', 'true', 'u.created_at DESC, u.id DESC'),
          'a phone fragment, spaced');
SELECT is(pg_temp.ids($$search => 'thai ha', sort_by => 'email', sort_order => 'ASC',$$),
          pg_temp.hand('thai ha', 'true', 'u.email, u.id'), 'a rarer name');
SELECT is((customer_mgmt.get_customers(search => 'nguyen', page_size => 5) ->> 'total')::int,
          cardinality(pg_temp.hand('nguyen', 'true', 'u.id')), 'a frequent term: the total is exact');
SELECT is(customer_mgmt.get_customers(search => '%', page_size => 1) -> 'total', '0',
          'a wildcard is a character to find');

-- one term both ways: without the column's statistics the planner guesses
-- from the pattern's length, and nguyen is gathered; the same rows, in
-- the same order
CREATE TEMP TABLE tested AS
SELECT a, pg_temp.ids(a) AS ids
  FROM unnest(ARRAY[$$search => 'nguyen',$$, $$search => 'nguyen', sort_by => 'totalSpent', sort_order => 'ASC',$$,
                    $$search => 'nguyen', status => 'active', gender => 'female', sort_by => 'fullName',$$,
                    $$search => 'nguyen', province => 'Hà Nội', sort_by => 'email',$$]) a;
DELETE FROM pg_catalog.pg_statistic s
 WHERE s.starelid = 'customer_mgmt.customer_list'::regclass
   AND s.staattnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = 'customer_mgmt.customer_list'::regclass AND a.attname = 'search_key');
SELECT is(pg_temp.gathered('nguyen'), true, 'without statistics of the column, nguyen is gathered');
SELECT is((SELECT count(*)::int FROM tested t WHERE t.ids = pg_temp.ids(t.a) AND cardinality(t.ids) > 0), 4,
          'gathered or tested on each row: the same customers in the same order, with filters and sorts');
ANALYZE customer_mgmt.customer_list;

-- the export reads the same condition
SELECT is((SELECT count(*)::int - 1 FROM regexp_matches(
               convert_from(customer_mgmt.export_customers(search => 'nguyen', format => 'csv'), 'UTF8'), E'\r\n', 'g')),
          cardinality(pg_temp.hand('nguyen', 'true', 'u.id')), 'the export of a frequent term: every match');
SELECT is((SELECT details -> 'filters' -> 'search' FROM customer_mgmt.export_log ORDER BY id DESC LIMIT 1), 'true',
          'the export''s log says there was a search, not what');
SELECT ok(customer_mgmt.export_customers(search => '   ', format => 'csv') IS NOT NULL, 'a search of blanks exports');
SELECT is((SELECT details -> 'filters' ? 'search' FROM customer_mgmt.export_log ORDER BY id DESC LIMIT 1), false,
          'a search of blanks searches nothing, and the log says no search');

-- the list row's search key follows the user
UPDATE customer_mgmt.users SET phone_number = '0987654321' WHERE id = (SELECT id FROM p WHERE k = 'kh');
SELECT is(pg_temp.ids($$search => '0987 654 321',$$), ARRAY[(SELECT id FROM p WHERE k = 'kh')], 'a new phone is found');
SELECT is(pg_temp.ids($$search => '0912 000 321',$$), '{}', 'the old one is not');
UPDATE customer_mgmt.users SET full_name = 'Nguyễn Thái Hà', email = 'ha.nguyen@example.vn' WHERE id = (SELECT id FROM p WHERE k = 'kh');
SELECT is(pg_temp.ids($$search => 'ha.nguyen@',$$), ARRAY[(SELECT id FROM p WHERE k = 'kh')], 'a new e-mail is found');
SELECT is(pg_temp.ids($$search => 'thaiha@',$$), '{}', 'the old e-mail is not');
SELECT customer_mgmt.anonymize_customer((SELECT id FROM p WHERE k = 'kh'), 'the customer asked');
SELECT is(pg_temp.ids($$search => 'ha.nguyen@',$$), '{}', 'an anonymised customer is not found by the old e-mail');
SELECT is(pg_temp.list_drift(), 0::bigint, 'every list row''s search key is its user''s');

SELECT * FROM finish();
ROLLBACK;
