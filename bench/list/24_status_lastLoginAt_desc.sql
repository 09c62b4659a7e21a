SELECT customer_mgmt.get_customers(status => 'inactive', sort_by => 'lastLoginAt', sort_order => 'DESC', as_of => '2026-11-01');
