#!/usr/bin/env bats
# refill-replay: a committed version back out, checked file by file.

load helpers

# A signed dataset of in.ndjson in four partitions.

mkds() {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -k user_id -n 4 -o stage in.ndjson
	"$B/refill-commit" -q -k k1 -m one ds stage > /dev/null
}

@test "round trip: split, commit, replay gives the input's dataset digest" {
	mkds
	run -0 --separate-stderr "$B/refill-replay" ds
	[ "$stderr" = "refill-replay: ds@000001: 10 of 10 records" ]
	printf '%s\n' "$output" > got.ndjson
	"$B/refill-hash" in.ndjson | cut -d' ' -f1-3 > want
	"$B/refill-hash" got.ndjson | cut -d' ' -f1-3 > got
	diff -u want got
	# Deterministic order: file name order, then record order.
	cat stage/part-0000[0-3].ndjson > want.ndjson
	diff -u want.ndjson got.ndjson
}

@test "gzip files replay the same records; -o writes a stamp naming the version" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -z -k user_id -n 2 -o stage in.ndjson
	"$B/refill-commit" -q -k k1 -m gz ds stage > /dev/null
	run -0 "$B/refill-replay" -q -o out.ndjson ds@1
	"$B/refill-hash" in.ndjson | cut -d' ' -f1,3 > want
	"$B/refill-hash" out.ndjson | cut -d' ' -f1,3 > got
	diff -u want got
	python3 - <<'EOP'
import json
p = json.load(open("out.ndjson.prov"))
assert [i["path"] for i in p["inputs"]] == ["ds@000001/part-00000.ndjson.gz", "ds@000001/part-00001.ndjson.gz"], p["inputs"]
assert p["program"]["name"] == "refill-replay" and p["output"]["records"] == 10
EOP
}

@test "a damaged file yields none of its records and status 1" {
	mkds
	f=ds/current/part-00001.ndjson
	chmod u+w $f
	printf ' ' >> $f
	run -1 --separate-stderr "$B/refill-replay" -q ds
	[ "$stderr" = "refill-replay: ds/versions/000001/part-00001.ndjson: does not match the manifest: the file was changed or damaged" ]
	# Only the file before it was written.
	printf '%s\n' "$output" > got
	diff -u stage/part-00000.ndjson got
	run -1 "$B/refill-replay" -q -o out.ndjson ds
	[ ! -e out.ndjson ]
	[ ! -e out.ndjson.prov ]
}

@test "a forged manifest or an untrusted signer: nothing is replayed" {
	mkds
	"$B/refill-commit" keygen k2 > k2.b64 2> /dev/null
	echo "bob committer $(cat k2.b64)" > trusted
	run -1 --separate-stderr "$B/refill-replay" -t trusted ds
	[ -z "$output" ]
	[ "$stderr" = "refill-replay: ds/log:1: signed by a key that trusted does not list" ]
	chmod u+w ds/current ds/current/MANIFEST
	sed -i 's/"message":"one"/"message":"One"/' ds/current/MANIFEST
	run -1 --separate-stderr "$B/refill-replay" ds
	[ -z "$output" ]
	[ "$stderr" = "refill-replay: ds/versions/000001/MANIFEST: the signature does not match" ]
}

@test "--files selects by name" {
	mkds
	run -0 "$B/refill-replay" -q --files 'part-0000[13].ndjson' ds
	printf '%s\n' "$output" > got
	cat stage/part-00001.ndjson stage/part-00003.ndjson > want
	diff -u want got
}

@test "--shard K/N: the shards are disjoint and together everything" {
	for i in $(seq 30); do sed "s/\"user_id\":\"/&$i-/" in.ndjson; done > big.ndjson
	cp big.ndjson in.ndjson
	mkds
	for k in 1 2 3; do "$B/refill-replay" -q --shard $k/3 -k user_id ds > s$k; done
	for k in 1 2 3; do "$B/refill-replay" -q --shard $k/3 ds > f$k; done
	sort s1 s2 s3 > got; sort in.ndjson > want
	diff -u want got
	sort f1 f2 f3 > got
	diff -u want got
	[ "$(cat s1 s2 s3 | sort | uniq -d | wc -l)" -eq 0 ]
	# By key: every record of a key is in one shard.
	python3 - <<'EOP'
import json
seen = {}
for k in "123":
    for l in open("s" + k):
        u = json.loads(l)["user_id"]
        assert seen.setdefault(u, k) == k, u
EOP
	# By file: file i goes to shard i mod N + 1.
	cat stage/part-00000.ndjson stage/part-00003.ndjson > want
	diff -u want f1
}

