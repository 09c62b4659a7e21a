/*-------------------------------------------------------------------------
 *
 * scoring.c
 *	  The business rules of customer analytics (docs/analytics.md):
 *	  engagement score, churn risk, lifecycle segment, RFM digits and the
 *	  customer insights.
 *
 * Each rule is a pure function of its arguments, exposed to SQL as an
 * IMMUTABLE PARALLEL SAFE function, so that the per-customer calculation
 * and the set-based recalculation of everyone call the same code and give
 * the same answers.  Thresholds that the shop may change (table
 * setting_definitions) arrive as arguments; the constants below are the
 * design's formulas themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_engagement_score);
PG_FUNCTION_INFO_V1(cm_churn_risk);
PG_FUNCTION_INFO_V1(cm_lifecycle_segment);
PG_FUNCTION_INFO_V1(cm_rfm_digit);
PG_FUNCTION_INFO_V1(cm_insights);
PG_FUNCTION_INFO_V1(cm_analytics_scores);

/* engagement: weights of docs/analytics.md (ENGAGEMENT_SCORE_WEIGHTS) */
#define W_RECENCY	0.3
#define W_FREQUENCY 0.3
#define W_MONETARY	0.2
#define W_SESSION	0.2

/* normalisation of the engagement components (docs/analytics.md) */
#define RECENCY_HORIZON_DAYS	180.0	/* no order for this long: 0 */
#define FREQUENCY_FULL_ORDERS	10.0	/* this many orders: 1 */
#define MONETARY_UNIT_VND		100000.0
#define MONETARY_FULL_VND		50000000.0	/* the VIP threshold: 1 */
#define SESSION_FULL_SECONDS	300.0	/* five minutes a visit: 1 */

static inline double
clamp01(double x)
{
	if (isnan(x) || x < 0.0)
		return 0.0;
	return x > 1.0 ? 1.0 : x;
}

/* round half away from zero to two decimals, as numeric(3,2) stores it */
static inline double
round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static double
engagement_score(bool has_days, int32 days, int32 orders, double spent,
				 double bounce_rate, double avg_duration, bool has_sessions)
{
	double		recency = has_days ? clamp01(1.0 - days / RECENCY_HORIZON_DAYS) : 0.0;
	double		frequency = clamp01(orders / FREQUENCY_FULL_ORDERS);
	double		monetary = spent > 0 ?
		clamp01(log1p(spent / MONETARY_UNIT_VND) / log1p(MONETARY_FULL_VND / MONETARY_UNIT_VND)) : 0.0;
	double		session = has_sessions ?
		clamp01(1.0 - bounce_rate) * clamp01(avg_duration / SESSION_FULL_SECONDS) : 0.0;

	return round2(W_RECENCY * recency + W_FREQUENCY * frequency +
				  W_MONETARY * monetary + W_SESSION * session);
}

static double
churn_risk(bool has_days, int32 days, int32 orders, double engagement, double bounce_rate)
{
	double		risk = 0.0;

	/* recency factor; no order yet satisfies no recency rule */
	if (has_days)
	{
		if (days > 90)
			risk += 0.3;
		else if (days > 60)
			risk += 0.2;
		else if (days > 30)
			risk += 0.1;
	}
	/* frequency factor */
	if (orders < 2)
		risk += 0.2;
	/* engagement factor */
	if (engagement < 0.3)
		risk += 0.3;
	else if (engagement < 0.5)
		risk += 0.2;
	/* session behaviour */
	if (bounce_rate > 0.8)
		risk += 0.2;

	return round2(risk > 1.0 ? 1.0 : risk);
}

/*
 * customer_mgmt.engagement_score(days_since_last_order integer,
 *		total_orders integer, total_spent numeric, bounce_rate numeric,
 *		average_session_duration integer, total_sessions integer)
 *		returns numeric in [0, 1]
 *
 * A NULL days_since_last_order means no order yet.
 */
Datum
cm_engagement_score(PG_FUNCTION_ARGS)
{
	bool		has_days = !PG_ARGISNULL(0);
	int32		days = has_days ? PG_GETARG_INT32(0) : 0;
	int32		orders = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	double		spent = PG_ARGISNULL(2) ? 0.0 : PG_GETARG_FLOAT8(2);
	double		bounce = PG_ARGISNULL(3) ? 0.0 : PG_GETARG_FLOAT8(3);
	double		duration = PG_ARGISNULL(4) ? 0.0 : (double) PG_GETARG_INT32(4);
	int32		sessions = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);

	PG_RETURN_FLOAT8(engagement_score(has_days, days, orders, spent, bounce, duration, sessions > 0));
}

