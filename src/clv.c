/*-------------------------------------------------------------------------
 *
 * clv.c
 *	  The predicted lifetime value's models (SPEC 3b, issue 13): BG/NBD
 *	  (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
 *	  for the number of future orders and the probability of being alive,
 *	  and Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") for the
 *	  value of an order: maximum-likelihood fits and the conditional
 *	  expectations, on any data in any time unit.
 *
 * The fits are aggregates: bgnbd_fit(frequency, recency, age) and
 * gamma_gamma_fit(frequency, monetary_value) keep their rows (24 bytes a
 * customer, and 8 more for BG/NBD's weights at the end: a likelihood needs
 * every customer at every step, so no stream will do) and, at the end,
 * maximise the log-likelihood by BFGS over the logarithms of the
 * parameters (so they stay positive), with the analytic gradient.  The rows
 * are sorted by frequency, so the gamma functions, which depend on a
 * customer only through the frequency, are computed once per frequency and
 * step; BG/NBD merges equal customers into one weighted point, and with
 * whole-number times tabulates log(alpha + t) once per step.  Times are
 * scaled so that the oldest customer's age is 10, amounts so that their
 * mean is 1, as the lifetimes library does; the parameters and the
 * log-likelihood are reported in the caller's units.  clv_predictions gives
 * one customer's predictions from both fits (docs/clv.md).
 *
 * The expected number of purchases needs the Gauss hypergeometric function
 * 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t).  Its series converges
 * slowly when z is near 1 and, for a large x, grows for many terms before
 * it falls; it is summed after Euler's transformation, 2F1(A, B; C; z) =
 * (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), whose parameters (a+b-1-r, a-1) do
 * not grow with x and whose terms fall like n^(a-2-r-x) z^n, with a
 * stopping rule that bounds the remaining tail, not just the last term.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cm_bgnbd_add);
PG_FUNCTION_INFO_V1(cm_bgnbd_final);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_add);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_final);
PG_FUNCTION_INFO_V1(cm_bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(cm_bgnbd_probability_alive);
PG_FUNCTION_INFO_V1(cm_bgnbd_probability_no_purchase);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_expected_value);
PG_FUNCTION_INFO_V1(cm_clv_predictions);
PG_FUNCTION_INFO_V1(cm_clv_prediction);
PG_FUNCTION_INFO_V1(cm_hyp2f1);

#define MAX_PARAMS 4
#define MAX_ITERATIONS 1000
#define GRADIENT_TOLERANCE 1e-7
#define GRADIENT_TOLERANCE_AT_REST 1e-5	/* when no step lowers f any more */
#define LOG_PARAM_BOUND 30.0	/* a parameter beyond e^30 or e^-30 has run off */
#define HYP2F1_MAX_TERMS 10000000

