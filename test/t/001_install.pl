# CREATE EXTENSION in two databases of one cluster, DROP EXTENSION cleanly,
# and install without pg_cron preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n");
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

# pg_cron is optional: nothing fails at CREATE EXTENSION without it
$node->safe_psql('postgres', 'CREATE DATABASE no_cron');
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
($ret, $out, $err) = $node->psql('no_cron', 'CREATE EXTENSION customer_mgmt CASCADE');
is($ret, 0, 'CREATE EXTENSION works without pg_cron') or diag($err);

$node->stop;
done_testing();
