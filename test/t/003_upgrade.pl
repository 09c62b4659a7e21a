# Every released version updates to exactly a fresh install: for each one,
# create the extension at that version in a database holding a demo shop,
# ALTER EXTENSION UPDATE, and compare the canonical catalog listing of
# test/catalog.sql with that of a fresh install.  Any difference fails and is
# printed.  The upgraded shop keeps its data and recalculates its analytics.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $catalog = "$ENV{TESTDIR}/test/catalog.sql";
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n")
	if $ENV{CM_HAVE_CRON};
$node->start;

sub listing
{
	my ($db) = @_;
	my $out = $node->safe_psql($db, slurp_file($catalog));
	my $file = "$ENV{TESTDIR}/catalog_$db.txt";
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh "$out\n";
	close($fh);
	return ($out, $file);
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION customer_mgmt CASCADE');
my $newest = $node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'customer_mgmt'");
my ($fresh, $fresh_file) = listing('fresh');
cmp_ok(scalar(split /\n/, $fresh), '>', 500, 'the fresh listing covers the catalog');
like($fresh, qr/^function customer_mgmt\.get_customer\(uuid\)/m, 'and lists the functions with their arguments');

my @released = split /\n/, $node->safe_psql('postgres', qq{
	SELECT version FROM pg_available_extension_versions
	 WHERE name = 'customer_mgmt' AND version <> '$newest' ORDER BY string_to_array(version, '.')::int[]});
cmp_ok(scalar(@released), '>=', 3, "released versions to update from: @released");

my $counts = q{SELECT format('users=%s addresses=%s orders=%s items=%s sessions=%s',
	(SELECT count(*) FROM customer_mgmt.users), (SELECT count(*) FROM customer_mgmt.addresses),
	(SELECT count(*) FROM customer_mgmt.orders), (SELECT count(*) FROM customer_mgmt.order_items),
	(SELECT count(*) FROM customer_mgmt.web_sessions))};

for my $version (@released)
{
	(my $db = "shop_$version") =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION customer_mgmt VERSION '$version' CASCADE;
		SELECT customer_mgmt.generate_demo_shop(120, 7, '2026-03-01');
	});
	# a login as 1.0-1.2 recorded it: a one-page session of 0 seconds
	my $login = $node->safe_psql($db, q{
		SELECT customer_mgmt.record_login(id, '2026-02-28 10:00+07') FROM customer_mgmt.users
		 WHERE role = 'customer' ORDER BY id LIMIT 1});
	my $before = $node->safe_psql($db, $counts);
	my ($ret, $out, $err) = $node->psql($db, 'ALTER EXTENSION customer_mgmt UPDATE');
	is($ret, 0, "ALTER EXTENSION customer_mgmt UPDATE from $version") or diag($err);
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'customer_mgmt'"), $newest,
		"$version is now at $newest");

	my ($updated, $updated_file) = listing($db);
	my $same = $updated eq $fresh;
	ok($same, "updated from $version: the catalog equals a fresh install's");
	diag(scalar(`diff -u '$fresh_file' '$updated_file'`)) unless $same;

	is($node->safe_psql($db, $counts), $before, "updated from $version: the shop's data is all there");
	# 1.0-1.2 recorded a login as a one-page session: the 1.3 update turns
	# it into a visit and queues the customer; 1.3 on record it so
	if (eval { version->parse("v$version") < version->parse('v1.3') })
	{
		is($node->safe_psql($db, qq{
			SELECT w.page_views || ' ' || (q.customer_id IS NOT NULL) FROM customer_mgmt.web_sessions w
			  LEFT JOIN customer_mgmt.analytics_queue q USING (customer_id) WHERE w.id = $login}), '0 true',
			"updated from $version: a login recorded before is a visit with no page view, its customer queued");
	}
	else
	{
		is($node->safe_psql($db, "SELECT page_views FROM customer_mgmt.web_sessions WHERE id = $login"), '0',
			"updated from $version: a login is a visit with no page view");
	}
	is($node->safe_psql($db, "SELECT customer_mgmt.recalculate_all_analytics('2026-03-01') ->> 'customers'"), '120',
		"updated from $version: the analytics recalculate");
	is($node->safe_psql($db, q{SELECT count(*) FROM customer_mgmt.customer_analytics WHERE last_calculated_at IS NULL}), '0',
		"updated from $version: for every customer");
	is($node->safe_psql($db, q{SELECT customer_mgmt.get_customer(id) ->> 'id' = id::text FROM customer_mgmt.users
		WHERE role = 'customer' ORDER BY id LIMIT 1}), 't', "updated from $version: get_customer takes a uuid");
}

$node->stop;
done_testing();
