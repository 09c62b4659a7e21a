-- Segments on the 1,000,000-customer shop (bench/run.sh segments): preview
-- ten definitions of different shapes, each timed by the server.  (A
-- refresh of a saved segment is not measured yet: docs/performance.md.)
\set ON_ERROR_STOP 1
CREATE TEMP TABLE bench_segments (shape text, call text, seconds numeric, customers bigint);
DO $$
DECLARE
    t0 timestamptz;
    r jsonb;
    d record;
BEGIN
    FOR d IN SELECT * FROM (VALUES
        ('criteria: spend', '{"totalSpentMin": 20000000}'::jsonb, NULL::text),
        ('criteria: spend and recency', '{"totalSpentMin": 5000000, "daysSinceLastOrderMin": 60}', NULL),
        ('criteria: provinces', '{"geographicRegions": ["Hà Nội", "Bình Dương"]}', NULL),
        ('criteria: categories', '{"preferredCategories": ["Điện thoại"]}', NULL),
        ('criteria: registration window', '{"registeredAfter": "2026-01-01", "totalOrdersMax": 1}', NULL),
        ('language: churn and value', NULL, 'churn_risk >= 0.7 AND total_spent > 10000000'),
        ('language: RFM group', NULL, 'rfm_group IN (''champions'', ''loyal'')'),
        ('language: province and orders', NULL, 'province = ''Hà Nội'' AND total_orders > 3'),
        ('language: recent logins, no order', NULL, 'last_login_at > -30d AND (last_order_date IS NULL OR last_order_date < -90d)'),
        ('language: age and segment', NULL, 'age BETWEEN 25 AND 34 AND lifecycle_segment = ''active''')) v(shape, criteria, query)
    LOOP
        t0 := clock_timestamp();
        r := customer_mgmt.preview_segment(d.criteria, d.query);
        INSERT INTO bench_segments VALUES (d.shape, 'preview_segment', extract(epoch FROM clock_timestamp() - t0),
                                           (r ->> 'customerCount')::bigint);
    END LOOP;
END
$$;
SELECT format('| %s | `%s` | %s | %s s |', shape, call, customers, round(seconds, 2)) FROM bench_segments ORDER BY call DESC, ctid;
