/*-------------------------------------------------------------------------
 *
 * clv_bgnbd.c
 *	  BG/NBD's predictions for one customer of (x, t_x, T) under a fit,
 *	  over the whole parameter space: the probability of being alive, the
 *	  expected number of purchases in the next t, the probability of none,
 *	  and the median wait for the next one, with the limiting models of
 *	  the boundaries (docs/clv.md, "Numerics").
 *
 * Given the data and alive, a customer's purchase rate is Gamma(r+x,
 * alpha+T) and the dropout probability Beta(a, b+x), independently; an
 * alive customer of rate lambda and dropout p makes (1 - e^(-lambda p t))/p
 * purchases in t on average.  So
 *	  E[Y(t)] = P(alive) E_p[(1 - e^(-G(p t)))/p],
 *	  G(t) = (r+x) log(1 + t/(alpha+T)),
 * G being the cumulative hazard of an alive customer's next purchase.  The
 * expectation over p is equation 10 of Fader, Hardie & Lee (2005) with its
 * Gauss hypergeometric function.  It is computed two ways, chosen by
 * region:
 *	- the hypergeometric series after Euler's transformation, where it ends
 *	  within SERIES_MAX_TERMS terms and the closed form's cancellation
 *	  leaves the result good to SERIES_TOLERANCE (moderate parameters: every
 *	  fit of real data we have seen);
 *	- otherwise quadrature of the expectation over p in the logit of p,
 *	  where the Beta density is smooth and log-concave for every a and b,
 *	  by the trapezoidal rule after a sinh map (exponential convergence;
 *	  large a and b, a near 1, a horizon far beyond alpha+T), its step
 *	  halved until the rule agrees with the rule of twice its step to
 *	  RULE_TOLERANCE.
 * The boundaries are models of their own, reached continuously: a, b ->
 * infinity with a/(a+b) = p fixed (one dropout probability for all) and
 * r, alpha -> infinity with r/alpha = lambda fixed (one purchase rate for
 * all, Poisson), where G(t) = lambda t.
 *
 * Nothing here allocates, reports or reads PostgreSQL state: a result that
 * cannot be computed is NaN, and the callers (clv.c) decide what it means.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "clv.h"

#define SERIES_MAX_TERMS 2000
#define SERIES_TOLERANCE 1e-11
#define RULE_TOLERANCE 1e-12
#define RULE_FIRST_STEP 0.25
#define RULE_LOG_CUTOFF (-46.0) /* e^-46: below 1e-20 of the peak */

/* G: the cumulative hazard over the next t of an alive customer observed to T */
double
cm_bgnbd_hazard(const BgnbdModel *m, double x, double T, double t)
{
	if (m->poisson)
		return m->rate * t;
	return (m->r + x) * log1p(t / (m->alpha + T));
}

/*
 * The inverse of G in t: the time by which an alive customer's hazard
 * reaches h.
 */
static double
hazard_inverse(const BgnbdModel *m, double x, double T, double h)
{
	if (m->poisson)
		return h / m->rate;
	return (m->alpha + T) * expm1(h / (m->r + x));
}

/* log(a/(b+x-1)), the log-odds of having dropped out at the last purchase against not */
static double
log_dropout_odds(const BgnbdModel *m, double x)
{
	if (m->fixed_dropout)
		return log(m->dropout) - log1p(-m->dropout);
	return log(m->a) - log(m->b + x - 1);
}

/*
 * P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) e^(G(T) - G(t_x))),
 * the hazards from the last purchase, so without cancellation: 1 without a
 * repeat purchase (dropout happens only at a purchase).
 */
double
cm_bgnbd_alive(const BgnbdModel *m, double x, double tx, double T)
{
	double		odds;

	if (x == 0)
		return 1;
	odds = log_dropout_odds(m, x) + cm_bgnbd_hazard(m, x, tx, T - tx);
	return odds > 700 ? 0 : 1 / (1 + exp(odds));
}

