/*-------------------------------------------------------------------------
 *
 * export.c
 *	  export_customers: the customers as an .xlsx workbook
 *	  written with libxlsxwriter in constant-memory mode, or as CSV, each
 *	  row written as the executor produces it.
 *
 * export_plan (sql/functions/export.sql) checks the arguments and builds the
 * query, its column headers and kinds, and the Summary sheet's cells and
 * charts; this file runs it, writes, and logs the export.  The rows go to a
 * DestReceiver of our own, as COPY's do: nothing holds the result set, and
 * each row's memory is freed once it is written.  The CSV grows in the
 * caller's memory and is the result; the workbook goes to a temporary file
 * under the database's pgsql_tmp (which the server empties after a crash),
 * read back once into the caller's memory.  Either is built once: no copy
 * of the file is made on its way out.
 *
 * Kinds of column: text (written as text, so a name such as "=HYPERLINK()"
 * stays text), amount (float8, VND format), integer (int8), rate (float8,
 * percent), datetime (timestamp, the shop's local time), date (date).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_tablespace_d.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "xlsxwriter.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_export_customers);

#define EXCEL_MAX_ROWS 1048576
#define MAX_COLUMN_WIDTH 60

typedef enum ColumnKind
{
	KIND_TEXT,
	KIND_AMOUNT,
	KIND_INTEGER,
	KIND_RATE,
	KIND_DATETIME,
	KIND_DATE
} ColumnKind;

typedef struct ExportColumns
{
	int			n;
	char	  **headers;
	ColumnKind *kinds;
	double	   *widths;			/* characters, for the xlsx column widths */
} ExportColumns;

static ColumnKind
parse_kind(const char *kind)
{
	static const char *const names[] = {"text", "amount", "integer", "rate", "datetime", "date"};

	for (int i = 0; i < (int) lengthof(names); i++)
		if (strcmp(kind, names[i]) == 0)
			return (ColumnKind) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown export column kind \"%s\"", kind),
			 errdetail("The kinds are text, amount, integer, rate, datetime and date."),
			 errhint("This is an internal function of export_customers.")));
	return KIND_TEXT;			/* not reached */
}

/* A one-dimensional text[] without NULLs as C strings. */
static char **
text_array(ArrayType *array, const char *what, int *n)
{
	Datum	   *values;
	bool	   *nulls;
	char	  **result;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &values, &nulls, n);
	result = palloc(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what),
					 errdetail("Element %d is NULL.", i + 1),
					 errhint("This is an internal function of export_customers.")));
		result[i] = TextDatumGetCString(values[i]);
	}
	return result;
}

static int *
int_array(ArrayType *array, int *n)
{
	Datum	   *values;
	bool	   *nulls;
	int		   *result;

	deconstruct_array(array, INT4OID, 4, true, TYPALIGN_INT, &values, &nulls, n);
	result = palloc(sizeof(int) * (*n + 1));
	for (int i = 0; i < *n; i++)
		result[i] = nulls[i] ? 0 : DatumGetInt32(values[i]);
	return result;
}

/* ---- the writer: a DestReceiver ---------------------------------------- */

typedef struct ExportWriter
{
	DestReceiver pub;			/* first: the executor calls through it */
	ExportColumns *cols;
	bool		csv;
	MemoryContext context;		/* where the writer's own state lives */
	MemoryContext row_context;	/* a row's conversions, reset after each */
	uint64		rows;
	/* CSV */
	StringInfoData out;			/* the file, in the caller's memory */
	FmgrInfo   *output;			/* each column's output function */
	bool	   *is_text;		/* text columns, written from their bytes */
	/* xlsx */
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_format *bold;
	lxw_format *formats[KIND_DATE + 1];
	int			sheet;
	int			row;
	int			sheet_rows;
} ExportWriter;

/*
 * Whether a text cell would start a spreadsheet formula: it begins with =,
 * +, -, @, a tab or CR, or with the full-width forms of the first four
 * (U+FF1D, U+FF0B, U+FF0D, U+FF20), which spreadsheets read as the same
 * (OWASP, CSV injection).
 */
