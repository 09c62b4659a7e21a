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
  FROM jsonb_array_elements(customer_mgmt.get_segments()) e WHERE NOT (e ->> 'isSystem')::boolean;
SELECT i ->> 'segmentName' AS segment, i ->> 'customerCount' AS customers,
       to_char((i ->> 'averageLifetimeValue')::numeric, 'FM999G999G999G990') AS avg_value_vnd,
       i ->> 'churnRate' AS churn_rate, i -> 'topCategories' -> 0 ->> 'category' AS top_category
  FROM customer_mgmt.customer_segments s, customer_mgmt.get_segment_insights(s.id) i WHERE NOT s.is_system;

\echo 'pg_cron jobs (customer_mgmt.schedule_jobs())'
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'customer_mgmt.%' ORDER BY jobname;
