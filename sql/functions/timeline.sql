-- customer_mgmt: The customer's timeline (docs/reference.md): one feed,
-- newest first, of what happened to a customer, read from the tables and the
-- outbox the extension keeps anyway.

-- Every entry of a customer's timeline: its time, type, acting user (NULL
-- for the customer or the extension) and a short payload.  An inlined
-- query: the caller's filter on the customer reaches each source's index.
CREATE OR REPLACE FUNCTION timeline_entries(customer_id uuid)
    RETURNS TABLE (at timestamptz, type text, actor_id uuid, payload jsonb)
    LANGUAGE sql STABLE
AS $$
    SELECT u.created_at, 'customer.registered', NULL::uuid, '{}'::jsonb
      FROM customer_mgmt.users u WHERE u.id = timeline_entries.customer_id
    UNION ALL
    SELECT o.order_date, 'order.placed', NULL,
           jsonb_build_object('orderId', o.id, 'status', o.status, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o WHERE o.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT o.completed_at, 'order.completed', NULL, jsonb_build_object('orderId', o.id, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o
     WHERE o.customer_id = timeline_entries.customer_id AND o.completed_at IS NOT NULL
    UNION ALL
    -- an order cancelled or refunded: its status has no time of its own, the
    -- order's last change stands for it
    SELECT o.updated_at, 'order.' || o.status, NULL, jsonb_build_object('orderId', o.id, 'totalAmount', o.total_amount)
      FROM customer_mgmt.orders o
     WHERE o.customer_id = timeline_entries.customer_id AND o.status IN ('cancelled', 'refunded')
    UNION ALL
    SELECT w.started_at, 'customer.login', NULL, '{}'::jsonb
      FROM customer_mgmt.web_sessions w
     WHERE w.customer_id = timeline_entries.customer_id AND w.page_views = 0
    UNION ALL
    SELECT h.changed_at, 'customer.status_changed', h.actor_id,
           jsonb_build_object('oldStatus', h.old_status, 'newStatus', h.new_status, 'reason', h.reason)
      FROM customer_mgmt.customer_status_history h WHERE h.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT n.created_at, 'note.added', n.author_id,
           jsonb_build_object('noteId', n.id, 'type', n.type, 'priority', n.priority, 'title', n.title)
      FROM customer_mgmt.customer_notes n WHERE n.customer_id = timeline_entries.customer_id
    UNION ALL
    SELECT m.merged_at, 'customer.merged', m.actor_id, jsonb_build_object('mergedId', m.merged_id, 'moved', m.moved)
      FROM customer_mgmt.customer_merges m WHERE m.survivor_id = timeline_entries.customer_id
    UNION ALL
    SELECT x.anonymized_at, 'customer.anonymized', x.actor_id, jsonb_build_object('reason', x.reason)
      FROM customer_mgmt.customer_anonymizations x WHERE x.customer_id = timeline_entries.customer_id
    UNION ALL
    -- tags added and removed, as the audit log recorded them
    SELECT g.occurred_at, 'customer.tags_changed', g.actor_id, g.changes
      FROM customer_mgmt.audit_log g
     WHERE g.target_id = timeline_entries.customer_id::text AND g.action IN ('add_customer_tags', 'remove_customer_tags')
    UNION ALL
    -- named as in the outbox, as every entry that is also an event
    SELECT e.created_at, e.event_type, NULL, e.payload - 'customerId'
      FROM customer_mgmt.event_outbox e
     WHERE e.customer_id = timeline_entries.customer_id
       AND e.event_type IN ('customer.segment_entered', 'customer.segment_left', 'customer.churn_detected')
$$;
COMMENT ON FUNCTION timeline_entries(uuid) IS
    'Internal: every entry of a customer''s timeline (registration, orders placed, completed, cancelled or refunded, logins, status changes, notes, tags added and removed, segments entered and left, churn detected, merges, anonymisation) with its time, type, acting user and payload.';

CREATE OR REPLACE FUNCTION get_customer_timeline(customer_id uuid, page integer DEFAULT 1, page_size integer DEFAULT 20)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u customer_mgmt.users := customer_mgmt.customer_row(customer_id);
    total bigint;
    data jsonb;
BEGIN
    PERFORM customer_mgmt.check_page(page, page_size);
    SELECT count(*) INTO total FROM customer_mgmt.timeline_entries(u.id);
    SELECT coalesce(jsonb_agg(jsonb_build_object('at', t.at, 'type', t.type, 'actorId', t.actor_id,
                                                 'actorName', a.full_name, 'payload', t.payload)
                              ORDER BY t.at DESC, t.type, t.payload::text), '[]')
      INTO data
      FROM (SELECT * FROM customer_mgmt.timeline_entries(u.id) e
             ORDER BY e.at DESC, e.type, e.payload::text LIMIT page_size OFFSET (page - 1)::bigint * page_size) t
      LEFT JOIN customer_mgmt.users a ON a.id = t.actor_id;
    RETURN customer_mgmt.page_envelope(data, total, page, page_size);
END
$$;
COMMENT ON FUNCTION get_customer_timeline(uuid, integer, integer) IS
    'Staff: one feed, newest first, of what happened to a customer (customer.registered, order.placed, order.completed, order.cancelled, order.refunded, customer.login, customer.status_changed, note.added, customer.tags_changed, customer.segment_entered, customer.segment_left, customer.churn_detected, customer.merged, customer.anonymized), each {at, type, actorId, actorName, payload}, as a page. PT404, 22023 for the page.';
