\set d random(0, 900)
SELECT customer_mgmt.get_customers(registered_after => timestamptz '2024-01-01' + :d * interval '1 day', registered_before => timestamptz '2024-01-01' + (:d + 30) * interval '1 day', sort_by => 'createdAt', sort_order => 'DESC', as_of => '2026-11-01');
