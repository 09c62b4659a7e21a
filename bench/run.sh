#!/usr/bin/env bash
# Benchmark driver.  Runs against the private instance of scripts/demo.sh
# (started if needed) in databases of its own, and prints one line per result
# for docs/performance.md.
#
#   bench/run.sh generate [CUSTOMERS]   time the demo-shop generator (default 1,000,000)
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
    cm_psql "$DATA" "$PORT" "$DB" -qc "CREATE EXTENSION customer_mgmt CASCADE"
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
*)
    cm_die "usage: $0 generate [CUSTOMERS]"
    ;;
esac
