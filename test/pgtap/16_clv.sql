-- The predicted lifetime value: BG/NBD and Gamma-Gamma against
-- the published CDNOW fits and lifetimes' values, the special function,
-- degenerate and bad inputs, the shop's model through the whole path (the
-- CDNOW sample's transactions as orders), a hand-computed customer, the
-- NULL path under 500 customers, the queue worker's rescoring, roles.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(76);

-- the CDNOW sample (test/data/cdnow/SOURCE.md), as its summaries (its transactions: 6. below)
CREATE TEMP TABLE cd (id integer, x float8, tx float8, t float8, zbar float8);
\copy cd FROM 'test/data/cdnow/cdnow_customers_summary_with_transactions.csv' CSV HEADER
-- 1. The fits on the published summaries (weeks)
CREATE TEMP TABLE fit AS
SELECT customer_mgmt.bgnbd_fit(x, tx, t) AS bg, customer_mgmt.gamma_gamma_fit(x, zbar) AS gg FROM cd;
SELECT is((SELECT array[round((bg->>'r')::numeric, 3), round((bg->>'alpha')::numeric, 3), round((bg->>'a')::numeric, 3),
                        round((bg->>'b')::numeric, 3)] FROM fit),
          ARRAY[0.243, 4.414, 0.793, 2.426], 'BG/NBD on CDNOW: r, alpha, a, b as published (Fader, Hardie & Lee 2005)');
SELECT is((SELECT round((bg->>'logLikelihood')::numeric, 1) FROM fit), -9582.4, 'BG/NBD: the published log-likelihood');
SELECT is((SELECT array[(bg->>'customers')::int, (gg->>'customers')::int] FROM fit), ARRAY[2357, 946],
          'every customer for BG/NBD, those with repeat purchases for Gamma-Gamma');
SELECT ok((SELECT (bg->>'converged')::boolean AND (gg->>'converged')::boolean FROM fit), 'both converged');
SELECT is((SELECT array[round((gg->>'p')::numeric, 2), round((gg->>'q')::numeric, 2), round((gg->>'gamma')::numeric, 1)] FROM fit),
          ARRAY[6.25, 3.74, 15.4], 'Gamma-Gamma on CDNOW: p, q, gamma as published (to three significant figures)');

-- 2. lifetimes' published values
SELECT is(round(customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 3),
          1.226, 'conditional expectation for x = 2, t_x = 30.43, T = 38.86 over 39 weeks: 1.226');
SELECT is(round(customer_mgmt.bgnbd_expected_purchases((SELECT bg FROM fit), 39, 2, 30.43, 38.86)::numeric, 3),
          1.226, 'the same with our fit');
