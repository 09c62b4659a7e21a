/*-------------------------------------------------------------------------
 *
 * phone.c
 *	  Normalisation of Vietnamese phone numbers.
 *
 * Customers type their numbers in many ways: "0912 345 678",
 * "0912.345.678", "+84 912 345 678", "(+84) 912-345-678", "84912345678".
 * The extension stores one canonical national form, "0912345678", so that
 * equality, uniqueness checks and search see the same number.
 *
 * A number is accepted when, after removing spaces, dots, dashes and
 * parentheses and turning a leading "+84" (or a bare "84" on a number of
 * international length, with or without the trunk 0 after it) into "0", it is
 *	  - a mobile number: 0 followed by 3, 5, 7, 8 or 9 and 8 more digits
 *		(10 digits, the numbering plan in force since 2018), or
 *	  - a fixed-line number: 02 followed by 9 digits (11 digits).
 * Anything else, including letters or a "+" that is not at the start,
 * is not a Vietnamese phone number and yields NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "customer_mgmt.h"

PG_FUNCTION_INFO_V1(cm_normalize_phone);

#define MAX_PHONE_DIGITS 15

/*
 * Canonical national form of the phone number in s[0..len), written to out
 * (at least MAX_PHONE_DIGITS + 1 bytes).  Returns false when s is not a
 * Vietnamese phone number.
 */
static bool
normalize_vn_phone(const char *s, int len, char *out)
{
	char		digits[MAX_PHONE_DIGITS + 1];
	int			ndigits = 0;
	bool		plus = false;
	bool		seen_digit = false;
	int			i;
	const char *national;
	int			nlen;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			if (ndigits >= MAX_PHONE_DIGITS)
				return false;
			digits[ndigits++] = c;
			seen_digit = true;
		}
		else if (c == '+' && !seen_digit && !plus)
			plus = true;
		else if (c == ' ' || c == '.' || c == '-' || c == '(' || c == ')')
			continue;
		else
			return false;
	}
	digits[ndigits] = '\0';

	if (plus)
	{
		/* international form: only Vietnam's country code is accepted */
		if (ndigits < 2 || digits[0] != '8' || digits[1] != '4')
			return false;
		national = digits + 2;
		nlen = ndigits - 2;
	}
	else if (ndigits >= 11 && digits[0] == '8' && digits[1] == '4')
	{
		national = digits + 2;
		nlen = ndigits - 2;
	}
	else if (ndigits > 0 && digits[0] == '0')
	{
		national = digits + 1;
		nlen = ndigits - 1;
	}
	else
		return false;

	/* "+84 0912 345 678": a trunk prefix kept after the country code */
	if (national != digits + 1 && nlen > 0 && national[0] == '0')
	{
		national++;
		nlen--;
	}
	/* national is now the number without its trunk prefix 0 */
	if (nlen > 0 && national[0] == '0')
		return false;
	if (nlen == 9 && strchr("35789", national[0]) != NULL)
		;						/* mobile */
	else if (nlen == 10 && national[0] == '2')
		;						/* fixed line */
	else
		return false;

	out[0] = '0';
	memcpy(out + 1, national, nlen);
	out[nlen + 1] = '\0';
	return true;
}

/*
 * customer_mgmt.normalize_phone(text) returns text
 *
 * The canonical form of a Vietnamese phone number, or NULL when the text
 * is not one.
 */
Datum
cm_normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char		out[MAX_PHONE_DIGITS + 2];

	if (!normalize_vn_phone(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), out))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
