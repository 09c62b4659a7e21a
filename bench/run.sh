#!/usr/bin/env bash
# Benchmark driver.  Runs against the private instance of scripts/demo.sh
# (started if needed) in databases of its own, and prints one line per result
# for docs/performance.md.
#
#   bench/run.sh generate [CUSTOMERS]   time the demo-shop generator (default 1,000,000)
#   bench/run.sh list [SECONDS]         get_customers shapes and get_customer, p50/p95
#                                       (needs the shop of "generate"; SECONDS per script, default 10)
source "$(dirname "$0")/../scripts/lib.sh"

DATA=$(cm_demo_dir)
PORT=${CM_DEMO_PORT:-54329}
DB=customer_mgmt_bench

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
    cm_install_packages
    cm_build_install
    cm_pg_start "$DATA" "$PORT" customer_mgmt_demo
    customers=$(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT count(*) FROM customer_mgmt.users WHERE role = 'customer'" 2>/dev/null || echo 0)
    [[ $customers -ge 1000000 ]] || cm_die "no 1,000,000-customer shop in $DB: run bench/run.sh generate first"
    cm_psql "$DATA" "$PORT" "$DB" -qc "ALTER EXTENSION customer_mgmt UPDATE"
    if [[ $(cm_psql "$DATA" "$PORT" "$DB" -tAc "SELECT to_regclass('bench_terms') IS NOT NULL") != t ]]; then
        cm_say "bench fixture (analytics, search terms)"
        cm_psql "$DATA" "$PORT" "$DB" -q -f "$CM_ROOT/bench/list/setup.sql"
    fi
    logs=$(mktemp -d)
    [[ $(id -u) -eq 0 ]] && chown "$(cm_owner)" "$logs"
    printf '| shape | p50 ms | p95 ms | calls |\n|---|---|---|---|\n'
    for script in "$CM_ROOT"/bench/list/[0-9]*.sql; do
        name=$(basename "$script" .sql)
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
*)
    cm_die "usage: $0 generate [CUSTOMERS] | list [SECONDS]"
    ;;
esac
