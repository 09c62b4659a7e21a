#!/usr/bin/env bash
# The README's second command: every test suite, on temporary instances with
# pg_cron preloaded.
#   1. pg_regress      test/sql/*.sql against test/expected/*.out
#   2. isolation       test/specs/*.spec against test/expected/*.out
#   3. pgTAP           test/pgtap/[0-9]*.sql through pg_prove
#   4. Perl TAP        test/t/*.pl (two databases, dump and restore, every
#                      update against a fresh install, PostGraphile 4)
#   5. demo            test/demo_port.sh (make demo when its port is taken)
# Exits non-zero when anything fails.  Set CM_TEST_KEEP=1 to keep the work
# directory (diffs, logs).
source "$(dirname "$0")/lib.sh"

cm_install_packages
cm_build_install

work=$(mktemp -d /tmp/customer_mgmt_test.XXXXXX)
cleanup() {
    cm_pg_stop "$work/pgtap" || true
    if [[ ${CM_TEST_KEEP:-0} == 1 || ${failed:-0} -gt 0 ]]; then
        cm_say "test output kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
cp -r "$CM_ROOT/test" "$work/test"
# the docs that tests check against the code (test/t/006_segment_attributes.pl)
cp -r "$CM_ROOT/docs" "$work/docs"
cp "$CM_ROOT/README.md" "$work/README.md"
postgraphile=$(cm_install_postgraphile "$work/postgraphile")
[[ $(id -u) -eq 0 ]] && chown -R "$(cm_owner)" "$work"
cd "$work"

passed=0 failed=0 tests=0
suite() {  # suite NAME COMMAND...: run one suite, count it
    local name=$1 log="$work/$1.log"
    shift
    cm_say "$name"
    if cm_as_owner "$@" 2>&1 | tee "$log"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        cm_say "$name FAILED"
        for d in "$work"/*/regression.diffs; do
            if [[ -s $d ]]; then cat "$d"; fi
        done
    fi
}

cm_say "PostgreSQL $CM_PG_MAJOR ($PG_CONFIG)"
# the instances' configuration: test/pg.conf, without pg_cron when the server has none
if [[ $CM_HAVE_CRON == 1 ]]; then
    cp test/pg.conf "$work/pg.conf"
else
    grep -v 'cron' test/pg.conf >"$work/pg.conf"
    cm_say "pg_cron is not installed for PostgreSQL $CM_PG_MAJOR: the tests of the jobs (regress jobs, pgTAP 07_jobs, TAP 001_install) are skipped"
fi
regress_opts=(--temp-config="$work/pg.conf" --bindir="$CM_BINDIR" --inputdir=test --dbname=contrib_regression
              --load-extension=pg_trgm --load-extension=unaccent --load-extension=customer_mgmt)
# the ports: free ones, so that two runs at once do not collide
regress_port=$(cm_free_port)
isolation_port=$(cm_free_port "$regress_port")
pgtap_port=$(cm_free_port "$regress_port" "$isolation_port")

mapfile -t regress_tests < <(cd test/sql && ls ./*.sql | sed 's|^\./||; s|\.sql$||' | { if [[ $CM_HAVE_CRON == 1 ]]; then cat; else grep -vx jobs; fi; })
suite pg_regress "$CM_PGXS_DIR/src/test/regress/pg_regress" "${regress_opts[@]}" \
    --temp-instance="$work/tmp_regress" --outputdir="$work/regress" --port="$regress_port" "${regress_tests[@]}"
tests=$((tests + ${#regress_tests[@]}))

mapfile -t isolation_tests < <(cd test/specs && ls ./*.spec | sed 's|^\./||; s|\.spec$||')
suite isolation "$CM_PGXS_DIR/src/test/isolation/pg_isolation_regress" "${regress_opts[@]}" \
    --temp-instance="$work/tmp_isolation" --outputdir="$work/isolation" --port="$isolation_port" "${isolation_tests[@]}"
tests=$((tests + ${#isolation_tests[@]}))

# pgTAP: one instance, one database, every file in its own transaction
cm_pg_start "$work/pgtap" "$pgtap_port" contrib_regression
cm_psql "$work/pgtap" "$pgtap_port" postgres -qc "CREATE DATABASE contrib_regression"
cm_psql "$work/pgtap" "$pgtap_port" contrib_regression -qc "CREATE EXTENSION pgtap"
if [[ $CM_HAVE_CRON == 1 ]]; then cm_psql "$work/pgtap" "$pgtap_port" contrib_regression -qc "CREATE EXTENSION pg_cron"; fi
cm_psql "$work/pgtap" "$pgtap_port" contrib_regression -qc "CREATE EXTENSION customer_mgmt CASCADE"
mapfile -t pgtap_files < <(ls test/pgtap/[0-9]*.sql | { if [[ $CM_HAVE_CRON == 1 ]]; then cat; else grep -v '/07_jobs\.sql$'; fi; })
suite pgtap pg_prove -h "$work/pgtap" -p "$pgtap_port" -d contrib_regression --ext .sql "${pgtap_files[@]}"
tests=$((tests + $(grep -ohE '^Files=[0-9]+, Tests=[0-9]+' "$work/pgtap.log" | sed 's/.*Tests=//' || echo 0)))
cm_pg_stop "$work/pgtap"

# Perl TAP tests with PostgreSQL::Test::Cluster
suite tap env PERL5LIB="$CM_PGXS_DIR/src/test/perl" PG_REGRESS="$CM_PGXS_DIR/src/test/regress/pg_regress" \
    TESTDIR="$work" PATH="$CM_BINDIR:$PATH" CM_POSTGRAPHILE="$postgraphile" CM_HAVE_CRON="$CM_HAVE_CRON" prove -v test/t/*.pl
tests=$((tests + $(grep -ohE '^Files=[0-9]+, Tests=[0-9]+' "$work/tap.log" | sed 's/.*Tests=//' || echo 0)))

# make demo's start-up, as the user who runs make demo (root or a sudoer): the machine's default server
if [[ $PG_CONFIG == /usr/lib/postgresql/$CM_DEBIAN_MAJOR/bin/pg_config ]]; then
    cm_say demo
    if bash "$CM_ROOT/test/demo_port.sh" 2>&1 | tee "$work/demo.log"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        cm_say "demo FAILED"
    fi
    tests=$((tests + $(grep -c '^ok' "$work/demo.log" || true)))
else
    cm_say "demo skipped: make demo runs on the machine's default server, PostgreSQL $CM_DEBIAN_MAJOR"
fi

echo
echo "customer_mgmt test suites: $tests tests in $((passed + failed)) suites"
echo "suites: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
