-- The segment language's functions with parameters on a shop counted by
-- hand: products_purchased and orders_placed (windows, counts and sums,
-- statuses, names folded, conditions that hold for customers with no order
-- at all), anniversary (birthdays in the shop's time zone, 29 February,
-- windows across the new year, registrations, first orders), and what the
-- parser refuses.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(38);

CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES
    ('an', customer_mgmt.register_customer('Nguyễn An', 'an@example.vn', date_of_birth => '1990-12-03', registered_at => '2024-11-27 10:00+07')),
    ('binh', customer_mgmt.register_customer('Trần Bình', 'binh@example.vn', date_of_birth => '2000-02-29', registered_at => '2025-01-10')),
    ('chi', customer_mgmt.register_customer('Lê Chi', 'chi@example.vn', date_of_birth => '1985-01-02', registered_at => '2025-06-01')),
    ('dung', customer_mgmt.register_customer('Phạm Dũng', 'dung@example.vn', registered_at => '2025-06-01'));
-- An: two phones in the last 90 days and a shirt long ago; Bình: one phone
-- and a cancelled one; Chi: shirts; Dũng: nothing
SELECT customer_mgmt.record_order((SELECT id FROM c WHERE k = k2), amount, status, at, items)
  FROM (VALUES ('an', 12000000, 'completed', now() - interval '20 days',
                '[{"productName": "iPhone 15", "category": "Điện thoại", "brand": "Apple", "unitPrice": 12000000, "quantity": 1}]'::jsonb),
               ('an', 6000000, 'completed', now() - interval '60 days',
                '[{"productName": "Galaxy A55", "category": "Dien Thoai", "brand": "Samsung", "unitPrice": 3000000, "quantity": 2}]'),
               ('an', 300000, 'completed', now() - interval '400 days',
                '[{"productName": "Áo thun", "category": "Thời trang", "brand": "Canifa", "unitPrice": 300000, "quantity": 1}]'),
               ('binh', 5000000, 'completed', now() - interval '10 days',
                '[{"productName": "Redmi Note", "category": "Điện thoại", "brand": "Xiaomi", "unitPrice": 5000000, "quantity": 1}]'),
               ('binh', 5000000, 'cancelled', now() - interval '5 days',
                '[{"productName": "Redmi Note", "category": "Điện thoại", "brand": "Xiaomi", "unitPrice": 5000000, "quantity": 1}]'),
               ('chi', 600000, 'completed', now() - interval '15 days',
                '[{"productName": "Áo sơ mi", "category": "Thời trang", "brand": "Ivy moda", "unitPrice": 300000, "quantity": 2}]'))
       v (k2, amount, status, at, items);
SELECT count(customer_mgmt.calculate_customer_analytics(id)) FROM c;

