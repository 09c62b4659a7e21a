-- Accent- and case-folding used by customer search (src/searchkey.c).
SELECT input, customer_mgmt.search_fold(input) AS folded
  FROM (VALUES ('Nguyễn Văn Đức'), ('NGUYỄN VĂN ĐỨC'), ('Trần Thị Thu Hương'), ('Huỳnh Ngọc Ánh'),
               ('Phạm   Quốc    Bảo'), (E'  Lê\tThị\nHồng  '), ('Đặng Thùy Dương'), ('Vũ Đình Tuấn'),
               ('Ỷ Lan Ỹ Ỵ'), ('ƠƯ ơư'), ('Nguye' || chr(770) || chr(771) || 'n'), ('Crème Brûlée'),
               ('Ærø Œuvre straße'), ('Łódź Škoda'), ('duc@Example.VN'), ('0912 345 678'),
               ('日本語 テキスト'), (''), ('a' || chr(160) || 'b')) AS t(input);

SELECT customer_mgmt.search_key('Nguyễn Văn Đức', 'Duc.Nguyen@Example.vn', '0912345678') AS key;
SELECT customer_mgmt.search_key(NULL, 'x@example.vn', NULL) AS key_with_nulls;
-- on Vietnamese letters the folding is exactly lower(unaccent(...))
SELECT count(*) AS letters,
       count(*) FILTER (WHERE customer_mgmt.search_fold(c) = lower(public.unaccent(c))) AS agree
  FROM (SELECT chr(cp) AS c FROM generate_series(x'1EA0'::int, x'1EF9'::int) cp
        UNION ALL SELECT unnest(ARRAY['À','Á','Â','Ã','È','É','Ê','Ì','Í','Ò','Ó','Ô','Õ','Ù','Ú','Ý',
                                      'à','á','â','ã','è','é','ê','ì','í','ò','ó','ô','õ','ù','ú','ý',
                                      'Ă','ă','Đ','đ','Ĩ','ĩ','Ũ','ũ','Ơ','ơ','Ư','ư'])) l;
-- immutable, strict, parallel safe: usable in an index
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE proname IN ('search_fold', 'search_key', 'normalize_phone') ORDER BY proname;