/* P(no purchase in the next t) = 1 - P(alive) + P(alive) e^-G(t) */
double
cm_bgnbd_no_purchase(const BgnbdModel *m, double t, double x, double tx, double T)
{
	double		alive = cm_bgnbd_alive(m, x, tx, T);

	return 1 - alive + alive * exp(-cm_bgnbd_hazard(m, x, T, t));
}

/*
 * The median of the time to the next purchase, counting the chance that the
 * customer is gone: P(alive) (1 - e^-G(t)) = 1/2; infinite when
 * P(alive) <= 1/2.
 */
double
cm_bgnbd_median_wait(const BgnbdModel *m, double x, double tx, double T)
{
	double		alive = cm_bgnbd_alive(m, x, tx, T);

	if (!(alive > 0.5))
		return INFINITY;
	return hazard_inverse(m, x, T, -log1p(-0.5 / alive));
}

/*
 * (1 - e^(-G(p t)))/p, the expected purchases in t of an alive customer who
 * drops out with p.  Where p t is below 1e-20 of alpha + T (nodes of a
 * rule far in the tail of a small a, where p t may be subnormal), by its
 * expansion G'(0) t (1 - (r+x+1) q/2), q = p t/(alpha+T) (Poisson:
 * lambda t (1 - lambda p t/2)).
 */
static double
alive_purchases(const BgnbdModel *m, double p, double t, double x, double T)
{
	if (m->poisson)
	{
		double		q = m->rate * p * t;

		return q < 1e-20 ? m->rate * t * (1 - q / 2) : -expm1(-q) / p;
	}
	else
	{
		double		s = t / (m->alpha + T);
		double		q = p * s;

		if (q < 1e-20)
			return (m->r + x) * s * (1 - (m->r + x + 1) * q / 2);
		return -expm1(-(m->r + x) * log1p(q)) / p;
	}
}

/*
 * The Gauss series of 2F1(A, B; C; z), 0 <= z < 1, within SERIES_MAX_TERMS
 * terms: false when it has not ended by then.  Ends when what is left is
 * below DBL_EPSILON of the sum: once A+n, B+n and C+n are positive, every
 * later ratio of successive terms, (A+m)(B+m)/((C+m)(m+1)) z, is at most
 * R = z max(1, (A+n)/(C+n)) max(1, (B+n)/(n+1)) (each factor moves
 * monotonically towards 1), and with R < 1 the tail is at most
 * term R/(1-R).  *abs_sum is the sum of the terms' magnitudes and *terms
 * their number, for the caller's bound on the rounding error.
 */
static bool
hyp2f1_terms(double A, double B, double C, double z, double *sum, double *abs_sum, int *terms)
{
	double		term = 1;

	*sum = 1;
	*abs_sum = 1;
	for (int n = 0; n < SERIES_MAX_TERMS; n++)
	{
		double		m = n + 1;	/* the next term's index */
		double		bound;

		*terms = n + 1;
		if (C + n == 0)
			return false;
		term *= (A + n) * (B + n) / ((C + n) * (n + 1)) * z;
		*sum += term;
		*abs_sum += fabs(term);
		if (term == 0)
			return true;
		if (A + m <= 0 || B + m <= 0 || C + m <= 0)
			continue;
		bound = z * Max(1, (A + m) / (C + m)) * Max(1, (B + m) / (m + 1));
		if (bound < 1 && fabs(term) * bound / (1 - bound) <= DBL_EPSILON * fabs(*sum))
			return true;
	}
	return false;
}

double
cm_hyp2f1_series(double A, double B, double C, double z)
{
	double		sum,
				abs_sum;
	int			terms;

	if (!hyp2f1_terms(A, B, C, z, &sum, &abs_sum, &terms))
		return NAN;
	return sum;
}

/*
 * E_p[(1 - e^(-G(p t)))/p] by the closed form of equation 10: with
 * C = a+b+x-1 and z = t/(alpha+T+t),
 *	  C/(a-1) (1 - (1-z)^(a-1) 2F1(C-r-x, a-1; C; z)),
 * NaN when the series does not end in time or the bound on its rounding
 * (each term carries up to 3n rounding errors of its products, then the
 * subtraction's cancellation) is above SERIES_TOLERANCE of the result.
 */
