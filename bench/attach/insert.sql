-- One order with two lines of a random customer, as the shop's application
-- writes its own tables.
\set n random(1, :customers)
BEGIN;
WITH o AS (INSERT INTO shop.tbl_order (user_id, total_amount)
           SELECT id, 650000 FROM shop.tbl_user WHERE n = :n RETURNING id)
INSERT INTO shop.tbl_order_item (order_id, product_name, price, qty)
SELECT o.id, x.p, x.price, x.q FROM o, (VALUES ('Áo dài lụa', 500000, 1), ('Khăn lụa', 75000, 2)) x(p, price, q);
END;
