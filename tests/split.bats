#!/usr/bin/env bats
# refill-split: partitions by key hash and by time window, atomically.

load helpers

# Writes, for each partition of N, the records an independent
# implementation puts there, in input order, to want/part-XXXXX.ndjson.
expected_parts() {
	mkdir -p want
	$REF partition "$1" user_id "$2" > parts.txt
	python3 - "$1" "$2" <<'EOP'
import sys
n, src = int(sys.argv[1]), sys.argv[2]
parts = [int(x) for x in open("parts.txt")]
out = [open("want/part-%05d.ndjson" % i, "w") for i in range(n)]
recs = [l for l in open(src) if l.strip()]
for p, rec in zip(parts, recs):
    out[p].write(rec.rstrip("\r\n") + "\n")
EOP
}

@test "-k -n: each record lands in the documented partition, in order" {
	expected_parts 4 in.ndjson
	run -0 --separate-stderr "$B/refill-split" -k user_id -n 4 -o out in.ndjson
	[ -z "$stderr" ]
	ls out > names
	printf '%s\n' part-00000.ndjson part-00000.ndjson.prov part-00001.ndjson \
	    part-00001.ndjson.prov part-00002.ndjson part-00002.ndjson.prov \
	    part-00003.ndjson part-00003.ndjson.prov > want_names
	diff -u want_names names
	for i in 0 1 2 3; do
		diff -u want/part-0000$i.ndjson out/part-0000$i.ndjson
	done
}

@test "the partition of a string key is sha256 of the quoted string" {
	# "u1": the first 16 hex digits of sha256('"u1"'), mod 7.
	h=$(printf '"u1"' | sha256sum | cut -c1-16)
	p=$(python3 -c "print(int('$h', 16) % 7)")
	echo '{"user_id":"u1"}' > one.ndjson
	"$B/refill-split" -k user_id -n 7 -o out one.ndjson
	echo '{"user_id":"u1"}' > want
	diff -u want "out/part-0000$p.ndjson"
}

