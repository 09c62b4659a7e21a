#!/usr/bin/env bash
# Benchmark driver.  Runs against the private instance of scripts/demo.sh
# (started if needed) in databases of its own, and prints one line per result
# for docs/performance.md.
#
#   bench/run.sh generate [CUSTOMERS]   time the demo-shop generator (default 1,000,000)
#   bench/run.sh duplicates [TWINS]     duplicate detection on the bench shop with TWINS customers registered twice
#   bench/run.sh csv [CUSTOMERS]        import_csv of a sheet against COPY of the same file (default 100,000)
#   bench/run.sh attach [CUSTOMERS] [SECONDS]  the shop's own order insert into attached tables, with
#                                       the triggers and without (default 100,000 customers, 20 s)
#   bench/run.sh list [SECONDS]         get_customers shapes and get_customer, p50/p95 (CM_BENCH_SHAPES=regex: some)
#                                       (needs the shop of "generate"; SECONDS per script, default 10)
#   bench/run.sh recalc                 full recalculation (function and procedure) against the
#                                       floor, a CREATE TABLE AS of order and session aggregates
#   bench/run.sh nightly                the day after: a day of 5,000 orders and visits through the
#                                       queue worker, then the next night's run, the run from
#                                       scratch, and the floor before and after
#   bench/run.sh dashboard              get_customer_overview() and get_customer_health_score(), three
#                                       calls each
#   bench/run.sh segments               preview_segment, create_segment and refresh_segment of
#                                       twelve definitions
#   bench/run.sh export                 export_customers as CSV and xlsx against COPY of the same query,
#                                       with the backend's peak memory
#   bench/run.sh clv                    fit_clv_model on the 1,000,000-customer shop (two days) against a
#                                       floor (one aggregate over the completed orders), and the model's
#                                       accuracy on CDNOW (bench/clv/accuracy.sql, a database of its own)
#   bench/run.sh bulk                   a bulk tag of the women of Hà Nội (94,371) against one INSERT of their tag rows
#   bench/run.sh orders [SECONDS]       order inserts per second with and without the event triggers
#   bench/run.sh import [CUSTOMERS]     import_table of CUSTOMERS of the bench shop (default 100,000) and
#                                       their orders into an empty shop, against COPY of the same rows
#   bench/run.sh preferences            purchase_preferences of one customer with 100,000 order
#                                       lines against a floor (count and sum of the same lines)
source "$(dirname "$0")/../scripts/lib.sh"

DATA=$(cm_demo_dir)
PORT=${CM_DEMO_PORT:-54329}
DB=customer_mgmt_bench

# The 1,000,000-customer shop of "generate", at the current version.
bench_shop() {
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    customers=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer'" 2>/dev/null || echo 0)
    [[ $customers -ge 1000000 ]] || cm_die "no 1,000,000-customer shop in $DB: run bench/run.sh generate first"
    cm_psql "$DATA" "$PORT" "$DB" -qc "ALTER EXTENSION customer_mgmt UPDATE"
}

# Seconds a SQL command takes, measured by the server.
bench_seconds() {
    cm_psql "$DATA" "$PORT" "$DB" -qtA -c "SET client_min_messages = warning" \
        -c "CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0" -c "$1" \
        -c "SELECT round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1) FROM t" | tail -n 1
}

