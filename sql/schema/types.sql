-- customer_mgmt schema: enum types.  Fresh install only; an update adds a
-- label with ALTER TYPE ... ADD VALUE in sql/updates/.

CREATE TYPE user_role AS ENUM ('customer', 'staff', 'admin');
CREATE TYPE user_status AS ENUM ('active', 'inactive', 'suspended');
CREATE TYPE gender AS ENUM ('male', 'female', 'other');
CREATE TYPE order_status AS ENUM ('pending', 'processing', 'shipped', 'completed', 'cancelled', 'refunded');
CREATE TYPE note_type AS ENUM ('general', 'support', 'sales', 'complaint', 'feedback', 'system');
CREATE TYPE note_priority AS ENUM ('low', 'medium', 'high', 'critical');
CREATE TYPE lifecycle_segment AS ENUM ('new', 'active', 'loyal', 'at_risk', 'churned', 'vip');
CREATE TYPE assignment_source AS ENUM ('system', 'manual');
CREATE TYPE insight_type AS ENUM ('high_value', 'churn_risk', 'loyal');
CREATE TYPE job_status AS ENUM ('running', 'succeeded', 'failed');
CREATE TYPE consent_status AS ENUM ('not_asked', 'subscribed', 'unsubscribed');
-- PostgREST 12 answers a function returning a domain named */* with its raw
-- bytes and the headers the function sets (response.headers): the export's
-- file (docs/operations.md; a PostgREST limitation)
CREATE DOMAIN "*/*" AS bytea;
-- (the smart comment gives it a GraphQL name for PostGraphile, which
-- cannot name a type */*)
COMMENT ON DOMAIN "*/*" IS E'@name file\nA file of any media type, for PostgREST: export_customers returns it and sets Content-Type and Content-Disposition.';
-- one customer's CLV predictions (clv_predictions, docs/clv.md)
CREATE TYPE clv_prediction AS (probability_alive double precision, expected_orders_365 double precision,
                               churn_probability double precision, predicted_ltv double precision,
                               expected_next_order_date date, average_days_between_orders double precision,
                               own_history_weight double precision, status text);
COMMENT ON TYPE clv_prediction IS 'One customer''s predictions under the CLV model, the share of the predicted purchase rate that comes from the customer''s own history, and the status (predicted, history_too_short, no_completed_order, no_usable_model, not_computable; docs/clv.md).';
COMMENT ON TYPE user_role IS 'Kind of user: a shop customer, or staff/admin who work on customers.';
COMMENT ON TYPE user_status IS 'Account status of a user (docs/reference.md, update_customer_status).';
COMMENT ON TYPE order_status IS 'Life cycle of an order; only completed orders count as spend.';
COMMENT ON TYPE note_type IS 'Note types; system notes are written by the event handlers.';
COMMENT ON TYPE lifecycle_segment IS 'Lifecycle segment of a customer (docs/analytics.md).';
