/*-------------------------------------------------------------------------
 *
 * preferences.c
 *	  A customer's purchase preferences (docs/analytics.md): favourite
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
 * distinct category and brand (with its distinct orders) and one price per
 * line.  A list of a few names, each in a few orders (most customers), is
 * searched in place; past PREF_LINEAR_NAMES names or PREF_LINEAR_ORDERS
 * orders of one name it gets two hash tables (names to entries; the
 * distinct (entry, order) pairs), so that a line costs constant time
 * however many orders and names the customer has: a wholesale buyer with
 * 100,000 lines is linear, not quadratic.  The tables are not made for
 * everyone: a run over every customer keeps hundreds of thousands of
 * states at once, and with a table each they did not fit in work_mem.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_preferences_accum);
PG_FUNCTION_INFO_V1(cm_preferences_final);
PG_FUNCTION_INFO_V1(cm_preferences_combine);
PG_FUNCTION_INFO_V1(cm_preferences_serialize);
PG_FUNCTION_INFO_V1(cm_preferences_deserialize);

#define FAVOURITES	3

/* a list is searched in place up to these sizes, then by its hash tables */
#define PREF_LINEAR_NAMES	8
#define PREF_LINEAR_ORDERS	16

/* One category or brand of a customer: its orders and spend. */
typedef struct PrefEntry
{
	char	   *name;
	int			name_len;
	int64		spent_cents;
	int			norders;
	int			orders_alloc;
	pg_uuid_t  *orders;			/* distinct orders containing it */
} PrefEntry;

/* names to entries: the key points at the entry's own copy of the name */
typedef struct PrefNameKey
{
	const char *name;
	int			len;
} PrefNameKey;

typedef struct PrefNameSlot
{
	PrefNameKey key;
	int			entry;			/* index into PrefList.entries */
	char		status;
} PrefNameSlot;

#define SH_PREFIX		prefnames
#define SH_ELEMENT_TYPE	PrefNameSlot
#define SH_KEY_TYPE		PrefNameKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	hash_bytes((const unsigned char *) (k).name, (k).len)
#define SH_EQUAL(tb, a, b)	((a).len == (b).len && memcmp((a).name, (b).name, (a).len) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* the distinct orders of each entry */
typedef struct PrefPairKey
{
	int32		entry;
	pg_uuid_t	order;
} PrefPairKey;

typedef struct PrefPairSlot
{
	PrefPairKey key;
	char		status;
} PrefPairSlot;

#define SH_PREFIX		prefpairs
#define SH_ELEMENT_TYPE	PrefPairSlot
#define SH_KEY_TYPE		PrefPairKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	hash_combine(hash_bytes_uint32((uint32) (k).entry), \
										 hash_bytes((const unsigned char *) (k).order.data, UUID_LEN))
