/*-------------------------------------------------------------------------
 *
 * clv.h
 *	  Declarations shared by the CLV model's files: the fits (clv.c),
 *	  BG/NBD's numerics for one customer (clv_bgnbd.c) and the
 *	  predictions' SQL functions (clv_predict.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLV_H
#define CLV_H

/*
 * A BG/NBD fit: r, alpha (the purchase rate's Gamma) unless poisson, then
 * one rate for all; a, b (the dropout probability's Beta) unless
 * fixed_dropout, then one dropout probability for all.
 */
typedef struct BgnbdModel
{
	double		r,
				alpha,
				a,
				b;
	double		rate;
	double		dropout;
	bool		poisson;
	bool		fixed_dropout;
} BgnbdModel;

/* the finest quadrature rule: a step of 1/4 halved this many times */
#define CM_RULE_MAX_LEVEL 7

/*
 * A quadrature rule for the expectation over p ~ Beta(a, beta) at a level:
 * n nodes p with weights w (total, and total_even over every other node,
 * the first one even when first_even: the rule of twice the step).
 */
typedef struct BetaRule
{
	double		a,
				beta;
	int			level;
	int			n;
	bool		first_even;
	double		total,
				total_even;
	double	   *p;
	double	   *w;
} BetaRule;

/*
 * Where the expected purchases get a rule when they need one: the caller's
 * cache, which gives a rule for (a, beta) at the level asked or finer, or
 * NULL.
 */
typedef struct BetaRuleSource
{
	const BetaRule *(*get) (void *context, double a, double beta, int level);
	void	   *context;
} BetaRuleSource;

extern double cm_bgnbd_hazard(const BgnbdModel *m, double x, double T, double t);
extern double cm_bgnbd_alive(const BgnbdModel *m, double x, double tx, double T);
extern double cm_bgnbd_no_purchase(const BgnbdModel *m, double t, double x, double tx, double T);
extern double cm_bgnbd_median_wait(const BgnbdModel *m, double x, double tx, double T);
extern double cm_bgnbd_expected(const BgnbdModel *m, double t, double x, double tx, double T,
								const BetaRuleSource *rules);
extern bool cm_beta_rule_build(BetaRule *rule, double a, double beta, int level, double *buffer, int capacity);
extern double cm_hyp2f1_series(double A, double B, double C, double z);

/* clv.c: 22023 naming a field of one customer's summary, and the summary's checks */
#if PG_VERSION_NUM >= 180000
extern pg_noreturn void cm_clv_invalid(const char *field, const char *message, double value);
#else
extern void cm_clv_invalid(const char *field, const char *message, double value) pg_attribute_noreturn();
#endif
extern void cm_clv_check_rfm(double x, double tx, double T);

#endif							/* CLV_H */
