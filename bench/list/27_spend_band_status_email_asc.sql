SELECT customer_mgmt.get_customers(min_total_spent => 2000000, max_total_spent => 3000000, status => 'active', sort_by => 'email', sort_order => 'ASC', as_of => '2026-11-01');
