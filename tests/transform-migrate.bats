#!/usr/bin/env bats
# refill-transform's built-in migrations: --rename, --default, --drop,
# --cast and --utc, alone and before a command.

load helpers

mkin() {
	cat > ev.ndjson <<'EOR'
{"id":1,"user_id":"u1","amount":"12.50","ts":1751371200,"at":"2025-07-01T14:00:00.250+02:00","o":{"k":"v"}}
{"id":2,"user_id":null,"amount":null,"ts":null,"at":null,"o":{"n":{"deep":1}}}
{"id":3,"amount":"-0","ts":-1.25,"at":"2025-07-01T00:15:00+05:45"}
EOR
}

@test "each migration on nested paths, missing fields and nulls; output canonical" {
	mkin
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 \
	    --rename user_id=user.id --default o.n.deep=0 --default 'plan="free"' \
	    --drop o.k --cast amount=number --cast ts=rfc3339 --utc at \
	    -i ev.ndjson -o out.ndjson
	[ "$stderr" = "" ]
	cat > want <<'EOR'
{"amount":12.5,"at":"2025-07-01T12:00:00.250Z","id":1,"o":{"n":{"deep":0}},"plan":"free","ts":"2025-07-01T12:00:00Z","user":{"id":"u1"}}
{"amount":null,"at":null,"id":2,"o":{"n":{"deep":1}},"plan":"free","ts":null,"user":{"id":null}}
{"amount":0,"at":"2025-06-30T18:30:00Z","id":3,"o":{"n":{"deep":0}},"plan":"free","ts":"1969-12-31T23:59:58.75Z"}
EOR
	diff -u want out.ndjson
	# The stamp's dataset digest is refill-hash's.
	"$B/refill-hash" out.ndjson | cut -d' ' -f1 > want
	python3 -c 'import json; print(json.load(open("out.ndjson.prov"))["output"]["dataset_digest"])' > got
	diff -u want got
}

@test "a present null is not replaced by --default; absent values are left by --drop, --cast and --utc" {
	printf '%s\n' '{"a":null}' '{}' '{"b":{"c":null}}' > in.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --default a=0 \
	    --default b.c=1 --drop x.y --cast z=number --utc t -i in.ndjson
	cat > want <<'EOR'
{"a":null,"b":{"c":1}}
{"a":0,"b":{"c":1}}
{"a":0,"b":{"c":null}}
EOR
	printf '%s\n' "$output" > got
	diff -u want got
}

@test "operations apply in the order given" {
	echo '{"a":1}' > in.ndjson
	run -0 "$B/refill-transform" -n m -v 1 --rename a=b --default a=2 -i in.ndjson
	[ "$output" = '{"a":2,"b":1}' ]
	run -0 "$B/refill-transform" -n m -v 1 --default a=2 --rename a=b -i in.ndjson
	[ "$output" = '{"b":1}' ]
	run -0 "$B/refill-transform" -n m -v 1 --rename a=a.b --rename a.b=c.d -i in.ndjson
	[ "$output" = '{"a":{},"c":{"d":1}}' ]
	run -0 "$B/refill-transform" -n m -v 1 --cast a=string --cast a=number -i in.ndjson
	[ "$output" = '{"a":1}' ]
}

@test "escaped names, JSON Pointers and member order" {
	printf '%s\n' '{"z":0,"a\u002eb":{"x~y":1},"m":2}' > in.ndjson
	run -0 "$B/refill-transform" -n m -v 1 --rename '/a.b/x~0y=n.0' \
	    --default '/p~1q="v"' --drop m -i in.ndjson
	[ "$output" = '{"a.b":{},"n":{"0":1},"p/q":"v","z":0}' ]
	# An array element is found by its index, never made.
	printf '%s\n' '{"t":[{"s":"1"},{"s":"2"}]}' > arr.ndjson
	run -0 "$B/refill-transform" -n m -v 1 --cast t.1.s=number --drop t.0 \
	    -i arr.ndjson
	[ "$output" = '{"t":[{"s":2}]}' ]
	run -3 --separate-stderr "$B/refill-transform" -n m -v 1 --default t.5=1 \
	    -i arr.ndjson
	[ "$stderr" = 'refill-transform: arr.ndjson:1: --default t.5: t is [{"s":"1"},{"s":"2"}], not an object' ]
}

