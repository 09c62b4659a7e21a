-- The CSV reader and the spreadsheet dates of import_csv (src/csv.c):
-- exact records and dates for the cases a spreadsheet writes, the errors,
-- and a fuzz run of each (round trips of generated files and dates, and
-- random or mutated bytes that must give records or a clean refusal).
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.records(data bytea) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT r.record || ': ' || array_to_string(r.fields, ' | ', '<NULL>') FROM customer_mgmt.csv_records(data) r
$$;

-- BOM, CRLF, a quoted field with the separator, a doubled quote and a line
-- break, an empty field (NULL), an empty quoted field (''), an empty line
SELECT * FROM pg_temp.records(convert_to(E'\uFEFFMã KH,Họ tên,Ghi chú\r\nKH-1,"Nguyễn, Văn ""An""",\r\n\r\nKH-2,"Trần\nBình",""\r\n', 'UTF8'));
-- the semicolon, as Excel writes it where the decimal separator is a comma
SELECT * FROM pg_temp.records(convert_to(E'a;b;c\n1;2,5;3\n', 'UTF8'));
-- the tab; CR alone ends records; no line break at the end
SELECT * FROM pg_temp.records(convert_to(E'a\tb\r1\t2\r3\t4', 'UTF8'));
-- a header alone; nothing at all
SELECT * FROM pg_temp.records(convert_to('only', 'UTF8'));
SELECT count(*) FROM customer_mgmt.csv_records(''::bytea);
-- not CSV: each refused naming the record
SELECT * FROM pg_temp.records(convert_to(E'a,b\n1,"open\n', 'UTF8'));
SELECT * FROM pg_temp.records(convert_to(E'a,b\n1,"x"y\n', 'UTF8'));
SELECT * FROM pg_temp.records(convert_to(E'a,b\n1,2\n3,x"y\n', 'UTF8'));
SELECT * FROM pg_temp.records(convert_to(repeat('x,', 1000) || 'x', 'UTF8'));
-- not UTF-8 (Windows-1258, as old Excel saves Vietnamese), and a NUL byte
SELECT * FROM pg_temp.records('\x612c620a4e67757965e52c310a'::bytea);
SELECT * FROM pg_temp.records('\x612c620a00'::bytea);

-- dates as Vietnamese users and Excel write them
SELECT v, customer_mgmt.parse_vn_datetime('date_of_birth', v)
  FROM unnest(ARRAY['15/03/1990', '5/3/1990', '15-03-1990', '15.03.1990', '1990-03-15', '1990/3/5', ' 29/02/2024 ',
                    '01/02/2024 08:30', '01/02/2024 08:30:15', '2024-02-01T08:30', '32874', '45000', '45000.75',
                    '2958465', '']) v;
