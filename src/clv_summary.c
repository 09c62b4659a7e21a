/*-------------------------------------------------------------------------
 *
 * clv_summary.c
 *	  The shop's purchase summary for the CLV model: each
 *	  customer's repeat purchase days, recency, age and the mean value of
 *	  the repeat purchase days, as of a time, in days of the shop's time
 *	  zone, from the completed orders.
 *
 * As the lifetimes library counts them: the orders of one day are one
 * purchase (their amounts added); frequency is the number of purchase days
 * after the first, recency the days from the first purchase day to the
 * last, age the days from the first to the day of as_of, and the monetary
 * value the mean amount of the purchase days after the first (NULL without
 * one).
 *
 * Grouping 8,000,000 orders by customer and day with SQL costs a sort or a
 * hash of every order.  Here the orders come in the order of the index on
 * (customer_id, order_date), read backwards, to a DestReceiver that keeps
 * one customer at a time and writes that customer's row when the next
 * begins: one pass, nothing held but the row being built and the result's
 * tuplestore (which spills to disk past work_mem).  The day of an order is
 * taken in C with the zone looked up once (AT TIME ZONE looks the name up
 * for every row).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_clv_summary);

typedef struct SummaryReceiver
{
	DestReceiver pub;			/* first: the executor calls through it */
	Tuplestorestate *store;
	TupleDesc	result_desc;
	pg_tz	   *zone;			/* the shop's, for the day of each order */
	DateADT		as_of_day;
	bool		have;			/* a customer is being built */
	pg_uuid_t	customer;
	DateADT		first_day;
	DateADT		day;			/* the current purchase day */
	int			days;			/* purchase days so far */
	double		first_value;	/* the amount of the first purchase day */
	double		total;
	uint64		orders;
} SummaryReceiver;

static void
summary_emit(SummaryReceiver *r)
{
	Datum		values[6];
	bool		nulls[6] = {false};

	values[0] = UUIDPGetDatum(&r->customer);
	values[1] = Int32GetDatum(r->days - 1);
	values[2] = Int32GetDatum(r->day - r->first_day);
	values[3] = Int32GetDatum(r->as_of_day - r->first_day);
	if (r->days > 1)
		values[4] = Float8GetDatum((r->total - r->first_value) / (r->days - 1));
	else
		nulls[4] = true;
	values[5] = DateADTGetDatum(r->first_day);
	tuplestore_putvalues(r->store, r->result_desc, values, nulls);
}

/* The day of a time in a time zone (what (ts AT TIME ZONE zone)::date gives). */
static DateADT
local_day(TimestampTz ts, pg_tz *zone)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, &offset, &tm, &fsec, NULL, zone) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("an order date is out of range"),
				 errdetail("The purchase summary needs finite order dates."),
				 errhint("Correct the order's order_date.")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

/* One order: (customer_id, order_date, total_amount as float8). */
static bool
summary_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SummaryReceiver *r = (SummaryReceiver *) self;
	pg_uuid_t  *customer;
	DateADT		day;
	double		amount;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2])
		return true;
	customer = DatumGetUUIDP(slot->tts_values[0]);
	day = local_day(DatumGetTimestampTz(slot->tts_values[1]), r->zone);
	amount = DatumGetFloat8(slot->tts_values[2]);
	if ((r->orders++ & 0x3ff) == 0)
		CHECK_FOR_INTERRUPTS();
	if (!r->have || memcmp(customer, &r->customer, sizeof(pg_uuid_t)) != 0)
	{
		if (r->have)
			summary_emit(r);
		r->have = true;
		r->customer = *customer;
		r->first_day = r->day = day;
		r->days = 1;
		r->first_value = r->total = 0;
	}
	else if (day != r->day)
	{
		r->day = day;
		r->days++;
	}
	if (r->days == 1)
		r->first_value += amount;
	r->total += amount;
	return true;
}

static void
summary_startup(DestReceiver *self, int operation, TupleDesc desc)
{
}

static void
summary_shutdown(DestReceiver *self)
{
}

static void
summary_destroy(DestReceiver *self)
{
}

/*
 * clv_summary_rows(as_of timestamptz, as_of_day date, timezone text,
 *					customer_id uuid) returns setof (customer_id, frequency,
 *					recency, age, monetary_value, first_purchase): every
 *					customer's summary (or one customer's; none without a
 *					completed order by as_of).
 */
Datum
cm_clv_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SummaryReceiver r = {0};
	SPIExecuteOptions options = {0};
	StringInfoData query;
	char	   *as_of;
	char	   *zone;
	int			ret;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid as_of: must not be NULL"),
				 errdetail("Field \"as_of\" (or its day, or the shop's time zone) is NULL."),
				 errhint("This is an internal function of fit_clv_model.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	r.store = rsinfo->setResult;
	r.result_desc = rsinfo->setDesc;
	r.as_of_day = PG_GETARG_DATEADT(1);
	r.pub.receiveSlot = summary_receive;
	r.pub.rStartup = summary_startup;
	r.pub.rShutdown = summary_shutdown;
	r.pub.rDestroy = summary_destroy;
	r.pub.mydest = DestNone;

	/* every value a quoted literal: nothing of the arguments is SQL */
	as_of = DatumGetCString(DirectFunctionCall1(timestamptz_out, PG_GETARG_DATUM(0)));
	zone = text_to_cstring(PG_GETARG_TEXT_PP(2));
	r.zone = pg_tzset(zone);
	if (r.zone == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid time zone \"%s\"", zone),
				 errdetail("Field \"shop_timezone\" is not a time zone name."),
				 errhint("Set shop_timezone to a name of pg_timezone_names, such as Asia/Ho_Chi_Minh.")));
	initStringInfo(&query);
	appendStringInfo(&query,
					 "SELECT o.customer_id, o.order_date, o.total_amount::float8"
					 " FROM customer_mgmt.orders o WHERE o.status = 'completed' AND o.order_date <= %s::timestamptz",
					 quote_literal_cstr(as_of));
	if (!PG_ARGISNULL(3))
		appendStringInfo(&query, " AND o.customer_id = %s::uuid",
						 quote_literal_cstr(DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(3)))));

	/*
	 * backwards along (customer_id, order_date DESC): each customer's orders
	 * together, oldest first
	 */
	appendStringInfoString(&query, " ORDER BY o.customer_id DESC, o.order_date");

	SPI_connect();
	options.read_only = true;
	options.dest = &r.pub;
	ret = SPI_execute_extended(query.data, &options);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "the purchase summary's query failed: %s", SPI_result_code_string(ret));
	if (r.have)
		summary_emit(&r);
	SPI_finish();
	return (Datum) 0;
}
