#!/usr/bin/env bash
# The supported majors that Debian 12 does not package, for .ci/run and
# developers (docs/development.md):
#   scripts/pg_other.sh compile 17   every C file compiled against 17's server headers
#                                    (postgresql-server-dev-17, trixie: Debian 12 cannot
#                                    run trixie's server), warnings as errors
#   scripts/pg_other.sh indent       pgindent and pg_bsd_indent from PostgreSQL 18's
#                                    source (Debian's binaries of it do not run on
#                                    Debian 12); prints the folder that holds them and
#                                    PostgreSQL's typedefs.list
#   scripts/pg_other.sh server 18    PostgreSQL 18 built from Debian's source package
#                                    (sid) with contrib, pgTAP added (postgresql-18-pgtap,
#                                    SQL only); prints its pg_config
# Everything goes into a cache outside the clone ($CM_PG_CACHE, default
# /var/cache/customer_mgmt, or ~/.cache/customer_mgmt for a normal user),
# reused by later runs, with an apt configuration of its own there: the
# machine's sources.list is never touched.  The mirror is the machine's own
# (the first URIs of /etc/apt/sources.list.d/debian.sources or the first
# deb line of /etc/apt/sources.list).
source "$(dirname "$0")/lib.sh"

if [[ -n ${CM_PG_CACHE:-} ]]; then cache=$CM_PG_CACHE
elif [[ $(id -u) -eq 0 ]]; then cache=/var/cache/customer_mgmt
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/customer_mgmt; fi
apt_dir=$cache/apt

# apt-get with the cache's own configuration (sid and trixie, source and binary)
cm_apt() {
    apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/parts" \
        -o Dir::State="$apt_dir/state" -o Dir::Cache="$apt_dir/cache" -o Dir::State::status=/var/lib/dpkg/status \
        -o APT::Sandbox::User=root "$@"
}

cm_apt_setup() {
    local mirror
    [[ -f $apt_dir/state/lists/.updated ]] && return 0
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
                                      /etc/apt/sources.list 2>/dev/null || true)
    [[ -n $mirror ]] || cm_die "no Debian mirror found in the machine's apt sources"
    mkdir -p "$apt_dir/parts" "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
    {
        for suite in sid trixie; do
            printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite"
            printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite"
        done
    } >"$apt_dir/sources.list"
    cm_say "apt: the package lists of sid and trixie, into $apt_dir"
    cm_apt update >/dev/null
    touch "$apt_dir/state/lists/.updated"
}

case "${1:-} ${2:-}" in
"compile 17")
    dir=$cache/pg17-headers
    if [[ ! -d $dir/usr/include/postgresql/17/server ]]; then
        cm_apt_setup
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        (cd "$dir.tmp" && cm_apt download postgresql-server-dev-17 >/dev/null && dpkg-deb -x postgresql-server-dev-17_*.deb .)
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    cm_say "compiling src/*.c against PostgreSQL 17's headers"
    # the flags the machine's server was built with, and the Makefile's
    read -r -a cflags <<<"$("$PG_CONFIG" --cflags) $("$PG_CONFIG" --cflags_sl)"
    for f in "$CM_ROOT"/src/*.c; do
        gcc "${cflags[@]}" -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
            -I"$CM_ROOT/include" -I"$dir/usr/include/postgresql/17/server" -I"$dir/usr/include/postgresql/internal" \
            -D_GNU_SOURCE -c -o /dev/null "$f" || cm_die "$f does not compile warning-free against PostgreSQL 17"
    done
    cm_say "PostgreSQL 17: every C file compiles warning-free"
    ;;
"server 18")
    prefix=$cache/pg18
    src=$cache/pg18-src
    if [[ ! -x $prefix/bin/pg_config ]]; then
        CM_PACKAGES=(dpkg-dev gcc make pkg-config libicu-dev libreadline-dev zlib1g-dev bison flex libipc-run-perl)
        cm_install_packages
        cm_apt_setup
        rm -rf "$src" "$prefix" && mkdir -p "$src"
        # upstream's source as Debian ships it, without Debian's patches (which
        # put the libraries in /usr/lib/postgresql/18, outside the cache)
        cm_say "PostgreSQL 18: Debian's source package (sid)"
        (cd "$src" && cm_apt source --download-only postgresql-18 >/dev/null 2>&1 && dpkg-source -x --skip-patches postgresql-18_*.dsc build >/dev/null 2>&1) ||
            cm_die "PostgreSQL 18's source package could not be had"
        cm_say "PostgreSQL 18: building the server, contrib and the test tools into $prefix (about 10 minutes on 2 cores)"
        (cd "$src/build" && ./configure --prefix="$prefix" --enable-tap-tests --without-llvm >"$src/configure.log" 2>&1 &&
            make -j"$(nproc)" -s >"$src/make.log" 2>&1 && make -s install >>"$src/make.log" 2>&1 &&
            make -C contrib -j"$(nproc)" -s install >>"$src/make.log" 2>&1 &&
            make -C src/test/isolation -s install >>"$src/make.log" 2>&1 &&
            make -C src/test/perl -s install >>"$src/make.log" 2>&1) ||
            { rm -rf "$prefix"; cm_die "building PostgreSQL 18 failed: see $src/*.log"; }
        rm -rf "$src/build"
    fi
    extension=$("$prefix/bin/pg_config" --sharedir)/extension
    if [[ ! -f $extension/pgtap.control ]]; then
        cm_apt_setup
        cm_say "PostgreSQL 18: pgTAP (postgresql-18-pgtap, sid)"
        rm -rf "$src/pgtap" && mkdir -p "$src/pgtap"
        (cd "$src/pgtap" && cm_apt download postgresql-18-pgtap >/dev/null 2>&1 && dpkg-deb -x postgresql-18-pgtap_*.deb . &&
            cp usr/share/postgresql/18/extension/* "$extension/") || cm_die "pgTAP for PostgreSQL 18 could not be had"
    fi
    echo "$prefix/bin/pg_config"
    ;;
indent\ )
    dir=$cache/pgindent
    if [[ ! -x $dir/pg_bsd_indent ]]; then
        CM_PACKAGES=(dpkg-dev gcc make bison flex)
        cm_install_packages
        cm_apt_setup
        src=$cache/pgindent-src
        rm -rf "$src" && mkdir -p "$src"
        cm_say "pgindent: PostgreSQL 18's source (sid)"
        (cd "$src" && cm_apt source --download-only postgresql-18 >/dev/null 2>&1 &&
            dpkg-source -x --skip-patches postgresql-18_*.dsc build >/dev/null 2>&1) ||
            cm_die "PostgreSQL 18's source package could not be had"
        (cd "$src/build" && ./configure --without-icu --without-readline --without-zlib >"$src/configure.log" 2>&1 &&
            make -C src/tools/pg_bsd_indent -s >"$src/make.log" 2>&1) || cm_die "building pg_bsd_indent failed: see $src/*.log"
        mkdir -p "$dir.tmp"
        cp "$src/build/src/tools/pg_bsd_indent/pg_bsd_indent" "$src/build/src/tools/pgindent/pgindent" \
           "$src/build/src/tools/pgindent/typedefs.list" "$dir.tmp/"
        rm -rf "$dir" "$src" && mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
    ;;
*)
    cm_die "usage: $0 compile 17 | indent | server 18"
    ;;
esac
