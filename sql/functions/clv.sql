-- customer_mgmt: The predicted lifetime value's statistical building blocks (docs/clv.md):
-- BG/NBD and Gamma-Gamma fits as aggregates and their conditional expectations,
-- in C (src/clv.c, src/clv_bgnbd.c, src/clv_predict.c), usable on any data in any time unit.  The shop's model (fit_clv_model)
-- is built on them in clv_model.sql.

CREATE OR REPLACE FUNCTION bgnbd_fit_add(state internal, frequency double precision, recency double precision,
                                         age double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_bgnbd_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_fit_add(internal, double precision, double precision, double precision) IS
    'Internal: bgnbd_fit''s transition, one customer''s (frequency, recency, age) checked and kept.';

CREATE OR REPLACE FUNCTION bgnbd_fit_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_bgnbd_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_fit_final(internal) IS
    'Internal: bgnbd_fit''s final function, the maximum-likelihood fit.';

CREATE OR REPLACE AGGREGATE bgnbd_fit(frequency double precision, recency double precision, age double precision) (
    SFUNC = bgnbd_fit_add,
    STYPE = internal,
    FINALFUNC = bgnbd_fit_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE bgnbd_fit(double precision, double precision, double precision) IS
    'The BG/NBD model (Fader, Hardie & Lee 2005) fitted by maximum likelihood to customers'' (frequency = repeat purchases, recency = time of the last purchase since the first, age = time since the first), in any one time unit: {"r", "alpha", "a", "b", "atBoundary", "logLikelihood", "customers", "iterations", "evaluations", "converged"}. Where the data show no heterogeneity the fit runs to a boundary and takes its limiting model: r and alpha null with one "purchaseRate", a and b null with one "dropoutProbability", atBoundary naming them (docs/clv.md). Rows with a NULL are skipped; NULL over no rows; 22023 for a negative or non-finite value, recency above age, or no repeat purchase at all.';

CREATE OR REPLACE FUNCTION gamma_gamma_fit_add(state internal, frequency double precision,
                                               monetary_value double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_add'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_fit_add(internal, double precision, double precision) IS
    'Internal: gamma_gamma_fit''s transition, one customer''s (frequency, monetary_value) checked and kept when frequency > 0.';

CREATE OR REPLACE FUNCTION gamma_gamma_fit_final(state internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_fit_final(internal) IS
    'Internal: gamma_gamma_fit''s final function, the maximum-likelihood fit.';

CREATE OR REPLACE AGGREGATE gamma_gamma_fit(frequency double precision, monetary_value double precision) (
    SFUNC = gamma_gamma_fit_add,
    STYPE = internal,
    FINALFUNC = gamma_gamma_fit_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE gamma_gamma_fit(double precision, double precision) IS
    'The Gamma-Gamma model of order value (Fader, Hardie & Lee 2005) fitted by maximum likelihood to customers'' (frequency = repeat purchases, monetary_value = mean value of those purchases): {"p", "q", "gamma", "logLikelihood", "customers", "iterations", "converged"}. Customers without a repeat purchase carry nothing and are skipped, as are rows with a NULL; NULL when none is left; 22023 for a negative frequency or a monetary value not above 0.';

CREATE OR REPLACE FUNCTION bgnbd_expected_purchases(params jsonb, t double precision, frequency double precision,
                                                    recency double precision, age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_expected_purchases'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_expected_purchases(jsonb, double precision, double precision, double precision, double precision) IS
    'The expected number of purchases in the next t of a customer of (frequency, recency, age) under a BG/NBD fit (bgnbd_fit''s result, at a boundary too), equation 10 of Fader, Hardie & Lee (2005), to a relative error below 1e-9 for any parameters (docs/clv.md); t in the fit''s time unit. 22023 naming a bad argument or a params that is not a fit.';

CREATE OR REPLACE FUNCTION bgnbd_probability_alive(params jsonb, frequency double precision, recency double precision,
                                                   age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_probability_alive'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_probability_alive(jsonb, double precision, double precision, double precision) IS
    'The probability that a customer of (frequency, recency, age) is still alive (will buy again) under a BG/NBD fit; 1 for a customer without a repeat purchase. 22023 naming a bad argument.';

CREATE OR REPLACE FUNCTION bgnbd_probability_no_purchase(params jsonb, t double precision, frequency double precision,
                                                         recency double precision, age double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_bgnbd_probability_no_purchase'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bgnbd_probability_no_purchase(jsonb, double precision, double precision, double precision, double precision) IS
    'Internal: the probability that a customer of (frequency, recency, age) makes no purchase in the next t under a BG/NBD fit, by the C function churnProbability uses (t = 90 days); for the tests of its formula.';

CREATE OR REPLACE FUNCTION gamma_gamma_expected_value(params jsonb, frequency double precision,
                                                      monetary_value double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_gamma_gamma_expected_value'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gamma_gamma_expected_value(jsonb, double precision, double precision) IS
    'The expected value of a future purchase of a customer of (frequency, monetary_value) under a Gamma-Gamma fit (gamma_gamma_fit''s result): (gamma + frequency * monetary_value) * p / (p * frequency + q - 1). 22023 naming a bad argument, or when p * frequency + q is not above 1.';

CREATE OR REPLACE FUNCTION hyp2f1(a double precision, b double precision, c double precision, z double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'cm_hyp2f1'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hyp2f1(double precision, double precision, double precision, double precision) IS
    'Internal: the Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 by its series, as the BG/NBD expectation sums it where it is good (src/clv_bgnbd.c); NULL when it does not end within 2,000 terms. For the tests.';
