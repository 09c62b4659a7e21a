-- bench/run.sh attach: a shop schema like the design's (its MySQL tables
-- translated), :n of its users, attached and backfilled.
CREATE SCHEMA shop;
CREATE TABLE shop.tbl_user (
    id          varchar(36) PRIMARY KEY DEFAULT gen_random_uuid()::text,
    n           integer NOT NULL UNIQUE,
    name        varchar(255) NOT NULL,
    email       varchar(255) NOT NULL UNIQUE,
    created_at  timestamp NOT NULL DEFAULT now(),
    updated_at  timestamp NOT NULL DEFAULT now()
);
CREATE TABLE shop.tbl_order (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       varchar(36) NOT NULL REFERENCES shop.tbl_user (id),
    total_amount  decimal(15, 2) NOT NULL,
    state         varchar(20) NOT NULL DEFAULT 'DONE',
    created_at    timestamp NOT NULL DEFAULT now(),
    updated_at    timestamp NOT NULL DEFAULT now()
);
CREATE INDEX ON shop.tbl_order (user_id);
CREATE TABLE shop.tbl_order_item (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES shop.tbl_order (id),
    product_name  varchar(255) NOT NULL,
    price         decimal(15, 2) NOT NULL,
    qty           integer NOT NULL
);
CREATE INDEX ON shop.tbl_order_item (order_id);
INSERT INTO shop.tbl_user (n, name, email, created_at)
SELECT i, 'Khách Hàng ' || i, 'kh' || i || '@example.vn', now() - interval '2 years' FROM generate_series(1, :n) i;
SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user',
    '{"externalId": "id", "fullName": "name", "email": "email", "registeredAt": "created_at", "updatedAt": "updated_at"}');
SELECT customer_mgmt.attach_source('orders', 'shop.tbl_order',
    '{"externalId": "id", "customerExternalId": "user_id", "totalAmount": "total_amount", "orderDate": "created_at",
      "updatedAt": "updated_at", "status": {"column": "state", "values": {"NEW": "pending", "DONE": "completed"}}}');
SELECT customer_mgmt.attach_source('order_items', 'shop.tbl_order_item',
    '{"orderExternalId": "order_id", "productName": "product_name", "unitPrice": "price", "quantity": "qty"}');
CALL customer_mgmt.import_table('customers', 'shop.tbl_user');
VACUUM ANALYZE;
