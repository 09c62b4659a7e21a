#!/usr/bin/env bash
# make demo when its port is taken (run by scripts/test.sh as root or a
# sudoer, like make demo): with CM_DEMO_PORT unset it takes the next free
# port and says so; with CM_DEMO_PORT set to a taken port it stops and says
# why.  Then make demo from a copy of the tree in a folder of mode 0700 (as
# root's home is), which the server's user cannot read.  Prints TAP.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/customer_mgmt_demo_test.XXXXXX)
listener=
cleanup() {
    CM_DEMO_DIR=$work/demo "$root/scripts/demo.sh" destroy >/dev/null 2>&1
    [[ -d $work/home/clone ]] && (cd "$work/home/clone" && scripts/demo.sh destroy >/dev/null 2>&1)
    [[ -n $listener ]] && kill "$listener" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
[[ $(id -u) -eq 0 ]] && chmod 755 "$work"

listen() {  # listen PORT: a program other than PostgreSQL on 127.0.0.1:PORT
    perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
                                    Listen => 5, ReuseAddr => 1) or exit 1; sleep 600' "$1" &
    listener=$!
    sleep 1
}
ok() { if [[ $1 -eq 0 ]]; then echo "ok - $2"; else echo "not ok - $2"; failed=1; fi; }
failed=0
echo "1..7"

busy=54329
(exec 3<>/dev/tcp/127.0.0.1/$busy) 2>/dev/null || listen $busy
out=$(CM_DEMO_DIR=$work/demo CM_DEMO_EXPORT=$work/demo-customers.xlsx CM_DEMO_CUSTOMERS=30 "$root/scripts/demo.sh" start 2>&1)
ok $? "make demo starts although port $busy is taken"
grep -q "port $busy is in use by another program .* the demo takes port 543" <<<"$out"
ok $? "and says which port it took" || true
# the export it writes opens in a real reader, with the 30 customers, and it says where the file is
[[ $(/usr/bin/python3 -c 'import openpyxl, sys; wb = openpyxl.load_workbook(sys.argv[1]); print(wb.sheetnames, wb["Customers"].max_row)' \
      "$work/demo-customers.xlsx" 2>&1) == "['Summary', 'Customers'] 31" ]]
ok $? "make demo writes demo-customers.xlsx, which openpyxl reads: Summary, then 30 customers"
grep -qF "$work/demo-customers.xlsx" <<<"$out"
ok $? "and says where it is"
[[ $failed -eq 0 ]] || printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
CM_DEMO_DIR=$work/demo "$root/scripts/demo.sh" stop >/dev/null 2>&1

out=$(CM_DEMO_DIR=$work/demo2 CM_DEMO_PORT=$busy CM_DEMO_CUSTOMERS=30 "$root/scripts/demo.sh" start 2>&1)
[[ $? -ne 0 ]]
ok $? "with CM_DEMO_PORT=$busy taken, make demo stops"
grep -q "port $busy (CM_DEMO_PORT) is in use by another program.*CM_DEMO_PORT=" <<<"$out"
ok $? "and says what is wrong and what to do"
[[ $failed -eq 0 ]] || printf '%s\n' "$out" | tail -20 | sed 's/^/# /'

# the tree in a folder of mode 0700, as a clone in /root is
mkdir -m 700 "$work/home" "$work/home/clone"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/home/clone" 2>/dev/null) ||
    cp -r "$root/." "$work/home/clone"
rm -rf "$work/home/clone/.demo"
port=$(for p in $(seq 54400 54499); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; break; }; done)
out=$(cd "$work/home/clone" && CM_DEMO_PORT=$port CM_DEMO_CUSTOMERS=30 CM_DEMO_EXPORT=$work/clone.xlsx make -s demo 2>&1)
ok $? "make demo from a folder of mode 0700 (a clone in /root)"
[[ $failed -eq 0 ]] || printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
exit $failed
