\set k random(1, 1000000)
SELECT customer_mgmt.get_customers(external_id => 'KH-' || :k, as_of => '2026-11-01');
