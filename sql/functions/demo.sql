-- customer_mgmt: The demo-shop generator (owner only): a deterministic Vietnamese shop of any
-- size, generated in one call or in parts over several connections
-- (scripts/generate.sh).  Random numbers and catalogue come from src/demo.c.
-- Every value is demo_random(seed, stream, key): the same seed, size and
-- as_of give the same shop, whether it is generated in one call or in parts
-- over several connections.  Streams: 1.. customers, 20.. addresses,
-- 30.. orders, 40.. items, 50.. sessions, 70.. staff.
-- Keys: customer n; order n*256+j; item order_key*8+k; session n*512+k.

CREATE OR REPLACE FUNCTION demo_random(seed bigint, stream integer, key bigint) RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_demo_random'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_random(bigint, integer, bigint) IS
    'Deterministic pseudo-random number in [0,1) for (seed, stream, key); used by the demo-shop generator.';

CREATE OR REPLACE FUNCTION demo_uuid(seed bigint, stream integer, key bigint) RETURNS uuid
    AS 'MODULE_PATHNAME', 'cm_demo_uuid'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_uuid(bigint, integer, bigint) IS
    'Deterministic version-4-shaped UUID for (seed, stream, key); used by the demo-shop generator.';

-- Persona and timeline of customers first..last.
--   persona 0 never ordered (22%), 1 one-off (25%), 2 occasional (28%),
--   3 loyal (15%), 4 lapsed (8%), 5 big spender (2%)
CREATE OR REPLACE FUNCTION demo_plan(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS TABLE (n bigint, customer_id uuid, persona integer, registered_at timestamptz,
                   last_active_at timestamptz, order_count integer, browse_count integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT g.n, customer_mgmt.demo_uuid(seed, 60, g.n), p.persona, t.reg, t.last_active,
           least(CASE p.persona
                   WHEN 0 THEN 0
                   WHEN 1 THEN 1
                   WHEN 2 THEN 2 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 9)::int
                   WHEN 3 THEN 12 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 34)::int
                   WHEN 4 THEN 4 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 13)::int
                   ELSE 20 + floor(customer_mgmt.demo_random(seed, 14, g.n) * 41)::int END,
                 1 + floor(extract(epoch FROM t.last_active - t.reg) / 172800)::int),
           CASE p.persona
               WHEN 0 THEN floor(customer_mgmt.demo_random(seed, 15, g.n) * 7)::int
               WHEN 1 THEN 2 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 8)::int
               WHEN 2 THEN 3 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 10)::int
               WHEN 4 THEN 3 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 8)::int
               ELSE 8 + floor(customer_mgmt.demo_random(seed, 15, g.n) * 17)::int END
      FROM generate_series(first_n, last_n) AS g(n)
     CROSS JOIN LATERAL (SELECT width_bucket(customer_mgmt.demo_random(seed, 1, g.n),
                                             ARRAY[0.22, 0.47, 0.75, 0.90, 0.98]::float8[]) AS persona OFFSET 0) p
     CROSS JOIN LATERAL (
           SELECT (CASE p.persona WHEN 2 THEN 14 WHEN 3 THEN 60 WHEN 4 THEN 200 WHEN 5 THEN 90 ELSE 0 END)::float8
                  AS min_age OFFSET 0) a
     CROSS JOIN LATERAL (
           SELECT as_of - make_interval(secs => 86400 * (a.min_age + (1095 - a.min_age)
                                                * power(customer_mgmt.demo_random(seed, 2, g.n), 1.5))) AS reg OFFSET 0) r
     CROSS JOIN LATERAL (
           SELECT r.reg, least(as_of, greatest(r.reg, CASE p.persona
                   WHEN 0 THEN r.reg + least(interval '30 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 1 THEN r.reg + least(interval '90 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 2 THEN as_of - least(interval '200 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   WHEN 4 THEN r.reg + (as_of - interval '100 days' - r.reg) * customer_mgmt.demo_random(seed, 13, g.n)
                   ELSE as_of - least(interval '25 days', as_of - r.reg) * customer_mgmt.demo_random(seed, 13, g.n) END))
                  AS last_active OFFSET 0) t
$$;
COMMENT ON FUNCTION demo_plan(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: persona, registration, last activity, order and browse-session counts of customers first_n..last_n.';

-- Orders of customers first..last with their timing and status.
CREATE OR REPLACE FUNCTION demo_orders(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS TABLE (customer_id uuid, persona integer, order_key bigint, order_id uuid,
                   status customer_mgmt.order_status, order_date timestamptz, completed_at timestamptz)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT p.customer_id, p.persona, k.key, customer_mgmt.demo_uuid(seed, 62, k.key), s.status, d.order_date,
           CASE WHEN s.status IN ('completed', 'refunded')
                THEN least(as_of, d.order_date + make_interval(secs => 86400 * (1 + 4 * customer_mgmt.demo_random(seed, 33, k.key))))
           END
      FROM (SELECT * FROM customer_mgmt.demo_plan(seed, as_of, first_n, last_n) OFFSET 0) p
     CROSS JOIN LATERAL generate_series(1, p.order_count) AS j(j)
     CROSS JOIN LATERAL (SELECT p.n * 256 + j.j AS key) k
     CROSS JOIN LATERAL (
           SELECT p.registered_at + (p.last_active_at - p.registered_at)
                  * ((j.j - customer_mgmt.demo_random(seed, 30, k.key)) / p.order_count) AS order_date OFFSET 0) d
     CROSS JOIN LATERAL (SELECT customer_mgmt.demo_random(seed, 31, k.key) AS r OFFSET 0) rs
     CROSS JOIN LATERAL (
           SELECT (CASE
                     WHEN d.order_date > as_of - interval '3 days' THEN
                          (ARRAY['pending', 'processing', 'shipped', 'completed'])[width_bucket(rs.r, ARRAY[0.3, 0.6, 0.85]::float8[]) + 1]
                     WHEN rs.r < 0.06 THEN 'cancelled'
                     WHEN rs.r < 0.09 THEN 'refunded'
                     ELSE 'completed' END)::customer_mgmt.order_status AS status) s
$$;
COMMENT ON FUNCTION demo_orders(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: the orders of customers first_n..last_n (timing spread over each customer''s active life).';

-- Items of one order: 1-4 lines from a Vietnamese shop's catalogue (src/demo.c).
CREATE OR REPLACE FUNCTION demo_items(seed bigint, order_key bigint, persona integer)
    RETURNS TABLE (product_name text, category text, brand text, unit_price numeric, quantity integer)
    AS 'MODULE_PATHNAME', 'cm_demo_items'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION demo_items(bigint, bigint, integer) IS
    'Demo generator: the 1-4 lines of one order (category, brand, product, VND price, quantity).';

CREATE OR REPLACE FUNCTION demo_order_total(seed bigint, order_key bigint, persona integer) RETURNS numeric
    AS 'MODULE_PATHNAME', 'cm_demo_order_total'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION demo_order_total(bigint, bigint, integer) IS
    'Demo generator: the total of demo_items(seed, order_key, persona).';

-- Generate customers first_n..last_n of a demo shop of the given seed, with
-- their addresses, orders, items and sessions.  Does not check that the shop is
-- empty: the caller does (generate_demo_shop, or scripts/demo.sh for parallel
-- loading).  Returns the number of rows written per table.
CREATE OR REPLACE FUNCTION generate_demo_customers(seed bigint, as_of timestamptz, first_n bigint, last_n bigint)
    RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
    SET jit = off
AS $$
DECLARE
    counts jsonb := '{}';
    c bigint;
    old_role text := current_setting('session_replication_role');
    superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF seed IS NULL OR as_of IS NULL OR NOT isfinite(as_of) THEN
        PERFORM raise_invalid('seed/as_of', 'are required and as_of must be finite');
    END IF;
    IF first_n IS NULL OR last_n IS NULL OR first_n < 1 OR last_n < first_n - 1 OR last_n > 100000000 THEN
        PERFORM raise_invalid('first_n/last_n', 'must be a range within 1..100000000',
                              format('%s..%s', first_n, last_n));
    END IF;
    -- The generated rows are consistent by construction: skip the per-row
    -- foreign-key triggers, which would cost more than the inserts.
    IF superuser THEN
        PERFORM set_config('session_replication_role', 'replica', true);
    END IF;

    INSERT INTO users (id, full_name, email, phone_number, role, status, email_verified_at, phone_verified_at,
                       date_of_birth, gender, province, created_at, updated_at, last_login_at)
    SELECT p.customer_id,
           nm.family || ' ' || nm.middle || ' ' || nm.given,
           replace(search_fold(nm.given || '.' || nm.family), ' ', '') || p.n
               || (ARRAY['@gmail.com', '@yahoo.com', '@outlook.com', '@icloud.com', '@hotmail.com', '@fpt.vn'])
                  [width_bucket(demo_random(seed, 9, p.n), ARRAY[0.70, 0.80, 0.86, 0.91, 0.95]::float8[]) + 1],
           CASE WHEN demo_random(seed, 16, p.n) < 0.92 THEN
               (ARRAY['086', '096', '097', '098', '032', '033', '034', '035', '036', '037', '038', '039',
                      '088', '091', '094', '081', '082', '083', '084', '085',
                      '089', '090', '093', '070', '076', '077', '078', '079', '092', '056', '058', '099', '059'])
                  [1 + floor(demo_random(seed, 7, p.n) * 33)::int]
               || lpad(floor(demo_random(seed, 8, p.n) * 10000000)::bigint::text, 7, '0') END,
           'customer',
           (ARRAY['active', 'inactive', 'suspended'])[width_bucket(demo_random(seed, 12, p.n), ARRAY[0.95, 0.99]::float8[]) + 1]::user_status,
           CASE WHEN demo_random(seed, 17, p.n) < 0.8 THEN p.registered_at + interval '5 minutes' END,
           CASE WHEN demo_random(seed, 18, p.n) < 0.6 THEN p.registered_at + interval '10 minutes' END,
           CASE WHEN demo_random(seed, 11, p.n) < 0.85 THEN
               (as_of - make_interval(days => (365.25 * (18 + 47 * power(demo_random(seed, 19, p.n), 1.4)))::int))::date END,
           nm.gender,
           CASE WHEN demo_random(seed, 10, p.n) < 0.93 THEN nm.province END,
           p.registered_at, p.last_active_at,
           CASE WHEN p.order_count + p.browse_count > 0 THEN p.last_active_at END
      FROM demo_plan(seed, as_of, first_n, last_n) p
     CROSS JOIN LATERAL (
           SELECT g.gender,
                  (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Huỳnh', 'Phan', 'Vũ', 'Võ', 'Đặng', 'Bùi', 'Đỗ',
                         'Hồ', 'Ngô', 'Dương', 'Lý', 'Trương', 'Đinh', 'Lâm', 'Mai'])
                     [width_bucket(demo_random(seed, 3, p.n),
                        ARRAY[0.38, 0.49, 0.585, 0.655, 0.705, 0.745, 0.79, 0.82, 0.85, 0.871, 0.891, 0.905,
                              0.918, 0.931, 0.941, 0.946, 0.956, 0.966, 0.976]::float8[]) + 1] AS family,
                  CASE WHEN g.gender = 'female'
                       THEN (ARRAY['Thị', 'Ngọc', 'Thu', 'Thanh', 'Minh', 'Phương', 'Bảo', 'Khánh', 'Hồng', 'Mai'])
                            [1 + floor(demo_random(seed, 4, p.n) * 10)::int]
                       ELSE (ARRAY['Văn', 'Hữu', 'Đức', 'Minh', 'Quốc', 'Thanh', 'Gia', 'Hoàng', 'Công', 'Anh'])
                            [1 + floor(demo_random(seed, 4, p.n) * 10)::int] END AS middle,
                  CASE WHEN g.gender = 'female'
                       THEN (ARRAY['Anh', 'Châu', 'Chi', 'Dung', 'Giang', 'Hà', 'Hạnh', 'Hằng', 'Hiền', 'Hoa', 'Hồng',
                                   'Hương', 'Lan', 'Linh', 'Loan', 'Mai', 'My', 'Nga', 'Ngân', 'Ngọc', 'Nhung', 'Oanh',
                                   'Phương', 'Quyên', 'Tâm', 'Thảo', 'Thủy', 'Trang', 'Trâm', 'Uyên', 'Vân', 'Vy',
                                   'Xuân', 'Yến'])[1 + floor(demo_random(seed, 5, p.n) * 34)::int]
                       ELSE (ARRAY['An', 'Bảo', 'Bình', 'Cường', 'Dũng', 'Duy', 'Đạt', 'Đức', 'Hải', 'Hiếu', 'Hòa',
                                   'Hoàng', 'Hùng', 'Huy', 'Khang', 'Khánh', 'Khoa', 'Kiên', 'Lâm', 'Long', 'Minh',
                                   'Nam', 'Nghĩa', 'Phong', 'Phúc', 'Quân', 'Quang', 'Sơn', 'Tài', 'Thắng', 'Thành',
                                   'Thịnh', 'Trung', 'Tuấn', 'Tùng', 'Việt', 'Vinh'])[1 + floor(demo_random(seed, 5, p.n) * 37)::int]
                  END AS given,
                  CASE WHEN demo_random(seed, 20, p.n) < 0.25 THEN 'Hồ Chí Minh'
                       WHEN demo_random(seed, 20, p.n) < 0.45 THEN 'Hà Nội'
                       ELSE (SELECT array_agg(pr.name ORDER BY pr.name) FROM provinces pr WHERE pr.is_current)
                            [1 + floor(demo_random(seed, 21, p.n) * 34)::int] END AS province
             FROM (SELECT (ARRAY['female', 'male', 'other', NULL])
                          [width_bucket(demo_random(seed, 6, p.n), ARRAY[0.47, 0.94, 0.95]::float8[]) + 1]::gender AS gender) g
           ) nm;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('customers', c);

    -- 1 or 2 addresses for customers who ordered, half of the others have one.
    -- 30% are older addresses: a former province and a district.
    INSERT INTO addresses (id, customer_id, recipient_name, phone_number, street, ward, district, province,
                           is_default_shipping, is_default_billing, created_at, updated_at)
    SELECT demo_uuid(seed, 61, u.n * 4 + k.k), u.id,
           u.full_name,
           coalesce(u.phone_number, '09' || lpad(floor(demo_random(seed, 22, u.n) * 100000000)::bigint::text, 8, '0')),
           (1 + floor(demo_random(seed, 23, u.n * 4 + k.k) * 300)::int) || ' '
               || (ARRAY['Lê Lợi', 'Nguyễn Huệ', 'Trần Hưng Đạo', 'Hai Bà Trưng', 'Lý Thường Kiệt', 'Nguyễn Trãi',
                         'Lê Duẩn', 'Điện Biên Phủ', 'Cách Mạng Tháng Tám', 'Võ Văn Tần', 'Pasteur',
                         'Nguyễn Thị Minh Khai', 'Phan Đình Phùng', 'Hoàng Diệu', 'Bạch Đằng', 'Quang Trung',
                         'Trần Phú', 'Lê Thánh Tôn', 'Hùng Vương', 'Nguyễn Văn Cừ'])
                  [1 + floor(demo_random(seed, 24, u.n * 4 + k.k) * 20)::int],
           (ARRAY['Phường ', 'Phường ', 'Xã '])[1 + floor(demo_random(seed, 25, u.n * 4 + k.k) * 3)::int]
               || (ARRAY['Bến Nghé', 'Tân Định', 'Hàng Bạc', 'Cửa Nam', 'Láng Thượng', 'Thạch Thang', 'Hòa Cường',
                         'An Hòa', 'Tân Phong', 'Phú Mỹ', 'Long Bình', 'Hòa Khánh', 'Vĩnh Phú', 'Tân Hiệp',
                         'Bình An', 'Phước Long'])[1 + floor(demo_random(seed, 26, u.n * 4 + k.k) * 16)::int],
           CASE WHEN o.old_style THEN
               (ARRAY['Quận 1', 'Quận 3', 'Quận 5', 'Quận 7', 'Quận 10', 'Quận Ba Đình', 'Quận Cầu Giấy',
                      'Quận Hải Châu', 'Quận Ninh Kiều', 'Huyện Đông Anh', 'Huyện Củ Chi', 'Thị xã Sơn Tây',
                      'Thành phố Thủ Đức', 'Huyện Hòa Vang'])[1 + floor(demo_random(seed, 27, u.n * 4 + k.k) * 14)::int] END,
           CASE WHEN o.old_style THEN
               coalesce((SELECT f.name FROM provinces f WHERE f.current_name = coalesce(u.province, 'Hồ Chí Minh')
                          ORDER BY f.name
                         OFFSET floor(demo_random(seed, 28, u.n * 4 + k.k)
                                      * (SELECT count(*) FROM provinces f2
                                          WHERE f2.current_name = coalesce(u.province, 'Hồ Chí Minh')))::int
                          LIMIT 1), 'Hồ Chí Minh')
               ELSE coalesce(u.province, 'Hồ Chí Minh') END,
           k.k = 1, k.k = 1, u.created_at, u.created_at
      FROM (SELECT p.n, p.persona, x.id, x.full_name, x.phone_number, x.province, x.created_at
              FROM demo_plan(seed, as_of, first_n, last_n) p
              JOIN users x ON x.id = p.customer_id) u
     CROSS JOIN LATERAL generate_series(1,
           CASE WHEN u.persona = 0 THEN (demo_random(seed, 29, u.n) < 0.5)::int
                ELSE 1 + (demo_random(seed, 29, u.n) < 0.3)::int END) AS k(k)
     CROSS JOIN LATERAL (SELECT demo_random(seed, 35, u.n * 4 + k.k) < 0.3 AS old_style) o;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('addresses', c);

    INSERT INTO orders (id, customer_id, status, total_amount, order_date, completed_at, created_at, updated_at)
    SELECT o.order_id, o.customer_id, o.status,
           demo_order_total(seed, o.order_key, o.persona),
           o.order_date, o.completed_at, o.order_date, coalesce(o.completed_at, o.order_date)
      FROM demo_orders(seed, as_of, first_n, last_n) o;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('orders', c);

    INSERT INTO order_items (order_id, product_name, category, brand, unit_price, quantity)
    SELECT o.order_id, i.product_name, i.category, i.brand, i.unit_price, i.quantity
      FROM demo_orders(seed, as_of, first_n, last_n) o
     CROSS JOIN LATERAL demo_items(seed, o.order_key, o.persona) i;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('orderItems', c);

    -- one converting session before each order, and browsing sessions spread
    -- over the customer's active life, the last one at the last login; 38% of
    -- browsing sessions bounce
    INSERT INTO web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
    SELECT o.customer_id, o.order_date - make_interval(secs => v.pv * v.per_page), v.pv * v.per_page, v.pv, true
      FROM demo_orders(seed, as_of, first_n, last_n) o
     CROSS JOIN LATERAL (SELECT 3 + floor(demo_random(seed, 52, o.order_key) * 20)::int AS pv,
                                30 + floor(demo_random(seed, 53, o.order_key) * 90)::int AS per_page) v
    UNION ALL
    SELECT p.customer_id,
           p.registered_at + (p.last_active_at - p.registered_at) * (k.k::float8 / p.browse_count),
           CASE WHEN b.bounce THEN 5 + floor(demo_random(seed, 54, k.key) * 55)::int
                ELSE b.pv * (20 + floor(demo_random(seed, 53, k.key) * 100)::int) END,
           b.pv, false
      FROM demo_plan(seed, as_of, first_n, last_n) p
     CROSS JOIN LATERAL generate_series(1, p.browse_count) AS g(k)
     CROSS JOIN LATERAL (SELECT g.k, p.n * 512 + g.k AS key) k
     CROSS JOIN LATERAL (SELECT demo_random(seed, 51, k.key) < 0.38 AS bounce) b0
     CROSS JOIN LATERAL (SELECT b0.bounce,
                                CASE WHEN b0.bounce THEN 1 ELSE 2 + floor(demo_random(seed, 52, k.key) * 14)::int END AS pv) b;
    GET DIAGNOSTICS c = ROW_COUNT;
    counts := counts || jsonb_build_object('webSessions', c);

    PERFORM set_config('session_replication_role', old_role, true);
    RETURN counts;
END
$$;
COMMENT ON FUNCTION generate_demo_customers(bigint, timestamptz, bigint, bigint) IS
    'Demo generator: writes customers first_n..last_n of the demo shop of a seed (no emptiness check; see generate_demo_shop).';

-- The secondary (non-unique) indexes of the tables the generator fills.  A
-- bulk load into an empty shop drops them and builds them afresh afterwards,
-- as pg_restore does: building an index once is far cheaper than growing it
-- row by row.
CREATE OR REPLACE FUNCTION demo_secondary_indexes() RETURNS TABLE (index_name text, definition text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i
     WHERE i.indrelid IN ('customer_mgmt.users'::regclass, 'customer_mgmt.addresses'::regclass,
                          'customer_mgmt.orders'::regclass, 'customer_mgmt.order_items'::regclass,
                          'customer_mgmt.web_sessions'::regclass, 'customer_mgmt.customer_list'::regclass)
       AND NOT i.indisunique
     ORDER BY 1
$$;
COMMENT ON FUNCTION demo_secondary_indexes() IS
    'Demo generator: the non-unique indexes of the tables it fills, with their definitions, for drop-and-rebuild around a bulk load.';

CREATE OR REPLACE FUNCTION generate_demo_staff(seed bigint, as_of timestamptz) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO users (id, full_name, email, role, status, email_verified_at, created_at, updated_at, last_login_at)
        SELECT demo_uuid(seed, 70, s.k),
               nm.full_name,
               replace(search_fold(split_part(nm.full_name, ' ', 3) || '.' || split_part(nm.full_name, ' ', 1)), ' ', '')
                   || '.staff' || s.k || '@cuahang.vn',
               CASE WHEN s.k <= 3 THEN 'admin' ELSE 'staff' END::user_role,
               'active', as_of - interval '800 days', as_of - interval '800 days', as_of - interval '800 days',
               as_of - make_interval(secs => 86400 * 3 * demo_random(seed, 71, s.k))
          FROM generate_series(1, 15) AS s(k)
         CROSS JOIN LATERAL (
               SELECT (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Võ'])[1 + floor(demo_random(seed, 72, s.k) * 5)::int]
                      || ' ' || (ARRAY['Thị', 'Văn', 'Minh', 'Ngọc', 'Quốc'])[1 + floor(demo_random(seed, 73, s.k) * 5)::int]
                      || ' ' || (ARRAY['Hạnh', 'Tuấn', 'Linh', 'Phúc', 'Trang', 'Khoa', 'Nhi', 'Bảo'])
                                [1 + floor(demo_random(seed, 74, s.k) * 8)::int] AS full_name) nm
        RETURNING 1)
    SELECT count(*)::int FROM ins
$$;
COMMENT ON FUNCTION generate_demo_staff(bigint, timestamptz) IS
    'Demo generator: writes the 15 staff users (3 admins) of the demo shop of a seed.';

-- the demo generator skips triggers: give its customers their rows
CREATE OR REPLACE FUNCTION generate_demo_shop(
    customers  integer DEFAULT 10000,
    seed       bigint DEFAULT 42,
    as_of      timestamptz DEFAULT date_trunc('day', now())
) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, customer_mgmt, pg_temp
AS $$
DECLARE
    counts jsonb;
    names text[];
    definitions text[];
BEGIN
    IF customers IS NULL OR customers NOT BETWEEN 0 AND 10000000 THEN
        PERFORM raise_invalid('customers', 'must be from 0 to 10000000', customers::text);
    END IF;
    IF EXISTS (SELECT FROM users) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'raise_exception',
            MESSAGE = 'the demo shop can only be generated into an empty shop',
            DETAIL = 'Table customer_mgmt.users already has rows.',
            HINT = 'Create the extension in a new database for the demo.';
    END IF;
    SELECT array_agg(d.index_name), array_agg(d.definition) INTO names, definitions FROM demo_secondary_indexes() d;
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE 'DROP INDEX ' || names[i];
    END LOOP;
    counts := generate_demo_customers(seed, as_of, 1, customers);
    -- the load bypassed the triggers: the analytics and list rows, before the
    -- list's indexes are built
    PERFORM ensure_analytics_rows();
    FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
        EXECUTE definitions[i];
    END LOOP;
    RETURN counts || jsonb_build_object('staff', generate_demo_staff(seed, as_of));
END
$$;
COMMENT ON FUNCTION generate_demo_shop(integer, bigint, timestamptz) IS
    'Fills an empty shop with a deterministic demo: customers with Vietnamese names, addresses, orders, items, sessions, and 15 staff. Owner only.';
