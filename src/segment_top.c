/*-------------------------------------------------------------------------
 *
 * segment_top.c
 *	  The aggregate top_customers(total_spent, customer_id): the 20
 *	  customers of a group with the highest spend (ties: the higher id
 *	  first), for preview_segment.
 *
 * A preview counts a definition's members and shows the first 20 by spend.
 * Sorting the matches, or keeping them to count and sort, costs more than
 * the scan; this aggregate keeps only 20 entries per worker, so count(*) and
 * top_customers() run together in one parallel scan (combine, serialize and
 * deserialize functions).  Its state never grows with the data.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_top_customers_add);
PG_FUNCTION_INFO_V1(cm_top_customers_combine);
PG_FUNCTION_INFO_V1(cm_top_customers_serialize);
PG_FUNCTION_INFO_V1(cm_top_customers_deserialize);
PG_FUNCTION_INFO_V1(cm_top_customers_final);

#define TOP_N 20

typedef struct TopEntry
{
	Numeric		spent;			/* in the aggregate's memory context */
	pg_uuid_t	id;
} TopEntry;

typedef struct TopState
{
	int			n;				/* entries in use, best first */
	TopEntry	entries[TOP_N];
} TopState;

/* > 0 when a ranks before b: higher spend, then higher id */
static int
entry_cmp(Numeric a_spent, const pg_uuid_t *a_id, const TopEntry *b)
{
	int			c = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a_spent),
													  NumericGetDatum(b->spent)));

	if (c != 0)
		return c;
	return memcmp(a_id->data, b->id.data, UUID_LEN);
}

static TopState *
new_state(MemoryContext aggcontext)
{
	return (TopState *) MemoryContextAllocZero(aggcontext, sizeof(TopState));
}

/* Put an entry in its place if it is among the best TOP_N. */
static void
offer(TopState *state, Numeric spent, const pg_uuid_t *id, MemoryContext aggcontext)
{
	int			pos;
	Numeric		copy;
	Numeric		dropped = NULL;

	if (state->n == TOP_N && entry_cmp(spent, id, &state->entries[TOP_N - 1]) <= 0)
		return;
	pos = state->n < TOP_N ? state->n : TOP_N - 1;
	if (state->n == TOP_N)
		dropped = state->entries[TOP_N - 1].spent;
	while (pos > 0 && entry_cmp(spent, id, &state->entries[pos - 1]) > 0)
	{
		state->entries[pos] = state->entries[pos - 1];
		pos--;
	}
	copy = (Numeric) MemoryContextAlloc(aggcontext, VARSIZE_ANY(spent));
	memcpy(copy, spent, VARSIZE_ANY(spent));
	state->entries[pos].spent = copy;
	state->entries[pos].id = *id;
	if (state->n < TOP_N)
		state->n++;
	if (dropped != NULL)
		pfree(dropped);
}

static MemoryContext
aggregate_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", fn),
				 errdetail("It is a support function of the aggregate top_customers."),
				 errhint("Call top_customers(total_spent, customer_id) instead.")));
	return aggcontext;
}

/* top_customers_add(state internal, spent numeric, id uuid): NULLs are skipped */
Datum
cm_top_customers_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = aggregate_context(fcinfo, "top_customers_add");
	TopState   *state = PG_ARGISNULL(0) ? new_state(aggcontext) : (TopState *) PG_GETARG_POINTER(0);

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		offer(state, PG_GETARG_NUMERIC(1), PG_GETARG_UUID_P(2), aggcontext);
	PG_RETURN_POINTER(state);
}

Datum
cm_top_customers_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = aggregate_context(fcinfo, "top_customers_combine");
	TopState   *state;
	TopState   *other;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	other = (TopState *) PG_GETARG_POINTER(1);
	state = PG_ARGISNULL(0) ? new_state(aggcontext) : (TopState *) PG_GETARG_POINTER(0);
	for (int i = 0; i < other->n; i++)
		offer(state, other->entries[i].spent, &other->entries[i].id, aggcontext);
	PG_RETURN_POINTER(state);
}

/* bytea: the number of entries, then each entry's spend (text) and id */
Datum
cm_top_customers_serialize(PG_FUNCTION_ARGS)
{
	TopState   *state = (TopState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	(void) aggregate_context(fcinfo, "top_customers_serialize");
	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->n);
	for (int i = 0; i < state->n; i++)
	{
		pq_sendstring(&buf, DatumGetCString(DirectFunctionCall1(numeric_out,
																NumericGetDatum(state->entries[i].spent))));
		pq_sendbytes(&buf, (char *) state->entries[i].id.data, UUID_LEN);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
cm_top_customers_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = aggregate_context(fcinfo, "top_customers_deserialize");
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	TopState   *state = new_state(aggcontext);
	StringInfoData buf;
	int			n;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	n = pq_getmsgint(&buf, 4);
	if (n < 0 || n > TOP_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid top_customers state"),
				 errdetail("The state holds %d entries; at most %d are possible.", n, TOP_N),
				 errhint("The state is written by top_customers_serialize only.")));
	for (int i = 0; i < n; i++)
	{
		const char *spent = pq_getmsgstring(&buf);
		pg_uuid_t	id;

		memcpy(id.data, pq_getmsgbytes(&buf, UUID_LEN), UUID_LEN);
		offer(state, DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(spent),
														 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))),
			  &id, aggcontext);
	}
	pq_getmsgend(&buf);
	pfree(buf.data);
	PG_RETURN_POINTER(state);
}

/* uuid[], best first; empty for no rows */
Datum
cm_top_customers_final(PG_FUNCTION_ARGS)
{
	TopState   *state = PG_ARGISNULL(0) ? NULL : (TopState *) PG_GETARG_POINTER(0);
	int			n = state ? state->n : 0;
	Datum	   *ids = palloc(sizeof(Datum) * (n > 0 ? n : 1));

	for (int i = 0; i < n; i++)
		ids[i] = UUIDPGetDatum(&state->entries[i].id);
	PG_RETURN_ARRAYTYPE_P(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}