@test "--sample: stable, nested, and the documented hash" {
	for i in $(seq 100); do sed "s/\"user_id\":\"/&$i-/" in.ndjson; done > big.ndjson
	cp big.ndjson in.ndjson
	mkds
	"$B/refill-replay" -q --sample 0.1 -k user_id ds > s10
	"$B/refill-replay" -q --sample 0.01 -k user_id ds > s1
	"$B/refill-replay" -q --sample 0.1 -k user_id ds > s10b
	cmp s10 s10b
	[ "$(sort s1 | comm -23 - <(sort s10) | wc -l)" -eq 0 ]
	# An independent computation: sha256 of the canonical key, first 8 bytes.
	"$B/refill-replay" -q ds | python3 -c '
import hashlib, json, sys
for l in sys.stdin:
    k = json.dumps(json.loads(l)["user_id"], ensure_ascii=False, separators=(",", ":"))
    x = int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big")
    if x < 0.1 * 2**64:
        sys.stdout.write(l)' > want
	diff -u want s10
	[ "$(wc -l < s10)" -gt 50 ]
	[ "$(wc -l < s10)" -lt 200 ]
}

@test "--time --from --to: a half-open window; a record without the field is status 3" {
	cat > in.ndjson <<'EOR'
{"user_id":"a","ts":"2025-07-01T00:00:00Z"}
{"user_id":"b","ts":"2025-07-01T23:59:59+00:00"}
{"user_id":"c","ts":"2025-07-02T00:00:00Z"}
{"user_id":"d","ts":"2025-07-02T01:30:00+02:00"}
{"user_id":"e","ts":1751328000}
EOR
	mkds
	run -0 "$B/refill-replay" -q --time ts --from 2025-07-01 --to 2025-07-02 ds
	printf '%s\n' "$output" | sort > got
	grep -e '"a"' -e '"b"' -e '"d"' -e '"e"' in.ndjson | sort > want
	diff -u want got
	mkdir more
	echo '{"user_id":"f"}' > more/x.ndjson
	"$B/refill-commit" -q -k k1 -u -m more ds more > /dev/null
	run -3 --separate-stderr "$B/refill-replay" -q --time ts --from 2025-07-01 ds
	[ "$stderr" = "refill-replay: ds@000002/x.ndjson:1: missing time field ts" ]
}

@test "usage errors are status 2" {
	mkds
	run -2 "$B/refill-replay" --sample 0.5 ds
	[ "${lines[0]}" = "refill-replay: --sample needs --key" ]
	run -2 "$B/refill-replay" --shard 4/3 ds
	[ "${lines[0]}" = "refill-replay: --shard 4/3: not K/N with 1 <= K <= N" ]
	run -2 "$B/refill-replay" --from 2025-07-01 ds
	[ "${lines[0]}" = "refill-replay: --from, --to and --epoch need --time" ]
	run -2 "$B/refill-replay" ds@9
	[ "$output" = "refill-replay: ds: no version 000009" ]
	run -2 "$B/refill-replay" nods
	[ "$output" = "refill-replay: nods: not a dataset (no versions/)" ]
	run -0 "$B/refill-replay" --help
	[ "${lines[0]}" = "usage: refill-replay [-qz] [--files glob] [--from time] [-k path] [--merge-by path]" ]
	run -2 "$B/refill-replay" --merge-by 'a..b' ds
	[[ "${lines[0]}" == "refill-replay: --merge-by: "* ]]
}

@test "-o: not a device, and FILE.prov is checked before any work" {
	mkds
	run -2 "$B/refill-replay" -o /dev/stdout ds
	[ "${lines[0]}" = "refill-replay: -o /dev/stdout: not a regular file (FILE.prov goes beside it); leave out -o for standard output" ]
	ln -s elsewhere out.ndjson.prov
	run -2 "$B/refill-replay" -o out.ndjson ds
	[ ! -e out.ndjson ]
	[ ! -e elsewhere ]
	run -2 "$B/refill-replay" --time ts ds
	[ "${lines[0]}" = "refill-replay: --time needs --from or --to" ]
}

