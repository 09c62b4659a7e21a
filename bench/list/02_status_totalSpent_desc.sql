\set d random(0, 900)
SELECT customer_mgmt.get_customers(status => 'inactive', sort_by => 'totalSpent', sort_order => 'DESC', as_of => '2026-11-01');
