/*-------------------------------------------------------------------------
 *
 * export.c
 *	  The customer export's writers (issue 12): an .xlsx workbook written
 *	  with libxlsxwriter in constant-memory mode, or CSV, streamed from a
 *	  query through an SPI cursor.
 *
 * export_customers (sql/functions/export.sql) builds the query, its column
 * headers and kinds, and the Summary sheet's cells and charts; this file
 * only writes.  Rows are fetched 1,000 at a time and written at once, so
 * the backend holds one batch and the file, never the result set: the
 * workbook goes to a temporary file under the database's pgsql_tmp (which
 * the server empties after a crash), read back as the bytea returned.
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
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "xlsxwriter.h"

PG_FUNCTION_INFO_V1(cm_export_write);

#define FETCH_ROWS 1000
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

/* ---- CSV ---------------------------------------------------------------- */

/*
 * One CSV field, RFC 4180: quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled).  A text cell that begins with =, +, -, @, a tab or CR is
 * prefixed with ' (OWASP, CSV injection), so a spreadsheet shows it as text.
 */
static void
csv_field(StringInfo out, const char *value, bool neutralise)
{
	bool		quote = strpbrk(value, ",\"\r\n") != NULL;

	if (quote)
		appendStringInfoChar(out, '"');
	if (neutralise && strchr("=+-@\t\r", value[0]) != NULL && value[0] != '\0')
		appendStringInfoChar(out, '\'');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(out, '"');
		appendStringInfoChar(out, *p);
	}
	if (quote)
		appendStringInfoChar(out, '"');
}

/* The CSV, built in the caller's memory (it is the result: no copy). */
static bytea *
write_csv(Portal portal, ExportColumns *cols, MemoryContext caller)
{
	StringInfoData out;
	MemoryContext spi = MemoryContextSwitchTo(caller);

	initStringInfo(&out);
	MemoryContextSwitchTo(spi);
	/* room for the bytea header, then a byte-order mark: Excel then reads the file as UTF-8 */
	appendStringInfoSpaces(&out, VARHDRSZ);
	appendStringInfoString(&out, "\xEF\xBB\xBF");
	for (int c = 0; c < cols->n; c++)
	{
		if (c > 0)
			appendStringInfoChar(&out, ',');
		csv_field(&out, cols->headers[c], true);
	}
	appendStringInfoString(&out, "\r\n");
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			CHECK_FOR_INTERRUPTS();
			for (int c = 0; c < cols->n; c++)
			{
				char	   *value = SPI_getvalue(tuple, desc, c + 1);

				if (c > 0)
					appendStringInfoChar(&out, ',');
				if (value != NULL)
				{
					csv_field(&out, value, cols->kinds[c] == KIND_TEXT);
					pfree(value);
				}
			}
			appendStringInfoString(&out, "\r\n");
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SET_VARSIZE(out.data, out.len);
	return (bytea *) out.data;
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
customer_sheet(lxw_workbook *wb, int n, ExportColumns *cols, lxw_format *bold)
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
finish_sheet(lxw_worksheet *ws, int last_row, ExportColumns *cols)
{
	for (int c = 0; c < cols->n; c++)
		check_lxw(worksheet_set_column(ws, c, c, Min(cols->widths[c] + 2, MAX_COLUMN_WIDTH), NULL), "a column width");
	check_lxw(worksheet_autofilter(ws, 0, 0, last_row, cols->n - 1), "the autofilter");
}

static void
write_cell(lxw_worksheet *ws, int row, int c, HeapTuple tuple, TupleDesc desc, ExportColumns *cols,
		   lxw_format **formats)
{
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, desc, c + 1, &isnull);
	double		width = 0;

	if (isnull)
		return;
	switch (cols->kinds[c])
	{
		case KIND_TEXT:
			{
				char	   *s = TextDatumGetCString(value);

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

/*
 * The Summary sheet: the cells of summary_query (row, col, value, is_number,
 * bold), in row order, and one chart per (title, type, first row, last row)
 * over columns A (labels) and B (values) of those rows.
 */
static void
write_summary(lxw_workbook *wb, const char *summary_query, char **chart_titles, char **chart_types,
			  int *first_rows, int *last_rows, int n_charts, lxw_format *bold)
{
	lxw_worksheet *ws = workbook_add_worksheet(wb, "Summary");
	int			ret = SPI_execute(summary_query, true, 0);

	if (ret != SPI_OK_SELECT || SPI_tuptable->tupdesc->natts != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the summary query must return (row, col, value, is_number, bold)"),
				 errdetail("It returned %d columns.", SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0),
				 errhint("This is an internal function of export_customers.")));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			row = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull));
		int			col = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
		char	   *value = SPI_getvalue(tuple, desc, 3);
		bool		is_number = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
		bool		is_bold = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));

		if (value == NULL)
			continue;
		if (is_number)
			check_lxw(worksheet_write_number(ws, row, col, strtod(value, NULL), is_bold ? bold : NULL),
					  "a summary cell");
		else
			check_lxw(worksheet_write_string(ws, row, col, value, is_bold ? bold : NULL), "a summary cell");
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
		check_lxw(worksheet_insert_chart(ws, first_rows[i] > 0 ? first_rows[i] - 1 : 0, 3, chart), "a chart");
	}
}

static bytea *
read_file(const char *path)
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
	result = (bytea *) SPI_palloc(st.st_size + VARHDRSZ);
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