static bool
starts_formula(const char *value, int len)
{
	const unsigned char *v = (const unsigned char *) value;

	if (len > 0 && strchr("=+-@\t\r", value[0]) != NULL && value[0] != '\0')
		return true;
	return len >= 3 && v[0] == 0xEF &&
		((v[1] == 0xBC && (v[2] == 0x9D || v[2] == 0x8B || v[2] == 0x8D)) ||
		 (v[1] == 0xBD && v[2] == 0x80));
}

/*
 * A copy of a UTF-8 string holding only what XML 1.0 allows: control
 * characters but tab, LF and CR, and U+FFFE and U+FFFF, become U+FFFD.
 * Ingestion refuses them (check_text); this holds for rows written some
 * other way.  libxlsxwriter would otherwise write them into the sheet's XML
 * and the workbook would no longer open.
 */
static char *
xml_safe(const char *value)
{
	size_t		len = strlen(value);
	StringInfoData out;
	const unsigned char *v = (const unsigned char *) value;
	size_t		done = 0;

	initStringInfo(&out);
	for (size_t i = 0; i < len; i++)
	{
		size_t		bad = 0;

		if (v[i] < 0x20 && v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
			bad = 1;
		else if (v[i] == 0xEF && i + 2 < len && v[i + 1] == 0xBF && (v[i + 2] == 0xBE || v[i + 2] == 0xBF))
			bad = 3;
		if (bad == 0)
			continue;
		appendBinaryStringInfo(&out, value + done, i - done);
		appendStringInfoString(&out, "\xEF\xBF\xBD");
		done = i + bad;
		i = done - 1;
	}
	appendBinaryStringInfo(&out, value + done, len - done);
	return out.data;
}

/*
 * One CSV field, RFC 4180: quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled).  A text cell that would start a formula
 * (starts_formula) is prefixed with ', so a spreadsheet shows it as text.
 */
static void
csv_field(StringInfo out, const char *value, int len, bool neutralise)
{
	bool		quote = false;
	int			done = 0;

	for (int i = 0; i < len && !quote; i++)
		quote = value[i] == ',' || value[i] == '"' || value[i] == '\r' || value[i] == '\n';
	if (quote)
		appendStringInfoChar(out, '"');
	if (neutralise && starts_formula(value, len))
		appendStringInfoChar(out, '\'');
	if (quote)
	{
		/* each quote and what precedes it, then the quote once more */
		for (int i = 0; i < len; i++)
			if (value[i] == '"')
			{
				appendBinaryStringInfo(out, value + done, i + 1 - done);
				appendStringInfoChar(out, '"');
				done = i + 1;
			}
	}
	appendBinaryStringInfo(out, value + done, len - done);
	if (quote)
		appendStringInfoChar(out, '"');
}

static void
csv_row(ExportWriter *w, TupleTableSlot *slot)
{
	StringInfo	out = &w->out;

	for (int c = 0; c < w->cols->n; c++)
	{
		if (c > 0)
			appendStringInfoChar(out, ',');
		if (slot->tts_isnull[c])
			continue;
		if (w->is_text[c])
		{
			text	   *t = DatumGetTextPP(slot->tts_values[c]);

			csv_field(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), w->cols->kinds[c] == KIND_TEXT);
		}
		else
		{
			char	   *value = OutputFunctionCall(&w->output[c], slot->tts_values[c]);

			csv_field(out, value, strlen(value), w->cols->kinds[c] == KIND_TEXT);
		}
	}
	appendStringInfoString(out, "\r\n");
}

/* ---- xlsx --------------------------------------------------------------- */

static void
check_lxw(lxw_error error, const char *what)
{
	if (error != LXW_NO_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not write the workbook: %s", what),
				 errdetail("libxlsxwriter: %s.", lxw_strerror(error)),
				 errhint("Check the free space of the data directory's pgsql_tmp.")));
}

static lxw_datetime
to_lxw_datetime(Timestamp ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	lxw_datetime dt;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for a workbook"),
				 errdetail("Excel dates run from 1900 to 9999."),
				 errhint("This is an internal function of export_customers.")));
	dt.year = tm.tm_year;
	dt.month = tm.tm_mon;
	dt.day = tm.tm_mday;
	dt.hour = tm.tm_hour;
	dt.min = tm.tm_min;
	dt.sec = tm.tm_sec + fsec / 1000000.0;
	return dt;
}

