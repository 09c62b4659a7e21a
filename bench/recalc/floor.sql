-- The floor of the full recalculation (docs/performance.md): a plain CREATE TABLE
-- AS of per-customer order and session aggregates over the same data.
DROP TABLE IF EXISTS bench_floor;
CREATE TABLE bench_floor AS
SELECT u.id, o.n AS total_orders, o.spent AS total_spent, o.last AS last_order_date,
       s.n AS total_sessions, s.pv AS total_page_views, s.duration AS average_session_duration,
       s.bounce AS bounce_rate, s.conversion AS conversion_rate
  FROM customer_mgmt.users u
  LEFT JOIN (SELECT customer_id, count(*) AS n, sum(total_amount) AS spent, max(order_date) AS last
               FROM customer_mgmt.orders WHERE status = 'completed' GROUP BY customer_id) o ON o.customer_id = u.id
  LEFT JOIN (SELECT customer_id, count(*) AS n, sum(page_views) AS pv, avg(duration_seconds) AS duration,
                    avg((page_views = 1)::integer) AS bounce, avg(converted::integer) AS conversion
               FROM customer_mgmt.web_sessions GROUP BY customer_id) s ON s.customer_id = u.id
 WHERE u.role = 'customer';
