SELECT customer_mgmt.get_customers(search => '@gmail', sort_by => 'totalSpent', sort_order => 'DESC', as_of => '2026-11-01');
