-- A day of the 1,000,000-customer shop (bench/run.sh nightly): 5,000
-- customers each visit and place an order, dated after the previous run
-- (or the last minute, if it ran as of a later time) and before now,
-- recorded through the API; the queue worker then
-- recalculates them, as pg_cron does every minute.
\set ON_ERROR_STOP 1
SELECT set_config('bench.prev', (r.details ->> 'asOf'), false) AS previous_run
  FROM customer_mgmt.job_runs r
 WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'succeeded'
 ORDER BY r.id DESC LIMIT 1;
DO $$
DECLARE
    prev timestamptz := least(current_setting('bench.prev')::timestamptz, now() - interval '1 minute');
    span interval := now() - prev;
    c record;
    i integer := 0;
    t timestamptz;
BEGIN
    FOR c IN
        SELECT l.customer_id FROM customer_mgmt.customer_list l
         ORDER BY md5(l.customer_id::text || prev::text) LIMIT 5000
    LOOP
        i := i + 1;
        t := prev + span * (i / 5001.0);
        PERFORM customer_mgmt.record_session(c.customer_id, t - interval '10 minutes', 300, 6, true);
        PERFORM customer_mgmt.record_order(c.customer_id, 250000 + 1000 * (i % 500), 'completed', t,
            jsonb_build_array(jsonb_build_object('productName', 'Áo thun', 'category', 'Thời trang', 'brand', 'Việt Tiến',
                                                 'unitPrice', 150000, 'quantity', 1),
                              jsonb_build_object('productName', 'Nồi cơm', 'category', 'Gia dụng', 'brand', 'Sunhouse',
                                                 'unitPrice', 100000 + 1000 * (i % 500), 'quantity', 1)));
    END LOOP;
END
$$;
SELECT customer_mgmt.process_analytics_queue(10000) ->> 'processed' AS processed_by_the_worker;
