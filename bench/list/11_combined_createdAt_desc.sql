\set d random(0, 900)
SELECT customer_mgmt.get_customers(status => 'active', segment => 'active', min_total_spent => 1000000, sort_by => 'createdAt', sort_order => 'DESC', as_of => '2026-11-01');
