SELECT customer_mgmt.get_customers(search => 'trần thị', status => 'active', sort_by => 'lastOrderDate', sort_order => 'DESC', as_of => '2026-11-01');
