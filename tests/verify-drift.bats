#!/usr/bin/env bats
# refill-verify drift: per-group counts and sums between two sides.

load helpers

V="$B/refill-verify"

# Events on five days; new has day 3 missing, day 4 grown by half, day 1
# shrunk by exactly 20%, day 6 new, and day 5's amounts doubled.
days() {
	python3 - <<'EOP'
import json
def write(name, counts, amount):
    with open(name, "w") as f:
        for d, n in counts.items():
            for i in range(n):
                f.write(json.dumps({"id": "%d-%d" % (d, i), "amount": amount(d),
                                    "ts": "2025-07-%02dT%02d:30:00+02:00" % (d, 3 + i % 20)}) + "\n")
write("old.ndjson", {1: 50, 2: 40, 3: 30, 4: 20, 5: 10}, lambda d: 1)
write("new.ndjson", {1: 40, 2: 40, 4: 30, 5: 10, 6: 5}, lambda d: 2 if d == 5 else 1)
EOP
}

@test "drift: a missing day, a spike, a drop past the limit, a new day; status 1" {
	days
	run -1 --separate-stderr "$V" drift --by ts --window day --max-change 20% \
	    old.ndjson new.ndjson
	# Day 1 dropped by exactly 20%: not past the limit.  Times are UTC:
	# 03:30+02:00 on day 2 is day 1 in UTC.
	python3 - > want <<'EOP'
import collections, datetime, json
def count(p):
    c = collections.Counter()
    for l in open(p):
        t = datetime.datetime.fromisoformat(json.loads(l)["ts"]).astimezone(datetime.timezone.utc)
        c[t.strftime("%Y-%m-%d")] += 1
    return c
o, n = count("old.ndjson"), count("new.ndjson")
print("old: old.ndjson, %d records" % sum(o.values()))
print("new: new.ndjson, %d records" % sum(n.values()))
print("by: ts, by day, more than 20% flagged")
flagged = {"appeared": 0, "vanished": 0, "grew": 0, "shrank": 0}
for d in sorted(set(o) | set(n)):
    a, b = o[d], n[d]
    if a == 0: what = "appeared"
    elif b == 0: what = "vanished"
    elif abs(100 * (b - a) / a) > 20: what = "grew" if b > a else "shrank"
    else: continue
    flagged[what] += 1
    pct = " %+9.1f%%" % (100 * (b - a) / a) if a and b else " %10s" % ""
    print('  %-24s %10d %10d%s  %s' % ('"%s"' % d, a, b, pct, what))
groups = len(set(o) | set(n))
print("%d groups: %d appeared, %d vanished, %d grew, %d shrank, %d within 20%%" % (
    groups, flagged["appeared"], flagged["vanished"], flagged["grew"], flagged["shrank"],
    groups - sum(flagged.values())))
EOP
	printf '%s\n' "$output" > got
	diff -u want got
	[ "$stderr" = "" ]
	# Within 60%, only the new day and the gone one are flagged.
	run -1 --separate-stderr "$V" drift --by ts --window day --max-change 60% old.ndjson new.ndjson
	[ "${#lines[@]}" -eq 6 ]
	[ "${lines[5]}" = "6 groups: 1 appeared, 1 vanished, 0 grew, 0 shrank, 4 within 60%" ]
	run -0 --separate-stderr "$V" drift --by ts --window day --max-change 0% old.ndjson old.ndjson
	[ "${lines[3]}" = "5 groups: 0 appeared, 0 vanished, 0 grew, 0 shrank, 5 within 0%" ]
}