SELECT is(customer_mgmt.bgnbd_probability_alive((SELECT bg FROM fit), 0, 0, 38.86), 1::float8, 'P(alive | x = 0) = 1');
SELECT is(round(customer_mgmt.bgnbd_probability_alive('{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 2, 30.43, 38.86)::numeric, 10),
          round((1 / (1 + 0.793 / (2.426 + 2 - 1) * ((4.414 + 38.86) / (4.414 + 30.43)) ^ (0.243 + 2)))::numeric, 10),
          'P(alive | x = 2, t_x = 30.43, T = 38.86) as the formula');
SELECT cmp_ok(customer_mgmt.bgnbd_expected_purchases((SELECT bg FROM fit), 1e-9, 2, 30.43, 38.86), '<', 1e-8::float8,
              'no time, no purchases');
SELECT ok(customer_mgmt.bgnbd_expected_purchases((SELECT bg FROM fit), 1000, 2, 30.43, 38.86)
          > customer_mgmt.bgnbd_expected_purchases((SELECT bg FROM fit), 100, 2, 30.43, 38.86), 'more time, more purchases');
-- Gamma-Gamma's expectation, by hand: (gamma + x m) p / (p x + q - 1)
SELECT is(round(customer_mgmt.gamma_gamma_expected_value('{"p": 6.25, "q": 3.74, "gamma": 15.44}', 2, 22.35)::numeric, 6),
          round(((15.44 + 2 * 22.35) * 6.25 / (6.25 * 2 + 3.74 - 1))::numeric, 6), 'expected order value as the formula');
-- the probability of no purchase, by the formula: 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)
SELECT is(round(customer_mgmt.bgnbd_probability_no_purchase('{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 13, 2, 30.43, 38.86)::numeric, 10),
          round((1 - pa + pa * ((4.414 + 38.86) / (4.414 + 38.86 + 13)) ^ (0.243 + 2))::numeric, 10),
          'P(no purchase in t) as the formula')
  FROM (SELECT customer_mgmt.bgnbd_probability_alive('{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 2, 30.43, 38.86)::numeric AS pa) x;

-- 3. 2F1 by its series, near 1 too: 2F1(1, 1; 2; z) = -ln(1-z)/z, 2F1(a, b; b; z) = (1-z)^-a
SELECT is(round(customer_mgmt.hyp2f1(1, 1, 2, 0.5)::numeric, 12), round((-ln(0.5) / 0.5)::numeric, 12), '2F1(1,1;2;0.5)');
SELECT is(round(customer_mgmt.hyp2f1(1, 1, 2, 0.95)::numeric, 10), round((-ln(0.05) / 0.95)::numeric, 10), '2F1(1,1;2;0.95), near 1');
SELECT is(customer_mgmt.hyp2f1(1, 1, 2, 0.999), NULL, 'beyond the series'' 2,000 terms: NULL (the expected purchases then use the quadrature)');
SELECT is(round(customer_mgmt.hyp2f1(0.7, 2.3, 2.3, 0.9)::numeric, 8), round((0.1 ^ -0.7)::numeric, 8), '2F1(a,b;b;0.9) = (1-z)^-a');
SELECT is(customer_mgmt.hyp2f1(-2, 1, 1, 0.5), 0.25::float8, 'a negative integer ends the series: (1 - z)^2');

-- 4. Degenerate and bad inputs: 22023 naming the field, or a fit that says it did not converge
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_fit(x, tx, t) FROM (VALUES (0::float8, 0::float8, 10::float8), (0, 0, 5)) v (x, tx, t)$$),
          '22023', 'everyone with one order: BG/NBD cannot be fitted');
SELECT is((SELECT (customer_mgmt.bgnbd_fit(x, tx, t) -> 'atBoundary')
             FROM (VALUES (3::float8, 5::float8, 10::float8)) v (x, tx, t)), '["r", "alpha", "a", "b"]'::jsonb,
          'one customer shows no heterogeneity: one rate and one dropout probability');
SELECT is((SELECT (customer_mgmt.gamma_gamma_fit(x, m) ->> 'converged')::boolean
             FROM (VALUES (1::float8, 10::float8), (1, 10), (1, 10)) v (x, m)), false, 'no variance: did not converge');
SELECT is((SELECT customer_mgmt.bgnbd_fit(x, tx, t) FROM cd WHERE false), NULL, 'no rows: NULL');
SELECT is((SELECT customer_mgmt.gamma_gamma_fit(x, zbar) FROM cd WHERE x = 0), NULL, 'no repeat purchase: NULL');
SELECT is((SELECT (customer_mgmt.bgnbd_fit(x, tx, t) ->> 'customers')::int
             FROM (VALUES (1::float8, 1::float8, 2::float8), (NULL, 1, 2), (2, 3, 4)) v (x, tx, t)), 2, 'a row with a NULL is skipped');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_fit(-1, 0, 1)$$), '22023 frequency', 'a negative frequency');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_fit('NaN', 0, 1)$$), '22023 frequency', 'NaN');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_fit(1, 5, 3)$$), '22023 age', 'recency beyond age');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_fit(1, 'Infinity', 'Infinity')$$), '22023 recency', 'an infinite recency');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.gamma_gamma_fit(2, 0)$$), '22023 monetary_value', 'a repeat customer with no value');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_expected_purchases('{"r": 1}', 1, 1, 1, 2)$$), '22023 params', 'params without alpha');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_probability_alive('{"r": -1, "alpha": 1, "a": 1, "b": 1}', 1, 1, 2)$$),
          '22023 params', 'a negative parameter');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_probability_alive('[1, 2]', 1, 1, 2)$$), '22023 params', 'params not an object');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_expected_purchases('{"r": 1, "alpha": 1, "a": 2, "b": 1}', -1, 1, 1, 2)$$),
          '22023 t', 'a negative t');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.gamma_gamma_expected_value('{"p": 1, "q": 0.5, "gamma": 1}', 0, 0)$$),
          '22023 params', 'q at most 1: no finite mean');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 1e-300, "a": 0.793, "b": 2.426}', 1e300, 0, 0, 0)$$),
          '22023 params', 'a horizon of 1e300 times alpha + age is an error naming the fit, not a hang or a wrong number');
