/*-------------------------------------------------------------------------
 *
 * demo.c
 *	  Deterministic data of the demo shop: pseudo-random numbers, UUIDs and
 *	  the catalogue its orders are made of.
 *
 * The demo-shop generator (sql: generate_demo_shop) must give the same
 * data for the same seed however the rows are produced: in any order, in
 * several connections at once, or by parallel workers.  So instead of a
 * random stream it uses a hash: every value is a pure function of
 * (seed, stream, key), where the stream says what is being drawn (a
 * family name, an order date, ...) and the key says for whom (customer
 * number, order number, ...).  The hash is SplitMix64's finaliser, which
 * passes the usual statistical test batteries and costs a few cycles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(cm_demo_random);
PG_FUNCTION_INFO_V1(cm_demo_uuid);
PG_FUNCTION_INFO_V1(cm_demo_items);
PG_FUNCTION_INFO_V1(cm_demo_order_total);

static inline uint64
mix64(uint64 z)
{
	z += UINT64CONST(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline uint64
demo_hash(int64 seed, int32 stream, int64 key)
{
	uint64		h;

	h = mix64((uint64) seed);
	h = mix64(h ^ (uint64) (uint32) stream);
	return mix64(h ^ (uint64) key);
}

/*
 * customer_mgmt.demo_random(seed bigint, stream int, key bigint)
 *		returns double precision in [0, 1)
 */
Datum
cm_demo_random(PG_FUNCTION_ARGS)
{
	int64		seed = PG_GETARG_INT64(0);
	int32		stream = PG_GETARG_INT32(1);
	int64		key = PG_GETARG_INT64(2);
	uint64		h = demo_hash(seed, stream, key);

	/* the top 53 bits make an exactly representable double in [0, 1) */
	PG_RETURN_FLOAT8((double) (h >> 11) * (1.0 / 9007199254740992.0));
}

/*
 * customer_mgmt.demo_uuid(seed bigint, stream int, key bigint) returns uuid
 *
 * A version-4-shaped UUID whose 122 free bits come from two hashes.
 */
Datum
cm_demo_uuid(PG_FUNCTION_ARGS)
{
	int64		seed = PG_GETARG_INT64(0);
	int32		stream = PG_GETARG_INT32(1);
	int64		key = PG_GETARG_INT64(2);
	pg_uuid_t  *uuid = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	uint64		hi = demo_hash(seed, stream, key);
	uint64		lo = demo_hash(seed, stream ^ 0x5bd1e995, key);
	int			i;

	for (i = 0; i < 8; i++)
	{
		uuid->data[i] = (unsigned char) (hi >> (56 - 8 * i));
		uuid->data[8 + i] = (unsigned char) (lo >> (56 - 8 * i));
	}
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */

	PG_RETURN_UUID_P(uuid);
}

/*
 * The catalogue of the demo shop: ten categories with their share of order
 * lines, a price range in VND (prices are log-uniform in it, rounded to
 * 1,000 VND), three kinds of product and five brands each.
 */
typedef struct DemoCategory
{
	const char *name;
	double		cumulative_share;	/* of order lines, up to this category */
	double		min_price;
	double		max_price;
	const char *kinds[3];
	const char *brands[5];
} DemoCategory;

static const DemoCategory demo_catalogue[] = {
	{"Thời trang", 0.22, 150000, 1500000,
		{"Áo thun", "Quần jean", "Váy"},
	{"Canifa", "Yody", "Routine", "Owen", "Ivy moda"}},
	{"Mỹ phẩm", 0.40, 80000, 1200000,
		{"Sữa rửa mặt", "Kem chống nắng", "Son môi"},
	{"Cocoon", "Thorakao", "La Roche-Posay", "L'Oréal", "Innisfree"}},
	{"Thực phẩm", 0.55, 20000, 500000,
		{"Cà phê", "Sữa tươi", "Mì gói"},
	{"Trung Nguyên", "Vinamilk", "TH true MILK", "Acecook", "Vissan"}},
	{"Đồ gia dụng", 0.67, 100000, 5000000,
		{"Nồi cơm điện", "Chảo chống dính", "Quạt điện"},
	{"Sunhouse", "Kangaroo", "Lock&Lock", "Điện Quang", "Rạng Đông"}},
	{"Mẹ & bé", 0.77, 50000, 800000,
		{"Tã dán", "Sữa bột", "Bình sữa"},
	{"Bobby", "Huggies", "Moony", "Pigeon", "Vinamilk"}},
	{"Sách", 0.85, 50000, 400000,
		{"Tiểu thuyết", "Truyện tranh", "Sách kỹ năng"},
	{"Nhã Nam", "Kim Đồng", "NXB Trẻ", "Alpha Books", "First News"}},
	{"Thể thao", 0.91, 200000, 3000000,
		{"Giày chạy", "Áo thể thao", "Bóng đá"},
	{"Biti's", "Nike", "Adidas", "Kamito", "Li-Ning"}},
	{"Phụ kiện điện tử", 0.96, 150000, 8000000,
		{"Tai nghe", "Sạc dự phòng", "Loa bluetooth"},
	{"Anker", "Xiaomi", "JBL", "Sony", "Baseus"}},
	{"Điện thoại", 0.99, 3000000, 35000000,
		{"Điện thoại", "Điện thoại", "Điện thoại"},
	{"Apple", "Samsung", "Xiaomi", "OPPO", "vivo"}},
	{"Laptop", 1.00, 10000000, 45000000,
		{"Laptop", "Laptop", "Laptop"},
	{"Dell", "ASUS", "Lenovo", "HP", "Apple"}},
};

