-- customer_mgmt schema: reference rows that CREATE EXTENSION inserts: the
-- provinces (34 since 2025, and the former 63 mapped to them), the setting
-- definitions and the two system segments.  Fresh install only.

-- The 34 provinces and cities since 2025 (name = current_name), then the former
-- provinces merged into them.  Resolution 202/2025/QH15.
INSERT INTO provinces (name, current_name, is_city) VALUES
    ('Hà Nội', 'Hà Nội', true), ('Huế', 'Huế', true), ('Hải Phòng', 'Hải Phòng', true),
    ('Đà Nẵng', 'Đà Nẵng', true), ('Hồ Chí Minh', 'Hồ Chí Minh', true), ('Cần Thơ', 'Cần Thơ', true),
    ('Lai Châu', 'Lai Châu', false), ('Điện Biên', 'Điện Biên', false), ('Sơn La', 'Sơn La', false),
    ('Lạng Sơn', 'Lạng Sơn', false), ('Quảng Ninh', 'Quảng Ninh', false), ('Thanh Hóa', 'Thanh Hóa', false),
    ('Nghệ An', 'Nghệ An', false), ('Hà Tĩnh', 'Hà Tĩnh', false), ('Cao Bằng', 'Cao Bằng', false),
    ('Tuyên Quang', 'Tuyên Quang', false), ('Lào Cai', 'Lào Cai', false), ('Thái Nguyên', 'Thái Nguyên', false),
    ('Phú Thọ', 'Phú Thọ', false), ('Bắc Ninh', 'Bắc Ninh', false), ('Hưng Yên', 'Hưng Yên', false),
    ('Ninh Bình', 'Ninh Bình', false), ('Quảng Trị', 'Quảng Trị', false), ('Quảng Ngãi', 'Quảng Ngãi', false),
    ('Gia Lai', 'Gia Lai', false), ('Khánh Hòa', 'Khánh Hòa', false), ('Lâm Đồng', 'Lâm Đồng', false),
    ('Đắk Lắk', 'Đắk Lắk', false), ('Đồng Nai', 'Đồng Nai', false), ('Tây Ninh', 'Tây Ninh', false),
    ('Vĩnh Long', 'Vĩnh Long', false), ('Đồng Tháp', 'Đồng Tháp', false), ('Cà Mau', 'Cà Mau', false),
    ('An Giang', 'An Giang', false),
    ('Thừa Thiên Huế', 'Huế', false), ('Hải Dương', 'Hải Phòng', false), ('Quảng Nam', 'Đà Nẵng', false),
    ('Bình Dương', 'Hồ Chí Minh', false), ('Bà Rịa - Vũng Tàu', 'Hồ Chí Minh', false),
    ('Sóc Trăng', 'Cần Thơ', false), ('Hậu Giang', 'Cần Thơ', false),
    ('Hà Giang', 'Tuyên Quang', false), ('Yên Bái', 'Lào Cai', false), ('Bắc Kạn', 'Thái Nguyên', false),
    ('Vĩnh Phúc', 'Phú Thọ', false), ('Hòa Bình', 'Phú Thọ', false), ('Bắc Giang', 'Bắc Ninh', false),
    ('Thái Bình', 'Hưng Yên', false), ('Hà Nam', 'Ninh Bình', false), ('Nam Định', 'Ninh Bình', false),
    ('Quảng Bình', 'Quảng Trị', false), ('Kon Tum', 'Quảng Ngãi', false), ('Bình Định', 'Gia Lai', false),
    ('Ninh Thuận', 'Khánh Hòa', false), ('Đắk Nông', 'Lâm Đồng', false), ('Bình Thuận', 'Lâm Đồng', false),
    ('Phú Yên', 'Đắk Lắk', false), ('Bình Phước', 'Đồng Nai', false), ('Long An', 'Tây Ninh', false),
    ('Bến Tre', 'Vĩnh Long', false), ('Trà Vinh', 'Vĩnh Long', false), ('Tiền Giang', 'Đồng Tháp', false),
    ('Bạc Liêu', 'Cà Mau', false), ('Kiên Giang', 'An Giang', false);
