/*-------------------------------------------------------------------------
 *
 * demo_random.c
 *	  Deterministic pseudo-random numbers and UUIDs for the demo shop.
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

#include "fmgr.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(cm_demo_random);
PG_FUNCTION_INFO_V1(cm_demo_uuid);

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
