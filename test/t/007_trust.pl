# Trust with real logins, in a database whose locale is C and in a UTF-8
# one (docs/operations.md, Who is acting; docs/privacy.md): the acting
# user is the login's; the app cannot switch the triggers off; the event
# channel carries nothing about whom; anonymisation leaves no spelling of
# the person in any alphabet and always fits; the export's output is safe.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('trust');
$node->init;
$node->start;

for my $locale ('C', 'C.UTF-8')
{
	(my $db = lc "shop_$locale") =~ s/[^a-z0-9]/_/g;
	$node->safe_psql('postgres',
		"CREATE DATABASE $db LOCALE '$locale' ENCODING 'UTF8' TEMPLATE template0");
	$node->safe_psql($db, 'CREATE EXTENSION customer_mgmt CASCADE');
	$node->safe_psql($db, q{
		DO $$ BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hoa') THEN
				CREATE ROLE hoa LOGIN IN ROLE customer_mgmt_staff;
				CREATE ROLE minh LOGIN IN ROLE customer_mgmt_staff;
				CREATE ROLE shop_backend LOGIN IN ROLE customer_mgmt_app;
			END IF;
		END $$;
	});
	my $hoa = $node->safe_psql($db, "SELECT customer_mgmt.register_staff('Vũ Hoa', 'hoa\@cuahang.vn', 'staff', 'hoa')");
	my $minh = $node->safe_psql($db, "SELECT customer_mgmt.register_staff('Lê Minh', 'minh\@cuahang.vn', 'staff', 'minh')");
	my $customer = $node->safe_psql($db, q{
		SELECT customer_mgmt.register_customer('Đỗ Ánh Jürgen Øster-Łukasz', 'anh@example.vn', '+84 (0) 903 123 456', '1990-03-05')});

	# who is acting: the login's own user, and no one else's
	my $as = sub {
		my ($role, $sql) = @_;
		return $node->psql($db, $sql, extra_params => [ '-U', $role ]);
	};
	my ($ret, $out, $err) = $as->('hoa', 'SELECT customer_mgmt.current_actor()');
	is($out, $hoa, "$locale: a staff login acts as its own user");
	($ret, $out, $err) = $as->('hoa', "SET customer_mgmt.actor_id = '$minh'; SELECT customer_mgmt.add_customer_note('$customer', 'x')");
	like($err, qr/acting user is not the session's own/, "$locale: and cannot write as a colleague");
	($ret, $out, $err) = $as->('hoa', qq{SET request.jwt.claims = '{"sub": "$minh"}'; SELECT customer_mgmt.current_actor()});
	isnt($ret, 0, "$locale: not through JWT claims either");

	# the app cannot switch the triggers off
	($ret, $out, $err) = $as->('shop_backend', q{
		SET customer_mgmt.restoring = on; SET search_path = '';
		SELECT customer_mgmt.register_customer('Phạm Bình', 'binh@example.vn')});
	is($node->safe_psql($db, "SELECT count(*) FROM customer_mgmt.customer_list WHERE customer_id = '$out'"), '1',
		"$locale: the app's 'restore' still fires the triggers");

	# the event channel: a wake-up, nothing about whom
	($ret, $out, $err) = $node->psql($db, q{LISTEN customer_mgmt_events;
		SELECT customer_mgmt.register_customer('Trần Thị Nhàn', 'nhan@example.vn') IS NOT NULL});
	like($out, qr/Asynchronous notification "customer_mgmt_events" received/, "$locale: registering wakes the listeners");
	unlike($out, qr/payload|nhan|Nhàn|-[0-9a-f]{4}-/, "$locale: with an empty payload");

	# erasure: every spelling, any alphabet, whatever the locale
	$as->('hoa', qq{SELECT customer_mgmt.add_customer_note('$customer',
		'Khách ĐỖ ÁNH JÜRGEN ØSTER-ŁUKASZ (đỗ ánh jürgen øster-łukasz, Do Anh Jurgen Oster-Lukasz) gọi từ +84 (0) 903 123 456 '
		|| 'và 0903.123.456, sinh ngày 05 tháng 03 năm 1990, e-mail ANH\@EXAMPLE.VN')});
	my $an = $node->safe_psql($db, "SELECT customer_mgmt.register_customer('An', 'an\@example.vn')");
	my $long = $as->('hoa', qq{SELECT customer_mgmt.add_customer_note('$an', repeat('An ', 1666) || 'An')});
	($ret, $out, $err) = $node->psql($db, qq{
		SELECT customer_mgmt.anonymize_customer('$customer', 'asked'), customer_mgmt.anonymize_customer('$an', 'asked')});
	is($ret, 0, "$locale: a note near its limit does not block the erasure") or diag($err);
	is($node->safe_psql($db, qq{
		SELECT count(*) FROM customer_mgmt.customer_notes
		 WHERE content ~* '(jürgen|jurgen|øster|oster|łukasz|lukasz|đỗ|ĐỖ|ánh|ÁNH|903|1990|anh\@)'}), '0',
		"$locale: no spelling of the name, phone, birth date or e-mail survives in the notes");
	is($node->safe_psql($db, "SELECT max(length(content)) <= 5000 FROM customer_mgmt.customer_notes WHERE customer_id = '$an'"),
		't', "$locale: and the redacted note fits its column");

	# output: no code point XML forbids gets in; CSV neutralises full-width formulas
	($ret, $out, $err) = $node->psql($db, "SELECT customer_mgmt.register_customer(E'Bad\\uFFFEName', 'bad\@example.vn')");
	like($err, qr/invalid full_name/, "$locale: U+FFFE is refused at ingestion");
	$node->safe_psql($db, "SELECT customer_mgmt.register_customer('＝HYPERLINK(\"http://x\")', 'fw\@example.vn')");
	$out = $node->safe_psql($db, q{
		SELECT convert_from(customer_mgmt.export_customers(search => 'hyperlink', format => 'csv', columns => ARRAY['fullName']), 'UTF8')});
	utf8::decode($out);
	like($out, qr/^"?'＝HYPERLINK/m, "$locale: a full-width = is neutralised in CSV");
}

done_testing();
