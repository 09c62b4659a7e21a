\set a random(18, 60)
SELECT customer_mgmt.get_customers(min_age => :a, max_age => :a + 6, sort_by => 'churnRiskScore', as_of => '2026-11-01');
