/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  Reading a CSV file as a spreadsheet user saves it: the records of
 *	  the file, and the dates in it as Excel and Vietnamese users write
 *	  them.  import_csv (sql/functions/import.sql) maps them to customers.
 *
 * The file is UTF-8, with or without a byte-order mark; records end with
 * CRLF, LF or CR; fields are separated by the comma, the semicolon or the
 * tab, whichever the header record uses most (Excel writes the semicolon
 * where the decimal separator is a comma); a field in double quotes may hold
 * separators, line breaks and doubled quotes.  An empty field is NULL; an
 * empty line is skipped.  Anything else that is not CSV, such as a quote
 * closed in the middle of a field or never closed, is an error naming the
 * record, never a guess.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_csv_records);
PG_FUNCTION_INFO_V1(cm_parse_vn_datetime);

/* more fields than any sheet of customers has: a file that is not CSV */
#define CSV_MAX_FIELDS 1000

typedef struct CsvReader
{
	const char *data;
	int			len;
	int			pos;
	char		delimiter;
	int			record;			/* number of the record being read, from 1 */
}			CsvReader;

/* The separator the header record uses most, outside quotes. */
static char
csv_detect_delimiter(const char *s, int len)
{
	int			commas = 0;
	int			semicolons = 0;
	int			tabs = 0;
	bool		quoted = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (c == '\n' || c == '\r')
			break;
		else if (c == ',')
			commas++;
		else if (c == ';')
			semicolons++;
		else if (c == '\t')
			tabs++;
	}
	if (semicolons > commas && semicolons >= tabs)
		return ';';
	if (tabs > commas && tabs > semicolons)
		return '\t';
	return ',';
}

static void
csv_error(CsvReader * r, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("invalid data: record %d of the CSV file %s", r->record, problem),
			 errdetail("Field \"data\" must be a CSV file: fields separated by '%c', a field in double quotes may hold separators, line breaks and doubled quotes.",
					   r->delimiter == '\t' ? ' ' : r->delimiter),
			 errhint("Save the sheet again as \"CSV UTF-8\"."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "data")));
}

/* Whether the reader is at the end of a record (a line break or the end). */
static bool
csv_at_record_end(CsvReader * r)
{
	return r->pos >= r->len || r->data[r->pos] == '\n' || r->data[r->pos] == '\r';
}

static void
csv_skip_record_end(CsvReader * r)
{
	if (r->pos < r->len && r->data[r->pos] == '\r')
		r->pos++;
	if (r->pos < r->len && r->data[r->pos] == '\n')
		r->pos++;
}

/*
 * Read one field into buf; *quoted says whether it was in quotes (an empty
 * field in quotes is an empty text, not NULL).
 */
static void
csv_read_field(CsvReader * r, StringInfo buf, bool *quoted)
{
	resetStringInfo(buf);
	*quoted = false;
	if (r->pos < r->len && r->data[r->pos] == '"')
	{
		*quoted = true;
		r->pos++;
		for (;;)
		{
			const char *start = r->data + r->pos;
			const char *quote = memchr(start, '"', r->len - r->pos);

			if (quote == NULL)
				csv_error(r, "has a quote that is never closed");
			appendBinaryStringInfo(buf, start, quote - start);
			r->pos = quote - r->data + 1;
			if (r->pos < r->len && r->data[r->pos] == '"')
			{
				appendStringInfoChar(buf, '"');
				r->pos++;
				continue;
			}
			break;
		}
		if (!csv_at_record_end(r) && r->data[r->pos] != r->delimiter)
			csv_error(r, "has characters after a closing quote");
		return;
	}
	while (!csv_at_record_end(r) && r->data[r->pos] != r->delimiter)
	{
		char		c = r->data[r->pos++];

		if (c == '"')
			csv_error(r, "has a quote inside a field that does not start with one");
		appendStringInfoChar(buf, c);
	}
}

/*
 * customer_mgmt_internal.csv_records(data bytea)
 *	  RETURNS TABLE (record integer, fields text[])
 *
 * Every non-empty record of the file, the header first, as an array of its
 * fields converted to the database's encoding.
 */
