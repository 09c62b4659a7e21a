SELECT customer_mgmt.get_customers(max_days_since_last_order => 30, min_total_spent => 1000000, sort_by => 'fullName', sort_order => 'ASC', as_of => '2026-11-01');
