#!/bin/sh
# demo.sh DIR: a bug-fix backfill told end to end, on generated data, in DIR.
# `make demo' runs it with the refill programs first on PATH; the state it
# leaves in DIR is there to explore.  See README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: demo.sh DIR}
days=${DEMO_DAYS:-30}
per_day=${DEMO_PER_DAY:-2000}
buggy_from=${DEMO_BUGGY_FROM:-15}

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
# A figure from a one-line JSON object, such as a --stats file.
fig() { jq -r ".$1" "$2"; }

for t in jq make openssl python3 refill-commit; do
	command -v "$t" > /dev/null ||
	    { echo "demo.sh: $t is not on PATH; see README.md (make deps)" >&2; exit 2; }
done
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
cp "$here/../backfill/Makefile" Makefile
cp "$here/verify-version" verify-version
# Every step's make output goes to make.log, to read at leisure.
# Not the flags of a make that runs the demo: its -s would hide the commands.
mk() {
	MAKEFLAGS= MAKELEVEL= make -j2 DATASET=revenue KEY=order_id "$@" >> make.log 2>&1 ||
	    { cat make.log >&2; exit 1; }
}
# The dataset digest of a version, from its MANIFEST's first line.
digest() { refill-commit show --json "$1" | jq -rs '.[0].digest'; }
# The current version's number.
current() { readlink "$1/current" | sed 's,.*/,,'; }
# How many partitions of stage/ the transform NAME@VERSION made.
made_by() { refill-lineage impact -T "$1" stage 2>/dev/null | grep -c . || :; }

step "1. Raw orders, split by day and committed, signed"
python3 "$here/gen.py" "$days" "$per_day" > orders.ndjson
refill-commit keygen refill.key > /dev/null 2>&1
refill-split -q -T ts -w day -o raw-stage orders.ndjson
v=$(refill-commit -q -k refill.key -m "orders of July 2025" raw raw-stage)
say "orders.ndjson: $(wc -l < orders.ndjson | tr -d ' ') orders -> raw@$v, $(ls raw/current | grep -c 'ndjson$') daily partitions"

step "2. revenue: the daily job converts each order to euros"
# enrich@1 is right.  enrich@2, deployed on the 15th, took its rates from
# a sheet quoting pounds per euro where the code wants euros per pound.
cat > enrich.jq <<'EOJ'
# enrich@1: each order's amount in euros.  A rate is euros per unit.
def rate: {"EUR": 1, "GBP": 1.17, "USD": 0.92}[.currency];
.amount_eur = (.amount * rate * 100 | round / 100)
EOJ
cat > rules.json <<'EOR'
# What revenue must look like (refill-rules(5)).
required order_id
unique order_id
enum currency EUR GBP USD
not-null amount_eur
type amount_eur number
min amount_eur 0
EOR
early=
for p in raw/current/*.ndjson; do
	d=${p##*-}; d=${d%.ndjson}
	[ "$d" -lt "$buggy_from" ] && early="$early stage/${p##*/}"
done
mk VERSION=1 $early
sed -i 's/enrich@1/enrich@2/; s/"GBP": 1.17/"GBP": 0.855/' enrich.jq
mk VERSION=2
mk VERSION=2 MESSAGE="revenue of July, as the daily job made it" publish
v1=$(cat revenue.verified)
d1=$(digest revenue)
say "$(made_by enrich@1) days made by enrich@1, $(made_by enrich@2) by enrich@2 -> revenue@$v1, published"

step "3. The bug: enrich@2 converted pounds at the inverse rate. Fixed as enrich@3"
sed -i 's/enrich@2/enrich@3/; s/"GBP": 0.855/"GBP": 1.17/' enrich.jq
refill-lineage impact -T enrich@2 stage > impact.txt
say "refill-lineage impact -T enrich@2 stage: $(grep -c . impact.txt) files (impact.txt)"
mk WHAT="-T enrich@2" invalidate
: > make.log
mk VERSION=3
say "make -j2: $(grep -c '^refill-transform' make.log) partitions recomputed by enrich@3, $(made_by enrich@1) by enrich@1 left as they were (make.log)"

step "4. The gate: the candidate against revenue@$v1, and the rules"
mk VERSION=3 MAX_CHANGED=25% MESSAGE="enrich@3: pounds at 1.17 again" verify
v2=$(cat revenue.verified)
say "refill-verify diff: $(fig changed revenue.diff.json) changed, $(fig unchanged revenue.diff.json) unchanged, $(fig added revenue.diff.json) added, $(fig removed revenue.diff.json) removed"
gbp=$(jq -c "select(.currency == \"GBP\" and (.ts[8:10] | tonumber) >= $buggy_from)" \
    orders.ndjson | grep -c .)
say "changed: $(jq -r '.fields | keys[]' revenue.changes.ndjson | sort -u | tr '\n' ' ')in $(jq -r '.where.new | sub(":[0-9]+$"; "")' revenue.changes.ndjson | sort -u | grep -c .) files; the orders hold $gbp in pounds from July $buggy_from (revenue.changes.ndjson)"
say "refill-verify rules: $(fig rules revenue.rules.json) rules, $(fig rules_broken revenue.rules.json) broken, over $(fig records_in revenue.rules.json) records"

step "5. Publish revenue@$v2, roll back, roll forward"
mk VERSION=3 MESSAGE="enrich@3: pounds at 1.17 again" publish
d2=$(digest revenue)
say "published: current is revenue@$(current revenue), digest $d2"
refill-commit rollback -q -k refill.key -m "demo: back to the daily job's numbers" \
    revenue > /dev/null
d=$(digest revenue)
say "rolled back: current is revenue@$(current revenue), digest $d"
[ "$d" = "$d1" ] && say "the digest published in step 2, restored"
refill-commit publish -q -k refill.key -m "demo: forward again" revenue "$v2" > /dev/null
say "rolled forward: current is revenue@$(current revenue)"

step "6. Checked by refill, then without it"
refill-verify dataset -q --all revenue
say "refill-verify dataset --all revenue: every version, the log and the signatures hold"
sh verify-version revenue/current refill.key.pub > verify-version.out 2>&1
say "verify-version (openssl and sha256sum only): $(tail -n 1 verify-version.out)"

printf '\nEverything is in %s: try refill-commit log revenue, or\nrefill-lineage show %s/revenue/current/2025-07-20.ndjson revenue raw\n' \
    "$dir" "$dir"
