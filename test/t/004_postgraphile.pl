# PostGraphile 4 (from npm, as docs/operations.md sets it up: a login role
# that is a member of a customer_mgmt role, --no-ignore-rbac,
# --include-extension-resources, --dynamic-json, schema customer_mgmt) serves exactly the API
# of docs/reference.md and the documented helpers, no internal function; reads
# and writes work, and an error carries its SQLSTATE.  Then as a trusted
# gateway with JWTs (docs/operations.md, Who is acting): the token's sub is
# the acting user, and a token PostGraphile cannot verify acts as no one.
# scripts/test.sh installs PostGraphile and sets CM_POSTGRAPHILE.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

plan skip_all => 'CM_POSTGRAPHILE is not set (scripts/test.sh installs PostGraphile 4 from npm)'
	unless $ENV{CM_POSTGRAPHILE};

my $node = PostgreSQL::Test::Cluster->new('graphql');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'shop'\n")
	if $ENV{CM_HAVE_CRON};
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	CREATE EXTENSION customer_mgmt CASCADE;
	CREATE ROLE graphql_admin LOGIN IN ROLE customer_mgmt_admin;
	CREATE ROLE graphql_staff LOGIN IN ROLE customer_mgmt_staff;
	CREATE ROLE graphql_gateway LOGIN IN ROLE customer_mgmt_gateway, customer_mgmt_admin, customer_mgmt_staff;
	CREATE ROLE graphql_anon NOLOGIN;
	GRANT graphql_anon TO graphql_gateway;
	SELECT customer_mgmt.generate_demo_shop(20, 5, '2026-03-01');
});

my $http = HTTP::Tiny->new(timeout => 30);
my @servers;

# start PostGraphile as a login role; returns its /graphql URL
sub start_postgraphile
{
	my ($role, @options) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = "$ENV{TESTDIR}/postgraphile_$role.log";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>', $log) or die;
		open(STDERR, '>&', \*STDOUT) or die;
		$ENV{PGHOST} = $node->host;
		$ENV{PGPORT} = $node->port;
		$ENV{PGUSER} = $role;
		exec($ENV{CM_POSTGRAPHILE}, '-c', 'postgres:///shop', '--schema', 'customer_mgmt',
			'--include-extension-resources', '--dynamic-json', '--extended-errors', 'errcode,detail,hint',
			'--disable-query-log', '--host', '127.0.0.1', '--port', $port, @options) or die "exec: $!";
	}
	push @servers, $pid;
	my $url = "http://127.0.0.1:$port/graphql";
	for (1 .. 120)
	{
		my $r = $http->post($url, { headers => { 'content-type' => 'application/json' }, content => '{"query":"{__typename}"}' });
		return $url if $r->{success};
		sleep 1;
	}
	diag(slurp_file($log));
	BAIL_OUT("PostGraphile as $role did not start");
}

sub graphql
{
	my ($url, $query, $token) = @_;
	my %headers = ('content-type' => 'application/json');
	$headers{authorization} = "Bearer $token" if $token;
	my $r = $http->post($url, { headers => \%headers, content => encode_json({ query => $query }) });
	return decode_json($r->{content});
}

# an HS256 JWT, as the shop's identity service would sign it
sub jwt
{
	my ($secret, %claims) = @_;
	my $head = encode_base64url(encode_json({ alg => 'HS256', typ => 'JWT' }));
	my $body = encode_base64url(encode_json({ aud => 'postgraphile', %claims }));
	return "$head.$body." . encode_base64url(hmac_sha256("$head.$body", $secret));
}

sub fields
{
	my ($url) = @_;
	my $s = graphql($url, '{__schema{queryType{fields{name}} mutationType{fields{name}}}}')->{data}{__schema};
	my @q = sort grep { !/^(query|nodeId|node)$/ } map { $_->{name} } @{ $s->{queryType}{fields} };
	my @m = sort map { $_->{name} } @{ $s->{mutationType} ? $s->{mutationType}{fields} : [] };
	return (\@q, \@m);
}

my @helpers = qw(churnRisk currentActor engagementScore insights invoker lifecycleSegment normalizePhone
	rfmDigit searchFold searchKey setting bgnbdExpectedPurchases bgnbdProbabilityAlive gammaGammaExpectedValue);
my @reads = qw(findCustomer getCustomer getCustomerAnalytics getCustomerHealthScore getCustomerOrders getCustomerOverview
	getCustomerNotes getCustomerSegments getCustomerTimeline getCustomers getSegment getSegmentAttributes getSegmentInsights getSegments
	previewSegment findDuplicateCustomers getCustomerViews getBulkAction);
my @notes = qw(addCustomerNote deleteCustomerNote updateCustomerNote saveCustomerView deleteCustomerView addCustomerTags
	removeCustomerTags setMarketingConsent previewBulkAction startBulkAction runBulkAction);

