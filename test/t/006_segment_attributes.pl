# The segment language's attributes have one definition, its parser's table
# (src/segment_lang.c, read through get_segment_attributes()): the table of
# docs/segments.md names exactly those, each under its kind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('attributes');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION customer_mgmt CASCADE');
my %parser = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT a ->> 'name', a ->> 'kind' FROM jsonb_array_elements(customer_mgmt.get_segment_attributes() -> 'data') a});

# the docs' table: | kind | `attribute`, ... | values | operators |
my $docs = slurp_file("$ENV{TESTDIR}/docs/segments.md");
my ($table) = $docs =~ /^## Attributes\n(.*?)\n\n/ms;
ok(defined $table, 'docs/segments.md has the table of attributes');
my %kinds = ('number' => 'number', 'time' => 'time', 'text, folded' => 'text', 'code' => 'code', 'list, folded' => 'list',
	'segment' => 'segment');
my %documented;
for my $row (split /\n/, $table // '')
{
	my ($kind, $names) = $row =~ /^\| ([^|]+?) \| ([^|]+?) \|/ or next;
	next unless exists $kinds{$kind};
	$documented{$_} = $kinds{$kind} for $names =~ /`([a-z_]+)`/g;
}
is_deeply(\%documented, \%parser, 'docs/segments.md lists every attribute of the parser, each under its kind, and no other');

$node->stop;
done_testing();
