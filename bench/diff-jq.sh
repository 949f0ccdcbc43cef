#!/bin/sh
# The other peer of refill-verify diff in make bench: a keyed diff as a
# shell pipeline, jq to canonicalise (sorted keys, compact) and pair each
# record with its key, sort and join to match them, awk to count.
# usage: diff-jq.sh KEY OLD NEW TMPDIR; prints unchanged, changed, added,
# removed.  Keys must be strings without quotes or tabs.
set -eu
k=$1 old=$2 new=$3 t=$4
tab=$(printf '\t')
prep() {
	jq -S -c --arg k "$k" '[.[$k], .]' "$1" |
	    sed 's/^\["\([^"]*\)",\(.*\)\]$/\1\t\2/' |
	    LC_ALL=C sort -t "$tab" -k1,1 > "$2"
}
prep "$old" "$t/old.tsv"
prep "$new" "$t/new.tsv"
LC_ALL=C join -t "$tab" -a 1 -a 2 -e '-' -o 0,1.2,2.2 "$t/old.tsv" "$t/new.tsv" |
    awk -F '\t' '$2 == "-" { a++; next } $3 == "-" { r++; next }
	$2 == $3 { u++; next } { c++ }
	END { print u + 0, c + 0, a + 0, r + 0 }'
rm -f "$t/old.tsv" "$t/new.tsv"
