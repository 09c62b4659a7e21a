#!/usr/bin/env bash
# Load a demo shop in parallel: one connection per CPU, each generating a
# contiguous slice of the customers (the data does not depend on the split).
#   scripts/generate.sh DATADIR PORT DB CUSTOMERS SEED [AS_OF]
source "$(dirname "$0")/lib.sh"

data=$1 port=$2 db=$3 customers=$4 seed=$5
as_of=${6:-$(date -u +%Y-%m-%d)}
parts=${CM_GENERATE_PARTS:-$(nproc)}
(( customers < 20000 )) && parts=1

count=$(cm_psql "$data" "$port" "$db" -tAc "SELECT count(*) FROM customer_mgmt.users")
[[ $count == 0 ]] || cm_die "database $db already has users: the demo needs an empty shop"

start=$(date +%s.%N)
cm_psql "$data" "$port" "$db" -qtAc "SELECT customer_mgmt.generate_demo_staff($seed, '$as_of')" >/dev/null

# bulk load: drop the secondary indexes, load, build them again (pg_restore's way)
indexes=$(mktemp)
trap 'rm -f "$indexes" "$indexes.sizes"' EXIT
cm_psql "$data" "$port" "$db" -qtA -F $'\t' -c "SELECT index_name, definition, i.indrelid::regclass
          FROM customer_mgmt.demo_secondary_indexes() d JOIN pg_index i ON i.indexrelid = d.index_name::regclass" >"$indexes"
cut -f1 "$indexes" | sed 's/.*/DROP INDEX &;/' | cm_psql "$data" "$port" "$db" -q
pids=()
for ((i = 0; i < parts; i++)); do
    first=$(( customers * i / parts + 1 ))
    last=$(( customers * (i + 1) / parts ))
    cm_psql "$data" "$port" "$db" -qtAc \
        "SELECT customer_mgmt.generate_demo_customers($seed, '$as_of', $first, $last)" >/dev/null &
    pids+=($!)
done
status=0
t_load=$(date +%s.%N)
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
# the load bypassed the triggers that give each customer its analytics and
# list rows: create them before the list's indexes are built
cm_psql "$data" "$port" "$db" -qtAc "SELECT customer_mgmt.ensure_analytics_rows()" >/dev/null
t_loaded=$(date +%s.%N)
# rebuild the indexes, biggest table first, one connection per CPU
cm_psql "$data" "$port" "$db" -qtA -F $'\t' -c "SELECT oid::regclass, pg_relation_size(oid) FROM pg_class
          WHERE relnamespace = 'customer_mgmt'::regnamespace AND relkind = 'r'" >"$indexes.sizes"
awk -F '\t' 'NR == FNR { size[$1] = $2; next } { print size[$3] "\t" $2 }' "$indexes.sizes" "$indexes" |
    sort -t $'\t' -k1,1nr | cut -f2 | tr '\n' '\0' |
    xargs -0 -P "$(nproc)" -I{} bash -c 'source "$0"; cm_psql "$1" "$2" "$3" -qc "$4"' \
        "$CM_ROOT/scripts/lib.sh" "$data" "$port" "$db" {} || status=1
[[ $status == 0 ]] || cm_die "generating the demo shop failed"
t_indexed=$(date +%s.%N)
cm_psql "$data" "$port" "$db" -qc "ANALYZE"
end=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
cm_say "load (with analytics and list rows) $(elapsed "$t_load" "$t_loaded") s, indexes $(elapsed "$t_loaded" "$t_indexed") s, analyze $(elapsed "$t_indexed" "$end") s"
cm_say "generated $customers customers in $(elapsed "$start" "$end") s ($parts parts)"
