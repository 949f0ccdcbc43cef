#!/usr/bin/env bats
# refill-verify diff: a keyed diff with tolerances, thresholds, spilling
# and the dataset fast path.

load helpers

V="$B/refill-verify"

# Old and new with one difference of each kind.  u1's record is the same
# in another key order and number spelling; u2's amount changed; u3 is
# removed; u9 added; u4 twice in new; u5 twice in old.
planted() {
	cat > old.ndjson <<'EOR'
{"user_id":"u1","amount":1.0,"tags":["a"],"ts":1}
{"user_id":"u2","amount":12.5,"ref":null,"ts":1}
{"user_id":"u3","amount":3,"ts":1}
{"user_id":"u4","amount":4,"ts":1}
{"user_id":"u5","amount":5,"ts":1}
{"user_id":"u5","amount":5.5,"ts":1}
{"user_id":"u6","amount":6,"ts":1}
EOR
	cat > new.ndjson <<'EOR'
{"ts":1,"tags":["a"],"amount":1,"user_id":"u1"}
{"user_id":"u2","amount":13,"ref":"x","ts":1}
{"user_id":"u4","amount":4,"ts":1}
{"user_id":"u4","amount":4,"ts":2}
{"user_id":"u5","amount":5,"ts":1}
{"user_id":"u6","amount":6.004,"ts":2}
{"user_id":"u9","amount":9,"ts":1}
EOR
}

