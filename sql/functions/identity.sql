-- customer_mgmt: Identity: the acting user (PostgREST's JWT subject or customer_mgmt.actor_id)
-- and the calling role (src/actor.c).

CREATE OR REPLACE FUNCTION invoker() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cm_invoker'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION invoker() IS
    'The role the caller acts as (after SET ROLE), unaffected by SECURITY DEFINER.';

-- The acting user: request.jwt.claims ->> 'sub' (PostgREST) or the setting
-- customer_mgmt.actor_id.  NULL when neither is set.
CREATE OR REPLACE FUNCTION current_actor() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claims text := current_setting('request.jwt.claims', true);
    sub text;
    source text := 'request.jwt.claims.sub';
BEGIN
    IF claims IS NOT NULL AND claims <> '' THEN
        BEGIN
            sub := claims::jsonb ->> 'sub';
        EXCEPTION WHEN invalid_text_representation THEN
            PERFORM customer_mgmt.raise_invalid('request.jwt.claims', 'must be a JSON object', claims);
        END;
    END IF;
    IF sub IS NULL OR sub = '' THEN
        sub := nullif(current_setting('customer_mgmt.actor_id', true), '');
        source := 'customer_mgmt.actor_id';
    END IF;
    IF sub IS NULL THEN
        RETURN NULL;
    END IF;
    IF sub !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        PERFORM customer_mgmt.raise_invalid(source, 'must be a user id (uuid)', sub);
    END IF;
    RETURN sub::uuid;
END
$$;
COMMENT ON FUNCTION current_actor() IS
    'The acting user: request.jwt.claims ->> ''sub'' (PostgREST) or the setting customer_mgmt.actor_id; NULL when neither is set.';
