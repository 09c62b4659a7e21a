/*-------------------------------------------------------------------------
 *
 * searchkey.c
 *	  Accent- and case-insensitive search keys for customer search.
 *
 * get_customers(search => ...) must find "Nguyễn Văn Đức" from
 * "nguyen van duc".  The usual answer, an index on lower(unaccent(...)),
 * has two problems: unaccent() is only STABLE (its rules file can change
 * under an index), and it resolves its dictionary through search_path,
 * which pg_dump clears while it restores indexes.  So the folding is done
 * here, in C, from a fixed table: the result depends on nothing but the
 * input, the function is truly IMMUTABLE, and a trigram index over it is
 * safe to build, dump and restore.
 *
 * Folding rules:
 *	  - ASCII letters are lower-cased;
 *	  - Latin letters with diacritics (Latin-1 Supplement, Latin
 *		Extended-A, the Vietnamese letters ơ ư and the whole Latin
 *		Extended Additional block Vietnamese uses) become their base
 *		letters: "Đức" -> "duc", "Ỹ" -> "y";
 *	  - combining diacritical marks (U+0300..U+036F) are dropped, so
 *		decomposed (NFD) input folds like precomposed input;
 *	  - runs of white space (ASCII, no-break space, U+2000..U+200A,
 *		U+3000) become one space, and leading/trailing space is dropped;
 *	  - every other character is kept as it is.
 * On Vietnamese text this gives exactly lower(unaccent(text)); the tests
 * check that on every generated name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "customer_mgmt.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(cm_search_fold);
PG_FUNCTION_INFO_V1(cm_search_key);

/* U+00C0 .. U+00FF; NULL keeps the character */
static const char *const latin1_fold[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c",	/* C0-C7 */
	"e", "e", "e", "e", "i", "i", "i", "i", /* C8-CF */
	"d", "n", "o", "o", "o", "o", "o", NULL,	/* D0-D7 (D7 is x) */
	"o", "u", "u", "u", "u", "y", "th", "ss",	/* D8-DF */
	"a", "a", "a", "a", "a", "a", "ae", "c",	/* E0-E7 */
	"e", "e", "e", "e", "i", "i", "i", "i", /* E8-EF */
	"d", "n", "o", "o", "o", "o", "o", NULL,	/* F0-F7 (F7 is /) */
	"o", "u", "u", "u", "u", "y", "th", "y" /* F8-FF */
};

/*
 * U+0100 .. U+017F, one base letter each; the two ligatures (U+0132/3 and
 * U+0152/3) are handled separately.
 */
static const char latin_ext_a_fold[] =
"aaaaaacccccccc"				/* 0100-010D */
"dddd"							/* 010E-0111 */
"eeeeeeeeee"					/* 0112-011B */
"gggggggg"						/* 011C-0123 */
"hhhh"							/* 0124-0127 */
"iiiiiiiiii"					/* 0128-0131 */
"iijj"							/* 0132-0135 (0132/3 overridden) */
"kkk"							/* 0136-0138 */
"llllllllll"					/* 0139-0142 */
"nnnnnnnnn"						/* 0143-014B */
"oooooooo"						/* 014C-0153 (0152/3 overridden) */
"rrrrrr"						/* 0154-0159 */
"ssssssss"						/* 015A-0161 */
"tttttt"						/* 0162-0167 */
"uuuuuuuuuuuu"					/* 0168-0173 */
"ww"							/* 0174-0175 */
"yyy"							/* 0176-0178 */
"zzzzzz"						/* 0179-017E */
"s";							/* 017F */

StaticAssertDecl(sizeof(latin_ext_a_fold) == 0x80 + 1,
				 "latin_ext_a_fold must cover U+0100..U+017F");

static const char *const ascii_letters[26] = {
	"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
	"n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z"
};

/*
 * The replacement for code point cp, or NULL to keep it as it is.
 */
static const char *
fold_codepoint(pg_wchar cp)
{
	if (cp >= 0xC0 && cp <= 0xFF)
		return latin1_fold[cp - 0xC0];
	if (cp >= 0x100 && cp <= 0x17F)
	{
		if (cp == 0x132 || cp == 0x133)
			return "ij";
		if (cp == 0x152 || cp == 0x153)
			return "oe";
		return ascii_letters[latin_ext_a_fold[cp - 0x100] - 'a'];
	}
	if (cp == 0x1A0 || cp == 0x1A1)
		return "o";
	if (cp == 0x1AF || cp == 0x1B0)
		return "u";
	/* Latin Extended Additional, the block of Vietnamese tone letters */
	if (cp >= 0x1EA0 && cp <= 0x1EB7)
		return "a";
	if (cp >= 0x1EB8 && cp <= 0x1EC7)
		return "e";
	if (cp >= 0x1EC8 && cp <= 0x1ECB)
		return "i";
	if (cp >= 0x1ECC && cp <= 0x1EE3)
		return "o";
	if (cp >= 0x1EE4 && cp <= 0x1EF1)
		return "u";
	if (cp >= 0x1EF2 && cp <= 0x1EF9)
		return "y";
	return NULL;
}

static inline bool
is_space_codepoint(pg_wchar cp)
{
	return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 ||
		(cp >= 0x2000 && cp <= 0x200A) || cp == 0x3000;
}

/*
 * Append the folded form of s[0..len) to buf.
 *
 * White space is collapsed; a space is emitted only between two kept
 * characters, so the caller gets no leading or trailing space from here.
 */
void
cm_fold_append(StringInfo buf, const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	bool		pending_space = false;
	bool		any = false;

	while (p < end)
	{
		pg_wchar	cp;
		int			clen;
		const char *repl = NULL;

		if (*p < 0x80)
		{
			cp = *p;
			clen = 1;
			if (cp >= 'A' && cp <= 'Z')
				repl = ascii_letters[cp - 'A'];
		}
		else if (utf8)
		{
			clen = pg_utf_mblen(p);
			if (clen > end - p)
				clen = end - p; /* cannot happen for valid text */
			cp = utf8_to_unicode(p);
			if (cp >= 0x300 && cp <= 0x36F)
			{
				p += clen;
				continue;		/* combining mark: drop it */
			}
			repl = fold_codepoint(cp);
		}
		else
		{
			/* another server encoding: keep non-ASCII bytes untouched */
			cp = 0x80;
			clen = 1;
		}

		if (is_space_codepoint(cp))
		{
			pending_space = any;
			p += clen;
			continue;
		}

		if (pending_space)
			appendStringInfoChar(buf, ' ');
		pending_space = false;
		any = true;

		if (repl != NULL)
			appendStringInfoString(buf, repl);
		else
			appendBinaryStringInfo(buf, (const char *) p, clen);
		p += clen;
	}
}

/*
 * customer_mgmt.search_fold(text) returns text
 *
 * The folded form of a piece of text, as used on the query side.
 */
Datum
cm_search_fold(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	initStringInfo(&buf);
	cm_fold_append(&buf, VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * customer_mgmt.search_key(full_name text, email text, phone text)
 *		returns text
 *
 * The indexed search key of a customer: the folded fields, separated by a
 * tab.  A folded query never contains a tab (white space folds to a
 * space), so a match never straddles two fields.  NULL fields are empty.
 */
Datum
cm_search_key(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < 3; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '\t');
		if (!PG_ARGISNULL(i))
		{
			text	   *t = PG_GETARG_TEXT_PP(i);

			cm_fold_append(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
