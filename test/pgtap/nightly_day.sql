-- One simulated day of 09_nightly.sql (included with :k set): the shop's
-- day, the run one way (odd days from scratch, even days incremental), its
-- rows kept in a variable, rolled back, the run the other way, compared.
-- The queue is not drained in between (the worker would write as of the
-- real now(), months after these days), so what it holds adds up.
SELECT ('2026-06-01 00:00+07'::timestamptz + :k * interval '1 day')::text AS day_end \gset
SELECT pg_temp.shop_day(:'day_end', :k) IS NULL AS shop_day \gset
SAVEPOINT day;
SELECT customer_mgmt.recalculate_all_analytics(:'day_end', full => (:k % 2 = 1)) AS first_run \gset
SELECT array_agg(x ORDER BY x) AS first_rows FROM pg_temp.recalculated() x \gset
ROLLBACK TO SAVEPOINT day;
SELECT customer_mgmt.recalculate_all_analytics(:'day_end', full => (:k % 2 = 0)) AS second_run \gset
SELECT ok((r ->> 'full')::boolean = false AND (r ->> 'changedCustomers')::int BETWEEN 1 AND 150,
          format('day %s: the incremental run recomputed %s of 300 customers', :k, r ->> 'changedCustomers'))
  FROM (SELECT (CASE WHEN :k % 2 = 1 THEN :'second_run' ELSE :'first_run' END)::jsonb AS r) x;
SELECT bag_eq('SELECT x FROM pg_temp.recalculated() x', format('SELECT unnest(%L::text[])', :'first_rows'),
              format('day %s: incremental and from scratch leave the same rows', :k));
