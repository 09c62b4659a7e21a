/*-------------------------------------------------------------------------
 *
 * actor.c
 *	  The role a caller acts as, seen from inside SECURITY DEFINER code.
 *
 * The API functions run as SECURITY DEFINER, so current_user inside them
 * is the extension owner.  Authorisation that depends on the caller's role
 * (an admin may edit anyone's note, staff only their own) needs the role
 * that was in effect outside the function: after PostgREST's SET ROLE that
 * is the "outer" user id, which SECURITY DEFINER does not change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(cm_invoker);

/*
 * customer_mgmt.invoker() returns regrole
 *
 * The current role of the session as set by login or SET ROLE, ignoring
 * any SECURITY DEFINER function on the call stack.
 */
Datum
cm_invoker(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetOuterUserId());
}