@test "split then hash: partition digests add up to the input's" {
	for i in $(seq 50); do sed "s/\"user_id\":\"/&$i-/" in.ndjson; done > big.ndjson
	"$B/refill-split" -k user_id -n 16 -o out big.ndjson
	"$B/refill-hash" -t out/*.ndjson > sums
	tail -1 sums | cut -d' ' -f1-4 > got
	"$B/refill-hash" big.ndjson | cut -d' ' -f1-4 > want
	diff -u want got
}

@test "every file has a provenance stamp with its counts and digests" {
	"$B/refill-split" -k user_id -n 2 -o out in.ndjson
	for f in out/part-00000.ndjson out/part-00001.ndjson; do
		python3 - "$f" > got <<'EOP'
import json, sys
f = sys.argv[1]
p = json.load(open(f + ".prov"))
o = p["output"]
print(p["format"], p["program"]["name"], p["program"]["argv"][1:],
      o["path"], o["sha256"], o["bytes"], o["records"], o["dataset_digest"],
      p["counts"], p["inputs"][0]["path"], p["inputs"][0]["sha256"],
      p["inputs"][0]["records"])
EOP
		sha=$(sha256sum "$f" | cut -c1-64)
		read -r dd cnt _ < <("$B/refill-hash" "$f")
		isha=$(sha256sum in.ndjson | cut -c1-64)
		bytes=$(wc -c < "$f")
		echo "refill-prov/1 refill-split ['-k', 'user_id', '-n', '2', '-o', 'out', 'in.ndjson'] $f $sha $bytes $cnt $dd {'in': 10, 'out': $cnt, 'quarantined': 0} in.ndjson $isha 10" > want
		diff -u want got
	done
	# The stamp is one canonical line.
	"$B/refill-hash" -C out/part-00000.ndjson.prov > canon
	diff -u canon out/part-00000.ndjson.prov
}

@test "-z and --level write gzip with the same records" {
	"$B/refill-split" -k user_id -n 3 -o plain in.ndjson
	"$B/refill-split" -z -k user_id -n 3 -o gz in.ndjson
	"$B/refill-split" --level 1 -k user_id -n 3 -o gz1 in.ndjson
	for i in 0 1 2; do
		gzip -t gz/part-0000$i.ndjson.gz
		zcat gz/part-0000$i.ndjson.gz > got
		diff -u plain/part-0000$i.ndjson got
		zcat gz1/part-0000$i.ndjson.gz > got1
		diff -u plain/part-0000$i.ndjson got1
	done
	[ -e gz/part-00000.ndjson.gz.prov ]
}

@test "small --memory: many flushes, multi-member gzip, same bytes" {
	python3 -c '
import json
for i in range(30000):
    print(json.dumps({"user_id": "u%d" % (i % 97), "i": i, "pad": "x" * 100}))
' > many.ndjson
	"$B/refill-split" -k user_id -n 5 -o a many.ndjson
	"$B/refill-split" --memory 1M -k user_id -n 5 -o b many.ndjson
	"$B/refill-split" --memory 1M -z --level 1 -k user_id -n 5 -o c many.ndjson
	for i in 0 1 2 3 4; do
		cmp a/part-0000$i.ndjson b/part-0000$i.ndjson
		zcat c/part-0000$i.ndjson.gz > got
		cmp a/part-0000$i.ndjson got
	done
	# Order is kept: "i" rises within each partition.
	python3 -c '
import json, sys
for f in sys.argv[1:]:
    v = [json.loads(l)["i"] for l in open(f)]
    assert v == sorted(v), f
' a/part-0000*.ndjson
}

@test "thousands of partitions with few file descriptors" {
	python3 -c '
import json
for i in range(20000):
    print(json.dumps({"user_id": i}))
' > ids.ndjson
	(ulimit -n 32; "$B/refill-split" -k user_id -n 3000 -o out ids.ndjson)
	ls out | grep -c 'ndjson$' > n
	echo 3000 > want
	diff -u want n
	cat out/*.ndjson | wc -l > total
	echo 20000 > want_total
	diff -u want_total total
}

@test "--time --window hour, day, month; offsets are normalised to UTC" {
	cat > t.ndjson <<'EOR'
{"ts":"2025-07-01T23:30:00-02:00","i":1}
{"ts":"2025-07-02T01:10:00Z","i":2}
{"ts":1751418000,"i":3}
{"ts":1751418000000,"i":4}
{"ts":"2025-06-30T23:59:59.999+00:00","i":5}
{"ts":"2025-07-02","i":6}
EOR
	"$B/refill-split" -T ts -w hour -o h t.ndjson
	ls h | grep -v prov > got
	printf '%s\n' 2025-06-30T23.ndjson 2025-07-02T00.ndjson 2025-07-02T01.ndjson > want
	diff -u want got
	printf '%s\n' '{"ts":"2025-07-01T23:30:00-02:00","i":1}' '{"ts":"2025-07-02T01:10:00Z","i":2}' \
	    '{"ts":1751418000,"i":3}' '{"ts":1751418000000,"i":4}' > want_h
	diff -u want_h h/2025-07-02T01.ndjson
	"$B/refill-split" -T ts --window day -o d t.ndjson
	ls d | grep -v prov > got
	printf '%s\n' 2025-06-30.ndjson 2025-07-02.ndjson > want
	diff -u want got
	"$B/refill-split" --time /ts -w month -z -o m t.ndjson
	ls m | grep -v prov > got
	printf '%s\n' 2025-06.ndjson.gz 2025-07.ndjson.gz > want
	diff -u want got
}

@test "-o with a trailing slash; a long numeric timestamp" {
	run -0 "$B/refill-split" -k user_id -n 2 -o out/ in.ndjson
	[ -e out/part-00001.ndjson ]
	no_temps
	python3 -c 'import json; print(json.load(open("out/part-00000.ndjson.prov"))["program"]["argv"][6])' > arg
	echo out/ > want0
	diff -u want0 arg
	printf '{"ts":1751360400.%s1}\n' "$(printf '0%.0s' $(seq 80))" > long.ndjson
	run -0 "$B/refill-split" -T ts -w day -o days long.ndjson
	ls days > got
	printf '%s\n' 2025-07-01.ndjson 2025-07-01.ndjson.prov > want
	diff -u want got
}

@test "--epoch forces the unit of numeric timestamps" {
	echo '{"ts":86400000}' > e.ndjson
	"$B/refill-split" -T ts -w day -o auto e.ndjson
	ls auto | grep -v prov > got
	echo 1972-09-27.ndjson > want
	diff -u want got
	"$B/refill-split" --epoch ms -T ts -w day -o ms e.ndjson
	ls ms | grep -v prov > got
	echo 1970-01-02.ndjson > want
	diff -u want got
	run -2 "$B/refill-split" --epoch us -T ts -w day -o x e.ndjson
}

@test "a missing key or bad timestamp: status 3, FILE:LINE, nothing written" {
	{ head -3 in.ndjson; echo '{"n":1}'; tail -6 in.ndjson; } > bad.ndjson
	run -3 --separate-stderr "$B/refill-split" -k user_id -n 4 -o out bad.ndjson
	[ "$stderr" = "refill-split: bad.ndjson:4: missing key user_id" ]
	[ ! -e out ]
	no_temps
	printf '{"ts":"2025-13-01T00:00:00Z"}\n{"ts":true}\n{"ts":1e300}\n' > t.ndjson
	run -3 --separate-stderr "$B/refill-split" -T ts -w day -o out t.ndjson
	[ "$stderr" = "refill-split: t.ndjson:1: timestamp is not RFC 3339" ]
	run -0 --separate-stderr "$B/refill-split" -q --bad q.ndjson -T ts -w day -o out t.ndjson
	cat > want <<'EOQ'
{"file":"t.ndjson","line":1,"reason":"timestamp is not RFC 3339","text":"{\"ts\":\"2025-13-01T00:00:00Z\"}"}
{"file":"t.ndjson","line":2,"reason":"timestamp is neither a string nor a number","text":"{\"ts\":true}"}
{"file":"t.ndjson","line":3,"reason":"timestamp out of range","text":"{\"ts\":1e300}"}
EOQ
	diff -u want q.ndjson
	ls -A out > got
	: > want_empty
	diff -u want_empty got
}

@test "--bad counts: records in = out + quarantined, in --stats and the stamp" {
	{ head -3 in.ndjson; echo '{"n":1}'; echo 'oops'; tail -7 in.ndjson; } > bad.ndjson
	run -0 --separate-stderr "$B/refill-split" --bad q.ndjson --stats s.json -k user_id -n 2 -o out bad.ndjson
	[ "$stderr" = "refill-split: 12 records in, 10 out, 2 quarantined to q.ndjson" ]
	python3 -c '
import json
s = json.load(open("s.json"))
p = json.load(open("out/part-00001.ndjson.prov"))
print(s["records_in"], s["records_out"], s["quarantined"], s["partitions"], p["counts"]["in"], p["counts"]["quarantined"])
' > got
	echo "12 10 2 2 12 2" > want
	diff -u want got
}

@test "--metrics reports the partitions; on /dev/full it is status 4 and installs nothing" {
	run -0 "$B/refill-split" --metrics m.prom -k user_id -n 3 -o out in.ndjson
	grep -A2 '^# HELP refill_partitions' m.prom > got
	cat > want <<'EOM'
# HELP refill_partitions Partition files written.
# TYPE refill_partitions gauge
refill_partitions{program="refill-split"} 3
EOM
	diff -u want got
	run -4 --separate-stderr "$B/refill-split" --metrics /dev/full -k user_id -n 2 -o out2 in.ndjson
	[ "$stderr" = "refill-split: /dev/full: No space left on device" ]
	[ ! -e out2 ]
	no_temps
}

@test "-o: a non-empty directory is refused unless --force; an empty one is used" {
	mkdir out && echo keep > out/old
	run -2 --separate-stderr "$B/refill-split" -k user_id -n 2 -o out in.ndjson
	[ "$stderr" = "refill-split: out: directory not empty (-f replaces it)" ]
	[ -e out/old ]
	run -0 "$B/refill-split" --force -k user_id -n 2 -o out in.ndjson
	[ ! -e out/old ]
	[ -e out/part-00001.ndjson ]
	mkdir empty
	run -0 "$B/refill-split" -k user_id -n 2 -o empty in.ndjson
	[ -e empty/part-00001.ndjson ]
	: > file
	run -2 "$B/refill-split" -k user_id -n 2 -o file in.ndjson
	no_temps
}

@test "stdin, CRLF, no final newline and a 20 MB record" {
	{ sed 's/$/\r/' in.ndjson; python3 -c 'import json; print(json.dumps({"user_id": "u1", "blob": "y" * 20000000}), end="")'; } > mixed.ndjson
	"$B/refill-split" -k user_id -n 2 -o out < mixed.ndjson
	cat out/*.ndjson | grep -c $'\r' > ncr || true
	echo 0 > want
	diff -u want ncr
	"$B/refill-hash" -t out/*.ndjson | tail -1 | cut -d' ' -f1-3 > got
	"$B/refill-hash" mixed.ndjson | cut -d' ' -f1-3 > want2
	diff -u want2 got
	python3 -c 'import json,sys; print(json.load(open("out/part-00000.ndjson.prov"))["inputs"][0]["path"])' > p
	echo - > want3
	diff -u want3 p
}

@test "a missing or directory input is status 4 and leaves nothing" {
	run -4 --separate-stderr "$B/refill-split" -k user_id -n 2 -o out in.ndjson nosuch
	[ "$stderr" = "refill-split: nosuch: No such file or directory" ]
	mkdir d
	run -4 --separate-stderr "$B/refill-split" -k user_id -n 2 -o out d
	[ "$stderr" = "refill-split: d: Is a directory" ]
	[ ! -e out ]
	no_temps
}

@test "a --stats or --bad on /dev/full is status 4 and installs nothing" {
	run -4 --separate-stderr "$B/refill-split" --stats /dev/full -k user_id -n 2 -o out in.ndjson
	[ "$stderr" = "refill-split: /dev/full: No space left on device" ]
	[ ! -e out ]
	echo 'bad' >> in.ndjson
	run -4 "$B/refill-split" --bad /dev/full -k user_id -n 2 -o out in.ndjson
	[ ! -e out ]
}

@test "a failed install publishes no --bad, --stats or --metrics" {
	mkfifo fifo
	"$B/refill-split" -q --bad q.ndjson --stats s.json --metrics m.prom \
	    -k user_id -n 2 -o out fifo 2> err &
	pid=$!
	exec 7> fifo
	echo 'oops' >&7
	# Another writer takes the name while the run reads.
	mkdir out && echo theirs > out/file
	cat in.ndjson >&7
	exec 7>&-
	st=0
	wait $pid || st=$?
	[ "$st" -eq 4 ]
	[ "$(cat err)" = "refill-split: out: Directory not empty" ]
	[ ! -e q.ndjson ] && [ ! -e s.json ] && [ ! -e m.prom ]
	ls out > got
	echo file > want
	diff -u want got
	no_temps
}

@test "usage errors are status 2" {
	run -2 "$B/refill-split" -k user_id -n 2 in.ndjson
	run -2 "$B/refill-split" -k user_id -o out in.ndjson
	run -2 "$B/refill-split" -k user_id -n 0 -o out in.ndjson
	run -2 "$B/refill-split" -k user_id -n 65537 -o out in.ndjson
	run -2 "$B/refill-split" -k user_id -T ts -n 2 -o out in.ndjson
	run -2 "$B/refill-split" -T ts -w week -o out in.ndjson
	run -2 "$B/refill-split" -T ts -o out in.ndjson
	run -2 "$B/refill-split" --level 10 -k user_id -n 2 -o out in.ndjson
	run -2 "$B/refill-split" --memory 10k -k user_id -n 2 -o out in.ndjson
	run -2 "$B/refill-split" --nosuch
	[ ! -e out ]
	run -0 "$B/refill-split" --help
	[ "${lines[0]}" = "usage: refill-split [-fqz] [--bad file] [--epoch s|ms] [--level n] [--max-line size]" ]
	run -0 "$B/refill-split" --version
	[ "$output" = "refill-split 0.1.0" ]
}

@test "killed by a signal: no output directory and no temporary left" {
	python3 -c '
import json
for i in range(30000):
    print(json.dumps({"user_id": "u%d" % i, "pad": "z" * 200}))
' > large.ndjson
	mkfifo fifo
	"$B/refill-split" -k user_id -n 2 -o out fifo &
	pid=$!
	exec 7> fifo
	cat large.ndjson >&7
	# Wait until the first buffers are written in the temporary directory.
	wait_for '.out.refill-*/part-*'
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	exec 7>&-
	[ "$st" -eq 143 ]
	[ ! -e out ]
	no_temps
}