static void
invalid(const char *field, const char *message, double value)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", field, message),
			 errdetail("Field \"%s\" is %g.", field, value),
			 errhint("Frequency counts repeat purchases; recency and age are measured from the first purchase, in one time unit."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

/* ---- special functions --------------------------------------------------- */

/* The digamma function psi(x), x > 0: recurrence up to 6, then the asymptotic series. */
static double
digamma(double x)
{
	double		result = 0;
	double		f;

	while (x < 6)
	{
		result -= 1 / x;
		x += 1;
	}
	f = 1 / (x * x);
	return result + log(x) - 0.5 / x
		- f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/*
 * The Gauss series of 2F1(a, b; c; z), 0 <= z < 1, summed until what is left
 * is below 1e-16 of the sum: once the ratio of successive terms is below 1 and
 * falling, the tail is at most term * ratio / (1 - ratio).  NaN when it has
 * not converged within HYP2F1_MAX_TERMS terms or c is a pole.
 */
static double
hyp2f1_series(double a, double b, double c, double z)
{
	double		sum = 1;
	double		term = 1;
	double		past = Max(Max(fabs(a), fabs(b)), fabs(c));

	for (long n = 0; n < HYP2F1_MAX_TERMS; n++)
	{
		double		ratio;

		if (c + n == 0)
			return NAN;
		ratio = (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
		term *= ratio;
		sum += term;
		if (term == 0)
			return sum;
		if (n + 1 > past && fabs(ratio) < 1 &&
			fabs(term) * fabs(ratio) / (1 - fabs(ratio)) <= 1e-16 * fabs(sum))
			return sum;
		if ((n & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return NAN;
}

/* ---- BG/NBD ---------------------------------------------------------------- */

typedef struct BgnbdParams
{
	double		r,
				alpha,
				a,
				b;
} BgnbdParams;

/* Checks one customer's summary (22023 naming the field). */
static void
check_rfm(double x, double tx, double T)
{
	if (!isfinite(x) || x < 0)
		invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
	if (!isfinite(tx) || tx < 0)
		invalid("recency", "must be finite and 0 or more", tx);
	if (!isfinite(T) || T < tx)
		invalid("age", "must be finite and at least the recency", T);
	if (x > 0 && T <= 0)
		invalid("age", "must be more than 0 for a customer with repeat purchases", T);
}

/* log P(alive)'s complement ratio: log(a/(b+x-1)) + (r+x) log((alpha+T)/(alpha+tx)) */
static double
bgnbd_dead_log_odds(const BgnbdParams *p, double x, double tx, double T)
{
	return log(p->a) - log(p->b + x - 1) + (p->r + x) * (log(p->alpha + T) - log(p->alpha + tx));
}

static double
bgnbd_alive(const BgnbdParams *p, double x, double tx, double T)
{
	double		odds;

	if (x == 0)
		return 1;
	odds = bgnbd_dead_log_odds(p, x, tx, T);
	return odds > 700 ? 0 : 1 / (1 + exp(odds));
}

/*
 * E[Y(t) | x, tx, T], equation 10 of Fader, Hardie & Lee (2005), with the
 * hypergeometric term after Euler's transformation (header comment).  At
 * a = 1 the closed form is 0/0: a is then taken 1e-7 away (relative error
 * of the same order).
 */
static double
bgnbd_expected(const BgnbdParams *p, double t, double x, double tx, double T)
{
	double		a = fabs(p->a - 1) < 1e-7 ? 1 + 1e-7 : p->a;
	double		c = a + p->b + x - 1;
	double		z = t / (p->alpha + T + t);
	double		g;

	if (t == 0)
		return 0;
	g = hyp2f1_series(a + p->b - 1 - p->r, a - 1, c, z);
	if (isnan(g) || fabs(c) < 1e-12)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the expected number of purchases did not converge"),
				 errdetail("Field \"t\" is %g: 2F1(%g, %g; %g; %g) did not converge in %d terms.", t,
						   a + p->b - 1 - p->r, a - 1, c, z, HYP2F1_MAX_TERMS),
				 errhint("t is too long beside alpha + age: measure time in a larger unit."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "t")));
	/* (a+b+x-1)/(a-1) * (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...)), the power and 2F1 transformed */
	return c / (a - 1) * (1 - exp((a - 1) * log1p(-z)) * g) * bgnbd_alive(p, x, tx, T);
}

typedef struct RfmPoint
{
	double		x,
				tx,
				T;
} RfmPoint;

typedef struct FitData
{
	int64		n;
	int64		capacity;
	RfmPoint   *points;			/* BG/NBD: x, tx, T; Gamma-Gamma: x, log m, m */
	/* BG/NBD, once the rows are in: */
	double	   *weights;		/* how many customers a point stands for */
	double		customers;		/* their sum */
	double		scale;			/* time unit of the fit: times are multiplied by it */
	int			max_time;		/* >= 0: every time is a whole number up to this */
	double	   *log_time;		/* then, per evaluation, log(alpha + scale * t) for each t */
} FitData;

/* by frequency, then age, then recency: equal customers side by side */
static int
point_cmp(const void *l, const void *r)
{
	const RfmPoint *a = l;
	const RfmPoint *b = r;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->T != b->T)
		return a->T < b->T ? -1 : 1;
	if (a->tx != b->tx)
		return a->tx < b->tx ? -1 : 1;
	return 0;
}

/*
 * Mean negative log-likelihood of BG/NBD at theta = log(r, alpha, a, b),
 * and its gradient in theta.  For a customer (x, tx, T):
 *	 LL = lgamma(r+x) - lgamma(r) + r log alpha
 *		+ lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x)
 *		+ log( (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+tx)^-(r+x) ).
 */
static double
bgnbd_objective(const double *theta, double *grad, void *arg)
{
	const FitData *d = arg;
	double		r = exp(theta[0]),
				alpha = exp(theta[1]),
				a = exp(theta[2]),
				b = exp(theta[3]);
	double		log_alpha = log(alpha),
				log_a = log(a);
	double		lg_r = lgamma(r),
				lg_b = lgamma(b),
				lg_ab = lgamma(a + b);
	double		dg_r = digamma(r),
				dg_b = digamma(b),
				dg_ab = digamma(a + b);
	double		ll = 0,
				g_r = 0,
				g_alpha = 0,
				g_a = 0,
				g_b = 0;
	double		x_now = -1;
	double		k1 = 0,
				k_r = 0,
				k_a = 0,
				k_b = 0,
				log_bx1 = 0;

	/* whole times: one logarithm per time, not two per customer */
	for (int t = 0; t <= d->max_time; t++)
		d->log_time[t] = log(alpha + d->scale * t);
	for (int64 i = 0; i < d->n; i++)
	{
		const RfmPoint *pt = &d->points[i];
		double		w = d->weights[i];
		double		x = pt->x;
		double		rx = r + x;
		double		T = d->scale * pt->T;
		double		l_T = d->max_time >= 0 ? d->log_time[(int) pt->T] : log(alpha + T);
		double		a3 = -rx * l_T;
		double		w4;

		if (x != x_now)
		{
			/* the terms of a frequency, once per frequency (the rows are sorted by it) */
			x_now = x;
			k1 = lgamma(rx) - lg_r + lg_ab + lgamma(b + x) - lg_b - lgamma(a + b + x);
			k_r = digamma(rx) - dg_r;
			k_a = dg_ab - digamma(a + b + x);
			k_b = dg_ab + digamma(b + x) - dg_b - digamma(a + b + x);
			log_bx1 = x > 0 ? log(b + x - 1) : 0;
		}
		ll += w * (k1 + r * log_alpha);
		g_r += w * (k_r + log_alpha);
		g_alpha += w * r / alpha;
		g_a += w * k_a;
		g_b += w * k_b;
		if (x > 0)
		{
			double		tx = d->scale * pt->tx;
			double		l_tx = d->max_time >= 0 ? d->log_time[(int) pt->tx] : log(alpha + tx);
			double		a4 = log_a - log_bx1 - rx * l_tx;
			double		e = exp(-fabs(a3 - a4));

			ll += w * (Max(a3, a4) + log1p(e));
			/* the weight of the second alternative */
			w4 = a4 >= a3 ? 1 / (1 + e) : e / (1 + e);
			g_r -= w * ((1 - w4) * l_T + w4 * l_tx);
			g_alpha -= w * rx * ((1 - w4) / (alpha + T) + w4 / (alpha + tx));
			g_a += w * w4 / a;
			g_b -= w * w4 / (b + x - 1);
		}
		else
		{
			ll += w * a3;
			g_r -= w * l_T;
			g_alpha -= w * rx / (alpha + T);
		}
	}
	/* d/dtheta = param * d/dparam; the mean of the negative */
	grad[0] = -r * g_r / d->customers;
	grad[1] = -alpha * g_alpha / d->customers;
	grad[2] = -a * g_a / d->customers;
	grad[3] = -b * g_b / d->customers;
	return -ll / d->customers;
}

/*
 * Mean negative log-likelihood of Gamma-Gamma at theta = log(p, q, gamma):
 * for a customer of x > 0 repeat purchases of mean value m,
 *	 LL = lgamma(px+q) - lgamma(px) - lgamma(q) + q log gamma
 *		+ (px-1) log m + px log x - (px+q) log(x m + gamma).
 * The points hold (x, log m, m).
 */
static double
gamma_gamma_objective(const double *theta, double *grad, void *arg)
{
	const FitData *d = arg;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				v = exp(theta[2]);
	double		log_v = log(v),
				lg_q = lgamma(q),
				dg_q = digamma(q);
	double		ll = 0,
				g_p = 0,
				g_q = 0,
				g_v = 0;
	double		x_now = -1;
	double		k1 = 0,
				dg_pxq = 0,
				dg_px = 0,
				log_x = 0;

	for (int64 i = 0; i < d->n; i++)
	{
		const RfmPoint *pt = &d->points[i];
		double		x = pt->x;
		double		px = p * x;
		double		l_xmv;

		if (x != x_now)
		{
			x_now = x;
			k1 = lgamma(px + q) - lgamma(px) - lg_q + px * log(x);
			dg_pxq = digamma(px + q);
			dg_px = digamma(px);
			log_x = log(x);
		}
		l_xmv = log(x * pt->T + v);
		ll += k1 + q * log_v + (px - 1) * pt->tx - (px + q) * l_xmv;
		g_p += x * (dg_pxq - dg_px + pt->tx + log_x - l_xmv);
		g_q += dg_pxq - dg_q + log_v - l_xmv;
		g_v += q / v - (px + q) / (x * pt->T + v);
	}
	grad[0] = -p * g_p / d->n;
	grad[1] = -q * g_q / d->n;
	grad[2] = -v * g_v / d->n;
	return -ll / d->n;
}

/* ---- BFGS ------------------------------------------------------------------ */

typedef double (*Objective) (const double *theta, double *grad, void *arg);

/*
 * Minimises f over theta (k values) by BFGS with a backtracking line search
 * (Armijo); theta starts at the first guess and ends at the minimum.
 * Converged: the largest gradient component is below GRADIENT_TOLERANCE
 * with every log-parameter within LOG_PARAM_BOUND.  It gives up, not
 * converged, after MAX_ITERATIONS, when no step lowers f, when a parameter
 * runs past the bound, or when ten steps in a row barely change f (the
 * maximum is at infinity: data that do not determine the model).
 */
static bool
bfgs(Objective f, void *arg, double *theta, int k, int *iterations, int *evaluations, double *value)
{
	double		h[MAX_PARAMS][MAX_PARAMS];
	double		g[MAX_PARAMS],
				g_new[MAX_PARAMS],
				dir[MAX_PARAMS],
				trial[MAX_PARAMS],
				s[MAX_PARAMS],
				y[MAX_PARAMS];
	double		fx = f(theta, g, arg);
	bool		converged = false;
	int			stalled = 0;
	int			it;

	memset(h, 0, sizeof(h));
	for (int i = 0; i < k; i++)
		h[i][i] = 1;
	for (it = 0; it < MAX_ITERATIONS; it++)
	{
		double		slope = 0,
					step = 1,
					longest = 0,
					f_new = 0,
					sy = 0,
					gmax = 0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < k; i++)
			gmax = Max(gmax, fabs(g[i]));
		if (gmax < GRADIENT_TOLERANCE)
		{
			converged = true;
			break;
		}
		for (int i = 0; i < k; i++)
		{
			dir[i] = 0;
			for (int j = 0; j < k; j++)
				dir[i] -= h[i][j] * g[j];
			slope += dir[i] * g[i];
			longest = Max(longest, fabs(dir[i]));
		}
		if (slope >= 0)
		{
			/* not a descent direction: start again from the gradient */
			memset(h, 0, sizeof(h));
			for (int i = 0; i < k; i++)
			{
				h[i][i] = 1;
				dir[i] = -g[i];
			}
			slope = 0;
			longest = 0;
			for (int i = 0; i < k; i++)
			{
				slope += dir[i] * g[i];
				longest = Max(longest, fabs(dir[i]));
			}
		}
		/* a step changes a parameter at most e^2-fold */
		if (longest > 2)
			step = 2 / longest;
		for (;;)
		{
			for (int i = 0; i < k; i++)
				trial[i] = theta[i] + step * dir[i];
			f_new = f(trial, g_new, arg);
			(*evaluations)++;
			if (isfinite(f_new) && f_new <= fx + 1e-4 * step * slope)
				break;
			step /= 2;
			if (step < 1e-6)
				break;
		}
		if (!(step >= 1e-6) || !isfinite(f_new) || f_new > fx)
			break;				/* no step lowers f: as close as it gets */
		for (int i = 0; i < k; i++)
		{
			s[i] = trial[i] - theta[i];
			y[i] = g_new[i] - g[i];
			sy += s[i] * y[i];
			theta[i] = trial[i];
			g[i] = g_new[i];
		}
		/* ten steps in a row that change f by less than 1e-13 of it: it drifts along a ridge */
		stalled = fx - f_new < 1e-13 * fabs(fx) ? stalled + 1 : 0;
		fx = f_new;
		if (stalled >= 10)
			break;
		if (sy > 1e-300)
		{
			/* H = (I - rho s y') H (I - rho y s') + rho s s' */
			double		rho = 1 / sy;
			double		hy[MAX_PARAMS] = {0},
						yhy = 0;

			if (it == 0)
			{
				double		yy = 0;

				for (int i = 0; i < k; i++)
					yy += y[i] * y[i];
				for (int i = 0; i < k; i++)
					h[i][i] = sy / yy;
			}
			for (int i = 0; i < k; i++)
				for (int j = 0; j < k; j++)
					hy[i] += h[i][j] * y[j];
			for (int i = 0; i < k; i++)
				yhy += y[i] * hy[i];
			for (int i = 0; i < k; i++)
				for (int j = 0; j < k; j++)
					h[i][j] += (1 + rho * yhy) * rho * s[i] * s[j] - rho * (hy[i] * s[j] + s[i] * hy[j]);
		}
		for (int i = 0; i < k; i++)
			if (fabs(theta[i]) > LOG_PARAM_BOUND)
				goto done;
	}
done:
	/*
	 * Stopped without a lower f: at the minimum as far as the sum's rounding
	 * lets f tell (a million customers' sum is good to about 1e-13 of it), if
	 * the gradient is small there.
	 */
	if (!converged)
	{
		double		gmax = 0;

		for (int i = 0; i < k; i++)
			gmax = Max(gmax, fabs(g[i]));
		converged = gmax < GRADIENT_TOLERANCE_AT_REST;
	}
	for (int i = 0; i < k; i++)
		if (fabs(theta[i]) > LOG_PARAM_BOUND)
			converged = false;
	*iterations = it;
	*value = fx;
	return converged;
}

/* ---- the aggregates -------------------------------------------------------- */

static FitData *
fit_state(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FitData    *d;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in a non-aggregate context", "bgnbd_fit/gamma_gamma_fit");
	if (!PG_ARGISNULL(0))
		return (FitData *) PG_GETARG_POINTER(0);
	d = MemoryContextAllocZero(aggcontext, sizeof(FitData));
	d->capacity = 1024;
	d->points = MemoryContextAllocHuge(aggcontext, sizeof(RfmPoint) * d->capacity);
	return d;
}

static void
fit_append(FitData *d, double x, double y, double z)
{
	if (d->n == d->capacity)
	{
		d->capacity *= 2;
		d->points = repalloc_huge(d->points, sizeof(RfmPoint) * d->capacity);
	}
	d->points[d->n].x = x;
	d->points[d->n].tx = y;
	d->points[d->n].T = z;
	d->n++;
}

/* bgnbd_fit's transition: a customer's (frequency, recency, age); a row with a NULL is skipped. */
Datum
cm_bgnbd_add(PG_FUNCTION_ARGS)
{
	FitData    *d = fit_state(fcinfo);

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2) && !PG_ARGISNULL(3))
	{
		double		x = PG_GETARG_FLOAT8(1),
					tx = PG_GETARG_FLOAT8(2),
					T = PG_GETARG_FLOAT8(3);

		check_rfm(x, tx, T);
		fit_append(d, x, x > 0 ? tx : 0, T);
	}
	PG_RETURN_POINTER(d);
}

