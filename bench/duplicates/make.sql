-- bench/run.sh duplicates: :n customers of the bench shop get a twin each,
-- registered as the same person registers twice in a Vietnamese shop, in
-- four spellings (a quarter each): the phone spelled +84 with spaces and a
-- new e-mail; the Gmail mailbox with dots and a +tag; the name without
-- accents with the same birth date; a similar name (the middle name
-- dropped) at the same address.  The truth is kept in bench_dup_truth.
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_dup_truth;
CREATE TABLE bench_dup_truth (original uuid, twin uuid, kind text);
CREATE TEMP TABLE picks AS
SELECT u.*, row_number() OVER (ORDER BY md5(u.id::text)) AS n
  FROM customer_mgmt.users u
 WHERE u.role = 'customer' AND u.anonymized_at IS NULL AND u.phone_number IS NOT NULL AND u.date_of_birth IS NOT NULL
   AND u.email LIKE '%@gmail.com'
   AND EXISTS (SELECT FROM customer_mgmt.addresses a WHERE a.customer_id = u.id)
 ORDER BY md5(u.id::text) LIMIT :n;
INSERT INTO bench_dup_truth
SELECT p.id, customer_mgmt.register_customer(
           CASE WHEN p.n % 4 = 2 THEN customer_mgmt.search_fold(p.full_name)
                WHEN p.n % 4 = 3 THEN split_part(p.full_name, ' ', 1) || ' ' || split_part(p.full_name, ' ', 3)
                                      || coalesce(nullif(' ' || split_part(p.full_name, ' ', 4), ' '), '')
                ELSE p.full_name END,
           CASE WHEN p.n % 4 = 1 THEN overlay(split_part(p.email, '@', 1) PLACING '.' FROM 2 FOR 0) || '+shop@gmail.com'
                ELSE 'twin' || p.n || '@bench.example.vn' END,
           CASE WHEN p.n % 4 = 0 THEN '+84 ' || substr(p.phone_number, 2, 3) || ' ' || substr(p.phone_number, 5, 3) || ' '
                                      || substr(p.phone_number, 8) END,
           CASE WHEN p.n % 4 = 2 THEN p.date_of_birth END),
       (ARRAY['phone', 'email', 'name_birth_date', 'similar_name_address'])[p.n % 4 + 1]
  FROM picks p;
-- the similar names live at the original's address
SELECT count(customer_mgmt.add_customer_address(t.twin, a.recipient_name, a.phone_number, a.street, a.ward, a.district, a.province))
  FROM bench_dup_truth t
  JOIN LATERAL (SELECT * FROM customer_mgmt.addresses x WHERE x.customer_id = t.original ORDER BY x.created_at LIMIT 1) a ON true
 WHERE t.kind = 'similar_name_address';
ANALYZE;