/* The sheet of customers number n (1-based), header row written. */
static lxw_worksheet *
customer_sheet(lxw_workbook * wb, int n, ExportColumns *cols, lxw_format * bold)
{
	char		name[32];
	lxw_worksheet *ws;

	if (n == 1)
		snprintf(name, sizeof(name), "Customers");
	else
		snprintf(name, sizeof(name), "Customers (%d)", n);
	ws = workbook_add_worksheet(wb, name);
	if (ws == NULL)
		check_lxw(LXW_ERROR_MEMORY_MALLOC_FAILED, "a sheet of customers");
	for (int c = 0; c < cols->n; c++)
		check_lxw(worksheet_write_string(ws, 0, c, cols->headers[c], bold), "the header row");
	worksheet_freeze_panes(ws, 1, 0);
	return ws;
}

/* Autofilter and widths of a finished sheet of last_row + 1 rows. */
static void
finish_sheet(lxw_worksheet * ws, int last_row, ExportColumns *cols)
{
	for (int c = 0; c < cols->n; c++)
		check_lxw(worksheet_set_column(ws, c, c, Min(cols->widths[c] + 2, MAX_COLUMN_WIDTH), NULL), "a column width");
	check_lxw(worksheet_autofilter(ws, 0, 0, last_row, cols->n - 1), "the autofilter");
}

static void
write_cell(lxw_worksheet * ws, int row, int c, Datum value, ExportColumns *cols, lxw_format * *formats)
{
	double		width = 0;

	switch (cols->kinds[c])
	{
		case KIND_TEXT:
			{
				char	   *raw = TextDatumGetCString(value);
				char	   *s = xml_safe(raw);

				pfree(raw);
				check_lxw(worksheet_write_string(ws, row, c, s, NULL), "a text cell");
				width = pg_mbstrlen(s);
				pfree(s);
				break;
			}
		case KIND_AMOUNT:
		case KIND_RATE:
			check_lxw(worksheet_write_number(ws, row, c, DatumGetFloat8(value), formats[cols->kinds[c]]),
					  "a number cell");
			width = cols->kinds[c] == KIND_AMOUNT ? 16 : 8;
			break;
		case KIND_INTEGER:
			check_lxw(worksheet_write_number(ws, row, c, (double) DatumGetInt64(value), NULL), "an integer cell");
			width = 8;
			break;
		case KIND_DATETIME:
			{
				lxw_datetime dt = to_lxw_datetime(DatumGetTimestamp(value));

				check_lxw(worksheet_write_datetime(ws, row, c, &dt, formats[KIND_DATETIME]), "a date cell");
				width = 16;
				break;
			}
		case KIND_DATE:
			{
				lxw_datetime dt = to_lxw_datetime(date2timestamp_no_overflow(DatumGetDateADT(value)));

				check_lxw(worksheet_write_datetime(ws, row, c, &dt, formats[KIND_DATE]), "a date cell");
				width = 10;
				break;
			}
	}
	if (width > cols->widths[c])
		cols->widths[c] = width;
}

/* The column of a query's result by name (export_plan's OUT arguments, the summary's columns). */
static int
column_number(TupleDesc desc, const char *name)
{
	int			n = SPI_fnumber(desc, name);

	if (n <= 0)
		elog(ERROR, "the export's plan has no column \"%s\"", name);
	return n;
}

/*
 * The Summary sheet: the cells of summary_query (row, col, value, is_number,
 * bold), in row order, and one chart per (title, type, first row, last row)
 * over columns A (labels) and B (values) of those rows.
 */
