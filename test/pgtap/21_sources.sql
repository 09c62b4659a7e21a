-- The shop's own tables attached (attach_source, docs/onboarding.md): a
-- shop schema built like the design's (its MySQL tables translated:
-- VARCHAR(36) user ids, bigint order ids, its own column names and order
-- states) written as its application writes it, reaching the list, the
-- detail, the analytics and the outbox in the same transaction; a row our
-- rules refuse fails the shop's write or is recorded and let through, as
-- the shop chose; detach keeps the data; only admins attach.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(31);

CREATE ROLE shop_app LOGIN;
CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO shop_app;
CREATE TABLE shop.tbl_user (
    id          varchar(36) PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name        varchar(255) NOT NULL,
    email       varchar(255) NOT NULL UNIQUE,
    phone       varchar(20),
    birthday    date,
    sex         varchar(10),
    city        varchar(100),
    created_at  timestamp NOT NULL DEFAULT now(),
    updated_at  timestamp NOT NULL DEFAULT now()
);
CREATE TABLE shop.tbl_order (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       varchar(36) NOT NULL REFERENCES shop.tbl_user (id),
    total_amount  decimal(15, 2) NOT NULL,
    state         varchar(20) NOT NULL DEFAULT 'NEW',
    created_at    timestamp NOT NULL DEFAULT now(),
    updated_at    timestamp NOT NULL DEFAULT now()
);
CREATE TABLE shop.tbl_order_item (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES shop.tbl_order (id),
    product_name  varchar(255) NOT NULL,
    category      varchar(100),
    price         decimal(15, 2) NOT NULL,
    qty           integer NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shop TO shop_app;

CREATE TEMP TABLE p (k text PRIMARY KEY, id uuid);
GRANT SELECT ON p TO PUBLIC;
INSERT INTO p VALUES ('hoa', customer_mgmt.register_staff('Vũ Hoa', 'hoa@cuahang.vn', 'admin'));
SELECT set_config('customer_mgmt.actor_id', (SELECT id::text FROM p WHERE k = 'hoa'), true);

-- refused mappings, before anything is attached
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('people', 'shop.tbl_user', '{"externalId": "id"}')$$),
          '22023 kind', 'an unknown kind');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'customer_mgmt.users', '{"externalId": "id"}')$$),
          '22023 source', 'a table of the extension''s own');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user', '{"fullName": "name"}')$$),
          '22023 mapping', 'no key');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user', '{"externalId": "id", "nick": "name"}')$$),
          '22023 mapping', 'a field we do not have');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user', '{"externalId": "id", "fullName": "ten; DROP TABLE x"}')$$),
          '22023 mapping', 'a column the table does not have');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user', '{"externalId": "id"}', 'ignore')$$),
          '22023 on_reject', 'an unknown on_reject');
SET ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user', '{"externalId": "id"}')$$),
          '42501', 'staff may not attach');
RESET ROLE;

-- the shop's three tables attached
SELECT is(customer_mgmt.attach_source('customers', 'shop.tbl_user',
              '{"externalId": "id", "fullName": "name", "email": "email", "phoneNumber": "phone", "dateOfBirth": "birthday",
                "gender": {"column": "sex", "values": {"Nam": "male", "Nữ": "female"}}, "province": "city",
                "registeredAt": "created_at", "updatedAt": "updated_at"}') ->> 'backfill',
          'CALL customer_mgmt.import_table(''customers'', ''shop.tbl_user'')', 'customers attached; the answer says how to backfill');
SELECT ok(customer_mgmt.attach_source('orders', 'shop.tbl_order',
              '{"externalId": "id", "customerExternalId": "user_id", "totalAmount": "total_amount", "orderDate": "created_at",
                "updatedAt": "updated_at",
                "status": {"column": "state", "values": {"NEW": "pending", "SHIPPING": "processing", "DONE": "completed",
                                                         "CANCELED": "cancelled", "RETURNED": "refunded"}}}') IS NOT NULL,
          'orders attached, the shop''s states translated');
SELECT ok(customer_mgmt.attach_source('order_items', 'shop.tbl_order_item',
              '{"orderExternalId": "order_id", "productName": "product_name", "category": "category", "unitPrice": "price",
                "quantity": "qty"}', on_reject => 'record') IS NOT NULL,
          'order lines attached, their refusals recorded');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.attach_source('customers', 'shop.tbl_order_item', '{"externalId": "id"}')$$),
          '23505 source', 'one table per kind');

-- the shop's application writes its tables
SET ROLE shop_app;
INSERT INTO shop.tbl_user (id, name, email, phone, birthday, sex, city, created_at)
VALUES ('0b6f6a52-6c1e-4f5e-9d4a-000000000001', 'Nguyễn Thị Lan', 'lan@example.vn', '0912 345 678', '1992-05-04', 'Nữ', 'tp hcm',
        now() - interval '1 year');
WITH o AS (INSERT INTO shop.tbl_order (user_id, total_amount, state, created_at)
           VALUES ('0b6f6a52-6c1e-4f5e-9d4a-000000000001', 750000, 'NEW', now() - interval '3 days') RETURNING id)
INSERT INTO shop.tbl_order_item (order_id, product_name, category, price, qty)
SELECT o.id, x.n, 'Thời trang', x.p, x.q FROM o, (VALUES ('Áo dài lụa', 500000, 1), ('Khăn lụa', 125000, 2)) x(n, p, q);
RESET ROLE;
SELECT is((SELECT row(u.full_name, u.phone_number, u.gender, u.province)::text FROM customer_mgmt.users u
            WHERE u.external_id = '0b6f6a52-6c1e-4f5e-9d4a-000000000001'),
          row('Nguyễn Thị Lan', '0912345678', 'female', 'Hồ Chí Minh')::text,
          'the shop''s customer is ours in the same transaction, normalised as ingestion normalises');