/*
 * customer_mgmt.churn_risk(days_since_last_order integer, total_orders
 *		integer, engagement_score numeric, bounce_rate numeric)
 *		returns numeric in [0, 1]: docs/analytics.md, Churn risk, capped at 1.
 */
Datum
cm_churn_risk(PG_FUNCTION_ARGS)
{
	bool		has_days = !PG_ARGISNULL(0);
	int32		days = has_days ? PG_GETARG_INT32(0) : 0;
	int32		orders = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	double		engagement = PG_ARGISNULL(2) ? 0.0 : PG_GETARG_FLOAT8(2);
	double		bounce = PG_ARGISNULL(3) ? 0.0 : PG_GETARG_FLOAT8(3);

	PG_RETURN_FLOAT8(churn_risk(has_days, days, orders, engagement, bounce));
}

/*
 * Thresholds come in as arguments (read from the settings by the callers);
 * a NULL one is a caller's mistake, not a bound of 0: refuse it naming it.
 * names[i] is the name of argument first + i.
 */
static void
require_thresholds(FunctionCallInfo fcinfo, int first, const char *const *names, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (PG_ARGISNULL(first + i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s: must not be NULL", names[i]),
					 errdetail("Field \"%s\" must not be NULL.", names[i]),
					 errhint("Pass the threshold, or leave it out for the design's default.")));
	}
}

/*
 * customer_mgmt.lifecycle_segment(total_spent, churn_risk, total_orders,
 *		days_since_last_order, vip_min_spent, vip_max_churn_risk,
 *		loyal_min_orders, loyal_max_days, at_risk_min_churn_risk,
 *		active_max_days, churned_min_days) returns text
 *
 * Design section 8.1's calculateCustomerSegment, rules in that order.  A
 * NULL days_since_last_order satisfies no recency rule, so a customer who
 * never ordered is "new", not "active".  A NULL threshold is 22023.
 */
static const char *const lifecycle_thresholds[] = {
	"vip_min_spent", "vip_max_churn_risk", "loyal_min_orders", "loyal_max_days",
	"at_risk_min_churn_risk", "active_max_days", "churned_min_days"
};

/*
 * The segment of rules of docs/analytics.md, Lifecycle segment, in order; t[] holds the seven
 * thresholds in the order of lifecycle_thresholds.
 */
static const char *
lifecycle(double spent, double churn, int32 orders, bool has_days, int32 days, const double *t)
{
	if (spent > t[0] && churn < t[1])
		return "vip";
	if (orders > (int32) t[2] && has_days && days < (int32) t[3])
		return "loyal";
	if (churn > t[4])
		return "at_risk";
	if (has_days && days < (int32) t[5])
		return "active";
	if (has_days && days > (int32) t[6])
		return "churned";
	if (orders <= 1)
		return "new";
	return "active";
}

Datum
cm_lifecycle_segment(PG_FUNCTION_ARGS)
{
	double		spent = PG_ARGISNULL(0) ? 0.0 : PG_GETARG_FLOAT8(0);
	double		churn = PG_ARGISNULL(1) ? 0.0 : PG_GETARG_FLOAT8(1);
	int32		orders = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		has_days = !PG_ARGISNULL(3);
	int32		days = has_days ? PG_GETARG_INT32(3) : 0;
	double		t[7];

	require_thresholds(fcinfo, 4, lifecycle_thresholds, lengthof(lifecycle_thresholds));
	t[0] = PG_GETARG_FLOAT8(4);
	t[1] = PG_GETARG_FLOAT8(5);
	t[2] = PG_GETARG_INT32(6);
	t[3] = PG_GETARG_INT32(7);
	t[4] = PG_GETARG_FLOAT8(8);
	t[5] = PG_GETARG_INT32(9);
	t[6] = PG_GETARG_INT32(10);

	PG_RETURN_TEXT_P(cstring_to_text(lifecycle(spent, churn, orders, has_days, days, t)));
}

/*
 * customer_mgmt.rfm_digit(value double precision, breakpoints double
 *		precision[]) returns integer
 *
 * 1 + the number of quintile breakpoints (the 20th, 40th, 60th and 80th
 * percentiles of the population) that value exceeds: 5 is the best fifth.
 * For recency pass minus the days since the last order, so that more
 * recent is higher.
 */
