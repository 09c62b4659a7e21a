/*-------------------------------------------------------------------------
 *
 * clv_predict.c
 *	  The SQL functions of the CLV model's predictions: reading a fit's
 *	  parameters (kept per call site, with the quadrature rules they
 *	  need), the statistical functions of one customer
 *	  (bgnbd_expected_purchases and its siblings, strict: a bad argument
 *	  is 22023), and the shop's predictions (clv_predictions,
 *	  clv_prediction), which never fail a read because of a model: a
 *	  prediction that cannot be computed is NULL with a status saying why,
 *	  and the cause is logged once per session and fit (docs/clv.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "clv.h"
#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(cm_bgnbd_probability_alive);
PG_FUNCTION_INFO_V1(cm_bgnbd_probability_no_purchase);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_expected_value);
PG_FUNCTION_INFO_V1(cm_clv_predictions);
PG_FUNCTION_INFO_V1(cm_clv_prediction);
PG_FUNCTION_INFO_V1(cm_hyp2f1);

/* quadrature rules kept per call site: one slot per frequency modulo this */
#define RULE_SLOTS 64

typedef struct RuleSlot
{
	BetaRule	rule;
	double	   *buffer;
	int			capacity;
} RuleSlot;

/*
 * What a call site keeps in fn_extra: the last fits read (their jsonb, to
 * tell when they change), parsed; the rules for the BG/NBD fit; whether a
 * failed prediction has been logged.  A problem with a fit is kept as its
 * message, so that a strict function reports it and a prediction says
 * not_computable.
 */
typedef struct FitCache
{
	MemoryContext mcxt;
	Jsonb	   *bgnbd_json;
	BgnbdModel	bgnbd;
	double		min_customer_days;
	char	   *bgnbd_problem;
	Jsonb	   *gg_json;
	double		gg[3];			/* p, q, gamma */
	char	   *gg_problem;
	RuleSlot	slots[RULE_SLOTS];
	bool		logged;
} FitCache;

static FitCache *
fit_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		FitCache   *cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FitCache));

		cache->mcxt = fcinfo->flinfo->fn_mcxt;
		fcinfo->flinfo->fn_extra = cache;
	}
	return (FitCache *) fcinfo->flinfo->fn_extra;
}

/* the rule for Beta(a, beta) at level or finer, from its slot (BetaRuleSource) */
static const BetaRule *
cached_rule(void *context, double a, double beta, int level)
{
	FitCache   *cache = context;
	RuleSlot   *slot = &cache->slots[(uint64) fmod(beta, RULE_SLOTS)];

	if (slot->rule.n > 0 && slot->rule.a == a && slot->rule.beta == beta && slot->rule.level >= level)
		return &slot->rule;
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (cm_beta_rule_build(&slot->rule, a, beta, level, slot->buffer, slot->capacity))
			return &slot->rule;
		if (slot->rule.n <= slot->capacity)
			break;				/* not a matter of room */
		/* more nodes than the slot holds: room for them */
		if (slot->buffer != NULL)
			pfree(slot->buffer);
		slot->capacity = slot->rule.n;
		slot->buffer = MemoryContextAlloc(cache->mcxt, sizeof(double) * 2 * slot->capacity);
	}
	slot->rule.n = 0;
	return NULL;
}