INSERT INTO setting_definitions (name, value_type, default_value, min_value, max_value, description) VALUES
    ('shop_timezone', 'timezone', 'Asia/Ho_Chi_Minh', NULL, NULL,
     'Time zone of the shop: the daily jobs run at 02:00 in it.'),
    ('churn.threshold_low', 'numeric', '0.3', 0, 1, 'Churn risk below this is low (design CHURN_RISK_THRESHOLDS.LOW).'),
    ('churn.threshold_medium', 'numeric', '0.6', 0, 1, 'Churn risk from this on is medium (design CHURN_RISK_THRESHOLDS.MEDIUM).'),
    ('churn.threshold_high', 'numeric', '0.8', 0, 1,
     'Churn risk from this on is high; crossing it is the churn-detected event (design CHURN_RISK_THRESHOLDS.HIGH).'),
    ('insight.high_value_min_spent', 'numeric', '10000000', 0, NULL, 'High-value insight when total spent (VND) is above this.'),
    ('insight.churn_risk_min', 'numeric', '0.7', 0, 1, 'Churn-risk insight when the churn risk is above this.'),
    ('insight.loyal_min_orders', 'integer', '5', 0, NULL, 'Loyal insight when total orders is above this ...'),
    ('insight.loyal_max_days_since_order', 'integer', '30', 0, NULL, '... and days since the last order is below this.'),
    ('segment.vip_min_spent', 'numeric', '50000000', 0, NULL, 'VIP segment: total spent (VND) above this ...'),
    ('segment.vip_max_churn_risk', 'numeric', '0.3', 0, 1, '... and churn risk below this.'),
    ('segment.loyal_min_orders', 'integer', '5', 0, NULL, 'Loyal segment: total orders above this ...'),
    ('segment.loyal_max_days_since_order', 'integer', '60', 0, NULL, '... and days since the last order below this.'),
    ('segment.at_risk_min_churn_risk', 'numeric', '0.7', 0, 1, 'At-risk segment: churn risk above this.'),
    ('segment.active_max_days_since_order', 'integer', '30', 0, NULL, 'Active segment: days since the last order below this.'),
    ('segment.churned_min_days_since_order', 'integer', '180', 0, NULL, 'Churned segment: days since the last order above this.'),
    ('status.recent_activity_hours', 'integer', '24', 0, NULL,
     'A customer who logged in within this many hours cannot be deactivated.'),
    ('clv.min_customers', 'integer', '500', 1, NULL,
     'The CLV model is fitted only with at least this many customers with a completed order (Klaviyo asks for 500).'),
    ('clv.min_history_days', 'integer', '180', 0, NULL,
     '... and at least this many days from the first completed order to the fit.'),
    ('clv.min_repeat_customers', 'integer', '10', 1, NULL,
     '... and at least this many customers who bought on three days or more.'),
    ('clv.discount_rate', 'numeric', '0', 0, 1,
     'Annual discount rate of the predicted spend of the next 365 days (predictedLtv), monthly compounded; 0: none.'),
    ('clv.min_customer_days', 'integer', '30', 0, NULL,
     'A customer''s predictions are shown from this many days after the first completed order on (before, they would be the shop''s average: predictionStatus history_too_short).'),
    ('audit.retention_days', 'integer', '730', 1, 36500,
     'Audit-log entries are kept this many days; purge_audit_log (a daily pg_cron job) deletes older ones.'),
    ('import.csv_columns', 'text', '', NULL, 2000,
     'The shop''s own CSV headers for import_csv, as "header=field" pairs separated by ";" (for example "Mã KH=external_id;Tên=full_name"); the API''s, the export''s and common names are recognised without it.'),
    ('privacy.anonymize_inactive_years', 'integer', '0', 0, 100,
     'Anonymise customers with no registration, login or order in this many years (anonymize_inactive_customers, a daily pg_cron job once schedule_jobs() runs with it set); 0 turns it off.'),
    ('privacy.data_retention_policy', 'text',
     'We keep your account data while your account is open. Orders are kept for as long as accounting law requires, '
     || 'without your name or contact details once your account is anonymised. You may ask us for a copy of your data '
     || 'or to anonymise your account at any time.', NULL, 2000,
     'The data retention policy shown in a personal-data export (export_customer_data), at most 2,000 characters.');
INSERT INTO setting_definitions (name, value_type, default_value, min_value, max_value, description, choices) VALUES
    ('identity.on_duplicate', 'choice', 'allow', NULL, NULL,
     'What register_customer, upsert_customer and the imports do with a new customer whose mailbox or canonical phone number an existing customer has: allow, warn (the pair becomes a duplicate candidate at once), refuse (23505), or merge (the existing customer is the one).',
     ARRAY['allow', 'warn', 'refuse', 'merge']);
-- system segments have fixed ids so that restored assignments still match them
INSERT INTO customer_segments (id, name, description, criteria, color_code, auto_assign, is_system) VALUES
    ('00000000-0000-4000-8000-000000000001', 'new-customers',
     'Customers who registered recently; assigned at registration.', '{}', '#2E7D32', false, true),
    ('00000000-0000-4000-8000-000000000002', 'at-risk-customers',
     'Customers whose churn risk crossed the high threshold.', '{}', '#C62828', false, true);