@test "a rename onto an existing field, and casts that cannot be made, are bad records" {
	cat > in.ndjson <<'EOR'
{"a":1,"b":2}
{"n":"12,5"}
{"n":"1e400"}
{"n":true}
{"t":"yesterday"}
{"t":1e300}
[1]
{bad
EOR
	run -3 --separate-stderr "$B/refill-transform" -n m -v 1 --rename a=b -i in.ndjson
	[ "$stderr" = "refill-transform: in.ndjson:1: --rename a=b: b already exists" ]
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --rename a=b \
	    --cast n=number --cast t=rfc3339 --default x=0 -i in.ndjson \
	    -o out.ndjson --bad bad.ndjson --stats stats.json
	[ "$stderr" = "refill-transform: 8 records in, 0 out, 8 quarantined to bad.ndjson" ]
	[ ! -s out.ndjson ]
	cat > want <<'EOR'
in.ndjson 1 --rename a=b: b already exists
in.ndjson 2 --cast n=number: "12,5" is not a number
in.ndjson 3 --cast n=number: "1e400" is out of range
in.ndjson 4 --cast n=number: true is not a string or a number
in.ndjson 5 --cast t=rfc3339: "yesterday" is not an RFC 3339 timestamp
in.ndjson 6 --cast t=rfc3339: 1e+300 is out of range (years 0000 to 9999)
in.ndjson 7 --default x: the record is not an object
in.ndjson 8 invalid JSON at byte 2: expected a member name
EOR
	python3 -c '
import json
for l in open("bad.ndjson"):
    b = json.loads(l)
    print(b["file"], b["line"], b["reason"])' > got
	diff -u want got
	python3 -c '
import json
s = json.load(open("stats.json"))
print(s["records_in"], s["records_out"], s["quarantined"])' > got
	echo "8 0 8" > want
	diff -u want got
	python3 -c 'import json; print(json.load(open("out.ndjson.prov"))["counts"])' > got
	echo "{'in': 8, 'out': 0, 'quarantined': 8}" > want
	diff -u want got
}

@test "--utc keeps the fraction as written; offsets, -00:00, leap years and dates" {
	cat > in.ndjson <<'EOR'
{"t":"2024-02-29T23:30:00.123456-01:00"}
{"t":"2025-01-01T05:44:59+05:45"}
{"t":"2025-07-01t12:00:00-00:00"}
{"t":"2025-07-01 12:00:00z"}
{"t":"2025-07-01"}
{"t":"0000-01-01T00:30:00+01:00"}
{"t":1751371200}
EOR
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --utc t -i in.ndjson -o out.ndjson --bad bad.ndjson
	cat > want <<'EOR'
{"t":"2024-03-01T00:30:00.123456Z"}
{"t":"2024-12-31T23:59:59Z"}
{"t":"2025-07-01T12:00:00Z"}
{"t":"2025-07-01T12:00:00Z"}
{"t":"2025-07-01T00:00:00Z"}
EOR
	diff -u want out.ndjson
	python3 -c '
import json
for l in open("bad.ndjson"):
    b = json.loads(l)
    print(b["line"], b["reason"])' > got
	cat > want <<'EOR'
6 --utc t: "0000-01-01T00:30:00+01:00" is out of range in UTC
7 --utc t: 1751371200 is not a string
EOR
	diff -u want got
}

@test "--cast to rfc3339 and rfc3339-ms: exact fractions, negative epochs; to string: canonical numbers" {
	printf '%s\n' '{"s":0,"ms":1751371200123,"x":1E3}' '{"s":-0.5,"ms":-1,"x":-0}' \
	    '{"s":951782400,"ms":1.5,"x":12345678901234567890}' > in.ndjson
	run -0 "$B/refill-transform" -n m -v 1 --cast s=rfc3339 \
	    --cast ms=rfc3339-ms --cast x=string -i in.ndjson
	cat > want <<'EOR'
{"ms":"2025-07-01T12:00:00.123Z","s":"1970-01-01T00:00:00Z","x":"1000"}
{"ms":"1969-12-31T23:59:59.999Z","s":"1969-12-31T23:59:59.5Z","x":"0"}
{"ms":"1970-01-01T00:00:00.0015Z","s":"2000-02-29T00:00:00Z","x":"12345678901234567000"}
EOR
	printf '%s\n' "$output" > got
	diff -u want got
}

@test "before a command: the command gets the migrated records, bad input records are quarantined" {
	mkin
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --bad bad.ndjson \
	    --drop o --drop at --drop ts --rename user_id=uid --cast amount=number \
	    -i ev.ndjson -o out.ndjson -- jq -c '. + {seen: true}'
	[ "$stderr" = "" ]
	cat > want <<'EOR'
{"amount":12.5,"id":1,"uid":"u1","seen":true}
{"amount":null,"id":2,"uid":null,"seen":true}
{"amount":0,"id":3,"seen":true}
EOR
	diff -u want out.ndjson
	printf '%s\n' '{"a":"x"}' '{"a":"1"}' > in.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --bad bad.ndjson \
	    --cast a=number -i in.ndjson -o out.ndjson -- cat
	echo '{"a":1}' > want
	diff -u want out.ndjson
	python3 -c '
import json
for l in open("bad.ndjson"):
    b = json.loads(l)
    print(b["file"], b["line"], b["reason"], b["text"])' > got
	echo 'in.ndjson 1 --cast a=number: "x" is not a number {"a":"x"}' > want
	diff -u want got
	run -3 --separate-stderr "$B/refill-transform" -n m -v 1 \
	    --cast a=number -i in.ndjson -o out2.ndjson -- cat
	[ "$stderr" = 'refill-transform: in.ndjson:1: --cast a=number: "x" is not a number' ]
	[ ! -e out2.ndjson ] && [ ! -e out2.ndjson.prov ] && no_temps
	# -k routes by the key as migrated.
	printf '%s\n' '{"u":"a"}' '{"u":"b"}' > k.ndjson
	run -0 "$B/refill-transform" -q -n m -v 1 --rename u=user -j 2 -k user \
	    -i k.ndjson -o k.out -- cat
	sort k.out > got
	printf '%s\n' '{"user":"a"}' '{"user":"b"}' > want
	diff -u want got
}

@test "the stamp records the migrations; the same ones give the same id, another one or order another" {
	mkin
	tr() { "$B/refill-transform" -n m -v 1 -i ev.ndjson -o out.ndjson "$@"; }
	id() { python3 -c 'import json; print(json.load(open("out.ndjson.prov"))["transform"]["id"])'; }
	run -0 tr --rename user_id=uid --default 'x=[1,{"b":2, "a":1}]' --cast amount=number
	python3 - <<'EOP'
import json, hashlib
t = json.load(open("out.ndjson.prov"))["transform"]
assert t["migrations"] == [["rename", "user_id", "uid"], ["default", "x", [1, {"a": 1, "b": 2}]],
    ["cast", "amount", "number"]], t["migrations"]
assert t["argv"] == [] and t["executable"] is None and t["files"] == [], t
ident = {k: t[k] for k in ("name", "version", "argv", "deps", "env", "executable", "files", "migrations")}
canon = json.dumps(ident, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
assert t["id"] == hashlib.sha256(canon.encode()).hexdigest(), canon
EOP
	id > id1
	run -0 --separate-stderr tr --rename user_id=uid --default 'x=[1,{"a":1,"b":2}]' --cast amount=number
	[ "$stderr" = "refill-transform: out.ndjson: up to date" ]
	id > id2
	diff -u id1 id2
	run -0 tr --default 'x=[1,{"a":1,"b":2}]' --rename user_id=uid --cast amount=number
	id > id3
	run -0 tr --rename user_id=uid --default 'x=[1,{"a":1,"b":2}]' --cast amount=string
	id > id4
	run -0 tr --rename user_id=uid --default 'x=[1,{"a":1,"b":2}]' --cast amount=number -- cat
	id > id5
	run -0 tr -- cat
	id > id6
	run -0 sort -u id1 id3 id4 id5 id6
	[ "${#lines[@]}" -eq 5 ]
	# Without migrations the transform has no "migrations" member.
	run -0 python3 -c 'import json; print("migrations" in json.load(open("out.ndjson.prov"))["transform"])'
	[ "$output" = False ]
}

@test "--cache serves migrations made before, under another output path" {
	mkin
	run -0 "$B/refill-transform" -q -n m -v 1 --cache cache --drop o \
	    -i ev.ndjson -o a.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --cache cache \
	    --drop o -i ev.ndjson -o b.ndjson
	[ "${stderr%%,*}" = "refill-transform: b.ndjson: from the cache" ]
	diff -u a.ndjson b.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n m -v 1 --cache cache \
	    --drop at -i ev.ndjson -o c.ndjson
	[ "$stderr" = "" ]
}

@test "gzip in and out" {
	mkin
	gzip -c ev.ndjson > ev.ndjson.gz
	run -0 "$B/refill-transform" -q -n m -v 1 --drop o --drop at --drop ts \
	    -i ev.ndjson.gz -o out.ndjson.gz
	run -0 gzip -t out.ndjson.gz
	gzip -dc out.ndjson.gz > got
	cat > want <<'EOR'
{"amount":"12.50","id":1,"user_id":"u1"}
{"amount":null,"id":2,"user_id":null}
{"amount":"-0","id":3}
EOR
	diff -u want got
}

@test "several inputs, in order, each counted in the stamp" {
	mkin
	printf '%s\n' '{"id":4}' '' '{"id":5}' > more.ndjson
	run -0 "$B/refill-transform" -q -n m -v 1 --default v=1 --drop o --drop at \
	    --drop ts --drop amount --drop user_id -i ev.ndjson -i more.ndjson -o out.ndjson
	cat > want <<'EOR'
{"id":1,"v":1}
{"id":2,"v":1}
{"id":3,"v":1}
{"id":4,"v":1}
{"id":5,"v":1}
EOR
	diff -u want out.ndjson
	python3 -c '
import json
p = json.load(open("out.ndjson.prov"))
print([i["records"] for i in p["inputs"]], p["counts"])' > got
	echo "[3, 2] {'in': 5, 'out': 5, 'quarantined': 0}" > want
	diff -u want got
}

@test "usage errors are status 2" {
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --rename a
	[ "$stderr" = "refill-transform: --rename a: not FROM=TO" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --cast a=bogus
	[ "$stderr" = "refill-transform: --cast a=bogus: TYPE is number, string, rfc3339 or rfc3339-ms" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --cast a
	[ "$stderr" = "refill-transform: --cast a: not PATH=TYPE" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --default a
	[ "$stderr" = "refill-transform: --default a: not PATH=JSON" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --default 'a={x}'
	[ "$stderr" = "refill-transform: --default a={x}: invalid JSON at byte 2: expected a member name" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --rename a.b=/a/b
	[ "$stderr" = "refill-transform: --rename a.b=/a/b: FROM and TO are the same field" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --drop a..b
	[ "$stderr" = "refill-transform: --drop a..b: empty segment in field path 'a..b'" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --utc ''
	[ "$stderr" = "refill-transform: --utc : an empty path" ]
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --drop /a~2
	run -2 "$B/refill-transform" --drop a
	run -2 "$B/refill-transform" -n m --drop a
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1 --drop a -k a
	[ "${stderr%%$'\n'*}" = "refill-transform: -j, -k, --check-determinism, --timeout, --dep and --env need a command" ]
	run -2 "$B/refill-transform" -n m -v 1 --drop a --check-determinism
	run -2 "$B/refill-transform" -n m -v 1 --drop a --timeout 3
	run -2 "$B/refill-transform" -n m -v 1 --drop a --env HOME
	run -2 --separate-stderr "$B/refill-transform" -n m -v 1
	[ "${stderr%%$'\n'*}" = "refill-transform: no command given, and no migration" ]
	# The usage text names the migrations, as the manual does.
	run -0 "$B/refill-transform" -h
	[[ "$output" == *"[--rename from=to] [--default path=json] [--drop path]"* ]]
}
