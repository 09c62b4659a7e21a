-- The C functions under the inputs a new user's mistakes send them: NULLs
-- everywhere, empty and huge texts, extremes of every type.  Each answer is
-- either a value or an error with its SQLSTATE; none may crash the backend.
-- make test-sanitize runs this file (and the rest of the C functions' tests)
-- under AddressSanitizer and UndefinedBehaviorSanitizer.
\set SHOW_CONTEXT never

-- purchase_preferences: lines without an order, price or quantity before any
-- purchase leave no state (NULL), not a NULL pointer taken for one
SELECT customer_mgmt.purchase_preferences(NULL::uuid, 'a', 'b', 100::bigint, 1);
SELECT customer_mgmt.purchase_preferences(o, c, b, p, q)
  FROM (VALUES (NULL::uuid, 'a', 'b', 100::bigint, 1),
               ('00000000-0000-4000-8000-000000000001', 'a', 'b', NULL, 1),
               ('00000000-0000-4000-8000-000000000001', 'a', 'b', 100, NULL)) t(o, c, b, p, q);
-- a purchase after such lines, and lines without category or brand
SELECT customer_mgmt.purchase_preferences(o, c, b, p, q)
  FROM (VALUES (NULL::uuid, 'a', 'b', 100::bigint, 1),
               ('00000000-0000-4000-8000-000000000001', 'Thời trang', NULL, 25000000, 2),
               ('00000000-0000-4000-8000-000000000002', NULL, 'Canifa', 10000000, 1)) t(o, c, b, p, q);
-- per group, some groups only NULL lines (a LEFT JOIN of orders without items)
SELECT g, customer_mgmt.purchase_preferences(o, c, b, p, q)
  FROM (VALUES (1, NULL::uuid, NULL, NULL, NULL::bigint, NULL::int),
               (2, '00000000-0000-4000-8000-000000000003', 'Điện thoại', 'Apple', 2999000000, 1),
               (2, NULL, NULL, NULL, NULL, NULL)) t(g, o, c, b, p, q)
 GROUP BY g ORDER BY g;
-- negative amounts, overflow, empty and long names
SELECT customer_mgmt.purchase_preferences('00000000-0000-4000-8000-000000000001', 'a', 'b', -1::bigint, 1);
SELECT customer_mgmt.purchase_preferences('00000000-0000-4000-8000-000000000001', 'a', 'b', 100::bigint, -1);
SELECT customer_mgmt.purchase_preferences('00000000-0000-4000-8000-000000000001', 'a', 'b', 9223372036854775807, 2);
SELECT customer_mgmt.purchase_preferences(o, 'a', 'b', 4611686018427387904, 1)
  FROM (VALUES ('00000000-0000-4000-8000-000000000001'::uuid), ('00000000-0000-4000-8000-000000000002')) t(o);
SELECT length(customer_mgmt.purchase_preferences('00000000-0000-4000-8000-000000000001', '', repeat('x', 100000), 0::bigint, 0)::text);

-- under a parallel plan whose workers may see only NULL lines
CREATE TABLE lines AS                          -- not temporary: workers cannot read those
    SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE ('00000000-0000-4000-8000-' || lpad((i / 7)::text, 12, '0'))::uuid END AS o,
           'c' || i % 5 AS c, 'b' || i % 4 AS b,
           CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 1000)::bigint END AS p, 1 + i % 3 AS q, i % 40 AS g
      FROM generate_series(1, 20000) i
    UNION ALL                                   -- a group of NULL lines only
    SELECT NULL, 'c', 'b', NULL, NULL, 99 FROM generate_series(1, 5000);
