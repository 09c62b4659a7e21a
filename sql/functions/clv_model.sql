-- customer_mgmt: The shop's CLV model : every customer's purchase summary
-- (src/clv_summary.c, kept in customer_clv), the fit of BG/NBD and Gamma-Gamma on it
-- (fit_clv_model, stored in clv_models), and each customer's predictions, computed from both
-- when read (clv_predict; docs/clv.md).

CREATE OR REPLACE FUNCTION clv_summary_rows(as_of timestamptz, as_of_day date, timezone text, customer_id uuid)
    RETURNS TABLE (customer_id uuid, frequency integer, recency integer, age integer,
                   monetary_value double precision, first_purchase date)
    AS 'MODULE_PATHNAME', 'cm_clv_summary'
    LANGUAGE C STABLE
    -- planned for one customer (the queue worker's case, a join by key);
    -- everyone's summary goes to a temporary table first (fit_clv_model)
    ROWS 1;
COMMENT ON FUNCTION clv_summary_rows(timestamptz, date, text, uuid) IS
    'Internal: the purchase summary of every customer with a completed order by as_of (or of one), in days of the time zone: repeat purchase days, days from the first purchase day to the last and to as_of_day, mean amount of the repeat purchase days, first purchase day (src/clv_summary.c).';

CREATE OR REPLACE FUNCTION clv_summary(as_of timestamptz, customer_id uuid DEFAULT NULL)
    RETURNS TABLE (customer_id uuid, frequency integer, recency integer, age integer,
                   monetary_value double precision, first_purchase date)
    LANGUAGE sql STABLE
AS $$
    SELECT * FROM customer_mgmt.clv_summary_rows(as_of, (as_of AT TIME ZONE customer_mgmt.setting('shop_timezone'))::date,
                                                 customer_mgmt.setting('shop_timezone'), customer_id)
$$;
COMMENT ON FUNCTION clv_summary(timestamptz, uuid) IS
    'Internal: clv_summary_rows in the shop''s time zone (setting shop_timezone).';

-- A customer's predictions under a fit, as of a day (src/clv_predict.c, docs/clv.md):
-- probability alive; expected orders in the next 365 days; probability of
-- no order in the next 90; predicted spend in the next 365 days (expected
-- orders times the expected order value, discounted monthly at an annual
-- rate); the expected next order date, the day by which the customer has
-- an even chance of having ordered again (NULL when that is more than 365
-- days away); the historical mean days between purchase days.
CREATE OR REPLACE FUNCTION clv_predictions(bgnbd jsonb, gamma_gamma jsonb, frequency integer, recency integer,
                                           first_purchase date, monetary_value double precision, as_of_day date,
                                           discount_rate double precision)
    RETURNS clv_prediction
    AS 'MODULE_PATHNAME', 'cm_clv_predictions'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION clv_predictions(jsonb, jsonb, integer, integer, date, double precision, date, double precision) IS
    'Internal: one customer''s CLV predictions under a BG/NBD and a Gamma-Gamma fit, in days, at a day, the age counted from the first purchase day, with the share of the customer''s own history and the status (docs/clv.md): no_completed_order without a summary, no_usable_model without the fits, history_too_short below the fit''s minCustomerDays, not_computable when a fit cannot give them (logged once per session and fit); never an error because of the fits.';

CREATE OR REPLACE FUNCTION clv_model_dto(m clv_models) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN m.id IS NOT NULL THEN jsonb_build_object(
        'id', m.id, 'fittedAt', m.fitted_at, 'asOf', m.as_of, 'usable', m.usable, 'reason', m.reason,
        'customers', m.customers, 'repeatCustomers', m.repeat_customers, 'historyDays', m.history_days,
        'timeUnit', 'day', 'bgnbd', m.bgnbd, 'gammaGamma', m.gamma_gamma, 'fitSeconds', m.fit_seconds,
        'summarisedCustomers', m.summarised_customers, 'summarySeconds', m.summary_seconds) END
$$;
COMMENT ON FUNCTION clv_model_dto(clv_models) IS
    'Internal: a stored fit as JSON (fit_clv_model''s result, the overview''s clvModel).';

CREATE OR REPLACE FUNCTION current_clv_model() RETURNS clv_models
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT m FROM customer_mgmt.clv_models m ORDER BY m.fitted_at DESC, m.id DESC LIMIT 1);
END
$$;
COMMENT ON FUNCTION current_clv_model() IS
    'Internal: the latest fit, the one in force (NULL before the first).';

