\set d random(0, 900)
SELECT customer_mgmt.get_customers(min_total_spent => 5000000, max_total_spent => 20000000, sort_by => 'createdAt', sort_order => 'DESC', as_of => '2026-11-01');
