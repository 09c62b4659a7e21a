#!/usr/bin/env bash
# make test-sanitize: the C functions' tests with the extension built under
# UndefinedBehaviorSanitizer and the server run under valgrind's memcheck
# (docs/architecture.md, "Sanitizers").  Fails on any report from our code.
#   1. build src/ with -fsanitize=undefined -fno-sanitize-recover (undefined
#      behaviour aborts the backend, and its report lands in the log);
#   2. install that build, start a temporary instance with postgres under
#      valgrind (invalid reads and writes, use of uninitialised memory);
#   3. run the pg_regress tests of the C functions and the pgTAP tests of the
#      scoring rules and the preferences aggregate;
#   4. fail on any valgrind error whose stack passes through customer_mgmt.so,
#      on any UBSan report, on any test failure; reinstall the normal build.
# AddressSanitizer is not used: preloading its runtime (GCC 12's or clang
# 14's) into Debian's postgres 15 hangs before main() inside glibc's
# bindtextdomain, whose lock the runtime's start-up leaves corrupt, and a
# preload that initialises ASan first does not avoid it on Debian 12.
source "$(dirname "$0")/lib.sh"

CM_PACKAGES+=(valgrind)
cm_install_packages

work=$(mktemp -d /tmp/customer_mgmt_sanitize.XXXXXX)
build=$work/build
data=$work/data
port=54334
failed=0
cleanup() {
    cm_pg_stop "$data" || true
    pkill -u "$(cm_owner)" -f "valgrind.*$data" 2>/dev/null || true
    cm_say "reinstalling the normal build"
    cm_build_install
    if [[ $failed -eq 0 && ${CM_TEST_KEEP:-0} != 1 ]]; then rm -rf "$work"; else cm_say "output kept in $work"; fi
}
trap cleanup EXIT

cm_say "building customer_mgmt with -fsanitize=undefined"
mkdir -p "$build"
cp -r "$CM_ROOT/Makefile" "$CM_ROOT/customer_mgmt.control" "$CM_ROOT/META.json" "$CM_ROOT/src" "$CM_ROOT/include" \
    "$CM_ROOT/sql" "$build/"
sanitize_flags="-fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
make -C "$build" -s clean >/dev/null
make -C "$build" -s PG_CONFIG="$PG_CONFIG" with_llvm=no COPT="$sanitize_flags"
if [[ $(id -u) -eq 0 ]]; then
    make -C "$build" -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
else
    sudo make -C "$build" -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
fi
ldd "$build/customer_mgmt.so" | grep -q libubsan || cm_die "the build is not instrumented"

cp -r "$CM_ROOT/test" "$work/test"
cm_owned_dir "$work/logs"
[[ $(id -u) -eq 0 ]] && chown -R "$(cm_owner)" "$work"

cm_say "starting postgres under valgrind"
CM_SHARED_BUFFERS=128MB cm_initdb "$data" "$port" contrib_regression
echo "max_prepared_transactions = 0" >>"$data/postgresql.conf"
# backends are forked, not exec'ed: valgrind follows them without
# --trace-children
cm_as_owner env UBSAN_OPTIONS="print_stacktrace=1:log_path=$work/logs/ubsan" \
    valgrind --quiet --error-limit=no --num-callers=30 --log-file="$work/logs/valgrind.%p" \
        postgres -D "$data" >"$work/logs/server.log" 2>&1 &
for _ in $(seq 120); do
    cm_as_owner pg_isready -q -h "$data" -p "$port" && break
    sleep 1
done
cm_as_owner pg_isready -q -h "$data" -p "$port" || cm_die "postgres under valgrind did not start (see $work/logs)"

cd "$work"
# --use-existing neither creates the database nor loads the extensions
cm_psql "$data" "$port" postgres -qc "CREATE DATABASE contrib_regression"
cm_psql "$data" "$port" contrib_regression -qc "CREATE EXTENSION customer_mgmt CASCADE" -c "CREATE EXTENSION pgtap"
cm_say "pg_regress: the C functions, the segment language and its fuzz run, the CLV model's failures"
cm_as_owner "$CM_PGXS_DIR/src/test/regress/pg_regress" --use-existing --host="$data" --port="$port" \
    --bindir="$CM_BINDIR" --inputdir=test --outputdir="$work/regress" --dbname=contrib_regression \
    clv_failure hostile phone search_fold segment_lang || failed=1

cm_say "pgTAP: the scoring rules, the preferences aggregate, segments and top_customers, the export, the CLV model and its numerics"
cm_as_owner pg_prove -h "$data" -p "$port" -d contrib_regression --ext .sql test/pgtap/05_analytics.sql test/pgtap/11_segments.sql test/pgtap/15_export.sql test/pgtap/16_clv.sql test/pgtap/17_clv_numerics.sql || failed=1

cm_pg_stop "$data"
sleep 2

reports=0
for f in "$work"/logs/valgrind.*; do
    [[ -s $f ]] || continue
    # one error a block, blocks separated by a line of "==pid== "
    if awk '/^==[0-9]+== [^ ]/ { if (blk ~ /customer_mgmt\.so/) bad = 1; blk = "" } { blk = blk "\n" $0 }
            END { if (blk ~ /customer_mgmt\.so/) bad = 1; exit !bad }' "$f"; then
        cm_say "valgrind found errors in customer_mgmt.so: $f"
        cat "$f"
        reports=$((reports + 1))
    fi
done
for f in "$work"/logs/ubsan*; do
    [[ -e $f ]] || continue
    cm_say "UndefinedBehaviorSanitizer report: $f"
    cat "$f"
    reports=$((reports + 1))
done
if [[ $reports -gt 0 || $failed -ne 0 ]]; then
    outcome=$([[ $failed -ne 0 ]] && echo failed || echo passed)
    failed=1
    cm_die "test-sanitize: $reports report(s); tests $outcome"
fi
cm_say "test-sanitize: no report from valgrind or UBSan, tests passed"
