#!/usr/bin/env bats
# make demo: its story checked against the data it generated, figure by
# figure, with Python and refill-hash rather than with what it printed.

load helpers

@test "make demo: 16 days recomputed, 14 kept, the diff counts the pound orders, rollback restores the digest" {
	run -0 --separate-stderr make -s -C "$T/.." BUILD="$B" DEMO_DIR="$PWD/demo" demo
	[ "$stderr" = "" ]
	printf '%s\n' "$output" > out
	cd demo
	days() { for d in $(seq -w "$1" "$2"); do echo "stage/2025-07-$d.ndjson"; done; }

	# Impact named exactly the days that enrich@2 made.
	days 15 30 > want
	diff -u want impact.txt
	# make ran the transform for those days only, and they are enrich@3's
	# now, while July 1-14 keep enrich@1's stamps.
	grep -o 'stage/2025-07-[0-9]*\.ndjson --' make.log | cut -d ' ' -f 1 | sort > ran
	diff -u want ran
	for f in stage/*.ndjson; do
		printf '%s %s\n' "$f" "$(jq -r .transform.version "$f.prov")"
	done > got
	{ days 1 14 | sed 's/$/ 1/'; days 15 30 | sed 's/$/ 3/'; } > want
	diff -u want got

	# The diff: the pound orders of July 15-30 changed, in amount_eur only.
	python3 - <<'EOP'
import json
orders = [json.loads(l) for l in open("orders.ndjson")]
late = [o for o in orders if o["ts"][8:10] >= "15"]
gbp = sum(1 for o in late if o["currency"] == "GBP")
st = json.load(open("revenue.diff.json"))
got = {k: st[k] for k in ("records_in", "changed", "unchanged", "added", "removed")}
# The files of July 1-14 are the same in both versions, and not read.
want = {"records_in": 2 * len(late), "changed": gbp,
        "unchanged": len(orders) - gbp, "added": 0, "removed": 0}
assert got == want, (got, want)
ch = [json.loads(l) for l in open("revenue.changes.ndjson")]
assert len(ch) == gbp and all(list(c["fields"]) == ["amount_eur"] for c in ch)
# And what is current converts every order at the right rate.
rate = {"EUR": 1, "GBP": 1.17, "USD": 0.92}
import glob
cur = [json.loads(l) for f in glob.glob("revenue/current/*.ndjson") for l in open(f)]
assert len(cur) == len(orders)
assert all(abs(r["amount_eur"] - r["amount"] * rate[r["currency"]]) <= 0.005 + 1e-9 for r in cur)
EOP

	# Published, rolled back to version 1, rolled forward to version 2.
	jq -r '"\(.event) \(.version)"' revenue/log > got
	printf '%s\n' "commit 1" "publish 1" "commit 2" "publish 2" "rollback 1" \
	    "publish 2" > want
	diff -u want got
	[ "$(readlink revenue/current)" = versions/000002 ]
	# The digest printed after the rollback is version 1's, as refill-hash
	# computes it from the files.
	run -0 "$B/refill-hash" --total revenue/versions/000001/*.ndjson
	v1=${lines[-1]%% *}
	grep -qx "   rolled back: current is revenue@000001, digest $v1" ../out
	grep -qx "   the digest published in step 2, restored" ../out
	run -0 "$B/refill-verify" dataset -q --all revenue
	run -0 sh verify-version revenue/versions/000001 refill.key.pub
}
