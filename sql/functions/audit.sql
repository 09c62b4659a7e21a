-- customer_mgmt: The audit log (docs/privacy.md, Audit log): one entry per
-- write through the API by staff, admins and the app's privileged calls,
-- append-only, read by admins, purged past its retention.

-- One entry: the login, the role acted as, the acting user, the function,
-- its target and what changed.  Callers pass no personal value in changes
-- (ids, enum values, counts, which keys changed).
CREATE OR REPLACE FUNCTION audit(action text, target_type text, target_id text, changes jsonb DEFAULT '{}')
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO customer_mgmt.audit_log (occurred_at, session_role, db_role, actor_id, action, target_type,
                                         target_id, changes)
    VALUES (now(), session_user, customer_mgmt.invoker()::text, customer_mgmt.current_actor(), action, target_type,
            target_id, coalesce(changes, '{}'))
$$;
COMMENT ON FUNCTION audit(text, text, text, jsonb) IS
    'Internal: appends an entry to audit_log (now, session_user, the role acted as, current_actor(), the function, its target, what changed without personal values).';

-- Rows never change, and leave only past the retention (whoever deletes).
CREATE OR REPLACE FUNCTION audit_log_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.occurred_at < now() - make_interval(days => customer_mgmt.setting('audit.retention_days')::integer) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only'
        USING ERRCODE = '42501',
              DETAIL = CASE TG_OP WHEN 'DELETE' THEN 'An entry is deleted only when it is older than audit.retention_days.'
                                  ELSE format('%s of audit_log is refused.', TG_OP) END,
              HINT = 'purge_audit_log() deletes what the retention allows.';
END
$$;
COMMENT ON FUNCTION audit_log_guard() IS
    'Trigger: refuses UPDATE and TRUNCATE of audit_log, and DELETE of an entry younger than audit.retention_days (42501).';

CREATE OR REPLACE FUNCTION purge_audit_log() RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    days integer := customer_mgmt.setting('audit.retention_days')::integer;
    n bigint;
BEGIN
    DELETE FROM customer_mgmt.audit_log a WHERE a.occurred_at < now() - make_interval(days => days);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM customer_mgmt.audit('purge_audit_log', 'audit_log', NULL, jsonb_build_object('deleted', n, 'retentionDays', days));
    RETURN jsonb_build_object('deleted', n, 'retentionDays', days);
END
$$;
COMMENT ON FUNCTION purge_audit_log() IS
    'Admin (and pg_cron, daily): deletes the audit-log entries older than audit.retention_days. Returns {deleted, retentionDays}.';

CREATE OR REPLACE FUNCTION get_audit_log(action text DEFAULT NULL, actor_id uuid DEFAULT NULL, target_id text DEFAULT NULL,
                                         occurred_after timestamptz DEFAULT NULL, occurred_before timestamptz DEFAULT NULL,
                                         page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_action text := customer_mgmt.check_text('action', action, 100, false);
    v_target text := customer_mgmt.check_text('target_id', target_id, 200, false);
    total bigint;
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_time_range('occurred_after', occurred_after, 'occurred_before', occurred_before);
    PERFORM customer_mgmt.check_page(page, page_size);
    WITH m AS (
        SELECT a.* FROM customer_mgmt.audit_log a
         WHERE (v_action IS NULL OR a.action = v_action)
           AND (get_audit_log.actor_id IS NULL OR a.actor_id = get_audit_log.actor_id)
           AND (v_target IS NULL OR a.target_id = v_target)
           AND (occurred_after IS NULL OR a.occurred_at >= occurred_after)
           AND (occurred_before IS NULL OR a.occurred_at < occurred_before))
    SELECT (SELECT count(*) FROM m),
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'id', p.id, 'occurredAt', p.occurred_at, 'sessionRole', p.session_role, 'dbRole', p.db_role,
                       'actorId', p.actor_id, 'action', p.action, 'targetType', p.target_type,
                       'targetId', p.target_id, 'changes', p.changes) ORDER BY p.occurred_at DESC, p.id DESC), '[]')
              FROM (SELECT * FROM m ORDER BY m.occurred_at DESC, m.id DESC
                    LIMIT page_size OFFSET (page - 1)::bigint * page_size) p)
      INTO total, data;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_audit_log(text, uuid, text, timestamptz, timestamptz, integer, integer) IS
    'Admin: the audit log, newest first, as a page of {id, occurredAt, sessionRole, dbRole, actorId, action, targetType, targetId, changes}; filters: the function (action), the acting user, the target''s id, a time range [occurred_after, occurred_before). 22023 naming a bad filter.';
