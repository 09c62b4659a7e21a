-- floor: the cheapest page a list can be, straight from the index, no JSON
SELECT id, full_name, email, created_at FROM customer_mgmt.users
 WHERE role = 'customer' ORDER BY created_at DESC LIMIT 20;
