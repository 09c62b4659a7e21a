SELECT customer_mgmt.get_customers(status => 'active', segment => 'loyal', sort_by => 'lastOrderDate', sort_order => 'DESC', as_of => '2026-11-01');