/* gamma_gamma_fit's transition: (frequency, mean value of the repeat purchases); x = 0 carries nothing. */
Datum
cm_gamma_gamma_add(PG_FUNCTION_ARGS)
{
	FitData    *d = fit_state(fcinfo);

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
	{
		double		x = PG_GETARG_FLOAT8(1),
					m = PG_GETARG_FLOAT8(2);

		if (!isfinite(x) || x < 0)
			invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
		if (x > 0)
		{
			if (!isfinite(m) || m <= 0)
				invalid("monetary_value", "must be a finite amount above 0 for a customer with repeat purchases", m);
			fit_append(d, x, log(m), m);
		}
	}
	PG_RETURN_POINTER(d);
}

static Datum
fit_json(StringInfo json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json->data));
}

static void
append_number(StringInfo json, const char *key, double value)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the fit has no finite \"%s\"", key),
				 errdetail("The data do not determine the model."),
				 errhint("Fit on more customers, with more than one purchase among them.")));
	appendStringInfo(json, "\"%s\": %.17g, ", key, value);
}

static void
append_outcome(StringInfo json, double ll, int64 n, int iterations, int evaluations, bool converged)
{
	append_number(json, "logLikelihood", ll);
	appendStringInfo(json, "\"customers\": " INT64_FORMAT ", \"iterations\": %d, \"evaluations\": %d, \"converged\": %s}",
					 n, iterations, evaluations, converged ? "true" : "false");
}