static void
write_summary(lxw_workbook * wb, const char *summary_query, char **chart_titles, char **chart_types,
			  int *first_rows, int *last_rows, int n_charts, lxw_format * bold)
{
	lxw_worksheet *ws = workbook_add_worksheet(wb, "Summary");
	int			ret = SPI_execute(summary_query, true, 0);
	int			row_n,
				col_n,
				value_n,
				number_n,
				bold_n;

	if (ret != SPI_OK_SELECT || SPI_tuptable->tupdesc->natts != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the summary query must return (r, c, v, n, b): row, column, value, is a number, bold"),
				 errdetail("It returned %d columns.", SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0),
				 errhint("This is an internal function of export_customers.")));
	row_n = column_number(SPI_tuptable->tupdesc, "r");
	col_n = column_number(SPI_tuptable->tupdesc, "c");
	value_n = column_number(SPI_tuptable->tupdesc, "v");
	number_n = column_number(SPI_tuptable->tupdesc, "n");
	bold_n = column_number(SPI_tuptable->tupdesc, "b");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			row = DatumGetInt32(SPI_getbinval(tuple, desc, row_n, &isnull));
		int			col = DatumGetInt32(SPI_getbinval(tuple, desc, col_n, &isnull));
		char	   *value = SPI_getvalue(tuple, desc, value_n);
		bool		is_number = DatumGetBool(SPI_getbinval(tuple, desc, number_n, &isnull));
		bool		is_bold = DatumGetBool(SPI_getbinval(tuple, desc, bold_n, &isnull));

		if (value == NULL)
			continue;
		if (is_number)
			check_lxw(worksheet_write_number(ws, row, col, strtod(value, NULL), is_bold ? bold : NULL),
					  "a summary cell");
		else
			check_lxw(worksheet_write_string(ws, row, col, xml_safe(value), is_bold ? bold : NULL),
					  "a summary cell");
	}
	worksheet_set_column(ws, 0, 0, 28, NULL);
	worksheet_set_column(ws, 1, 1, 40, NULL);
	for (int i = 0; i < n_charts; i++)
	{
		lxw_chart  *chart = workbook_add_chart(wb, strcmp(chart_types[i], "pie") == 0 ? LXW_CHART_PIE : LXW_CHART_COLUMN);
		char		categories[64];
		char		values[64];

		snprintf(categories, sizeof(categories), "=Summary!$A$%d:$A$%d", first_rows[i] + 1, last_rows[i] + 1);
		snprintf(values, sizeof(values), "=Summary!$B$%d:$B$%d", first_rows[i] + 1, last_rows[i] + 1);
		chart_add_series(chart, categories, values);
		chart_title_set_name(chart, chart_titles[i]);
		chart_legend_set_position(chart, strcmp(chart_types[i], "pie") == 0 ? LXW_CHART_LEGEND_RIGHT : LXW_CHART_LEGEND_NONE);
		/* beside the tables, one below the other: a chart is 15 rows high */
		check_lxw(worksheet_insert_chart(ws, i * 16, 3, chart), "a chart");
	}
}

static bytea *
read_file(const char *path, MemoryContext result_context)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	struct stat st;
	bytea	   *result;
	Size		done = 0;

	if (fd < 0 || fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the workbook \"%s\": %m", path),
				 errdetail("The workbook was written but cannot be opened."),
				 errhint("Check the data directory's pgsql_tmp.")));
	if ((Size) st.st_size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the workbook is too large to return"),
				 errdetail("It is %lld bytes; a bytea holds at most 1 GB.", (long long) st.st_size),
				 errhint("Export fewer rows or columns, or use format => 'csv'.")));
	/* in the caller's memory: it is the result */
	result = (bytea *) MemoryContextAlloc(result_context, st.st_size + VARHDRSZ);
	SET_VARSIZE(result, st.st_size + VARHDRSZ);
	while (done < (Size) st.st_size)
	{
		ssize_t		got = read(fd, VARDATA(result) + done, st.st_size - done);

		if (got <= 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read the workbook \"%s\": %m", path),
					 errdetail("Read %zu of %lld bytes.", done, (long long) st.st_size),
					 errhint("Check the data directory's pgsql_tmp.")));
		done += got;
	}
	CloseTransientFile(fd);
	return result;
}

