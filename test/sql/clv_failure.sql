-- A read never fails because of the CLV model: with each way a fit in
-- force can fail to give predictions (a Gamma-Gamma mean order value that
-- is infinite, a fit that is not one, parameters beyond what the numerics
-- reach), the detail, the analytics, the list sorted by the prediction,
-- the export, a segment on the predictions and the dashboard all answer;
-- the predictions are NULL with status not_computable, and the cause is
-- logged once per session and fit, naming no customer.
\set VERBOSITY default
SET timezone = 'Asia/Ho_Chi_Minh';
SET client_min_messages = warning;
BEGIN;
CREATE TEMP TABLE c AS
SELECT customer_mgmt.register_customer('Khách ' || i, 'clvfail' || i || '@example.vn') AS id FROM generate_series(1, 3) i;
SELECT count(customer_mgmt.record_order(id, 150000, 'completed', now() - interval '200 days')) FROM c;
SELECT count(customer_mgmt.record_order(id, 250000, 'completed', now() - interval '90 days')) FROM c;
SELECT count(customer_mgmt.calculate_customer_analytics(id)) FROM c;
-- the summaries, under a fit that is not usable (three customers)
SELECT (customer_mgmt.fit_clv_model() ->> 'usable')::boolean AS usable;
SELECT DISTINCT customer_mgmt.get_customer_analytics(id) ->> 'predictionStatus' AS status FROM c;

-- every read, under the fit in force
CREATE FUNCTION pg_temp.reads() RETURNS TABLE (read text, answer text) LANGUAGE sql AS $$
    SELECT 'get_customer', string_agg(DISTINCT (customer_mgmt.get_customer(id) #>> '{analytics,predictionStatus}')
                                      || ' ' || coalesce(customer_mgmt.get_customer(id) #>> '{analytics,predictedLtv}', 'null'), ', ')
      FROM c
    UNION ALL
    SELECT 'get_customer_analytics', string_agg(DISTINCT customer_mgmt.get_customer_analytics(id) ->> 'probabilityAlive', ', ') FROM c
    UNION ALL
    SELECT 'get_customers by predictedLtv', (customer_mgmt.get_customers(sort_by => 'predictedLtv') ->> 'total')
    UNION ALL
    SELECT 'export_customers', (length(convert_from(customer_mgmt.export_customers(format => 'csv',
                  columns => ARRAY['email', 'predictedLtv', 'probabilityAlive', 'predictionStatus']), 'UTF8')) > 0)::text
    UNION ALL
    SELECT 'preview_segment on predicted_ltv', (customer_mgmt.preview_segment(query => 'predicted_ltv >= 0') ->> 'customerCount')
    UNION ALL
    SELECT 'get_customer_overview', (customer_mgmt.get_customer_overview() -> 'clvModel' ->> 'usable')
$$;
-- a usable fit, as fit_clv_model stores one: predictions
INSERT INTO customer_mgmt.clv_models (fitted_at, as_of, customers, repeat_customers, history_days, bgnbd, gamma_gamma, usable)
VALUES (clock_timestamp(), now(), 3, 3, 200, '{"r": 0.24, "alpha": 30.9, "a": 0.79, "b": 2.43}', '{"p": 6.25, "q": 3.74, "gamma": 15.44}', true);
SELECT * FROM pg_temp.reads();
SET client_min_messages = log;
-- a mean order value that is infinite (q below 1)
UPDATE customer_mgmt.clv_models SET gamma_gamma = '{"p": 0.5, "q": 0.4, "gamma": 15.44}';
SELECT * FROM pg_temp.reads();
-- a fit that is not one (no b)
UPDATE customer_mgmt.clv_models SET gamma_gamma = '{"p": 6.25, "q": 3.74, "gamma": 15.44}', bgnbd = '{"r": 0.24, "alpha": 30.9, "a": 0.79}';
SELECT * FROM pg_temp.reads();
-- parameters beyond the numerics: alpha 1e-300 makes a horizon of 1e302 times alpha + age
UPDATE customer_mgmt.clv_models SET bgnbd = '{"r": 0.24, "alpha": 1e-300, "a": 0.79, "b": 2.43}';
SELECT customer_mgmt.set_setting('clv.min_customer_days', '0');
SELECT count(customer_mgmt.record_order(id, 100000, 'completed', now())) FROM customer_mgmt.register_customer('Khách mới', 'clvfail-new@example.vn') AS id;
SELECT count(customer_mgmt.calculate_customer_analytics(id)) FROM customer_mgmt.users WHERE email = 'clvfail-new@example.vn';
SELECT customer_mgmt.get_customer_analytics(id) ->> 'predictionStatus' AS status
  FROM customer_mgmt.users WHERE email = 'clvfail-new@example.vn';
SELECT * FROM pg_temp.reads();
SET client_min_messages = warning;
ROLLBACK;
