/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  When the event triggers leave their side effects to someone else: a
 *	  superuser's session restoring a dump, or a bulk import's chunk that
 *	  does their work for the whole chunk itself.
 *
 * Every completed order asks this, so it is C and reads only what is in
 * memory or the system caches: two settings, the session user's
 * superuser flag, and the temporary table cm_import with its owner.
 * docs/architecture.md explains both cases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "catalog/pg_class.h"

PG_FUNCTION_INFO_V1(cm_importing);
PG_FUNCTION_INFO_V1(cm_restoring);

/*
 * Whether a bulk import's chunk writes in this session: a temporary table
 * cm_import exists and belongs to customer_mgmt_owner, which only the
 * import's SECURITY DEFINER code can make.  A session that never made a
 * temporary table answers without a catalog lookup.
 */
static bool
importing(void)
{
	Oid			nsp = LookupExplicitNamespace("pg_temp", true);
	Oid			relid;
	Oid			owner;
	HeapTuple	tuple;
	Oid			relowner;

	if (!OidIsValid(nsp))
		return false;
	relid = get_relname_relid("cm_import", nsp);
	if (!OidIsValid(relid))
		return false;
	owner = get_role_oid("customer_mgmt_owner", true);
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;
	relowner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return OidIsValid(owner) && relowner == owner;
}

/* customer_mgmt.importing() returns boolean */
Datum
cm_importing(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(importing());
}

/*
 * customer_mgmt.restoring() returns boolean
 *
 * True in a superuser's session whose search_path is empty (every script
 * pg_dump writes empties it before loading data) or that set
 * customer_mgmt.restoring = on; true while an import's chunk writes;
 * false otherwise, whatever a session sets.
 */
Datum
cm_restoring(PG_FUNCTION_ARGS)
{
	const char *path = GetConfigOption("search_path", true, false);
	const char *flag = GetConfigOption("customer_mgmt.restoring", true, false);

	if ((path != NULL && path[0] == '\0') || (flag != NULL && strcmp(flag, "on") == 0))
		PG_RETURN_BOOL(superuser_arg(GetSessionUserId()));
	PG_RETURN_BOOL(importing());
}