static void
xlsx_row(ExportWriter *w, TupleTableSlot *slot)
{
	if (w->row + 1 >= w->sheet_rows)
	{
		/* this sheet is full: the next one, with its header */
		finish_sheet(w->ws, w->row, w->cols);
		w->ws = customer_sheet(w->wb, ++w->sheet, w->cols, w->bold);
		w->row = 0;
	}
	w->row++;
	for (int c = 0; c < w->cols->n; c++)
		if (!slot->tts_isnull[c])
			write_cell(w->ws, w->row, c, slot->tts_values[c], w->cols, w->formats);
}

static bool
writer_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ExportWriter *w = (ExportWriter *) self;
	MemoryContext old = MemoryContextSwitchTo(w->row_context);

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	if (w->csv)
		csv_row(w, slot);
	else
		xlsx_row(w, slot);
	MemoryContextSwitchTo(old);
	MemoryContextReset(w->row_context);
	w->rows++;
	return true;
}

static void
writer_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	ExportWriter *w = (ExportWriter *) self;

	if (desc->natts != w->cols->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the export query must return one column for each header"),
				 errdetail("%d columns, %d headers.", desc->natts, w->cols->n),
				 errhint("This is an internal error of export_customers.")));
	w->output = MemoryContextAlloc(w->context, sizeof(FmgrInfo) * desc->natts);
	w->is_text = MemoryContextAlloc(w->context, sizeof(bool) * desc->natts);
	for (int c = 0; c < desc->natts; c++)
	{
		Oid			type = TupleDescAttr(desc, c)->atttypid;
		Oid			func;
		bool		varlena;

		getTypeOutputInfo(type, &func, &varlena);
		fmgr_info_cxt(func, &w->output[c], w->context);
		w->is_text[c] = type == TEXTOID || type == VARCHAROID;
		/* the writers read datums as their kind says */
		if (!w->csv && !w->is_text[c] && w->cols->kinds[c] == KIND_TEXT)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("export column %d is text but its expression is of type %s", c + 1, format_type_be(type)),
					 errdetail("The column is \"%s\".", w->cols->headers[c]),
					 errhint("This is an internal error of export_customers: see export_columns().")));
	}
}

static void
writer_shutdown(DestReceiver *self)
{
}

static void
writer_destroy(DestReceiver *self)
{
}

/* Runs query and hands each of its rows to the writer. */
static void
write_rows(ExportWriter *w, const char *query)
{
	SPIExecuteOptions options = {0};
	int			ret;

	w->pub.receiveSlot = writer_receive;
	w->pub.rStartup = writer_startup;
	w->pub.rShutdown = writer_shutdown;
	w->pub.rDestroy = writer_destroy;
	w->pub.mydest = DestNone;
	w->context = CurrentMemoryContext;
	w->row_context = AllocSetContextCreate(CurrentMemoryContext, "customer_mgmt export row", ALLOCSET_DEFAULT_SIZES);
	options.read_only = true;
	options.dest = &w->pub;
	ret = SPI_execute_extended(query, &options);
	/* SPI reports a SELECT whose rows went elsewhere as a utility statement */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "the export query failed: %s", SPI_result_code_string(ret));
	MemoryContextDelete(w->row_context);
}

static bytea *
write_csv(ExportWriter *w, const char *query, MemoryContext caller)
{
	MemoryContext old = MemoryContextSwitchTo(caller);

	initStringInfo(&w->out);
	MemoryContextSwitchTo(old);

	/*
	 * room for the bytea header, then a byte-order mark: Excel then reads the
	 * file as UTF-8
	 */
	appendStringInfoSpaces(&w->out, VARHDRSZ);
	appendStringInfoString(&w->out, "\xEF\xBB\xBF");
	for (int c = 0; c < w->cols->n; c++)
	{
		if (c > 0)
			appendStringInfoChar(&w->out, ',');
		csv_field(&w->out, w->cols->headers[c], strlen(w->cols->headers[c]), true);
	}
	appendStringInfoString(&w->out, "\r\n");
	write_rows(w, query);
	SET_VARSIZE(w->out.data, w->out.len);
	return (bytea *) w->out.data;
}

