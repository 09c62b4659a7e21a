-- Segments on the 1,000,000-customer shop (bench/run.sh segments): preview
-- the definitions of definitions.sql, each timed by the server, after the
-- floor: a count of every customer_list row (the scan a preview makes).
\set ON_ERROR_STOP 1
\ir definitions.sql
CREATE TEMP TABLE bench_segments (shape text, call text, seconds numeric, customers bigint);
DO $$
DECLARE
    t0 timestamptz;
    r jsonb;
    d record;
    n bigint;
BEGIN
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM customer_mgmt.customer_list;
    INSERT INTO bench_segments VALUES ('floor: every row counted', 'count(*)', extract(epoch FROM clock_timestamp() - t0), n);
    FOR d IN SELECT * FROM bench_definitions LOOP
        t0 := clock_timestamp();
        r := customer_mgmt.preview_segment(d.query, d.criteria);
        INSERT INTO bench_segments VALUES (d.shape, 'preview_segment', extract(epoch FROM clock_timestamp() - t0),
                                           (r ->> 'total')::bigint);
    END LOOP;
END
$$;
SELECT format('| %s | `%s` | %s | %s s |', shape, call, customers, round(seconds, 2)) FROM bench_segments ORDER BY ctid;