#define SH_EQUAL(tb, a, b)	((a).entry == (b).entry && memcmp((a).order.data, (b).order.data, UUID_LEN) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct PrefList
{
	int			n;
	int			alloc;
	PrefEntry  *entries;
	prefnames_hash *names;		/* NULL while the list is searched in place */
	prefpairs_hash *pairs;
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

/*
 * The hash tables of a list that outgrew searching in place, filled with its
 * entries and their orders.  Allocates in the current memory context, which
 * is the state's.
 */
static void
pref_index(PrefList *list)
{
	list->names = prefnames_create(CurrentMemoryContext, list->n * 2, NULL);
	list->pairs = prefpairs_create(CurrentMemoryContext, list->n * PREF_LINEAR_ORDERS, NULL);
	for (int i = 0; i < list->n; i++)
	{
		PrefEntry  *e = &list->entries[i];
		PrefNameKey key = {e->name, e->name_len};
		bool		found;

		prefnames_insert(list->names, key, &found)->entry = i;
		for (int j = 0; j < e->norders; j++)
		{
			PrefPairKey pair;

			pair.entry = i;
			pair.order = e->orders[j];
			prefpairs_insert(list->pairs, pair, &found);
		}
	}
}

/*
 * The entry of a name, created when it is new.  Allocates in the current
 * memory context, which is the state's.
 */
static int
pref_entry(PrefList *list, const char *name, int len)
{
	PrefNameSlot *slot = NULL;
	PrefEntry  *e;
	bool		found;

	if (list->names == NULL)
	{
		for (int i = 0; i < list->n; i++)
			if (list->entries[i].name_len == len && memcmp(list->entries[i].name, name, len) == 0)
				return i;
		if (list->n >= PREF_LINEAR_NAMES)
			pref_index(list);
	}
	if (list->names != NULL)
	{
		PrefNameKey key = {name, len};

		slot = prefnames_insert(list->names, key, &found);
		if (found)
			return slot->entry;
	}

	if (list->n == list->alloc)
	{
		list->alloc = list->alloc == 0 ? 4 : list->alloc * 2;
		list->entries = list->entries == NULL
			? palloc(sizeof(PrefEntry) * list->alloc)
			: repalloc(list->entries, sizeof(PrefEntry) * list->alloc);
	}
	e = &list->entries[list->n];
	e->name = pnstrdup(name, len);
	e->name_len = len;
	e->spent_cents = 0;
	e->norders = 0;
	e->orders_alloc = 4;
	e->orders = palloc(sizeof(pg_uuid_t) * e->orders_alloc);
	if (slot != NULL)
	{
		/* the table keeps the entry's copy of the name, not the caller's */
		slot->key.name = e->name;
		slot->entry = list->n;
	}
	return list->n++;
}

/* Count spend into an entry. */
static void
pref_spend(PrefEntry *e, int64 amount)
{
	if (pg_add_s64_overflow(e->spent_cents, amount, &e->spent_cents))
		overflow(e->name, e->name_len);
}

/* Count an order into an entry of a list, once. */
static void
pref_order(PrefList *list, int entry, const pg_uuid_t *order)
{
	PrefEntry  *e = &list->entries[entry];
	bool		found;

	if (list->pairs == NULL)
	{
		for (int i = 0; i < e->norders; i++)
			if (memcmp(e->orders[i].data, order->data, UUID_LEN) == 0)
				return;
		if (e->norders >= PREF_LINEAR_ORDERS)
			pref_index(list);
	}
	if (list->pairs != NULL)
	{
		PrefPairKey key;

		key.entry = entry;
		key.order = *order;
		prefpairs_insert(list->pairs, key, &found);
		if (found)
			return;
	}
	if (e->norders == e->orders_alloc)
	{
		e->orders_alloc *= 2;
		e->orders = repalloc(e->orders, sizeof(pg_uuid_t) * e->orders_alloc);
	}
	e->orders[e->norders++] = *order;
}

/* Count a line into the entry of its name. */
static void
pref_line(PrefList *list, text *name, const pg_uuid_t *order, int64 amount)
{
	int			entry = pref_entry(list, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));

	pref_spend(&list->entries[entry], amount);
	pref_order(list, entry, order);
}

static void
pref_add_price(PrefState *state, int64 price)
{
	if (state->nprices == state->prices_alloc)
	{
		state->prices_alloc = state->prices_alloc == 0 ? 16 : state->prices_alloc * 2;
		state->prices = state->prices == NULL
			? palloc(sizeof(int64) * state->prices_alloc)
			: repalloc(state->prices, sizeof(int64) * state->prices_alloc);
	}
	state->prices[state->nprices++] = price;
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

	/*
	 * A line without an order, price or quantity is no purchase.  Before the
	 * first purchase there is no state: the result is SQL NULL, never a NULL
	 * pointer that the final, serialise and combine functions would take for
	 * a state.
	 */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
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
		pref_line(&state->categories, PG_GETARG_TEXT_PP(2), order, amount);
	if (!PG_ARGISNULL(3))
		pref_line(&state->brands, PG_GETARG_TEXT_PP(3), order, amount);
	pref_add_price(state, price);
	MemoryContextSwitchTo(oldcontext);

	PG_RETURN_POINTER(state);
}