my $admin = start_postgraphile('graphql_admin', '--no-ignore-rbac');
my ($q, $m) = fields($admin);
is_deeply($q, [ sort(@helpers, @reads, qw(cronJobs cronScript exportColumns getAuditLog getImports getImportRejects getSettings)) ],
	'admin: the queries are the reads, the documented helpers and the pg_cron helpers');
is_deeply($m, [ sort(@notes, qw(addCustomerAddress anonymizeCustomer anonymizeInactiveCustomers exportCustomerData exportCustomers assignCustomerSegments calculateCustomerAnalytics claimEvents
	createSegment deleteSegment markEventsProcessed processAnalyticsQueue recalculateAllAnalytics recordLogin
	recordOrder recordSession refreshSegment fitClvModel registerCustomer registerStaff removeCustomerFromSegment
	removeExpiredSegmentAssignments scheduleJobs setOrderStatus setSetting unscheduleJobs updateCustomerStatus
	updateSegment linkLoginRole unlinkLoginRole purgeAuditLog upsertCustomer upsertOrder deleteImport importCsv attachSource detachSource
	refreshDuplicateCandidates dismissDuplicate previewMerge mergeCustomers)) ], 'admin: the mutations are the writes of the API, no internal helper');

my $staff = start_postgraphile('graphql_staff', '--no-ignore-rbac');
($q, $m) = fields($staff);
is_deeply($q, [ sort(@helpers, @reads) ], 'staff: the reads and the helpers');
is_deeply($m, [ sort @notes ], 'staff: notes, saved views and tags are their only mutations');

# a read and a write through GraphQL
my $id = $node->safe_psql('shop', q{SELECT id FROM customer_mgmt.users WHERE role = 'customer' ORDER BY id LIMIT 1});
my $r = graphql($staff, qq[{ getCustomer(customerId: "$id") }]);
is($r->{data}{getCustomer}{id}, $id, 'staff reads a customer by its uuid');
$r = graphql($admin, qq[mutation { calculateCustomerAnalytics(input: {customerId: "$id", asOf: "2026-03-01T00:00:00+07:00"}) { json } }]);
ok(exists $r->{data}{calculateCustomerAnalytics}{json}{churnRiskScore}, 'admin calculates a customer\'s analytics')
	or diag(explain($r));
$r = graphql($staff, q[{ getCustomer(customerId: "00000000-0000-4000-8000-0000000000aa") }]);
is($r->{errors}[0]{errcode}, 'PT404', 'an unknown customer is PT404 in the GraphQL error');
$r = graphql($staff, q[{ getCustomers(pageSize: 500) }]);
is($r->{errors}[0]{errcode}, '22023', 'a bad argument is 22023');
like($r->{errors}[0]{message}, qr/page_size/, 'naming the field');
$r = graphql($staff, q[{ getCustomer(customerId: "not-a-uuid") }]);
like($r->{errors}[0]{message}, qr/Expected value of type "UUID"/, 'a malformed id is refused by GraphQL\'s own UUID type');

# a trusted gateway with JWTs: the verified token names the user
my $secret = 'a secret of the shop, long enough for HS256';
my $gateway = start_postgraphile('graphql_gateway', '--no-ignore-rbac', '--jwt-secret', $secret,
	'--default-role', 'graphql_anon');
my $hoa = $node->safe_psql('shop', "SELECT customer_mgmt.register_staff('Vũ Hoa', 'hoa\@cuahang.vn')");
my $note = q[mutation { addCustomerNote(input: {customerId: "%s", content: "%s"}) { json } }];
$r = graphql($gateway, sprintf($note, $id, 'Gọi lại sau'), jwt($secret, role => 'customer_mgmt_staff', sub => $hoa));
is($r->{data}{addCustomerNote}{json}{authorId}, $hoa, 'gateway: the JWT\'s sub writes the note') or diag(explain($r));
$r = graphql($gateway, sprintf($note, $id, 'forged'), jwt('not the secret', role => 'customer_mgmt_staff', sub => $hoa));
ok(!defined $r->{data}{addCustomerNote}, 'gateway: a token signed with another secret writes nothing');
$r = graphql($gateway, sprintf($note, $id, 'nobody'), jwt($secret, role => 'customer_mgmt_staff', sub => '5b0f3a8e-3d0c-4c59-9c39-2f1a6a1e0c11'));
is($r->{errors}[0]{errcode}, '42501', 'gateway: a sub that is no user is refused');
$r = graphql($gateway, sprintf($note, $id, 'anonymous'));
ok(!defined $r->{data}{addCustomerNote}, 'gateway: a request without a token runs as the default role and writes nothing');
is($node->safe_psql('shop', "SELECT count(*) FROM customer_mgmt.customer_notes WHERE content IN ('forged', 'nobody', 'anonymous')"), '0',
	'and neither note exists');
is($node->safe_psql('shop', "SELECT session_role || ' ' || db_role FROM customer_mgmt.audit_log WHERE action = 'add_customer_note'"),
	'graphql_gateway customer_mgmt_staff', 'the audit log names the gateway and the role the token set');

kill 'TERM', @servers;
waitpid($_, 0) for @servers;
$node->stop;
done_testing();
