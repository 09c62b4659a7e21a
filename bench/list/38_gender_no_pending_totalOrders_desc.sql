SELECT customer_mgmt.get_customers(gender => 'male', has_pending_order => false, sort_by => 'totalOrders', as_of => '2026-11-01');
