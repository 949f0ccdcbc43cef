#!/usr/bin/env bats
# A bug-fix backfill end to end: raw events split and committed, a derived
# dataset made by a transform with a planted bug and committed, the bug
# fixed as a new transform version, refill-lineage naming what must be
# recomputed, make -j2 recomputing exactly that, and the fix committed
# with --update.

load helpers

# Events of eight users on four days, in three currencies.
events() {
	python3 - <<'EOP'
import json
cur = ["EUR", "GBP", "USD"]
for i in range(48):
    print(json.dumps({"user_id": "u%d" % (i % 8), "ts": "2025-07-0%dT10:%02d:00Z" % (1 + i % 4, i),
                      "currency": cur[i % 3], "amount": 10 + i}))
EOP
}

setup_backfill() {
	events > events.ndjson
	"$B/refill-commit" keygen key > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 4 -o stage events.ndjson
	"$B/refill-commit" -q -k key -m "raw events" raw stage > /dev/null
	# Version 1 of the conversion inverts the GBP rate: the planted bug.
	cat > enrich.py <<'EOP'
import json, os, sys
RATES = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92}
with open("runs.log", "a") as log:
    log.write("enrich %s\n" % os.environ["REFILL_PARTITION"])
for line in sys.stdin:
    r = json.loads(line)
    rate = RATES[r["currency"]]
    if r["currency"] == "GBP":
        rate = 1 / rate
    r["amount_eur"] = round(r["amount"] * rate, 2)
    print(json.dumps(r, sort_keys=True))
EOP
	cat > tally.py <<'EOP'
import collections, json, os, sys
with open("runs.log", "a") as log:
    log.write("tally %s\n" % os.environ["REFILL_PARTITION"])
c = collections.Counter(json.loads(l)["user_id"] for l in sys.stdin)
for u in sorted(c):
    print(json.dumps({"user_id": u, "events": c[u]}))
EOP
	cat > summarize.py <<'EOP'
import collections, json, sys
with open("runs.log", "a") as log:
    log.write("summary\n")
s = collections.defaultdict(float)
for l in sys.stdin:
    r = json.loads(l)
    s[r["currency"]] += r["amount_eur"]
for c in sorted(s):
    print(json.dumps({"currency": c, "amount_eur": round(s[c], 2)}))
EOP
	cat > Makefile <<EOM
RT = $B/refill-transform -q
PARTS = part-00000 part-00001 part-00002 part-00003
V = 1
all: \$(PARTS:%=derived/%.ndjson) \$(PARTS:%=tally/%.ndjson) summary.ndjson
derived/%.ndjson: raw/current/%.ndjson enrich.py
	@mkdir -p derived
	\$(RT) -n enrich -v \$(V) -i raw/current/\$*.ndjson -o \$@ -- python3 enrich.py
tally/%.ndjson: raw/current/%.ndjson tally.py
	@mkdir -p tally
	\$(RT) -n tally -v 1 -i raw/current/\$*.ndjson -o \$@ -- python3 tally.py
summary.ndjson: \$(PARTS:%=derived/%.ndjson) summarize.py
	\$(RT) -n summarize -v 1 \$(patsubst %,-i %,\$(filter %.ndjson,\$^)) -o \$@ -- python3 summarize.py
EOM
}