static double
expected_by_series(const BgnbdModel *m, double t, double x, double T)
{
	double		a = m->a;
	double		C = a + m->b + x - 1;
	double		z = t / (m->alpha + T + t);
	double		power,
				g,
				abs_sum,
				rest,
				error;
	int			terms;

	if (a == 1 || C <= 0 || !hyp2f1_terms(C - m->r - x, a - 1, C, z, &g, &abs_sum, &terms))
		return NAN;
	power = exp((a - 1) * log1p(-z));
	rest = 1 - power * g;
	error = DBL_EPSILON * (1 + power * (abs_sum * (3.0 * terms + 2) + fabs(g) * (2 + fabs((a - 1) * log1p(-z)))));
	/* rest has the sign of a - 1: the result is above 0 */
	if (!(rest * (a - 1) > 0) || error > SERIES_TOLERANCE * fabs(rest))
		return NAN;
	return C / (a - 1) * rest;
}

/*
 * log(1 + c (e^y - 1)) = log(c e^y + c'), c' = 1 - c given apart (no
 * cancellation): log1p's where e^y is representable, else
 * y + log(c) + log(1 + c'/c e^-y).
 */
static double
log_mix(double c, double c_other, double y)
{
	if (y > 30)
		return y + log(c) + log1p(c_other / c * exp(-y));
	return log1p(c * expm1(y));
}

/*
 * The log of the Beta(a, beta) density in u = logit(p), relative to its
 * peak at u* = log(a/beta), at u = u* + d:
 *	  a log(p/p*) + beta log((1-p)/(1-p*))
 *	  = -a log(1 + q* (e^-d - 1)) - beta log(1 + p* (e^d - 1)),
 * p* = a/(a+beta), q* = beta/(a+beta): no cancellation at the peak, and
 * finite far out (the tails of a small a or beta reach e^-d beyond any
 * double).
 */
static double
beta_log_density(double a, double beta, double ps, double qs, double d)
{
	return -a * log_mix(qs, ps, -d) - beta * log_mix(ps, qs, d);
}

/* p at u* + d: p* / (p* + q* e^-d), as its logarithm where e^-d overflows */
static double
beta_node(double ps, double qs, double d)
{
	return exp(-log_mix(qs, ps, -d)) * ps;
}

/*
 * A quadrature rule for E[f(p)], p ~ Beta(a, beta), at a level: the
 * trapezoidal rule of step h = RULE_FIRST_STEP / 2^level in v, where
 * u = logit(p) = u* + sigma sinh(v), sigma = min(sqrt(1/a + 1/beta), 1),
 * the density's width in u at its peak when below 1.  The sinh map turns
 * the density's exponential tails (p^a as p -> 0, (1-p)^beta as p -> 1)
 * into double-exponential ones, so the rule converges exponentially for
 * every a and beta; it is cut where the density falls below
 * e^RULE_LOG_CUTOFF of its peak.  (A wider sigma would sample the
 * integrand's own features, at p near 1/G'(0) t, too coarsely in a long
 * tail.)  Every other node is the rule of step 2h, and the evaluation
 * compares the two (expected_by_rule).  buffer holds 2 * capacity doubles;
 * false when the density does not sum, or when the nodes would not fit:
 * then rule->n is how many there are.
 */