@test "drift: --sum flags a group whose total moved, --json has every figure" {
	days
	# One month: 150 records to 125 (-16.7%), amounts 150 to 135 (-10%).
	run -0 --separate-stderr "$V" drift --by ts --window month --sum amount \
	    --max-change 20% --json old.ndjson new.ndjson
	printf '%s\n' "$output" > got.json
	python3 - <<'EOP'
import json
r = json.load(open("got.json"))
assert r["groups"] == 1 and r["old"] == 150 and r["new"] == 125, r
assert r["flagged"] == [], r["flagged"]
EOP
	run -1 --separate-stderr "$V" drift --by id --sum amount --max-change 50% \
	    --json old.ndjson new.ndjson
	printf '%s\n' "$output" > got.json
	python3 - <<'EOP'
import json
r = json.load(open("got.json"))
f = {g["group"]: g for g in r["flagged"]}
# Day 5's ten records each doubled their amount; ids of day 3 vanished.
assert all(f["5-%d" % i]["what"] == "sum changed" for i in range(10)), r
assert f["5-0"]["sum_old"] == 1 and f["5-0"]["sum_new"] == 2, f["5-0"]
assert f["3-0"]["what"] == "vanished" and f["6-0"]["what"] == "appeared"
old = {json.loads(l)["id"] for l in open("old.ndjson")}
new = {json.loads(l)["id"] for l in open("new.ndjson")}
assert r["sum_changed"] == 10 and r["vanished"] == len(old - new) and r["appeared"] == len(new - old), r
assert [g["group"] for g in r["flagged"]] == sorted(g["group"] for g in r["flagged"])
EOP
	run -0 "$B/refill-hash" --canonical got.json
	[ "$output" = "$(cat got.json)" ]
}

@test "drift: an emptied partition shows up; directories and datasets as sides" {
	days
	mkdir old new
	"$B/refill-split" -q -T ts -w day -o old old.ndjson
	"$B/refill-split" -q -T ts -w day -o new old.ndjson
	: > new/2025-07-02.ndjson
	rm new/2025-07-02.ndjson.prov
	run -1 --separate-stderr "$V" drift --by ts --window day --max-change 10% old new
	[ "${lines[3]}" = '  "2025-07-02"                     40          0             vanished' ]
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-commit" -q -k k1 -m a ds old > /dev/null
	"$B/refill-commit" -q -k k1 -m b ds new > /dev/null
	run -1 --separate-stderr "$V" drift --by ts --window day --max-change 10% ds@1 ds@2
	[ "${lines[3]}" = '  "2025-07-02"                     40          0             vanished' ]
	run -0 --separate-stderr "$V" drift --by ts --window day --max-change 10% ds@2 ds
}

@test "drift: forced to spill (--memory 64k), the same groups flagged" {
	python3 -c '
import json
for i in range(6000): print(json.dumps({"k": "g%d" % i, "v": i}))' > o.ndjson
	python3 -c '
import json
for i in range(6000):
    for j in range(2 if i % 7 == 0 else 1):
        if i % 11: print(json.dumps({"k": "g%d" % i, "v": i}))' > n.ndjson
	run -1 --separate-stderr "$V" drift --by k --max-change 50% o.ndjson n.ndjson
	printf '%s\n' "$output" | sort > mem
	run -1 --separate-stderr "$V" drift --by k --max-change 50% --memory 64k o.ndjson n.ndjson
	printf '%s\n' "$output" | sort > spill
	diff -u mem spill
	[ "$(grep -c '  vanished$' mem)" -eq 546 ]
}

@test "drift: a bad time is status 3, or quarantined; usage errors are status 2" {
	days
	echo '{"id":"x","ts":"yesterday"}' >> new.ndjson
	run -3 --separate-stderr "$V" drift --by ts --window day --max-change 20% old.ndjson new.ndjson
	[ "$stderr" = "refill-verify: new.ndjson:126: timestamp is not RFC 3339" ]
	run -1 --separate-stderr "$V" drift --by ts --window day --max-change 20% \
	    --bad q.ndjson old.ndjson new.ndjson
	[ "$(wc -l < q.ndjson)" -eq 1 ]
	# Without a window, a record without the field is a group of its own.
	run -0 --separate-stderr "$V" drift --by nothere --max-change 20% old.ndjson new.ndjson
	[ "${lines[3]}" = "1 groups: 0 appeared, 0 vanished, 0 grew, 0 shrank, 1 within 20%" ]
	run -1 --separate-stderr "$V" drift --by nothere --max-change 15% old.ndjson new.ndjson
	[ "${lines[3]}" = "  (missing)                       150        126     -16.0%  shrank" ]
	run -2 "$V" drift --max-change 20% old.ndjson new.ndjson
	run -2 "$V" drift --by ts old.ndjson new.ndjson
	run -2 "$V" drift --by ts --max-change 20 old.ndjson new.ndjson
	run -2 "$V" drift --by ts --max-change 20% --window week old.ndjson new.ndjson
	run -2 "$V" drift --by ts --max-change 20% old.ndjson
	run -4 "$V" drift --by ts --max-change 20% old.ndjson missing.ndjson
}
