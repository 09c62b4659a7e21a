/*-------------------------------------------------------------------------
 *
 * segment_lang.c
 *	  The segment language: a parser that compiles a
 *	  shop's query, such as
 *
 *		total_spent >= 10000000 AND last_order_date < -90d
 *
 *	  into a SQL predicate over the columns of a segment's attribute row
 *	  (alias "s").
 *
 * Nothing of the query reaches SQL as SQL: an attribute is looked up in the
 * whitelist below and replaced by the column expression written there; an
 * operator is one of a fixed set; a value is checked for its attribute's
 * kind and emitted as a literal quoted here (quote_literal_cstr) with an
 * explicit cast.  Relative dates (-30d, -8w, -6m, -1y) are resolved against
 * as_of here.  Any error is 22023 with the character position and what was
 * expected there.  Depth of nesting is bounded, so that no query can
 * exhaust the stack.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_compile_segment_query);
PG_FUNCTION_INFO_V1(cm_segment_language_attributes);
PG_FUNCTION_INFO_V1(cm_segment_query_segments);

/* deeper than any query a person writes; far from the stack's limit */
#define MAX_DEPTH 64
/* a query is a line or a paragraph, not a document */
#define MAX_QUERY_BYTES 10000
/* what one evaluation may cost: each condition is evaluated on every customer */
#define MAX_CONDITIONS 100

typedef enum AttrKind
{
	ATTR_NUMBER,				/* compared with numbers */
	ATTR_TIME,					/* compared with dates and relative dates */
	ATTR_TEXT,					/* compared with strings, folded */
	ATTR_WORD,					/* compared with strings, as written (codes) */
	ATTR_LIST,					/* CONTAINS a string, folded */
	ATTR_SEGMENT,				/* membership of a saved segment, by name */
	ATTR_ORDER_STATUS			/* an order's status (orders_placed), checked */
} AttrKind;

typedef struct Attribute
{
	const char *name;
	AttrKind	kind;
} Attribute;

/*
 * The attributes a query may name: each is a column of the same name of the
 * attribute row (the segments' view).  Kept sorted by name.
 */
static const Attribute attributes[] = {
	{"age", ATTR_NUMBER},
	{"average_order_value", ATTR_NUMBER},
	{"bounce_rate", ATTR_NUMBER},
	{"churn_probability", ATTR_NUMBER},
	{"churn_risk", ATTR_NUMBER},
	{"conversion_rate", ATTR_NUMBER},
	{"customer_email_domain", ATTR_WORD},
	{"customer_tags", ATTR_LIST},
	{"days_since_last_order", ATTR_NUMBER},
	{"email_subscription_status", ATTR_WORD},
	{"engagement_score", ATTR_NUMBER},
	{"favorite_brands", ATTR_LIST},
	{"favorite_categories", ATTR_LIST},
	{"first_order_date", ATTR_TIME},
	{"gender", ATTR_WORD},
	{"last_login_at", ATTR_TIME},
	{"last_order_date", ATTR_TIME},
	{"lifecycle_segment", ATTR_WORD},
	{"predicted_ltv", ATTR_NUMBER},
	{"probability_alive", ATTR_NUMBER},
	{"province", ATTR_TEXT},
	{"registered_at", ATTR_TIME},
	{"rfm_frequency", ATTR_NUMBER},
	{"rfm_group", ATTR_WORD},
	{"rfm_monetary", ATTR_NUMBER},
	{"rfm_recency", ATTR_NUMBER},
	{"segment", ATTR_SEGMENT},
	{"sms_subscription_status", ATTR_WORD},
	{"status", ATTR_WORD},
	{"total_orders", ATTR_NUMBER},
	{"total_sessions", ATTR_NUMBER},
	{"total_spent", ATTR_NUMBER},
};

typedef enum TokenType
{
	TOK_END,
	TOK_WORD,					/* attribute or keyword */
	TOK_NUMBER,
	TOK_STRING,
	TOK_RELATIVE,				/* -30d */
	TOK_OP,						/* = != <> < <= > >= */
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_COMMA
} TokenType;

typedef struct Token
{
	TokenType	type;
	int			start;			/* byte offset in the query */
	int			len;			/* bytes */
	char	   *text;			/* the token; a string's value unquoted */
} Token;

typedef struct Parser
{
	const char *query;
	int			pos;			/* byte offset of the next token */
	Token		tok;			/* the current token */
	TimestampTz as_of;
	StringInfoData out;
	int			depth;
	int			conditions;
	List	   *segments;		/* the names of the segments referred to */
} Parser;

/* Raise 22023 at the current token: "at character N: expected X". */
static void
fail_at(Parser *p, int byte_offset, const char *expected)
{
	int			character = pg_mbstrlen_with_len(p->query, byte_offset) + 1;
	const char *found = p->tok.type == TOK_END ? "the end of the query" : p->tok.text;

	/* what was found, as much as a message shows */
	found = pnstrdup(found, pg_mbcliplen(found, strlen(found), 40));

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid query: at character %d: expected %s", character, expected),
			 errdetail("Field \"query\" has \"%s\" at character %d.", found, character),
			 errhint("See docs/segments.md for the segment language."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "query")));
}

