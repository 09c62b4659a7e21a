SELECT customer_mgmt.get_customers(search => 'nguyễn', sort_by => 'totalOrders', sort_order => 'DESC', as_of => '2026-11-01');
