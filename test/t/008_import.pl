# Bulk import from staging tables (docs/onboarding.md), as an admin login
# would run it: bad rows become rejects and the others go in; a re-run is
# a no-op; orders with items; the triggers' work done for the whole import
# and one recalculation at its end; a crash mid-import resumes where it
# stopped; the import is refused for roles and tables it is not for.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('import');
$node->init;
$node->start;
my $db = 'shop';
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql($db, q{
	CREATE EXTENSION customer_mgmt CASCADE;
	DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'importer') THEN
			CREATE ROLE importer LOGIN IN ROLE customer_mgmt_admin;
			CREATE ROLE clerk LOGIN IN ROLE customer_mgmt_staff;
		END IF;
	END $$;
	CREATE SCHEMA shop AUTHORIZATION importer;
});
my $as = sub {
	my ($role, $sql) = @_;
	return $node->psql($db, $sql, extra_params => [ '-U', $role ]);
};
my ($ret, $out, $err);

# the shop fills its staging tables (COPY in real life), as text
($ret, $out, $err) = $as->('importer', q{
	CREATE TABLE shop.customers (external_id text, full_name text, email text, phone_number text,
	                             date_of_birth text, province text, registered_at text, updated_at text);
	INSERT INTO shop.customers
	SELECT 'C' || i, 'Khách Hàng ' || i, 'kh' || i || '@example.vn', CASE WHEN i % 3 = 0 THEN '0903' || lpad(i::text, 6, '0') END,
	       '1990-01-0' || (i % 9 + 1), CASE WHEN i % 2 = 0 THEN 'Hà Nội' ELSE 'tp hcm' END, '2025-01-01', '2026-01-01'
	  FROM generate_series(1, 3000) i;
	INSERT INTO shop.customers VALUES
	    ('BAD1', 'Ngày Sai', 'ngaysai@example.vn', NULL, '31/02/1990', NULL, '2025-01-01', '2026-01-01'),
	    ('BAD2', 'Thư Sai', 'not-an-email', NULL, NULL, NULL, '2025-01-01', '2026-01-01'),
	    (NULL, 'Không Mã', 'khongma@example.vn', NULL, NULL, NULL, '2025-01-01', '2026-01-01'),
	    ('BAD3', 'Trùng Thư', 'kh5@example.vn', NULL, NULL, NULL, '2025-01-01', '2026-01-01');
	CREATE TABLE shop.orders (external_id text, customer_external_id text, total_amount text, status text,
	                          order_date text, items jsonb, updated_at text);
	INSERT INTO shop.orders
	SELECT 'O' || i, 'C' || (i % 3000 + 1), '250000', 'completed', '2026-02-01 10:00+07',
	       '[{"productName": "Áo dài", "category": "Thời trang", "unitPrice": 125000, "quantity": 2}]', '2026-02-01'
	  FROM generate_series(1, 6000) i;
	INSERT INTO shop.orders VALUES
	    ('OBAD1', 'X404', '100000', 'completed', '2026-02-01', '[]', '2026-02-01'),
	    ('OBAD2', 'C1', '100000', 'lost', '2026-02-01', '[]', '2026-02-01');
});
is($ret, 0, 'the shop fills its staging tables') or diag($err);

# who may import what
($ret, $out, $err) = $as->('clerk', q{CALL customer_mgmt.import_table('customers', 'shop.customers')});
like($err, qr/permission denied/, 'staff may not import');
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('customers', 'customer_mgmt.users')});
like($err, qr/permission denied for table users|invalid source/, 'an admin may not import from the extension\'s own tables');
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('visits', 'shop.customers')});
like($err, qr/invalid kind/, 'an unknown kind is 22023');

# customers: the good rows in, the bad ones rejected with their field
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('customers', 'shop.customers', 4)});
is($ret, 0, 'the customers import') or diag($err);
is($node->safe_psql($db, q{SELECT concat_ws(' ', status, rows_total, rows_done, inserted, rejected, session_role)
	FROM customer_mgmt.imports WHERE kind = 'customers'}), 'succeeded 3004 3004 3000 4 importer',
	'3,000 in, 4 refused, recorded with who ran it');
is($node->safe_psql($db, q{SELECT string_agg(x, ' ' ORDER BY x COLLATE "C") FROM (SELECT (raw ->> 'email') || ':' || coalesce(field, '-') || ':' || sqlstate AS x
	FROM customer_mgmt.import_rejects) r}) =~ s/ /\n/gr,
	join("\n", sort('khongma@example.vn:external_id:22023', 'kh5@example.vn:email:23505', 'ngaysai@example.vn:-:22008',
		'not-an-email:email:22023')),
	'each reject says its field and SQLSTATE (no id, a duplicate e-mail, an impossible date, a bad address)');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.users u JOIN customer_mgmt.customer_list l ON l.customer_id = u.id
	JOIN customer_mgmt.customer_analytics a ON a.customer_id = u.id WHERE u.external_id LIKE 'C%' AND a.last_calculated_at IS NOT NULL}),
	'3000', 'every imported customer has its list row and calculated analytics');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.event_outbox WHERE event_type = 'customer.registered'}), '0',
	'no welcome event for customers who registered long ago');