static bool
is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Read the next token into p->tok. */
static void
next_token(Parser *p)
{
	const char *q = p->query;
	int			i = p->pos;
	int			start;

	while (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r')
		i++;
	start = i;
	p->tok.start = start;
	if (q[i] == '\0')
	{
		p->tok.type = TOK_END;
		p->tok.len = 0;
		p->tok.text = "";
		p->pos = i;
		return;
	}
	if (q[i] == '\'')
	{
		StringInfoData s;

		initStringInfo(&s);
		i++;
		for (;;)
		{
			if (q[i] == '\0')
			{
				p->tok.type = TOK_STRING;
				p->tok.text = "an unterminated string";
				fail_at(p, start, "a closing quote (') for the string starting here");
			}
			if (q[i] == '\'')
			{
				if (q[i + 1] == '\'')
				{
					appendStringInfoChar(&s, '\'');
					i += 2;
					continue;
				}
				i++;
				break;
			}
			appendStringInfoChar(&s, q[i]);
			i++;
		}
		p->tok.type = TOK_STRING;
		p->tok.text = s.data;
	}
	else if (is_digit(q[i]) || ((q[i] == '-' || q[i] == '+' || q[i] == '.') && (is_digit(q[i + 1]) || q[i + 1] == '.')))
	{
		bool		dot = false;
		int			digits = 0;

		if (q[i] == '-' || q[i] == '+')
			i++;
		while (is_digit(q[i]) || (q[i] == '.' && !dot))
		{
			if (q[i] == '.')
				dot = true;
			else
				digits++;
			i++;
		}
		if ((q[start] == '-' || q[start] == '+') && !dot && (q[i] == 'd' || q[i] == 'w' || q[i] == 'm' || q[i] == 'y') &&
			!is_word_char(q[i + 1]))
		{
			i++;
			p->tok.type = TOK_RELATIVE;
		}
		else
			p->tok.type = TOK_NUMBER;
		p->tok.text = pnstrdup(q + start, i - start);
		if (digits == 0 || is_word_char(q[i]) || q[i] == '.')
		{
			p->pos = i;
			fail_at(p, start, "a number (digits, one decimal point) or a relative date such as -30d");
		}
	}
	else if (is_word_char(q[i]))
	{
		while (is_word_char(q[i]))
			i++;
		p->tok.type = TOK_WORD;
		p->tok.text = pnstrdup(q + start, i - start);
	}
	else
	{
		switch (q[i])
		{
			case '(':
				p->tok.type = TOK_LPAREN;
				i++;
				break;
			case ')':
				p->tok.type = TOK_RPAREN;
				i++;
				break;
			case ',':
				p->tok.type = TOK_COMMA;
				i++;
				break;
			case '=':
				p->tok.type = TOK_OP;
				i++;
				break;
			case '!':
				if (q[i + 1] != '=')
				{
					p->tok.type = TOK_OP;
					p->tok.text = "!";
					fail_at(p, start, "an operator (=, !=, <, <=, >, >=)");
				}
				p->tok.type = TOK_OP;
				i += 2;
				break;
			case '<':
				p->tok.type = TOK_OP;
				i += (q[i + 1] == '=' || q[i + 1] == '>') ? 2 : 1;
				break;
			case '>':
				p->tok.type = TOK_OP;
				i += q[i + 1] == '=' ? 2 : 1;
				break;
			default:
				{
					int			clen = pg_mblen(q + i);

					p->tok.type = TOK_OP;
					p->tok.text = pnstrdup(q + i, clen);
					fail_at(p, start, "an attribute, a value, an operator or a parenthesis");
				}
		}
		p->tok.text = pnstrdup(q + start, i - start);
	}
	p->tok.len = i - start;
	p->pos = i;
}

static bool
is_keyword(Parser *p, const char *keyword)
{
	return p->tok.type == TOK_WORD && pg_strcasecmp(p->tok.text, keyword) == 0;
}

static void
expect_keyword(Parser *p, const char *keyword, const char *expected)
{
	if (!is_keyword(p, keyword))
		fail_at(p, p->tok.start, expected);
	next_token(p);
}

static const Attribute *
find_attribute(const char *name)
{
	int			lo = 0;
	int			hi = lengthof(attributes) - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = pg_strcasecmp(name, attributes[mid].name);

		if (c == 0)
			return &attributes[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Whole days, weeks, months or years before as_of (-30d) or after it (+7d). */
static TimestampTz
relative_time(Parser *p)
{
	const char *t = p->tok.text;
	int			n = (int) strlen(t);
	char		unit = t[n - 1];
	long		amount;
	Interval	span;
	char	   *digits = pnstrdup(t + 1, n - 2);

	if (n - 2 > 6)
		fail_at(p, p->tok.start, "a relative date within 3,000 years");
	amount = strtol(digits, NULL, 10);
	/* within 3,000 years, and after the first day PostgreSQL can represent */
	if ((unit == 'd' && amount > 3000 * 366) || (unit == 'w' && amount > 3000 * 53) ||
		(unit == 'm' && amount > 3000 * 12) || (unit == 'y' && amount > 3000) ||
		p->as_of - MIN_TIMESTAMP < (TimestampTz) 3001 * 366 * USECS_PER_DAY)
		fail_at(p, p->tok.start, "a relative date within 3,000 years before as_of");
	memset(&span, 0, sizeof(span));
	switch (unit)
	{
		case 'd':
			span.day = (int32) amount;
			break;
		case 'w':
			span.day = (int32) (amount * 7);
			break;
		case 'm':
			span.month = (int32) amount;
			break;
		default:
			span.month = (int32) (amount * 12);
			break;
	}
	return DatumGetTimestampTz(DirectFunctionCall2(t[0] == '+' ? timestamptz_pl_interval : timestamptz_mi_interval,
												   TimestampTzGetDatum(p->as_of), IntervalPGetDatum(&span)));
}

/* A date 'YYYY-MM-DD' that exists. */
static bool
valid_date(const char *s)
{
	int			y,
				m,
				d;
	static const int days_in_month[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !is_digit(s[i]))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

static const char *const order_statuses[] = {"pending", "processing", "shipped", "completed", "cancelled", "refunded"};

/*
 * One value for an attribute of the given kind, emitted as a quoted literal
 * with its cast (a province as the key of the province it is now, once per
 * query, list
 * values folded by search_fold, as the columns are).
 */
static void
emit_value(Parser *p, AttrKind kind)
{
	StringInfo	out = &p->out;

	switch (kind)
	{
		case ATTR_NUMBER:
			if (p->tok.type != TOK_NUMBER)
				fail_at(p, p->tok.start, "a number");
			appendStringInfo(out, "%s::numeric", quote_literal_cstr(p->tok.text));
			break;
		case ATTR_TIME:
			if (p->tok.type == TOK_RELATIVE)
				appendStringInfo(out, "%s::timestamptz",
								 quote_literal_cstr(timestamptz_to_str(relative_time(p))));
			else if (is_keyword(p, "date"))
			{
				next_token(p);
				if (p->tok.type != TOK_STRING || !valid_date(p->tok.text))
					fail_at(p, p->tok.start, "a date as 'YYYY-MM-DD' after DATE");
				appendStringInfo(out, "%s::date", quote_literal_cstr(p->tok.text));
			}
			else
				fail_at(p, p->tok.start, "a date (DATE 'YYYY-MM-DD') or a relative date such as -30d");
			break;
		case ATTR_TEXT:
		case ATTR_LIST:
			if (p->tok.type != TOK_STRING)
				fail_at(p, p->tok.start, "a string in single quotes");
			appendStringInfo(out, kind == ATTR_TEXT ? "(SELECT customer_mgmt.province_key(%s))" : "customer_mgmt.search_fold(%s)",
							 quote_literal_cstr(p->tok.text));
			break;
		case ATTR_WORD:
		case ATTR_SEGMENT:
			if (p->tok.type != TOK_STRING)
				fail_at(p, p->tok.start, "a string in single quotes");
			appendStringInfo(out, "%s::text", quote_literal_cstr(p->tok.text));
			break;
		case ATTR_ORDER_STATUS:
			{
				bool		known = false;

				for (int k = 0; p->tok.type == TOK_STRING && k < (int) lengthof(order_statuses); k++)
					known |= strcmp(p->tok.text, order_statuses[k]) == 0;
				if (!known)
					fail_at(p, p->tok.start, "an order status (pending, processing, shipped, completed, cancelled, refunded)");
				appendStringInfo(out, "%s::text", quote_literal_cstr(p->tok.text));
			}
			break;
	}
	next_token(p);
}

/* ( value, ... ) after IN: column [NOT] IN (values) */
static void
emit_in_list(Parser *p, const char *column, AttrKind kind, bool negated)
{
	if (p->tok.type != TOK_LPAREN)
		fail_at(p, p->tok.start, "( after IN");
	next_token(p);
	appendStringInfo(&p->out, "(%s %sIN (", column, negated ? "NOT " : "");
	for (int n = 0;; n++)
	{
		CHECK_FOR_INTERRUPTS();
		/* each value costs as a condition does (the first is the condition) */
		if (n > 0 && ++p->conditions > MAX_CONDITIONS)
			fail_at(p, p->tok.start, "at most 100 conditions (each value of IN counts)");
		emit_value(p, kind);
		if (p->tok.type != TOK_COMMA)
			break;
		appendStringInfoString(&p->out, ", ");
		next_token(p);
	}
	if (p->tok.type != TOK_RPAREN)
		fail_at(p, p->tok.start, ", or ) in the list of IN");
	next_token(p);
	appendStringInfoString(&p->out, "))");
}

/*
 * Membership of the saved segment named by the current token (a string):
 * its assignments in force at as_of (customer_mgmt.segment_members), the
 * name kept for segment_query_segments.
 */
static void
emit_membership(Parser *p, bool negated)
{
	if (p->tok.type != TOK_STRING)
		fail_at(p, p->tok.start, "a segment's name in single quotes");
	p->segments = lappend(p->segments, pstrdup(p->tok.text));
	/* in FROM, the function is inlined: a (parallel) semi-join */
	appendStringInfo(&p->out, "(%ss.customer_id IN (SELECT m.m FROM customer_mgmt.segment_members(%s, %s::timestamptz) m (m)))",
					 negated ? "NOT " : "", quote_literal_cstr(p->tok.text),
					 quote_literal_cstr(timestamptz_to_str(p->as_of)));
	next_token(p);
}

/* segment = 'name' | segment != 'name' | segment [NOT] IN ('name', ...) */
static void
parse_membership(Parser *p)
{
	bool		negated = false;

	if (is_keyword(p, "not"))
	{
		negated = true;
		next_token(p);
	}
	if (is_keyword(p, "in"))
	{
		next_token(p);
		if (p->tok.type != TOK_LPAREN)
			fail_at(p, p->tok.start, "( after IN");
		next_token(p);
		appendStringInfo(&p->out, "(%s(", negated ? "NOT " : "");
		for (int n = 0;; n++)
		{
			CHECK_FOR_INTERRUPTS();
			if (n > 0 && ++p->conditions > MAX_CONDITIONS)
				fail_at(p, p->tok.start, "at most 100 conditions (each value of IN counts)");
			emit_membership(p, false);
			if (p->tok.type == TOK_COMMA)
			{
				appendStringInfoString(&p->out, " OR ");
				next_token(p);
				continue;
			}
			if (p->tok.type != TOK_RPAREN)
				fail_at(p, p->tok.start, ", or ) in the list of IN");
			next_token(p);
			break;
		}
		appendStringInfoString(&p->out, "))");
		return;
	}
	if (negated || p->tok.type != TOK_OP ||
		(strcmp(p->tok.text, "=") != 0 && strcmp(p->tok.text, "!=") != 0 && strcmp(p->tok.text, "<>") != 0))
		fail_at(p, p->tok.start, "=, != or IN after segment");
	negated = strcmp(p->tok.text, "=") != 0;
	next_token(p);
	emit_membership(p, negated);
}

/*
 * Functions with parameters, as Shopify writes them:
 *
 *	products_purchased MATCHES (category = 'x', date > -90d, count >= 2)
 *	orders_placed MATCHES (date > -30d, sum_amount >= 500000)
 *	anniversary MATCHES (attribute = 'date_of_birth', date BETWEEN today AND +7d)
 *
 * The first two become a set of customers from orders and their lines
 * (completed orders unless a status is given), grouped by customer, with
 * the conditions on count and sums as HAVING; when those conditions hold
 * for none at all (count < 2, count = 0), the customers without a matching
 * order are in the segment too, so the set is written as NOT IN of the
 * customers whose orders fail them.
 */
typedef enum FuncKind
{
	FN_ANNIVERSARY,
	FN_ORDERS,
	FN_PRODUCTS
}			FuncKind;

static const struct
{
	const char *name;
	FuncKind	kind;
}			functions[] = {
	{"anniversary", FN_ANNIVERSARY},
	{"orders_placed", FN_ORDERS},
	{"products_purchased", FN_PRODUCTS}
};

/* Emit into buf, not p->out, what fn(p) emits. */
static void
emit_into(Parser *p, StringInfo buf, void (*fn) (Parser *, const char *, AttrKind), const char *column, AttrKind kind)
{
	StringInfoData saved = p->out;

	p->out = *buf;
	fn(p, column, kind);
	*buf = p->out;
	p->out = saved;
}

/* column op value | column [NOT] BETWEEN a AND b | column [NOT] IN (...), for a parameter */
static void
parameter_comparison(Parser *p, const char *column, AttrKind kind)
{
	bool		negated = false;

	if (is_keyword(p, "not"))
	{
		negated = true;
		next_token(p);
	}
	if (is_keyword(p, "between") && kind != ATTR_LIST)
	{
		next_token(p);
		appendStringInfo(&p->out, "(%s %sBETWEEN ", column, negated ? "NOT " : "");
		emit_value(p, kind);
		expect_keyword(p, "and", "AND between the two values of BETWEEN");
		appendStringInfoString(&p->out, " AND ");
		emit_value(p, kind);
		appendStringInfoChar(&p->out, ')');
		return;
	}
	if (is_keyword(p, "in"))
	{
		next_token(p);
		emit_in_list(p, column, kind, negated);
		return;
	}
	if (negated || p->tok.type != TOK_OP)
		fail_at(p, p->tok.start, "an operator (=, !=, <, <=, >, >=, BETWEEN, IN)");
	{
		const char *op = strcmp(p->tok.text, "<>") == 0 ? "!=" : p->tok.text;

		if (kind == ATTR_LIST && strcmp(op, "=") != 0 && strcmp(op, "!=") != 0)
			fail_at(p, p->tok.start, "= or != for a name");
		appendStringInfo(&p->out, "(%s %s ", column, op);
		next_token(p);
		emit_value(p, kind);
		appendStringInfoChar(&p->out, ')');
	}
}

/* The sign of a number token (-1, 0, 1), exactly: no floating point. */
static int
number_sign(const char *t)
{
	int			sign = t[0] == '-' ? -1 : 1;

	for (; *t; t++)
		if (*t >= '1' && *t <= '9')
			return sign;
	return 0;
}

/* Whether 0 op a holds, a given by its sign. */
static bool
zero_holds_for(const char *op, int a)
{
	if (strcmp(op, "=") == 0)
		return a == 0;
	if (strcmp(op, "!=") == 0)
		return a != 0;
	if (strcmp(op, "<") == 0)
		return 0 < a;
	if (strcmp(op, "<=") == 0)
		return 0 <= a;
	if (strcmp(op, ">") == 0)
		return 0 > a;
	return 0 >= a;
}

/*
 * An aggregate's condition (count, sum_quantity, sum_amount): a comparison
 * or BETWEEN with numbers, into HAVING, and the same condition on the
 * customer's total of completed orders (total, when there is one) into
 * totals; whether it holds for 0 too.
 */
static bool
aggregate_condition(Parser *p, StringInfo having, const char *aggregate, StringInfo totals, const char *total)
{
	const char *op;
	int			a,
				b;
	char	   *low;

	if (having->len > 0)
		appendStringInfoString(having, " AND ");
	if (totals->len > 0)
		appendStringInfoString(totals, " AND ");
	if (total == NULL)
		total = "NULL";
	if (is_keyword(p, "between"))
	{
		next_token(p);
		if (p->tok.type != TOK_NUMBER)
			fail_at(p, p->tok.start, "a number");
		a = number_sign(p->tok.text);
		low = quote_literal_cstr(p->tok.text);
		next_token(p);
		expect_keyword(p, "and", "AND between the two values of BETWEEN");
		if (p->tok.type != TOK_NUMBER)
			fail_at(p, p->tok.start, "a number");
		b = number_sign(p->tok.text);
		appendStringInfo(having, "(%s BETWEEN %s::numeric AND %s::numeric)", aggregate, low, quote_literal_cstr(p->tok.text));
		appendStringInfo(totals, "(%s BETWEEN %s::numeric AND %s::numeric)", total, low, quote_literal_cstr(p->tok.text));
		next_token(p);
		return a <= 0 && 0 <= b;
	}
	if (p->tok.type != TOK_OP)
		fail_at(p, p->tok.start, "an operator (=, !=, <, <=, >, >=, BETWEEN) and a number");
	op = strcmp(p->tok.text, "<>") == 0 ? "!=" : p->tok.text;
	next_token(p);
	if (p->tok.type != TOK_NUMBER)
		fail_at(p, p->tok.start, "a number");
	a = number_sign(p->tok.text);
	appendStringInfo(having, "(%s %s %s::numeric)", aggregate, op, quote_literal_cstr(p->tok.text));
	appendStringInfo(totals, "(%s %s %s::numeric)", total, op, quote_literal_cstr(p->tok.text));
	next_token(p);
	return zero_holds_for(op, a);
}

/* anniversary's window: date = today | date BETWEEN today AND +Nd (days or weeks, up to a year) */
static int
anniversary_window(Parser *p)
{
	int			days = 0;

	if (p->tok.type == TOK_OP && strcmp(p->tok.text, "=") == 0)
	{
		next_token(p);
		expect_keyword(p, "today", "today after date =");
		return 0;
	}
	expect_keyword(p, "between", "= today or BETWEEN today AND +7d after date");
	expect_keyword(p, "today", "today after BETWEEN");
	expect_keyword(p, "and", "AND after today");
	if (p->tok.type != TOK_RELATIVE || p->tok.text[0] != '+')
		fail_at(p, p->tok.start, "a number of days or weeks ahead, such as +7d or +2w");
	{
		const char *t = p->tok.text;
		int			n = (int) strlen(t);
		char		unit = t[n - 1];
		long		amount = n - 2 <= 3 ? strtol(pnstrdup(t + 1, n - 2), NULL, 10) : 1000;

		if (unit == 'd')
			days = (int) amount;
		else if (unit == 'w')
			days = (int) amount * 7;
		else
			days = 1000;
		if (days > 366)
			fail_at(p, p->tok.start, "a window of at most 366 days (+366d, +52w)");
	}
	next_token(p);
	return days;
}

static void
parse_function(Parser *p, FuncKind fn)
{
	StringInfoData where,
				having,
				totals;
	bool		zero_holds = true;
	bool		aggregates = false;
	bool		status_given = false;
	bool		seen_date = false;
	const char *attribute = NULL;
	int			window = -1;

	initStringInfo(&where);
	initStringInfo(&having);
	initStringInfo(&totals);
	next_token(p);
	expect_keyword(p, "matches", "MATCHES after the function's name");
	if (p->tok.type != TOK_LPAREN)
		fail_at(p, p->tok.start, "( after MATCHES");
	next_token(p);
	for (;;)
	{
		char	   *param;

		CHECK_FOR_INTERRUPTS();
		if (++p->conditions > MAX_CONDITIONS)
			fail_at(p, p->tok.start, "at most 100 conditions");
		if (p->tok.type != TOK_WORD)
			fail_at(p, p->tok.start, fn == FN_ANNIVERSARY ? "a parameter (attribute, date)" :
					fn == FN_ORDERS ? "a parameter (date, count, sum_amount, status)" :
					"a parameter (category, brand, product, date, count, sum_quantity)");
		param = p->tok.text;
		next_token(p);
		if (fn == FN_ANNIVERSARY)
		{
			if (pg_strcasecmp(param, "attribute") == 0 && attribute == NULL)
			{
				if (p->tok.type != TOK_OP || strcmp(p->tok.text, "=") != 0)
					fail_at(p, p->tok.start, "= after attribute");
				next_token(p);
				if (p->tok.type == TOK_STRING && strcmp(p->tok.text, "date_of_birth") == 0)
					attribute = "s.date_of_birth";
				else if (p->tok.type == TOK_STRING && strcmp(p->tok.text, "first_order_date") == 0)
					attribute = "s.first_order_date";
				else if (p->tok.type == TOK_STRING && strcmp(p->tok.text, "registered") == 0)
					attribute = "(s.registered_at AT TIME ZONE (SELECT customer_mgmt.setting('shop_timezone')))::date";
				else
					fail_at(p, p->tok.start, "'date_of_birth', 'first_order_date' or 'registered'");
				next_token(p);
			}
			else if (pg_strcasecmp(param, "date") == 0 && window < 0)
				window = anniversary_window(p);
			else
				fail_at(p, p->tok.start, "attribute or date, each once");
		}
		else if (pg_strcasecmp(param, "date") == 0 && !seen_date)
		{
			seen_date = true;
			if (where.len > 0)
				appendStringInfoString(&where, " AND ");
			emit_into(p, &where, parameter_comparison, "o.order_date", ATTR_TIME);
		}
		else if (pg_strcasecmp(param, "count") == 0)
		{
			zero_holds &= aggregate_condition(p, &having, fn == FN_PRODUCTS ? "count(DISTINCT o.id)" : "count(*)",
											  &totals, fn == FN_ORDERS ? "s.total_orders" : NULL);
			aggregates = true;
		}
		else if (fn == FN_ORDERS && pg_strcasecmp(param, "sum_amount") == 0)
		{
			zero_holds &= aggregate_condition(p, &having, "coalesce(sum(o.total_amount), 0)", &totals, "s.total_spent");
			aggregates = true;
		}
		else if (fn == FN_PRODUCTS && pg_strcasecmp(param, "sum_quantity") == 0)
		{
			zero_holds &= aggregate_condition(p, &having, "coalesce(sum(i.quantity), 0)", &totals, NULL);
			aggregates = true;
		}
		else if (fn == FN_ORDERS && pg_strcasecmp(param, "status") == 0 && !status_given)
		{
			status_given = true;
			if (where.len > 0)
				appendStringInfoString(&where, " AND ");
			emit_into(p, &where, parameter_comparison, "o.status::text", ATTR_ORDER_STATUS);
		}
		else if (fn == FN_PRODUCTS && (pg_strcasecmp(param, "category") == 0 || pg_strcasecmp(param, "brand") == 0 ||
									   pg_strcasecmp(param, "product") == 0))
		{
			if (where.len > 0)
				appendStringInfoString(&where, " AND ");
			emit_into(p, &where, parameter_comparison,
					  pg_strcasecmp(param, "category") == 0 ? "customer_mgmt.search_fold(i.category)" :
					  pg_strcasecmp(param, "brand") == 0 ? "customer_mgmt.search_fold(i.brand)" :
					  "customer_mgmt.search_fold(i.product_name)", ATTR_LIST);
		}
		else
			fail_at(p, p->tok.start, "a parameter this function takes, each of date and status once");
		if (p->tok.type == TOK_COMMA)
		{
			next_token(p);
			continue;
		}
		if (p->tok.type != TOK_RPAREN)
			fail_at(p, p->tok.start, ", or ) after a parameter");
		next_token(p);
		break;
	}

	if (fn == FN_ANNIVERSARY)
	{
		if (attribute == NULL)
			fail_at(p, p->tok.start, "attribute = 'date_of_birth' (or 'first_order_date', 'registered') in MATCHES");
		{
			const char *as_of = quote_literal_cstr(timestamptz_to_str(p->as_of));

			/*
			 * the date's month and day among the window's anniversary days,
			 * computed once (an initplan); the date itself, today, is no
			 * anniversary
			 */
			appendStringInfo(&p->out,
							 "coalesce((date_part('month', %s) * 100 + date_part('day', %s))::integer"
							 " = ANY ((SELECT customer_mgmt.anniversary_days(customer_mgmt.shop_day(%s::timestamptz), %d))::integer[])"
							 " AND %s < (SELECT customer_mgmt.shop_day(%s::timestamptz)), false)",
							 attribute, attribute, as_of, window < 0 ? 0 : window, attribute, as_of);
		}
		return;
	}

	/*
	 * every completed order, counted and summed: the customer's own totals
	 * (total_orders, total_spent), which the analytics keep, rather than a
	 * pass over every order
	 */
	if (fn == FN_ORDERS && !status_given && !seen_date && aggregates)
	{
		appendStringInfo(&p->out, "(%s)", totals.data);
		return;
	}
	if (!status_given)
	{
		if (where.len > 0)
			appendStringInfoString(&where, " AND ");
		appendStringInfoString(&where, "o.status = 'completed'");
	}
	if (!aggregates)
		zero_holds = false;
	appendStringInfo(&p->out, "(s.customer_id %sIN (SELECT o.customer_id FROM customer_mgmt.orders o%s WHERE %s"
					 " GROUP BY o.customer_id%s%s%s))",
					 zero_holds ? "NOT " : "",
					 fn == FN_PRODUCTS ? " JOIN customer_mgmt.order_items i ON i.order_id = o.id" : "",
					 where.data,
					 having.len > 0 ? " HAVING " : "",
					 having.len > 0 ? (zero_holds ? "NOT (" : "(") : "",
					 having.len > 0 ? psprintf("%s)", having.data) : "");
}

static void parse_or(Parser *p);

/* attribute op value | [NOT] BETWEEN | [NOT] IN | IS [NOT] NULL | [NOT] CONTAINS */
static void
parse_condition(Parser *p)
{
	const Attribute *attr;
	StringInfo	out = &p->out;
	char		column[NAMEDATALEN + 8];
	bool		negated = false;

	if (++p->conditions > MAX_CONDITIONS)
		fail_at(p, p->tok.start, "at most 100 conditions");
	for (int f = 0; p->tok.type == TOK_WORD && f < (int) lengthof(functions); f++)
		if (pg_strcasecmp(p->tok.text, functions[f].name) == 0)
		{
			parse_function(p, functions[f].kind);
			return;
		}
	attr = p->tok.type == TOK_WORD ? find_attribute(p->tok.text) : NULL;
	if (attr == NULL)
		fail_at(p, p->tok.start, "an attribute (such as total_spent, last_order_date, province)");
	if (attr->kind == ATTR_TEXT)
		snprintf(column, sizeof(column), "s.%s_key", attr->name);
	else
		snprintf(column, sizeof(column), "s.%s", attr->name);
	next_token(p);
	if (attr->kind == ATTR_SEGMENT)
	{
		parse_membership(p);
		return;
	}

	if (is_keyword(p, "is"))
	{
		next_token(p);
		if (is_keyword(p, "not"))
		{
			negated = true;
			next_token(p);
		}
		expect_keyword(p, "null", "NULL after IS or IS NOT");
		appendStringInfo(out, "(%s IS %sNULL)", column, negated ? "NOT " : "");
		return;
	}
	if (is_keyword(p, "not"))
	{
		negated = true;
		next_token(p);
	}
	if (is_keyword(p, "between"))
	{
		if (attr->kind == ATTR_LIST)
			fail_at(p, p->tok.start, "CONTAINS after a list attribute");
		next_token(p);
		appendStringInfo(out, "(%s %sBETWEEN ", column, negated ? "NOT " : "");
		emit_value(p, attr->kind);
		expect_keyword(p, "and", "AND between the two values of BETWEEN");
		appendStringInfoString(out, " AND ");
		emit_value(p, attr->kind);
		appendStringInfoChar(out, ')');
		return;
	}
	if (is_keyword(p, "in"))
	{
		if (attr->kind == ATTR_LIST)
			fail_at(p, p->tok.start, "CONTAINS after a list attribute");
		next_token(p);
		emit_in_list(p, column, attr->kind, negated);
		return;
	}
	if (is_keyword(p, "contains"))
	{
		if (attr->kind != ATTR_LIST)
			fail_at(p, p->tok.start, "an operator: CONTAINS is for customer_tags, favorite_categories and favorite_brands");
		next_token(p);

		/*
		 * tags live in a table of their own: a semi-join (or, negated, an
		 * anti-join) on its key, rather than every customer's array; NOT IN
		 * of a subquery would not become an anti-join
		 */
		if (strcmp(attr->name, "customer_tags") == 0)
		{
			appendStringInfo(out, "(%sEXISTS (SELECT FROM customer_mgmt.customer_tags t"
							 " WHERE t.customer_id = s.customer_id AND t.tag_key = ",
							 negated ? "NOT " : "");
			emit_value(p, attr->kind);
			appendStringInfoString(out, "))");
			return;
		}
		appendStringInfo(out, "(%s%s @> ARRAY[", negated ? "NOT " : "", column);
		emit_value(p, attr->kind);
		appendStringInfoString(out, "])");
		return;
	}
	if (negated)
		fail_at(p, p->tok.start, "BETWEEN, IN or CONTAINS after NOT");
	if (p->tok.type != TOK_OP)
		fail_at(p, p->tok.start, attr->kind == ATTR_LIST ? "CONTAINS" :
				"an operator (=, !=, <, <=, >, >=, BETWEEN, IN, IS NULL)");
	if (attr->kind == ATTR_LIST)
		fail_at(p, p->tok.start, "CONTAINS after a list attribute");
	{
		const char *op = strcmp(p->tok.text, "<>") == 0 ? "!=" : p->tok.text;

		if ((attr->kind == ATTR_TEXT || attr->kind == ATTR_WORD) && strcmp(op, "=") != 0 && strcmp(op, "!=") != 0)
			fail_at(p, p->tok.start, "= or != for a text attribute");
		appendStringInfo(out, "(%s %s ", column, op);
		next_token(p);
		emit_value(p, attr->kind);
		appendStringInfoChar(out, ')');
	}
}

/* NOT not_expr | ( query ) | condition */
static void
parse_not(Parser *p)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (++p->depth > MAX_DEPTH)
		fail_at(p, p->tok.start, "at most 64 nested parentheses and NOTs");
	if (is_keyword(p, "not"))
	{
		next_token(p);
		appendStringInfoString(&p->out, "(NOT ");
		parse_not(p);
		appendStringInfoChar(&p->out, ')');
	}
	else if (p->tok.type == TOK_LPAREN)
	{
		next_token(p);
		appendStringInfoChar(&p->out, '(');
		parse_or(p);
		if (p->tok.type != TOK_RPAREN)
			fail_at(p, p->tok.start, ") or AND or OR");
		next_token(p);
		appendStringInfoChar(&p->out, ')');
	}
	else
		parse_condition(p);
	p->depth--;
}

static void
parse_and(Parser *p)
{
	parse_not(p);
	while (is_keyword(p, "and"))
	{
		next_token(p);
		appendStringInfoString(&p->out, " AND ");
		parse_not(p);
	}
}

static void
parse_or(Parser *p)
{
	parse_and(p);
	while (is_keyword(p, "or"))
	{
		next_token(p);
		appendStringInfoString(&p->out, " OR ");
		parse_and(p);
	}
}

/* Parse a whole query into p (its SQL in p->out), or 22023. */
static void
parse_query(Parser *p, text *query, TimestampTz as_of)
{
	if (VARSIZE_ANY_EXHDR(query) > MAX_QUERY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid query: longer than %d bytes", MAX_QUERY_BYTES),
				 errdetail("Field \"query\" has %d bytes.", (int) VARSIZE_ANY_EXHDR(query)),
				 errhint("Write the segment as a shorter query, or as criteria."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "query")));
	memset(p, 0, sizeof(*p));
	p->query = text_to_cstring(query);
	p->as_of = as_of;
	if (TIMESTAMP_NOT_FINITE(p->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid as_of: must be finite"),
				 errdetail("Field \"as_of\" is infinite."),
				 errhint("Pass the time relative dates count back from."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "as_of")));
	initStringInfo(&p->out);
	next_token(p);
	if (p->tok.type == TOK_END)
		fail_at(p, 0, "a condition such as total_spent > 1000000");
	parse_or(p);
	if (p->tok.type != TOK_END)
		fail_at(p, p->tok.start, "AND, OR or the end of the query");
}

/*
 * customer_mgmt.compile_segment_query(query text, as_of timestamptz)
 *		returns text
 *
 * The SQL predicate of a query, over the attribute row "s".  NULL query is
 * NULL.  22023 with the position for anything that is not the language.
 */
Datum
cm_compile_segment_query(PG_FUNCTION_ARGS)
{
	Parser		p;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid as_of: must not be NULL"),
				 errdetail("Field \"as_of\" must not be NULL."),
				 errhint("Pass the time relative dates count back from."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "as_of")));
	parse_query(&p, PG_GETARG_TEXT_PP(0), PG_GETARG_TIMESTAMPTZ(1));
	PG_RETURN_TEXT_P(cstring_to_text(p.out.data));
}

