-- The CLV model's numerics over the whole parameter space: BG/NBD's
-- expected purchases and P(alive) against values computed at 40 digits
-- (test/data/clv/reference.py: the bench shop's fit, CDNOW's, the corners,
-- the boundaries), invariants over a grid of fits and customers, the
-- limits reached continuously, fits that run to a boundary on simulated
-- shops without heterogeneity, and fuzzed fits.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(17);

-- 1. Against the reference values: a relative error below 1e-9
CREATE TEMP TABLE ref (name text, r float8, alpha float8, a float8, b float8, purchase_rate float8,
                       dropout_probability float8, t float8, x float8, t_x float8, age float8,
                       expected float8, alive float8);
\copy ref FROM 'test/data/clv/reference.csv' CSV HEADER
CREATE TEMP TABLE got AS
SELECT name, expected, alive,
       customer_mgmt.bgnbd_expected_purchases(params, t, x, t_x, age) AS e,
       customer_mgmt.bgnbd_probability_alive(params, x, t_x, age) AS pa
  FROM (SELECT *, jsonb_build_object('r', r, 'alpha', alpha, 'a', a, 'b', b, 'purchaseRate', purchase_rate,
                                     'dropoutProbability', dropout_probability) AS params FROM ref) f;
SELECT is((SELECT count(*)::int FROM got), 28, 'the 28 reference cases');
SELECT is((SELECT array_agg(name ORDER BY name) FROM got WHERE NOT abs(e / expected - 1) <= 1e-9), NULL,
          'expected purchases within 1e-9 of the 40-digit value in every case (bench fit, CDNOW, a near 1, small a, large x, t, T, the boundaries)');
SELECT is((SELECT array_agg(name ORDER BY name) FROM got WHERE NOT abs(pa / alive - 1) <= 1e-12), NULL,
          'P(alive) within 1e-12 in every case');
SELECT diag('largest relative error: ' || max(abs(e / expected - 1))) FROM got;

-- 2. Invariants over a grid: 4 r x 4 alpha x 7 a x 4 b fits, 6 customers, 4 horizons
CREATE TEMP TABLE grid AS
SELECT jsonb_build_object('r', r, 'alpha', alpha, 'a', a, 'b', b) AS params, r, alpha, a, b, x, t_x, age
  FROM unnest(ARRAY[0.05, 0.3, 3, 1e4]::float8[]) r, unnest(ARRAY[0.01, 5, 100, 1e5]::float8[]) alpha,
       unnest(ARRAY[0.02, 0.8, 1, 1.0000001, 5, 1e6, 3e6]::float8[]) a, unnest(ARRAY[0.02, 2.5, 50, 6e7]::float8[]) b,
       (VALUES (0::float8, 0::float8, 0::float8), (0, 0, 100), (1, 10, 30), (3, 200, 300), (40, 1000, 1010),
               (1000, 2990, 3000)) c (x, t_x, age);
CREATE TEMP TABLE sweep AS
SELECT g.*, h.t, customer_mgmt.bgnbd_expected_purchases(params, h.t, x, t_x, age) AS e,
       customer_mgmt.bgnbd_probability_alive(params, x, t_x, age) AS pa,
       customer_mgmt.bgnbd_probability_no_purchase(params, h.t, x, t_x, age) AS none
  FROM grid g, unnest(ARRAY[1, 90, 365, 3650]::float8[]) h (t);
SELECT is((SELECT count(*)::int FROM sweep), 10752, 'every fit of the grid answers for every customer and horizon (no error)');
SELECT is((SELECT count(*)::int FROM sweep WHERE NOT (e >= 0 AND e < 'Infinity' AND pa BETWEEN 0 AND 1 AND none BETWEEN 0 AND 1)),
          0, 'expected purchases finite and 0 or more, probabilities in [0, 1]');
