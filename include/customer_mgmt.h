/*-------------------------------------------------------------------------
 *
 * customer_mgmt.h
 *	  Declarations shared by the C files of the customer_mgmt extension.
 *
 * Each .c file in src/ owns one concept; this header only carries what
 * more than one of them needs, and what differs between the majors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CUSTOMER_MGMT_H
#define CUSTOMER_MGMT_H

#include "postgres.h"

#include "lib/stringinfo.h"

/*
 * One tree for every supported major (15 to 18), as pgvector does it: what
 * moved between majors, behind PG_VERSION_NUM.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"				/* VARDATA_ANY and friends left postgres.h in
								 * 16 */
#else
/* 16 renamed SetSingleFuncCall */
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif
#if PG_VERSION_NUM >= 170000
#include "common/file_utils.h"	/* PG_TEMP_FILE_PREFIX left storage/fd.h in 17 */
#endif

/* searchkey.c: accent- and case-folding of free text for search */
extern void cm_fold_append(StringInfo buf, const char *s, int len);

#endif							/* CUSTOMER_MGMT_H */
