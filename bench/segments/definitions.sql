-- The segment definitions of the benchmarks (bench/segments/shapes.sql,
-- refresh.sql): twelve shapes, from one indexed bound to lists, the
-- language's RFM groups, ages, OR and NOT.
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
    ('language: OR and NOT', NULL, 'status = ''active'' AND NOT lifecycle_segment IN (''churned'', ''at_risk'') AND (gender = ''female'' OR favorite_brands CONTAINS ''Apple'')');
