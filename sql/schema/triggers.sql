-- customer_mgmt schema: the triggers on the tables.  Fresh install only; it
-- runs after the function files, which define the trigger functions.

CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER addresses_touch BEFORE UPDATE ON addresses
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER customer_notes_touch BEFORE UPDATE ON customer_notes
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER customer_analytics_touch BEFORE UPDATE ON customer_analytics
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER customer_segments_touch BEFORE UPDATE ON customer_segments
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER customer_views_touch BEFORE UPDATE ON customer_views
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER users_after_insert AFTER INSERT ON users
    FOR EACH ROW WHEN (NEW.role = 'customer') EXECUTE FUNCTION users_after_insert();
CREATE TRIGGER orders_after_insert AFTER INSERT ON orders
    FOR EACH ROW WHEN (NEW.status = 'completed') EXECUTE FUNCTION orders_after_write();
CREATE TRIGGER orders_after_update AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION orders_after_write();
CREATE TRIGGER orders_after_change AFTER UPDATE OF customer_id, total_amount, order_date ON orders
    FOR EACH ROW
    WHEN ((OLD.status = 'completed' OR NEW.status = 'completed')
          AND (OLD.customer_id, OLD.total_amount, OLD.order_date) IS DISTINCT FROM (NEW.customer_id, NEW.total_amount, NEW.order_date))
    EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER orders_after_delete AFTER DELETE ON orders
    FOR EACH ROW WHEN (OLD.status = 'completed') EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER order_items_after_change AFTER UPDATE OR DELETE ON order_items
    FOR EACH ROW EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER order_items_after_insert AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_rows_added();
CREATE TRIGGER web_sessions_after_change AFTER UPDATE OR DELETE ON web_sessions
    FOR EACH ROW EXECUTE FUNCTION analytics_data_changed();
CREATE TRIGGER web_sessions_after_insert AFTER INSERT ON web_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_rows_added();
CREATE TRIGGER users_after_login AFTER UPDATE OF last_login_at ON users
    FOR EACH ROW WHEN (NEW.role = 'customer' AND NEW.last_login_at > coalesce(OLD.last_login_at, '-infinity'))
    EXECUTE FUNCTION users_after_login();
CREATE TRIGGER users_list_sync AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION users_list_sync();
CREATE TRIGGER analytics_list_sync AFTER UPDATE ON customer_analytics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_list_sync();
CREATE TRIGGER segment_assignments_added AFTER INSERT ON customer_segment_assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segment_assignments_count();
CREATE TRIGGER segment_assignments_removed AFTER DELETE ON customer_segment_assignments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segment_assignments_count();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();
