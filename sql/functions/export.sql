-- customer_mgmt: The customer export (docs/reference.md, Export): export_customers writes the
-- list's customers, filtered and sorted as get_customers does, as an .xlsx workbook or CSV.
-- export_customers is C (src/export.c): it asks export_plan, here, for the query, the
-- columns and the Summary sheet, streams the rows into the file, and logs the export, so
-- that the file is built once, in the memory it is returned from.

-- The columns an export may have, in their documented order: key (as
-- columns names them), header, kind (how the writer types the cell), the
-- SQL over l (customer_list), u (users), a (customer_analytics), c
-- (customer_clv, joined only when a column reads it) and p (the shop's time
-- zone tz and as_of), and whether it is in the default set.
CREATE OR REPLACE FUNCTION export_columns()
    RETURNS TABLE (key text, header text, kind text, expression text, is_default boolean)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('id', 'ID', 'text', 'l.customer_id::text', false),
           ('externalId', 'Shop''s ID', 'text', 'u.external_id', false),
           ('fullName', 'Full name', 'text', 'u.full_name', true),
           ('email', 'E-mail', 'text', 'u.email', true),
           ('phoneNumber', 'Phone', 'text', 'u.phone_number', true),
           ('status', 'Status', 'text', 'l.status::text', true),
           ('segment', 'Segment', 'text', 'l.segment::text', true),
           ('totalOrders', 'Orders', 'integer', 'l.total_orders::int8', true),
           ('totalSpent', 'Total spent', 'amount', 'l.total_spent::float8', true),
           ('averageOrderValue', 'Average order value', 'amount', 'l.average_order_value::float8', false),
           ('lastOrderDate', 'Last order', 'datetime', 'l.last_order_date AT TIME ZONE p.tz', true),
           ('daysSinceLastOrder', 'Days since last order', 'integer', 'customer_mgmt.days_between(l.last_order_date, p.as_of)::int8', false),
           ('churnRiskScore', 'Churn risk', 'rate', 'l.churn_risk_score::float8', true),
           ('engagementScore', 'Engagement', 'rate', 'l.engagement_score::float8', false),
           ('rfmScore', 'RFM', 'text', 'l.rfm_score::text', false),
           ('rfmGroup', 'RFM group', 'text', 'l.rfm_group', false),
           ('customerLifetimeValue', 'Lifetime value', 'amount', 'a.customer_lifetime_value::float8', false),
           ('predictedLtv', 'Predicted spend, next 365 days', 'amount', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''predicted_ltv'')', false),
           ('probabilityAlive', 'Probability active', 'rate', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''probability_alive'')', false),
           ('churnProbability', 'Probability of no order in 90 days', 'rate', 'customer_mgmt.clv_predict_value(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()), ''churn_probability'')', false),
           ('expectedNextOrderDate', 'Expected next order', 'date', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).expected_next_order_date', false),
           ('predictionStatus', 'Prediction status', 'text', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).status', false),
           ('predictionHistoryWeight', 'Share of own history in prediction', 'rate', '(customer_mgmt.clv_predict(c, (SELECT customer_mgmt.clv_fit_bgnbd()), (SELECT customer_mgmt.clv_fit_gamma_gamma()), (SELECT customer_mgmt.clv_day(p.as_of)), (SELECT customer_mgmt.clv_discount_rate()))).own_history_weight', false),
           ('totalSessions', 'Sessions', 'integer', 'l.total_sessions::int8', false),
           ('bounceRate', 'Bounce rate', 'rate', 'l.bounce_rate::float8', false),
           ('conversionRate', 'Conversion rate', 'rate', 'l.conversion_rate::float8', false),
           ('gender', 'Gender', 'text', 'l.gender::text', false),
           ('dateOfBirth', 'Date of birth', 'date', 'u.date_of_birth', false),
           ('province', 'Province', 'text', 'u.province', false),
           ('tags', 'Tags', 'text', 'array_to_string(customer_mgmt.customer_tag_array(l.customer_id), '', '')', false),
           ('emailConsent', 'E-mail marketing', 'text', 'u.email_consent::text', false),
           ('smsConsent', 'SMS marketing', 'text', 'u.sms_consent::text', false),
           ('shippingAddress', 'Shipping address', 'text',
            '(SELECT concat_ws('', '', x.street, x.ward, x.district, x.province) FROM customer_mgmt.addresses x'
            || ' WHERE x.customer_id = l.customer_id ORDER BY x.is_default_shipping DESC, x.created_at LIMIT 1)', false),
           ('createdAt', 'Registered', 'datetime', 'l.created_at AT TIME ZONE p.tz', true),
           ('lastLoginAt', 'Last login', 'datetime', 'l.last_login_at AT TIME ZONE p.tz', false)
