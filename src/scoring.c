/*-------------------------------------------------------------------------
 *
 * scoring.c
 *	  The business rules of customer analytics (design sections 6.2, 8.1):
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
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(cm_engagement_score);
PG_FUNCTION_INFO_V1(cm_churn_risk);
PG_FUNCTION_INFO_V1(cm_lifecycle_segment);
PG_FUNCTION_INFO_V1(cm_rfm_digit);
PG_FUNCTION_INFO_V1(cm_insights);
PG_FUNCTION_INFO_V1(cm_insight_flags);

/* engagement: weights of design section 8.1 (ENGAGEMENT_SCORE_WEIGHTS) */
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
 *		returns numeric in [0, 1]: design section 6.2, capped at 1.
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

Datum
cm_lifecycle_segment(PG_FUNCTION_ARGS)
{
	double		spent = PG_ARGISNULL(0) ? 0.0 : PG_GETARG_FLOAT8(0);
	double		churn = PG_ARGISNULL(1) ? 0.0 : PG_GETARG_FLOAT8(1);
	int32		orders = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		has_days = !PG_ARGISNULL(3);
	int32		days = has_days ? PG_GETARG_INT32(3) : 0;
	double		vip_min_spent;
	double		vip_max_churn;
	int32		loyal_min_orders;
	int32		loyal_max_days;
	double		at_risk_min_churn;
	int32		active_max_days;
	int32		churned_min_days;
	const char *segment;

	require_thresholds(fcinfo, 4, lifecycle_thresholds, lengthof(lifecycle_thresholds));
	vip_min_spent = PG_GETARG_FLOAT8(4);
	vip_max_churn = PG_GETARG_FLOAT8(5);
	loyal_min_orders = PG_GETARG_INT32(6);
	loyal_max_days = PG_GETARG_INT32(7);
	at_risk_min_churn = PG_GETARG_FLOAT8(8);
	active_max_days = PG_GETARG_INT32(9);
	churned_min_days = PG_GETARG_INT32(10);

	if (spent > vip_min_spent && churn < vip_max_churn)
		segment = "vip";
	else if (orders > loyal_min_orders && has_days && days < loyal_max_days)
		segment = "loyal";
	else if (churn > at_risk_min_churn)
		segment = "at_risk";
	else if (has_days && days < active_max_days)
		segment = "active";
	else if (has_days && days > churned_min_days)
		segment = "churned";
	else if (orders <= 1)
		segment = "new";
	else
		segment = "active";

	PG_RETURN_TEXT_P(cstring_to_text(segment));
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
 * The insights of design section 6.2 that hold for a customer, each with
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
 * Which insights hold, as a bit mask (bit i: insight_defs[i]), from the
 * arguments of insights() or insight_flags().
 */
static int32
insights_holding(FunctionCallInfo fcinfo)
{
	double		spent = PG_ARGISNULL(0) ? 0.0 : PG_GETARG_FLOAT8(0);
	double		churn = PG_ARGISNULL(1) ? 0.0 : PG_GETARG_FLOAT8(1);
	int32		orders = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		has_days = !PG_ARGISNULL(3);
	int32		days = has_days ? PG_GETARG_INT32(3) : 0;
	int32		flags = 0;

	require_thresholds(fcinfo, 4, insight_thresholds, lengthof(insight_thresholds));
	if (spent > PG_GETARG_FLOAT8(4))
		flags |= 1 << 0;
	if (churn > PG_GETARG_FLOAT8(5))
		flags |= 1 << 1;
	if (orders > PG_GETARG_INT32(6) && has_days && days < PG_GETARG_INT32(7))
		flags |= 1 << 2;
	return flags;
}

Datum
cm_insights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		flags = insights_holding(fcinfo);
	int			i;

	SetSingleFuncCall(fcinfo, 0);
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
 * customer_mgmt.insight_flags(same arguments as insights()) returns integer
 *
 * The insights that hold as a bit mask (1 high value, 2 churn risk, 4
 * loyal): the recalculation compares a customer's mask before and after
 * to touch only the insights of customers whose set changed.
 */
Datum
cm_insight_flags(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(insights_holding(fcinfo));
}