SELECT is(round(customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 4),
          round(customer_mgmt.bgnbd_expected_purchases('{"r": 0.243, "alpha": 4.414, "a": 1.00001, "b": 2.426}', 39, 2, 30.43, 38.86)::numeric, 4),
          'a = 1, where the closed form is 0/0: the limit');

-- 5. Under 500 customers with orders: no model, predictions NULL, and why
CREATE TEMP TABLE few AS SELECT customer_mgmt.register_customer('Khách ' || i, 'few' || i || '@example.vn') AS id
  FROM generate_series(1, 3) i;
SELECT customer_mgmt.record_order(id, 100000, 'completed', now() - interval '300 days') FROM few;
SELECT customer_mgmt.record_order(id, 200000, 'completed', now() - interval '100 days') FROM few;
CREATE TEMP TABLE small AS SELECT customer_mgmt.fit_clv_model() AS m;
SELECT is((SELECT (m->>'usable')::boolean FROM small), false, 'three customers: not usable');
SELECT matches((SELECT m->>'reason' FROM small), '^3 customers with a completed order; the model needs 500', 'and it says why');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_clv), 3, 'the buyers'' summaries are kept');
SELECT is((SELECT customer_mgmt.get_customer_analytics(id) -> 'predictedLtv' FROM few LIMIT 1), 'null'::jsonb,
          'predictedLtv is null in the DTO');
SELECT is((customer_mgmt.get_customer_overview() -> 'clvModel' ->> 'usable')::boolean, false, 'the overview shows the fit in force');