static bytea *
write_xlsx(ExportWriter *w, const char *query, const char *summary_query, char **chart_titles,
		   char **chart_types, int *first_rows, int *last_rows, int n_charts, MemoryContext caller)
{
	static unsigned int counter = 0;
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	bytea	   *volatile result = NULL;

	TempTablespacePath(dir, DEFAULTTABLESPACE_OID);
	(void) MakePGDirectory(dir);
	snprintf(path, sizeof(path), "%s/%s_cm_export_%d_%u.xlsx", dir, PG_TEMP_FILE_PREFIX, MyProcPid, counter++);

	PG_TRY();
	{
		lxw_workbook_options options = {.constant_memory = LXW_TRUE,.tmpdir = dir};
		lxw_error	closed;

		w->wb = workbook_new_opt(path, &options);
		if (w->wb == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not create the workbook \"%s\"", path),
					 errdetail("libxlsxwriter could not open the file or allocate its memory."),
					 errhint("Check the data directory's pgsql_tmp.")));
		w->bold = workbook_add_format(w->wb);
		format_set_bold(w->bold);
		w->formats[KIND_AMOUNT] = workbook_add_format(w->wb);
		format_set_num_format(w->formats[KIND_AMOUNT], "#,##0 \"₫\"");
		w->formats[KIND_RATE] = workbook_add_format(w->wb);
		format_set_num_format(w->formats[KIND_RATE], "0.00%");
		w->formats[KIND_DATETIME] = workbook_add_format(w->wb);
		format_set_num_format(w->formats[KIND_DATETIME], "yyyy-mm-dd hh:mm");
		w->formats[KIND_DATE] = workbook_add_format(w->wb);
		format_set_num_format(w->formats[KIND_DATE], "yyyy-mm-dd");

		write_summary(w->wb, summary_query, chart_titles, chart_types, first_rows, last_rows, n_charts, w->bold);
		w->sheet = 1;
		w->row = 0;
		w->ws = customer_sheet(w->wb, w->sheet, w->cols, w->bold);
		write_rows(w, query);
		finish_sheet(w->ws, w->row, w->cols);
		closed = workbook_close(w->wb);
		w->wb = NULL;
		check_lxw(closed, "closing it");
		result = read_file(path, caller);
	}
	PG_FINALLY();
	{
		if (w->wb != NULL)
			lxw_workbook_free(w->wb);
		w->wb = NULL;
		(void) unlink(path);
	}
	PG_END_TRY();
	return result;
}

/* Column name of the plan's one row, NULL as NULL. */
static char *
plan_text(const char *name)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column_number(SPI_tuptable->tupdesc, name));
}

static ArrayType *
plan_array(const char *name, Oid element_type)
{
	bool		isnull;
	Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  column_number(SPI_tuptable->tupdesc, name), &isnull);

	return isnull ? construct_empty_array(element_type) : DatumGetArrayTypePCopy(value);
}

/*
 * The export of a query of export_plan with its arguments: plans it, streams
 * the rows into the file, logs the export and returns the file.
 */
