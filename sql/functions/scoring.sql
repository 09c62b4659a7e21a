-- customer_mgmt: Scoring rules in C (src/scoring.c, src/preferences.c): engagement, churn
-- risk, lifecycle segment, RFM digits, insights, and the purchase-preferences
-- aggregate.  Pure functions of their arguments: thresholds come in as arguments.

-- The rules (src/scoring.c)
CREATE OR REPLACE FUNCTION engagement_score(days_since_last_order integer, total_orders integer, total_spent double precision,
                                 bounce_rate double precision, average_session_duration integer, total_sessions integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_engagement_score'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION engagement_score(integer, integer, double precision, double precision, integer, integer) IS
    'Engagement in [0,1]: 0.3 recency + 0.3 frequency + 0.2 monetary + 0.2 session behaviour; see docs/analytics.md for each component.';

CREATE OR REPLACE FUNCTION churn_risk(days_since_last_order integer, total_orders integer, engagement_score double precision,
                           bounce_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_churn_risk'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION churn_risk(integer, integer, double precision, double precision) IS
    'Churn risk in [0,1] (docs/analytics.md): recency (+0.1/0.2/0.3 past 30/60/90 days), fewer than 2 orders (+0.2), engagement below 0.5/0.3 (+0.2/0.3), bounce rate above 0.8 (+0.2), capped at 1.';

CREATE OR REPLACE FUNCTION lifecycle_segment(total_spent double precision, churn_risk double precision, total_orders integer,
                                  days_since_last_order integer,
                                  vip_min_spent double precision DEFAULT 50000000,
                                  vip_max_churn_risk double precision DEFAULT 0.3,
                                  loyal_min_orders integer DEFAULT 5,
                                  loyal_max_days integer DEFAULT 60,
                                  at_risk_min_churn_risk double precision DEFAULT 0.7,
                                  active_max_days integer DEFAULT 30,
                                  churned_min_days integer DEFAULT 180)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cm_lifecycle_segment'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lifecycle_segment(double precision, double precision, integer, integer, double precision,
                                      double precision, integer, integer, double precision, integer, integer) IS
    'Design 8.1 calculateCustomerSegment, rules in order: vip, loyal, at_risk, active, churned, new, else active; no order yet satisfies no recency rule.';

CREATE OR REPLACE FUNCTION rfm_digit(value double precision, breakpoints double precision[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'cm_rfm_digit'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rfm_digit(double precision, double precision[]) IS
    '1 + the number of the four quintile breakpoints that value exceeds (5 = best fifth); pass minus the days for recency.';

CREATE OR REPLACE FUNCTION insights(total_spent double precision, churn_risk double precision, total_orders integer,
                         days_since_last_order integer,
                         high_value_min_spent double precision DEFAULT 10000000,
                         churn_risk_min double precision DEFAULT 0.7,
                         loyal_min_orders integer DEFAULT 5,
                         loyal_max_days integer DEFAULT 30)
    RETURNS TABLE (type text, title text, description text, priority text, action_recommendation text)
    AS 'MODULE_PATHNAME', 'cm_insights'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION insights(double precision, double precision, integer, integer, double precision, double precision,
                             integer, integer) IS
    'The insights (docs/analytics.md) that hold: high_value (spent above the threshold, priority high), churn_risk (risk above it, critical), loyal (more orders and fewer days since the last than the thresholds, medium), with title, description and action recommendation.';

CREATE OR REPLACE FUNCTION analytics_scores(last_order_date timestamptz, as_of timestamptz, total_orders integer,
                                 total_spent double precision, bounce_rate double precision,
                                 average_session_duration integer, total_sessions integer,
                                 old_total_spent double precision, old_churn_risk double precision,
                                 old_total_orders integer, old_days integer, thresholds double precision[],
                                 OUT days integer, OUT engagement double precision, OUT churn double precision,
                                 OUT segment text, OUT new_flags integer, OUT old_flags integer)
    AS 'MODULE_PATHNAME', 'cm_analytics_scores'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION analytics_scores(timestamptz, timestamptz, integer, double precision, double precision, integer,
                                     integer, double precision, double precision, integer, integer, double precision[]) IS
    'Internal: every score of one customer in one call (days since the last order, engagement, churn risk, segment, the insight flags now and for the stored values), by the rules of the functions above; thresholds as analytics_thresholds() gives them.';

-- Purchase preferences of a customer (src/preferences.c)
CREATE OR REPLACE FUNCTION preferences_accum(state internal, order_id uuid, category text, brand text, unit_price_cents bigint,
                                  quantity integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_accum'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_accum(internal, uuid, text, text, bigint, integer) IS
    'Internal: transition function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_preferences_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_final(internal) IS 'Internal: final function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_combine(state internal, other internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_combine'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION preferences_combine(internal, internal) IS
    'Internal: combine function of purchase_preferences (parallel aggregation; an order split between workers counts once).';

CREATE OR REPLACE FUNCTION preferences_serialize(state internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cm_preferences_serialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_serialize(internal) IS 'Internal: serialisation function of purchase_preferences.';

CREATE OR REPLACE FUNCTION preferences_deserialize(data bytea, state internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_preferences_deserialize'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION preferences_deserialize(bytea, internal) IS 'Internal: deserialisation function of purchase_preferences.';

CREATE OR REPLACE AGGREGATE purchase_preferences(order_id uuid, category text, brand text, unit_price_cents bigint, quantity integer) (
    SFUNC = preferences_accum,
    STYPE = internal,
    SSPACE = 1024,
    FINALFUNC = preferences_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = preferences_combine,
    SERIALFUNC = preferences_serialize,
    DESERIALFUNC = preferences_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE purchase_preferences(uuid, text, text, bigint, integer) IS
    'Favourite categories and brands (top 3 by distinct orders, then spend, then name bytewise) and preferred price range (25th/50th/75th discrete percentile of unit prices) of order lines: {"favoriteCategories", "favoriteBrands", "preferredPriceRange"}.';