-- 6. The whole path: the sample's transactions as orders, the model at the end of the 39-week calibration
\ir ../data/cdnow/ingest.sql
CREATE TEMP TABLE shop AS SELECT customer_mgmt.fit_clv_model('1997-09-30 23:59:59+07') AS m;
SELECT ok((SELECT (m->>'usable')::boolean FROM shop), 'the shop''s model is usable');
SELECT is((SELECT array[round((m #>> '{bgnbd,r}')::numeric, 3), round((m #>> '{bgnbd,alpha}')::numeric / 7, 3),
                        round((m #>> '{bgnbd,a}')::numeric, 3), round((m #>> '{bgnbd,b}')::numeric, 3)] FROM shop),
          ARRAY[0.243, 4.414, 0.793, 2.426], 'through the orders: BG/NBD as published (alpha in days / 7)');
SELECT is((SELECT array[round((m #>> '{gammaGamma,p}')::numeric, 2), round((m #>> '{gammaGamma,q}')::numeric, 2),
                        round((m #>> '{gammaGamma,gamma}')::numeric, 1)] FROM shop),
          ARRAY[6.25, 3.74, 15.4], 'through the orders: Gamma-Gamma as published');
SELECT is((SELECT array[(m->>'customers')::int, (m->>'historyDays')::int, (m->>'summarisedCustomers')::int] FROM shop),
          ARRAY[2357, 272, 2357], 'every buyer by then counted and summarised (not the three of 2026); 272 days of history');
-- the summary in C is the SQL definition's (lifetimes' purchase days)
SELECT set_eq($$SELECT customer_id, frequency, recency, age, round(monetary_value::numeric, 6) FROM customer_mgmt.clv_summary('1997-09-30 23:59:59+07')$$,
              $$SELECT customer_id, count(*)::int - 1 AS frequency, max(day) - min(day) AS recency, date '1997-09-30' - min(day) AS age,
                       round(((sum(v) - (array_agg(v ORDER BY day))[1]) / nullif(count(*) - 1, 0))::numeric, 6) AS monetary_value
                  FROM (SELECT customer_id, (order_date AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, sum(total_amount) AS v
                          FROM customer_mgmt.orders WHERE status = 'completed' AND order_date <= '1997-09-30 23:59:59+07'
                         GROUP BY 1, 2) d GROUP BY customer_id$$,
              'the purchase summary: repeat purchase days, recency, age, mean repeat value');
-- a customer by hand: sample 4 (x = 2, t_x = 213 days, T = 272 days, mean repeat value 22.345), at the fit's time
CREATE TEMP TABLE c4 AS
SELECT cl.*, pr.*, (s.m #>> '{bgnbd,r}')::float8 AS r, (s.m #>> '{bgnbd,alpha}')::float8 AS alpha,
       (s.m #>> '{bgnbd,a}')::float8 AS a, (s.m #>> '{bgnbd,b}')::float8 AS b, (s.m #>> '{gammaGamma,p}')::float8 AS p,
       (s.m #>> '{gammaGamma,q}')::float8 AS q, (s.m #>> '{gammaGamma,gamma}')::float8 AS g, s.m -> 'bgnbd' AS bg
  FROM customer_mgmt.customer_clv cl, shop s,
       customer_mgmt.clv_predict(cl, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0) pr
 WHERE cl.customer_id = (SELECT id FROM cust WHERE sample_id = 4);
SELECT is((SELECT array[frequency, recency, date '1997-09-30' - first_purchase] FROM c4), ARRAY[2, 213, 272],
          'sample 4: its summary in days');
SELECT is((SELECT monetary_value FROM c4), 22.35, 'its mean repeat value: (29.73 + 14.96) / 2');
SELECT is((SELECT round(probability_alive::numeric, 10) FROM c4),
          (SELECT round((1 / (1 + a / (b + 2 - 1) * ((alpha + 272) / (alpha + 213)) ^ (r + 2)))::numeric, 10) FROM c4),
          'probabilityAlive by hand');
SELECT is((SELECT round(predicted_ltv::numeric, 6) FROM c4),
          (SELECT round((customer_mgmt.bgnbd_expected_purchases(bg, 365, 2, 213, 272) * (g + 2 * 22.35) * p / (p * 2 + q - 1))::numeric, 6) FROM c4),
          'predictedLtv: expected orders of 365 days times the expected order value');
SELECT is((SELECT expected_next_order_date FROM c4),
          (SELECT date '1997-09-30' + ceil((alpha + 272) * ((1 - 0.5 / pa) ^ (-1 / (r + 2)) - 1))::int
             FROM (SELECT *, 1 / (1 + a / (b + 2 - 1) * ((alpha + 272) / (alpha + 213)) ^ (r + 2)) AS pa FROM c4) x),
          'expectedNextOrderDate: the median of the time to the next order, P(alive) (1 - S(t)) = 1/2');
SELECT is((SELECT count(*)::int
             FROM customer_mgmt.customer_clv cl, shop s,
                  customer_mgmt.clv_predict(cl, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0) pr
            WHERE pr.expected_next_order_date > date '1997-09-30' + 365
               OR (pr.expected_next_order_date IS NOT NULL AND pr.probability_alive <= 0.5)),
          0, 'no next order date beyond a year, nor for a customer more likely gone');
SELECT is((SELECT average_days_between_orders FROM c4), 106.5::float8, 'averageDaysBetweenOrders: 213 days / 2');
-- read at the time of the call, as days since the last order are
SELECT is((SELECT customer_mgmt.get_customer_analytics(id) -> 'predictedLtv' FROM cust WHERE sample_id = 4),
          (SELECT to_jsonb(round(pr.predicted_ltv::numeric, 2))
             FROM c4, customer_mgmt.clv_predict((SELECT c FROM customer_mgmt.customer_clv c WHERE c.customer_id = c4.customer_id),
                                                (SELECT m -> 'bgnbd' FROM shop), (SELECT m -> 'gammaGamma' FROM shop), customer_mgmt.clv_day(now()), 0) pr),
          'the DTO computes them at the call''s time');
-- the queue worker rescores a customer after an order, with the fit in force
SELECT customer_mgmt.record_order((SELECT id FROM cust WHERE sample_id = 4), 50, 'completed', '1997-10-05 12:00+07');
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM cust WHERE sample_id = 4), '1997-10-06 00:00+07');
SELECT is((SELECT array[frequency, recency] FROM customer_mgmt.customer_clv WHERE customer_id = (SELECT id FROM cust WHERE sample_id = 4)),
          ARRAY[3, 277], 'after a new order: its summary as of the calculation');
-- a customer whose only order is refunded has no predictions
SELECT customer_mgmt.set_order_status(o.id, 'refunded')
  FROM customer_mgmt.orders o WHERE o.customer_id = (SELECT id FROM few LIMIT 1);
SELECT customer_mgmt.calculate_customer_analytics((SELECT id FROM few LIMIT 1));
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_clv WHERE customer_id = (SELECT id FROM few LIMIT 1)), 0,
          'no completed order: no predictions');

-- the segment language reads the predictions (docs/segments.md), and joins them only when it names them
SELECT is((customer_mgmt.preview_segment(query => 'predicted_ltv > 50 AND probability_alive >= 0.5') ->> 'customerCount')::int,
          (SELECT count(*)::int FROM customer_mgmt.customer_clv c, shop s,
                  customer_mgmt.clv_predict(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', customer_mgmt.clv_day(now()), 0) pr
            WHERE pr.predicted_ltv > 50 AND pr.probability_alive >= 0.5),
          'segments by predicted_ltv and probability_alive, at the time of the call');
SELECT is((customer_mgmt.preview_segment(query => 'churn_probability IS NULL') ->> 'customerCount')::int,
          (SELECT count(*)::int FROM customer_mgmt.customer_list l
            WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_clv c WHERE c.customer_id = l.customer_id)),
          'customers without predictions have NULL ones');
-- the export's columns are the same predictions
SELECT is((SELECT split_part(convert_from(substring(customer_mgmt.export_customers(
                 search => 'cdnow4@example.com', format => 'csv', columns => ARRAY['email', 'probabilityAlive', 'predictedLtv']) FROM 4),
                 'UTF8'), E'\r\n', 2)),
          (SELECT 'cdnow4@example.com,' || pa::text || ',' || ltv::text
             FROM customer_mgmt.customer_clv c, shop s,
                  customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', customer_mgmt.clv_day(now()), 0, 'probability_alive') pa,
                  customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', customer_mgmt.clv_day(now()), 0, 'predicted_ltv') ltv
            WHERE c.customer_id = (SELECT id FROM cust WHERE sample_id = 4)),
          'export_customers(columns => probabilityAlive, predictedLtv)');
-- the list sorts by the prediction (computed when read), customers without one last
SELECT is(ARRAY(SELECT (e ->> 'id')::uuid
                  FROM jsonb_array_elements(customer_mgmt.get_customers(sort_by => 'predictedLtv', page_size => 5) -> 'data') e),
          ARRAY(SELECT c.customer_id
                  FROM customer_mgmt.customer_clv c, shop s,
                       customer_mgmt.clv_predict(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', customer_mgmt.clv_day(now()), 0) p
                 ORDER BY p.predicted_ltv DESC, c.customer_id DESC LIMIT 5),
          'get_customers(sort_by => predictedLtv): highest first');
SELECT is((customer_mgmt.get_customers(sort_by => 'predictedLtv', sort_order => 'ASC', page_size => 1,
                                       page => (SELECT count(*)::int FROM customer_mgmt.customer_list)) -> 'data' -> 0 ->> 'id')::uuid,
          (SELECT l.customer_id FROM customer_mgmt.customer_list l
            WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_clv c WHERE c.customer_id = l.customer_id)
            ORDER BY l.customer_id DESC LIMIT 1),
          'customers without a prediction come last, also ascending');
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN SELECT count(*) FROM customer_mgmt.segment_attributes(now()) s WHERE '
                        || customer_mgmt.compile_segment_query(q, now()) LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END $$;
SELECT unalike(pg_temp.plan_of('total_spent > 100'), '%customer_clv%', 'a query without predictions does not read customer_clv');
SELECT alike(pg_temp.plan_of('predicted_ltv > 100'), '%customer_clv%', 'one with them does');
SELECT ok(pg_temp.plan_of('predicted_ltv > 100') LIKE '%clv_prediction(%' AND pg_temp.plan_of('predicted_ltv > 100') NOT LIKE '%clv_predict_value(%',
          'clv_predict_value is inlined: one C call a row, not a query a row');
-- each prediction alone is the composite's field
SELECT is((SELECT count(*)::int
             FROM customer_mgmt.customer_clv c, shop s,
                  customer_mgmt.clv_predict(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1) p
            WHERE (p.probability_alive, p.churn_probability, p.predicted_ltv, p.expected_orders_365)
                  IS DISTINCT FROM
                  (customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1, 'probability_alive'),
                   customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1, 'churn_probability'),
                   customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1, 'predicted_ltv'),
                   customer_mgmt.clv_predict_value(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1, 'expected_orders_365'))),
          0, 'each prediction alone equals its field of all of them (with a discount rate too)');
-- a discount rate lowers the predicted spend, and only it
SELECT ok((SELECT bool_and(d.predicted_ltv < n.predicted_ltv AND d.probability_alive = n.probability_alive)
             FROM customer_mgmt.customer_clv c, shop s,
                  customer_mgmt.clv_predict(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0.1) d,
                  customer_mgmt.clv_predict(c, s.m -> 'bgnbd', s.m -> 'gammaGamma', date '1997-09-30', 0) n
            WHERE n.predicted_ltv > 0), 'clv.discount_rate discounts the predicted spend');

-- 7. Roles: the building blocks are reads, the fit is an admin's
GRANT SELECT ON cd TO PUBLIC;
SET LOCAL ROLE customer_mgmt_staff;
SELECT is(round((SELECT (customer_mgmt.bgnbd_fit(x, tx, t) ->> 'r')::numeric FROM cd), 3), 0.243, 'staff fit models on any data');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.fit_clv_model()$$), '42501', 'staff cannot refit the shop''s model');
RESET ROLE;
SET LOCAL ROLE customer_mgmt_app;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.bgnbd_probability_alive('{"r": 1, "alpha": 1, "a": 1, "b": 1}', 1, 1, 2)$$), '42501',
          'the ingesting application reads nothing');
RESET ROLE;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.fit_clv_model('infinity')$$), '22023 as_of', 'an infinite as_of');

-- 7. What the predictions rest on: the status, and the share of the customer's own history
SELECT is((SELECT status FROM c4), 'predicted', 'sample 4: predicted');
SELECT is((SELECT round(own_history_weight::numeric, 10) FROM c4), (SELECT round((272 / (alpha + 272))::numeric, 10) FROM c4),
          'its own history weighs T/(alpha+T) in its predicted purchase rate');
SELECT is((SELECT array[status, coalesce(predicted_ltv::text, 'null'), coalesce(probability_alive::text, 'null')]
             FROM customer_mgmt.clv_predict(NULL::customer_mgmt.customer_clv, (SELECT m -> 'bgnbd' FROM shop), (SELECT m -> 'gammaGamma' FROM shop), date '1997-09-30', 0)),
          ARRAY['no_completed_order', 'null', 'null'], 'no summary: no_completed_order, no prediction');
SELECT is((SELECT status FROM customer_mgmt.customer_clv cl, customer_mgmt.clv_predict(cl, NULL, NULL, date '1997-09-30', 0) LIMIT 1),
          'no_usable_model', 'no fit: no_usable_model');
-- a customer who bought once, on 1 September 1997
SELECT is((SELECT array_agg(d || ' ' || status || ' ' || coalesce(round(predicted_ltv::numeric)::text, 'null') ORDER BY d)
             FROM unnest(ARRAY[29, 30]) d,
                  customer_mgmt.clv_predict(ROW('00000000-0000-4000-8000-0000000000ff', now(), 0, 0, date '1997-09-01', NULL)::customer_mgmt.customer_clv,
                                            (SELECT m -> 'bgnbd' FROM shop) || '{"minCustomerDays": 30}', (SELECT m -> 'gammaGamma' FROM shop),
                                            date '1997-09-01' + d, 0)),
          (SELECT ARRAY['29 history_too_short null',
                        '30 predicted ' || round(customer_mgmt.bgnbd_expected_purchases(m -> 'bgnbd', 365, 0, 0, 30)
                                                 * customer_mgmt.gamma_gamma_expected_value(m -> 'gammaGamma', 0, 0))]
             FROM shop),
          'a gate of 30 days: history_too_short on the 29th day after the first purchase, predicted from the 30th');
SELECT is((SELECT customer_mgmt.clv_fit_bgnbd() ->> 'minCustomerDays'), '30', 'the fit in force carries the setting clv.min_customer_days (30 by default)');

SELECT * FROM finish();
ROLLBACK;
