SELECT customer_mgmt.get_customers(has_orders => false, as_of => '2026-11-01');
