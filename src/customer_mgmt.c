/*-------------------------------------------------------------------------
 *
 * customer_mgmt.c
 *	  Module entry point of the customer_mgmt extension.
 *
 * The extension's C code is split by concept:
 *	  actor.c		who is calling (the role outside SECURITY DEFINER)
 *	  searchkey.c	accent- and case-insensitive search keys
 *	  phone.c		Vietnamese phone number normalisation
 *	  demo.c		deterministic data of the demo shop
 *	  scoring.c		engagement, churn risk, lifecycle segment, RFM digits, insights
 *	  preferences.c	favourite categories and brands, preferred price range
 *	  segment_lang.c	the segment language's parser
 *	  segment_top.c	the 20 highest spenders of a group (preview_segment)
 *	  export.c		the customer export's xlsx and CSV writers
 *	  clv.c			the CLV models' fits (BG/NBD, Gamma-Gamma)
 *	  clv_bgnbd.c	BG/NBD's numerics for one customer
 *	  clv_predict.c	the CLV predictions' SQL functions
 *	  clv_summary.c	the purchase summaries the CLV model is fitted on
 *
 * Everything else (tables, API functions, roles) is SQL in sql/.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
