\set p random(1, 4)
SELECT customer_mgmt.get_customers(province => (ARRAY['Cao Bằng', 'Phú Thọ', 'Lạng Sơn', 'Hà Giang'])[:p], sort_by => 'fullName', sort_order => 'ASC', as_of => '2026-11-01');
