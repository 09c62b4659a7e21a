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
pids=()
for ((i = 0; i < parts; i++)); do
    first=$(( customers * i / parts + 1 ))
    last=$(( customers * (i + 1) / parts ))
    cm_psql "$data" "$port" "$db" -qtAc \
        "SELECT customer_mgmt.generate_demo_customers($seed, '$as_of', $first, $last)" >/dev/null &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
cm_psql "$data" "$port" "$db" -qc "VACUUM ANALYZE"
end=$(date +%s.%N)
printf '==> generated %s customers in %.1f s (%s parts)\n' "$customers" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" "$parts" >&2