-- The fits in force when usable, else NULL (and then so is every
-- prediction): called once per query, as (SELECT clv_fit_bgnbd()).  The
-- BG/NBD fit carries the shop's gate on a customer's history
-- (minCustomerDays, setting clv.min_customer_days), which clv_predictions
-- reads with it.
CREATE OR REPLACE FUNCTION clv_fit_bgnbd() RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT CASE WHEN m.usable
                    THEN m.bgnbd || jsonb_build_object('minCustomerDays', customer_mgmt.setting('clv.min_customer_days')::integer)
               END
          FROM customer_mgmt.current_clv_model() m);
END
$$;
COMMENT ON FUNCTION clv_fit_bgnbd() IS 'Internal: the BG/NBD fit in force with minCustomerDays (setting clv.min_customer_days), NULL when the latest fit is not usable.';
CREATE OR REPLACE FUNCTION clv_fit_gamma_gamma() RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT CASE WHEN m.usable THEN m.gamma_gamma END FROM customer_mgmt.current_clv_model() m);
END
$$;
COMMENT ON FUNCTION clv_fit_gamma_gamma() IS 'Internal: the Gamma-Gamma fit in force, NULL when the latest fit is not usable.';

-- The day a prediction at a time is for (the shop's), and the discount rate.
CREATE OR REPLACE FUNCTION clv_day(at timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.shop_day(at)
$$;
COMMENT ON FUNCTION clv_day(timestamptz) IS 'Internal: the day of a time in the shop''s time zone, the day CLV predictions are for.';
CREATE OR REPLACE FUNCTION clv_discount_rate() RETURNS double precision
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.setting('clv.discount_rate')::float8
$$;
COMMENT ON FUNCTION clv_discount_rate() IS 'Internal: the setting clv.discount_rate.';

-- A customer's predictions at a day, all of them, from the summary row
-- (NULL: none) and the fits: for the DTO, the demo and the export's date
-- column.  A single prediction is clv_predict_value's.  Both are inlined
-- where they are called, with the fits, the day and the rate passed as
-- (SELECT clv_fit_bgnbd()), (SELECT clv_day(...)) ... (initplans, computed
-- once per query): one call of the C function a row.  (Their bodies must
-- hold no subquery: a function that does is not inlined, and runs as a
-- query a row.)
CREATE OR REPLACE FUNCTION clv_predict(c customer_clv, bgnbd jsonb, gamma_gamma jsonb, at_day date,
                                       discount_rate double precision)
    RETURNS clv_prediction
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.clv_predictions(bgnbd, gamma_gamma, c.frequency, c.recency, c.first_purchase,
                                         c.monetary_value::float8, at_day, discount_rate)
$$;
COMMENT ON FUNCTION clv_predict(customer_clv, jsonb, jsonb, date, double precision) IS
    'Internal: a customer''s CLV predictions at a day from the summary row and the fits (NULL without either).';

-- One of the predictions, computing only what it needs (probability_alive
-- and churn_probability skip the expected purchases' series): for a
-- segment, a sort or an export column; inlined like clv_predict, with the
-- field a constant.
CREATE OR REPLACE FUNCTION clv_prediction(bgnbd jsonb, gamma_gamma jsonb, frequency integer, recency integer,
                                          first_purchase date, monetary_value double precision, as_of_day date,
                                          discount_rate double precision, field integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_clv_prediction'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION clv_prediction(jsonb, jsonb, integer, integer, date, double precision, date, double precision, integer) IS
    'Internal: one of clv_predictions'' values (field 1 probability_alive, 2 churn_probability, 3 predicted_ltv, 4 expected_orders_365), computing only what it needs; NULL unless clv_predictions'' status would be predicted.';
CREATE OR REPLACE FUNCTION clv_predict_value(c customer_clv, bgnbd jsonb, gamma_gamma jsonb, at_day date,
                                             discount_rate double precision, field text)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT customer_mgmt.clv_prediction(bgnbd, gamma_gamma, c.frequency, c.recency, c.first_purchase,
                                        c.monetary_value::float8, at_day, discount_rate,
                                        CASE field WHEN 'probability_alive' THEN 1 WHEN 'churn_probability' THEN 2
                                                   WHEN 'predicted_ltv' THEN 3 WHEN 'expected_orders_365' THEN 4 END)
$$;
COMMENT ON FUNCTION clv_predict_value(customer_clv, jsonb, jsonb, date, double precision, text) IS
    'Internal: one of a customer''s CLV predictions at a day (probability_alive, churn_probability, predicted_ltv, expected_orders_365), from the summary row and the fits.';

-- Store the purchase summaries of every customer of pg_temp.cm_clv_summary
-- (fit_clv_model's), or of some customers (from the orders), in
-- customer_clv: only the rows that changed are written, never over a row
-- stored as of a later time, and a customer without a completed order by
-- as_of loses the row.  Returns the customers with a summary.
CREATE OR REPLACE FUNCTION clv_store_summaries(as_of timestamptz, customer_ids uuid[] DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the statement of both cases; %1$s is the summaries, %2$s which rows
    -- of customer_clv are the customers' (some: by key, one summary each,
    -- the queue worker's and the nightly run's case)
    store constant text := $q$
        WITH s AS MATERIALIZED (
            SELECT s.customer_id, s.frequency, s.recency, s.first_purchase, round(s.monetary_value::numeric, 2) AS monetary_value
              FROM %1$s s),
        written AS (
            INSERT INTO customer_mgmt.customer_clv AS c
            SELECT s.customer_id, $1, s.frequency, s.recency, s.first_purchase, s.monetary_value
              FROM s LEFT JOIN customer_mgmt.customer_clv o ON o.customer_id = s.customer_id
             WHERE (o.frequency, o.recency, o.first_purchase, o.monetary_value)
                   IS DISTINCT FROM (s.frequency, s.recency, s.first_purchase, s.monetary_value)
            ON CONFLICT (customer_id) DO UPDATE
               SET as_of = excluded.as_of, frequency = excluded.frequency, recency = excluded.recency,
                   first_purchase = excluded.first_purchase, monetary_value = excluded.monetary_value
             -- a summary stored as of a later time (the queue worker's, while
             -- a fit as of an earlier time ran) is not taken back
             WHERE c.as_of <= excluded.as_of),
        removed AS (
            DELETE FROM customer_mgmt.customer_clv c
             WHERE %2$s AND c.as_of <= $1 AND NOT EXISTS (SELECT FROM s WHERE s.customer_id = c.customer_id))
        SELECT count(*) FROM s$q$;
    summarised bigint;
BEGIN
    IF customer_ids IS NULL THEN
        EXECUTE format(store, 'pg_temp.cm_clv_summary', 'true') INTO summarised USING as_of;
    ELSE
        EXECUTE format(store, '(SELECT x.* FROM unnest($2) c (id), LATERAL customer_mgmt.clv_summary($1, c.id) x)',
                       'c.customer_id = ANY ($2)')
           INTO summarised USING as_of, customer_ids;
    END IF;
    RETURN summarised;
END
$$;
COMMENT ON FUNCTION clv_store_summaries(timestamptz, uuid[]) IS
    'Internal: writes the changed purchase summaries of every customer of fit_clv_model''s summary, or of some customers (from their orders), into customer_clv (no row without a completed order); returns the customers with a summary.';

-- Fit the CLV model as of a time and store it (the body of fit_clv_model).
-- changed NULL: every customer's summary from the orders (stored after the
-- fit).  changed given (the nightly run): the summaries in customer_clv are
-- current but for those customers, whose summaries are written from their
-- orders first; the fit then reads customer_clv, one narrow row a customer,
-- instead of every order.  That needs the stored rows to be everyone's as
-- of no later than as_of, in the shop's time zone of now: otherwise, and
-- for a row stored as of a later time, the customers are recomputed (all
-- of them when the last fit is not such a base).
CREATE OR REPLACE FUNCTION clv_fit(as_of timestamptz, changed uuid[]) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    fitted timestamptz;
    tz text := customer_mgmt.setting('shop_timezone');
    n integer;
    repeat integer;
    history integer;
    bgnbd jsonb;
    gamma_gamma jsonb;
    why text;
    m customer_mgmt.clv_models;
    summarised bigint;
BEGIN
    PERFORM customer_mgmt.check_as_of(as_of);
    -- one fit at a time (17229, 3); the recalculation holds (17229, 1) and (17229, 2)
    PERFORM pg_advisory_xact_lock(17229, 3);
    IF to_regclass('pg_temp.cm_clv_summary') IS NOT NULL THEN
        DROP TABLE pg_temp.cm_clv_summary;
    END IF;
    -- the stored summaries are a base for this fit: the last fit stored
    -- everyone's, as of no later than as_of, in the shop's time zone of
    -- now, and no recalculation has failed since (one that wrote analytics
    -- and not the summaries would leave its customers out of this one's)
    IF changed IS NOT NULL AND NOT EXISTS (
            SELECT FROM (SELECT * FROM customer_mgmt.clv_models x ORDER BY x.id DESC LIMIT 1) prev
             WHERE prev.summarised_customers IS NOT NULL AND prev.as_of <= clv_fit.as_of AND prev.time_zone = tz
               AND NOT EXISTS (SELECT FROM customer_mgmt.job_runs j
                                WHERE j.job_name LIKE 'recalculate_all_analytics%' AND j.status = 'failed'
                                  AND j.started_at >= prev.fitted_at)) THEN
        changed := NULL;
    END IF;
    IF changed IS NULL THEN
        CREATE TEMP TABLE cm_clv_summary ON COMMIT DROP AS SELECT * FROM customer_mgmt.clv_summary(as_of);
    ELSE
        PERFORM customer_mgmt.clv_store_summaries(as_of, changed);
        -- the stored summaries as of no later than as_of, and as of as_of
        -- those stored as of a later time (kept as they are)
        CREATE TEMP TABLE cm_clv_summary ON COMMIT DROP AS
        SELECT c.customer_id, c.frequency, c.recency, (clv_fit.as_of AT TIME ZONE tz)::date - c.first_purchase AS age,
               c.monetary_value::double precision AS monetary_value, c.first_purchase
          FROM customer_mgmt.customer_clv c
         WHERE c.as_of <= clv_fit.as_of
        UNION ALL
        SELECT x.* FROM customer_mgmt.customer_clv c, LATERAL customer_mgmt.clv_summary(clv_fit.as_of, c.customer_id) x
         WHERE c.as_of > clv_fit.as_of;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE s.frequency >= 2), (as_of AT TIME ZONE tz)::date - min(s.first_purchase)
      INTO n, repeat, history
      FROM pg_temp.cm_clv_summary s;
    -- enough data to learn from (Klaviyo: 500 buyers, 180 days, some who bought three times)
    IF n < customer_mgmt.setting('clv.min_customers')::integer THEN
        why := format('%s customers with a completed order; the model needs %s (setting clv.min_customers)',
                      n, customer_mgmt.setting('clv.min_customers'));
    ELSIF history < customer_mgmt.setting('clv.min_history_days')::integer THEN
        why := format('%s days from the first completed order; the model needs %s (setting clv.min_history_days)',
                      history, customer_mgmt.setting('clv.min_history_days'));
    ELSIF repeat < customer_mgmt.setting('clv.min_repeat_customers')::integer THEN
        why := format('%s customers bought on three days or more; the model needs %s (setting clv.min_repeat_customers)',
                      repeat, customer_mgmt.setting('clv.min_repeat_customers'));
    ELSE
        BEGIN
            SELECT customer_mgmt.bgnbd_fit(s.frequency, s.recency, s.age),
                   customer_mgmt.gamma_gamma_fit(s.frequency, s.monetary_value)
              INTO bgnbd, gamma_gamma
              FROM pg_temp.cm_clv_summary s;
        EXCEPTION WHEN invalid_parameter_value THEN
            why := 'the data do not determine the model: ' || SQLERRM;
        END;
        IF why IS NULL AND NOT (bgnbd ->> 'converged')::boolean THEN
            why := format('the BG/NBD fit did not converge in %s iterations', bgnbd ->> 'iterations');
        ELSIF why IS NULL AND NOT (gamma_gamma ->> 'converged')::boolean THEN
            why := format('the Gamma-Gamma fit did not converge in %s iterations', gamma_gamma ->> 'iterations');
        ELSIF why IS NULL AND (gamma_gamma ->> 'q')::float8 <= 1 THEN
            why := format('the Gamma-Gamma fit has q = %s: the mean order value it describes is infinite', gamma_gamma ->> 'q');
        END IF;
    END IF;
    fitted := clock_timestamp();
    INSERT INTO customer_mgmt.clv_models (fitted_at, as_of, customers, repeat_customers, history_days, bgnbd, gamma_gamma,
                                          usable, reason, fit_seconds, time_zone)
    VALUES (fitted, as_of, n, repeat, history, bgnbd, gamma_gamma, why IS NULL, why,
            round(extract(epoch FROM fitted - started)::numeric, 3), tz)
    RETURNING * INTO m;
    summarised := CASE WHEN changed IS NULL THEN customer_mgmt.clv_store_summaries(as_of) ELSE n END;
    UPDATE customer_mgmt.clv_models x
       SET summarised_customers = summarised, summary_seconds = round(extract(epoch FROM clock_timestamp() - fitted)::numeric, 3)
     WHERE x.id = m.id
    RETURNING * INTO m;
    DROP TABLE pg_temp.cm_clv_summary;
    PERFORM customer_mgmt.audit('fit_clv_model', 'clv_model', m.id::text,
                                jsonb_build_object('asOf', as_of, 'usable', m.usable, 'customers', m.customers));
    RETURN customer_mgmt.clv_model_dto(m);
END
$$;
COMMENT ON FUNCTION clv_fit(timestamptz, uuid[]) IS
    'Internal: fit_clv_model''s fit as of a time; with changed (the nightly run), from the stored summaries after those customers'' are rewritten, when the stored summaries are a base for it.';

CREATE OR REPLACE FUNCTION fit_clv_model(as_of timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT customer_mgmt.clv_fit(as_of, NULL)
$$;
COMMENT ON FUNCTION fit_clv_model(timestamptz) IS
    'Admin: fits the CLV model (BG/NBD and Gamma-Gamma, in days) to every customer''s completed orders up to as_of, stores the fit in clv_models (the fit in force) and every customer''s purchase summary in customer_clv, from which the predictions (predictedLtv, probabilityAlive, expectedOrders365, churnProbability, expectedNextOrderDate, averageDaysBetweenOrders) are computed when read; below clv.min_customers customers with orders, clv.min_history_days of history or clv.min_repeat_customers who bought three times, or when a fit does not converge, the fit is stored unusable with the reason and the predictions are NULL. Returns the stored fit. 22023 for an infinite as_of.';
