/*-------------------------------------------------------------------------
 *
 * clv.c
 *	  The predicted lifetime value's fits : BG/NBD (Fader, Hardie
 *	  & Lee 2005, "Counting your customers the easy way") for the number of
 *	  future orders and the probability of being alive, with its boundary
 *	  models, and Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") for
 *	  the value of an order: maximum-likelihood fits on any data in any time
 *	  unit.  The predictions of one customer are clv_bgnbd.c's and
 *	  clv_predict.c's.
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
 * log-likelihood are reported in the caller's units.  A BG/NBD fit that
 * runs towards a boundary (no heterogeneity in the rate or the dropout)
 * takes the boundary's model (cm_bgnbd_final, docs/clv.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "clv.h"

PG_FUNCTION_INFO_V1(cm_bgnbd_add);
PG_FUNCTION_INFO_V1(cm_bgnbd_final);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_add);
PG_FUNCTION_INFO_V1(cm_gamma_gamma_final);

#define MAX_PARAMS 4
#define MAX_ITERATIONS 1000
#define GRADIENT_TOLERANCE 1e-7
#define GRADIENT_TOLERANCE_AT_REST 1e-5 /* when no step lowers f any more */
#define LOG_PARAM_BOUND 30.0	/* a parameter beyond e^30 or e^-30 has run
								 * off */
/* the boundaries of BG/NBD a model is at (FitData.mode; bgnbd_objective) */
#define MODE_ONE_RATE 1
#define MODE_ONE_DROPOUT 2
#define BOUNDARY_SIZE 1000.0	/* r or a + b past this: try the boundary's
								 * model */
#define BOUNDARY_WATCH 10000.0	/* ... and past this, stop the full model's
								 * search to */
#define BOUNDARY_LOG_LIKELIHOOD 1.92	/* ... and take it unless the full
										 * model is significantly better */

void
cm_clv_invalid(const char *field, const char *message, double value)
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

/* ---- BG/NBD ---------------------------------------------------------------- */

/* Checks one customer's summary (22023 naming the field). */
void
cm_clv_check_rfm(double x, double tx, double T)
{
	if (!isfinite(x) || x < 0)
		cm_clv_invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
	if (!isfinite(tx) || tx < 0)
		cm_clv_invalid("recency", "must be finite and 0 or more", tx);
	if (!isfinite(T) || T < tx)
		cm_clv_invalid("age", "must be finite and at least the recency", T);
	if (x > 0 && T <= 0)
		cm_clv_invalid("age", "must be more than 0 for a customer with repeat purchases", T);
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
	double		scale;			/* time unit of the fit: times are multiplied
								 * by it */
	int			max_time;		/* >= 0: every time is a whole number up to
								 * this */
	double	   *log_time;		/* then, per evaluation, log(alpha + scale *
								 * t) for each t */
	int			mode;			/* which boundaries the model is at
								 * (bgnbd_objective) */
} FitData;

/*
 * The parts of BG/NBD whose parameters, in the model of d->mode, have run
 * past size towards their boundary: MODE_ONE_RATE when r has (alpha with
 * it), MODE_ONE_DROPOUT when a + b has.
 */
static int
bgnbd_drifting(const double *theta, int mode, double size)
{
	int			parts = 0;
	int			j = (mode & MODE_ONE_RATE) ? 1 : 2;

	if (!(mode & MODE_ONE_RATE) && exp(theta[0]) > size)
		parts |= MODE_ONE_RATE;
	if (!(mode & MODE_ONE_DROPOUT) && exp(theta[j]) + exp(theta[j + 1]) > size)
		parts |= MODE_ONE_DROPOUT;
	return parts;
}

/*
 * A search stops when a part passes BOUNDARY_WATCH: the boundary's model is
 * then fitted (cm_bgnbd_final), and the search goes on only if that does
 * not explain the data as well.  (Running to the boundary itself takes
 * dozens of iterations of ever smaller gains.)
 */
static bool
bgnbd_runs_off(const double *theta, void *arg)
{
	return bgnbd_drifting(theta, ((FitData *) arg)->mode, BOUNDARY_WATCH) != 0;
}