# Three partitions, each sorted by ts: RFC 3339 strings in one format,
# with a tie across files; p2 gzip.
mkmerge() {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	mkdir m
	printf '%s\n' '{"ts":"2025-07-01T00:00:01Z","p":0}' \
	    '{"ts":"2025-07-01T00:00:05Z","p":0}' \
	    '{"ts":"2025-07-01T00:00:09Z","p":0}' > m/p0.ndjson
	printf '%s\n' '{"ts":"2025-07-01T00:00:02Z","p":1}' \
	    '{"ts":"2025-07-01T00:00:05Z","p":1}' \
	    '{"ts":"2025-07-01T00:00:07Z","p":1}' \
	    '{"ts":"2025-07-01T00:00:11Z","p":1}' > m/p1.ndjson
	printf '%s\n' '{"ts":"2025-07-01T00:00:00Z","p":2}' \
	    '{"ts":"2025-07-01T00:00:05Z","p":2}' | gzip > m/p2.ndjson.gz
	"$B/refill-commit" -q -k k1 -m m ds m > /dev/null
}

@test "--merge-by: one stream in key order; ties keep file order" {
	mkmerge
	run -0 --separate-stderr "$B/refill-replay" --merge-by ts ds
	[ "$stderr" = "refill-replay: ds@000001: 9 of 9 records" ]
	printf '%s\n' "$output" > got
	# The reference: all records, stably sorted by (ts, file).
	{ cat m/p0.ndjson m/p1.ndjson; gzip -dc m/p2.ndjson.gz; } |
	    python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
for r in sorted(rs, key=lambda r: r["ts"]):
    print(json.dumps(r, separators=(",", ":")))' > want
	diff -u want got
	# With --files, and with -o: the same records, and a stamp.
	run -0 "$B/refill-replay" -q --merge-by /ts --files 'p[01]*' -o out.ndjson ds
	grep -v '"p":2' want > want01
	diff -u want01 out.ndjson
	[ -s out.ndjson.prov ]
}

@test "--merge-by: numbers by exact value, beyond 2^53" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	mkdir m
	printf '%s\n' '{"t":9007199254740993}' '{"t":1.8e19}' > m/a.ndjson
	printf '%s\n' '{"t":-1}' '{"t":9007199254740992}' '{"t":9007199254740994}' \
	    > m/b.ndjson
	"$B/refill-commit" -q -k k1 -m n ds m > /dev/null
	run -0 "$B/refill-replay" -q --merge-by t ds
	printf '%s\n' '{"t":-1}' '{"t":9007199254740992}' '{"t":9007199254740993}' \
	    '{"t":9007199254740994}' '{"t":1.8e19}' > want
	printf '%s\n' "$output" > got
	diff -u want got
}

@test "--merge-by: an unsorted file or a missing key is status 3; a damaged file, status 1 before any output" {
	mkmerge
	mkdir u
	printf '%s\n' '{"ts":"2025-07-01T00:00:03Z"}' '{"ts":"2025-07-01T00:00:02Z"}' \
	    > u/p3.ndjson
	"$B/refill-commit" -q -k k1 -u -m u ds u > /dev/null
	run -3 --separate-stderr "$B/refill-replay" -q --merge-by ts -o out.ndjson ds
	[ "$stderr" = 'refill-replay: ds@000002/p3.ndjson:2: not sorted by ts: "2025-07-01T00:00:02Z" comes after "2025-07-01T00:00:03Z"' ]
	[ ! -e out.ndjson ]
	[ ! -e out.ndjson.prov ]
	run -3 --separate-stderr "$B/refill-replay" -q --merge-by q ds@1
	[ "$stderr" = "refill-replay: ds@000001/p0.ndjson:1: missing merge key q" ]
	[ -z "$output" ]
	f=ds/versions/000001/p2.ndjson.gz
	chmod u+w $f
	printf 'x' >> $f
	run -1 --separate-stderr "$B/refill-replay" -q --merge-by ts ds@1
	[ "$stderr" = "refill-replay: $f: does not match the manifest: the file was changed or damaged" ]
	[ -z "$output" ]
}