/*
 * bgnbd_fit's final function: {"r", "alpha", "a", "b", "logLikelihood",
 * "customers", "iterations", "converged"}; NULL over no rows.
 */
Datum
cm_bgnbd_final(PG_FUNCTION_ARGS)
{
	FitData    *d;
	double		max_T = 0,
				sum_x = 0,
				value,
				theta[4] = {0, 0, 0, 0};
	int			iterations;
	int			evaluations = 1;
	bool		converged;
	StringInfoData json;
	BgnbdParams p;

	if (PG_ARGISNULL(0) || ((FitData *) PG_GETARG_POINTER(0))->n == 0)
		PG_RETURN_NULL();
	d = (FitData *) PG_GETARG_POINTER(0);
	d->max_time = 0;
	for (int64 i = 0; i < d->n; i++)
	{
		RfmPoint   *pt = &d->points[i];

		max_T = Max(max_T, pt->T);
		sum_x += pt->x;
		if (d->max_time >= 0 && (pt->T != floor(pt->T) || pt->tx != floor(pt->tx) || pt->T > 1000000))
			d->max_time = -1;
	}
	if (sum_x == 0 || max_T == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit BG/NBD: %s", sum_x == 0 ? "no customer has a repeat purchase" : "every age is 0"),
				 errdetail("%lld customers.", (long long) d->n),
				 errhint("The model learns how often customers buy again from customers who did.")));
	/* the oldest customer is 10 time units old: alpha near 1 */
	d->scale = 10 / max_T;
	if (d->max_time >= 0)
	{
		d->max_time = (int) max_T;
		d->log_time = palloc(sizeof(double) * (d->max_time + 1));
	}
	/* equal customers become one point of their number */
	qsort(d->points, d->n, sizeof(RfmPoint), point_cmp);
	d->weights = palloc_extended(sizeof(double) * d->n, MCXT_ALLOC_HUGE);
	d->customers = d->n;
	{
		int64		kept = 0;

		for (int64 i = 0; i < d->n; i++)
		{
			if (kept > 0 && point_cmp(&d->points[kept - 1], &d->points[i]) == 0)
				d->weights[kept - 1] += 1;
			else
			{
				d->points[kept] = d->points[i];
				d->weights[kept++] = 1;
			}
		}
		d->n = kept;
	}
	converged = bfgs(bgnbd_objective, d, theta, 4, &iterations, &evaluations, &value);
	/* back to the caller's unit: rates scale with it, and so does the density of each purchase time */
	p.r = exp(theta[0]);
	p.alpha = exp(theta[1]) / d->scale;
	p.a = exp(theta[2]);
	p.b = exp(theta[3]);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_number(&json, "r", p.r);
	append_number(&json, "alpha", p.alpha);
	append_number(&json, "a", p.a);
	append_number(&json, "b", p.b);
	append_outcome(&json, -value * d->customers + sum_x * log(d->scale), (int64) d->customers, iterations, evaluations, converged);
	PG_RETURN_DATUM(fit_json(&json));
}

