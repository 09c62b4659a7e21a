-- customer_mgmt privileges: who may call what (docs/operations.md, Roles).  Runs last,
-- on a fresh install and at the end of every update: it first takes every
-- privilege of PUBLIC and of the three roles away, then grants exactly the
-- list below, so an updated install ends with the same privileges as a fresh
-- one.
--   customer_mgmt_staff  reads
--   customer_mgmt_admin  everything staff can (it is a member), and all writes
--   customer_mgmt_app    ingestion of events from the shop's application
-- No role has privileges on the tables: the API is the functions.

-- Least privilege (docs/architecture.md, Who owns what): every object of
-- the extension belongs to customer_mgmt_owner, a NOLOGIN role that holds
-- nothing else, so SECURITY DEFINER code runs with what the extension's own
-- objects allow and no more: not as the superuser who installed it.  Only
-- schedule_jobs and unschedule_jobs stay the installer's: they call
-- pg_cron's functions, which are a superuser's, and pg_cron runs a job as
-- the role that scheduled it, which must be able to log in.
-- (deferred checks of the rows inserted so far run first: a table with
-- pending trigger events cannot change owner)
SET CONSTRAINTS ALL IMMEDIATE;
DO $owner$
DECLARE
    stmt text;
BEGIN
    FOR stmt IN
        SELECT format('ALTER %s %s OWNER TO customer_mgmt_owner',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, c.oid::regclass)
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
           AND c.relkind IN ('r', 'p', 'v', 'S')
           -- identity and serial sequences follow their table
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO customer_mgmt_owner',
                      CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
           AND p.oid NOT IN ('customer_mgmt.schedule_jobs()'::regprocedure, 'customer_mgmt.unschedule_jobs()'::regprocedure)
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO customer_mgmt_owner',
                      CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype)
          FROM pg_catalog.pg_type t
         WHERE t.typnamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)
           AND (t.typtype IN ('e', 'd')
                OR (t.typtype = 'c' AND (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid) = 'c'))
    LOOP
        EXECUTE stmt;
    END LOOP;
END
$owner$;

REVOKE ALL ON SCHEMA customer_mgmt, customer_mgmt_internal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customer_mgmt FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA customer_mgmt, customer_mgmt_internal
    FROM PUBLIC, customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

GRANT USAGE ON SCHEMA customer_mgmt TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;
GRANT USAGE ON SCHEMA customer_mgmt, customer_mgmt_internal TO customer_mgmt_owner;
GRANT USAGE ON SCHEMA customer_mgmt_internal TO customer_mgmt_admin;

-- helpers every role may use: search, identity, settings, the scoring rules
GRANT EXECUTE ON FUNCTION
    search_fold(text), search_key(text, text, text), normalize_phone(text),
    invoker(), current_actor(), setting(text),
    engagement_score(integer, integer, double precision, double precision, integer, integer),
    churn_risk(integer, integer, double precision, double precision),
    lifecycle_segment(double precision, double precision, integer, integer, double precision, double precision,
                      integer, integer, double precision, integer, integer),
    rfm_digit(double precision, double precision[]),
    insights(double precision, double precision, integer, integer, double precision, double precision, integer, integer)
TO customer_mgmt_staff, customer_mgmt_admin, customer_mgmt_app;

-- reads
GRANT EXECUTE ON FUNCTION
    get_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer,
                  text, text, integer, integer, boolean, timestamptz, text, text, text, integer, integer, boolean,
                  boolean, text, uuid, text),
    get_customer(uuid), find_customer(text, text, text),
    get_customer_analytics(uuid),
    get_customer_orders(uuid, text, timestamptz, timestamptz, text, integer, integer),
    get_customer_overview(timestamptz, timestamptz),
    get_customer_health_score(timestamptz),
    preview_segment(text, jsonb, integer, integer),
    get_segments(integer, integer), get_segment(uuid), get_customer_segments(uuid, integer, integer), get_segment_insights(uuid),
    get_segment_attributes(),
    get_customer_notes(uuid, text, text, text, text, integer, integer),
    get_customer_timeline(uuid, integer, integer),
    bgnbd_fit(double precision, double precision, double precision),
    gamma_gamma_fit(double precision, double precision),
    bgnbd_expected_purchases(jsonb, double precision, double precision, double precision, double precision),
    bgnbd_probability_alive(jsonb, double precision, double precision, double precision),
    gamma_gamma_expected_value(jsonb, double precision, double precision)
TO customer_mgmt_staff;