static bytea *
write_xlsx(Portal portal, ExportColumns *cols, const char *summary_query, char **chart_titles,
		   char **chart_types, int *first_rows, int *last_rows, int n_charts, int sheet_rows)
{
	static unsigned int counter = 0;
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	lxw_workbook *volatile wb = NULL;
	bytea	   *volatile result = NULL;

	TempTablespacePath(dir, DEFAULTTABLESPACE_OID);
	(void) MakePGDirectory(dir);
	snprintf(path, sizeof(path), "%s/%s_cm_export_%d_%u.xlsx", dir, PG_TEMP_FILE_PREFIX, MyProcPid, counter++);

	PG_TRY();
	{
		lxw_workbook_options options = {.constant_memory = LXW_TRUE, .tmpdir = dir};
		lxw_format *formats[KIND_DATE + 1] = {NULL};
		lxw_format *bold;
		lxw_worksheet *ws;
		int			sheet = 1;
		int			row = 0;
		lxw_error	closed;

		wb = workbook_new_opt(path, &options);
		if (wb == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not create the workbook \"%s\"", path),
					 errdetail("libxlsxwriter could not open the file or allocate its memory."),
					 errhint("Check the data directory's pgsql_tmp.")));
		bold = workbook_add_format(wb);
		format_set_bold(bold);
		formats[KIND_AMOUNT] = workbook_add_format(wb);
		format_set_num_format(formats[KIND_AMOUNT], "#,##0 \"₫\"");
		formats[KIND_RATE] = workbook_add_format(wb);
		format_set_num_format(formats[KIND_RATE], "0.00%");
		formats[KIND_DATETIME] = workbook_add_format(wb);
		format_set_num_format(formats[KIND_DATETIME], "yyyy-mm-dd hh:mm");
		formats[KIND_DATE] = workbook_add_format(wb);
		format_set_num_format(formats[KIND_DATE], "yyyy-mm-dd");

		write_summary(wb, summary_query, chart_titles, chart_types, first_rows, last_rows, n_charts, bold);
		ws = customer_sheet(wb, sheet, cols, bold);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, FETCH_ROWS);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				CHECK_FOR_INTERRUPTS();
				if (row + 1 >= sheet_rows)
				{
					/* this sheet is full: the next one, with its header */
					finish_sheet(ws, row, cols);
					ws = customer_sheet(wb, ++sheet, cols, bold);
					row = 0;
				}
				row++;
				for (int c = 0; c < cols->n; c++)
					write_cell(ws, row, c, SPI_tuptable->vals[r], SPI_tuptable->tupdesc, cols, formats);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		finish_sheet(ws, row, cols);
		closed = workbook_close(wb);
		wb = NULL;
		check_lxw(closed, "closing it");
		result = read_file(path);
	}
	PG_FINALLY();
	{
		if (wb != NULL)
			lxw_workbook_free(wb);
		(void) unlink(path);
	}
	PG_END_TRY();
	return result;
}

/*
 * cm_export_write(query text, headers text[], kinds text[], format text,
 *				   summary_query text, chart_titles text[], chart_types text[],
 *				   chart_first_rows int[], chart_last_rows int[], sheet_rows int)
 *	  returns bytea: the rows of query as .xlsx (format 'xlsx') or CSV.
 */
Datum
cm_export_write(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *summary_query = text_to_cstring(PG_GETARG_TEXT_PP(4));
	int			sheet_rows = PG_GETARG_INT32(9);
	ExportColumns cols;
	int			n_kinds;
	char	  **kind_names;
	char	  **chart_titles;
	char	  **chart_types;
	int		   *first_rows;
	int		   *last_rows;
	int			n_charts;
	int			n;
	SPIPlanPtr	plan;
	Portal		portal;
	bytea	   *result;
	MemoryContext caller = CurrentMemoryContext;

	cols.headers = text_array(PG_GETARG_ARRAYTYPE_P(1), "headers", &cols.n);
	kind_names = text_array(PG_GETARG_ARRAYTYPE_P(2), "kinds", &n_kinds);
	chart_titles = text_array(PG_GETARG_ARRAYTYPE_P(5), "chart titles", &n_charts);
	chart_types = text_array(PG_GETARG_ARRAYTYPE_P(6), "chart types", &n);
	first_rows = int_array(PG_GETARG_ARRAYTYPE_P(7), &n);
	last_rows = int_array(PG_GETARG_ARRAYTYPE_P(8), &n);
	if (n_kinds != cols.n || cols.n == 0 || n != n_charts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers and kinds must be as many, and at least one"),
				 errdetail("%d headers, %d kinds, %d charts.", cols.n, n_kinds, n_charts),
				 errhint("This is an internal function of export_customers.")));
	if (sheet_rows < 3 || sheet_rows > EXCEL_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows a sheet must be from 3 to %d", EXCEL_MAX_ROWS),
				 errdetail("Got %d.", sheet_rows),
				 errhint("Excel's limit is %d rows, the header included.", EXCEL_MAX_ROWS)));
	cols.kinds = palloc(sizeof(ColumnKind) * cols.n);
	cols.widths = palloc0(sizeof(double) * cols.n);
	for (int c = 0; c < cols.n; c++)
	{
		cols.kinds[c] = parse_kind(kind_names[c]);
		cols.widths[c] = pg_mbstrlen(cols.headers[c]);
	}

	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for the export query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	if (portal->tupDesc == NULL || portal->tupDesc->natts != cols.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the export query must return one column for each header"),
				 errdetail("%d headers.", cols.n),
				 errhint("This is an internal function of export_customers.")));
	if (strcmp(format, "csv") == 0)
		result = write_csv(portal, &cols, caller);
	else
		result = write_xlsx(portal, &cols, summary_query, chart_titles, chart_types, first_rows, last_rows,
							n_charts, sheet_rows);
	SPI_cursor_close(portal);
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}
