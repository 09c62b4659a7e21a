\set p random(1, 4)
SELECT customer_mgmt.get_customers(province => (ARRAY['Hà Nội', 'Hồ Chí Minh', 'Cao Bằng', 'Phú Thọ'])[:p], as_of => '2026-11-01');
