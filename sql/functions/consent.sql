-- customer_mgmt: Marketing consent (docs/reference.md, Marketing consent): a customer's
-- consent to marketing by e-mail and by SMS, every record kept with when and from where,
-- the latest in force on users (and on the list, for segments).

-- A consent record as the API returns it.
CREATE OR REPLACE FUNCTION consent_dto(c marketing_consents) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('channel', c.channel, 'status', c.status, 'source', c.source, 'consentedAt', c.consented_at,
                              'recordedAt', c.recorded_at, 'actorId', c.actor_id)
$$;
COMMENT ON FUNCTION consent_dto(marketing_consents) IS
    'Internal: a consent record as {channel, status, source, consentedAt, recordedAt, actorId}.';

-- A customer's consent in force per channel: the latest record by
-- consented_at (then by id), not_asked without one.
CREATE OR REPLACE FUNCTION consent_in_force(customer_id uuid, channel text) RETURNS consent_status
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce((SELECT c.status FROM customer_mgmt.marketing_consents c
                      WHERE c.customer_id = consent_in_force.customer_id AND c.channel = consent_in_force.channel
                      ORDER BY c.consented_at DESC, c.id DESC LIMIT 1), 'not_asked')
$$;
COMMENT ON FUNCTION consent_in_force(uuid, text) IS
    'Internal: the customer''s marketing consent in force on a channel: the latest record by consented_at, not_asked without one.';

-- Bring users' columns of consent to the records (after a record is added,
-- or records moved by a merge or dropped by anonymisation).
CREATE OR REPLACE FUNCTION consent_sync(customer_id uuid) RETURNS void
    LANGUAGE sql
AS $$
    UPDATE customer_mgmt.users u
       SET email_consent = customer_mgmt.consent_in_force(u.id, 'email'),
           sms_consent = customer_mgmt.consent_in_force(u.id, 'sms')
     WHERE u.id = consent_sync.customer_id
       AND (u.email_consent, u.sms_consent)
           IS DISTINCT FROM (customer_mgmt.consent_in_force(u.id, 'email'), customer_mgmt.consent_in_force(u.id, 'sms'))
$$;
COMMENT ON FUNCTION consent_sync(uuid) IS
    'Internal: sets users.email_consent and sms_consent of a customer to the records in force.';

-- set_marketing_consent: a record of the customer's consent on a channel.
-- A record older than the one in force (a late import) is kept without
-- changing what is in force.
CREATE OR REPLACE FUNCTION set_marketing_consent(customer_id uuid, channel text, status text, source text,
                                                 consented_at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u customer_mgmt.users;
    v_channel text := lower(btrim(channel));
    v_status customer_mgmt.consent_status := customer_mgmt.check_enum('status', status, NULL::customer_mgmt.consent_status);
    v_source text := customer_mgmt.check_text('source', source, 200);
    v_at timestamptz := customer_mgmt.check_past_time('consented_at', consented_at);
    v_recorded timestamptz := now();
    c customer_mgmt.marketing_consents;
BEGIN
    IF v_channel IS NULL OR v_channel NOT IN ('email', 'sms') THEN
        PERFORM customer_mgmt.raise_invalid('channel', 'must be email or sms', channel);
    END IF;
    -- a consent given later than it is recorded would override what is
    -- recorded meanwhile (a withdrawal): a few minutes of clock skew at most
    IF v_at > v_recorded + interval '5 minutes' THEN
        PERFORM customer_mgmt.raise_invalid('consented_at', 'must not be later than now', v_at::text);
    END IF;
    -- read under the lock (an anonymisation may have committed meanwhile), a
    -- merged id resolved to its survivor
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = customer_mgmt.lock_ingested_customer(set_marketing_consent.customer_id);
    IF u.anonymized_at IS NOT NULL THEN
        RAISE EXCEPTION 'customer % is anonymised', u.id
            USING ERRCODE = 'P0001',
                  DETAIL = 'An anonymised customer can no longer be reached: there is no consent to record.',
                  HINT = 'Record consent for the customer''s new account.';
    END IF;
    INSERT INTO customer_mgmt.marketing_consents (customer_id, channel, status, source, consented_at, actor_id)
    VALUES (u.id, v_channel, v_status, v_source, v_at, customer_mgmt.current_actor())
    RETURNING * INTO c;
    PERFORM customer_mgmt.consent_sync(u.id);
    PERFORM customer_mgmt.audit('set_marketing_consent', 'customer', u.id::text,
                                jsonb_build_object('channel', v_channel, 'status', v_status, 'consentedAt', v_at));
    SELECT * INTO u FROM customer_mgmt.users x WHERE x.id = u.id;
    RETURN customer_mgmt.consent_dto(c)
           || jsonb_build_object('customerId', u.id, 'inForce', CASE v_channel WHEN 'email' THEN u.email_consent
                                                                              ELSE u.sms_consent END);
END
$$;
COMMENT ON FUNCTION set_marketing_consent(uuid, text, text, text, timestamptz) IS
    'App and staff: records a customer''s marketing consent on a channel (email, sms): status subscribed, unsubscribed or not_asked, the source (where it was given: 1 to 200 characters), when (not in the future); the latest by consented_at is in force. Returns the record with customerId and inForce. 22023 naming the argument, PT404, P0001 for an anonymised customer.';

-- A customer's consent: in force per channel and every record, newest first.
CREATE OR REPLACE FUNCTION marketing_consent_dto(u users) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'email', u.email_consent, 'sms', u.sms_consent,
            'history', coalesce((SELECT jsonb_agg(customer_mgmt.consent_dto(c) ORDER BY c.consented_at DESC, c.id DESC)
                                   FROM customer_mgmt.marketing_consents c WHERE c.customer_id = u.id), '[]')));
END
$$;
COMMENT ON FUNCTION marketing_consent_dto(users) IS
    'Internal: a customer''s marketing consent: {email, sms} in force and history (every record, newest first).';
