\set p random(1, 4)
\set a random(18, 50)
SELECT customer_mgmt.get_customers(province => (ARRAY['Hà Nội', 'Hồ Chí Minh', 'Cao Bằng', 'Phú Thọ'])[:p], gender => 'female', min_age => :a, max_age => :a + 9, sort_by => 'totalSpent', as_of => '2026-11-01');
