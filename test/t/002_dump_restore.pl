# pg_dump of a populated shop restores every row: the data tables are
# registered with pg_extension_config_dump, and the rows CREATE EXTENSION
# inserts itself (system segments, settings definitions) do not collide.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n")
	if $ENV{CM_HAVE_CRON};
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	CREATE EXTENSION customer_mgmt CASCADE;
	SELECT customer_mgmt.generate_demo_shop(300, 11, '2026-03-01 00:00+07');
	SELECT customer_mgmt.set_setting('shop_timezone', 'Asia/Bangkok');
	INSERT INTO customer_mgmt.customer_segments (name, criteria, color_code)
	VALUES ('Khách VIP Hà Nội', '{"totalSpentMin": 50000000}', '#FFD700');
	INSERT INTO customer_mgmt.customer_notes (customer_id, author_id, title, content, type, tags)
	SELECT c.id, s.id, 'Gọi lại', 'Khách hỏi về bảo hành', 'support', '["bảo hành"]'
	  FROM (SELECT id FROM customer_mgmt.users WHERE role = 'customer' ORDER BY id LIMIT 1) c,
	       (SELECT id FROM customer_mgmt.users WHERE role = 'staff' ORDER BY id LIMIT 1) s;
	INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by)
	SELECT id, '00000000-0000-4000-8000-000000000001', 'system' FROM customer_mgmt.users WHERE role = 'customer';
	INSERT INTO customer_mgmt.customer_status_history (customer_id, old_status, new_status, reason)
	SELECT id, 'active', 'inactive', 'yêu cầu của khách' FROM customer_mgmt.users WHERE role = 'customer' ORDER BY id LIMIT 3;
	INSERT INTO customer_mgmt.event_outbox (event_type, payload) VALUES ('customer.registered', '{"x": 1}');
	INSERT INTO customer_mgmt.job_runs (job_name, status) VALUES ('test', 'succeeded');
});

# one digest per table that holds shop data
my @tables = qw(users addresses orders order_items web_sessions customer_notes customer_analytics
  customer_segments customer_segment_assignments customer_insights customer_status_history
  analytics_queue event_outbox job_runs settings);
my $digest_sql = join(' UNION ALL ', map {
	"SELECT '$_', count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM customer_mgmt.$_ t"
	  . ($_ eq 'customer_segments' ? ' WHERE NOT is_system' : '')
} @tables) . ' ORDER BY 1';
my $before = $node->safe_psql('shop', $digest_sql);
like($before, qr/^orders\|[1-9]\d*\|/m, 'the shop has orders before the dump');

my $dump = $node->basedir . '/shop.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');

my $after = $node->safe_psql('restored', $digest_sql);

# a plain-format dump replayed with psql restores the same way
my $plain = $node->basedir . '/shop.sql';
$node->command_ok([ 'pg_dump', '-Fp', '-f', $plain, '-d', $node->connstr('shop') ], 'pg_dump, plain format');
$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored_plain'), '-f', $plain ],
	'psql replays the plain dump');
is($node->safe_psql('restored_plain', $digest_sql), $before, 'the plain dump restores every row too');
is($after, $before, 'every row of every table is back, unchanged');
for my $line (split /\n/, $before)
{
	my ($table, $count) = split /\|/, $line;
	next if $count == 0;
	like($after, qr/^\Q$table\E\|\Q$count\E\|/m, "$table: $count rows restored");
}

is($node->safe_psql('restored', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM customer_mgmt.customer_segments WHERE is_system'),
	'00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002',
	'the system segments exist once, with their fixed ids');
is($node->safe_psql('restored', "SELECT customer_mgmt.setting('shop_timezone')"),
	'Asia/Bangkok', 'the shop\'s settings survive');

# the identity sequences came along: new rows do not collide with restored ones
my ($ret, $out, $err) = $node->psql('restored', q{
	SELECT customer_mgmt.record_session(id, now() - interval '1 hour', 60, 3, false) > 0
	  FROM customer_mgmt.users WHERE role = 'customer' ORDER BY id LIMIT 1});
is($ret, 0, 'a new session gets a fresh id after the restore') or diag($err);
($ret, $out, $err) = $node->psql('restored',
	q{INSERT INTO customer_mgmt.job_runs (job_name) VALUES ('after restore')});
is($ret, 0, 'a new job run gets a fresh id after the restore') or diag($err);

# a database that holds pg_cron (its cron.database_name) restores into
# another without errors when the dump's list leaves pg_cron out
# (docs/operations.md, "Backup and restore"); the copy's jobs are scheduled
# with cron_script()
SKIP:
{
	skip 'pg_cron is not installed for this server', 5 unless $ENV{CM_HAVE_CRON};
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pg_cron;
		CREATE EXTENSION customer_mgmt CASCADE;
		SELECT customer_mgmt.register_customer('Đặng Thu Trang', 'trang@example.vn');
		SELECT customer_mgmt.schedule_jobs();
	});
	my $cron_dump = $node->basedir . '/cron.dump';
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $cron_dump, '-d', $node->connstr('postgres') ], 'pg_dump of pg_cron\'s database');
	my $list = $node->basedir . '/cron.list';
	my ($stdout, $stderr);
	IPC::Run::run([ 'pg_restore', '-l', $cron_dump ], '>', \$stdout, '2>', \$stderr) or die $stderr;
	open(my $fh, '>', $list) or die $!;
	print $fh join("\n", grep { !/ (pg_cron|cron)( |$)/ } split /\n/, $stdout), "\n";
	close $fh;
	$node->safe_psql('postgres', 'CREATE DATABASE shop_plain_copy');
	$node->command_fails([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('shop_plain_copy'), $cron_dump ],
		'(a plain pg_restore of it into another database fails on CREATE EXTENSION pg_cron)');
	$node->safe_psql('postgres', 'CREATE DATABASE shop_copy');
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-L', $list, '-d', $node->connstr('shop_copy'), $cron_dump ],
		'pg_restore of it into another database, pg_cron left out of the list, without an error');
	is($node->safe_psql('shop_copy', q{SELECT count(*) FROM customer_mgmt.users WHERE email = 'trang@example.vn'}), '1',
		'the shop\'s rows are there');
	like($node->safe_psql('shop_copy', 'SELECT customer_mgmt.cron_script()'),
		qr/cron\.schedule_in_database\('customer_mgmt\.recalculate-all\.shop_copy', .*'shop_copy'\)/,
		'cron_script() gives the statements that schedule the copy\'s jobs from pg_cron\'s database');
}

$node->stop;
done_testing();
