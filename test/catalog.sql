-- A canonical listing of everything customer_mgmt puts in the catalog, one
-- line per fact, sorted: the functions (arguments, result, body, volatility,
-- strictness, parallel safety, SECURITY DEFINER, settings, owner, privileges,
-- comment), aggregates, tables, columns, constraints, indexes, triggers,
-- types and enum labels in order, sequences, schemas, the extension's member
-- objects, its pg_dump registrations and the rows it installs itself.
-- test/t/003_upgrade.pl compares it between a fresh install and every
-- update path; pg_dump cannot (it writes only CREATE EXTENSION).
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace WHERE nspname IN ('customer_mgmt', 'customer_mgmt_internal')
), acl(o, a) AS (
    SELECT NULL::oid, NULL::aclitem[] WHERE false
), facts(line) AS (
    SELECT format('schema %s owner=%s acl=%s comment=%s', n.nspname, pg_get_userbyid(s.nspowner),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(s.nspacl) x),
                  obj_description(s.oid, 'pg_namespace'))
      FROM ns n JOIN pg_namespace s ON s.oid = n.oid
    UNION ALL
    SELECT format('function %s(%s) kind=%s returns=%s%s lang=%s volatile=%s strict=%s parallel=%s secdef=%s leakproof=%s cost=%s rows=%s config=%s owner=%s acl=%s src=%s bin=%s comment=%s',
                  p.oid::regprocedure::text, pg_get_function_arguments(p.oid), p.prokind,
                  CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END,
                  CASE WHEN p.proretset THEN ' setof' ELSE '' END,
                  l.lanname, p.provolatile, p.proisstrict, p.proparallel, p.prosecdef, p.proleakproof,
                  p.procost, p.prorows, p.proconfig, pg_get_userbyid(p.proowner),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x),
                  md5(p.prosrc), p.probin, obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    SELECT format('aggregate %s transfn=%s finalfn=%s combinefn=%s serialfn=%s deserialfn=%s stype=%s sspace=%s initval=%s finalmodify=%s',
                  a.aggfnoid::regprocedure::text, a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
                  a.aggdeserialfn, a.aggtranstype::regtype, a.aggtransspace, a.agginitval, a.aggfinalmodify)
      FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT format('relation %s.%s kind=%s persistence=%s options=%s owner=%s acl=%s comment=%s',
                  ns.nspname, c.relname, c.relkind, c.relpersistence, c.reloptions, pg_get_userbyid(c.relowner),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x),
                  obj_description(c.oid, 'pg_class'))
      FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('column %s.%s #%s %s type=%s notnull=%s default=%s identity=%s generated=%s collation=%s comment=%s',
                  ns.nspname, c.relname,
                  row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                  a.attidentity, a.attgenerated, a.attcollation::regcollation, col_description(c.oid, a.attnum))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'c', 'f', 'p')
    UNION ALL
    SELECT format('constraint %s on %s: %s deferrable=%s', co.conname, co.conrelid::regclass,
                  pg_get_constraintdef(co.oid), co.condeferrable)
      FROM pg_constraint co JOIN ns ON ns.oid = co.connamespace
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('trigger %s enabled=%s comment=%s', pg_get_triggerdef(t.oid), t.tgenabled, obj_description(t.oid, 'pg_trigger'))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('type %s.%s kind=%s owner=%s acl=%s labels=%s comment=%s', ns.nspname, t.typname, t.typtype,
                  pg_get_userbyid(t.typowner),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(t.typacl) x),
                  (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
                  obj_description(t.oid, 'pg_type'))
      FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd', 'c', 'r', 'm') AND (t.typrelid = 0 OR
           (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    UNION ALL
    SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
                  s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                  s.seqcache, s.seqcycle)
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('extension %s version=%s schema=%s relocatable=%s', e.extname, e.extversion,
                  e.extnamespace::regnamespace, e.extrelocatable)
      FROM pg_extension e WHERE e.extname = 'customer_mgmt'
    UNION ALL
    SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
     WHERE e.extname = 'customer_mgmt' AND d.deptype = 'e'
    UNION ALL
    SELECT format('config_dump %s where=%s', c.cfg::regclass, nullif(c.cond, ''))
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(cfg, cond)
     WHERE e.extname = 'customer_mgmt'
    UNION ALL
    SELECT format('rows provinces %s', md5(string_agg(p::text, ';' ORDER BY p.name)))
      FROM customer_mgmt.provinces p
    UNION ALL
    SELECT format('rows setting_definitions %s', md5(string_agg(s::text, ';' ORDER BY s.name)))
      FROM customer_mgmt.setting_definitions s
    UNION ALL
    SELECT format('rows system segment %s %s %s %s %s %s', s.id, s.name, s.description, s.criteria, s.color_code, s.auto_assign)
      FROM customer_mgmt.customer_segments s WHERE s.is_system
)
SELECT line FROM facts ORDER BY line COLLATE "C";