-- an alive customer buys at most at the rate (r+x)/(alpha+T) and at least as one who drops out at the
-- first purchase (customers all but certainly gone, P(alive) < 1e-200, left out: SQL's float8 refuses underflow)
SELECT is((SELECT count(*)::int FROM sweep
            WHERE pa > 1e-200
              AND NOT (e <= pa * (r + x) * t / (alpha + age) * (1 + 1e-9)
                       AND e >= pa * (1 - exp(greatest(-700, -(r + x) * ln(1 + t / (alpha + age))))) * (1 - 1e-6))),
          0, 'between the bounds P(alive) (1 - (1 + t/(alpha+T))^-(r+x)) and P(alive) (r+x) t/(alpha+T)');
SELECT is((SELECT count(*)::int FROM sweep s JOIN sweep l USING (params, x, t_x, age)
            WHERE l.t > s.t AND NOT (l.e >= s.e * (1 - 1e-12) AND l.none <= s.none * (1 + 1e-12))),
          0, 'more time, more purchases, and less chance of none');
SELECT is((SELECT count(*)::int FROM sweep
            WHERE pa > 1e-100 AND abs(none - (1 - pa + pa * exp(greatest(-200, -(r + x) * ln(1 + t / (alpha + age)))))) > 1e-12),
          0, 'P(no purchase in t) is 1 - P(alive) + P(alive) (1 + t/(alpha+T))^-(r+x)');

-- 3. The limits, reached continuously: a, b -> infinity with a/(a+b) = p; r, alpha -> infinity with r/alpha = lambda
SELECT is((SELECT count(*)::int
             FROM (VALUES (0.047507::float8), (0.25), (0.9)) p (p), grid g, unnest(ARRAY[90, 365]::float8[]) h (t)
            WHERE g.a = 0.8 AND g.b = 2.5 AND g.r = 0.3 AND g.alpha = 5
              AND NOT abs(customer_mgmt.bgnbd_expected_purchases(jsonb_build_object('r', 0.3, 'alpha', 5, 'a', 1e12 * p, 'b', 1e12 * (1 - p)), t, x, t_x, age)
                          / customer_mgmt.bgnbd_expected_purchases(jsonb_build_object('r', 0.3, 'alpha', 5, 'dropoutProbability', p), t, x, t_x, age) - 1) <= 1e-6),
          0, 'a, b at 1e12 give the one-dropout-probability model''s predictions');
SELECT is((SELECT count(*)::int
             FROM (VALUES (0.001::float8), (0.05), (2)) l (lambda), grid g, unnest(ARRAY[90, 365]::float8[]) h (t)
            WHERE g.a = 0.8 AND g.b = 2.5 AND g.r = 0.3 AND g.alpha = 5
              AND NOT abs(customer_mgmt.bgnbd_expected_purchases(jsonb_build_object('r', 1e14 * lambda, 'alpha', 1e14, 'a', 0.8, 'b', 2.5), t, x, t_x, age)
                          / customer_mgmt.bgnbd_expected_purchases(jsonb_build_object('purchaseRate', lambda, 'a', 0.8, 'b', 2.5), t, x, t_x, age) - 1) <= 1e-6),
          0, 'r, alpha at 1e14 give the one-purchase-rate model''s predictions');
SELECT is(round(customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 8),
          round(customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1.000000001, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 8),
          'a = 1 exactly, where the closed form is 0/0: the limit, to 8 decimals');

-- 4. Fits that run to a boundary: shops simulated without heterogeneity in the dropout, the rate, or both
CREATE FUNCTION pg_temp.simulate(n integer, seed float8, rate_sql text, p_sql text)
    RETURNS TABLE (x float8, tx float8, age float8) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    -- each customer: a rate, a dropout probability and an age; purchases at exponential
    -- gaps, dropping out after each with the probability
    RETURN QUERY EXECUTE format($q$
        WITH RECURSIVE c AS MATERIALIZED (
            SELECT i AS id, %s AS lambda, %s AS p, (100 + floor(random() * 266))::float8 AS age FROM generate_series(1, %s) i),
        s (id, n, t, alive) AS (
            SELECT id, 0, 0::float8, true FROM c
            UNION ALL
            SELECT s.id, s.n + 1, s.t + e.dt, random() >= c.p
              FROM s JOIN c USING (id), LATERAL (SELECT -ln(1 - random()) / c.lambda AS dt) e
             WHERE s.alive AND s.t + e.dt <= c.age)
        SELECT max(s.n)::float8, floor(max(s.t))::float8, c.age FROM s JOIN c USING (id) GROUP BY s.id, c.age$q$,
        rate_sql, p_sql, n);
END $$;
CREATE TEMP TABLE sims AS
SELECT 'dropout' AS kind, customer_mgmt.bgnbd_fit(x, tx, age) AS f FROM pg_temp.simulate(3000, 0.3, '-ln(1 - random()) / 20', '0.25')
UNION ALL
SELECT 'rate', customer_mgmt.bgnbd_fit(x, tx, age) FROM pg_temp.simulate(4000, 0.42, '0.05', '1 - (1 - random()) ^ (1 / 3.0)')
UNION ALL
SELECT 'both', customer_mgmt.bgnbd_fit(x, tx, age) FROM pg_temp.simulate(3000, 0.3, '0.05', '0.25')
UNION ALL
SELECT 'neither', customer_mgmt.bgnbd_fit(x, tx, age) FROM pg_temp.simulate(4000, 0.42, '-ln(1 - random()) / 20', '1 - (1 - random()) ^ (1 / 3.0)');
SELECT is((SELECT array_agg(kind || ' ' || (f -> 'atBoundary')::text || ' ' || (f ->> 'converged') ORDER BY kind) FROM sims),
          ARRAY['both ["r", "alpha", "a", "b"] true', 'dropout ["a", "b"] true', 'neither [] true', 'rate ["r", "alpha"] true'],
          'each fit at the boundary its shop has, converged');
SELECT is((SELECT round((f ->> 'dropoutProbability')::numeric, 2) FROM sims WHERE kind = 'dropout'), 0.25,
          'one dropout probability for all: 0.25, as simulated');
SELECT is((SELECT round((f ->> 'purchaseRate')::numeric, 3) FROM sims WHERE kind = 'rate'), 0.050,
          'one purchase rate for all: 0.05 a day, as simulated');
SELECT is((SELECT array[round((f ->> 'r')::numeric, 1), round((f ->> 'alpha')::numeric, -1), round((f ->> 'a')::numeric, 1), round((f ->> 'b')::numeric, 0)]
             FROM sims WHERE kind = 'neither'), ARRAY[1.0, 20, 0.9, 3],
          'with both kinds of heterogeneity the full model, near the simulated r = 1, alpha = 20, a = 1, b = 3');
SELECT is((SELECT count(*)::int FROM sims, grid g
            WHERE g.r = 0.3 AND g.alpha = 5 AND g.a = 0.8 AND g.b = 2.5
              AND NOT (customer_mgmt.bgnbd_expected_purchases(f, 365, x, t_x, age) >= 0
                       AND customer_mgmt.bgnbd_probability_alive(f, x, t_x, age) BETWEEN 0 AND 1)),
          0, 'the boundary fits predict for every customer');

-- 5. Fuzz: 3,000 random fits (each key absent, null, a string, an array, true, 0, negative, tiny,
-- huge or a random magnitude) for random customers: the strict functions answer a number in range or
-- 22023, the shop's predictions (clv_predictions) always answer, with a status
CREATE FUNCTION pg_temp.fuzz_value() RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN random() < 0.15
                THEN (ARRAY['null', '"1.5"', '[1]', 'true', '0', '-2.5', '1e-320', '1e308', '-1e308'])[1 + floor(random() * 9)::int]::jsonb
                WHEN random() < 0.5 THEN to_jsonb(random())
                ELSE to_jsonb(exp(random() * 40 - 20)) END
$$;
CREATE FUNCTION pg_temp.fuzz_fit(keys text[]) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(jsonb_object_agg(k, pg_temp.fuzz_value()) FILTER (WHERE random() < 0.85), '{}') FROM unnest(keys) k
$$;
CREATE FUNCTION pg_temp.fuzz(n integer) RETURNS TABLE (what text, outcome text, calls bigint) LANGUAGE plpgsql AS $$
DECLARE
    fit jsonb;
    x integer;
    tx integer;
    age integer;
    v float8;
    p customer_mgmt.clv_prediction;
BEGIN
    PERFORM setseed(0.2026);
    CREATE TEMP TABLE fuzzed (what text, outcome text) ON COMMIT DROP;
    FOR i IN 1 .. n LOOP
        fit := pg_temp.fuzz_fit(ARRAY['r', 'alpha', 'a', 'b', 'purchaseRate', 'dropoutProbability', 'minCustomerDays']);
        x := floor(random() * 30);
        tx := CASE WHEN x = 0 THEN 0 ELSE floor(random() * 400) END;
        age := tx + floor(random() * 400);
        BEGIN
            v := customer_mgmt.bgnbd_expected_purchases(fit, 365, x, tx, age);
            INSERT INTO fuzzed VALUES ('bgnbd_expected_purchases', CASE WHEN v >= 0 AND v < 'Infinity' THEN 'number' ELSE 'out of range' END);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO fuzzed VALUES ('bgnbd_expected_purchases', SQLSTATE);
        END;
        BEGIN
            v := customer_mgmt.bgnbd_probability_no_purchase(fit, 90, x, tx, age);
            INSERT INTO fuzzed VALUES ('bgnbd_probability_no_purchase', CASE WHEN v BETWEEN 0 AND 1 THEN 'number' ELSE 'out of range' END);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO fuzzed VALUES ('bgnbd_probability_no_purchase', SQLSTATE);
        END;
        BEGIN
            p := customer_mgmt.clv_predictions(fit, pg_temp.fuzz_fit(ARRAY['p', 'q', 'gamma']), x, tx, current_date - age, 150000, current_date, random() * 0.3);
            INSERT INTO fuzzed VALUES ('clv_predictions', CASE WHEN p.status = 'predicted' AND NOT (p.predicted_ltv >= 0 AND p.probability_alive BETWEEN 0 AND 1)
                                                               THEN 'out of range' ELSE 'status' END),
                                      ('clv_predictions status', p.status);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO fuzzed VALUES ('clv_predictions', SQLSTATE);
        END;
    END LOOP;
    RETURN QUERY SELECT f.what, f.outcome, count(*) FROM fuzzed f GROUP BY 1, 2 ORDER BY 1, 2;
END $$;
CREATE TEMP TABLE fuzzed_outcomes AS SELECT * FROM pg_temp.fuzz(3000);
SELECT diag(what || ': ' || outcome || ' ' || calls) FROM fuzzed_outcomes;
SELECT is((SELECT array_agg(DISTINCT what || ' ' || outcome ORDER BY what || ' ' || outcome) FROM fuzzed_outcomes
            WHERE what <> 'clv_predictions status'),
          ARRAY['bgnbd_expected_purchases 22023', 'bgnbd_expected_purchases number', 'bgnbd_probability_no_purchase 22023',
                'bgnbd_probability_no_purchase number', 'clv_predictions status'],
          'fuzzed fits: a number in range or 22023 from the strict functions; the shop''s predictions always answer');

SELECT * FROM finish();
ROLLBACK;