/*
 * gamma_gamma_fit's final function: {"p", "q", "gamma", "logLikelihood",
 * "customers", "iterations", "converged"}, over the customers with repeat
 * purchases; NULL when there is none.
 */
Datum
cm_gamma_gamma_final(PG_FUNCTION_ARGS)
{
	FitData    *d;
	double		mean = 0,
				log_mean,
				value,
				theta[3] = {0, 0, 0};
	int			iterations;
	int			evaluations = 1;
	bool		converged;
	StringInfoData json;

	if (PG_ARGISNULL(0) || ((FitData *) PG_GETARG_POINTER(0))->n == 0)
		PG_RETURN_NULL();
	d = (FitData *) PG_GETARG_POINTER(0);
	for (int64 i = 0; i < d->n; i++)
		mean += d->points[i].T / d->n;
	/* amounts in units of their mean: gamma near 1 */
	log_mean = log(mean);
	for (int64 i = 0; i < d->n; i++)
	{
		d->points[i].T /= mean;
		d->points[i].tx -= log_mean;
	}
	qsort(d->points, d->n, sizeof(RfmPoint), point_cmp);
	converged = bfgs(gamma_gamma_objective, d, theta, 3, &iterations, &evaluations, &value);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_number(&json, "p", exp(theta[0]));
	append_number(&json, "q", exp(theta[1]));
	append_number(&json, "gamma", exp(theta[2]) * mean);
	/* each customer's density of m scales by 1/mean */
	append_outcome(&json, -value * d->n - d->n * log_mean, d->n, iterations, evaluations, converged);
	PG_RETURN_DATUM(fit_json(&json));
}