Datum
cm_rfm_digit(PG_FUNCTION_ARGS)
{
	double		value = PG_GETARG_FLOAT8(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			digit = 1;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid breakpoints: must be a one-dimensional array"),
				 errdetail("Field \"breakpoints\" has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Pass the four quintile breakpoints, e.g. ARRAY[1, 2, 3, 4]."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "breakpoints")));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n != 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid breakpoints: must have 4 elements"),
				 errdetail("Field \"breakpoints\" has %d elements.", n),
				 errhint("Pass the 20th, 40th, 60th and 80th percentiles."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "breakpoints")));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid breakpoints: must not contain NULL"),
					 errdetail("Field \"breakpoints\" element %d is NULL.", i + 1),
					 errhint("Pass the 20th, 40th, 60th and 80th percentiles."),
					 err_generic_string(PG_DIAG_COLUMN_NAME, "breakpoints")));
		if (value > DatumGetFloat8(elems[i]))
			digit++;
	}
	PG_RETURN_INT32(digit);
}

/*
 * customer_mgmt.insights(total_spent, churn_risk, total_orders,
 *		days_since_last_order, high_value_min_spent, churn_risk_min,
 *		loyal_min_orders, loyal_max_days) returns table (type, title,
 *		description, priority, action_recommendation)
 *
 * The insights of docs/analytics.md that hold for a customer, each with
 * the design's title, description, priority and recommended action:
 * high value (spend above the threshold), churn risk (risk above it),
 * loyal (more orders than the threshold and fewer days since the last
 * order; a customer who never ordered is not loyal).
 */
typedef struct InsightDef
{
	const char *type;
	const char *title;
	const char *description;
	const char *priority;
	const char *action;
} InsightDef;

static const InsightDef insight_defs[] = {
	{"high_value", "High Value Customer", "This customer has high lifetime value", "high",
	"Consider VIP treatment and exclusive offers"},
	{"churn_risk", "High Churn Risk", "Customer shows signs of potential churn", "critical",
	"Reach out with retention campaign"},
	{"loyal", "Loyal Customer", "Consistent purchase behavior", "medium",
	"Offer loyalty rewards program"},
};

static const char *const insight_thresholds[] = {
	"high_value_min_spent", "churn_risk_min", "loyal_min_orders", "loyal_max_days"
};

/*
 * Which insights hold, as a bit mask (bit i: insight_defs[i]); t[] holds
 * the four thresholds in the order of insight_thresholds.
 */
static int32
insight_mask(double spent, double churn, int32 orders, bool has_days, int32 days, const double *t)
{
	int32		flags = 0;

	if (spent > t[0])
		flags |= 1 << 0;
	if (churn > t[1])
		flags |= 1 << 1;
	if (orders > (int32) t[2] && has_days && days < (int32) t[3])
		flags |= 1 << 2;
	return flags;
}

/* the mask from the arguments of insights() */
static int32
insights_holding(FunctionCallInfo fcinfo)
{
	double		t[4];

	require_thresholds(fcinfo, 4, insight_thresholds, lengthof(insight_thresholds));
	t[0] = PG_GETARG_FLOAT8(4);
	t[1] = PG_GETARG_FLOAT8(5);
	t[2] = PG_GETARG_INT32(6);
	t[3] = PG_GETARG_INT32(7);
	return insight_mask(PG_ARGISNULL(0) ? 0.0 : PG_GETARG_FLOAT8(0),
						PG_ARGISNULL(1) ? 0.0 : PG_GETARG_FLOAT8(1),
						PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
						!PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3), t);
}

Datum
cm_insights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		flags = insights_holding(fcinfo);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < (int) lengthof(insight_defs); i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if ((flags & (1 << i)) == 0)
			continue;
		values[0] = CStringGetTextDatum(insight_defs[i].type);
		values[1] = CStringGetTextDatum(insight_defs[i].title);
		values[2] = CStringGetTextDatum(insight_defs[i].description);
		values[3] = CStringGetTextDatum(insight_defs[i].priority);
		values[4] = CStringGetTextDatum(insight_defs[i].action);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * customer_mgmt.analytics_scores(last_order_date, as_of, total_orders,
 *		total_spent, bounce_rate, average_session_duration, total_sessions,
 *		old_total_spent, old_churn_risk, old_total_orders, old_days,
 *		thresholds) returns (days, engagement, churn, segment, new_flags,
 *		old_flags)
 *
 * Every score of one customer in one call, for the recalculation: whole
 * days from the last order to as_of (NULL without an order; what
 * days_between gives), engagement and churn risk (rounded as stored),
 * lifecycle segment, and the insights that hold now and held for the
 * stored values.  thresholds: the seven of lifecycle_segment, then the
 * four of insights (analytics_thresholds()).  Called once per customer
 * from a LATERAL function scan, so that no score is computed twice.
 */
