-- The CLV model's accuracy on CDNOW (docs/clv.md), as Fader, Hardie & Lee
-- test it: the sample's transactions ingested as orders, the analytics and
-- the model as of the end of the 39-week calibration period (1997-09-30),
-- then each customer's purchases in the next 39 weeks predicted and
-- compared with what they did, beside two baselines.  Run in an empty
-- database with the extension, from the repository's root (bench/run.sh clv).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
\ir ../../test/data/cdnow/ingest.sql
-- the nightly run at the end of the calibration period: analytics, then the model
SELECT customer_mgmt.recalculate_all_analytics('1997-09-30 23:59:59+07') \gset

-- per customer: the calibration summary, the three forecasts of repeat
-- purchase days in weeks 40-78 (273 days), and what happened
CREATE TEMP TABLE h AS
SELECT c.sample_id, s.frequency, s.recency, s.age,
       -- BG/NBD, the expected purchase days in the next 273 days
       customer_mgmt.bgnbd_expected_purchases(m.bgnbd, 273, s.frequency, s.recency, s.age) AS model,
       -- the design's heuristic: the customer's repeat-purchase rate so far,
       -- kept with the probability of not churning (1 - churn risk score)
       (1 - a.churn_risk_score) * s.frequency::float8 / s.age * 273 AS heuristic,
       -- naive: the next 39 weeks repeat the last 39 (the calibration's repeat purchase days)
       s.frequency::float8 AS naive,
       (SELECT count(DISTINCT t.day) FROM tx t WHERE t.sample_id = c.sample_id AND t.day > date '1997-09-30') AS actual
  FROM cust c
  JOIN customer_mgmt.clv_summary('1997-09-30 23:59:59+07') s ON s.customer_id = c.id
  JOIN customer_mgmt.customer_analytics a ON a.customer_id = c.id
 CROSS JOIN customer_mgmt.current_clv_model() m;

\pset format unaligned
\pset tuples_only on
SELECT format('model as of 1997-09-30: BG/NBD r = %s, alpha = %s days (%s weeks), a = %s, b = %s; Gamma-Gamma p = %s, q = %s, gamma = %s; %s customers',
              round((m.bgnbd->>'r')::numeric, 3), round((m.bgnbd->>'alpha')::numeric, 3), round((m.bgnbd->>'alpha')::numeric / 7, 3),
              round((m.bgnbd->>'a')::numeric, 3), round((m.bgnbd->>'b')::numeric, 3), round((m.gamma_gamma->>'p')::numeric, 3),
              round((m.gamma_gamma->>'q')::numeric, 3), round((m.gamma_gamma->>'gamma')::numeric, 2), m.customers)
  FROM customer_mgmt.current_clv_model() m;
SELECT '| forecast of each customer''s repeat purchase days in weeks 40-78 | predicted in all | actual in all | error in all | mean absolute error per customer | root mean square error |';
SELECT '|---|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s %% | %s | %s |', f.name, round(sum(f.p)::numeric, 0), sum(h.actual),
              round((100 * (sum(f.p) - sum(h.actual)) / sum(h.actual))::numeric, 1),
              round(avg(abs(f.p - h.actual))::numeric, 3), round(sqrt(avg((f.p - h.actual) ^ 2))::numeric, 3))
  FROM h CROSS JOIN LATERAL (VALUES (1, 'BG/NBD (fit_clv_model)', h.model),
                                    (2, 'the design''s churn risk score: (1 - risk) x past repeat rate', h.heuristic),
                                    (3, 'the next 39 weeks repeat the calibration''s repeat purchases', h.naive)) f (n, name, p)
 GROUP BY f.n, f.name ORDER BY f.n;
-- by the number of calibration repeat purchases, as the paper's figure 4 shows it
SELECT '';
SELECT '| repeat purchases in weeks 1-39 | customers | actual mean in weeks 40-78 | BG/NBD mean | heuristic mean | naive mean |';
SELECT '|---|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s | %s | %s |', CASE WHEN g = 7 THEN '7+' ELSE g::text END, count(*), round(avg(actual), 2),
              round(avg(model)::numeric, 2), round(avg(heuristic)::numeric, 2), round(avg(naive)::numeric, 2))
  FROM (SELECT least(frequency, 7) AS g, * FROM h) x GROUP BY g ORDER BY g;