/* ---- the conditional expectations -------------------------------------------- */

/*
 * The parameters of a fit, from its jsonb; the last ones read are kept in
 * fn_extra (one fit of each model), so that a query scoring every customer
 * with one fit parses it once.
 */
typedef struct ParamCache
{
	Jsonb	   *params;
	double		values[MAX_PARAMS];
} ParamCache;

static const double *
fit_params(FunctionCallInfo fcinfo, int which, Jsonb *params, const char *const *keys, int k)
{
	ParamCache *cache;

	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, 2 * sizeof(ParamCache));
	cache = &((ParamCache *) fcinfo->flinfo->fn_extra)[which];
	if (cache->params != NULL && VARSIZE(cache->params) == VARSIZE(params) &&
		memcmp(cache->params, params, VARSIZE(params)) == 0)
		return cache->values;
	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid params: must be a JSON object"),
				 errdetail("Field \"params\" is not an object."),
				 errhint("Pass the result of bgnbd_fit or gamma_gamma_fit."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
	for (int i = 0; i < k; i++)
	{
		JsonbValue	key;
		JsonbValue *v;
		double		value;

		key.type = jbvString;
		key.val.string.val = (char *) keys[i];
		key.val.string.len = strlen(keys[i]);
		v = findJsonbValueFromContainer(&params->root, JB_FOBJECT, &key);
		if (v == NULL || v->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid params: \"%s\" must be a number", keys[i]),
					 errdetail("Field \"params\" has no number \"%s\".", keys[i]),
					 errhint("Pass the result of bgnbd_fit or gamma_gamma_fit."),
					 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
		value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
		if (!(value > 0) || !isfinite(value))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid params: \"%s\" must be above 0", keys[i]),
					 errdetail("Field \"params\" has \"%s\" = %g.", keys[i], value),
					 errhint("Pass the result of bgnbd_fit or gamma_gamma_fit."),
					 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
		cache->values[i] = value;
	}
	if (cache->params != NULL)
		pfree(cache->params);
	cache->params = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(params));
	memcpy(cache->params, params, VARSIZE(params));
	return cache->values;
}

static BgnbdParams
bgnbd_params(FunctionCallInfo fcinfo, int arg)
{
	static const char *const keys[] = {"r", "alpha", "a", "b"};
	const double *v = fit_params(fcinfo, 0, PG_GETARG_JSONB_P(arg), keys, 4);
	BgnbdParams p = {v[0], v[1], v[2], v[3]};

	return p;
}

/* The Gamma-Gamma fit of argument arg: p, q, gamma. */
static const double *
gamma_gamma_params(FunctionCallInfo fcinfo, int arg)
{
	static const char *const keys[] = {"p", "q", "gamma"};

	return fit_params(fcinfo, 1, PG_GETARG_JSONB_P(arg), keys, 3);
}

/* (gamma + x m) p / (p x + q - 1), the expected value of an order */
static double
gamma_gamma_expected(const double *v, double x, double m)
{
	if (v[0] * x + v[1] <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid params: the expected value needs p * frequency + q above 1"),
				 errdetail("Field \"params\" has p = %g, q = %g; frequency is %g.", v[0], v[1], x),
				 errhint("With q at most 1 the mean order value of the population is infinite."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "params")));
	return (v[2] + x * m) * v[0] / (v[0] * x + v[1] - 1);
}

