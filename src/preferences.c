/*-------------------------------------------------------------------------
 *
 * preferences.c
 *	  A customer's purchase preferences (design section 6.2): favourite
 *	  categories and brands, and the preferred price range, as one
 *	  aggregate over the lines of the customer's completed orders.
 *
 * purchase_preferences(order_id, category, brand, unit_price_cents,
 * quantity) returns
 *	  {"favoriteCategories": [{"category", "orderCount", "totalSpent"}, ...],
 *	   "favoriteBrands": [{"brand", "orderCount", "totalSpent"}, ...],
 *	   "preferredPriceRange": {"min", "median", "max", "currency"}}
 * where a favourite is one of the top 3 names by the number of distinct
 * orders containing it, then spend, then name (bytewise), and the price
 * range is the 25th, 50th and 75th discrete percentile of the unit prices
 * of the lines (percentile_disc).  The same numbers as ranking and
 * percentile_disc in SQL, in one pass over a customer's lines without
 * sorting them: a full recalculation aggregates some 17 million lines, and
 * sorting them three times by text was most of its time.
 *
 * Amounts are whole cents (bigint), so sums are exact; they come out as
 * numerics with two decimals, as numeric(15,2) prints them.  A customer's
 * state lives in the aggregate's memory context and holds one entry per
 * distinct category and brand and one price per line.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(cm_preferences_accum);
PG_FUNCTION_INFO_V1(cm_preferences_final);

#define FAVOURITES	3

/* One category or brand of a customer: its orders and spend. */
typedef struct PrefEntry
{
	char	   *name;
	int64		spent_cents;
	int			norders;
	int			orders_alloc;
	pg_uuid_t  *orders;			/* distinct orders containing it */
} PrefEntry;

typedef struct PrefList
{
	int			n;
	int			alloc;
	PrefEntry  *entries;
} PrefList;

typedef struct PrefState
{
	PrefList	categories;
	PrefList	brands;
	int			nprices;
	int			prices_alloc;
	int64	   *prices;			/* unit price of every line, cents */
} PrefState;

static void
overflow(const char *name, int len)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("purchase preferences: spend on \"%.*s\" is out of range", len, name),
			 errdetail("A customer's spend on one name must stay below 92,233,720,368,547,758.07."),
			 errhint("Check the unit prices and quantities of the customer's order lines.")));
}

/* Count a line into the entry of its name, creating the entry. */
static void
pref_add(PrefList *list, const char *name, int len, const pg_uuid_t *order,
		 int64 amount)
{
	PrefEntry  *e = NULL;
	int			i;

	for (i = 0; i < list->n; i++)
	{
		if (strncmp(list->entries[i].name, name, len) == 0 &&
			list->entries[i].name[len] == '\0')
		{
			e = &list->entries[i];
			break;
		}
	}
	if (e == NULL)
	{
		if (list->n == list->alloc)
		{
			list->alloc = list->alloc == 0 ? 8 : list->alloc * 2;
			list->entries = list->entries == NULL
				? palloc(sizeof(PrefEntry) * list->alloc)
				: repalloc(list->entries, sizeof(PrefEntry) * list->alloc);
		}
		e = &list->entries[list->n++];
		e->name = pnstrdup(name, len);
		e->spent_cents = 0;
		e->norders = 0;
		e->orders_alloc = 4;
		e->orders = palloc(sizeof(pg_uuid_t) * e->orders_alloc);
	}
	if (pg_add_s64_overflow(e->spent_cents, amount, &e->spent_cents))
		overflow(name, len);
	for (i = 0; i < e->norders; i++)
	{
		if (memcmp(&e->orders[i], order, sizeof(pg_uuid_t)) == 0)
			return;
	}
	if (e->norders == e->orders_alloc)
	{
		e->orders_alloc *= 2;
		e->orders = repalloc(e->orders, sizeof(pg_uuid_t) * e->orders_alloc);
	}
	e->orders[e->norders++] = *order;
}