ANALYZE lines;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_has(query text, node text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line LIKE '%' || node || '%' THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
SELECT pg_temp.plan_has('SELECT g, customer_mgmt.purchase_preferences(o, c, b, p, q) FROM lines GROUP BY g',
                        'Partial') AS partial_aggregation_in_workers;
SELECT count(*) AS groups, count(pref) AS with_preferences
  FROM (SELECT g, customer_mgmt.purchase_preferences(o, c, b, p, q) AS pref FROM lines GROUP BY g) x;
SELECT g, customer_mgmt.purchase_preferences(o, c, b, p, q) IS NULL AS only_null_lines
  FROM lines WHERE g = 99 OR o IS NULL GROUP BY g HAVING g IN (0, 99) ORDER BY g;
SELECT customer_mgmt.purchase_preferences(o, c, b, p, q) IS NULL AS only_null_lines FROM lines WHERE o IS NULL;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
DROP TABLE lines;

-- the rules: NULL facts are "none", NULL thresholds are refused naming them
SELECT customer_mgmt.lifecycle_segment(1, 0, 1, 10, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT customer_mgmt.lifecycle_segment(1, 0, 1, 10, 5e7, 0.3, 5, 60, 0.7, 30, NULL);
SELECT customer_mgmt.lifecycle_segment(NULL, NULL, NULL, NULL);
SELECT customer_mgmt.lifecycle_segment('Infinity', 'NaN', 2147483647, -2147483648);
SELECT * FROM customer_mgmt.insights(1, 0, 1, 10, NULL, 0.7, 5, 30);
SELECT * FROM customer_mgmt.insights(NULL, NULL, NULL, NULL);
SELECT customer_mgmt.engagement_score(NULL, NULL, NULL, NULL, NULL, NULL);
SELECT customer_mgmt.engagement_score(-2147483648, 2147483647, 'Infinity', 'NaN', 2147483647, -1);
SELECT customer_mgmt.churn_risk(NULL, NULL, NULL, NULL);
SELECT customer_mgmt.churn_risk(2147483647, -2147483648, '-Infinity', 'NaN');
SELECT customer_mgmt.rfm_digit(NULL, ARRAY[1, 2, 3, 4]::float8[]);
SELECT customer_mgmt.rfm_digit(1, NULL);
SELECT customer_mgmt.rfm_digit(1, '{}'::float8[]);
SELECT customer_mgmt.rfm_digit(1, '{{1,2},{3,4}}'::float8[]);
SELECT customer_mgmt.rfm_digit('NaN', ARRAY[1, 2, 3, 4]::float8[]);

-- every score in one call: NULL facts are "none", a wrong thresholds array
-- or an infinite time is refused naming it, the days saturate
SELECT * FROM customer_mgmt.analytics_scores(NULL, now(), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                             customer_mgmt.analytics_thresholds());
SELECT * FROM customer_mgmt.analytics_scores('4713-01-01 BC', '294276-12-31', 2147483647, 'Infinity', 'NaN',
                                             -2147483648, 2147483647, '-Infinity', 'NaN', -1, -2147483648,
                                             customer_mgmt.analytics_thresholds());
SELECT * FROM customer_mgmt.analytics_scores('2026-01-02', '2026-01-01', 1, 1, 0, 1, 1, 1, 0, 1, 1,
                                             customer_mgmt.analytics_thresholds());
SELECT * FROM customer_mgmt.analytics_scores(NULL, NULL, 1, 1, 0, 1, 1, 1, 0, 1, 1, customer_mgmt.analytics_thresholds());
SELECT * FROM customer_mgmt.analytics_scores(NULL, now(), 1, 1, 0, 1, 1, 1, 0, 1, 1, NULL);
SELECT * FROM customer_mgmt.analytics_scores(NULL, now(), 1, 1, 0, 1, 1, 1, 0, 1, 1, '{1,2,3}');
SELECT * FROM customer_mgmt.analytics_scores(NULL, now(), 1, 1, 0, 1, 1, 1, 0, 1, 1, array_fill(NULL::float8, ARRAY[11]));
SELECT * FROM customer_mgmt.analytics_scores(NULL, now(), 1, 1, 0, 1, 1, 1, 0, 1, 1, array_fill(1::float8, ARRAY[11, 1]));
SELECT * FROM customer_mgmt.analytics_scores('infinity', now(), 1, 1, 0, 1, 1, 1, 0, 1, 1, customer_mgmt.analytics_thresholds());

-- search and phone: empty, huge, invalid and odd texts
SELECT customer_mgmt.search_fold(''), customer_mgmt.search_fold(NULL);
SELECT length(customer_mgmt.search_fold(repeat('Đ', 1000000)));
SELECT customer_mgmt.search_key(NULL, NULL, NULL);
SELECT length(customer_mgmt.search_key(repeat('ễ', 100000), repeat('a', 100000), repeat('9', 100000)));
SELECT customer_mgmt.normalize_phone(''), customer_mgmt.normalize_phone(repeat('9', 100000)),
       customer_mgmt.normalize_phone('+'), customer_mgmt.normalize_phone('84');

-- demo generator helpers at the extremes of their arguments
SELECT customer_mgmt.demo_random(-9223372036854775808, -2147483648, 9223372036854775807) BETWEEN 0 AND 1 AS in_range;
SELECT customer_mgmt.demo_uuid(9223372036854775807, 2147483647, -9223372036854775808) IS NOT NULL AS uuid;
SELECT count(*) FROM customer_mgmt.demo_items(1, -1, -5);
SELECT count(*) FROM customer_mgmt.demo_items(1, 1, 2147483647);
SELECT customer_mgmt.demo_order_total(1, 1, NULL);

-- identity: malformed settings
SELECT length(set_config('customer_mgmt.actor_id', repeat('x', 10000), false));
SELECT customer_mgmt.current_actor();
RESET customer_mgmt.actor_id;
