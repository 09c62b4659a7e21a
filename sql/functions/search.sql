-- customer_mgmt: Search and normalisation: the C functions that fold text for accent-insensitive
-- search and canonicalise phone numbers (src/searchkey.c, src/phone.c), and the
-- LIKE pattern of a search text.  Runs before the tables: an index uses them.

CREATE OR REPLACE FUNCTION search_fold(input text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_fold'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION search_fold(text) IS
    'Accent- and case-folded form of a text, as used by customer search: search_fold(''Nguyễn Văn Đức'') = ''nguyen van duc''.';

CREATE OR REPLACE FUNCTION search_key(full_name text, email text, phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_search_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION search_key(text, text, text) IS
    'Indexed search key of a user: folded name, e-mail and phone separated by tabs.';

CREATE OR REPLACE FUNCTION normalize_phone(phone_number text) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_normalize_phone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION normalize_phone(text) IS
    'Canonical national form (0912345678) of a Vietnamese phone number, or NULL when the text is not one.';

-- Escape LIKE's wildcards in user input.
CREATE OR REPLACE FUNCTION like_escape(input text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(input, '\', '\\'), '%', '\%'), '_', '\_')
$$;
COMMENT ON FUNCTION like_escape(text) IS 'Escapes \, % and _ so that user input matches literally in LIKE.';

-- The LIKE pattern of a search text over search_key(): a phone-like text
-- ("0912 345 678", "+84 912 345 678") matches the canonical phone digits,
-- anything else its folded form.
CREATE OR REPLACE FUNCTION search_pattern(search text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := btrim(search);
    digits text;
BEGIN
    IF q IS NULL OR q = '' THEN
        RETURN NULL;
    END IF;
    IF length(q) > 200 THEN
        PERFORM customer_mgmt.raise_invalid('search', 'must be at most 200 characters long', q);
    END IF;
    digits := regexp_replace(q, '[^0-9]', '', 'g');
    IF q ~ '^[0-9 ().+-]+$' AND length(digits) >= 3 THEN
        IF q ~ '^[ (]*\+' THEN
            IF digits !~ '^84' THEN
                RETURN '%' || digits || '%';        -- not Vietnamese: cannot match a canonical number
            END IF;
            digits := '0' || ltrim(substr(digits, 3), '0');
        END IF;
        RETURN '%' || digits || '%';
    END IF;
    RETURN '%' || customer_mgmt.like_escape(customer_mgmt.search_fold(q)) || '%';
END
$$;
COMMENT ON FUNCTION search_pattern(text) IS
    'The LIKE pattern over search_key() for a search text: phone-like text matches canonical phone digits, other text its folded form; NULL for no search.';

-- An e-mail address as the mailbox it reaches: lower case, and for Gmail
-- without the dots and the +tag of its local part (Gmail ignores both).
CREATE OR REPLACE FUNCTION email_identity(email text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN split_part(lower(email), '@', 2) IN ('gmail.com', 'googlemail.com')
                THEN replace(split_part(split_part(lower(email), '@', 1), '+', 1), '.', '') || '@gmail.com'
                ELSE lower(email) END
$$;
COMMENT ON FUNCTION email_identity(text) IS
    'Internal: the mailbox an e-mail address reaches: lower case; for gmail.com and googlemail.com without dots and +tag in the local part.';
