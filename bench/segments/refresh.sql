-- Segments on the 1,000,000-customer shop (bench/run.sh segments): create
-- (fill) and refresh the definitions of definitions.sql, each timed
-- by the server; everything is rolled back at the end.
\set ON_ERROR_STOP 1
\ir definitions.sql
BEGIN;
CREATE TEMP TABLE bench_refresh (shape text, call text, seconds numeric, customers bigint);
DO $$
DECLARE
    t0 timestamptz;
    r jsonb;
    d record;
BEGIN
    PERFORM set_config('request.jwt.claims', '{"role": "customer_mgmt_admin"}', true);
    FOR d IN SELECT * FROM bench_definitions LOOP
        t0 := clock_timestamp();
        r := customer_mgmt.create_segment('bench: ' || d.shape, d.query, d.criteria);
        INSERT INTO bench_refresh VALUES (d.shape, 'create_segment', extract(epoch FROM clock_timestamp() - t0),
                                          (r ->> 'customerCount')::bigint);
        t0 := clock_timestamp();
        r := customer_mgmt.refresh_segment((r ->> 'id')::uuid);
        INSERT INTO bench_refresh VALUES (d.shape, 'refresh_segment', extract(epoch FROM clock_timestamp() - t0),
                                          (r ->> 'customerCount')::bigint);
    END LOOP;
END
$$;
SELECT format('| %s | `%s` | %s | %s s |', shape, call, customers, round(seconds, 2)) FROM bench_refresh ORDER BY call DESC, ctid;
ROLLBACK;
