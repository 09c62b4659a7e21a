-- The segment definitions of the benchmarks (bench/segments/shapes.sql,
-- refresh.sql): twelve shapes, from one indexed bound to lists, the
-- language's RFM groups, ages, OR and NOT; and nine of 1.4's attributes
-- and functions (the tags of bench/bulk/tag.sql; a saved segment for
-- segment = 'name', kept in the bench database; the generated shop's orders
-- end on 2026-11-01).
SELECT customer_mgmt.create_segment('bench: big spenders', 'total_spent >= 20000000') IS NOT NULL AS helper_segment
 WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_segments WHERE name = 'bench: big spenders');
CREATE TEMP TABLE bench_definitions (shape text, criteria jsonb, query text);
INSERT INTO bench_definitions VALUES
    ('criteria: spend', '{"totalSpentMin": 20000000}', NULL),
    ('criteria: spend and recency', '{"totalSpentMin": 5000000, "daysSinceLastOrderMin": 60}', NULL),
    ('criteria: provinces', '{"geographicRegions": ["Hà Nội", "Bình Dương"]}', NULL),
    ('criteria: categories', '{"preferredCategories": ["Điện thoại"]}', NULL),
    ('criteria: registration window', '{"registeredAfter": "2026-01-01", "totalOrdersMax": 1}', NULL),
    ('criteria: eight keys', '{"totalSpentMin": 1000000, "totalSpentMax": 50000000, "totalOrdersMin": 2, "churnRiskMax": 0.5, "engagementScoreMin": 0.2, "daysSinceLastOrderMax": 365, "registeredBefore": "2026-06-01", "geographicRegions": ["Hồ Chí Minh", "Đà Nẵng", "Cần Thơ"]}', NULL),
    ('language: churn and value', NULL, 'churn_risk >= 0.7 AND total_spent > 10000000'),
    ('language: RFM group', NULL, 'rfm_group IN (''champions'', ''loyal'')'),
    ('language: province and orders', NULL, 'province = ''Hà Nội'' AND total_orders > 3'),
    ('language: recent logins, no order', NULL, 'last_login_at > -30d AND (last_order_date IS NULL OR last_order_date < -90d)'),
    ('language: age and segment', NULL, 'age BETWEEN 25 AND 34 AND lifecycle_segment = ''active'''),
    ('language: OR and NOT', NULL, 'status = ''active'' AND NOT lifecycle_segment IN (''churned'', ''at_risk'') AND (gender = ''female'' OR favorite_brands CONTAINS ''Apple'')'),
    ('1.4: tags', NULL, 'customer_tags CONTAINS ''khach quen'' AND total_spent > 1000000'),
    ('1.4: consent and e-mail domain', NULL, 'email_subscription_status = ''not_asked'' AND customer_email_domain = ''gmail.com'''),
    ('1.4: first order in 180 days', NULL, 'first_order_date > -180d'),
    ('1.4: segment of a segment', NULL, 'segment = ''bench: big spenders'' AND total_orders >= 3'),
    ('1.4: birthdays this week', NULL, 'anniversary MATCHES (attribute = ''date_of_birth'', date BETWEEN today AND +7d)'),
    ('1.4: orders placed, 60 days', NULL, 'orders_placed MATCHES (date > -60d, sum_amount >= 5000000)'),
    ('1.4: never completed an order', NULL, 'orders_placed MATCHES (count = 0)'),
    ('1.4: products purchased, 90 days', NULL, 'products_purchased MATCHES (category = ''Điện thoại'', date > -90d, count >= 2)'),
    ('1.4: products purchased, ever', NULL, 'products_purchased MATCHES (brand = ''Apple'')');