-- notes: staff write them, and change or delete their own (admins any: the
-- functions check: docs/operations.md, Roles)
GRANT EXECUTE ON FUNCTION
    add_customer_note(uuid, text, text, text, text, boolean, jsonb),
    update_customer_note(uuid, jsonb),
    delete_customer_note(uuid),
    save_customer_view(text, jsonb, text, text, boolean), get_customer_views(integer, integer), delete_customer_view(uuid),
    add_customer_tags(uuid, text[]), remove_customer_tags(uuid, text[]),
    preview_bulk_action(text, jsonb, jsonb, uuid, uuid), start_bulk_action(text, jsonb, jsonb, uuid, uuid),
    run_bulk_action(bigint, integer), get_bulk_action(bigint, integer, integer),
    find_duplicate_customers(text, numeric, integer, integer)
TO customer_mgmt_staff;

-- ingestion
GRANT EXECUTE ON FUNCTION
    register_customer(text, text, text, date, text, text, timestamptz, text),
    add_customer_address(uuid, text, text, text, text, text, text, boolean, boolean, text),
    record_order(uuid, numeric, text, timestamptz, jsonb, text),
    set_order_status(uuid, text),
    record_session(uuid, timestamptz, integer, integer, boolean, text),
    upsert_customer(text, text, text, text, date, text, text, timestamptz, timestamptz),
    upsert_order(text, numeric, text, uuid, text, timestamptz, jsonb, timestamptz),
    record_login(uuid, timestamptz)
TO customer_mgmt_admin, customer_mgmt_app;

-- marketing consent: the app at registration, staff later
GRANT EXECUTE ON FUNCTION set_marketing_consent(uuid, text, text, text, timestamptz)
TO customer_mgmt_staff, customer_mgmt_app;

-- the event outbox, for the application that sends e-mails and campaigns
GRANT EXECUTE ON FUNCTION claim_events(integer, text), mark_events_processed(bigint[])
TO customer_mgmt_app, customer_mgmt_admin;

-- admin writes and jobs
GRANT EXECUTE ON FUNCTION
    set_setting(text, text),
    update_customer_status(uuid, text, text),
    calculate_customer_analytics(uuid, timestamptz),
    recalculate_all_analytics(timestamptz, boolean),
    process_analytics_queue(integer),
    create_segment(text, text, jsonb, text, text, boolean), update_segment(uuid, jsonb), delete_segment(uuid),
    refresh_segment(uuid), assign_customer_segments(uuid, uuid[], timestamptz), remove_customer_from_segment(uuid, uuid),
    remove_expired_segment_assignments(),
    anonymize_customer(uuid, text), export_customer_data(uuid), anonymize_inactive_customers(),
    export_customers(text, text, text, uuid, timestamptz, timestamptz, numeric, numeric, integer, integer, text, text, text, text[],
                     text, text, text, integer, integer, boolean, boolean, text, uuid, text),
    fit_clv_model(timestamptz),
    export_columns(),
    schedule_jobs(), unschedule_jobs(), cron_jobs(), cron_script(boolean),
    register_staff(text, text, text, text), link_login_role(uuid, text), unlink_login_role(text),
    get_audit_log(text, uuid, text, timestamptz, timestamptz, integer, integer), purge_audit_log(),
    get_imports(integer, integer), get_import_rejects(bigint, integer, integer), delete_import(bigint), import_csv(bytea),
    attach_source(text, regclass, jsonb, text), detach_source(regclass),
    refresh_duplicate_candidates(), dismiss_duplicate(uuid, uuid), preview_merge(uuid, uuid[], jsonb),
    merge_customers(uuid, uuid[], jsonb), get_settings()
TO customer_mgmt_admin;
GRANT EXECUTE ON PROCEDURE import_table(text, regclass, integer) TO customer_mgmt_admin;
GRANT EXECUTE ON PROCEDURE recalculate_all_analytics_batched(timestamptz, integer, boolean) TO customer_mgmt_admin;

-- what the procedure above runs as its caller (it commits, so it cannot be
-- SECURITY DEFINER): internal, not API
GRANT EXECUTE ON FUNCTION
    customer_mgmt_internal.begin_recalculation(timestamptz, integer, text, boolean, boolean),
    customer_mgmt_internal.recalculate_slice(bigint, integer),
    customer_mgmt_internal.end_recalculation(bigint, bigint, text, boolean),
    customer_mgmt_internal.begin_import(text, regclass, bigint),
    customer_mgmt_internal.import_chunk(bigint, jsonb, bigint),
    customer_mgmt_internal.end_import(bigint),
    customer_mgmt_internal.register_source(text, regclass, jsonb, text),
    customer_mgmt_internal.unregister_source(regclass),
    customer_mgmt_internal.source_changed()
TO customer_mgmt_admin;