my $province = $node->safe_psql($db, q{SELECT province FROM customer_mgmt.users WHERE external_id = 'C1'});
utf8::decode($province);
is($province, 'Hồ Chí Minh',
	'fields are normalised as ingestion normalises them');

# a re-run is a no-op
my $before = $node->safe_psql($db, q{SELECT count(*) || ' ' || max(updated_at) FROM customer_mgmt.users});
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('customers', 'shop.customers', 50)});
is($node->safe_psql($db, q{SELECT concat_ws(' ', inserted, updated, unchanged, rejected) FROM customer_mgmt.imports
	WHERE kind = 'customers' ORDER BY id DESC LIMIT 1}), '0 0 3000 4', 're-running the import changes nothing');
is($node->safe_psql($db, q{SELECT count(*) || ' ' || max(updated_at) FROM customer_mgmt.users}), $before, 'not a row');

# orders with their items
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('orders', 'shop.orders', 8)});
is($ret, 0, 'the orders import') or diag($err);
is($node->safe_psql($db, q{SELECT concat_ws(' ', inserted, rejected) FROM customer_mgmt.imports WHERE kind = 'orders'}), '6000 2',
	'6,000 orders in, 2 refused');
is($node->safe_psql($db, q{SELECT string_agg(raw ->> 'external_id' || ':' || sqlstate, ' ' ORDER BY raw ->> 'external_id')
	FROM customer_mgmt.import_rejects r JOIN customer_mgmt.imports i ON i.id = r.import_id WHERE i.kind = 'orders'}),
	'OBAD1:PT404 OBAD2:22023', 'an order of no known customer, a status that does not exist');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.order_items}), '6000', 'their items');
is($node->safe_psql($db, q{SELECT sum(total_spent) || ' ' || sum(total_orders) FROM customer_mgmt.customer_analytics}),
	'1500000000.00 6000', 'the spend is recalculated at the end, once per order');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.analytics_queue}), '0', 'and nothing is left queued');

# addresses and visits, each through the single-row functions
($ret, $out, $err) = $as->('importer', q{
	CREATE TABLE shop.addresses (external_id text, customer_external_id text, recipient_name text, phone_number text,
	                             street text, ward text, district text, province text, is_default_shipping text);
	INSERT INTO shop.addresses VALUES
	    ('A1', 'C1', 'Khách Hàng 1', '0903 111 222', '12 Lý Thường Kiệt', 'Phường Cửa Nam', 'Hoàn Kiếm', 'Hà Nội', 'true'),
	    ('A2', 'C1', 'Khách Hàng 1', '0903111222', '5 Nguyễn Huệ', 'Phường Bến Nghé', 'Quận 1', 'tp hcm', 'false'),
	    ('A3', 'C2', 'Khách Hàng 2', '0903222333', '1 Trần Phú', 'Phường 1', NULL, 'Đà Nẵng', NULL),
	    ('ABAD1', 'X404', 'Không Có', '0903222333', '1 Trần Phú', 'Phường 1', NULL, NULL, NULL),
	    ('ABAD2', 'C3', 'Số Sai', '12345', '1 Trần Phú', 'Phường 1', NULL, NULL, NULL);
	CREATE TABLE shop.sessions (external_id text, customer_external_id text, started_at text, duration_seconds text,
	                            page_views text, converted text);
	INSERT INTO shop.sessions
	SELECT 'S' || i, 'C' || (i % 100 + 1), '2026-03-01 09:00+07', '120', '4', (i % 4 = 0)::text FROM generate_series(1, 400) i;
	INSERT INTO shop.sessions VALUES ('SBAD1', 'C1', '2026-03-01 09:00+07', '120', '0', 'false');
	CALL customer_mgmt.import_table('addresses', 'shop.addresses');
	CALL customer_mgmt.import_table('sessions', 'shop.sessions', 1);
});
is($ret, 0, 'addresses and visits import') or diag($err);
is($node->safe_psql($db, q{SELECT string_agg(concat_ws(' ', kind, inserted, rejected), ', ' ORDER BY id) FROM customer_mgmt.imports
	WHERE kind IN ('addresses', 'sessions')}), 'addresses 3 2, sessions 400 1', '3 addresses and 400 visits in, 3 refused');
is($node->safe_psql($db, q{SELECT string_agg(raw ->> 'external_id' || ':' || coalesce(field, '-') || ':' || sqlstate, ' '
	ORDER BY raw ->> 'external_id') FROM customer_mgmt.import_rejects r JOIN customer_mgmt.imports i ON i.id = r.import_id
	WHERE i.kind IN ('addresses', 'sessions')}), 'ABAD1:-:PT404 ABAD2:phone_number:22023 SBAD1:page_views:22023',
	'an address of no known customer, a phone number that is not one, a visit of no page');
is($node->safe_psql($db, q{SELECT string_agg(a.external_id || ':' || a.is_default_shipping || ':' || a.phone_number, ' ' ORDER BY a.external_id)
	FROM customer_mgmt.addresses a}), 'A1:true:0903111222 A2:false:0903111222 A3:false:0903222333',
	'the addresses as add_customer_address keeps them');
