# Shared shell helpers of scripts/demo.sh, scripts/test.sh and bench/run.sh.
# Sourced, not run.

set -euo pipefail

CM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The server: PG_CONFIG's (make test PG_CONFIG=/path/to/pg_config), else
# Debian 12's PostgreSQL 15, installed as packages when missing.  Every path
# comes from pg_config.
CM_DEBIAN_MAJOR=15
if [[ -n ${PG_CONFIG:-} && $PG_CONFIG != pg_config ]]; then
    [[ -x $PG_CONFIG ]] || { printf 'error: PG_CONFIG=%s is not an executable pg_config\n' "$PG_CONFIG" >&2; exit 1; }
else
    PG_CONFIG=/usr/lib/postgresql/$CM_DEBIAN_MAJOR/bin/pg_config
fi
cm_pg_paths() {
    CM_PG_MAJOR=$("$PG_CONFIG" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
    CM_BINDIR=$("$PG_CONFIG" --bindir)
    CM_PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
    # pg_cron is optional: the tests that need it are skipped without it
    if [[ -f $("$PG_CONFIG" --pkglibdir)/pg_cron.so ]]; then CM_HAVE_CRON=1; else CM_HAVE_CRON=0; fi
}
if [[ -x $PG_CONFIG ]]; then
    cm_pg_paths
else
    CM_PG_MAJOR=$CM_DEBIAN_MAJOR
    CM_BINDIR=/usr/lib/postgresql/$CM_PG_MAJOR/bin
    CM_PGXS_DIR=/usr/lib/postgresql/$CM_PG_MAJOR/lib/pgxs
    CM_HAVE_CRON=1
fi

cm_say() { printf '==> %s\n' "$*" >&2; }
cm_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build, the demo and the tests need: the server's too
# when it is Debian's.
CM_PACKAGES=(make gcc libxlsxwriter-dev libtap-parser-sourcehandler-pgtap-perl libipc-run-perl python3-openpyxl)
if [[ $PG_CONFIG == /usr/lib/postgresql/$CM_DEBIAN_MAJOR/bin/pg_config ]]; then
    CM_PACKAGES+=(postgresql-$CM_DEBIAN_MAJOR postgresql-server-dev-$CM_DEBIAN_MAJOR postgresql-contrib
                  postgresql-$CM_DEBIAN_MAJOR-cron postgresql-$CM_DEBIAN_MAJOR-pgtap)
fi

# Install whatever of CM_PACKAGES is missing (as root), or say what to run.
cm_install_packages() {
    local missing=() p
    for p in "${CM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        cm_die "missing packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    fi
    cm_say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [[ -x $PG_CONFIG ]]; then cm_pg_paths; fi
}

# PostGraphile 4 from npm into DIR (for test/t/004_postgraphile.pl); Node.js
# from Debian when the machine has none.  Prints the path of its command.
CM_POSTGRAPHILE_VERSION=4.14.1
cm_install_postgraphile() {
    local dir=$1
    if ! command -v npm >/dev/null; then
        [[ $(id -u) -eq 0 ]] || cm_die "Node.js is missing (run: sudo apt-get install nodejs npm)"
        cm_say "installing nodejs npm"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    cm_say "installing PostGraphile $CM_POSTGRAPHILE_VERSION from npm"
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save "postgraphile@$CM_POSTGRAPHILE_VERSION" >/dev/null) ||
        cm_die "npm install postgraphile@$CM_POSTGRAPHILE_VERSION failed"
    echo "$dir/node_modules/.bin/postgraphile"
}

# Build and install the extension into the PostgreSQL installation.
cm_build_install() {
    cm_say "building and installing customer_mgmt for PostgreSQL $CM_PG_MAJOR"
    # objects built for another server are rebuilt
    if [[ $(cat "$CM_ROOT/src/.built-for" 2>/dev/null) != "$PG_CONFIG" ]]; then
        make -C "$CM_ROOT" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
        echo "$PG_CONFIG" >"$CM_ROOT/src/.built-for"
    fi
    make -C "$CM_ROOT" -s PG_CONFIG="$PG_CONFIG"
    if [[ $(id -u) -eq 0 || -w $("$PG_CONFIG" --sharedir)/extension ]]; then
        make -C "$CM_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
    else
        sudo make -C "$CM_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
    fi
}

