#!/usr/bin/env bash
# The README's first command: a private PostgreSQL instance with a demo shop.
#
#   scripts/demo.sh start [CUSTOMERS]   install, build, start, load, summarise
#   scripts/demo.sh psql                psql on the demo database
#   scripts/demo.sh stop                stop the instance
#   scripts/demo.sh destroy             stop it and delete its data
#
# The instance lives in .demo/ in the checkout (in /var/tmp when the server's
# unprivileged owner cannot reach the checkout), listens on 127.0.0.1 and a
# socket in its data directory, port $CM_DEMO_PORT (default 54329).  When
# that port is taken by another program and CM_DEMO_PORT is not set, start
# takes the next free port and says which; the instance keeps it.  start also
# writes the customer export to demo-customers.xlsx in the checkout
# ($CM_DEMO_EXPORT to put it elsewhere).
source "$(dirname "$0")/lib.sh"

DATA=$(cm_demo_dir)
PORT=${CM_DEMO_PORT:-$(cm_conf_port "$DATA")}
PORT=${PORT:-54329}
DB=customer_mgmt_demo
SEED=${CM_DEMO_SEED:-42}
EXPORT=${CM_DEMO_EXPORT:-$CM_ROOT/demo-customers.xlsx}

case "${1:-start}" in
start)
    customers=${2:-${CM_DEMO_CUSTOMERS:-10000}}
    cm_install_packages
    cm_build_install
    if ! cm_as_owner pg_ctl -D "$DATA" status >/dev/null 2>&1 && cm_port_in_use "$PORT"; then
        if [[ -n ${CM_DEMO_PORT:-} ]]; then
            cm_die "port $PORT (CM_DEMO_PORT) is in use by another program, perhaps another PostgreSQL; choose a free one: CM_DEMO_PORT=54339 make demo"
        fi
        taken=$PORT
        for PORT in $(seq $((taken + 1)) $((taken + 100))); do
            cm_port_in_use "$PORT" || break
        done
        cm_port_in_use "$PORT" && cm_die "ports $taken to $PORT are all in use; choose one with CM_DEMO_PORT=... make demo"
        cm_say "port $taken is in use by another program (perhaps another PostgreSQL); the demo takes port $PORT (choose with CM_DEMO_PORT=...)"
    fi
    if [[ -n $(cm_conf_port "$DATA") && $(cm_conf_port "$DATA") != "$PORT" ]]; then
        sed -i "s/^port = [0-9]*$/port = $PORT/" "$DATA/postgresql.conf"
    fi
    cm_say "starting PostgreSQL in $DATA (port $PORT)"
    cm_pg_start "$DATA" "$PORT" "$DB"
    if ! cm_psql "$DATA" "$PORT" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        cm_psql "$DATA" "$PORT" postgres -qc "CREATE DATABASE $DB"
        cm_psql "$DATA" "$PORT" "$DB" -qc "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION customer_mgmt CASCADE"
        cm_say "generating a demo shop of $customers customers (seed $SEED)"
        "$CM_ROOT/scripts/generate.sh" "$DATA" "$PORT" "$DB" "$customers" "$SEED"
        cm_say "calculating analytics"
        cm_psql "$DATA" "$PORT" "$DB" -qtAc "SELECT customer_mgmt.recalculate_all_analytics()" >/dev/null
    else
        cm_psql "$DATA" "$PORT" "$DB" -qc "ALTER EXTENSION customer_mgmt UPDATE"
    fi
    # two segments a shop would define: by the design's criteria, by the language
    cm_psql "$DATA" "$PORT" "$DB" -qtA \
        -c "SELECT customer_mgmt.create_segment('Khách VIP Hà Nội', criteria => '{\"totalSpentMin\": 20000000, \"geographicRegions\": [\"Hà Nội\"]}',
                description => 'Spent 20M VND or more, in Hà Nội', color_code => '#AD1457')
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_segments WHERE name = 'Khách VIP Hà Nội')" \
        -c "SELECT customer_mgmt.create_segment('Big spenders gone quiet',
                'total_spent >= 10000000 AND last_order_date < -60d', description => 'Win-back campaign', color_code => '#C62828')
             WHERE NOT EXISTS (SELECT FROM customer_mgmt.customer_segments WHERE name = 'Big spenders gone quiet')" >/dev/null
    cm_psql "$DATA" "$PORT" "$DB" -qtAc "SELECT customer_mgmt.schedule_jobs()" >/dev/null
    # on standard input: the server's user may not read the clone (a home directory of mode 0700)
    cm_psql "$DATA" "$PORT" "$DB" -f - <"$CM_ROOT/scripts/summary.sql"
    # the customer export, as an admin would download it: best customers first
    cm_psql "$DATA" "$PORT" "$DB" -qtAc "SELECT encode(customer_mgmt.export_customers(sort_by => 'totalSpent'), 'base64')" |
        base64 -d > "$EXPORT"
    cat <<TXT

The demo shop is running, and its customers are exported to
  $EXPORT  (export_customers(sort_by => 'totalSpent'))
Next:
  make demo-psql      # psql on it (or: psql -h 127.0.0.1 -p $PORT -U $(cm_owner) $DB)
  make demo-stop      # stop it
TXT
    ;;
psql)
    shift || true
    exec bash -c "source '$CM_ROOT/scripts/lib.sh'; cm_psql '$DATA' '$PORT' '$DB' $*"
    ;;
stop)
    cm_pg_stop "$DATA"
    cm_say "stopped"
    ;;
destroy)
    cm_pg_stop "$DATA"
    rm -rf "$DATA"
    cm_say "removed $DATA"
    ;;
*)
    cm_die "usage: $0 start [CUSTOMERS] | psql | stop | destroy"
    ;;
esac
