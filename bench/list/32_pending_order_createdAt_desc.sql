SELECT customer_mgmt.get_customers(has_pending_order => true, as_of => '2026-11-01');
