-- The segment language (docs/segments.md, src/segment_lang.c): what queries
-- compile to, the errors with their positions, hostile queries, and a fuzz
-- run of generated and mutated queries under the server.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'Asia/Ho_Chi_Minh';
SET search_path = pg_temp, pg_catalog;

-- a row with every attribute, as the segments' view has them
CREATE TEMP TABLE s (
    age numeric, average_order_value numeric, bounce_rate numeric, churn_risk numeric, conversion_rate numeric,
    days_since_last_order numeric, engagement_score numeric, favorite_brands text[], favorite_categories text[],
    gender text, last_login_at timestamptz, last_order_date timestamptz, lifecycle_segment text, province_key text,
    registered_at timestamptz, rfm_frequency numeric, rfm_group text, rfm_monetary numeric, rfm_recency numeric,
    status text, total_orders numeric, total_sessions numeric, total_spent numeric,
    predicted_ltv numeric, probability_alive numeric, churn_probability numeric,
    customer_id uuid, customer_tags text[], customer_email_domain text, email_subscription_status text,
    sms_subscription_status text, first_order_date date, date_of_birth date);
INSERT INTO s VALUES (30, 500000, 0.2, 0.3, 0.1, 12, 0.6, ARRAY['viet tien'], ARRAY['thoi trang', 'dien thoai'],
                      'female', '2026-11-20 10:00+07', '2026-11-13 10:00+07', 'active', 'ho chi minh',
                      '2025-03-01 09:00+07', 4, 'loyal', 4, 5, 'active', 6, 20, 3000000, 2500000, 0.85, 0.4,
                      '00000000-0000-4000-8000-0000000000aa', ARRAY['si', 'khach quen'], 'gmail.com', 'subscribed',
                      'not_asked', '2025-04-02', '1996-11-25');

-- queries a shop writes, compiled and evaluated on that row
SELECT q AS query, customer_mgmt.compile_segment_query(q, '2026-11-25 00:00+07') AS predicate
  FROM (VALUES ('total_spent >= 1000000 AND last_order_date > -30d'),
               ('TOTAL_SPENT between 1000000 and 5000000 or total_orders > 10'),
               ('province = ''Bình Dương'' AND NOT status = ''inactive'''),
               ('favorite_categories CONTAINS ''Điện Thoại'' and favorite_brands not contains ''Apple'''),
               ('lifecycle_segment IN (''active'', ''loyal'') AND rfm_group != ''at_risk'''),
               ('last_login_at IS NOT NULL and registered_at < date ''2026-01-01'''),
               ('days_since_last_order <= 14.5 or (churn_risk > .7 and not (engagement_score >= 0.5))'),
               ('gender = ''female'' AND age NOT BETWEEN 18 AND 24 AND last_order_date >= -2w'),
               ('registered_at <= -1y OR last_order_date BETWEEN -6m AND -1m'),
               ('predicted_ltv >= 2000000 AND probability_alive > 0.8 AND churn_probability NOT BETWEEN 0.5 AND 1'),
               ('province <> ''Hà Nội'''),
               ('customer_tags CONTAINS ''Sỉ'' AND email_subscription_status = ''subscribed'' AND customer_email_domain = ''gmail.com'''),
               ('first_order_date < -1y AND segment != ''new-customers'' AND segment NOT IN (''at-risk-customers'')')) v(q);
