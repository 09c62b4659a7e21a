-- bench/run.sh import, in the empty shop: the staging tables the shop
-- filled with COPY, and the floor's tables, of the same shape and indexes
-- as the extension's (LIKE … INCLUDING ALL), empty until the floor's COPY.
CREATE TABLE staging_customers (external_id text, full_name text, email text, phone_number text, date_of_birth text,
                                gender text, province text, registered_at text, updated_at text);
CREATE TABLE staging_orders (external_id text, customer_external_id text, total_amount text, status text, order_date text,
                             items jsonb, updated_at text);
\set f :d '/staging_customers.csv'
COPY staging_customers FROM :'f' (FORMAT csv);
\set f :d '/staging_orders.csv'
COPY staging_orders FROM :'f' (FORMAT csv);
CREATE TABLE floor_users (LIKE customer_mgmt.users INCLUDING ALL);
CREATE TABLE floor_orders (LIKE customer_mgmt.orders INCLUDING ALL);
CREATE TABLE floor_items (LIKE customer_mgmt.order_items INCLUDING ALL);
ANALYZE;
