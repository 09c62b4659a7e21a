SELECT customer_mgmt.get_customers(search => '090', segment => 'loyal', sort_by => 'fullName', sort_order => 'ASC', as_of => '2026-11-01');
