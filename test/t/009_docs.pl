# The docs are executed: every SQL example of README.md (in the demo's psql,
# a superuser's) and docs/reference.md runs against a demo shop, the
# reference's as the least privileged role that may call every function it
# names (the app, staff, an admin; a superuser for what no API role may do:
# creating roles, generating the demo shop into an empty database), each in
# a transaction that is rolled back, and must not fail.  The examples that
# schedule pg_cron jobs are skipped where pg_cron is not installed.  Every
# function of the API is documented, and every documented one exists.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
my $cron = -e $node->config_data('--pkglibdir') . '/pg_cron.so';
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'shop'") if $cron;
$node->start;
my $db = 'shop';
my $super = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql('postgres', 'CREATE DATABASE empty');
$node->safe_psql('empty', 'CREATE EXTENSION customer_mgmt CASCADE');
$node->safe_psql($db, 'CREATE EXTENSION pg_cron') if $cron;
$node->safe_psql($db, q{
	CREATE EXTENSION customer_mgmt CASCADE;
	SELECT customer_mgmt.generate_demo_shop(1000, 42, '2026-01-01 00:00+07');
	SELECT customer_mgmt.refresh_duplicate_candidates();
	CREATE ROLE doc_admin LOGIN IN ROLE customer_mgmt_admin;
	CREATE ROLE doc_staff LOGIN IN ROLE customer_mgmt_staff;
	CREATE ROLE doc_app LOGIN IN ROLE customer_mgmt_app;
	GRANT CREATE ON DATABASE shop TO doc_admin;
	SELECT customer_mgmt.register_staff('Docs Admin', 'docs.admin@cuahang.vn', 'admin', 'doc_admin');
	SELECT customer_mgmt.register_staff('Docs Staff', 'docs.staff@cuahang.vn', 'staff', 'doc_staff');
});

# the role an example runs as: the first of app, staff and admin that may
# execute every customer_mgmt function it names
sub role_for
{
	my ($sql) = @_;
	return $super if $sql =~ /CREATE ROLE|generate_demo_shop/;
	my %names = map { $_ => 1 } ($sql =~ /customer_mgmt\.(\w+)\s*\(/g);
	my $list = join(',', map { "'$_'" } sort keys %names);
	return 'doc_staff' unless $list;
	for my $role ('doc_app', 'doc_staff', 'doc_admin')
	{
		my $ok = $node->safe_psql($db, qq{
			SELECT bool_and(EXISTS (SELECT FROM pg_proc p
			                         WHERE p.pronamespace = 'customer_mgmt'::regnamespace AND p.proname = f
			                           AND has_function_privilege('$role', p.oid, 'EXECUTE')))
			  FROM unnest(ARRAY[$list]) f});
		return $role if $ok eq 't';
	}
	return $super;
}

for my $file ('README.md', 'docs/reference.md')
{
	my $text = slurp_file("$ENV{TESTDIR}/$file");
	my $n = 0;
	while ($text =~ /^```(\w*)\n(.*?)^```$/gms)
	{
		next unless $1 eq 'sql';
		my $sql = $2;
		$n++;
		my ($first) = $sql =~ /^(.*)$/m;
		SKIP:
		{
			skip "pg_cron is not installed for this server: $file example $n", 1
			  if !$cron && $sql =~ /schedule_jobs/;
			my $role = $file eq 'README.md' ? $super : role_for($sql);
			# a procedure that commits runs outside a transaction block
			my $wrapped = $sql =~ /^\s*CALL\s/mi ? $sql : "BEGIN;\n$sql\nROLLBACK;";
			my ($ret, $out, $err) = $node->psql($sql =~ /generate_demo_shop/ ? 'empty' : $db, $wrapped,
				extra_params => [ '-U', $role, '-v', 'ON_ERROR_STOP=1' ]);
			is($ret, 0, "$file example $n runs as $role: $first") or diag($err);
		}
	}
	ok($n > 0, "$file has examples");
}

# every function an API role may execute is documented in the reference,
# and every signature the reference shows is a function of the extension
my $reference = slurp_file("$ENV{TESTDIR}/docs/reference.md");
my $signatures = '';
while ($reference =~ /^```(\w*)\n(.*?)^```$/gms)
{
	$signatures .= $2 if $1 eq '';
}
my %documented = map { $_ => 1 } ($signatures =~ /^(?:CALL )?(\w+)\(/gm);
my @api = split /\n/, $node->safe_psql($db, q{
	SELECT DISTINCT p.proname FROM pg_proc p
	 WHERE p.pronamespace = 'customer_mgmt'::regnamespace
	   AND (has_function_privilege('customer_mgmt_app', p.oid, 'EXECUTE')
	        OR has_function_privilege('customer_mgmt_staff', p.oid, 'EXECUTE')
	        OR has_function_privilege('customer_mgmt_admin', p.oid, 'EXECUTE'))
	 ORDER BY 1});
my @undocumented = grep { !$documented{$_} } @api;
is(join(' ', @undocumented), '', 'every function of the API has its signature in docs/reference.md');
my %exists = map { $_ => 1 } split /\n/, $node->safe_psql($db, q{
	SELECT DISTINCT p.proname FROM pg_proc p
	 WHERE p.pronamespace IN ('customer_mgmt'::regnamespace, 'customer_mgmt_internal'::regnamespace)});
my @stale = grep { !$exists{$_} } sort keys %documented;
is(join(' ', @stale), '', 'every signature in docs/reference.md is a function of the extension');

$node->stop;
done_testing();
