-- The CDNOW sample's transactions ingested into a shop (SOURCE.md): temp
-- tables tx (sample_id, day, dollars) and cust (sample_id, id), every
-- customer registered on the day of the first purchase and every purchase
-- recorded as a completed order at noon in the shop's time zone.  Included
-- by test/pgtap/16_clv.sql and bench/clv/accuracy.sql, from the root of the
-- repository (\copy reads a path relative to it).
CREATE TEMP TABLE raw (line text);
\copy raw FROM 'test/data/cdnow/CDNOW_sample.txt'
CREATE TEMP TABLE tx AS
SELECT f[1]::integer AS sample_id, to_date(f[3], 'YYYYMMDD') AS day, f[5]::numeric AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line), '\s+') AS f FROM raw) r;
CREATE TEMP TABLE cust AS
SELECT sample_id, customer_mgmt.register_customer('CDNOW ' || sample_id, 'cdnow' || sample_id || '@example.com',
                                                  registered_at => min(day)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') AS id
  FROM tx GROUP BY sample_id;
SELECT count(customer_mgmt.record_order(c.id, t.dollars, 'completed', (t.day + time '12:00') AT TIME ZONE 'Asia/Ho_Chi_Minh'))
    AS cdnow_orders
  FROM tx t JOIN cust c USING (sample_id) \gset