$$;
COMMENT ON FUNCTION export_columns() IS
    'The columns export_customers can write: key, header, kind (text, amount, integer, rate, datetime, date), SQL expression, and whether it is in the default set.';

-- Everything export_customers needs before it writes a row: the arguments
-- checked, the query (the list's filters and sort), the columns' headers and
-- kinds, for xlsx the Summary sheet's cells and charts, and what the log
-- records; it sets PostgREST's response headers.  Internal: only
-- export_customers (SECURITY DEFINER) calls it.
CREATE OR REPLACE FUNCTION export_plan(
    filters jsonb, format text, columns text[],
    OUT query text, OUT headers text[], OUT kinds text[], OUT summary_query text, OUT chart_titles text[],
    OUT chart_types text[], OUT chart_first_rows integer[], OUT chart_last_rows integer[], OUT sheet_rows integer,
    OUT log_details jsonb)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    as_of timestamptz := now();
    tz text := customer_mgmt.setting('shop_timezone');
    f record := customer_mgmt.customer_filter(filters, as_of);
    chosen text[] := coalesce(columns, ARRAY(SELECT c.key FROM customer_mgmt.export_columns() c WHERE c.is_default));
    cols record;
    n bigint;
    cells text[] := '{}';
    rows integer[] := '{}';
    cols_at integer[] := '{}';
    numbers boolean[] := '{}';
    bolds boolean[] := '{}';
    r integer;
    t record;
BEGIN
    IF format IS NULL OR format NOT IN ('xlsx', 'csv') THEN
        PERFORM customer_mgmt.raise_invalid('format', 'must be xlsx or csv', format);
    END IF;
    IF cardinality(chosen) IS NULL OR cardinality(chosen) = 0 THEN
        PERFORM customer_mgmt.raise_invalid('columns', 'must name at least one column (see export_columns())');
    END IF;
    FOR i IN 1 .. cardinality(chosen) LOOP
        IF chosen[i] IS NULL OR NOT EXISTS (SELECT FROM customer_mgmt.export_columns() c WHERE c.key = chosen[i]) THEN
            PERFORM customer_mgmt.raise_invalid('columns', 'holds a column that does not exist (see export_columns())', chosen[i]);
        END IF;
        IF array_position(chosen, chosen[i]) <> i THEN
            PERFORM customer_mgmt.raise_invalid('columns', 'names a column twice', chosen[i]);
        END IF;
    END LOOP;
    -- Excel's limit, which a test may lower (SET customer_mgmt.export_sheet_rows)
    sheet_rows := coalesce(nullif(current_setting('customer_mgmt.export_sheet_rows', true), '')::integer, 1048576);
    SELECT array_agg(c.header ORDER BY o.n) AS headers, array_agg(c.kind ORDER BY o.n) AS kinds,
           string_agg(c.expression, ', ' ORDER BY o.n) AS exprs
      INTO cols
      FROM unnest(chosen) WITH ORDINALITY o (key, n) JOIN customer_mgmt.export_columns() c ON c.key = o.key;
    headers := cols.headers;
    kinds := cols.kinds;
    query := format('SELECT %s FROM customer_mgmt.customer_list l JOIN customer_mgmt.users u ON u.id = l.customer_id'
                    ' JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id'
                    ' LEFT JOIN customer_mgmt.customer_clv c ON c.customer_id = l.customer_id'
                    ' CROSS JOIN (SELECT %L::text AS tz, %L::timestamptz AS as_of) p WHERE %s%s',
                    cols.exprs, tz, as_of, f.conditions, f.order_by);
    -- the log holds no personal data: whether there was a search, not its text
    -- (export_customers adds the number of rows written)
    -- (a search of blanks searches nothing: no pattern)
    log_details := jsonb_build_object('format', format, 'columns', to_jsonb(chosen),
                                      'filters', f.applied - 'search' || CASE WHEN f.pattern IS NOT NULL THEN '{"search": true}'::jsonb
                                                                              ELSE '{}' END);
    -- behind PostgREST, a file download
    PERFORM set_config('response.headers', jsonb_build_array(
        jsonb_build_object('Content-Type', CASE format WHEN 'csv' THEN 'text/csv; charset=utf-8'
                                           ELSE 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' END),
        jsonb_build_object('Content-Disposition',
                           format('attachment; filename="customers-%s.%s"', to_char(as_of AT TIME ZONE tz, 'YYYYMMDD-HH24MI'), format))
        )::text, true);
    IF format = 'csv' THEN
        RETURN;                 -- a CSV has no Summary sheet
    END IF;

    -- the Summary sheet: who, when, the filters, the count (row 3, once the
    -- tables below have counted), and three tables with their charts
    -- (lifecycle segments, churn-risk bands, lifetime-value bands)
    cells := ARRAY['Customer export', 'Exported at', to_char(as_of AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' (' || tz || ')',
                   'Exported by', coalesce((SELECT u.full_name FROM customer_mgmt.users u WHERE u.id = customer_mgmt.current_actor()),
                                           format('no acting user (database role %s)', session_user)),
                   'Filters'];
    rows := ARRAY[0, 1, 1, 2, 2, 5];
    cols_at := ARRAY[0, 0, 1, 0, 1, 0];
    numbers := ARRAY[false, false, false, false, false, false];
    bolds := ARRAY[true, false, false, false, false, true];
    r := 6;
    FOR t IN SELECT e.key, e.value #>> '{}' AS value FROM jsonb_each(f.applied) e ORDER BY e.key LOOP
        cells := cells || t.key || t.value;
        rows := rows || r || r;
        cols_at := cols_at || 0 || 1;
        numbers := numbers || false || false;
        bolds := bolds || false || false;
        r := r + 1;
    END LOOP;
    chart_titles := ARRAY['Lifecycle segments', 'Churn risk', 'Lifetime value (VND)'];
    chart_types := ARRAY['pie', 'column', 'column'];
    chart_first_rows := '{}';
    chart_last_rows := '{}';
    FOR t IN
        EXECUTE format($q$
            WITH m AS (SELECT l.segment::text AS segment,
                              -- the dashboard's levels (get_customer_overview)
                              CASE WHEN l.churn_risk_score >= %1$L::numeric THEN '4 high'
                                   WHEN l.churn_risk_score >= %2$L::numeric THEN '3 medium'
                                   WHEN l.churn_risk_score >= %4$L::numeric THEN '2 moderate' ELSE '1 low' END AS churn,
                              CASE WHEN a.customer_lifetime_value < 1000000 THEN '1 under 1M'
                                   WHEN a.customer_lifetime_value < 5000000 THEN '2 1M-5M'
                                   WHEN a.customer_lifetime_value < 20000000 THEN '3 5M-20M'
                                   WHEN a.customer_lifetime_value < 50000000 THEN '4 20M-50M'
                                   ELSE '5 50M and more' END AS ltv
                         FROM customer_mgmt.customer_list l
                         JOIN customer_mgmt.customer_analytics a ON a.customer_id = l.customer_id
                        WHERE %3$s)
            SELECT 1 AS part, s.label, count(m.segment) AS n, s.o
              FROM unnest(enum_range(NULL::customer_mgmt.lifecycle_segment)::text[]) WITH ORDINALITY s (label, o)
              LEFT JOIN m ON m.segment = s.label GROUP BY s.label, s.o
            UNION ALL
            SELECT 2, substr(b.label, 3), count(m.churn), b.o
              FROM unnest(ARRAY['1 low', '2 moderate', '3 medium', '4 high']) WITH ORDINALITY b (label, o)
              LEFT JOIN m ON m.churn = b.label GROUP BY b.label, b.o
            UNION ALL
            SELECT 3, substr(b.label, 3), count(m.ltv), b.o
              FROM unnest(ARRAY['1 under 1M', '2 1M-5M', '3 5M-20M', '4 20M-50M', '5 50M and more']) WITH ORDINALITY b (label, o)
              LEFT JOIN m ON m.ltv = b.label GROUP BY b.label, b.o
            ORDER BY 1, 4$q$,
            customer_mgmt.setting('churn.threshold_high'), customer_mgmt.setting('churn.threshold_medium'), f.conditions,
            customer_mgmt.setting('churn.threshold_low'))
    LOOP
        IF t.part > cardinality(chart_first_rows) THEN
            r := r + 1;
            cells := cells || chart_titles[t.part] || 'Customers'::text;
            rows := rows || r || r;
            cols_at := cols_at || 0 || 1;
            numbers := numbers || false || false;
            bolds := bolds || true || true;
            r := r + 1;
            chart_first_rows := chart_first_rows || r;
            chart_last_rows := chart_last_rows || r;
        END IF;
        cells := cells || t.label || t.n::text;
        rows := rows || r || r;
        cols_at := cols_at || 0 || 1;
        numbers := numbers || false || true;
        bolds := bolds || false || false;
        chart_last_rows[cardinality(chart_last_rows)] := r;
        r := r + 1;
        -- every customer is in one lifecycle segment: the first table counts them all
        IF t.part = 1 THEN
            n := coalesce(n, 0) + t.n;
        END IF;
    END LOOP;
    cells := cells || 'Customers'::text || n::text;
    rows := rows || 3 || 3;
    cols_at := cols_at || 0 || 1;
    numbers := numbers || false || true;
    bolds := bolds || false || false;
    summary_query := format('SELECT r, c, v, n, b FROM unnest(%L::int[], %L::int[], %L::text[], %L::bool[], %L::bool[])'
                            ' x (r, c, v, n, b) ORDER BY r, c', rows, cols_at, cells, numbers, bolds);
END
$$;
COMMENT ON FUNCTION export_plan(jsonb, text, text[]) IS
    'Internal: for export_customers, its arguments checked (22023), the query of the rows, the columns'' headers and kinds, the xlsx Summary sheet (a query of its cells, the charts'' titles, types and rows), the rows a sheet holds, and the log''s details; sets response.headers.';

-- The export, written in C (src/export.c): export_plan above checks and
-- plans, with the filters object of list_filters.
CREATE OR REPLACE FUNCTION export_customers(
    search                     text DEFAULT NULL,
    status                     text DEFAULT NULL,
    segment                    text DEFAULT NULL,
    segment_id                 uuid DEFAULT NULL,
    registered_after           timestamptz DEFAULT NULL,
    registered_before          timestamptz DEFAULT NULL,
    min_total_spent            numeric DEFAULT NULL,
    max_total_spent            numeric DEFAULT NULL,
    min_orders                 integer DEFAULT NULL,
    max_days_since_last_order  integer DEFAULT NULL,
    sort_by                    text DEFAULT NULL,
    sort_order                 text DEFAULT NULL,
    format                     text DEFAULT 'xlsx',
    columns                    text[] DEFAULT NULL,
    rfm_group                  text DEFAULT NULL,
    province                   text DEFAULT NULL,
    gender                     text DEFAULT NULL,
    min_age                    integer DEFAULT NULL,
    max_age                    integer DEFAULT NULL,
    has_orders                 boolean DEFAULT NULL,
    has_pending_order          boolean DEFAULT NULL,
    external_id                text DEFAULT NULL,
    view_id                    uuid DEFAULT NULL,
    tag                        text DEFAULT NULL
) RETURNS "*/*"
    AS 'MODULE_PATHNAME', 'cm_export_customers'
    LANGUAGE C
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION export_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                                     text, text, text, text[], text, text, text, integer, integer, boolean, boolean, text,
                                     uuid, text) IS
    'Admin: (a file: bytea, domain "*/*" for PostgREST, with Content-Type and Content-Disposition in response.headers) the customers of get_customers'' filters or a saved view (view_id), in the order of its sort arguments, as an .xlsx workbook (a Summary sheet with charts, then the customers, continuing on a new sheet every 1,048,576 rows) or CSV (format => ''csv''); columns from export_columns() (default: its default set). Every export is logged in export_log without personal data. 22023 naming a bad filter, format or column.';
