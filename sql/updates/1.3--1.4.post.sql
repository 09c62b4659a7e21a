-- customer_mgmt 1.3 -> 1.4, after the function files: the audit log's
-- guard triggers (sql/schema/triggers.sql).
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();

-- the mailbox index needs email_identity (sql/functions/search.sql)
CREATE INDEX users_customers_mailbox_idx ON users (email_identity(email)) WHERE role = 'customer';

-- the list follows users' changes a statement at a time, tags and marketing
-- consent included (sql/functions/customers.sql, users_list_sync)
CREATE TRIGGER users_list_sync AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION users_list_sync();

-- the list row's search key (sql/schema/tables.sql): every customer's, in
-- one statement, then required as in a fresh install
UPDATE customer_list l SET search_key = search_key(u.full_name, u.email, u.phone_number)
  FROM users u WHERE u.id = l.customer_id;
ALTER TABLE customer_list ALTER COLUMN search_key SET NOT NULL;
-- its statistics choose how a search runs (customer_filter)
ANALYZE customer_list;