static double
check_t(double t)
{
	if (!isfinite(t) || t < 0)
		invalid("t", "must be a finite time, 0 or more", t);
	return t;
}

/* A customer's (frequency, recency, age) from arguments arg to arg + 2, checked. */
static void
rfm_args(FunctionCallInfo fcinfo, int arg, double *x, double *tx, double *T)
{
	*x = PG_GETARG_FLOAT8(arg);
	*tx = PG_GETARG_FLOAT8(arg + 1);
	*T = PG_GETARG_FLOAT8(arg + 2);
	check_rfm(*x, *tx, *T);
	if (*x == 0)
		*tx = 0;				/* no repeat purchase: the recency says nothing */
}

/*
 * The probability of no purchase in the next t.  A customer who is alive at
 * T stays alive until the next purchase, and given the data and alive has
 * lambda ~ Gamma(r+x, alpha+T), so
 *	 P(Y(t) = 0) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x).
 */
static double
bgnbd_no_purchase(const BgnbdParams *p, double t, double x, double tx, double T)
{
	double		alive = bgnbd_alive(p, x, tx, T);

	return 1 - alive + alive * exp(-(p->r + x) * log1p(t / (p->alpha + T)));
}

/* bgnbd_expected_purchases(params, t, frequency, recency, age) */
Datum
cm_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	BgnbdParams p = bgnbd_params(fcinfo, 0);
	double		t = check_t(PG_GETARG_FLOAT8(1));
	double		x,
				tx,
				T;

	rfm_args(fcinfo, 2, &x, &tx, &T);
	PG_RETURN_FLOAT8(bgnbd_expected(&p, t, x, tx, T));
}

/* bgnbd_probability_alive(params, frequency, recency, age) */
Datum
cm_bgnbd_probability_alive(PG_FUNCTION_ARGS)
{
	BgnbdParams p = bgnbd_params(fcinfo, 0);
	double		x,
				tx,
				T;

	rfm_args(fcinfo, 1, &x, &tx, &T);
	PG_RETURN_FLOAT8(bgnbd_alive(&p, x, tx, T));
}

/* bgnbd_probability_no_purchase(params, t, frequency, recency, age) */
Datum
cm_bgnbd_probability_no_purchase(PG_FUNCTION_ARGS)
{
	BgnbdParams p = bgnbd_params(fcinfo, 0);
	double		t = check_t(PG_GETARG_FLOAT8(1));
	double		x,
				tx,
				T;

	rfm_args(fcinfo, 2, &x, &tx, &T);
	PG_RETURN_FLOAT8(bgnbd_no_purchase(&p, t, x, tx, T));
}

/* gamma_gamma_expected_value(params, frequency, monetary_value): (gamma + x m) p / (p x + q - 1) */
Datum
cm_gamma_gamma_expected_value(PG_FUNCTION_ARGS)
{
	const double *v = gamma_gamma_params(fcinfo, 0);
	double		x = PG_GETARG_FLOAT8(1),
				m = PG_GETARG_FLOAT8(2);

	if (!isfinite(x) || x < 0)
		invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
	if (!isfinite(m) || m < 0)
		invalid("monetary_value", "must be a finite amount, 0 or more", m);
	PG_RETURN_FLOAT8(gamma_gamma_expected(v, x, m));
}

/* the next order date is left NULL when it is further than the predictions' year */
#define NEXT_ORDER_HORIZON 365

/* One customer's inputs to the predictions: the fits, the summary, the day and the rate. */
typedef struct CustomerInputs
{
	BgnbdParams p;
	const double *gg;
	double		x,
				tx,
				T,
				m,
				rate;
	DateADT		as_of_day;
} CustomerInputs;

/*
 * The arguments (bgnbd, gamma_gamma, frequency, recency, first_purchase,
 * monetary_value, as_of_day, discount_rate), checked; false when one but
 * monetary_value is NULL (no summary, or no usable fit: no prediction).
 */
static bool
customer_inputs(FunctionCallInfo fcinfo, CustomerInputs *in)
{
	for (int i = 0; i < 8; i++)
		if (PG_ARGISNULL(i) && i != 5)
			return false;
	in->p = bgnbd_params(fcinfo, 0);
	in->gg = gamma_gamma_params(fcinfo, 1);
	in->x = PG_GETARG_INT32(2);
	in->tx = PG_GETARG_INT32(3);
	in->as_of_day = PG_GETARG_DATEADT(6);
	/* days from the first purchase; never less than the recency (an as_of_day before the summary's) */
	in->T = Max((double) in->as_of_day - (double) PG_GETARG_DATEADT(4), in->tx);
	in->m = PG_ARGISNULL(5) ? 0 : PG_GETARG_FLOAT8(5);
	in->rate = PG_GETARG_FLOAT8(7);
	check_rfm(in->x, in->tx, in->T);
	if (!isfinite(in->m) || in->m < 0)
		invalid("monetary_value", "must be a finite amount, 0 or more", in->m);
	if (!isfinite(in->rate) || in->rate < 0)
		invalid("discount_rate", "must be a finite rate, 0 or more", in->rate);
	return true;
}