/* the number of BG/NBD's parameters in a mode: two for each part, one at its boundary */
static int
bgnbd_dimension(int mode)
{
	return ((mode & 1) ? 1 : 2) + ((mode & 2) ? 1 : 2);
}

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
 * Mean negative log-likelihood of BG/NBD and its gradient in theta, the
 * model's parameters on the real line.  For a customer (x, tx, T):
 *	 LL = K + D + log(e^-H(T) + [x>0] rho e^-H(tx)),
 * the purchase rate's part K and H(tau), and the dropout's D and rho:
 *	 Gamma(r, alpha): K = lgamma(r+x) - lgamma(r) + r log alpha,
 *					  H(tau) = (r+x) log(alpha+tau), theta log r, log alpha;
 *	 at its boundary, one rate lambda (d->mode & MODE_ONE_RATE):
 *					  K = x log lambda, H(tau) = lambda tau, theta log lambda;
 *	 Beta(a, b):	  D = lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x),
 *					  rho = a/(b+x-1), theta log a, log b;
 *	 at its boundary, one dropout probability p (MODE_ONE_DROPOUT):
 *					  D = x log(1-p), rho = p/(1-p), theta logit p.
 */
/*
 * H(tau) of bgnbd_objective at a time of the data (in its units, tau):
 * lambda tau' with lambda >= 0 (one rate), else (r+x) log(alpha+tau') from
 * the table of whole times when there is one; tau' = scale tau.  *dh0 and
 * *dh1 are its derivatives in theta[0] and theta[1] (log r, log alpha).
 */
static inline void
hazard(const FitData *d, double lambda, double r, double alpha, double x, double tau, double *h, double *dh0,
	   double *dh1)
{
	double		scaled = d->scale * tau;

	if (lambda >= 0)
	{
		*h = lambda * scaled;
		*dh0 = *h;
		*dh1 = 0;
	}
	else
	{
		double		l = d->max_time >= 0 ? d->log_time[(int) tau] : log(alpha + scaled);

		*h = (r + x) * l;
		*dh0 = r * l;
		*dh1 = alpha * (r + x) / (alpha + scaled);
	}
}

