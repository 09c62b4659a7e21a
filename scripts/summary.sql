-- Summary of the demo shop, printed by scripts/demo.sh.
\pset footer off
\echo
\echo '== customer_mgmt demo shop =='
SELECT (SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer') AS customers,
       (SELECT count(*) FROM customer_mgmt.users WHERE role <> 'customer') AS staff,
       (SELECT count(*) FROM customer_mgmt.orders) AS orders,
       (SELECT count(*) FROM customer_mgmt.order_items) AS order_items,
       (SELECT count(*) FROM customer_mgmt.web_sessions) AS sessions,
       (SELECT to_char(sum(total_amount), 'FM999G999G999G999G990') FROM customer_mgmt.orders
         WHERE status = 'completed') AS revenue_vnd;

\echo 'Orders by status'
SELECT status, count(*) AS orders, to_char(sum(total_amount), 'FM999G999G999G999G990') AS amount_vnd
  FROM customer_mgmt.orders GROUP BY status ORDER BY status;

\echo 'Customers by number of completed orders'
SELECT CASE WHEN n = 0 THEN '0 (never ordered)' WHEN n = 1 THEN '1' WHEN n <= 5 THEN '2-5'
            WHEN n <= 15 THEN '6-15' ELSE '16+' END AS completed_orders,
       count(*) AS customers
  FROM (SELECT u.id, count(o.id) AS n
          FROM customer_mgmt.users u
          LEFT JOIN customer_mgmt.orders o ON o.customer_id = u.id AND o.status = 'completed'
         WHERE u.role = 'customer' GROUP BY u.id) c
 GROUP BY 1 ORDER BY min(n);

\echo 'Lifecycle segments (recalculate_all_analytics)'
SELECT segment, count(*) AS customers, round(avg(churn_risk_score), 2) AS avg_churn_risk,
       round(avg(engagement_score), 2) AS avg_engagement,
       to_char(avg(total_spent), 'FM999G999G999G990') AS avg_spent_vnd
  FROM customer_mgmt.customer_analytics GROUP BY segment ORDER BY segment;

\echo 'Insights'
SELECT type, priority, count(*) AS customers FROM customer_mgmt.customer_insights GROUP BY 1, 2 ORDER BY 1;

\echo 'Top 5 provinces'
SELECT coalesce(province, '(not given)') AS province, count(*) AS customers
  FROM customer_mgmt.users WHERE role = 'customer'
 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5;

\echo 'get_customers(search => ''nguyen van duc'', page_size => 5): accent-insensitive search'
SELECT e ->> 'fullName' AS full_name, e ->> 'email' AS email, e ->> 'phoneNumber' AS phone, e ->> 'status' AS status
  FROM jsonb_array_elements(customer_mgmt.get_customers(search => 'nguyen van duc', page_size => 5) -> 'data') e;
SELECT customer_mgmt.get_customers(search => 'nguyen van duc', page_size => 5) - 'data' AS envelope;

\echo 'get_customer_overview(): the last 30 days'
SELECT o ->> 'totalCustomers' AS total, o ->> 'newCustomers' AS new, o ->> 'activeCustomers' AS active,
       o ->> 'churnedCustomers' AS churned
  FROM customer_mgmt.get_customer_overview() o;
SELECT e ->> 'segment' AS segment, e ->> 'count' AS customers, e ->> 'percentage' AS "%"
  FROM jsonb_array_elements(customer_mgmt.get_customer_overview() -> 'segmentDistribution') e;
SELECT e ->> 'stage' AS funnel_stage, e ->> 'count' AS customers, e ->> 'rate' AS rate
  FROM jsonb_array_elements(customer_mgmt.get_customer_overview() -> 'conversionFunnel') e;
SELECT e ->> 'fullName' AS top_customer, to_char((e ->> 'customerLifetimeValue')::numeric, 'FM999G999G999G990') AS value_vnd,
       e ->> 'totalOrders' AS orders, e ->> 'segment' AS segment
  FROM jsonb_array_elements(customer_mgmt.get_customer_overview() -> 'topCustomers') e LIMIT 3;

\echo 'get_customer_health_score()'
SELECT h ->> 'healthScore' AS health_score, h -> 'components' AS components, h ->> 'valueScore' AS value_score
  FROM customer_mgmt.get_customer_health_score() h;

\echo 'get_customer(...) -> ''analytics'' of the most at-risk active customer'
SELECT jsonb_pretty(customer_mgmt.get_customer(
           (customer_mgmt.get_customer_overview() -> 'atRiskCustomers' -> 0 ->> 'id')::uuid) -> 'analytics') AS analytics;

\echo 'get_segments(): two segments a shop would define (criteria; the segment language)'
SELECT e ->> 'name' AS segment, coalesce(e ->> 'query', e ->> 'criteria') AS definition, e ->> 'customerCount' AS customers
  FROM jsonb_array_elements(customer_mgmt.get_segments(page_size => 100) -> 'data') e WHERE NOT (e ->> 'isSystem')::boolean;
SELECT i ->> 'segmentName' AS segment, i ->> 'customerCount' AS customers,
       to_char((i ->> 'averageLTV')::numeric, 'FM999G999G999G990') AS avg_value_vnd,
       i ->> 'churnRate' AS churn_rate, i -> 'topCategories' -> 0 ->> 'category' AS top_category
  FROM customer_mgmt.customer_segments s, customer_mgmt.get_segment_insights(s.id) i WHERE NOT s.is_system;

\echo 'The CLV model (fit_clv_model, by the nightly run): BG/NBD and Gamma-Gamma, in days'
SELECT m ->> 'usable' AS usable, coalesce(m ->> 'reason', '') AS reason, m ->> 'customers' AS customers,
       round((m #>> '{bgnbd,r}')::numeric, 3) AS r, round((m #>> '{bgnbd,alpha}')::numeric, 2) AS alpha,
       round((m #>> '{bgnbd,a}')::numeric, 3) AS a, round((m #>> '{bgnbd,b}')::numeric, 3) AS b,
       round((m #>> '{gammaGamma,p}')::numeric, 3) AS p, round((m #>> '{gammaGamma,q}')::numeric, 3) AS q,
       to_char((m #>> '{gammaGamma,gamma}')::numeric, 'FM999G999G999G990') AS gamma, m ->> 'fitSeconds' AS fit_s
  FROM (SELECT customer_mgmt.get_customer_overview() -> 'clvModel' AS m) o;
\echo 'The five customers with the highest predicted spend over the next 365 days'
SELECT u.full_name, to_char(a.total_spent, 'FM999G999G999G990') AS spent_vnd,
       to_char(p.predicted_ltv, 'FM999G999G999G990') AS predicted_365d_vnd, round(p.expected_orders_365::numeric, 1) AS orders_365d,
       round(p.probability_alive::numeric, 3) AS p_alive, round(p.churn_probability::numeric, 3) AS p_no_order_90d,
       p.expected_next_order_date AS next_order
  FROM customer_mgmt.customer_clv c
  CROSS JOIN LATERAL customer_mgmt.clv_predict(c, customer_mgmt.clv_fit_bgnbd(), customer_mgmt.clv_fit_gamma_gamma(),
                                               customer_mgmt.clv_day(now()), customer_mgmt.clv_discount_rate()) p
  JOIN customer_mgmt.users u ON u.id = c.customer_id
  JOIN customer_mgmt.customer_analytics a ON a.customer_id = c.customer_id
 WHERE p.predicted_ltv IS NOT NULL
 ORDER BY p.predicted_ltv DESC, c.customer_id LIMIT 5;

\echo 'pg_cron jobs (customer_mgmt.schedule_jobs())'
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'customer_mgmt.%' ORDER BY jobname;