/* The number of key in an object, or NaN when it is missing or not a number. */
static double
json_number(Jsonb *params, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&params->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		return NAN;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/* keeps a copy of params in the cache's context, in place of *kept */
static void
keep_json(FitCache *cache, Jsonb **kept, Jsonb *params)
{
	if (*kept != NULL)
		pfree(*kept);
	*kept = MemoryContextAlloc(cache->mcxt, VARSIZE(params));
	memcpy(*kept, params, VARSIZE(params));
}

static bool
same_json(const Jsonb *kept, const Jsonb *params)
{
	return kept != NULL && VARSIZE(kept) == VARSIZE(params) && memcmp(kept, params, VARSIZE(params)) == 0;
}

/*
 * A positive finite parameter pair of a model, or its boundary: (first,
 * second) when both are numbers above 0, else the limit's parameter when it
 * is a number in (0, limit_max); a problem message otherwise.
 */
static char *
read_pair(MemoryContext mcxt, Jsonb *params, const char *first, const char *second, double *v1, double *v2,
		  const char *limit, double limit_max, double *limit_value, bool *at_limit)
{
	*v1 = json_number(params, first);
	*v2 = json_number(params, second);
	*at_limit = false;
	if (isnan(*v1) && isnan(*v2))
	{
		*limit_value = json_number(params, limit);
		if (*limit_value > 0 && *limit_value < limit_max)
		{
			*at_limit = true;
			return NULL;
		}
		return MemoryContextStrdup(mcxt, psprintf("\"%s\" and \"%s\", or \"%s\" at their boundary, must be numbers above 0",
												  first, second, limit));
	}
	if (!(*v1 > 0) || !isfinite(*v1))
		return MemoryContextStrdup(mcxt, psprintf("\"%s\" must be a number above 0", first));
	if (!(*v2 > 0) || !isfinite(*v2))
		return MemoryContextStrdup(mcxt, psprintf("\"%s\" must be a number above 0", second));
	return NULL;
}

/*
 * The BG/NBD fit of a jsonb (bgnbd_fit's result): r and alpha, or
 * purchaseRate (their boundary: one rate for all); a and b, or
 * dropoutProbability (theirs: one dropout probability for all); and the
 * optional minCustomerDays of the shop's predictions.
 */
static FitCache *
read_bgnbd(FunctionCallInfo fcinfo, Jsonb *params)
{
	FitCache   *cache = fit_cache(fcinfo);
	BgnbdModel *m = &cache->bgnbd;

	if (same_json(cache->bgnbd_json, params))
		return cache;
	keep_json(cache, &cache->bgnbd_json, params);
	if (cache->bgnbd_problem != NULL)
		pfree(cache->bgnbd_problem);
	cache->bgnbd_problem = NULL;
	memset(m, 0, sizeof(BgnbdModel));
	for (int i = 0; i < RULE_SLOTS; i++)
		cache->slots[i].rule.n = 0;
	if (!JB_ROOT_IS_OBJECT(params))
		cache->bgnbd_problem = MemoryContextStrdup(cache->mcxt, "must be a JSON object");
	if (cache->bgnbd_problem == NULL)
		cache->bgnbd_problem = read_pair(cache->mcxt, params, "r", "alpha", &m->r, &m->alpha,
										 "purchaseRate", INFINITY, &m->rate, &m->poisson);
	if (cache->bgnbd_problem == NULL)
		cache->bgnbd_problem = read_pair(cache->mcxt, params, "a", "b", &m->a, &m->b,
										 "dropoutProbability", 1, &m->dropout, &m->fixed_dropout);
	cache->min_customer_days = cache->bgnbd_problem == NULL ? json_number(params, "minCustomerDays") : NAN;
	if (isnan(cache->min_customer_days))
		cache->min_customer_days = 0;
	return cache;
}

/* The Gamma-Gamma fit of a jsonb (gamma_gamma_fit's result): p, q, gamma above 0. */
static FitCache *
read_gamma_gamma(FunctionCallInfo fcinfo, Jsonb *params)
{
	static const char *const keys[] = {"p", "q", "gamma"};
	FitCache   *cache = fit_cache(fcinfo);

	if (same_json(cache->gg_json, params))
		return cache;
	keep_json(cache, &cache->gg_json, params);
	if (cache->gg_problem != NULL)
		pfree(cache->gg_problem);
	cache->gg_problem = NULL;
	if (!JB_ROOT_IS_OBJECT(params))
		cache->gg_problem = MemoryContextStrdup(cache->mcxt, "must be a JSON object");
	for (int i = 0; i < 3 && cache->gg_problem == NULL; i++)
	{
		cache->gg[i] = json_number(params, keys[i]);
		if (!(cache->gg[i] > 0) || !isfinite(cache->gg[i]))
			cache->gg_problem = MemoryContextStrdup(cache->mcxt, psprintf("\"%s\" must be a number above 0", keys[i]));
	}
	return cache;
}

static void
invalid_params(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid params: %s", problem),
			 errdetail("Field \"params\" is not a fit of the model."),
			 errhint("Pass the result of bgnbd_fit or gamma_gamma_fit."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
}

/* The BG/NBD fit of argument arg, for a strict function: 22023 when it is not one. */
static FitCache *
strict_bgnbd(FunctionCallInfo fcinfo, int arg)
{
	FitCache   *cache = read_bgnbd(fcinfo, PG_GETARG_JSONB_P(arg));

	if (cache->bgnbd_problem != NULL)
		invalid_params(cache->bgnbd_problem);
	return cache;
}

/*
 * (gamma + x m) p / (p x + q - 1), the expected value of an order; NaN when
 * p x + q is not above 1 (the population's mean order value is infinite).
 */
static double
gamma_gamma_expected(const double *v, double x, double m)
{
	if (v[0] * x + v[1] <= 1)
		return NAN;
	return (v[2] + x * m) * v[0] / (v[0] * x + v[1] - 1);
}

static double
check_t(double t)
{
	if (!isfinite(t) || t < 0)
		cm_clv_invalid("t", "must be a finite time, 0 or more", t);
	return t;
}

/* A customer's (frequency, recency, age) from arguments arg to arg + 2, checked. */
static void
rfm_args(FunctionCallInfo fcinfo, int arg, double *x, double *tx, double *T)
{
	*x = PG_GETARG_FLOAT8(arg);
	*tx = PG_GETARG_FLOAT8(arg + 1);
	*T = PG_GETARG_FLOAT8(arg + 2);
	cm_clv_check_rfm(*x, *tx, *T);
	if (*x == 0)
		*tx = 0;				/* no repeat purchase: the recency says
								 * nothing */
}

/* bgnbd_expected_purchases(params, t, frequency, recency, age) */
Datum
cm_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	FitCache   *cache = strict_bgnbd(fcinfo, 0);
	double		t = check_t(PG_GETARG_FLOAT8(1));
	double		x,
				tx,
				T,
				e;
	BetaRuleSource rules = {cached_rule, cache};

	rfm_args(fcinfo, 2, &x, &tx, &T);
	e = cm_bgnbd_expected(&cache->bgnbd, t, x, tx, T, &rules);
	if (isnan(e))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the expected number of purchases cannot be computed for these parameters"),
				 errdetail("Field \"params\" has r = %g, alpha = %g, a = %g, b = %g; t is %g.",
						   cache->bgnbd.r, cache->bgnbd.alpha, cache->bgnbd.a, cache->bgnbd.b, t),
				 errhint("The series and the quadrature both failed: a parameter is beyond what a fit returns."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
	PG_RETURN_FLOAT8(e);
}

/* bgnbd_probability_alive(params, frequency, recency, age) */
Datum
cm_bgnbd_probability_alive(PG_FUNCTION_ARGS)
{
	FitCache   *cache = strict_bgnbd(fcinfo, 0);
	double		x,
				tx,
				T;

	rfm_args(fcinfo, 1, &x, &tx, &T);
	PG_RETURN_FLOAT8(cm_bgnbd_alive(&cache->bgnbd, x, tx, T));
}

/* bgnbd_probability_no_purchase(params, t, frequency, recency, age) */
Datum
cm_bgnbd_probability_no_purchase(PG_FUNCTION_ARGS)
{
	FitCache   *cache = strict_bgnbd(fcinfo, 0);
	double		t = check_t(PG_GETARG_FLOAT8(1));
	double		x,
				tx,
				T;

	rfm_args(fcinfo, 2, &x, &tx, &T);
	PG_RETURN_FLOAT8(cm_bgnbd_no_purchase(&cache->bgnbd, t, x, tx, T));
}

/* gamma_gamma_expected_value(params, frequency, monetary_value): (gamma + x m) p / (p x + q - 1) */
Datum
cm_gamma_gamma_expected_value(PG_FUNCTION_ARGS)
{
	FitCache   *cache = read_gamma_gamma(fcinfo, PG_GETARG_JSONB_P(0));
	double		x = PG_GETARG_FLOAT8(1),
				m = PG_GETARG_FLOAT8(2);

	if (cache->gg_problem != NULL)
		invalid_params(cache->gg_problem);
	if (!isfinite(x) || x < 0)
		cm_clv_invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
	if (!isfinite(m) || m < 0)
		cm_clv_invalid("monetary_value", "must be a finite amount, 0 or more", m);
	if (isnan(gamma_gamma_expected(cache->gg, x, m)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid params: the expected value needs p * frequency + q above 1"),
				 errdetail("Field \"params\" has p = %g, q = %g; frequency is %g.", cache->gg[0], cache->gg[1], x),
				 errhint("With q at most 1 the mean order value of the population is infinite."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
	PG_RETURN_FLOAT8(gamma_gamma_expected(cache->gg, x, m));
}

/* the next order date is left NULL when it is further than the predictions' year */
#define NEXT_ORDER_HORIZON 365

/* what a customer's predictions are (clv_prediction's status column; docs/clv.md) */
#define STATUS_PREDICTED "predicted"
#define STATUS_NO_ORDER "no_completed_order"
#define STATUS_NO_MODEL "no_usable_model"
#define STATUS_TOO_SHORT "history_too_short"
#define STATUS_NOT_COMPUTABLE "not_computable"

/* why a prediction is not_computable when the fits are (the log's message) */
#define PROBLEM_ORDERS "the expected number of purchases (series and quadrature both failed)"
#define PROBLEM_VALUE "the expected order value: p * frequency + q is not above 1"

/* One customer's inputs to the predictions: the fits, the summary, the day and the rate. */
typedef struct CustomerInputs
{
	FitCache   *cache;
	double		x,
				tx,
				T,
				m,
				rate;
	DateADT		as_of_day;
} CustomerInputs;

/*
 * The arguments (bgnbd, gamma_gamma, frequency, recency, first_purchase,
 * monetary_value, as_of_day, discount_rate), checked: the status when
 * there is nothing to predict (no summary, no usable fit, a fit that is
 * not one, a history shorter than the fit's minCustomerDays), else NULL.
 */
static const char *
customer_inputs(FunctionCallInfo fcinfo, CustomerInputs *in, const char **problem)
{
	*problem = NULL;
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		return STATUS_NO_ORDER;
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(6) || PG_ARGISNULL(7))
		return STATUS_NO_MODEL;
	in->cache = read_bgnbd(fcinfo, PG_GETARG_JSONB_P(0));
	read_gamma_gamma(fcinfo, PG_GETARG_JSONB_P(1));
	in->x = PG_GETARG_INT32(2);
	in->tx = PG_GETARG_INT32(3);
	in->as_of_day = PG_GETARG_DATEADT(6);

	/*
	 * days from the first purchase; never less than the recency (an as_of_day
	 * before the summary's)
	 */
	in->T = Max((double) in->as_of_day - (double) PG_GETARG_DATEADT(4), in->tx);
	in->m = PG_ARGISNULL(5) ? 0 : PG_GETARG_FLOAT8(5);
	in->rate = PG_GETARG_FLOAT8(7);
	cm_clv_check_rfm(in->x, in->tx, in->T);
	if (!isfinite(in->m) || in->m < 0)
		cm_clv_invalid("monetary_value", "must be a finite amount, 0 or more", in->m);
	if (!isfinite(in->rate) || in->rate < 0)
		cm_clv_invalid("discount_rate", "must be a finite rate, 0 or more", in->rate);
	*problem = in->cache->bgnbd_problem != NULL ? in->cache->bgnbd_problem : in->cache->gg_problem;
	if (*problem != NULL)
		return STATUS_NOT_COMPUTABLE;
	if (in->T < in->cache->min_customer_days)
		return STATUS_TOO_SHORT;
	return NULL;
}

/*
 * The last cause logged by this backend (log_not_computable): a hash of the
 * fits and the problem, so that the same cause is logged once, however many
 * customers and queries meet it.
 */
static uint32 last_logged = 0;

/*
 * Logs why a prediction could not be computed, once per backend for each
 * fit in force and problem: the fits and the customer's summary, never who
 * the customer is.
 */
static void
log_not_computable(CustomerInputs *in, const char *problem)
{
	FitCache   *c = in->cache;
	uint32		key;

	if (c->logged)
		return;
	c->logged = true;
	key = hash_bytes((const unsigned char *) problem, strlen(problem));
	if (c->bgnbd_json != NULL)
		key = hash_combine(key, hash_bytes((const unsigned char *) c->bgnbd_json, VARSIZE(c->bgnbd_json)));
	if (c->gg_json != NULL)
		key = hash_combine(key, hash_bytes((const unsigned char *) c->gg_json, VARSIZE(c->gg_json)));
	if (key == last_logged)
		return;
	last_logged = key;
	ereport(LOG,
			(errmsg("a CLV prediction could not be computed: %s", problem),
			 errdetail("BG/NBD r = %g, alpha = %g, a = %g, b = %g, purchaseRate = %g, dropoutProbability = %g; "
					   "Gamma-Gamma p = %g, q = %g, gamma = %g; frequency %g, recency %g, age %g.",
					   c->bgnbd.r, c->bgnbd.alpha, c->bgnbd.a, c->bgnbd.b, c->bgnbd.rate, c->bgnbd.dropout,
					   c->gg[0], c->gg[1], c->gg[2], in->x, in->tx, in->T),
			 errhint("The predictions of such customers are NULL with status not_computable; this session logs the cause once for the fit in force.")));
}

/* the expected purchases in the next t days, NaN when they cannot be computed */
static double
expected_purchases(CustomerInputs *in, double t)
{
	BetaRuleSource rules = {cached_rule, in->cache};

	return cm_bgnbd_expected(&in->cache->bgnbd, t, in->x, in->tx, in->T, &rules);
}

/*
 * The expected spend of the next 365 days: the expected orders (orders365,
 * already computed) times the expected value of an order, each month's
 * orders discounted at (1 + rate)^(k/12) when the annual rate is above 0;
 * NaN when a part cannot be computed.
 */
static double
predicted_spend(CustomerInputs *in, double orders365)
{
	double		orders = orders365;

	if (in->rate > 0)
	{
		double		before = 0;

		orders = 0;
		for (int k = 1; k <= 12; k++)
		{
			double		by_now = expected_purchases(in, 365.0 * k / 12);

			orders += (by_now - before) / pow(1 + in->rate, k / 12.0);
			before = by_now;
		}
	}
	return orders * gamma_gamma_expected(in->cache->gg, in->x, in->m);
}

/*
 * The share of the predicted purchase rate that comes from the customer's
 * own history: the posterior mean rate (r+x)/(alpha+T) is the population's
 * r/alpha and the customer's x/T weighted T/(alpha+T) to the customer; 0
 * when everyone has one rate (the Poisson boundary).
 */
static double
own_history_weight(const BgnbdModel *m, double T)
{
	return m->poisson ? 0 : T / (m->alpha + T);
}

/*
 * clv_predictions(bgnbd, gamma_gamma, frequency, recency, first_purchase,
 *				   monetary_value, as_of_day, discount_rate): one customer's
 *	  predictions in days at as_of_day, the age running from the first
 *	  purchase day (docs/clv.md): (probability_alive, expected_orders_365,
 *	  churn_probability, predicted_ltv, expected_next_order_date,
 *	  average_days_between_orders, own_history_weight, status).
 *
 * The next order date is the day by which the customer has an even chance
 * of having ordered again (cm_bgnbd_median_wait); NULL when that day is
 * more than 365 days away or never comes.  The predictions are NULL unless
 * status is predicted.
 */
Datum
cm_clv_predictions(PG_FUNCTION_ARGS)
{
	CustomerInputs in;
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8];
	const char *status;
	const char *problem;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "clv_predictions must return a record");
	for (int i = 0; i < 8; i++)
		nulls[i] = true;
	status = customer_inputs(fcinfo, &in, &problem);
	if (status == NULL)
	{
		const BgnbdModel *m = &in.cache->bgnbd;
		double		orders = expected_purchases(&in, 365);
		double		spend = isnan(orders) ? NAN : predicted_spend(&in, orders);
		double		wait = cm_bgnbd_median_wait(m, in.x, in.tx, in.T);

		if (isnan(spend))
		{
			status = STATUS_NOT_COMPUTABLE;
			problem = isnan(orders) ? PROBLEM_ORDERS : PROBLEM_VALUE;
		}
		else
		{
			status = STATUS_PREDICTED;
			values[0] = Float8GetDatum(cm_bgnbd_alive(m, in.x, in.tx, in.T));
			values[1] = Float8GetDatum(orders);
			values[2] = Float8GetDatum(cm_bgnbd_no_purchase(m, 90, in.x, in.tx, in.T));
			values[3] = Float8GetDatum(spend);
			values[6] = Float8GetDatum(own_history_weight(m, in.T));
			nulls[0] = nulls[1] = nulls[2] = nulls[3] = nulls[6] = false;
			if (wait <= NEXT_ORDER_HORIZON)
			{
				values[4] = DateADTGetDatum(in.as_of_day + (DateADT) ceil(wait));
				nulls[4] = false;
			}
		}
	}
	if (problem != NULL)
		log_not_computable(&in, problem);
	/* the history, not a prediction: whenever there is a summary */
	if (!PG_ARGISNULL(2) && !PG_ARGISNULL(3) && PG_GETARG_INT32(2) > 0)
	{
		values[5] = Float8GetDatum((double) PG_GETARG_INT32(3) / PG_GETARG_INT32(2));
		nulls[5] = false;
	}
	else
		nulls[5] = true;
	values[7] = CStringGetTextDatum(status);
	nulls[7] = false;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The last prediction clv_prediction computed in this backend, whatever
 * the call site: a segment query that names predicted_ltv a hundred times
 * has a hundred call sites, each evaluated on the same customer in turn,
 * and all but the first find the result here.  The key is everything the
 * result depends on: the field, the customer's summary, the day's age, the
 * rate, and the fits' contents (hashed).
 */
typedef struct LastPrediction
{
	bool		valid;
	int			field;
	double		x,
				tx,
				T,
				m,
				rate;
	uint32		fits;
	double		result;
} LastPrediction;

static LastPrediction last_prediction;

static uint32
fits_hash(const FitCache *c)
{
	uint32		key = 0;

	if (c->bgnbd_json != NULL)
		key = hash_bytes((const unsigned char *) c->bgnbd_json, VARSIZE(c->bgnbd_json));
	if (c->gg_json != NULL)
		key = hash_combine(key, hash_bytes((const unsigned char *) c->gg_json, VARSIZE(c->gg_json)));
	return key;
}

/*
 * clv_prediction(<clv_predictions' arguments>, field integer): one of the
 * predictions, computing only what it needs (a segment or a sort on
 * probability_alive or churn_probability does not compute the expected
 * purchases): 1 probability_alive, 2 churn_probability, 3 predicted_ltv,
 * 4 expected_orders_365; NULL unless clv_predictions' status would be
 * predicted.
 */
Datum
cm_clv_prediction(PG_FUNCTION_ARGS)
{
	CustomerInputs in;
	int			field = PG_ARGISNULL(8) ? 0 : PG_GETARG_INT32(8);
	const char *problem;
	double		result = NAN;
	uint32		fits;

	if (field < 1 || field > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid field: %d is not a prediction", field),
				 errdetail("Field \"field\" is %d; 1 to 4 are.", field),
				 errhint("This is an internal function of the CLV model."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "field")));
	if (customer_inputs(fcinfo, &in, &problem) != NULL)
	{
		if (problem != NULL)
			log_not_computable(&in, problem);
		PG_RETURN_NULL();
	}
	fits = fits_hash(in.cache);
	if (last_prediction.valid && last_prediction.field == field && last_prediction.fits == fits &&
		last_prediction.x == in.x && last_prediction.tx == in.tx && last_prediction.T == in.T &&
		last_prediction.m == in.m && last_prediction.rate == in.rate)
	{
		if (isnan(last_prediction.result))
			PG_RETURN_NULL();
		PG_RETURN_FLOAT8(last_prediction.result);
	}
	switch (field)
	{
		case 1:
			result = cm_bgnbd_alive(&in.cache->bgnbd, in.x, in.tx, in.T);
			break;
		case 2:
			result = cm_bgnbd_no_purchase(&in.cache->bgnbd, 90, in.x, in.tx, in.T);
			break;
		case 3:
		case 4:
			result = expected_purchases(&in, 365);
			problem = PROBLEM_ORDERS;
			if (field == 3 && !isnan(result))
			{
				result = predicted_spend(&in, result);
				problem = PROBLEM_VALUE;
			}
			break;
	}
	last_prediction.valid = true;
	last_prediction.field = field;
	last_prediction.x = in.x;
	last_prediction.tx = in.tx;
	last_prediction.T = in.T;
	last_prediction.m = in.m;
	last_prediction.rate = in.rate;
	last_prediction.fits = fits;
	last_prediction.result = result;
	if (isnan(result))
	{
		log_not_computable(&in, problem);
		PG_RETURN_NULL();
	}
	PG_RETURN_FLOAT8(result);
}

/* hyp2f1(a, b, c, z), 0 <= z < 1: the series of the expected purchases, for the tests. */
Datum
cm_hyp2f1(PG_FUNCTION_ARGS)
{
	double		a = PG_GETARG_FLOAT8(0),
				b = PG_GETARG_FLOAT8(1),
				c = PG_GETARG_FLOAT8(2),
				z = PG_GETARG_FLOAT8(3);
	double		result;

	if (!(z >= 0 && z < 1))
		cm_clv_invalid("z", "must be in [0, 1)", z);
	result = cm_hyp2f1_series(a, b, c, z);
	if (isnan(result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}
