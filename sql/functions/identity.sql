-- customer_mgmt: Identity: the calling role (src/actor.c), the acting user
-- proven by the login (user_logins) or vouched for by a trusted gateway,
-- and the links between login roles and staff or admin users
-- (docs/operations.md, Who is acting).

CREATE OR REPLACE FUNCTION invoker() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cm_invoker'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION invoker() IS
    'The role the caller acts as (after SET ROLE), unaffected by SECURITY DEFINER.';

-- Whether the session's login role is one the DBA trusts to vouch for the
-- acting user: a member of customer_mgmt_gateway (PostgREST's
-- authenticator, PostGraphile's owner connection), or a superuser.
-- session_user is the login, which neither SET ROLE nor SECURITY DEFINER
-- changes; only a superuser's SET SESSION AUTHORIZATION does.
CREATE OR REPLACE FUNCTION trusted_gateway() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'customer_mgmt_gateway', 'MEMBER')
$$;
COMMENT ON FUNCTION trusted_gateway() IS
    'Internal: whether the session''s login role is a trusted gateway (a member of customer_mgmt_gateway, or a superuser), whose request.jwt.claims and customer_mgmt.actor_id name the acting user.';

-- The acting user.  A session's own is the user linked to its login role
-- (user_logins).  A claim (request.jwt.claims ->> 'sub', PostgREST; else
-- jwt.claims.sub, PostGraphile's from a JWT it verified; else the setting
-- customer_mgmt.actor_id, PostGraphile's pgSettings or a pool's) is
-- honoured from a trusted gateway; elsewhere only when it names the
-- session's own user, and any other is 42501.  The user must exist, and a
-- staff or admin role acts as a staff member or an admin.
CREATE OR REPLACE FUNCTION current_actor() RETURNS uuid
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claims text := current_setting('request.jwt.claims', true);
    claimed text;
    source text := 'request.jwt.claims.sub';
    own uuid;
    actor uuid;
    actor_role customer_mgmt.user_role;
BEGIN
    IF claims IS NOT NULL AND claims <> '' THEN
        BEGIN
            claimed := claims::jsonb ->> 'sub';
        EXCEPTION WHEN invalid_text_representation THEN
            PERFORM customer_mgmt.raise_invalid('request.jwt.claims', 'must be a JSON object');
        END;
    END IF;
    IF claimed IS NULL OR claimed = '' THEN
        claimed := nullif(current_setting('jwt.claims.sub', true), '');
        source := 'jwt.claims.sub';
    END IF;
    IF claimed IS NULL THEN
        claimed := nullif(current_setting('customer_mgmt.actor_id', true), '');
        source := 'customer_mgmt.actor_id';
    END IF;
    IF claimed IS NOT NULL
       AND claimed !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        PERFORM customer_mgmt.raise_invalid(source, 'must be a user id (uuid)');
    END IF;
    SELECT l.user_id INTO own FROM customer_mgmt.user_logins l WHERE l.login_role = session_user;
    IF claimed IS NULL THEN
        actor := own;
    ELSIF claimed::uuid = own OR customer_mgmt.trusted_gateway() THEN
        actor := claimed::uuid;
    ELSE
        RAISE EXCEPTION 'the acting user is not the session''s own'
            USING ERRCODE = '42501',
                  DETAIL = format('%s names user %s, but the login role %s is %s, and it is not a trusted gateway.',
                                  source, claimed, session_user,
                                  CASE WHEN own IS NULL THEN 'linked to no user' ELSE 'linked to user ' || own END),
                  HINT = 'Log in as the role linked to the user (register_staff, link_login_role), or connect through a trusted gateway (docs/operations.md, Who is acting).';
    END IF;
    IF actor IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT u.role INTO actor_role FROM customer_mgmt.users u WHERE u.id = actor;
    IF actor_role IS NULL THEN
        RAISE EXCEPTION 'the acting user is not a registered user'
            USING ERRCODE = '42501',
                  DETAIL = format('%s names %s, which is no user.', source, actor),
                  HINT = 'Staff and admins are registered with register_staff.';
    END IF;
    IF actor_role = 'customer' AND pg_has_role(customer_mgmt.invoker(), 'customer_mgmt_staff', 'MEMBER') THEN
        RAISE EXCEPTION 'a staff or admin role acts as a staff member or an admin'
            USING ERRCODE = '42501',
                  DETAIL = format('%s names %s, a customer.', source, actor);
    END IF;
    RETURN actor;
END
$$;
COMMENT ON FUNCTION current_actor() IS
    'The acting user: the user linked to the session''s login role, or the one a trusted gateway names (request.jwt.claims ->> ''sub'', else jwt.claims.sub, else customer_mgmt.actor_id); NULL when there is none. 42501 for a claim that is not the session''s own outside a trusted gateway, an id that is no user, or a customer named by a staff or admin role; 22023 for malformed claims.';