SELECT id AS lan FROM customer_mgmt.users WHERE external_id = '0b6f6a52-6c1e-4f5e-9d4a-000000000001' \gset
SELECT is(customer_mgmt.get_customer(:'lan') ->> 'externalId', '0b6f6a52-6c1e-4f5e-9d4a-000000000001', 'the detail shows the shop''s id');
SELECT is((customer_mgmt.get_customers(search => 'lan@example.vn') ->> 'total')::int, 1, 'the list finds her');
SELECT is((SELECT string_agg(o.status || ' ' || o.total_amount || ' ' || (SELECT count(*) FROM customer_mgmt.order_items i WHERE i.order_id = o.id), ',')
             FROM customer_mgmt.orders o WHERE o.customer_id = :'lan'),
          'pending 750000.00 2', 'her order, NEW as pending, with the two lines written after it');
SELECT is((SELECT count(*)::int FROM customer_mgmt.event_outbox e WHERE e.event_type = 'customer.registered'
            AND e.payload ->> 'customerId' = :'lan'), 1, 'customer.registered is in the outbox');

-- delivered: completed, and the analytics follow
SET ROLE shop_app;
UPDATE shop.tbl_order SET state = 'SHIPPING', updated_at = now() + interval '1 second' WHERE user_id = '0b6f6a52-6c1e-4f5e-9d4a-000000000001';
UPDATE shop.tbl_order SET state = 'DONE', updated_at = now() + interval '2 seconds' WHERE user_id = '0b6f6a52-6c1e-4f5e-9d4a-000000000001';
RESET ROLE;
SELECT is((SELECT o.status::text FROM customer_mgmt.orders o WHERE o.customer_id = :'lan'), 'completed', 'the shop''s DONE is completed');
SELECT customer_mgmt.process_analytics_queue(100);
SELECT is((SELECT a.total_orders || ' ' || a.total_spent FROM customer_mgmt.customer_analytics a WHERE a.customer_id = :'lan'),
          '1 750000.00', 'the analytics count her order');
SELECT is(pg_temp.list_drift(), 0::bigint, 'the list agrees with the tables');

-- the rules: a refused change fails the shop's write, or is recorded
SET ROLE shop_app;
SELECT is(pg_temp.failure($$INSERT INTO shop.tbl_user (name, email) VALUES ('Thư Sai', 'not-an-email')$$), '22023 email',
          'customers refuse: the shop''s insert of a bad e-mail fails with our reason');
SELECT is((SELECT count(*)::int FROM shop.tbl_user WHERE email = 'not-an-email'), 0, 'and the shop''s row is not written');
SELECT is(pg_temp.failure($$UPDATE shop.tbl_order SET state = 'NEW', updated_at = now() + interval '3 seconds'$$), 'P0001',
          'a completed order cannot go back to new: the shop''s update fails');
SELECT lives_ok($$INSERT INTO shop.tbl_order_item (order_id, product_name, price, qty)
                  SELECT id, 'Quà tặng', 0, -1 FROM shop.tbl_order$$, 'lines record: a line of -1 goes into the shop''s table');
RESET ROLE;
SELECT is((SELECT r.field || ' ' || r.sqlstate FROM customer_mgmt.import_rejects r JOIN customer_mgmt.sources s ON s.import_id = r.import_id
            WHERE s.kind = 'order_items'), 'items[2].quantity 22023', 'and is recorded as a reject naming the line''s field');
SELECT is((SELECT count(*)::int FROM customer_mgmt.order_items i JOIN customer_mgmt.orders o ON o.id = i.order_id
            WHERE o.customer_id = :'lan'), 2, 'our order keeps its last good lines');

-- the shop deletes the person: erased here
SET ROLE shop_app;
DELETE FROM shop.tbl_order_item;
DELETE FROM shop.tbl_order;
DELETE FROM shop.tbl_user WHERE id = '0b6f6a52-6c1e-4f5e-9d4a-000000000001';
RESET ROLE;
SELECT is((SELECT count(*)::int FROM customer_mgmt.orders o WHERE o.customer_id = :'lan'), 0, 'the shop''s deleted order is gone');
SELECT is((SELECT a.reason || ' ' || (u.email = 'lan@example.vn') FROM customer_mgmt.customer_anonymizations a
             JOIN customer_mgmt.users u ON u.id = a.customer_id WHERE a.customer_id = :'lan'),
          'deleted from the shop''s table shop.tbl_user false', 'the shop''s deleted customer is anonymised, saying why');

-- a trigger nobody attached does nothing but refuse
CREATE TABLE shop.other (id text);
CREATE TRIGGER rogue AFTER INSERT ON shop.other FOR EACH ROW EXECUTE FUNCTION customer_mgmt_internal.source_changed();
SELECT is(pg_temp.failure($$INSERT INTO shop.other VALUES ('x')$$), '42501', 'the trigger on a table nobody attached refuses');

-- detached: the trigger gone, the data kept
SELECT is(customer_mgmt.detach_source('shop.tbl_user') ->> 'detached', 'true', 'an admin detaches the customers');
INSERT INTO shop.tbl_user (name, email) VALUES ('Sau Khi Tách', 'sau@example.vn');
SELECT is((SELECT count(*)::int FROM customer_mgmt.users u WHERE u.email = 'sau@example.vn'), 0, 'the shop''s writes no longer reach us');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.detach_source('shop.tbl_user')$$), 'PT404', 'detached once');

SELECT * FROM finish();
ROLLBACK;