#define DEMO_CATEGORIES lengthof(demo_catalogue)
#define DEMO_PERSONA_BIG_SPENDER 5
#define DEMO_MAX_ITEMS 4

typedef struct DemoItem
{
	const DemoCategory *category;
	const char *kind;
	const char *brand;
	char		model[8];
	int64		unit_price;		/* whole VND */
	int32		quantity;
} DemoItem;

static inline double
demo_unit(uint64 h)
{
	return (double) (h >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * The 1..4 lines of order order_key; returns how many.  Every line draws
 * from its own hash (stream 40, key order_key * 8 + line), sliced into
 * independent fields; the line count comes from stream 32.
 */
static int
demo_order_items(int64 seed, int64 order_key, int32 persona, DemoItem *items)
{
	int			n = 1 + (int) (demo_unit(demo_hash(seed, 32, order_key)) * DEMO_MAX_ITEMS);
	int			k;

	for (k = 0; k < n; k++)
	{
		int64		key = order_key * 8 + k + 1;
		double		pick = demo_unit(demo_hash(seed, 40, key));
		double		price_draw = demo_unit(demo_hash(seed, 41, key));
		uint64		bits = demo_hash(seed, 42, key);
		const DemoCategory *c;
		int			ci = 0;
		double		price;

		/* half the lines of big spenders are phones and laptops */
		if (persona == DEMO_PERSONA_BIG_SPENDER && (bits & 1))
			pick = 0.96 + 0.04 * pick;
		while (ci < (int) DEMO_CATEGORIES - 1 && pick >= demo_catalogue[ci].cumulative_share)
			ci++;
		c = &demo_catalogue[ci];

		price = c->min_price * pow(c->max_price / c->min_price, price_draw);
		items[k].category = c;
		items[k].kind = c->kinds[(bits >> 1) % 3];
		items[k].brand = c->brands[(bits >> 8) % 5];
		snprintf(items[k].model, sizeof(items[k].model), "%c%d",
				 (char) ('A' + (bits >> 16) % 26), (int) (10 + (bits >> 24) % 90));
		items[k].unit_price = (int64) rint(price / 1000.0) * 1000;
		/* cheap things are often bought two to four at a time */
		items[k].quantity = (c->min_price < 200000 && ((bits >> 32) % 10) < 3) ?
			2 + (int32) ((bits >> 40) % 3) : 1;
	}
	return n;
}

/*
 * customer_mgmt.demo_items(seed bigint, order_key bigint, persona integer)
 *		returns table (product_name text, category text, brand text,
 *					   unit_price numeric, quantity integer)
 */
Datum
cm_demo_items(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DemoItem	items[DEMO_MAX_ITEMS];
	int			n;
	int			k;

	InitMaterializedSRF(fcinfo, 0);
	n = demo_order_items(PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_INT32(2), items);
	for (k = 0; k < n; k++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		char	   *name = psprintf("%s %s %s", items[k].brand, items[k].kind, items[k].model);

		values[0] = CStringGetTextDatum(name);
		values[1] = CStringGetTextDatum(items[k].category->name);
		values[2] = CStringGetTextDatum(items[k].brand);
		values[3] = NumericGetDatum(int64_to_numeric(items[k].unit_price));
		values[4] = Int32GetDatum(items[k].quantity);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(name);
	}
	return (Datum) 0;
}

/*
 * customer_mgmt.demo_order_total(seed bigint, order_key bigint,
 *								  persona integer) returns numeric
 *
 * The sum of unit_price * quantity over demo_items(seed, order_key, persona).
 */
Datum
cm_demo_order_total(PG_FUNCTION_ARGS)
{
	DemoItem	items[DEMO_MAX_ITEMS];
	int			n;
	int			k;
	int64		total = 0;

	n = demo_order_items(PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_INT32(2), items);
	for (k = 0; k < n; k++)
		total += items[k].unit_price * items[k].quantity;
	PG_RETURN_NUMERIC(int64_to_numeric(total));
}
