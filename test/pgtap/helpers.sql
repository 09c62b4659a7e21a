-- Loaded before each pgTAP file (by scripts/test.sh): helpers for the tests.

-- Row counts of every table that holds shop data, as one text.
CREATE OR REPLACE FUNCTION pg_temp.shop_counts() RETURNS text
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(t || '=' || n, ' ' ORDER BY t)
      FROM (SELECT 'users' t, count(*) n FROM customer_mgmt.users
            UNION ALL SELECT 'addresses', count(*) FROM customer_mgmt.addresses
            UNION ALL SELECT 'orders', count(*) FROM customer_mgmt.orders
            UNION ALL SELECT 'order_items', count(*) FROM customer_mgmt.order_items
            UNION ALL SELECT 'web_sessions', count(*) FROM customer_mgmt.web_sessions
            UNION ALL SELECT 'settings', count(*) FROM customer_mgmt.settings
            UNION ALL SELECT 'customer_notes', count(*) FROM customer_mgmt.customer_notes) c
$$;

-- Run a statement that must fail; return 'SQLSTATE field' where field is the
-- error's column field, and append ' DETAIL-MISSING-FIELD' when the DETAIL
-- does not name that field, and ' WROTE' when the tables changed.
CREATE OR REPLACE FUNCTION pg_temp.failure(sql text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.shop_counts();
    state text;
    col text;
    detail text;
    result text;
BEGIN
    BEGIN
        EXECUTE sql;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, col = COLUMN_NAME, detail = PG_EXCEPTION_DETAIL;
    END;
    IF state IS NULL THEN
        RETURN 'no error';
    END IF;
    result := state || coalesce(' ' || nullif(col, ''), '');
    IF coalesce(col, '') <> '' AND position(format('"%s"', col) IN coalesce(detail, '')) = 0 THEN
        result := result || ' DETAIL-MISSING-FIELD';
    END IF;
    IF pg_temp.shop_counts() IS DISTINCT FROM before THEN
        result := result || ' WROTE';
    END IF;
    RETURN result;
END
$$;

-- Customers whose customer_list row differs from users and customer_analytics
-- (or is missing, or a non-customer has one): the list's triggers keep it 0.
CREATE OR REPLACE FUNCTION pg_temp.list_drift() RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM (
        (SELECT * FROM customer_mgmt.customer_list_rows() EXCEPT SELECT * FROM customer_mgmt.customer_list)
        UNION ALL
        (SELECT * FROM customer_mgmt.customer_list EXCEPT SELECT * FROM customer_mgmt.customer_list_rows())) d
$$;

-- Every match of a get_customers call, in order (all its pages): args are
-- its named arguments, each followed by a comma.
CREATE OR REPLACE FUNCTION pg_temp.ids(args text) RETURNS uuid[]
    LANGUAGE plpgsql AS $$
DECLARE
    result uuid[] := '{}';
    page jsonb;
    n integer := 1;
BEGIN
    LOOP
        EXECUTE format('SELECT customer_mgmt.get_customers(%s page => %s, page_size => 100)', args, n) INTO page;
        result := result || ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(page -> 'data') e);
        EXIT WHEN n >= (page ->> 'totalPages')::int;
        n := n + 1;
    END LOOP;
    RETURN result;
END
$$;