@test "diff: every kind of difference, counted and shown; status 1" {
	planted
	run -1 --separate-stderr "$V" diff -k user_id old.ndjson new.ndjson
	printf '%s\n' "$output" > got
	# Examples and keys come in the order of the keys' digests.
	python3 - > want <<'EOP'
import hashlib
def order(*keys): return sorted(keys, key=lambda k: hashlib.sha256(k.encode()).digest())
ex = {'"u2"': '"u2": 12.5 -> 13', '"u6"': '"u6": 6 -> 6.004'}
print("""old: old.ndjson, 7 records in 1 file
new: new.ndjson, 7 records in 1 file
key: user_id
           1  unchanged
           2  changed
           1  added
           1  removed
           1  duplicate keys in old (3 records)
           1  duplicate keys in new (3 records)
changed fields:
           2  amount   e.g. %s
           1  ref   e.g. "u2": null -> "x"
           1  ts   e.g. "u6": 1 -> 2
added, first keys: "u9"
removed, first keys: "u3"
duplicate, first keys: %s""" % ("; ".join(ex[k] for k in order('"u2"', '"u6"')),
      " ".join(order('"u4"', '"u5"'))))
EOP
	diff -u want got
	[ "$stderr" = "refill-verify: changed: 2 (28.57% of old's 7 records) is more than --max-changed 0
refill-verify: added: 1 (14.29% of old's 7 records) is more than --max-added 0
refill-verify: removed: 1 (14.29% of old's 7 records) is more than --max-removed 0
refill-verify: duplicates: 2 keys (28.57% of old's 7 records) is more than --max-duplicates 0" ]
}

@test "diff: the same records in another order and spelling are status 0" {
	planted
	head -n 1 old.ndjson > a.ndjson
	head -n 1 new.ndjson > b.ndjson
	printf '%s\n' '{"user_id":"u7","x":[1,{"b":2,"a":1e2}]}' >> a.ndjson
	printf '%s\n' '{"x":[1.0,{"a":100,"b":2.0}],"user_id":"u7"}' >> b.ndjson
	run -0 --separate-stderr "$V" diff -k user_id b.ndjson a.ndjson
	[ "${lines[3]}" = "           2  unchanged" ]
	[ "${lines[4]}" = "           0  changed" ]
}

@test "diff: --ignore, --abs-tol and --rel-tol, exactly at the limit and just past it" {
	printf '%s\n' '{"id":1,"v":10,"at":"a"}' '{"id":2,"v":1000,"at":"a"}' > o.ndjson
	printf '%s\n' '{"id":1,"v":10.01,"at":"b"}' '{"id":2,"v":1000.5,"at":"b"}' > n.ndjson
	run -1 --separate-stderr "$V" diff -k id --ignore at o.ndjson n.ndjson
	[ "${lines[4]}" = "           2  changed" ]
	# 0.01 and 0.5 are within 0.5 absolute; 0.01 is at 0.01 exactly.
	run -0 --separate-stderr "$V" diff -k id --ignore at --abs-tol 0.5 o.ndjson n.ndjson
	[ "${lines[3]}" = "           0  unchanged" ]
	[ "${lines[4]}" = "           2  within tolerance" ]
	run -1 --separate-stderr "$V" diff -k id --ignore at --abs-tol 0.01 o.ndjson n.ndjson
	[ "${lines[4]}" = "           1  within tolerance" ]
	[ "${lines[5]}" = "           1  changed" ]
	run -1 --separate-stderr "$V" diff -k id --ignore at --abs-tol 0.009 o.ndjson n.ndjson
	[ "${lines[5]}" = "           2  changed" ]
	# Relative: 0.01 of 10.01 is 0.0999%, 0.5 of 1000.5 0.05%.
	run -0 --separate-stderr "$V" diff -k id --ignore at --rel-tol 0.1% o.ndjson n.ndjson
	run -0 --separate-stderr "$V" diff -k id --ignore at --rel-tol 0.001 o.ndjson n.ndjson
	run -1 --separate-stderr "$V" diff -k id --ignore at --rel-tol 0.09% o.ndjson n.ndjson
	[ "${lines[4]}" = "           1  within tolerance" ]
	[ "${lines[5]}" = "           1  changed" ]
	# Without --ignore, "at" changed everywhere.
	run -1 --separate-stderr "$V" diff -k id --abs-tol 1 o.ndjson n.ndjson
	[ "${lines[5]}" = "           2  changed" ]
	[ "${lines[11]}" = "           2  at   e.g. 2: \"a\" -> \"b\"; 1: \"a\" -> \"b\"" ] ||
	    [ "${lines[11]}" = "           2  at   e.g. 1: \"a\" -> \"b\"; 2: \"a\" -> \"b\"" ]
	# The empty path is no field (it read past a path of no segments:
	# found by fuzz/path.c).
	run -2 --separate-stderr "$V" diff -k id --ignore '' o.ndjson n.ndjson
	[ "$stderr" = "refill-verify: --ignore: the empty path is the whole record, not a field" ]
}

@test "diff: records that differ as a whole are one changed field, at the empty path" {
	# An index key finds both an object's member "0" and an array's first
	# element.  The empty path came as NULL to a memcmp (UBSan, make
	# sanitize; found by fuzz/jsondiff.c).
	printf '%s\n' '{"0":1,"x":1}' '{"0":2,"x":1}' > o.ndjson
	printf '%s\n' '[1,2]' '[2,3]' > n.ndjson
	run -1 --separate-stderr "$V" diff -k 0 o.ndjson n.ndjson
	[ "${lines[4]}" = "           2  changed" ]
	[ "${lines[10]}" = '           2     e.g. 1: {"0":1,"x":1} -> [1,2]; 2: {"0":2,"x":1} -> [2,3]' ]
}

@test "diff: thresholds as counts and percentages, at the limit and one over" {
	for i in $(seq 100); do echo "{\"k\":$i,\"v\":0}"; done > o.ndjson
	for i in $(seq 100); do
		if [ $i -le 5 ]; then echo "{\"k\":$i,\"v\":1}"; else echo "{\"k\":$i,\"v\":0}"; fi
	done > n.ndjson
	run -0 --separate-stderr "$V" diff -k k --max-changed 5 o.ndjson n.ndjson
	run -1 --separate-stderr "$V" diff -k k --max-changed 4 o.ndjson n.ndjson
	[ "$stderr" = "refill-verify: changed: 5 (5.00% of old's 100 records) is more than --max-changed 4" ]
	run -0 --separate-stderr "$V" diff -k k --max-changed 5% o.ndjson n.ndjson
	run -1 --separate-stderr "$V" diff -k k --max-changed 4.9% o.ndjson n.ndjson
	# Added and removed, each against its own limit.
	sed -i '1d' n.ndjson
	echo '{"k":101,"v":0}' >> n.ndjson
	run -0 --separate-stderr "$V" diff -k k --max-changed 4 --max-added 1 --max-removed 1% o.ndjson n.ndjson
	run -1 --separate-stderr "$V" diff -k k --max-changed 4 --max-added 0 --max-removed 1 o.ndjson n.ndjson
	[ "$stderr" = "refill-verify: added: 1 (1.00% of old's 100 records) is more than --max-added 0" ]
	echo '{"k":7,"v":0}' >> n.ndjson
	run -0 --separate-stderr "$V" diff -k k --max-changed 4 --max-added 1 --max-removed 1 --max-duplicates 1 o.ndjson n.ndjson
	run -1 --separate-stderr "$V" diff -k k --max-changed 4 --max-added 1 --max-removed 1 o.ndjson n.ndjson
	run -2 --separate-stderr "$V" diff -k k --max-changed x o.ndjson n.ndjson
	run -2 --separate-stderr "$V" diff -k k --max-changed 101% o.ndjson n.ndjson
	run -2 --separate-stderr "$V" diff -k k --max-changed 1.5 o.ndjson n.ndjson
	run -2 --separate-stderr "$V" diff -k k --max-added -1 o.ndjson n.ndjson
}

@test "diff: --emit writes one line per difference, in key-digest order" {
	planted
	run -1 --separate-stderr "$V" diff -k user_id --emit d.ndjson --abs-tol 0.01 --ignore ts old.ndjson new.ndjson
	python3 - <<'EOP' > want
import hashlib, json
def canon(v): return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
def digest(k): return hashlib.sha256(canon(k).encode()).digest()[:16]
lines = [
 {"kind": "changed", "key": "u2", "fields": {"amount": {"old": 12.5, "new": 13}, "ref": {"old": None, "new": "x"}},
  "where": {"old": "old.ndjson:2", "new": "new.ndjson:2"}},
 {"kind": "removed", "key": "u3", "old": {"amount": 3, "user_id": "u3"}, "where": {"old": "old.ndjson:3"}},
 {"kind": "duplicate", "key": "u4", "records": {"old": 1, "new": 2}, "where": {"old": "old.ndjson:4", "new": "new.ndjson:3"}},
 {"kind": "duplicate", "key": "u5", "records": {"old": 2, "new": 1}, "where": {"old": "old.ndjson:5", "new": "new.ndjson:5"}},
 {"kind": "added", "key": "u9", "new": {"amount": 9, "user_id": "u9"}, "where": {"new": "new.ndjson:7"}},
]
for l in sorted(lines, key=lambda l: digest(l["key"])):
    print(canon(l))
EOP
	diff -u want d.ndjson
	# u6 is within the tolerance: no line; no temporary left.
	no_temps
}

@test "diff: --json is one canonical object with the counts and fields" {
	planted
	run -1 --separate-stderr "$V" diff -k user_id --json --max-changed 5 old.ndjson new.ndjson
	printf '%s\n' "$output" > got.json
	run -0 "$B/refill-hash" --canonical got.json
	[ "$output" = "$(cat got.json)" ]
	python3 - <<'EOP'
import json
r = json.load(open("got.json"))
assert (r["unchanged"], r["changed"], r["added"], r["removed"], r["tolerated"]) == (1, 2, 1, 1, 0), r
assert r["duplicate_keys"] == {"old": 1, "new": 1} and r["duplicate_records"] == {"old": 3, "new": 3}, r
assert r["failed"] == ["added", "removed", "duplicates"], r["failed"]
assert r["old"] == {"name": "old.ndjson", "files": 1, "records": 7, "skipped_files": 0}, r["old"]
assert r["key"] == ["user_id"]
assert [(f["path"], f["records"]) for f in r["fields"]] == [("amount", 2), ("ref", 1), ("ts", 1)], r["fields"]
EOP
}

# Records of 3000 keys; the new side has changed, added, removed and
# duplicated keys at random, with a fixed seed.
generated() {
	python3 - <<'EOP'
import json, random
random.seed(7)
old, new = [], []
for k in range(3000):
    r = {"id": "k%d" % k, "n": k, "s": "x" * (k % 7), "o": {"a": k % 3, "b": [k, k + 1]}}
    old.append(r)
    x = random.random()
    if x < 0.05:
        continue                        # removed
    r2 = json.loads(json.dumps(r))
    if x < 0.15:
        r2["o"]["b"][1] += 1            # changed
    new.append(r2)
    if x > 0.99:
        new.append(r2)                  # duplicated in new
for k in range(3000, 3100):
    new.append({"id": "k%d" % k, "n": k})   # added
random.shuffle(new)
with open("old.ndjson", "w") as f:
    for r in old: f.write(json.dumps(r) + "\n")
with open("new.ndjson", "w") as f:
    for r in new: f.write(json.dumps(r, sort_keys=True) + "\n")
EOP
}

@test "diff: the counts agree with an independent pipeline (python)" {
	generated
	run -1 --separate-stderr "$V" diff -k id --json old.ndjson new.ndjson
	printf '%s\n' "$output" > got.json
	python3 - <<'EOP'
import collections, json
def load(p):
    d = collections.defaultdict(list)
    for l in open(p):
        r = json.loads(l)
        d[r["id"]].append(r)
    return d
o, n = load("old.ndjson"), load("new.ndjson")
want = collections.Counter()
for k in set(o) | set(n):
    a, b = o.get(k, []), n.get(k, [])
    if len(a) > 1 or len(b) > 1: want["dup"] += 1
    elif not a: want["added"] += 1
    elif not b: want["removed"] += 1
    elif a[0] == b[0]: want["unchanged"] += 1
    else: want["changed"] += 1
g = json.load(open("got.json"))
got = {"unchanged": g["unchanged"], "changed": g["changed"], "added": g["added"],
       "removed": g["removed"], "dup": g["duplicate_keys"]["new"] + g["duplicate_keys"]["old"]}
assert got == dict(want), (got, want)
EOP
}

@test "diff: forced to spill (--memory 64k), the same report and the same --emit" {
	generated
	run -1 --separate-stderr "$V" diff -k id --emit mem.ndjson old.ndjson new.ndjson
	printf '%s\n' "$output" > mem.txt
	run -1 --separate-stderr "$V" diff -k id --memory 64k --stats st.json \
	    --emit spill.ndjson old.ndjson new.ndjson
	printf '%s\n' "$output" > spill.txt
	diff -u mem.txt spill.txt
	diff -u mem.ndjson spill.ndjson
	[ "$(wc -l < mem.ndjson)" -gt 300 ]
	run -2 --separate-stderr "$V" diff -k id --memory 1k old.ndjson new.ndjson
}

@test "diff: directories and gzip; bad records are status 3, or quarantined" {
	mkdir o n
	for i in $(seq 30); do echo "{\"user_id\":\"u$i\",\"n\":$i}"; done > u.ndjson
	"$B/refill-split" -q -k user_id -n 3 -o o u.ndjson
	"$B/refill-split" -q -z -k user_id -n 2 -o n u.ndjson
	run -0 --separate-stderr "$V" diff -k user_id o n
	[ "${lines[0]}" = "old: o, 30 records in 3 files" ]
	[ "${lines[1]}" = "new: n, 30 records in 2 files" ]
	[ "${lines[3]}" = "          30  unchanged" ]
	printf '%s\n' '{"user_id":"u1","n":1,"tags":["a","b"]}' '{"n":2}' '{bad' > b.ndjson
	run -3 --separate-stderr "$V" diff -k user_id b.ndjson u.ndjson
	[ "$stderr" = "refill-verify: b.ndjson:2: missing key user_id" ]
	run -1 --separate-stderr "$V" diff -k user_id --bad q.ndjson b.ndjson u.ndjson
	[ "$(wc -l < q.ndjson)" -eq 2 ]
	[ "${stderr##*$'\n'}" = "refill-verify: 33 records in, 31 out, 2 quarantined to q.ndjson" ]
	# Standard input on one side.
	run -0 sh -c "'$V' diff -k user_id u.ndjson - < u.ndjson"
}

@test "diff: dataset versions skip the files that did not change, and check the rest" {
	for i in $(seq 400); do echo "{\"user_id\":\"u$i\",\"v\":$i}"; done > ev.ndjson
	"$B/refill-split" -q -k user_id -n 8 -o s1 ev.ndjson
	sed 's/"v":7}/"v":-7}/; s/"v":8}/"v":-8}/' ev.ndjson > ev2.ndjson
	"$B/refill-split" -q -k user_id -n 8 -o s2 ev2.ndjson
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	"$B/refill-commit" -q -k k1 -m two ds s2 > /dev/null
	# Which partitions hold u7 and u8: the others are skipped.
	changed=$(for p in s1/*.ndjson; do cmp -s "$p" "s2/${p#s1/}" || echo x; done | wc -l)
	run -1 --separate-stderr "$V" diff -k user_id ds@1 ds@2
	[ "${lines[0]}" = "old: ds@1, 400 records in 8 files ($((8 - changed)) the same in new, not read)" ]
	[ "${lines[4]}" = "           2  changed" ]
	run -1 --separate-stderr "$V" diff -k user_id --full ds@1 ds@2
	[ "${lines[0]}" = "old: ds@1, 400 records in 8 files" ]
	[ "${lines[4]}" = "           2  changed" ]
	run -0 --separate-stderr "$V" diff -k user_id ds@2 ds
	# A stored file that is not what the MANIFEST says: status 1.
	f=$(ls ds/versions/000002/part-*.ndjson | head -n 1)
	chmod u+w "$f"
	sed -i 's/"v":/"v" :/' "$f"
	run -1 --separate-stderr "$V" diff -k user_id --full ds@1 ds@2
	[ "${stderr%%$'\n'*}" = "refill-verify: ds@000002/$(basename "$f"): its SHA-256 is not the one in the MANIFEST" ]
}

@test "diff: usage errors are status 2; a missing side is status 4" {
	planted
	run -2 --separate-stderr "$V" diff old.ndjson new.ndjson
	run -2 --separate-stderr "$V" diff -k user_id old.ndjson
	run -2 --separate-stderr "$V" diff -k user_id old.ndjson new.ndjson extra
	run -2 --separate-stderr "$V" diff -k user_id - -
	run -2 --separate-stderr "$V" diff -k '/a~2' old.ndjson new.ndjson
	run -2 --separate-stderr "$V" diff -k user_id --abs-tol -1 old.ndjson new.ndjson
	run -2 --separate-stderr "$V" diff -k user_id --rel-tol x old.ndjson new.ndjson
	run -2 --separate-stderr "$V" diff -k user_id --memory 12q old.ndjson new.ndjson
	run -2 --separate-stderr "$V" diff -k user_id --nope old.ndjson new.ndjson
	run -2 --separate-stderr "$V" nosuch
	run -4 --separate-stderr "$V" diff -k user_id old.ndjson missing.ndjson
	[ "$stderr" = "refill-verify: missing.ndjson: No such file or directory" ]
	run -4 --separate-stderr "$V" diff -k user_id --emit /dev/full old.ndjson new.ndjson
}