bool
cm_beta_rule_build(BetaRule *rule, double a, double beta, int level, double *buffer, int capacity)
{
	double		ps = a / (a + beta),
				qs = beta / (a + beta),
				sigma = Min(sqrt(1 / a + 1 / beta), 1),
				h = RULE_FIRST_STEP / (1 << level),
				ends[2];
	int			lo,
				hi;

	if (!(a > 0) || !(beta > 0) || !isfinite(sigma) || level < 0 || level > CM_RULE_MAX_LEVEL)
		return false;

	/*
	 * where the density falls below the cut-off, each side (it is concave in
	 * u: bisection)
	 */
	for (int side = 0; side < 2; side++)
	{
		double		low = 0,
					high = 1,
					sign = side == 0 ? -1 : 1;

		while (high < 64 && beta_log_density(a, beta, ps, qs, sign * sigma * sinh(high)) > RULE_LOG_CUTOFF)
			high *= 2;
		for (int i = 0; i < 50; i++)
		{
			double		mid = (low + high) / 2;

			if (beta_log_density(a, beta, ps, qs, sign * sigma * sinh(mid)) > RULE_LOG_CUTOFF)
				low = mid;
			else
				high = mid;
		}
		ends[side] = high;
	}
	lo = -(int) ceil(ends[0] / h);
	hi = (int) ceil(ends[1] / h);
	rule->n = hi - lo + 1;
	if (rule->n > capacity)
		return false;			/* rule->n says how many would be needed */
	rule->p = buffer;
	rule->w = buffer + capacity;
	rule->first_even = (lo % 2 == 0);
	rule->total = 0;
	rule->total_even = 0;
	for (int i = lo; i <= hi; i++)
	{
		double		v = i * h;
		double		d = sigma * sinh(v);
		double		w = exp(beta_log_density(a, beta, ps, qs, d)) * cosh(v);

		rule->p[i - lo] = beta_node(ps, qs, d);
		rule->w[i - lo] = w;
		rule->total += w;
		if (i % 2 == 0)
			rule->total_even += w;
	}
	if (!(rule->total > 0) || !isfinite(rule->total) || !(rule->total_even > 0))
		return false;
	rule->a = a;
	rule->beta = beta;
	rule->level = level;
	return true;
}

/*
 * E_p[(1 - e^(-G(p t)))/p] by a rule for Beta(a, b+x); NaN when the rule of
 * twice the step does not agree with it to RULE_TOLERANCE: the caller asks
 * for a finer rule.
 */
static double
expected_by_rule(const BgnbdModel *m, const BetaRule *rule, double t, double x, double T)
{
	double		sum = 0,
				sum_even = 0,
				fine,
				coarse;

	for (int i = 0; i < rule->n; i++)
	{
		double		term = rule->w[i] * alive_purchases(m, rule->p[i], t, x, T);

		sum += term;
		if ((i % 2 == 0) == rule->first_even)
			sum_even += term;
	}
	fine = sum / rule->total;
	coarse = sum_even / rule->total_even;

	/*
	 * Each rule is normalised by its own sum of the density, so only the
	 * expectations are compared (the density's sums of a Beta of a and b in
	 * the billions differ by the rounding of its logarithm, which the
	 * normalisation cancels).
	 */
	if (fabs(fine - coarse) > RULE_TOLERANCE * fabs(fine))
		return NAN;
	return fine;
}

/*
 * E[Y(t) | x, t_x, T]: P(alive) times the expected purchases of an alive
 * customer (header comment), by the series where it is good, else by a
 * rule for Beta(a, b+x) that rules gives (the caller keeps them).  NaN
 * when neither gets there.
 */
double
cm_bgnbd_expected(const BgnbdModel *m, double t, double x, double tx, double T, const BetaRuleSource *rules)
{
	double		alive,
				e;

	if (t == 0)
		return 0;
	alive = cm_bgnbd_alive(m, x, tx, T);
	if (alive == 0)
		return 0;
	if (m->fixed_dropout)
		return alive * alive_purchases(m, m->dropout, t, x, T);
	e = m->poisson ? NAN : expected_by_series(m, t, x, T);

	/*
	 * else a rule, finer until it agrees with its own half (its cached level
	 * first)
	 */
	for (int level = 1; isnan(e) && level <= CM_RULE_MAX_LEVEL; level++)
	{
		const BetaRule *rule = rules->get(rules->context, m->a, m->b + x, level);

		if (rule == NULL)
			return NAN;
		e = expected_by_rule(m, rule, t, x, T);
		level = rule->level;
	}
	e *= alive;
	return isfinite(e) ? e : NAN;
}