Datum
cm_csv_records(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CsvReader	r;
	int			valid;
	MemoryContext per_record;
	MemoryContext old;
	StringInfoData field;
	Datum	   *values;
	bool	   *nulls;

	InitMaterializedSRF(fcinfo, 0);

	r.data = VARDATA_ANY(raw);
	r.len = VARSIZE_ANY_EXHDR(raw);
	r.pos = 0;
	r.record = 0;
	if (r.len >= 3 && memcmp(r.data, "\xEF\xBB\xBF", 3) == 0)
		r.pos = 3;

	/* UTF-8 throughout, checked once; a NUL byte is not valid text either */
	valid = pg_encoding_verifymbstr(PG_UTF8, r.data + r.pos, r.len - r.pos);
	if (valid < r.len - r.pos)
	{
		int			line = 1;
		int			i;

		for (i = r.pos; i < r.pos + valid; i++)
			if (r.data[i] == '\n')
				line++;
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid data: line %d of the CSV file is not UTF-8 text", line),
				 errdetail("Field \"data\" must be UTF-8 text; byte %d is not.", i + 1),
				 errhint("Save the sheet again as \"CSV UTF-8\"."),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "data")));
	}
	r.delimiter = csv_detect_delimiter(r.data + r.pos, r.len - r.pos);

	per_record = AllocSetContextCreate(CurrentMemoryContext, "csv record", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(per_record);
	values = palloc(sizeof(Datum) * CSV_MAX_FIELDS);
	nulls = palloc(sizeof(bool) * CSV_MAX_FIELDS);
	MemoryContextSwitchTo(old);

	while (r.pos < r.len)
	{
		int			nfields = 0;
		int			dims[1];
		int			lbs[1] = {1};
		Datum		out[2];
		bool		outnulls[2] = {false, false};

		CHECK_FOR_INTERRUPTS();
		r.record++;
		if (csv_at_record_end(&r))
		{
			/* an empty line */
			csv_skip_record_end(&r);
			continue;
		}
		old = MemoryContextSwitchTo(per_record);
		initStringInfo(&field);
		for (;;)
		{
			bool		quoted;

			if (nfields >= CSV_MAX_FIELDS)
				csv_error(&r, "has more than 1000 fields");
			csv_read_field(&r, &field, &quoted);
			if (field.len == 0 && !quoted)
			{
				values[nfields] = (Datum) 0;
				nulls[nfields] = true;
			}
			else
			{
				char	   *text = pg_any_to_server(field.data, field.len, PG_UTF8);

				values[nfields] = PointerGetDatum(cstring_to_text(text));
				nulls[nfields] = false;
			}
			nfields++;
			if (csv_at_record_end(&r))
				break;
			r.pos++;			/* the delimiter */
		}
		csv_skip_record_end(&r);
		dims[0] = nfields;
		out[0] = Int32GetDatum(r.record);
		out[1] = PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
		MemoryContextReset(per_record);
		old = MemoryContextSwitchTo(per_record);
		values = palloc(sizeof(Datum) * CSV_MAX_FIELDS);
		nulls = palloc(sizeof(bool) * CSV_MAX_FIELDS);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(per_record);
	return (Datum) 0;
}

/* Read 1 to maxdigits digits at s[*pos]; -1 when there is none. */
static int
read_number(const char *s, int len, int *pos, int maxdigits)
{
	int			v = 0;
	int			n = 0;

	while (*pos < len && n < maxdigits && s[*pos] >= '0' && s[*pos] <= '9')
	{
		v = v * 10 + (s[*pos] - '0');
		(*pos)++;
		n++;
	}
	if (n == 0 || (*pos < len && s[*pos] >= '0' && s[*pos] <= '9'))
		return -1;
	return v;
}

static void
date_error(const char *field, int errcode_value)
{
	ereport(ERROR,
			(errcode(errcode_value),
			 errmsg("invalid %s: not a date", field),
			 errdetail("Field \"%s\" must be a date such as 31/12/1990, 31-12-1990, 31.12.1990, 1990-12-31 or an Excel date number, optionally followed by a time such as 08:30 or 08:30:15.",
					   field),
			 errhint("Dates are read day first, as Vietnamese users write them; an Excel date number has at least five digits (from 1927)."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

/*
 * customer_mgmt_internal.parse_vn_datetime(field text, value text)
 *	  RETURNS timestamp
 *
 * A date (at midnight) or a date and time as a spreadsheet holds it:
 * day/month/year with '/', '-' or '.', year-month-day, or an Excel date
 * number of five to seven digits (days since 1899-12-30, a fraction being
 * the time of day);
 * optionally followed by a space or 'T' and hh:mm or hh:mm:ss.  The error
 * names the field; the value is not quoted (it may be personal data).
 */
Datum
cm_parse_vn_datetime(PG_FUNCTION_ARGS)
{
	char	   *field = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value_text = PG_GETARG_TEXT_PP(1);
	const char *s = VARDATA_ANY(value_text);
	int			len = VARSIZE_ANY_EXHDR(value_text);
	int			pos = 0;
	int			year,
				month,
				day;
	int			hour = 0,
				minute = 0,
				second = 0;
	double		fraction = 0;
	struct pg_tm tm;
	Timestamp	result;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	while (pos < len && (s[pos] == ' ' || s[pos] == '\t'))
		pos++;
	if (pos >= len)
		PG_RETURN_NULL();

	/*
	 * An Excel date number: five to seven digits (1927-05-18 to 9999-12-31; a
	 * shorter number is more likely a year than a date), optionally a
	 * fraction.
	 */
	{
		int			i = pos;
		int			whole = 0;
		bool		all_digits = true;
		bool		dot = false;

		for (; i < len; i++)
		{
			if (s[i] == '.' && !dot && i > pos)
				dot = true;
			else if (s[i] < '0' || s[i] > '9')
			{
				all_digits = false;
				break;
			}
			else if (!dot)
				whole++;
		}
		if (all_digits && len - pos <= 20 && whole >= 5 && whole <= 7)
		{
			char		buf[24];
			double		serial;
			int			days;

			memcpy(buf, s + pos, len - pos);
			buf[len - pos] = '\0';
			serial = strtod(buf, NULL);
			/* Excel's 1900 calendar has a 29 February that never was */
			if (serial >= 2958466)
				date_error(field, ERRCODE_DATETIME_FIELD_OVERFLOW);
			days = (int) serial;
			fraction = serial - days;
			/* 1899-12-30 is Julian day 2415019 */
			j2date(2415019 + days, &year, &month, &day);
			second = (int) (fraction * SECS_PER_DAY + 0.5);
			if (second >= SECS_PER_DAY)
				second = SECS_PER_DAY - 1;
			hour = second / 3600;
			minute = (second / 60) % 60;
			second %= 60;
			goto make;
		}
	}

	{
		int			a = read_number(s, len, &pos, 4);
		char		sep;
		int			b,
					c;

		if (a < 0 || pos >= len || (s[pos] != '/' && s[pos] != '-' && s[pos] != '.'))
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		sep = s[pos++];
		b = read_number(s, len, &pos, 2);
		if (b < 0 || pos >= len || s[pos] != sep)
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		pos++;
		c = read_number(s, len, &pos, 4);
		if (c < 0)
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		if (a >= 1000)
		{
			/* year first: 1990-12-31 */
			year = a;
			month = b;
			day = c;
		}
		else
		{
			/* day first: 31/12/1990; a two-digit year is ambiguous */
			if (c < 1000)
				date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
			day = a;
			month = b;
			year = c;
		}
	}

	/* a time of day */
	if (pos < len)
	{
		if (s[pos] != ' ' && s[pos] != 'T')
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		while (pos < len && (s[pos] == ' ' || s[pos] == 'T'))
			pos++;
		hour = read_number(s, len, &pos, 2);
		if (hour < 0 || pos >= len || s[pos] != ':')
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		pos++;
		minute = read_number(s, len, &pos, 2);
		if (minute < 0)
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		if (pos < len && s[pos] == ':')
		{
			pos++;
			second = read_number(s, len, &pos, 2);
			if (second < 0)
				date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		}
		if (pos < len)
			date_error(field, ERRCODE_INVALID_DATETIME_FORMAT);
		if (hour > 23 || minute > 59 || second > 59)
			date_error(field, ERRCODE_DATETIME_FIELD_OVERFLOW);
	}

	if (year < 1900 || month < 1 || month > 12 || day < 1 ||
		day > day_tab[isleap(year)][month - 1])
		date_error(field, ERRCODE_DATETIME_FIELD_OVERFLOW);

make:
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year;
	tm.tm_mon = month;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	if (tm2timestamp(&tm, 0, NULL, &result) != 0)
		date_error(field, ERRCODE_DATETIME_FIELD_OVERFLOW);
	PG_RETURN_TIMESTAMP(result);
}