# The version CREATE EXTENSION installs by default.
cm_default_version() { sed -n "s/^default_version = '\(.*\)'/\1/p" "$CM_ROOT/customer_mgmt.control"; }

# The server refuses to run as root: run it, and everything that writes into
# its data directory, as the unprivileged postgres user.
cm_owner() { if [[ $(id -u) -eq 0 ]]; then echo postgres; else id -un; fi; }
cm_as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- env PATH="$CM_BINDIR:$PATH" "$@"
    else
        env PATH="$CM_BINDIR:$PATH" "$@"
    fi
}

# Where the demo instance lives: .demo/ in the checkout, unless the server
# owner cannot reach the checkout (a clone under /root, say): then a
# directory in /var/tmp named after the checkout.
cm_demo_dir() {
    if [[ -n ${CM_DEMO_DIR:-} ]]; then
        echo "$CM_DEMO_DIR"
    elif [[ $(id -u) -ne 0 ]] || runuser -u postgres -- test -x "$CM_ROOT"; then
        echo "$CM_ROOT/.demo"
    else
        echo "/var/tmp/customer_mgmt_demo_$(printf %s "$CM_ROOT" | md5sum | cut -c1-8)"
    fi
}

# A directory the server owner can write to.
cm_owned_dir() {
    mkdir -p "$1"
    [[ $(id -u) -eq 0 ]] && chown "$(cm_owner)" "$1"
    return 0
}

# cm_pg_start DATADIR PORT DBNAME: initdb if needed, start a private instance
# listening on a socket in DATADIR and on 127.0.0.1:PORT, pg_cron preloaded
# for DBNAME.
cm_pg_start() {
    local data=$1 port=$2 db=$3
    cm_initdb "$data" "$port" "$db"
    if ! cm_as_owner pg_ctl -D "$data" status >/dev/null 2>&1; then
        if ! cm_as_owner pg_ctl -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null; then
            printf 'error: PostgreSQL in %s did not start; the end of its log, %s:\n' "$data" "$data/server.log" >&2
            tail -n 15 "$data/server.log" >&2 || true
            exit 1
        fi
    fi
}

# cm_initdb DATADIR PORT DBNAME: the data directory of a private instance
# (see cm_pg_start), unless it exists.
cm_initdb() {
    local data=$1 port=$2 db=$3
    cm_owned_dir "$data"
    if [[ ! -f $data/PG_VERSION ]]; then
        cm_as_owner initdb -D "$data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$data/postgresql.conf" <<CONF
# customer_mgmt private instance
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
$(cm_cron_conf "$db")
shared_buffers = '${CM_SHARED_BUFFERS:-1GB}'
work_mem = '64MB'
maintenance_work_mem = '1GB'
max_wal_size = '32GB'
checkpoint_timeout = '1h'
wal_compression = on
synchronous_commit = off
log_min_messages = warning
CONF
    fi
}

# The postgresql.conf lines that preload pg_cron for database DB, when the
# server has it (a comment saying it has not, else).
cm_cron_conf() {
    if [[ $CM_HAVE_CRON == 1 ]]; then
        printf "shared_preload_libraries = 'pg_cron'\ncron.database_name = '%s'\n" "$1"
    else
        printf '# pg_cron is not installed for this server: not preloaded\n'
    fi
}

# Whether something listens on 127.0.0.1:PORT.
cm_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cm_free_port [TAKEN...]: a port from 20000 to 59999 that nothing listens on
# and that is not one of TAKEN (chosen at random: two test runs at once do
# not collide).
cm_free_port() {
    local port taken
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        for taken in "$@"; do [[ $port == "$taken" ]] && continue 2; done
        cm_port_in_use "$port" || { echo "$port"; return 0; }
    done
    cm_die "no free port found"
}

# The port written in an instance's postgresql.conf (empty when none).
cm_conf_port() {
    if [[ -f $1/postgresql.conf ]]; then sed -n 's/^port = \([0-9]*\)$/\1/p' "$1/postgresql.conf" | tail -n 1; fi
}

cm_pg_stop() {
    local data=$1
    [[ -f $data/PG_VERSION ]] || return 0
    cm_as_owner pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# cm_psql DATADIR PORT DB [psql args...]
cm_psql() {
    local data=$1 port=$2 db=$3
    shift 3
    cm_as_owner psql -X -v ON_ERROR_STOP=1 -h "$data" -p "$port" -d "$db" "$@"
}
