SELECT customer_mgmt.get_customers(search => 'thuy', min_total_spent => 1000000, sort_by => 'email', sort_order => 'ASC', as_of => '2026-11-01');
