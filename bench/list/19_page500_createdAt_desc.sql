SELECT customer_mgmt.get_customers(page => 500, sort_by => 'createdAt', sort_order => 'DESC', as_of => '2026-11-01');