/*
 * The expected spend of the next 365 days: the expected orders (orders365,
 * already computed) times the expected value of an order, each month's
 * orders discounted at (1 + rate)^(k/12) when the annual rate is above 0.
 */
static double
predicted_spend(const CustomerInputs *in, double orders365)
{
	double		orders = orders365;

	if (in->rate > 0)
	{
		double		before = 0;

		orders = 0;
		for (int k = 1; k <= 12; k++)
		{
			double		by_now = bgnbd_expected(&in->p, 365.0 * k / 12, in->x, in->tx, in->T);

			orders += (by_now - before) / pow(1 + in->rate, k / 12.0);
			before = by_now;
		}
	}
	return orders * gamma_gamma_expected(in->gg, in->x, in->m);
}

/*
 * clv_predictions(bgnbd, gamma_gamma, frequency, recency, first_purchase,
 *				   monetary_value, as_of_day, discount_rate): one customer's
 *	  predictions in days at as_of_day, the age running from the first
 *	  purchase day (docs/clv.md): (probability_alive, expected_orders_365,
 *	  churn_probability, predicted_ltv, expected_next_order_date,
 *	  average_days_between_orders).
 *
 * The next order date is the day by which the customer has an even chance
 * of having ordered again: the median of the time to the next order,
 * counting the chance that the customer is gone, P(alive) (1 - S(t)) = 1/2
 * with S(t) = ((alpha+T)/(alpha+T+t))^(r+x) the chance that an alive
 * customer has not ordered by t; NULL when that day is more than 365 days
 * away (or never comes: P(alive) <= 1/2).
 */
Datum
cm_clv_predictions(PG_FUNCTION_ARGS)
{
	CustomerInputs in;
	double		alive,
				orders,
				wait;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false};

	if (!customer_inputs(fcinfo, &in))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "clv_predictions must return a record");
	alive = bgnbd_alive(&in.p, in.x, in.tx, in.T);
	orders = bgnbd_expected(&in.p, 365, in.x, in.tx, in.T);
	wait = alive > 0.5 ? (in.p.alpha + in.T) * expm1(-log1p(-0.5 / alive) / (in.p.r + in.x)) : INFINITY;

	values[0] = Float8GetDatum(alive);
	values[1] = Float8GetDatum(orders);
	values[2] = Float8GetDatum(bgnbd_no_purchase(&in.p, 90, in.x, in.tx, in.T));
	values[3] = Float8GetDatum(predicted_spend(&in, orders));
	if (wait <= NEXT_ORDER_HORIZON)
		values[4] = DateADTGetDatum(in.as_of_day + (DateADT) ceil(wait));
	else
		nulls[4] = true;
	if (in.x > 0)
		values[5] = Float8GetDatum(in.tx / in.x);
	else
		nulls[5] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * clv_prediction(<clv_predictions' arguments>, field integer): one of the
 * predictions, computing only what it needs (a segment or a sort on
 * probability_alive or churn_probability does not sum the expected
 * purchases' series): 1 probability_alive, 2 churn_probability, 3
 * predicted_ltv, 4 expected_orders_365.
 */
Datum
cm_clv_prediction(PG_FUNCTION_ARGS)
{
	CustomerInputs in;
	int			field = PG_ARGISNULL(8) ? 0 : PG_GETARG_INT32(8);

	if (!customer_inputs(fcinfo, &in))
		PG_RETURN_NULL();
	switch (field)
	{
		case 1:
			PG_RETURN_FLOAT8(bgnbd_alive(&in.p, in.x, in.tx, in.T));
		case 2:
			PG_RETURN_FLOAT8(bgnbd_no_purchase(&in.p, 90, in.x, in.tx, in.T));
		case 3:
			PG_RETURN_FLOAT8(predicted_spend(&in, bgnbd_expected(&in.p, 365, in.x, in.tx, in.T)));
		case 4:
			PG_RETURN_FLOAT8(bgnbd_expected(&in.p, 365, in.x, in.tx, in.T));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid field: %d is not a prediction", field),
			 errdetail("Field \"field\" is %d; 1 to 4 are.", field),
			 errhint("This is an internal function of the CLV model."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "field")));
	PG_RETURN_NULL();			/* not reached */
}

/* hyp2f1(a, b, c, z), 0 <= z < 1: the series of this file, for the tests. */
Datum
cm_hyp2f1(PG_FUNCTION_ARGS)
{
	double		a = PG_GETARG_FLOAT8(0),
				b = PG_GETARG_FLOAT8(1),
				c = PG_GETARG_FLOAT8(2),
				z = PG_GETARG_FLOAT8(3);
	double		result;

	if (!(z >= 0 && z < 1))
		invalid("z", "must be in [0, 1)", z);
	result = hyp2f1_series(a, b, c, z);
	if (isnan(result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}