Datum
cm_preferences_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext oldcontext;
	PrefState  *state;
	pg_uuid_t  *order;
	int64		price;
	int32		quantity;
	int64		amount;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("purchase_preferences called in a non-aggregate context"),
				 errdetail("It is the transition function of an aggregate."),
				 errhint("Call customer_mgmt.purchase_preferences(...) as an aggregate.")));

	state = PG_ARGISNULL(0) ? NULL : (PrefState *) PG_GETARG_POINTER(0);
	/* a line without an order, price or quantity is no purchase */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		PG_RETURN_POINTER(state);
	order = PG_GETARG_UUID_P(1);
	price = PG_GETARG_INT64(4);
	quantity = PG_GETARG_INT32(5);
	if (price < 0 || quantity < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid order line: negative %s", price < 0 ? "unit price" : "quantity"),
				 errdetail("Order %s has a line with unit price %lld cents and quantity %d.",
						   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(order))),
						   (long long) price, quantity),
				 errhint("Order lines have CHECK constraints that forbid this; check the caller.")));

	if (pg_mul_s64_overflow(price, quantity, &amount))
		overflow("one line", 8);

	oldcontext = MemoryContextSwitchTo(aggcontext);
	if (state == NULL)
		state = palloc0(sizeof(PrefState));
	if (!PG_ARGISNULL(2))
	{
		text	   *t = PG_GETARG_TEXT_PP(2);

		pref_add(&state->categories, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), order, amount);
	}
	if (!PG_ARGISNULL(3))
	{
		text	   *t = PG_GETARG_TEXT_PP(3);

		pref_add(&state->brands, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), order, amount);
	}
	if (state->nprices == state->prices_alloc)
	{
		state->prices_alloc = state->prices_alloc == 0 ? 16 : state->prices_alloc * 2;
		state->prices = state->prices == NULL
			? palloc(sizeof(int64) * state->prices_alloc)
			: repalloc(state->prices, sizeof(int64) * state->prices_alloc);
	}
	state->prices[state->nprices++] = price;
	MemoryContextSwitchTo(oldcontext);

	PG_RETURN_POINTER(state);
}

/* more orders first, then more spend, then the name bytewise */
static int
pref_entry_cmp(const void *a, const void *b)
{
	const PrefEntry *x = (const PrefEntry *) a;
	const PrefEntry *y = (const PrefEntry *) b;

	if (x->norders != y->norders)
		return x->norders > y->norders ? -1 : 1;
	if (x->spent_cents != y->spent_cents)
		return x->spent_cents > y->spent_cents ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static void
append_cents(StringInfo buf, int64 cents)
{
	appendStringInfo(buf, "%lld.%02lld", (long long) (cents / 100), (long long) (cents % 100));
}

/* [{"<key>": name, "orderCount": n, "totalSpent": s}, ...], the top 3 */
static void
append_favourites(StringInfo buf, PrefList *list, const char *key)
{
	int			i;

	if (list->n > 1)
		qsort(list->entries, list->n, sizeof(PrefEntry), pref_entry_cmp);
	appendStringInfoChar(buf, '[');
	for (i = 0; i < list->n && i < FAVOURITES; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "{\"%s\": ", key);
		escape_json(buf, list->entries[i].name);
		appendStringInfo(buf, ", \"orderCount\": %d, \"totalSpent\": ", list->entries[i].norders);
		append_cents(buf, list->entries[i].spent_cents);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

/* percentile_disc: the first value at or past the fraction of the rows */
static int64
percentile_disc(const int64 *sorted, int n, double fraction)
{
	int64		rownum = (int64) ceil(fraction * n);

	if (rownum < 1)
		rownum = 1;
	return sorted[rownum - 1];
}

Datum
cm_preferences_final(PG_FUNCTION_ARGS)
{
	PrefState  *state;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (PrefState *) PG_GETARG_POINTER(0);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"favoriteCategories\": ");
	append_favourites(&buf, &state->categories, "category");
	appendStringInfoString(&buf, ", \"favoriteBrands\": ");
	append_favourites(&buf, &state->brands, "brand");
	appendStringInfoString(&buf, ", \"preferredPriceRange\": ");
	if (state->nprices == 0)
		appendStringInfoString(&buf, "null");
	else
	{
		qsort(state->prices, state->nprices, sizeof(int64), int64_cmp);
		appendStringInfoString(&buf, "{\"min\": ");
		append_cents(&buf, percentile_disc(state->prices, state->nprices, 0.25));
		appendStringInfoString(&buf, ", \"median\": ");
		append_cents(&buf, percentile_disc(state->prices, state->nprices, 0.5));
		appendStringInfoString(&buf, ", \"max\": ");
		append_cents(&buf, percentile_disc(state->prices, state->nprices, 0.75));
		appendStringInfoString(&buf, ", \"currency\": \"VND\"}");
	}
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