/*
 * customer_mgmt.segment_query_segments(query text) returns text[]
 *
 * The names of the saved segments a query refers to (segment = 'name'), as
 * written, in order; {} for none.  22023 as compile_segment_query.
 */
Datum
cm_segment_query_segments(PG_FUNCTION_ARGS)
{
	Parser		p;
	ArrayBuildState *names = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	ListCell   *lc;

	parse_query(&p, PG_GETARG_TEXT_PP(0), GetCurrentTransactionStartTimestamp());
	foreach(lc, p.segments)
		accumArrayResult(names, CStringGetTextDatum((char *) lfirst(lc)), false, TEXTOID, CurrentMemoryContext);
	PG_RETURN_DATUM(makeArrayResult(names, CurrentMemoryContext));
}

/*
 * customer_mgmt.segment_language_attributes() returns (name, kind): the
 * attributes a query may name, from the table above (the one definition
 * that get_segment_attributes, docs/segments.md's table and the segments'
 * view are checked against), and their kinds: number, time, text (folded),
 * code (as written), list (CONTAINS).
 */
Datum
cm_segment_language_attributes(PG_FUNCTION_ARGS)
{
	static const char *const kinds[] = {"number", "time", "text", "code", "list", "segment"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < (int) lengthof(attributes); i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(attributes[i].name);
		values[1] = CStringGetTextDatum(kinds[attributes[i].kind]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
