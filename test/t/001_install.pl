# CREATE EXTENSION in two databases of one cluster, DROP EXTENSION cleanly,
# and install without pg_cron preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# what it checks of pg_cron needs pg_cron installed (the server's pkglibdir)
plan skip_all => 'pg_cron is not installed for this server' unless $ENV{CM_HAVE_CRON};

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n")
	if $ENV{CM_HAVE_CRON};
$node->start;

for my $db (qw(shop_a shop_b))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	my ($ret, $out, $err) = $node->psql($db, 'CREATE EXTENSION customer_mgmt CASCADE');
	is($ret, 0, "CREATE EXTENSION in $db") or diag($err);
	is($node->safe_psql($db,
		"SELECT customer_mgmt.register_customer('Nguyễn Văn An', 'an\@example.vn') IS NOT NULL"),
		't', "the extension works in $db");
}

is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_roles WHERE rolname IN ('customer_mgmt_staff', 'customer_mgmt_admin', 'customer_mgmt_app')"),
	'3', 'the roles exist once in the cluster');

$node->safe_psql('shop_a', 'DROP EXTENSION customer_mgmt');
is($node->safe_psql('shop_a', q{
	SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'customer_mgmt'::regnamespace)
	     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'customer_mgmt'::regnamespace)
	     + (SELECT count(*) FROM pg_type WHERE typnamespace = 'customer_mgmt'::regnamespace)}),
	'0', 'DROP EXTENSION leaves nothing in the schema');
is($node->safe_psql('shop_a', "SELECT count(*) FROM pg_type WHERE typname IN ('user_role', 'order_status')"),
	'0', 'no type is left behind');
is($node->safe_psql('shop_b', "SELECT count(*) FROM customer_mgmt.users"),
	'1', 'the other database keeps its shop');

my ($ret, $out, $err) = $node->psql('shop_a', 'CREATE EXTENSION customer_mgmt CASCADE');
is($ret, 0, 'the extension installs again after a drop') or diag($err);


# upgrade from 1.0 with data in place: the 1.0 -> 1.1 script gives existing
# customers their analytics rows
$node->safe_psql('postgres', 'CREATE DATABASE shop_old');
$node->safe_psql('shop_old', q{
	CREATE EXTENSION customer_mgmt VERSION '1.0' CASCADE;
	SELECT customer_mgmt.generate_demo_shop(50, 3, '2026-01-01');
});
is($node->safe_psql('shop_old', "SELECT count(*) FROM customer_mgmt.customer_analytics"), '0',
	'1.0 has no analytics rows for its customers');
($ret, $out, $err) = $node->psql('shop_old', 'ALTER EXTENSION customer_mgmt UPDATE');
is($ret, 0, 'ALTER EXTENSION customer_mgmt UPDATE from 1.0') or diag($err);
is($node->safe_psql('shop_old', "SELECT extversion FROM pg_extension WHERE extname = 'customer_mgmt'"),
	$node->safe_psql('shop_a', "SELECT extversion FROM pg_extension WHERE extname = 'customer_mgmt'"),
	'the upgraded shop is at the version of a fresh install');
is($node->safe_psql('shop_old', "SELECT count(*) FROM customer_mgmt.customer_analytics"), '50',
	'the upgrade gave every customer an analytics row');
is($node->safe_psql('shop_old', "SELECT (customer_mgmt.get_customers() ->> 'total')"), '50',
	'the upgraded shop lists its customers');
is($node->safe_psql('shop_old', "SELECT customer_mgmt.recalculate_all_analytics('2026-01-01') ->> 'customers'"), '50',
	'the upgraded shop calculates its analytics');
is($node->safe_psql('shop_old', "SELECT count(*) FROM customer_mgmt.customer_analytics WHERE last_calculated_at IS NULL"), '0',
	'for every customer');
# the catalog of an updated install: test/t/003_upgrade.pl

# pg_cron is optional: nothing fails at CREATE EXTENSION without it
$node->safe_psql('postgres', 'CREATE DATABASE no_cron');
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
($ret, $out, $err) = $node->psql('no_cron', 'CREATE EXTENSION customer_mgmt CASCADE');
is($ret, 0, 'CREATE EXTENSION works without pg_cron') or diag($err);
($ret, $out, $err) = $node->psql('no_cron', 'SELECT customer_mgmt.schedule_jobs()');
isnt($ret, 0, 'schedule_jobs fails without pg_cron');
like($err, qr/pg_cron is not installed in database no_cron.*DETAIL:  pg_cron is not in shared_preload_libraries/s,
	'and says why');
like($node->safe_psql('no_cron', 'SELECT customer_mgmt.cron_script()'), qr/cron\.schedule_in_database\('customer_mgmt\.recalculate-all\.no_cron', '0 19 \* \* \*'/,
	'cron_script still writes the statements for a pg_cron elsewhere');

$node->stop;
done_testing();