-- Checks a login role for a link: it exists, is not a gateway (which acts
-- for many users) and holds the user's role.
CREATE OR REPLACE FUNCTION check_login_role(login_role text, user_role customer_mgmt.user_role) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := customer_mgmt.check_text('login_role', login_role, 63);
    needed text := CASE user_role WHEN 'admin' THEN 'customer_mgmt_admin' ELSE 'customer_mgmt_staff' END;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = v) THEN
        PERFORM customer_mgmt.raise_invalid('login_role', 'must be an existing database role', v,
                                            'The DBA creates the login: CREATE ROLE ... LOGIN IN ROLE ' || needed || '.');
    END IF;
    IF v IN ('customer_mgmt_staff', 'customer_mgmt_admin', 'customer_mgmt_app', 'customer_mgmt_gateway')
       OR pg_has_role(v, 'customer_mgmt_gateway', 'MEMBER') THEN
        PERFORM customer_mgmt.raise_invalid('login_role', 'must be a person''s login, not a group role or a trusted gateway', v);
    END IF;
    IF NOT pg_has_role(v, needed, 'MEMBER') THEN
        PERFORM customer_mgmt.raise_invalid('login_role', format('must be a member of %s, as the user is %s', needed, user_role), v,
                                            format('GRANT %s TO %I;', needed, v));
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION check_login_role(text, customer_mgmt.user_role) IS
    'Internal: a login role checked for a link to a staff member or admin (22023 naming login_role): it exists, is no group role of the extension nor a trusted gateway, and is a member of customer_mgmt_staff (customer_mgmt_admin for an admin).';

CREATE OR REPLACE FUNCTION link_login_role(user_id uuid, login_role text) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users;
    v text;
    other uuid;
    linked customer_mgmt.user_logins;
BEGIN
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = link_login_role.user_id;
    IF NOT FOUND THEN
        PERFORM customer_mgmt.raise_not_found('User', link_login_role.user_id::text);
    END IF;
    IF u.role = 'customer' THEN
        PERFORM customer_mgmt.raise_invalid('user_id', 'must be a staff member or an admin', u.id::text);
    END IF;
    v := customer_mgmt.check_login_role(login_role, u.role);
    SELECT l.user_id INTO other FROM customer_mgmt.user_logins l WHERE l.login_role = v FOR UPDATE;
    IF other IS NOT NULL AND other <> u.id THEN
        RAISE EXCEPTION 'login role % is linked to another user', v
            USING ERRCODE = '23505', COLUMN = 'login_role',
                  DETAIL = format('Field "login_role": %s acts as user %s.', v, other),
                  HINT = 'unlink_login_role it first.';
    END IF;
    INSERT INTO customer_mgmt.user_logins AS l (login_role, user_id, linked_at, linked_by)
    VALUES (v, u.id, now(), customer_mgmt.current_actor())
    ON CONFLICT ON CONSTRAINT user_logins_pkey DO UPDATE SET login_role = l.login_role
    RETURNING * INTO linked;
    PERFORM customer_mgmt.audit('link_login_role', 'user', u.id::text, jsonb_build_object('loginRole', v));
    RETURN jsonb_build_object('userId', linked.user_id, 'loginRole', linked.login_role, 'linkedAt', linked.linked_at);
END
$$;
COMMENT ON FUNCTION link_login_role(uuid, text) IS
    'Admin: links a database login role to a staff member or admin, so that its sessions act as that user (docs/operations.md, Who is acting). Idempotent. PT404 for an unknown user; 22023 for a customer, a role that does not exist, is a group role or trusted gateway, or lacks the user''s role; 23505 when the role acts as another user. Returns {userId, loginRole, linkedAt}.';

CREATE OR REPLACE FUNCTION unlink_login_role(login_role text) RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := customer_mgmt.check_text('login_role', login_role, 63);
    was uuid;
BEGIN
    DELETE FROM customer_mgmt.user_logins l WHERE l.login_role = v RETURNING l.user_id INTO was;
    IF was IS NOT NULL THEN
        PERFORM customer_mgmt.audit('unlink_login_role', 'user', was::text, jsonb_build_object('loginRole', v));
    END IF;
    RETURN was IS NOT NULL;
END
$$;
COMMENT ON FUNCTION unlink_login_role(text) IS
    'Admin: removes a login role''s link to its user; its sessions then act as nobody. Returns whether there was a link.';

-- The acting user when it is a staff member or an admin (notes, saved
-- views); 42501 saying what needs one otherwise.
CREATE OR REPLACE FUNCTION acting_staff(what text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    actor uuid := customer_mgmt.current_actor();
BEGIN
    IF actor IS NULL OR NOT EXISTS (SELECT FROM customer_mgmt.users u WHERE u.id = actor AND u.role IN ('staff', 'admin')) THEN
        RAISE EXCEPTION '% by a staff member or an admin', what
            USING ERRCODE = '42501',
                  DETAIL = CASE WHEN actor IS NULL THEN 'No acting user is set.'
                                ELSE format('The acting user %s is not a staff member or an admin.', actor) END,
                  HINT = 'Set request.jwt.claims ->> ''sub'' (PostgREST) or customer_mgmt.actor_id to the id of a user registered with register_staff.';
    END IF;
    RETURN actor;
END
$$;
COMMENT ON FUNCTION acting_staff(text) IS
    'Internal: the acting user (current_actor()) when it is a staff member or an admin; 42501 "<what> by a staff member or an admin" otherwise.';