static Datum
export_run(FunctionCallInfo fcinfo, const char *plan_sql, int nargs, const Oid *arg_types)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *args = palloc(nargs * sizeof(Datum));
	char	   *arg_nulls = palloc(nargs);
	ExportWriter w = {0};
	ExportColumns cols;
	char	   *query;
	char	   *summary_query;
	char	  **kind_names;
	char	  **chart_titles = NULL;
	char	  **chart_types = NULL;
	int		   *first_rows = NULL;
	int		   *last_rows = NULL;
	int			n_charts = 0;
	int			n_kinds;
	char	   *log_details;
	bytea	   *result;
	Datum		log_args[2];
	Oid			log_types[2] = {TEXTOID, INT8OID};

	for (int i = 0; i < nargs; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		arg_nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}

	SPI_connect();
	/* the arguments checked, the query and the sheets planned (22023 there) */
	if (SPI_execute_with_args(plan_sql, nargs, (Oid *) arg_types, args, arg_nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "export_plan returned no plan");
	query = plan_text("query");
	cols.headers = text_array(plan_array("headers", TEXTOID), "headers", &cols.n);
	kind_names = text_array(plan_array("kinds", TEXTOID), "kinds", &n_kinds);
	summary_query = plan_text("summary_query");
	w.csv = summary_query == NULL;
	if (!w.csv)
	{
		int			n;

		chart_titles = text_array(plan_array("chart_titles", TEXTOID), "chart titles", &n_charts);
		chart_types = text_array(plan_array("chart_types", TEXTOID), "chart types", &n);
		first_rows = int_array(plan_array("chart_first_rows", INT4OID), &n);
		last_rows = int_array(plan_array("chart_last_rows", INT4OID), &n);
	}
	w.sheet_rows = pg_strtoint32(plan_text("sheet_rows"));
	log_details = plan_text("log_details");
	if (n_kinds != cols.n || cols.n == 0)
		elog(ERROR, "export_plan returned %d headers and %d kinds", cols.n, n_kinds);
	if (w.sheet_rows < 3 || w.sheet_rows > EXCEL_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customer_mgmt.export_sheet_rows must be from 3 to %d", EXCEL_MAX_ROWS),
				 errdetail("It is %d.", w.sheet_rows),
				 errhint("Excel's limit is %d rows, the header included; RESET customer_mgmt.export_sheet_rows.",
						 EXCEL_MAX_ROWS)));
	cols.kinds = palloc(sizeof(ColumnKind) * cols.n);
	cols.widths = palloc0(sizeof(double) * cols.n);
	for (int c = 0; c < cols.n; c++)
	{
		cols.kinds[c] = parse_kind(kind_names[c]);
		cols.widths[c] = pg_mbstrlen(cols.headers[c]);
	}
	w.cols = &cols;

	if (w.csv)
		result = write_csv(&w, query, caller);
	else
		result = write_xlsx(&w, query, summary_query, chart_titles, chart_types, first_rows, last_rows, n_charts,
							caller);

	/* the log: who, when, the filters (without the search's text), the rows */
	log_args[0] = CStringGetTextDatum(log_details);
	log_args[1] = Int64GetDatum((int64) w.rows);
	if (SPI_execute_with_args("INSERT INTO customer_mgmt.export_log (actor_id, kind, details)"
							  " VALUES (customer_mgmt.current_actor(), 'customers',"
							  " $1::jsonb || jsonb_build_object('rows', $2))",
							  2, log_types, log_args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not log the export");
	if (SPI_execute_with_args("SELECT customer_mgmt.audit('export_customers', 'customers', NULL,"
							  " $1::jsonb || jsonb_build_object('rows', $2))",
							  2, log_types, log_args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not audit the export");
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}

/*
 * export_customers(search text, ..., tag text) returns the domain
 *	  star-slash-star (bytea): the customers of the list's filters (or a saved
 *	  view) as .xlsx or CSV (sql/functions/export.sql).  It is C, not a SQL
 *	  wrapper around one: a SQL function's result is copied out of its
 *	  context, which would hold the file twice.  The export_customers of 1.3
 *	  and before, which took 15 arguments, runs only once the extension is
 *	  updated.
 */
Datum
cm_export_customers(PG_FUNCTION_ARGS)
{
	/* export_customers' arguments, in its order */
	static const Oid arg_types[24] = {
		TEXTOID, TEXTOID, TEXTOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, NUMERICOID, NUMERICOID,
		INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID,
		TEXTOID, INT4OID, INT4OID, BOOLOID, BOOLOID, TEXTOID, UUIDOID, TEXTOID
	};

	if (PG_NARGS() != lengthof(arg_types))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("customer_mgmt's export needs the extension updated to the installed library's version"),
				 errdetail("This database still runs the export_customers of customer_mgmt 1.3 or earlier."),
				 errhint("Run ALTER EXTENSION customer_mgmt UPDATE.")));

	/*
	 * list_filters takes format ($13) and columns ($14) out, tag before
	 * view_id
	 */
	return export_run(fcinfo,
					  "SELECT * FROM customer_mgmt.export_plan("
					  "customer_mgmt.list_filters($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $15, $16, $17,"
					  " $18, $19, $20, $21, $22, $24, $23), $13, $14)",
					  lengthof(arg_types), arg_types);
}