Datum
cm_analytics_scores(PG_FUNCTION_ARGS)
{
	bool		has_days = !PG_ARGISNULL(0);
	int32		orders = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	double		spent = PG_ARGISNULL(3) ? 0.0 : PG_GETARG_FLOAT8(3);
	double		bounce = PG_ARGISNULL(4) ? 0.0 : PG_GETARG_FLOAT8(4);
	double		duration = PG_ARGISNULL(5) ? 0.0 : (double) PG_GETARG_INT32(5);
	int32		sessions = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6);
	int32		days = 0;
	double		t[11];
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double		engagement;
	double		churn;
	TupleDesc	desc;
	Datum		values[6];
	bool		isnull[6] = {false, false, false, false, false, false};
	int			i;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(11))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: must not be NULL", PG_ARGISNULL(1) ? "as_of" : "thresholds"),
				 errdetail("Field \"%s\" must not be NULL.", PG_ARGISNULL(1) ? "as_of" : "thresholds"),
				 errhint("Pass the time of the calculation and analytics_thresholds().")));
	arr = PG_GETARG_ARRAYTYPE_P(11);
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (ARR_NDIM(arr) != 1 || n != lengthof(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid thresholds: must be a one-dimensional array of %d elements", (int) lengthof(t)),
				 ARR_NDIM(arr) == 1 ? errdetail("Field \"thresholds\" has %d elements.", n) :
				 errdetail("Field \"thresholds\" has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Pass analytics_thresholds().")));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid thresholds: must not contain NULL"),
					 errdetail("Field \"thresholds\" element %d is NULL.", i + 1),
					 errhint("Pass analytics_thresholds().")));
		t[i] = DatumGetFloat8(elems[i]);
	}

	if (has_days)
	{
		TimestampTz last = PG_GETARG_TIMESTAMPTZ(0);
		TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
		int64		diff;

		/* 0 when the order is later; an infinite time is refused */
		if (TIMESTAMP_NOT_FINITE(last) || TIMESTAMP_NOT_FINITE(as_of))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid last_order_date: must be finite"),
					 errdetail("Field \"last_order_date\" or \"as_of\" is infinite."),
					 errhint("Pass finite times.")));
		/* whole days, saturated where the difference overflows */
		if (as_of <= last)
			days = 0;
		else if (pg_sub_s64_overflow(as_of, last, &diff))
			days = PG_INT32_MAX;
		else
			days = (int32) Min(diff / USECS_PER_DAY, PG_INT32_MAX);
	}
	engagement = engagement_score(has_days, days, orders, spent, bounce, duration, sessions > 0);
	churn = churn_risk(has_days, days, orders, engagement, bounce);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("analytics_scores must return a row"),
				 errdetail("The function was declared with another result type."),
				 errhint("Declare it with its OUT parameters.")));
	desc = BlessTupleDesc(desc);
	values[0] = Int32GetDatum(days);
	isnull[0] = !has_days;
	values[1] = Float8GetDatum(engagement);
	values[2] = Float8GetDatum(churn);
	values[3] = CStringGetTextDatum(lifecycle(spent, churn, orders, has_days, days, t));
	values[4] = Int32GetDatum(insight_mask(spent, churn, orders, has_days, days, t + 7));
	values[5] = Int32GetDatum(insight_mask(PG_ARGISNULL(7) ? 0.0 : PG_GETARG_FLOAT8(7),
										   PG_ARGISNULL(8) ? 0.0 : PG_GETARG_FLOAT8(8),
										   PG_ARGISNULL(9) ? 0 : PG_GETARG_INT32(9),
										   !PG_ARGISNULL(10), PG_ARGISNULL(10) ? 0 : PG_GETARG_INT32(10),
										   t + 7));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, isnull)));
}
