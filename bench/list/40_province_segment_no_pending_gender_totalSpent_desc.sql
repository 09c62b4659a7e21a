\set p random(1, 4)
SELECT customer_mgmt.get_customers(province => (ARRAY['Hà Nội', 'Hồ Chí Minh', 'Cao Bằng', 'Phú Thọ'])[:p], segment => 'at_risk', has_pending_order => false, gender => 'male', sort_by => 'totalSpent', as_of => '2026-11-01');