case "${1:-}" in
generate)
    customers=${2:-1000000}
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
    # CM_BENCH_VERSION=1.1 generates the shop at an older version, to time the upgrade
    cm_psql "$DATA" "$PORT" "$DB" -qc "CREATE EXTENSION customer_mgmt VERSION '${CM_BENCH_VERSION:-$(cm_default_version)}' CASCADE"
    start=$(date +%s.%N)
    "$CM_ROOT/scripts/generate.sh" "$DATA" "$PORT" "$DB" "$customers" 42 2026-11-01
    end=$(date +%s.%N)
    cm_psql "$DATA" "$PORT" "$DB" -c "
        SELECT (SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer') AS customers,
               (SELECT count(*) FROM customer_mgmt.orders) AS orders,
               (SELECT count(*) FROM customer_mgmt.order_items) AS order_items,
               (SELECT count(*) FROM customer_mgmt.web_sessions) AS sessions,
               pg_size_pretty(pg_database_size(current_database())) AS size"
    awk -v a="$start" -v b="$end" -v n="$customers" -v c="$(nproc)" \
        'BEGIN { printf "generate: %d customers in %.1f s on %d cores\n", n, b - a, c }'
    ;;
list)
    seconds=${2:-10}
    bench_shop
    if [[ $(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT to_regclass('bench_terms') IS NOT NULL") != t ]]; then
        cm_say "bench fixture (analytics, search terms)"
        cm_psql "$DATA" "$PORT" "$DB" -q -f "$CM_ROOT/bench/list/setup.sql"
    fi
    logs=$(mktemp -d)
    [[ $(id -u) -eq 0 ]] && chown "$(cm_owner)" "$logs"
    printf '| shape | p50 ms | p95 ms | calls |\n|---|---|---|---|\n'
    for script in "$CM_ROOT"/bench/list/[0-9]*.sql; do
        name=$(basename "$script" .sql)
        # CM_BENCH_SHAPES: a regular expression of the shapes to run (all by default)
        [[ -n ${CM_BENCH_SHAPES:-} && ! $name =~ $CM_BENCH_SHAPES ]] && continue
        rm -f "$logs"/*
        (cd "$logs" && cm_as_owner pgbench -n -h "$DATA" -p "$PORT" -c 1 -T "$seconds" -l --log-prefix="$logs/log" \
            -f "$script" "$DB" >/dev/null 2>"$logs/err") || { cat "$logs/err"; cm_die "pgbench failed on $name"; }
        cat "$logs"/log.* | awk '{ print $3 / 1000 }' | sort -n | awk -v name="$name" '
            { v[NR] = $1 }
            END { p50 = v[int(NR * 0.50 + 0.5)]; p95 = v[int(NR * 0.95 + 0.5)];
                  printf "| %s | %.2f | %.2f | %d |\n", name, p50, p95, NR }'
    done
    rm -rf "$logs"
    ;;
recalc)
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -qc "VACUUM ANALYZE"
    floor1=$(bench_seconds "\\i $CM_ROOT/bench/recalc/floor.sql")
    fn=$(bench_seconds "SELECT customer_mgmt.recalculate_all_analytics(full => true)")
    proc=$(bench_seconds "CALL customer_mgmt.recalculate_all_analytics_batched(full => true)")
    floor2=$(bench_seconds "\\i $CM_ROOT/bench/recalc/floor.sql")
    cm_psql "$DATA" "$PORT" "$DB" -qc "DROP TABLE bench_floor"
    awk -v f1="$floor1" -v f2="$floor2" -v fn="$fn" -v p="$proc" 'BEGIN {
        f = f1 < f2 ? f1 : f2
        printf "| floor (CREATE TABLE AS, best of 2) | %.1f s | 1.00 |\n", f
        printf "| recalculate_all_analytics(full => true) | %.1f s | %.2f |\n", fn, fn / f
        printf "| CALL recalculate_all_analytics_batched(full => true) | %.1f s | %.2f |\n", p, p / f }'
    ;;
nightly)
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -qc "VACUUM ANALYZE"
    cm_psql "$DATA" "$PORT" "$DB" -q -f "$CM_ROOT/bench/nightly/day.sql" >/dev/null
    # the next night: one day after the previous run
    next=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT (r.details ->> 'asOf')::timestamptz + interval '1 day'
                                                   FROM customer_mgmt.job_runs r
                                                  WHERE r.job_name LIKE 'recalculate_all_analytics%' AND r.status = 'succeeded'
                                                  ORDER BY r.id DESC LIMIT 1")
    floor1=$(bench_seconds "\\i $CM_ROOT/bench/recalc/floor.sql")
    nightly=$(bench_seconds "SELECT customer_mgmt.recalculate_all_analytics('$next')")
    written=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT rows_processed FROM customer_mgmt.job_runs
                                                    WHERE job_name = 'recalculate_all_analytics' ORDER BY id DESC LIMIT 1")
    # each step of it: the changes and their statistics, the analytics
    # written, the CLV model refitted, the segments refreshed
    steps=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT format('statistics %s s, analytics %s s, CLV model %s s, segments %s s',
                                                         d #>> '{seconds,statistics}', d #>> '{seconds,slices}',
                                                         d #>> '{seconds,clvModel}', d #>> '{seconds,segments}')
                                                  FROM (SELECT details AS d FROM customer_mgmt.job_runs
                                                         WHERE job_name = 'recalculate_all_analytics' ORDER BY id DESC LIMIT 1) r")
    full=$(bench_seconds "SELECT customer_mgmt.recalculate_all_analytics('$next', full => true)")
    full_steps=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT format('statistics %s s, analytics %s s, CLV model %s s, segments %s s',
                                                              d #>> '{seconds,statistics}', d #>> '{seconds,slices}',
                                                              d #>> '{seconds,clvModel}', d #>> '{seconds,segments}')
                                                       FROM (SELECT details AS d FROM customer_mgmt.job_runs
                                                              WHERE job_name = 'recalculate_all_analytics' ORDER BY id DESC LIMIT 1) r")
    floor2=$(bench_seconds "\\i $CM_ROOT/bench/recalc/floor.sql")
    cm_psql "$DATA" "$PORT" "$DB" -qc "DROP TABLE bench_floor"
    awk -v f1="$floor1" -v f2="$floor2" -v n="$nightly" -v full="$full" -v w="$written" -v at="$next" -v steps="$steps" \
        -v fsteps="$full_steps" 'BEGIN {
        f = f1 < f2 ? f1 : f2
        printf "| floor (CREATE TABLE AS, best of 2: %.1f s, %.1f s) | %.1f s | 1.00 |\n", f1, f2, f
        printf "| recalculate_all_analytics(%s): the next night (%s rows written; %s) | %.1f s | %.2f |\n", at, w, steps, n, n / f
        printf "| recalculate_all_analytics(same, full => true): from scratch (%s) | %.1f s | %.2f |\n", fsteps, full, full / f }'
    ;;
dashboard)
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -qtA -f "$CM_ROOT/bench/dashboard/calls.sql"
    ;;
bulk)
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -qtA -f "$CM_ROOT/bench/bulk/tag.sql" | grep '^|\|succeeded\|running'
    ;;
segments)
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -qtA -f "$CM_ROOT/bench/segments/shapes.sql"
    cm_psql "$DATA" "$PORT" "$DB" -qtA -f "$CM_ROOT/bench/segments/refresh.sql"
    ;;
clv)
    bench_shop
    printf '| run | seconds | × floor |\n|---|---|---|\n'
    floor=$(bench_seconds "SELECT count(*), sum(total_amount) FROM customer_mgmt.orders WHERE status = 'completed' AND order_date <= '2026-11-01'")
    printf '| floor: count and sum of the completed orders | %s | 1.00 |\n' "$floor"
    for day in 2026-11-02 2026-11-03; do
        # the night's autovacuum, then the fit as the nightly run calls it
        cm_psql "$DATA" "$PORT" "$DB" -qtA -c "VACUUM customer_mgmt.customer_clv" -c "
            SELECT format(E'| fit_clv_model(%s): purchase summary and fits, %s customers | %s | %s |\\n'
                          '| fit_clv_model(%s): the summaries that changed written, of %s customers | %s | |',
                          '$day', m ->> 'customers', m ->> 'fitSeconds', round((m ->> 'fitSeconds')::numeric / $floor, 2),
                          '$day', m ->> 'summarisedCustomers', m ->> 'summarySeconds')
              FROM customer_mgmt.fit_clv_model('$day') m"
    done
    printf '\n'
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS customer_mgmt_cdnow" -c "CREATE DATABASE customer_mgmt_cdnow"
    cm_psql "$DATA" "$PORT" customer_mgmt_cdnow -qc "CREATE EXTENSION customer_mgmt CASCADE" 2>/dev/null
    (cd "$CM_ROOT" && cm_psql "$DATA" "$PORT" customer_mgmt_cdnow -f bench/clv/accuracy.sql)
    ;;
export)
    # each format in sessions of its own: COPY of the same query (the floor), then the export, timed by
    # the server (measure.sql); then the memory, each in a session of its own again, as the peak of the
    # backend's private memory (RssAnon, sampled every 10 ms: VmHWM would count the shared buffers too)
    bench_shop
    work=$(mktemp -d)
    for fmt in csv xlsx; do
        cm_psql "$DATA" "$PORT" "$DB" -v fmt="$fmt" -f "$CM_ROOT/bench/export/measure.sql"
    done | awk -F'|' '
        /^COPY/ { if (!floor || $2 < floor) floor = $2; copies = copies " " $2 " s,"; next }
        { line[++n] = $0 }
        END {
            printf "| COPY (same query) TO csv, best of%s | %.1f s | 1.00 |\n", substr(copies, 1, length(copies) - 1), floor
            for (i = 1; i <= n; i++) {
                split(line[i], f, "|")
                printf "| %s | %s s | %.2f |\n", f[1], f[2], f[2] / floor
            }
        }' | tee "$work/times"
    # the compression floor: the XML of the workbook just timed, through the same zlib at libxlsxwriter's
    # level and at level 1 (bench/export/deflate.py)
    cm_psql "$DATA" "$PORT" "$DB" -qtA -c "SELECT encode(customer_mgmt.export_customers(format => 'xlsx'), 'base64')" \
        | base64 -d > "$work/export.xlsx"
    /usr/bin/python3 "$CM_ROOT/bench/export/deflate.py" "$work/export.xlsx" | awk -F'|' -v floor="$(awk -F'|' 'NR == 1 { print $3 + 0 }' "$work/times")" '{
        printf "| its %.0f MB of XML through zlib at level %s (CRC-32 and raw deflate, as minizip): %.0f MB | %.1f s | %.2f |\n",
               $4 / 1048576, $1, $3 / 1048576, $2, $2 / floor }'
    rm -rf "$work"
    printf '\n| memory of | result | private memory at rest | peak | growth beyond the result |\n|---|---|---|---|---|\n'
    query=$(cm_psql "$DATA" "$PORT" "$DB" -qtA -f "$CM_ROOT/bench/export/query.sql" -c '\echo :q')
    for fmt in copy csv xlsx; do
        if [[ $fmt == copy ]]; then
            call="COPY ($query) TO '/dev/null' WITH (FORMAT csv, HEADER)"
        else
            call="SELECT length(customer_mgmt.export_customers(format => '$fmt'))"
        fi
        out=$(mktemp)
        [[ $(id -u) -eq 0 ]] && chown "$(cm_owner)" "$out"
        cm_psql "$DATA" "$PORT" "$DB" -qtA -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(1)" \
            -c "$call" > "$out" &
        client=$!
        until [[ -s $out ]]; do sleep 0.05; done
        pid=$(head -n 1 "$out")
        sleep 0.5
        rest=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status")
        peak=$rest
        while kill -0 "$client" 2>/dev/null; do
            now=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
            [[ -n $now && $now -gt $peak ]] && peak=$now
            sleep 0.01
        done
        bytes=$(tail -n 1 "$out" | grep -E '^[0-9]+$' || echo 0)
        rm -f "$out"
        awk -v f="$([[ $fmt == copy ]] && echo "COPY (same query) TO csv" || echo "export_customers(format => $fmt)")" -v b="$bytes" -v r="$rest" -v p="$peak" 'BEGIN {
            printf "| %s | %.0f MB | %.0f MB | %.0f MB | %+.0f MB |\n", f, b / 1048576, r / 1024, p / 1024, (p - r) / 1024 - b / 1048576 }'
    done
    ;;
duplicates)
    # refresh_duplicate_candidates on the bench shop with TWINS customers
    # registered twice (default 2,000: bench/duplicates/make.sql) against
    # a scan of the customers' keys, a page of find_duplicate_customers,
    # and the precision and recall of the pairs found; the twins removed
    twins=${2:-2000}
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -q -v n="$twins" -f "$CM_ROOT/bench/duplicates/make.sql" >/dev/null
    floor=$(bench_seconds "CREATE TEMP TABLE f AS SELECT u.id, customer_mgmt.email_identity(u.email), u.phone_number, customer_mgmt.search_fold(u.full_name), u.date_of_birth FROM customer_mgmt.users u WHERE u.role = 'customer' AND u.anonymized_at IS NULL")
    refresh=$(bench_seconds "SELECT customer_mgmt.refresh_duplicate_candidates()")
    page=$(bench_seconds "SELECT customer_mgmt.find_duplicate_customers(min_score => 0.5, page => 3, page_size => 50)")
    quality=$(cm_psql "$DATA" "$PORT" "$DB" -qAt -c "
        WITH found AS (SELECT customer_a, customer_b FROM customer_mgmt.duplicate_candidates),
             truth AS (SELECT least(original, twin) AS a, greatest(original, twin) AS b, kind FROM bench_dup_truth)
        SELECT format('%s pairs found; recall %s%% (%s); precision %s%% of the pairs with a twin',
                      (SELECT count(*) FROM found),
                      round(100.0 * (SELECT count(*) FROM truth t JOIN found f ON (f.customer_a, f.customer_b) = (t.a, t.b))
                            / (SELECT count(*) FROM truth), 1),
                      (SELECT string_agg(kind || ' ' || hit || '/' || total, ', ' ORDER BY kind)
                         FROM (SELECT t.kind, count(f.customer_a) AS hit, count(*) AS total FROM truth t
                                 LEFT JOIN found f ON (f.customer_a, f.customer_b) = (t.a, t.b) GROUP BY t.kind) k),
                      round(100.0 * (SELECT count(*) FROM truth t JOIN found f ON (f.customer_a, f.customer_b) = (t.a, t.b))
                            / nullif((SELECT count(*) FROM found f WHERE EXISTS (SELECT FROM bench_dup_truth t
                                       WHERE t.twin IN (f.customer_a, f.customer_b))), 0), 1))")
    natural=$(cm_psql "$DATA" "$PORT" "$DB" -qAt -c "SELECT string_agg(r || ' ' || n, ', ' ORDER BY r) FROM (SELECT unnest(reasons) AS r, count(*) AS n FROM customer_mgmt.duplicate_candidates c WHERE NOT EXISTS (SELECT FROM bench_dup_truth t WHERE t.twin IN (c.customer_a, c.customer_b)) GROUP BY 1) x")
    cm_psql "$DATA" "$PORT" "$DB" -qc "DELETE FROM customer_mgmt.event_outbox e USING bench_dup_truth t WHERE e.customer_id = t.twin" \
        -c "DELETE FROM customer_mgmt.users u USING bench_dup_truth t WHERE u.id = t.twin" \
        -c "DROP TABLE bench_dup_truth" -c "DELETE FROM customer_mgmt.duplicate_candidates"
    printf '| floor: a scan of the customers computing the keys | %s s | 1.00 |\n' "$floor"
    awk -v f="$floor" -v r="$refresh" 'BEGIN { printf "| refresh_duplicate_candidates | %s s | %.2f |\n", r, r / f }'
    printf '| a page of find_duplicate_customers (page 3 of 50) | %s s | |\n' "$page"
    printf '\n%s\n\npairs without a twin (the generated shop\x27s own): %s\n' "$quality" "$natural"
    ;;
csv)
    # import_csv of a sheet of CUSTOMERS customers (default 100,000) into an
    # empty shop; the floor: COPY of the same file into a table of its
    # columns, in the same run
    customers=${2:-100000}
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    CDB=customer_mgmt_bench_csv
    files=$(mktemp -d)
    chmod 777 "$files"
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS $CDB" -c "CREATE DATABASE $CDB"
    cm_psql "$DATA" "$PORT" "$CDB" -qc "CREATE EXTENSION customer_mgmt CASCADE" \
        -c "CREATE TABLE floor_sheet (ma_khach_hang text, ho_ten text, email text, so_dien_thoai text, ngay_sinh text, gioi_tinh text, tinh_thanh_pho text, ngay_dang_ky text)"
    cm_psql "$DATA" "$PORT" "$CDB" -qAt -v n="$customers" -f "$CM_ROOT/bench/csv/make.sql" > "$files/sheet.csv"
    seconds() { cm_psql "$DATA" "$PORT" "$CDB" -qAt -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.2f", s / 1000 }'; }
    floor=$(seconds "COPY floor_sheet FROM '$files/sheet.csv' (FORMAT csv, HEADER, DELIMITER ';')")
    imp=$(seconds "SELECT customer_mgmt.import_csv(pg_read_binary_file('$files/sheet.csv'))")
    rows=$(cm_psql "$DATA" "$PORT" "$CDB" -qAt -c "SELECT format('%s customers, %s rejected', (SELECT count(*) FROM customer_mgmt.users), (SELECT sum(rejected) FROM customer_mgmt.imports))")
    size=$(stat -c %s "$files/sheet.csv")
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE $CDB"
    rm -rf "$files"
    awk -v f="$floor" -v i="$imp" -v r="$rows" -v s="$size" 'BEGIN {
        printf "| floor: COPY of the file (%d bytes) into a table of its columns | %.2f s | 1.00 |\n", s, f
        printf "| import_csv (%s) | %.2f s | %.1f |\n", r, i, i / f }'
    ;;
attach)
    # the shop's own order insert (an order and two lines, one transaction)
    # into its attached tables, with the extension's triggers and without,
    # alternated, two clients; a shop of CUSTOMERS customers (default
    # 100,000) in a database of its own, backfilled through import_table
    customers=${2:-100000}
    seconds=${3:-20}
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    ADB=customer_mgmt_bench_attach
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS $ADB" -c "CREATE DATABASE $ADB"
    cm_psql "$DATA" "$PORT" "$ADB" -q -v n="$customers" -c "CREATE EXTENSION customer_mgmt CASCADE" \
        -f "$CM_ROOT/bench/attach/setup.sql" >/dev/null
    tps() {
        cm_as_owner pgbench -n -h "$DATA" -p "$PORT" -c 2 -j 2 -T "$seconds" -D customers="$customers" \
            -f "$CM_ROOT/bench/attach/insert.sql" "$ADB" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
    }
    triggers() { cm_psql "$DATA" "$PORT" "$ADB" -qc "ALTER TABLE shop.tbl_order $1 TRIGGER customer_mgmt_source" \
                     -c "ALTER TABLE shop.tbl_order_item $1 TRIGGER customer_mgmt_source"; }
    triggers DISABLE; off1=$(tps)
    triggers ENABLE; on1=$(tps)
    triggers DISABLE; off2=$(tps)
    triggers ENABLE; on2=$(tps)
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE $ADB"
    awk -v a="$off1" -v b="$off2" -v c="$on1" -v d="$on2" 'BEGIN {
        off = (a + b) / 2; on = (c + d) / 2
        printf "| the shop insert, tables not attached | %.0f, %.0f | %.0f |\n", a, b, off
        printf "| attached (orders and lines) | %.0f, %.0f | %.0f |\n", c, d, on
        printf "| cost (time per insert, attached / not) | | %.2f |\n", off / on }'
    ;;
orders)
    seconds=${2:-20}
    bench_shop
    cm_psql "$DATA" "$PORT" "$DB" -q -f "$CM_ROOT/bench/orders/setup.sql"
    tps() {  # tps: order inserts per second over $seconds, two clients
        cm_as_owner pgbench -n -h "$DATA" -p "$PORT" -c 2 -j 2 -T "$seconds" -f "$CM_ROOT/bench/orders/insert.sql" "$DB" \
            | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
    }
    events() { cm_psql "$DATA" "$PORT" "$DB" -qc "ALTER TABLE customer_mgmt.orders $1 TRIGGER orders_after_insert"; }
    # alternate, twice each, so that a drift of the machine hits both
    events DISABLE; off1=$(tps)
    events ENABLE; on1=$(tps)
    events DISABLE; off2=$(tps)
    events ENABLE; on2=$(tps)
    cm_psql "$DATA" "$PORT" "$DB" -qc "DELETE FROM customer_mgmt.orders WHERE total_amount = 1234.56" \
        -c "DELETE FROM customer_mgmt.analytics_queue" -c "DROP TABLE bench_customers" -c "VACUUM ANALYZE customer_mgmt.orders"
    awk -v a="$off1" -v b="$off2" -v c="$on1" -v d="$on2" 'BEGIN {
        off = (a + b) / 2; on = (c + d) / 2
        printf "| without the event triggers | %.0f, %.0f | %.0f |\n", a, b, off
        printf "| with them | %.0f, %.0f | %.0f |\n", c, d, on
        printf "| cost (time per insert, with / without) | | %.2f |\n", off / on }'
    ;;
preferences)
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    DB=customer_mgmt_bench_preferences
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
    cm_psql "$DATA" "$PORT" "$DB" -qc "CREATE EXTENSION customer_mgmt CASCADE" -f "$CM_ROOT/bench/preferences/lines.sql"
    best() {  # best of 5, ms
        for _ in 1 2 3 4 5; do
            cm_psql "$DATA" "$PORT" "$DB" -qAt -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
        done | sort -n | head -n 1
    }
    floor=$(best "SELECT count(DISTINCT order_id), sum(unit_price_cents * quantity) FROM bench_wholesale")
    prefs=$(best "SELECT customer_mgmt.purchase_preferences(order_id, category, brand, unit_price_cents, quantity) FROM bench_wholesale")
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE $DB"
    awk -v f="$floor" -v p="$prefs" 'BEGIN {
        printf "| floor: count(DISTINCT order), sum, best of 5 | %.1f ms | 1.00 |\n", f
        printf "| purchase_preferences, best of 5 | %.1f ms | %.2f |\n", p, p / f }'
    ;;
import)
    # the first CUSTOMERS customers of the bench shop (default 100,000) and
    # all their orders with items, as the shop's staging files, imported
    # into an empty shop; the floor: COPY of the same rows into tables of
    # the same shape with the same indexes (LIKE … INCLUDING ALL)
    bench_shop    # (sets customers: the shop's count)
    customers=${2:-100000}
    files=$(mktemp -d)
    chmod 777 "$files"
    cm_psql "$DATA" "$PORT" "$DB" -q -v n="$customers" -v d="$files" -f "$CM_ROOT/bench/import/export.sql"
    IDB=customer_mgmt_bench_import
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE IF EXISTS $IDB" -c "CREATE DATABASE $IDB"
    cm_psql "$DATA" "$PORT" "$IDB" -q -v d="$files" -c "CREATE EXTENSION customer_mgmt CASCADE" -f "$CM_ROOT/bench/import/load.sql"
    seconds() { cm_psql "$DATA" "$PORT" "$IDB" -qAt -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.1f", s / 1000 }'; }
    floor=$(seconds "COPY floor_users (id, full_name, email, phone_number, role, status, date_of_birth, gender, province, created_at, updated_at, external_id) FROM '$files/floor_users.csv' (FORMAT csv); COPY floor_orders (id, customer_id, status, total_amount, order_date, completed_at, created_at, updated_at, external_id) FROM '$files/floor_orders.csv' (FORMAT csv); COPY floor_items (order_id, product_name, category, brand, unit_price, quantity) FROM '$files/floor_items.csv' (FORMAT csv)")
    imp_c=$(seconds "CALL customer_mgmt.import_table('customers', 'staging_customers')")
    imp_o=$(seconds "CALL customer_mgmt.import_table('orders', 'staging_orders')")
    rows=$(cm_psql "$DATA" "$PORT" "$IDB" -qAt -c "SELECT format('%s customers, %s orders, %s lines, %s rejected', (SELECT count(*) FROM customer_mgmt.users), (SELECT count(*) FROM customer_mgmt.orders), (SELECT count(*) FROM customer_mgmt.order_items), (SELECT sum(rejected) FROM customer_mgmt.imports))")
    cm_psql "$DATA" "$PORT" postgres -qc "DROP DATABASE $IDB"
    rm -rf "$files"
    awk -v f="$floor" -v c="$imp_c" -v o="$imp_o" -v r="$rows" 'BEGIN {
        printf "| floor: COPY of the same rows into tables of the same shape and indexes | %.1f s | 1.00 |\n", f
        printf "| import_table customers, then orders (%s) | %.1f s + %.1f s | %.2f |\n", r, c, o, (c + o) / f }'
    ;;
*)
    cm_die "usage: $0 generate [CUSTOMERS] | list [SECONDS] | recalc | nightly | dashboard | segments | export | orders [SECONDS] | preferences | import [CUSTOMERS]"
    ;;
esac
