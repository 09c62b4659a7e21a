-- The dashboard on the 1,000,000-customer shop (bench/run.sh dashboard):
-- each call three times, timed by the server; the first warms the cache.
-- The windows end at the shop's date, 2026-11-01 (bench/run.sh generate:
-- the generated shop stops there, so windows ending now would be empty,
-- and "nightly" adds a day dated today), and are 30 days and a year long.
-- The floor is what any exact answer computed at call time reads at least:
-- every customer's list row once (the distributions), and the window's
-- visits and completed orders once (the active customers), counted without
-- grouping.
\set ON_ERROR_STOP 1
CREATE TEMP TABLE bench_dashboard (call text, run integer, seconds numeric);
DO $$
DECLARE
    t0 timestamptz;
    x jsonb;
    shop_now constant timestamptz := '2026-11-01 00:00+07';
BEGIN
    FOR run IN 1 .. 3 LOOP
        t0 := clock_timestamp();
        PERFORM (SELECT count(*) FROM customer_mgmt.customer_list l),
                (SELECT count(*) FROM customer_mgmt.web_sessions w
                  WHERE w.started_at >= shop_now - interval '30 days' AND w.started_at < shop_now),
                (SELECT count(*) FROM customer_mgmt.orders o
                  WHERE o.status = 'completed' AND o.order_date >= shop_now - interval '30 days' AND o.order_date < shop_now);
        INSERT INTO bench_dashboard VALUES ('floor: every list row, the 30 days'' visits and completed orders, counted', run,
                                            extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        x := customer_mgmt.get_customer_overview(shop_now - interval '30 days', shop_now);
        INSERT INTO bench_dashboard VALUES ('get_customer_overview() (30 days)', run,
                                            extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        x := customer_mgmt.get_customer_health_score(shop_now);
        INSERT INTO bench_dashboard VALUES ('get_customer_health_score()', run, extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        PERFORM customer_mgmt.overview_counts(shop_now - interval '30 days', shop_now);
        INSERT INTO bench_dashboard VALUES ('of which overview_counts (total, new, active, churned)', run,
                                            extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    t0 := clock_timestamp();
    x := customer_mgmt.get_customer_overview(shop_now - interval '1 year', shop_now);
    INSERT INTO bench_dashboard VALUES ('get_customer_overview() (a year, once)', 1,
                                        extract(epoch FROM clock_timestamp() - t0));
END
$$;
SELECT format('| `%s` | %s | %s s |', call, string_agg(round(seconds, 2)::text || ' s', ', ' ORDER BY run),
              coalesce(round(min(seconds) FILTER (WHERE run > 1), 2), round(min(seconds), 2)))
  FROM bench_dashboard GROUP BY call ORDER BY min(ctid);
