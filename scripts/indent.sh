#!/usr/bin/env bash
# The C in PostgreSQL's layout (docs/development.md): pgindent with
# PostgreSQL's typedefs.list and ours (typedefs.list, one type a line: add a
# new typedef there).
#   scripts/indent.sh           reformat src/ and include/ in place
#   scripts/indent.sh --check   fail, showing the diff, where they are not formatted (CI)
source "$(dirname "$0")/lib.sh"

tools=$("$CM_ROOT/scripts/pg_other.sh" indent)
typedefs=$(mktemp)
trap 'rm -f "$typedefs"' EXIT
cat "$tools/typedefs.list" "$CM_ROOT/typedefs.list" >"$typedefs"
cd "$CM_ROOT"
files=(src/*.c src/*.h include/*.h)
if [[ ${1:-} == --check ]]; then
    diff=$(perl "$tools/pgindent" --indent="$tools/pg_bsd_indent" --typedefs="$typedefs" --diff "${files[@]}")
    if [[ -n $diff ]]; then
        printf '%s\n' "$diff"
        cm_die "the C is not in pgindent's layout: run scripts/indent.sh"
    fi
    cm_say "the C is in pgindent's layout"
else
    perl "$tools/pgindent" --indent="$tools/pg_bsd_indent" --typedefs="$typedefs" "${files[@]}"
fi