-- the row's tags (a compiled CONTAINS of customer_tags reads the table of
-- tags), on a user who is in no segment
INSERT INTO customer_mgmt.users (id, full_name, email, role)
VALUES ('00000000-0000-4000-8000-0000000000aa', 'Khách Thử', 'segment-lang@example.com', 'staff');
INSERT INTO customer_mgmt.customer_tags (customer_id, tag_key, tag)
VALUES ('00000000-0000-4000-8000-0000000000aa', 'si', 'Sỉ'), ('00000000-0000-4000-8000-0000000000aa', 'khach quen', 'Khách quen');
CREATE FUNCTION pg_temp.matches(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r boolean;
BEGIN
    EXECUTE 'SELECT ' || customer_mgmt.compile_segment_query(q, '2026-11-25 00:00+07') || ' FROM pg_temp.s s' INTO r;
    RETURN r;
END
$$;
SELECT q AS query, pg_temp.matches(q) AS the_row_matches
  FROM (VALUES ('total_spent >= 1000000 AND last_order_date > -30d'),
               ('favorite_categories CONTAINS ''Điện Thoại'''),
               ('province = ''Ho Chi Minh'''),
               ('registered_at <= -1y AND last_login_at > -7d'),
               ('total_orders NOT IN (1, 2, 3) AND NOT lifecycle_segment = ''vip'''),
               ('predicted_ltv >= 2000000 AND probability_alive > 0.8 AND churn_probability NOT BETWEEN 0.5 AND 1'),
               ('customer_tags CONTAINS ''Sỉ'' AND customer_email_domain = ''gmail.com'' AND first_order_date < -1y'),
               ('segment != ''new-customers'' AND sms_subscription_status = ''not_asked''')) v(q);
SELECT pg_temp.matches('customer_tags CONTAINS ''khách QUEN''') AS tagged, pg_temp.matches('customer_tags NOT CONTAINS ''sỉ''') AS not_tagged,
       pg_temp.matches('customer_tags CONTAINS ''đã khiếu nại''') AS other_tag;
DELETE FROM customer_mgmt.users WHERE id = '00000000-0000-4000-8000-0000000000aa';

-- errors: 22023, the character and what was expected there
SELECT customer_mgmt.compile_segment_query('', now());
SELECT customer_mgmt.compile_segment_query('total_spent >=', now());
SELECT customer_mgmt.compile_segment_query('total_spent >= ''a lot''', now());
SELECT customer_mgmt.compile_segment_query('amount_spent > 100', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 100 AND', now());
SELECT customer_mgmt.compile_segment_query('(total_spent > 100', now());
SELECT customer_mgmt.compile_segment_query('province > ''Hà Nội''', now());
SELECT customer_mgmt.compile_segment_query('province = ''Hà Nội', now());
SELECT customer_mgmt.compile_segment_query('status = active', now());
SELECT customer_mgmt.compile_segment_query('favorite_brands = ''Apple''', now());
SELECT customer_mgmt.compile_segment_query('total_spent CONTAINS 5', now());
SELECT customer_mgmt.compile_segment_query('last_order_date > date ''2026-02-30''', now());
SELECT customer_mgmt.compile_segment_query('last_order_date > -30x', now());
SELECT customer_mgmt.compile_segment_query('last_order_date > -9999999d', now());
SELECT customer_mgmt.compile_segment_query('total_orders IN (1, 2', now());
SELECT customer_mgmt.compile_segment_query('total_orders BETWEEN 1 OR 2', now());
SELECT customer_mgmt.compile_segment_query('total_orders IS 5', now());
SELECT customer_mgmt.compile_segment_query('Tổng > 5', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 5', NULL);
SELECT customer_mgmt.compile_segment_query('total_spent > 5', 'infinity');
SELECT customer_mgmt.compile_segment_query(NULL, now()) IS NULL AS null_query_is_null;

-- hostile queries: refused with 22023, nothing executed
SELECT customer_mgmt.compile_segment_query('total_spent > 0; DROP TABLE customer_mgmt.users', now());
SELECT customer_mgmt.compile_segment_query('1=1 OR', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 0 OR 1=1', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 0 -- comment', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 0 /* x */', now());
SELECT customer_mgmt.compile_segment_query('province = ''x'''' OR ''''1''''=''''1''', now());
SELECT customer_mgmt.compile_segment_query('province = ''back\slash''''quote''', now());
SELECT customer_mgmt.compile_segment_query('status = $$x$$', now());
SELECT customer_mgmt.compile_segment_query('s.total_spent > 0', now());
SELECT customer_mgmt.compile_segment_query('total_spent > 0 AND pg_sleep(10) IS NULL', now());
SELECT customer_mgmt.compile_segment_query(repeat('(', 10000) || 'total_spent > 0' || repeat(')', 10000), now());
SELECT customer_mgmt.compile_segment_query(repeat('(', 4000) || 'total_spent > 0' || repeat(')', 4000), now());
SELECT customer_mgmt.compile_segment_query(repeat('NOT ', 100) || 'total_spent > 0', now());
SELECT customer_mgmt.compile_segment_query(repeat('x', 20000), now());
-- each value of IN costs as a condition: 100 in all
SELECT length(customer_mgmt.compile_segment_query(
           'total_orders IN (' || (SELECT string_agg(i::text, ',') FROM generate_series(1, 100) i) || ')', now()));
SELECT length(customer_mgmt.compile_segment_query(
           'total_orders IN (' || (SELECT string_agg(i::text, ',') FROM generate_series(1, 101) i) || ')', now()));

-- fuzz: 30,000 queries, half generated from the grammar (conditions of
-- every form on attributes of every kind, joined by AND, OR, NOT and
-- parentheses), half from loose tokens, then mutated (characters dropped,
-- doubled, replaced, tokens appended); every one compiles to a predicate
-- that PostgreSQL runs on the row, or fails with 22023
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS
    $$ SELECT a[1 + floor(random() * cardinality(a))::integer] $$;
CREATE FUNCTION pg_temp.value_of(kind text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE kind
        WHEN 'number' THEN pg_temp.pick(ARRAY['0', '1', '100', '3.5', '.25', '-7', '10000000', '99999999999999999999'])
        WHEN 'time' THEN pg_temp.pick(ARRAY['-30d', '-8w', '-6m', '-1y', '-0d', 'date ''2026-01-01''',
                                            'date ''2024-02-29''', 'DATE ''1999-12-31'''])
        ELSE pg_temp.pick(ARRAY['''Hà Nội''', '''it''''s''', '''back\slash''', '''''', '''Điện thoại''',
                                '''active''', '''champions''', '''%_''', '''); DROP TABLE s; --'''])
    END
$$;
CREATE FUNCTION pg_temp.condition() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    parts text[] := string_to_array(pg_temp.pick(ARRAY[
        'total_spent number', 'total_orders number', 'age number', 'churn_risk number', 'last_order_date time',
        'registered_at time', 'last_login_at time', 'province text', 'status text', 'rfm_group text', 'gender text',
        'favorite_categories list', 'favorite_brands list', 'customer_tags list', 'customer_email_domain text',
        'email_subscription_status text', 'first_order_date time', 'segment text']), ' ');
    name text := parts[1];
    kind text := parts[2];
BEGIN
    RETURN CASE floor(random() * 6)::integer
        WHEN 0 THEN name || ' ' || pg_temp.pick(ARRAY['=', '!=', '<>', '<', '<=', '>', '>=']) || ' ' || pg_temp.value_of(kind)
        WHEN 1 THEN name || pg_temp.pick(ARRAY[' ', ' NOT ']) || 'BETWEEN ' || pg_temp.value_of(kind) || ' AND '
                    || pg_temp.value_of(kind)
        WHEN 2 THEN name || pg_temp.pick(ARRAY[' ', ' not ']) || 'IN (' || pg_temp.value_of(kind) || ', '
                    || pg_temp.value_of(kind) || ')'
        WHEN 3 THEN name || ' IS ' || pg_temp.pick(ARRAY['', 'NOT ']) || 'NULL'
        ELSE name || pg_temp.pick(ARRAY[' ', ' NOT ']) || 'CONTAINS ' || pg_temp.value_of(kind) END;
END
$$;
-- a function with parameters (products_purchased, orders_placed, anniversary)
CREATE FUNCTION pg_temp.function_call() RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.pick(ARRAY['products_purchased', 'orders_placed', 'anniversary']) || ' MATCHES ('
           || (SELECT string_agg(pg_temp.pick(ARRAY[
                   'category = ' || pg_temp.value_of('text'), 'brand IN (' || pg_temp.value_of('text') || ')',
                   'product != ' || pg_temp.value_of('text'), 'date > ' || pg_temp.value_of('time'),
                   'date BETWEEN ' || pg_temp.value_of('time') || ' AND ' || pg_temp.value_of('time'),
                   'count ' || pg_temp.pick(ARRAY['>=', '<', '=', '!=']) || ' ' || pg_temp.value_of('number'),
                   'count BETWEEN 0 AND ' || pg_temp.value_of('number'), 'sum_quantity > ' || pg_temp.value_of('number'),
                   'sum_amount >= ' || pg_temp.value_of('number'),
                   'status ' || pg_temp.pick(ARRAY['= ''completed''', 'IN (''cancelled'', ''refunded'')', '= ''lost''']),
                   'attribute = ' || pg_temp.pick(ARRAY['''date_of_birth''', '''registered''', '''first_order_date''', '''age''']),
                   'date = today', 'date BETWEEN today AND ' || pg_temp.pick(ARRAY['+7d', '+2w', '+366d', '+1y', '-7d'])]), ', ')
                 FROM generate_series(1, 1 + floor(random() * 3)::integer))
           || ')'
$$;
CREATE FUNCTION pg_temp.query(depth integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF depth <= 0 OR random() < 0.4 THEN
        RETURN CASE WHEN random() < 0.2 THEN pg_temp.function_call() ELSE pg_temp.condition() END;
    END IF;
    RETURN CASE floor(random() * 4)::integer
        WHEN 0 THEN pg_temp.query(depth - 1) || ' AND ' || pg_temp.query(depth - 1)
        WHEN 1 THEN pg_temp.query(depth - 1) || ' or ' || pg_temp.query(depth - 1)
        WHEN 2 THEN 'NOT ' || pg_temp.query(depth - 1)
        ELSE '(' || pg_temp.query(depth - 1) || ')' END;
END
$$;
CREATE FUNCTION pg_temp.fuzz(n integer) RETURNS TABLE (outcome text, queries bigint) LANGUAGE plpgsql AS $fuzz$
DECLARE
    tokens text[] := ARRAY['total_spent', 'total_orders', 'province', 'status', 'favorite_categories',
                           'last_order_date', 'age', 'rfm_group', 'registered_at', 'churn_risk', 'customer_tags',
                           'segment', 'first_order_date', '''new-customers''', 'products_purchased', 'orders_placed',
                           'anniversary', 'MATCHES', 'today', '+7d', 'count', 'category', 'AND', 'OR', 'NOT',
                           'BETWEEN', 'IN', 'IS', 'NULL', 'CONTAINS', 'date', '(', ')', ',', '=', '!=', '<>', '<',
                           '<=', '>', '>=', '0', '100', '-5', '3.14', '.5', '-30d', '-8w', '-6m', '-1y', '''Hà Nội''',
                           '''it''''s''', '''2026-01-01''', '''''', ';', '--', '/*', '$$', '\', '"', 'true', 'x'];
    q text;
    predicate text;
    ok bigint := 0;
    refused bigint := 0;
    other bigint := 0;
    state text;
    r boolean;
BEGIN
    PERFORM setseed(0.17229);
    FOR i IN 1 .. n LOOP
        IF i % 2 = 0 THEN
            q := pg_temp.query(4);
        ELSE
            q := (SELECT string_agg(pg_temp.pick(tokens), ' ') FROM generate_series(1, 1 + floor(random() * 12)::integer));
        END IF;
        FOR m IN 1 .. floor(random() * 3)::integer LOOP
            q := CASE floor(random() * 4)::integer
                     WHEN 0 THEN overlay(q PLACING '' FROM 1 + floor(random() * greatest(length(q), 1))::integer FOR 1)
                     WHEN 1 THEN overlay(q PLACING repeat(substr(q, 1 + floor(random() * greatest(length(q), 1))::integer, 1), 2)
                                         FROM 1 + floor(random() * greatest(length(q), 1))::integer FOR 1)
                     WHEN 2 THEN overlay(q PLACING chr(32 + floor(random() * 95)::integer)
                                         FROM 1 + floor(random() * greatest(length(q), 1))::integer FOR 1)
                     ELSE q || ' ' || pg_temp.pick(tokens) END;
        END LOOP;
        BEGIN
            predicate := customer_mgmt.compile_segment_query(q, '2026-11-25 00:00+07');
            EXECUTE 'SELECT ' || predicate || ' FROM pg_temp.s s' INTO r;
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
            IF state = '22023' AND predicate IS NULL THEN
                refused := refused + 1;
            ELSE
                other := other + 1;
                RAISE WARNING 'query % gave % (%)', q, state, SQLERRM;
            END IF;
        END;
        predicate := NULL;
    END LOOP;
    RETURN QUERY VALUES ('compiled and ran', ok), ('refused with 22023', refused), ('anything else', other);
END
$fuzz$;
SELECT outcome, CASE WHEN outcome = 'anything else' THEN queries = 0 ELSE queries > 1000 END AS as_expected
  FROM pg_temp.fuzz(30000);