@test "a bug-fix backfill: impact names what to redo, make -j2 redoes only that, the fix commits with --update" {
	setup_backfill
	run -0 make -j2
	sort runs.log > ran
	printf '%s\n' "enrich part-00000" "enrich part-00001" "enrich part-00002" \
	    "enrich part-00003" summary "tally part-00000" "tally part-00001" \
	    "tally part-00002" "tally part-00003" > want
	diff -u want ran
	run -0 "$B/refill-commit" -q -k key -m "enriched, v1" derived-ds derived
	# The bug: a GBP amount converted with the inverted rate.
	run -0 python3 -c '
import json
r = [json.loads(l) for p in range(4) for l in open("derived/part-0000%d.ndjson" % p)]
g = [x for x in r if x["currency"] == "GBP"]
assert g and all(x["amount_eur"] == round(x["amount"] / 1.17, 2) for x in g)'

	# What must be recomputed after fixing enrich@1: its outputs, here and
	# in the committed dataset, and the summary made from them; not tally.
	run -0 --separate-stderr "$B/refill-lineage" impact -T enrich@1 \
	    derived tally summary.ndjson.prov derived-ds
	printf '%s\n' derived-ds@000001/part-00000.ndjson \
	    derived-ds@000001/part-00001.ndjson derived-ds@000001/part-00002.ndjson \
	    derived-ds@000001/part-00003.ndjson derived/part-00000.ndjson \
	    derived/part-00001.ndjson derived/part-00002.ndjson \
	    derived/part-00003.ndjson summary.ndjson > want
	printf '%s\n' "$output" > impact
	diff -u want impact
	[ "$stderr" = "" ]
	# The same list drives make: only the files that exist here.
	grep -v @ impact > targets

	# The fix, as version 2.
	sed -i '/if r\["currency"\] == "GBP":/,+1d' enrich.py
	: > runs.log
	run -0 make -j2 V=2 $(cat targets)
	sort runs.log > ran
	printf '%s\n' "enrich part-00000" "enrich part-00001" "enrich part-00002" \
	    "enrich part-00003" summary > want
	diff -u want ran
	# A make of everything now has nothing left to do.
	: > runs.log
	run -0 make -j2 V=2
	[ ! -s runs.log ]
	run -0 python3 -c '
import json
r = [json.loads(l) for p in range(4) for l in open("derived/part-0000%d.ndjson" % p)]
assert all(x["amount_eur"] == round(x["amount"] * {"EUR": 1.0, "GBP": 1.17, "USD": 0.92}[x["currency"]], 2) for x in r)'

	run -0 --separate-stderr "$B/refill-commit" -u -k key -m "fix the GBP rate" derived-ds derived
	[ "$output" = 000002 ]
	# Every file of the new version is enrich@2's; none of enrich@1's is left.
	run -0 --separate-stderr "$B/refill-lineage" impact -T enrich@1 derived-ds
	[ "$output" = "" ]
	[ "$stderr" = "refill-lineage: no stamp names transform enrich@1" ]
	run -0 "$B/refill-lineage" impact -T enrich@2 derived-ds
	printf '%s\n' derived-ds@000002/part-00000.ndjson \
	    derived-ds@000002/part-00001.ndjson derived-ds@000002/part-00002.ndjson \
	    derived-ds@000002/part-00003.ndjson > want
	printf '%s\n' "$output" > got
	diff -u want got
	# And each one goes back through the raw version and the split to the events.
	for p in 0 1 2 3; do
		run -0 "$B/refill-lineage" show -f json \
		    derived-ds@2/part-0000$p.ndjson derived-ds raw
		printf '%s\n' "$output" > show.json
		python3 - $p <<'EOP'
import hashlib, json, sys
p = sys.argv[1]
nodes = {n["sha256"]: n for n in map(json.loads, open("show.json"))}
def sha(f): return hashlib.sha256(open(f, "rb").read()).hexdigest()
top = nodes[sha("derived-ds/versions/000002/part-0000%s.ndjson" % p)]
assert top["made_by"]["transform"]["name"] == "enrich", top
assert top["made_by"]["transform"]["version"] == "2", top
rawf = nodes[top["made_by"]["inputs"][0]]
assert "raw@000001/part-0000%s.ndjson" % p in rawf["places"], rawf
assert rawf["made_by"]["program"] == "refill-split" and rawf["made_by"]["transform"] is None
src = nodes[rawf["made_by"]["inputs"][0]]
assert src["sha256"] == sha("events.ndjson") and src["made_by"] is None, src
assert "events.ndjson" in src["places"], src
EOP
	done
}
