-- customer_mgmt: Events (docs/reference.md, Event triggers): the outbox with NOTIFY, the trigger functions of
-- registration, completed orders and logins, churn detection, and the outbox
-- consumer API (claim_events, mark_events_processed).

-- Registration: analytics row, the "new-customers" segment, the welcome e-mail.
CREATE OR REPLACE FUNCTION users_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_mgmt.customer_analytics (customer_id, created_at, updated_at)
    VALUES (NEW.id, NEW.created_at, NEW.created_at)
    ON CONFLICT (customer_id) DO NOTHING;
    PERFORM customer_mgmt.list_row_sync(NEW.id);
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, assigned_at)
    VALUES (NEW.id, '00000000-0000-4000-8000-000000000001', 'system', NEW.created_at)
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    PERFORM customer_mgmt.emit_event('customer.registered', NEW.id,
        jsonb_build_object('customerId', NEW.id, 'fullName', NEW.full_name, 'email', NEW.email,
                           'registeredAt', NEW.created_at));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_insert() IS
    'Trigger (customer registered): analytics row and list row, new-customers segment, customer.registered outbox event for the welcome e-mail; not while a dump is restored.';

-- Put an event in the outbox and announce it.
CREATE OR REPLACE FUNCTION emit_event(event_type text, customer_id uuid, payload jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    event_id bigint;
BEGIN
    INSERT INTO customer_mgmt.event_outbox AS e (event_type, customer_id, payload)
    VALUES (emit_event.event_type, emit_event.customer_id, payload)
    RETURNING e.id INTO event_id;
    -- a wake-up with an empty payload: every role may LISTEN (PostgreSQL has
    -- no privilege on channels), so the channel carries nothing about whom;
    -- consumers read the events through claim_events.  One per transaction.
    PERFORM pg_notify('customer_mgmt_events', '');
    RETURN event_id;
END
$$;
COMMENT ON FUNCTION emit_event(text, uuid, jsonb) IS
    'Internal: writes an event to event_outbox and wakes its consumers with NOTIFY customer_mgmt_events and an empty payload.';

-- Churn detected: the at-risk segment, a system note, the retention campaign.
CREATE OR REPLACE FUNCTION churn_detected(customer_id uuid, churn_risk numeric) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by)
    VALUES (churn_detected.customer_id, '00000000-0000-4000-8000-000000000002', 'system')
    ON CONFLICT (customer_id, segment_id) DO NOTHING;
    INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, title, content, type, priority, is_internal)
    VALUES (churn_detected.customer_id, NULL, 'Churn Risk Detected',
            format('Customer shows high churn risk (score: %s)', churn_risk), 'system', 'high', true);
    PERFORM customer_mgmt.emit_event('customer.churn_detected', churn_detected.customer_id,
                                     jsonb_build_object('customerId', churn_detected.customer_id, 'churnScore', churn_risk));
END
$$;
COMMENT ON FUNCTION churn_detected(uuid, numeric) IS
    'Internal: what happens when a customer''s churn risk crosses the high threshold: at-risk-customers segment, a system note, a customer.churn_detected event (retention campaign).';

-- Order completed (inserted as completed, or moved to completed): the
-- customer is queued for recalculation.  DO UPDATE, not DO NOTHING: when a
-- worker holds the queue row, this waits for it, and once the worker has
-- deleted the row it inserts a new one, so the order is never missed.
CREATE OR REPLACE FUNCTION orders_after_write() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'completed')
       OR TG_OP = 'UPDATE' AND OLD.status = 'completed' AND NEW.status <> 'completed' THEN
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        VALUES (NEW.customer_id, 'order.' || NEW.status)
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION orders_after_write() IS
    'Trigger (order completed, or a completed order refunded): queues the customer for recalculation; not while a dump is restored.';

-- Data that the statistics read changed in a way its date cannot show (the
-- nightly run finds orders and visits dated after a customer's last
-- calculation by itself, docs/architecture.md): the customers are queued,
-- so that the queue worker and the next run recompute them.  A row of a
-- customer being deleted queues nothing.
CREATE OR REPLACE FUNCTION analytics_data_changed() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids uuid[];
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'order_items' THEN
        ids := ARRAY(SELECT o.customer_id FROM customer_mgmt.orders o
                      WHERE o.status = 'completed'
                        AND o.id IN (OLD.order_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.order_id END));
    ELSIF TG_OP = 'UPDATE' THEN
        ids := ARRAY[OLD.customer_id, NEW.customer_id];
    ELSE
        ids := ARRAY[OLD.customer_id];
    END IF;
    INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
    SELECT DISTINCT u.id, TG_TABLE_NAME || '.' || lower(TG_OP)
      FROM customer_mgmt.users u WHERE u.id = ANY (ids)
    ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_data_changed() IS
    'Trigger (a completed order''s customer, amount or date changed, or it was deleted; an order line or a visit changed or was deleted): queues the customers for recalculation; not while a dump is restored.';

