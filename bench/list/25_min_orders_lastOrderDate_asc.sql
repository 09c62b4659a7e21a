SELECT customer_mgmt.get_customers(min_orders => 10, sort_by => 'lastOrderDate', sort_order => 'ASC', as_of => '2026-11-01');
