-- The dashboard on the 1,000,000-customer shop (bench/run.sh dashboard):
-- each call three times, timed by the server; the first warms the cache.
\set ON_ERROR_STOP 1
CREATE TEMP TABLE bench_dashboard (call text, run integer, seconds numeric);
DO $$
DECLARE
    t0 timestamptz;
    x jsonb;
BEGIN
    FOR run IN 1 .. 3 LOOP
        t0 := clock_timestamp();
        x := customer_mgmt.get_customer_overview();
        INSERT INTO bench_dashboard VALUES ('get_customer_overview() (the last 30 days)', run,
                                            extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        x := customer_mgmt.get_customer_health_score();
        INSERT INTO bench_dashboard VALUES ('get_customer_health_score()', run, extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        PERFORM customer_mgmt.overview_counts(now() - interval '30 days', now());
        INSERT INTO bench_dashboard VALUES ('of which overview_counts (total, new, active, churned)', run,
                                            extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
END
$$;
SELECT format('| `%s` | %s | %s s |', call, string_agg(round(seconds, 2)::text || ' s', ', ' ORDER BY run),
              round(min(seconds) FILTER (WHERE run > 1), 2))
  FROM bench_dashboard GROUP BY call ORDER BY min(ctid);
