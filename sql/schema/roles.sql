-- customer_mgmt schema: the five roles (cluster-wide, created only where
-- missing) and the internal schema.  Fresh install only.

--    so the extension installs in a second database of the same cluster.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_staff') THEN
        CREATE ROLE customer_mgmt_staff NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_admin') THEN
        CREATE ROLE customer_mgmt_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_app') THEN
        CREATE ROLE customer_mgmt_app NOLOGIN;
    END IF;
    -- a marker: the DBA grants it to the login roles that vouch for the
    -- acting user (docs/operations.md, Who is acting); it grants nothing
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_gateway') THEN
        CREATE ROLE customer_mgmt_gateway NOLOGIN;
    END IF;
    -- the owner of the extension's objects, so that SECURITY DEFINER code
    -- runs with no more than they need (sql/privileges.sql)
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'customer_mgmt_owner') THEN
        CREATE ROLE customer_mgmt_owner NOLOGIN;
    END IF;
    -- an admin can do everything staff can
    IF NOT pg_catalog.pg_has_role('customer_mgmt_admin', 'customer_mgmt_staff', 'MEMBER') THEN
        GRANT customer_mgmt_staff TO customer_mgmt_admin;
    END IF;
END
$roles$;

-- customer_mgmt_internal holds the helpers a role must be able to execute
-- but that are not API: those of the batched recalculation procedure, which
-- commits between slices and so cannot be SECURITY DEFINER.  PostgREST and
-- PostGraphile are pointed at customer_mgmt only (docs/operations.md).
CREATE SCHEMA customer_mgmt_internal;
COMMENT ON SCHEMA customer_mgmt_internal IS
    'customer_mgmt internals that roles execute on behalf of the API; not API: do not expose it through PostgREST or PostGraphile.';