/*
 * Parallel aggregation: workers aggregate parts of the lines and the leader
 * combines their states.  A customer's order may be split between workers,
 * so the order ids travel with the states and are counted once.
 */
static void
pref_merge_list(PrefList *into, const PrefList *from)
{
	int			i,
				j;

	for (i = 0; i < from->n; i++)
	{
		const PrefEntry *f = &from->entries[i];
		int			entry = pref_entry(into, f->name, f->name_len);

		pref_spend(&into->entries[entry], f->spent_cents);
		for (j = 0; j < f->norders; j++)
			pref_order(into, entry, &f->orders[j]);
	}
}

Datum
cm_preferences_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext oldcontext;
	PrefState  *into;
	PrefState  *from;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "purchase_preferences combine function called in a non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	from = (PrefState *) PG_GETARG_POINTER(1);

	oldcontext = MemoryContextSwitchTo(aggcontext);
	into = PG_ARGISNULL(0) ? palloc0(sizeof(PrefState)) : (PrefState *) PG_GETARG_POINTER(0);
	pref_merge_list(&into->categories, &from->categories);
	pref_merge_list(&into->brands, &from->brands);
	for (i = 0; i < from->nprices; i++)
		pref_add_price(into, from->prices[i]);
	MemoryContextSwitchTo(oldcontext);

	PG_RETURN_POINTER(into);
}

static void
pref_send_list(StringInfo buf, const PrefList *list)
{
	int			i;

	pq_sendint32(buf, list->n);
	for (i = 0; i < list->n; i++)
	{
		const PrefEntry *e = &list->entries[i];

		pq_sendint32(buf, e->name_len);
		pq_sendbytes(buf, e->name, e->name_len);
		pq_sendint64(buf, e->spent_cents);
		pq_sendint32(buf, e->norders);
		pq_sendbytes(buf, (const char *) e->orders, sizeof(pg_uuid_t) * e->norders);
	}
}

Datum
cm_preferences_serialize(PG_FUNCTION_ARGS)
{
	PrefState  *state = (PrefState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			i;

	pq_begintypsend(&buf);
	pref_send_list(&buf, &state->categories);
	pref_send_list(&buf, &state->brands);
	pq_sendint32(&buf, state->nprices);
	for (i = 0; i < state->nprices; i++)
		pq_sendint64(&buf, state->prices[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
pref_recv_list(StringInfo buf, PrefList *list)
{
	int			n = pq_getmsgint(buf, 4);
	int			i;

	for (i = 0; i < n; i++)
	{
		int			len = pq_getmsgint(buf, 4);
		const char *name = pq_getmsgbytes(buf, len);
		int			entry = pref_entry(list, name, len);
		int			norders;
		int			j;

		pref_spend(&list->entries[entry], pq_getmsgint64(buf));
		norders = pq_getmsgint(buf, 4);
		for (j = 0; j < norders; j++)
		{
			pg_uuid_t	order;

			memcpy(&order, pq_getmsgbytes(buf, sizeof(pg_uuid_t)), sizeof(pg_uuid_t));
			pref_order(list, entry, &order);
		}
	}
}

Datum
cm_preferences_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	PrefState  *state;
	int			n,
				i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "purchase_preferences deserialize function called in a non-aggregate context");
	buf.data = VARDATA_ANY(data);
	buf.len = VARSIZE_ANY_EXHDR(data);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	state = palloc0(sizeof(PrefState));
	pref_recv_list(&buf, &state->categories);
	pref_recv_list(&buf, &state->brands);
	n = pq_getmsgint(&buf, 4);
	for (i = 0; i < n; i++)
		pref_add_price(state, pq_getmsgint64(&buf));
	pq_getmsgend(&buf);
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
