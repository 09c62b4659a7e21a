/*-------------------------------------------------------------------------
 *
 * customer_mgmt.h
 *	  Declarations shared by the C files of the customer_mgmt extension.
 *
 * Each .c file in src/ owns one concept; this header only carries what
 * more than one of them needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CUSTOMER_MGMT_H
#define CUSTOMER_MGMT_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* searchkey.c: accent- and case-folding of free text for search */
extern void cm_fold_append(StringInfo buf, const char *s, int len);

#endif							/* CUSTOMER_MGMT_H */
