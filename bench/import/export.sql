-- bench/run.sh import: the first :n customers of the bench shop and their
-- orders, written to :d as the shop's staging files (the text the shop's
-- own system would COPY) and as the floor's files (the same rows in the
-- tables' own columns).
CREATE TEMP TABLE chosen AS
SELECT id FROM customer_mgmt.users WHERE role = 'customer' ORDER BY id LIMIT :n;
\set f :d '/staging_customers.csv'
COPY (SELECT u.id::text, u.full_name, u.email, u.phone_number, u.date_of_birth::text, u.gender::text, u.province,
             u.created_at::text, u.updated_at::text
        FROM customer_mgmt.users u JOIN chosen c USING (id)) TO :'f' (FORMAT csv);
\set f :d '/staging_orders.csv'
COPY (SELECT o.id::text, o.customer_id::text, o.total_amount::text, o.status::text, o.order_date::text,
             (SELECT coalesce(jsonb_agg(jsonb_build_object('productName', i.product_name, 'category', i.category,
                                                           'brand', i.brand, 'unitPrice', i.unit_price,
                                                           'quantity', i.quantity) ORDER BY i.id), '[]')
                FROM customer_mgmt.order_items i WHERE i.order_id = o.id),
             o.updated_at::text
        FROM customer_mgmt.orders o JOIN chosen c ON c.id = o.customer_id) TO :'f' (FORMAT csv);
\set f :d '/floor_users.csv'
COPY (SELECT u.id, u.full_name, u.email, u.phone_number, u.role, u.status, u.date_of_birth, u.gender, u.province,
             u.created_at, u.updated_at, u.id::text
        FROM customer_mgmt.users u JOIN chosen c USING (id)) TO :'f' (FORMAT csv);
\set f :d '/floor_orders.csv'
COPY (SELECT o.id, o.customer_id, o.status, o.total_amount, o.order_date, o.completed_at, o.created_at, o.updated_at,
             o.id::text
        FROM customer_mgmt.orders o JOIN chosen c ON c.id = o.customer_id) TO :'f' (FORMAT csv);
\set f :d '/floor_items.csv'
COPY (SELECT i.order_id, i.product_name, i.category, i.brand, i.unit_price, i.quantity
        FROM customer_mgmt.order_items i JOIN customer_mgmt.orders o ON o.id = i.order_id JOIN chosen c ON c.id = o.customer_id)
  TO :'f' (FORMAT csv);