-- and what they are not: the field is named, the value is not quoted
CREATE FUNCTION pg_temp.try_date(v text, OUT state text, OUT message text, OUT field text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM customer_mgmt.parse_vn_datetime('date_of_birth', v);
    state := 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
END
$$;
SELECT v, e.*
  FROM unnest(ARRAY['32/01/1990', '29/02/2023', '15/13/1990', '15/03/90', '1990', '9999', '31/12/1899',
                    '15/03/1990 25:00', '15/03/1990 8h30', '15/03/1990x', 'Nguyễn', '15//1990', '2958466',
                    '12345678', '1.5.2', '--']) v, pg_temp.try_date(v) e;

-- fuzz 1: 3,000 files generated from random records (fields of letters,
-- Vietnamese, separators, quotes and line breaks, quoted where they must
-- be) read back exactly
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS
    $$ SELECT a[1 + floor(random() * cardinality(a))::integer] $$;
CREATE FUNCTION pg_temp.csv_field(f text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN f = '' OR f ~ '[,;\t"\r\n]' THEN '"' || replace(f, '"', '""') || '"' ELSE f END
$$;
CREATE FUNCTION pg_temp.round_trips(n integer) RETURNS TABLE (outcome text, files bigint) LANGUAGE plpgsql AS $$
DECLARE
    pieces text[] := ARRAY['a', 'Nguyễn', 'Đ', ' ', ',', ';', E'\t', '"', E'\n', E'\r\n', E'\r', '0912 345 678', '15/03/1990', 'x@y.vn'];
    recs text[][];
    nrec integer;
    nf integer;
    f text;
    body text;
    got text[];
    same bigint := 0;
    differ bigint := 0;
BEGIN
    PERFORM setseed(0.4242);
    FOR i IN 1 .. n LOOP
        nrec := 1 + floor(random() * 4)::integer;
        nf := 1 + floor(random() * 4)::integer;
        body := '';
        got := NULL;
        recs := array_fill(NULL::text, ARRAY[nrec, nf]);
        FOR r IN 1 .. nrec LOOP
            FOR c IN 1 .. nf LOOP
                f := (SELECT coalesce(string_agg(pg_temp.pick(pieces), ''), '') FROM generate_series(1, floor(random() * 4)::integer));
                recs[r][c] := f;
                body := body || pg_temp.csv_field(f) || CASE WHEN c < nf THEN ',' ELSE '' END;
            END LOOP;
            body := body || pg_temp.pick(ARRAY[E'\r\n', E'\n']);
        END LOOP;
        IF (SELECT array_agg(x ORDER BY r.record, o) FROM customer_mgmt.csv_records(convert_to(body, 'UTF8')) r,
                   unnest(r.fields) WITH ORDINALITY u(x, o))
           IS NOT DISTINCT FROM (SELECT array_agg(x) FROM unnest(recs) x) THEN
            same := same + 1;
        ELSE
            differ := differ + 1;
            RAISE WARNING 'file % read back differently', quote_literal(body);
        END IF;
    END LOOP;
    RETURN QUERY VALUES ('read back exactly', same), ('read back differently', differ);
END
$$;
SELECT outcome, CASE WHEN outcome = 'read back differently' THEN files = 0 ELSE files = 3000 END AS as_expected
  FROM pg_temp.round_trips(3000);

-- fuzz 2: 20,000 random byte strings and mutated files (bytes dropped,
-- doubled, replaced by separators, quotes, line breaks, NUL and bytes that
-- are not UTF-8): each gives records or 22P04 / 22021, nothing else
CREATE FUNCTION pg_temp.fuzz_bytes(n integer) RETURNS TABLE (outcome text, inputs bigint) LANGUAGE plpgsql AS $$
DECLARE
    atoms bytea[] := ARRAY['\x22', '\x2c', '\x3b', '\x09', '\x0d', '\x0a', '\x61', '\x20', '\xc3a0', '\xe1bb87', '\xff',
                           '\x00', '\xc3', '\xefbbbf', '\xf09f9880']::bytea[];
    good bytea := convert_to(E'\uFEFFMã KH;Họ tên;Ngày sinh\r\nKH-1;"Nguyễn ""An""";15/03/1990\r\nKH-2;"Trần\nBình";\r\n', 'UTF8');
    b bytea;
    pos integer;
    ok bigint := 0;
    refused bigint := 0;
    other bigint := 0;
    state text;
BEGIN
    PERFORM setseed(0.9182);
    FOR i IN 1 .. n LOOP
        IF i % 2 = 0 THEN
            b := '';
            FOR k IN 1 .. floor(random() * 40)::integer LOOP
                b := b || atoms[1 + floor(random() * cardinality(atoms))::integer];
            END LOOP;
        ELSE
            b := good;
            FOR m IN 1 .. 1 + floor(random() * 4)::integer LOOP
                pos := floor(random() * length(b))::integer;
                b := CASE floor(random() * 3)::integer
                         WHEN 0 THEN substr(b, 1, pos) || substr(b, pos + 2)
                         WHEN 1 THEN substr(b, 1, pos + 1) || substr(b, pos + 1)
                         ELSE substr(b, 1, pos) || atoms[1 + floor(random() * cardinality(atoms))::integer] || substr(b, pos + 2) END;
            END LOOP;
        END IF;
        BEGIN
            PERFORM count(*) FROM customer_mgmt.csv_records(b);
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
            IF state IN ('22P04', '22021') THEN
                refused := refused + 1;
            ELSE
                other := other + 1;
                RAISE WARNING 'input % gave % (%)', b, state, SQLERRM;
            END IF;
        END;
    END LOOP;
    RETURN QUERY VALUES ('read', ok), ('refused with 22P04 or 22021', refused), ('anything else', other);
END
$$;
SELECT outcome, CASE WHEN outcome = 'anything else' THEN inputs = 0 ELSE inputs > 1000 END AS as_expected
  FROM pg_temp.fuzz_bytes(20000);

-- fuzz 3: 5,000 random dates written each way read back as themselves,
-- and 20,000 random strings of digits and separators give a time or
-- 22007 / 22008 naming the field, nothing else
CREATE FUNCTION pg_temp.fuzz_dates(n integer) RETURNS TABLE (outcome text, inputs bigint) LANGUAGE plpgsql AS $$
DECLARE
    d date;
    s text;
    t timestamp;
    same bigint := 0;
    differ bigint := 0;
    ok bigint := 0;
    refused bigint := 0;
    other bigint := 0;
    state text;
    col text;
BEGIN
    PERFORM setseed(0.3141);
    FOR i IN 1 .. n LOOP
        d := DATE '1927-06-01' + floor(random() * 36500)::integer;
        FOREACH s IN ARRAY ARRAY[to_char(d, 'DD/MM/YYYY'), to_char(d, 'FMDD/FMMM/YYYY'), to_char(d, 'DD-MM-YYYY'),
                                 to_char(d, 'DD.MM.YYYY'), to_char(d, 'YYYY-MM-DD'), (d - DATE '1899-12-30')::text] LOOP
            IF customer_mgmt.parse_vn_datetime('f', s) = d THEN
                same := same + 1;
            ELSE
                differ := differ + 1;
                RAISE WARNING 'date % written % read back as %', d, s, customer_mgmt.parse_vn_datetime('f', s);
            END IF;
        END LOOP;
    END LOOP;
    FOR i IN 1 .. 4 * n LOOP
        s := (SELECT string_agg(pg_temp.pick(ARRAY['0', '1', '2', '3', '9', '19', '2024', '/', '-', '.', ':', ' ', 'T', 'x', 'đ']), '')
                FROM generate_series(1, 1 + floor(random() * 16)::integer));
        BEGIN
            t := customer_mgmt.parse_vn_datetime('f', s);
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, col = COLUMN_NAME;
            IF state IN ('22007', '22008') AND col = 'f' THEN
                refused := refused + 1;
            ELSE
                other := other + 1;
                RAISE WARNING 'input % gave % (%)', s, state, SQLERRM;
            END IF;
        END;
    END LOOP;
    RETURN QUERY VALUES ('written and read back', same), ('read back differently', differ), ('random: read', ok),
                        ('random: refused with 22007 or 22008', refused), ('random: anything else', other);
END
$$;
SELECT outcome, CASE WHEN outcome LIKE '%differently' OR outcome LIKE '%anything else' THEN inputs = 0
                     WHEN outcome = 'written and read back' THEN inputs = 30000 ELSE inputs > 100 END AS as_expected
  FROM pg_temp.fuzz_dates(5000);