CREATE FUNCTION pg_temp.members(query text, as_of timestamptz DEFAULT now()) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(c.k, '','' ORDER BY c.k), '''') FROM customer_mgmt.segment_attributes($1) s'
                   ' JOIN c ON c.id = s.customer_id WHERE %s', customer_mgmt.segment_predicate(NULL, query, as_of))
       INTO result USING as_of;
    RETURN result;
END
$$;

SELECT is(pg_temp.members('products_purchased MATCHES (category = ''điện thoại'')'), 'an,binh', 'bought in a category, folded');
SELECT is(pg_temp.members('products_purchased MATCHES (category = ''Điện thoại'', count >= 2)'), 'an', 'in two orders');
SELECT is(pg_temp.members('products_purchased MATCHES (category = ''Điện thoại'', date > -30d)'), 'an,binh', 'in the last 30 days');
SELECT is(pg_temp.members('products_purchased MATCHES (category = ''Điện thoại'', date > -15d)'), 'binh',
          'a cancelled order is no purchase');
SELECT is(pg_temp.members('products_purchased MATCHES (brand IN (''apple'', ''Xiaomi''), sum_quantity >= 1)'), 'an,binh', 'brands, units');
SELECT is(pg_temp.members('products_purchased MATCHES (product = ''Galaxy A55'', sum_quantity >= 2)'), 'an', 'a product by name');
SELECT is(pg_temp.members('products_purchased MATCHES (category = ''Thời trang'', date > -90d)'), 'chi', 'An''s shirt is too old');
SELECT is(pg_temp.members('NOT products_purchased MATCHES (category = ''Thời trang'')'), 'binh,dung', 'NOT: never bought it');
SELECT is(pg_temp.members('products_purchased MATCHES (category = ''Điện thoại'', count < 2)'), 'binh,chi,dung',
          'fewer than two: the customers who never bought one too');
SELECT is(pg_temp.members('orders_placed MATCHES (date > -30d)'), 'an,binh,chi', 'ordered in the last 30 days');
SELECT is(pg_temp.members('orders_placed MATCHES (date > -90d, sum_amount >= 10000000)'), 'an', 'spent 10M in 90 days');
SELECT is(pg_temp.members('orders_placed MATCHES (status = ''cancelled'')'), 'binh', 'a status');
SELECT is(pg_temp.members('orders_placed MATCHES (count = 0)'), 'dung', 'no completed order: count = 0');
SELECT is(pg_temp.members('orders_placed MATCHES (count BETWEEN 1 AND 2)'), 'binh,chi', 'BETWEEN');

-- anniversaries in the shop's time zone (Asia/Ho_Chi_Minh)
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''date_of_birth'', date = today)', '2026-12-02 18:00+00'), 'an',
          'a birthday today: 3 December has begun in Hà Nội at 18:00 UTC on the 2nd');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''date_of_birth'', date = today)', '2026-12-02 16:00+00'), '',
          'and not before midnight there');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''date_of_birth'', date BETWEEN today AND +7d)', '2026-12-28 05:00+00'), 'chi',
          'a window across the new year');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''date_of_birth'', date = today)', '2027-03-01 05:00+00'), 'binh',
          'born on 29 February: 1 March in a year without it');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''date_of_birth'', date = today)', '2028-02-29 05:00+00'), 'binh',
          'and 29 February in a leap year');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''registered'', date BETWEEN today AND +1w)', '2026-11-25 05:00+00'), 'an',
          'a registration''s anniversary');
SELECT is(pg_temp.members('anniversary MATCHES (attribute = ''registered'', date = today)', '2025-06-01 05:00+00'), '',
          'the day itself is no anniversary');
SELECT is(pg_temp.members(format('anniversary MATCHES (attribute = ''first_order_date'', date = today)'),
                          (now() - interval '400 days' + interval '1 year')::timestamptz), 'an', 'the first order''s');

SELECT is(pg_temp.failure(format('SELECT customer_mgmt.compile_segment_query(%L, now())', q)), '22023 query', q)
  FROM (VALUES ('products_purchased (category = ''x'')'), ('products_purchased MATCHES category = ''x'''),
               ('products_purchased MATCHES (color = ''red'')'), ('products_purchased MATCHES (category > ''x'')'),
               ('products_purchased MATCHES (count >= ''two'')'), ('products_purchased MATCHES (date > -90d, date < -1d)'),
               ('orders_placed MATCHES (status = ''lost'')'), ('orders_placed MATCHES (sum_quantity > 1)'),
               ('anniversary MATCHES (date = today)'), ('anniversary MATCHES (attribute = ''age'')'),
               ('anniversary MATCHES (attribute = ''date_of_birth'', date BETWEEN today AND +400d)'),
               ('anniversary MATCHES (attribute = ''date_of_birth'', date = tomorrow)'),
               ('orders_placed MATCHES (count > 1'),
               ('status IN (' || (SELECT string_agg('''active''', ', ') FROM generate_series(1, 101)) || ')'),
               ('segment IN (' || (SELECT string_agg('''x''', ', ') FROM generate_series(1, 101)) || ')')) v (q);
SELECT is(pg_temp.failure($$SELECT customer_mgmt.preview_segment('orders_placed MATCHES (count >= 1) AND anniversary MATCHES (attribute = ''date_of_birth'', date = today)')$$),
          'no error', 'functions mix with each other and run in a preview');

SELECT * FROM finish();
ROLLBACK;
