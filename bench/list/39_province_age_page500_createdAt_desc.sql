SELECT customer_mgmt.get_customers(province => 'Hồ Chí Minh', min_age => 25, page => 500, as_of => '2026-11-01');