static double
bgnbd_objective(const double *theta, double *grad, void *arg)
{
	const FitData *d = arg;
	bool		one_rate = (d->mode & MODE_ONE_RATE) != 0;
	bool		one_dropout = (d->mode & MODE_ONE_DROPOUT) != 0;
	int			j = one_rate ? 1 : 2;	/* where the dropout's parameters
										 * start */
	double		r = 0,
				alpha = 0,
				lambda = 0,
				a = 0,
				b = 0,
				p = 0;
	double		log_alpha = 0,
				lg_r = 0,
				dg_r = 0,
				lg_b = 0,
				lg_ab = 0,
				dg_b = 0,
				dg_ab = 0;
	double		ll = 0,
				g[MAX_PARAMS] = {0};
	double		x_now = -1;
	double		k = 0,
				dk0 = 0,
				dk1 = 0,
				dd0 = 0,
				dd1 = 0,
				log_rho = 0,
				drho0 = 0,
				drho1 = 0;

	if (one_rate)
		lambda = exp(theta[0]);
	else
	{
		r = exp(theta[0]);
		alpha = exp(theta[1]);
		log_alpha = theta[1];
		lg_r = lgamma(r);
		dg_r = digamma(r);
		/* whole times: one logarithm per time, not two per customer */
		for (int t = 0; t <= d->max_time; t++)
			d->log_time[t] = log(alpha + d->scale * t);
	}
	if (one_dropout)
		p = 1 / (1 + exp(-theta[j]));
	else
	{
		a = exp(theta[j]);
		b = exp(theta[j + 1]);
		lg_b = lgamma(b);
		lg_ab = lgamma(a + b);
		dg_b = digamma(b);
		dg_ab = digamma(a + b);
	}
	for (int64 i = 0; i < d->n; i++)
	{
		const RfmPoint *pt = &d->points[i];
		double		w = d->weights[i];
		double		x = pt->x;
		double		h_T,
					dh_T0,
					dh_T1 = 0;

		if (x != x_now)
		{
			/*
			 * the terms of a frequency, once per frequency (the rows are
			 * sorted by it)
			 */
			x_now = x;
			if (one_rate)
			{
				k = x * theta[0];
				dk0 = x;
			}
			else
			{
				k = lgamma(r + x) - lg_r + r * log_alpha;
				dk0 = r * (digamma(r + x) - dg_r + log_alpha);
				dk1 = r;
			}
			if (one_dropout)
			{
				k += x * log1p(-p);
				dd0 = -x * p;
				log_rho = theta[j];
				drho0 = 1;
			}
			else
			{
				k += lg_ab + lgamma(b + x) - lg_b - lgamma(a + b + x);
				dd0 = a * (dg_ab - digamma(a + b + x));
				dd1 = b * (dg_ab + digamma(b + x) - dg_b - digamma(a + b + x));
				if (x > 0)
				{
					log_rho = theta[j] - log(b + x - 1);
					drho0 = 1;
					drho1 = -b / (b + x - 1);
				}
			}
		}
		hazard(d, one_rate ? lambda : -1, r, alpha, x, pt->T, &h_T, &dh_T0, &dh_T1);
		ll += w * k;
		g[0] += w * dk0;
		if (!one_rate)
			g[1] += w * dk1;
		g[j] += w * dd0;
		if (!one_dropout)
			g[j + 1] += w * dd1;
		if (x > 0)
		{
			double		h_tx,
						dh_tx0,
						dh_tx1 = 0;
			double		a3,
						a4,
						e,
						w4;

			hazard(d, one_rate ? lambda : -1, r, alpha, x, pt->tx, &h_tx, &dh_tx0, &dh_tx1);
			a3 = -h_T;
			a4 = log_rho - h_tx;
			e = exp(-fabs(a3 - a4));
			ll += w * (Max(a3, a4) + log1p(e));
			/* the weight of the second alternative */
			w4 = a4 >= a3 ? 1 / (1 + e) : e / (1 + e);
			g[0] -= w * ((1 - w4) * dh_T0 + w4 * dh_tx0);
			if (!one_rate)
				g[1] -= w * ((1 - w4) * dh_T1 + w4 * dh_tx1);
			g[j] += w * w4 * drho0;
			if (!one_dropout)
				g[j + 1] += w * w4 * drho1;
		}
		else
		{
			ll -= w * h_T;
			g[0] -= w * dh_T0;
			if (!one_rate)
				g[1] -= w * dh_T1;
		}
	}
	for (int i = 0; i < bgnbd_dimension(d->mode); i++)
		grad[i] = -g[i] / d->customers;
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

/* true when theta has run towards a boundary far enough to try the boundary's model instead */
typedef bool (*Watch) (const double *theta, void *arg);

/*
 * Minimises f over theta (k values) by BFGS with a backtracking line search
 * (Armijo); theta starts at the first guess and ends at the minimum.
 * Converged: the largest gradient component is below GRADIENT_TOLERANCE
 * with every log-parameter within LOG_PARAM_BOUND.  It gives up, not
 * converged, after MAX_ITERATIONS, when no step lowers f, when a parameter
 * runs past the bound, or when ten steps in a row barely change f (the
 * maximum is at infinity: data that do not determine the model), or when
 * watch (if any) says theta runs towards a boundary.
 */
static bool
bfgs(Objective f, Watch watch, void *arg, double *theta, int k, int *iterations, int *evaluations, double *value)
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

		/*
		 * ten steps in a row that change f by less than 1e-13 of it: it
		 * drifts along a ridge
		 */
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
		if (watch != NULL && watch(theta, arg))
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

/*
 * The rows one fit keeps: 24 bytes each (up to twice that while the array
 * doubles) until the final function merges equal ones; this bounds a fit
 * to about 1 GB, 20 times the 1,000,000-customer shop.
 */
#define MAX_FIT_ROWS 20000000

static void
fit_append(FitData *d, double x, double y, double z)
{
	if (d->n >= MAX_FIT_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a fit takes at most %d rows", MAX_FIT_ROWS),
				 errdetail("Each row is kept until the fit ends (24 bytes; docs/clv.md)."),
				 errhint("Fit on a sample of the customers: the parameters of a random million are as good.")));
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

		cm_clv_check_rfm(x, tx, T);
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
			cm_clv_invalid("frequency", "must be a finite number of repeat purchases, 0 or more", x);
		if (x > 0)
		{
			if (!isfinite(m) || m <= 0)
				cm_clv_invalid("monetary_value", "must be a finite amount above 0 for a customer with repeat purchases", m);
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
 * bgnbd_fit's final function: {"r", "alpha", "a", "b", "atBoundary",
 * "logLikelihood", "customers", "iterations", "evaluations", "converged"};
 * NULL over no rows.  When the fit runs towards a boundary (r, or a + b,
 * past BOUNDARY_SIZE: the data show no heterogeneity in the purchase rate,
 * or in the dropout probability), the boundary's model is fitted too (one
 * rate, "purchaseRate", for r and alpha; one dropout probability,
 * "dropoutProbability", for a and b; or both) and taken when its
 * log-likelihood is within BOUNDARY_LOG_LIKELIHOOD of the full model's:
 * the parameters at infinity are then null and atBoundary names them.
 */