-- Rows added with a date at or before their customer's last calculation
-- (a back-dated visit, a line added to an order already counted): queued
-- likewise.  Rows dated later are what the nightly run finds by date.
CREATE OR REPLACE FUNCTION analytics_rows_added() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'web_sessions' THEN
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        SELECT DISTINCT n.customer_id, 'web_sessions.insert'
          FROM new_rows n JOIN customer_mgmt.customer_analytics a ON a.customer_id = n.customer_id
         WHERE n.started_at <= a.last_calculated_at
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    ELSE
        INSERT INTO customer_mgmt.analytics_queue AS q (customer_id, reason)
        SELECT DISTINCT o.customer_id, 'order_items.insert'
          FROM (SELECT DISTINCT n.order_id FROM new_rows n) n
          JOIN customer_mgmt.orders o ON o.id = n.order_id
          JOIN customer_mgmt.customer_analytics a ON a.customer_id = o.customer_id
         WHERE o.status = 'completed' AND o.order_date <= a.last_calculated_at
        ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason, attempts = 0;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION analytics_rows_added() IS
    'Statement trigger (visits or order lines added): queues the customers of those dated at or before the customer''s last calculation; not while a dump is restored.';

-- The outbox, for the application that sends e-mails and campaigns:
-- BEGIN; claim_events(); ...send...; mark_events_processed(ids); COMMIT.
-- Claimed rows stay locked until the caller's transaction ends, so two
-- consumers never get the same event, and a consumer that fails rolls its
-- claim back.
CREATE OR REPLACE FUNCTION claim_events(max_events integer DEFAULT 100, consumer text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimed jsonb;
    backlog bigint;
BEGIN
    IF max_events IS NULL OR max_events NOT BETWEEN 1 AND 10000 THEN
        PERFORM customer_mgmt.raise_invalid('max_events', 'must be from 1 to 10000', max_events::text);
    END IF;
    WITH c AS (
        SELECT e.id FROM customer_mgmt.event_outbox e
         WHERE e.processed_at IS NULL
         ORDER BY e.id
         LIMIT max_events
           FOR UPDATE SKIP LOCKED),
    u AS (
        UPDATE customer_mgmt.event_outbox e
           SET claimed_at = now(), claimed_by = left(coalesce(consumer, session_user::text), 200)
          FROM c WHERE e.id = c.id
        RETURNING e.*)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'eventType', u.event_type, 'customerId', u.customer_id,
                                                 'payload', u.payload, 'createdAt', u.created_at) ORDER BY u.id), '[]')
      INTO claimed FROM u;
    -- the backlog: every unprocessed event, these included, counted to 10,001
    SELECT count(*) INTO backlog
      FROM (SELECT FROM customer_mgmt.event_outbox e WHERE e.processed_at IS NULL LIMIT 10001) b;
    RETURN customer_mgmt.page_envelope(claimed, backlog, 1, max_events, backlog > 10000);
END
$$;
COMMENT ON FUNCTION claim_events(integer, text) IS
    'App: claims up to max_events unprocessed outbox events (FOR UPDATE SKIP LOCKED, held until the caller''s transaction ends) and returns them as the data of the list envelope, whose total is the backlog (every unprocessed event, these included; past 10,000 counted as 10,001 with totalIsEstimate).';

CREATE OR REPLACE FUNCTION mark_events_processed(event_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF event_ids IS NULL THEN
        PERFORM customer_mgmt.raise_invalid('event_ids', 'is required');
    END IF;
    UPDATE customer_mgmt.event_outbox e SET processed_at = now()
     WHERE e.id = ANY (event_ids) AND e.processed_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION mark_events_processed(bigint[]) IS 'App: marks outbox events done; returns how many were not done before.';

-- Login (customer.login): whichever path moves last_login_at
-- forward, record_login or the application's own UPDATE, the login is
-- recorded as a session.
CREATE OR REPLACE FUNCTION users_after_login() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF customer_mgmt.restoring() THEN
        RETURN NULL;
    END IF;
    -- a login opens a visit; it views no page (docs/analytics.md)
    INSERT INTO customer_mgmt.web_sessions (customer_id, started_at, duration_seconds, page_views, converted)
    VALUES (NEW.id, NEW.last_login_at, 0, 0, false);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_after_login() IS
    'Trigger (customer login): a customer''s last_login_at moved forward records a visit at that time with no page view (not a bounce); not while a dump is restored.';
