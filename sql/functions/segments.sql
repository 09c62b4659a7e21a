-- customer_mgmt: Segments (design 4.3, 4.4, 6.3): the segment language of
-- SPEC section 3a, compiled in C (src/segment_lang.c).

CREATE OR REPLACE FUNCTION compile_segment_query(query text, as_of timestamptz) RETURNS text
    AS 'MODULE_PATHNAME', 'cm_compile_segment_query'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION compile_segment_query(text, timestamptz) IS
    'Internal: the SQL predicate, over the attribute row s, of a query in the segment language (docs/segments.md); relative dates count back from as_of; 22023 with the position of anything else.';