Datum
cm_bgnbd_final(PG_FUNCTION_ARGS)
{
	FitData    *d;
	double		max_T = 0,
				sum_x = 0;
	double		best[MAX_PARAMS] = {0, 0, 0, 0},
				best_value;
	int			iterations;
	int			evaluations = 1;
	bool		best_converged;
	int			best_mode;
	StringInfoData json;

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

	/*
	 * The model with both mixtures; then, while the model in hand runs
	 * towards a boundary, the boundary's model, taken unless the model in
	 * hand explains the data significantly better (a likelihood-ratio test at
	 * 5 %: BOUNDARY_LOG_LIKELIHOOD = 3.84 / 2); if it is not taken, the model
	 * in hand's search goes on to its maximum.
	 */
	best_mode = 0;
	d->mode = 0;
	best_converged = bfgs(bgnbd_objective, bgnbd_runs_off, d, best, 4, &iterations, &evaluations, &best_value);
	for (;;)
	{
		int			drifting = bgnbd_drifting(best, best_mode, BOUNDARY_SIZE);
		int			mode = best_mode | drifting;
		double		start[MAX_PARAMS];
		double		limit_value;
		int			more;
		bool		limit_converged;
		int			i = 0,
					j = 0;

		if (drifting == 0)
			break;
		/* from where the model in hand stopped: lambda = r/alpha, p = a/(a+b) */
		if (best_mode & MODE_ONE_RATE)
			start[j++] = best[i++];
		else if (mode & MODE_ONE_RATE)
		{
			start[j++] = best[i] - best[i + 1];
			i += 2;
		}
		else
		{
			start[j++] = best[i++];
			start[j++] = best[i++];
		}
		if (best_mode & MODE_ONE_DROPOUT)
			start[j++] = best[i++];
		else if (mode & MODE_ONE_DROPOUT)
			start[j++] = best[i] - best[i + 1];
		else
		{
			start[j++] = best[i];
			start[j++] = best[i + 1];
		}
		d->mode = mode;
		limit_converged = bfgs(bgnbd_objective, bgnbd_runs_off, d, start, j, &more, &evaluations, &limit_value);
		iterations += more;
		if (!(limit_converged || bgnbd_drifting(start, mode, BOUNDARY_WATCH) != 0) ||
			-limit_value * d->customers < -best_value * d->customers - BOUNDARY_LOG_LIKELIHOOD)
		{
			/* the model in hand, then, to its maximum */
			d->mode = best_mode;
			best_converged = bfgs(bgnbd_objective, NULL, d, best, bgnbd_dimension(best_mode), &more, &evaluations,
								  &best_value);
			iterations += more;
			break;
		}
		best_mode = mode;
		memcpy(best, start, sizeof(best));
		best_value = limit_value;
		best_converged = limit_converged;
	}

	/*
	 * back to the caller's unit: rates scale with it, and so does the density
	 * of each purchase time
	 */
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	{
		int			j = 0;

		if (best_mode & MODE_ONE_RATE)
		{
			appendStringInfoString(&json, "\"r\": null, \"alpha\": null, ");
			append_number(&json, "purchaseRate", exp(best[j++]) * d->scale);
		}
		else
		{
			append_number(&json, "r", exp(best[j++]));
			append_number(&json, "alpha", exp(best[j++]) / d->scale);
		}
		if (best_mode & MODE_ONE_DROPOUT)
		{
			appendStringInfoString(&json, "\"a\": null, \"b\": null, ");
			append_number(&json, "dropoutProbability", 1 / (1 + exp(-best[j++])));
		}
		else
		{
			append_number(&json, "a", exp(best[j++]));
			append_number(&json, "b", exp(best[j++]));
		}
		appendStringInfo(&json, "\"atBoundary\": [%s], ",
						 best_mode == 0 ? "" :
						 best_mode == MODE_ONE_RATE ? "\"r\", \"alpha\"" :
						 best_mode == MODE_ONE_DROPOUT ? "\"a\", \"b\"" : "\"r\", \"alpha\", \"a\", \"b\"");
	}
	append_outcome(&json, -best_value * d->customers + sum_x * log(d->scale), (int64) d->customers, iterations,
				   evaluations, best_converged);
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
	converged = bfgs(gamma_gamma_objective, NULL, d, theta, 3, &iterations, &evaluations, &value);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_number(&json, "p", exp(theta[0]));
	append_number(&json, "q", exp(theta[1]));
	append_number(&json, "gamma", exp(theta[2]) * mean);
	/* each customer's density of m scales by 1/mean */
	append_outcome(&json, -value * d->n - d->n * log_mean, d->n, iterations, evaluations, converged);
	PG_RETURN_DATUM(fit_json(&json));
}