is($node->safe_psql($db, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE converted) FROM customer_mgmt.web_sessions}), '400 100',
	'the visits');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.analytics_queue}), '0', 'their customers recalculated at the end');
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('addresses', 'shop.addresses');
	CALL customer_mgmt.import_table('sessions', 'shop.sessions')});
is($node->safe_psql($db, q{SELECT string_agg(concat_ws(' ', kind, inserted, unchanged, rejected), ', ' ORDER BY id)
	FROM (SELECT * FROM customer_mgmt.imports ORDER BY id DESC LIMIT 2) i}), 'addresses 0 3 2, sessions 0 400 1', 'imported again: nothing new');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.addresses}) . ' ' . $node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.web_sessions}),
	'3 400', 'not a row');

# an attached table's rows from before: backfilled by import_table through its mapping
($ret, $out, $err) = $as->('importer', q{
	CREATE TABLE shop.tbl_user (id bigint PRIMARY KEY, name text, mail text, updated_at timestamp DEFAULT now());
	INSERT INTO shop.tbl_user (id, name, mail) SELECT i, 'Người Dùng ' || i, 'nd' || i || '@example.vn' FROM generate_series(1, 500) i;
	SELECT customer_mgmt.attach_source('customers', 'shop.tbl_user',
	    '{"externalId": "id", "fullName": "name", "email": "mail", "updatedAt": "updated_at"}');
	INSERT INTO shop.tbl_user (id, name, mail) VALUES (501, 'Người Dùng 501', 'nd501@example.vn');
	CALL customer_mgmt.import_table('customers', 'shop.tbl_user', 1);
});
is($ret, 0, 'an attached table backfills with import_table') or diag($err);
is($node->safe_psql($db, q{SELECT concat_ws(' ', rows_total, inserted, unchanged, rejected) FROM customer_mgmt.imports
	WHERE source = 'shop.tbl_user'}), '501 500 1 0', 'its 500 older rows in, the one its trigger brought unchanged');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.users u JOIN customer_mgmt.customer_list l ON l.customer_id = u.id
	WHERE u.email LIKE 'nd%@example.vn' AND u.external_id ~ '^[0-9]+$'}), '501', 'every one listed, by the shop\'s id');

# a crash mid-import: the committed chunks stay, the next call resumes
$as->('importer', q{
	CREATE TABLE shop.more (external_id text, full_name text, email text);
	INSERT INTO shop.more SELECT 'M' || i, 'Khách Mới ' || i, 'moi' || i || '@example.vn' FROM generate_series(1, 20000) i;
});
my ($bg_out, $bg_err) = ('', '');
my $bg = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr($db), '-U', 'importer', '-c',
	q{CALL customer_mgmt.import_table('customers', 'shop.more', 1)} ], '>', \$bg_out, '2>', \$bg_err);
$node->poll_query_until($db, q{SELECT coalesce((SELECT rows_done > 0 FROM customer_mgmt.imports WHERE source = 'shop.more'), false)})
	or die 'the import did not start';
$node->safe_psql($db, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'importer' AND query LIKE 'CALL%'});
$bg->finish;
my $partial = $node->safe_psql($db, q{SELECT rows_done FROM customer_mgmt.imports WHERE source = 'shop.more'});
cmp_ok($partial, '<', 20000, "the crash left part of the import ($partial rows) committed");
is($node->safe_psql($db, q{SELECT status FROM customer_mgmt.imports WHERE source = 'shop.more'}), 'running', 'and the import running');
($ret, $out, $err) = $as->('importer', q{CALL customer_mgmt.import_table('customers', 'shop.more', 20)});
is($ret, 0, 'calling it again resumes') or diag($err);
is($node->safe_psql($db, q{SELECT count(*) || ' ' || min(status) || ' ' || sum(rows_done) FROM customer_mgmt.imports WHERE source = 'shop.more'}),
	'1 succeeded 20000', 'the same import, finished, each row done once');
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.users WHERE external_id LIKE 'M%'}), '20000', 'every customer in once');

# the rejects hold personal data: anonymisation scrubs them, delete_import removes them
$node->safe_psql($db, q{SELECT customer_mgmt.anonymize_customer(id, 'asked') FROM customer_mgmt.users WHERE external_id = 'C5'});
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.import_rejects WHERE raw::text LIKE '%kh5@example.vn%'}), '0',
	'anonymising a customer scrubs the rejects that held their e-mail');
($ret, $out, $err) = $as->('importer', q{SELECT customer_mgmt.delete_import((d ->> 'id')::bigint)
	FROM jsonb_array_elements(customer_mgmt.get_imports() -> 'data') d WHERE d ->> 'kind' = 'orders'});
is($ret, 0, 'an admin deletes a finished import') or diag($err);
is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.import_rejects r JOIN customer_mgmt.imports i ON i.id = r.import_id
	WHERE i.kind = 'orders'}), '0', 'delete_import removes an import and its rejects');

$node->stop;
done_testing();
