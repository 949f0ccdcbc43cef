#!/usr/bin/env bats
# refill-transform: the user's command over records, checked and stamped.

load helpers

# A transform script that counts its runs in ./runs, then copies.
mkcount() {
	cat > count.sh <<'EOS'
#!/bin/sh
echo run >> runs
exec cat
EOS
	chmod +x count.sh
}

# Recomputes the transform id of stamp $1 from its definition in
# refill-prov(5): the canonical identity object, the executable by its
# digest and the files by argument and digest.
check_id() {
	python3 - "$1" <<'EOP'
import hashlib, json, sys
t = json.load(open(sys.argv[1]))["transform"]
ident = {k: t[k] for k in ("name", "version", "argv", "deps", "env")}
ident["executable"] = t["executable"]["sha256"]
ident["files"] = [{"arg": f["arg"], "sha256": f["sha256"]} for f in t["files"]]
canon = json.dumps(ident, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
assert t["id"] == hashlib.sha256(canon.encode()).hexdigest(), (t["id"], canon)
EOP
}

@test "the command's output is written with a stamp naming inputs, output and transform" {
	mkcount
	run -0 --separate-stderr "$B/refill-transform" -n copy -v 1 \
	    -i in.ndjson -o out.ndjson -- ./count.sh --flag
	[ "$stderr" = "" ]
	diff -u in.ndjson out.ndjson
	[ ! -e .out.ndjson.refill-tmp ] && no_temps
	check_id out.ndjson.prov
	sha=$(sha256sum < count.sh | cut -d' ' -f1)
	SHA=$sha python3 - <<'EOP'
import hashlib, json, os, subprocess
p = json.load(open("out.ndjson.prov"))
t = p["transform"]
assert t["name"] == "copy" and t["version"] == "1", t
assert t["argv"] == ["./count.sh", "--flag"], t["argv"]
assert t["executable"] == {"path": os.path.realpath("count.sh"), "sha256": os.environ["SHA"]}, t
assert t["files"] == [] and t["deps"] == [] and t["env"] == {}, t
i = p["inputs"]
assert i == [{"path": "in.ndjson", "records": 10,
    "sha256": hashlib.sha256(open("in.ndjson", "rb").read()).hexdigest()}], i
o = p["output"]
assert o["records"] == 10 and o["sha256"] == hashlib.sha256(open("out.ndjson", "rb").read()).hexdigest(), o
assert p["counts"] == {"in": 10, "out": 10, "quarantined": 0}, p["counts"]
assert p["program"]["name"] == "refill-transform"
EOP
	# The output's dataset digest is the one refill-hash gives.
	want=$("$B/refill-hash" out.ndjson | cut -d' ' -f1)
	got=$(python3 -c 'import json; print(json.load(open("out.ndjson.prov"))["output"]["dataset_digest"])')
	[ "$want" = "$got" ]
}

@test "a script named as an argument, --dep and --env are part of the identity" {
	printf 'import sys\nfor l in sys.stdin: sys.stdout.write(l)\n' > fix.py
	echo 'threshold: 3' > conf.yaml
	MODE=fast run -0 "$B/refill-transform" -n fix -v 2 --dep conf.yaml \
	    --env MODE --env UNSET_VAR -i in.ndjson -o out.ndjson -- python3 fix.py
	sha=$(sha256sum < fix.py | cut -d' ' -f1)
	csha=$(sha256sum < conf.yaml | cut -d' ' -f1)
	SHA=$sha CSHA=$csha python3 - <<'EOP'
import json, os
t = json.load(open("out.ndjson.prov"))["transform"]
assert t["files"] == [{"arg": 1, "path": "fix.py", "sha256": os.environ["SHA"]}], t["files"]
assert t["deps"] == [{"path": "conf.yaml", "sha256": os.environ["CSHA"]}], t["deps"]
assert t["env"] == {"MODE": "fast", "UNSET_VAR": None}, t["env"]
assert t["argv"] == ["python3", "fix.py"]
EOP
	check_id out.ndjson.prov
}

@test "a rerun with the same inputs and transform runs nothing; any change reruns" {
	mkcount
	tr() { "$B/refill-transform" -n copy -v "${V:-1}" -i in.ndjson \
	    -o out.ndjson "$@" -- ./count.sh; }
	run -0 tr
	run -0 --separate-stderr tr
	[ "$stderr" = "refill-transform: out.ndjson: up to date" ]
	run -0 --separate-stderr tr -q
	[ "$stderr" = "" ]
	[ "$(wc -l < runs)" -eq 1 ]
	# --force; a changed version; a changed input; a changed script.
	run -0 tr --force
	[ "$(wc -l < runs)" -eq 2 ]
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 3 ]
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 3 ]
	echo '{"user_id":"u11"}' >> in.ndjson
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 4 ]
	echo '# a fix' >> count.sh
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 5 ]
	# An output changed behind the stamp's back is made again.
	echo '{"forged":1}' >> out.ndjson
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 6 ]
	diff -u in.ndjson out.ndjson
	# A stamp without its output, or an output without its stamp.
	rm out.ndjson.prov
	V=2 run -0 tr
	[ "$(wc -l < runs)" -eq 7 ]
}

@test "a changed --env value, --dep file or argument reruns" {
	mkcount
	echo a > dep
	tr() { "$B/refill-transform" -q -n copy -v 1 --env MODE --dep dep \
	    -i in.ndjson -o out.ndjson -- ./count.sh "$@"; }
	MODE=a run -0 tr
	MODE=a run -0 tr
	[ "$(wc -l < runs)" -eq 1 ]
	MODE=b run -0 tr
	[ "$(wc -l < runs)" -eq 2 ]
	echo b > dep
	MODE=b run -0 tr
	[ "$(wc -l < runs)" -eq 3 ]
	MODE=b run -0 tr --more
	[ "$(wc -l < runs)" -eq 4 ]
}

@test "a command that fails, is killed or hangs: status 4 and no output" {
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- sh -c 'cat; exit 3'
	[ "$stderr" = "refill-transform: sh: exited with status 3" ]
	[ ! -e out.ndjson ] && [ ! -e out.ndjson.prov ] && no_temps
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- sh -c 'cat; kill -KILL $$'
	[ "$stderr" = "refill-transform: sh: killed by signal 9 (Killed)" ]
	[ ! -e out.ndjson ] && no_temps
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 --timeout 0.3 \
	    -i in.ndjson -o out.ndjson -- sh -c 'cat; exec sleep 60'
	[ "$stderr" = "refill-transform: sh: did not finish within 0.3 seconds, stopped" ]
	[ ! -e out.ndjson ] && no_temps
	# One that stops reading, and never writes, still ends.
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 --timeout 0.3 \
	    -i in.ndjson -o out.ndjson -- sleep 60
	[ "$stderr" = "refill-transform: sleep: did not finish within 0.3 seconds, stopped" ]
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- true
	[ "$stderr" = "refill-transform: true: exited before reading all of its input" ]
	[ ! -e out.ndjson ] && no_temps
}

@test "a command that cannot be run: status 4" {
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- no-such-command-here
	[ "$stderr" = "refill-transform: no-such-command-here: command not found" ]
	echo 'echo' > plain.sh
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- ./plain.sh
	[ "$stderr" = "refill-transform: ./plain.sh: not an executable file" ]
	[ ! -e out.ndjson ] && no_temps
}

@test "invalid JSON from the command: status 3 naming the output line, or quarantined" {
	run -3 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson -- sh -c 'cat; echo "{bad"; echo "{}"'
	[ "$stderr" = "refill-transform: output of sh:11: invalid JSON at byte 2: expected a member name" ]
	[ ! -e out.ndjson ] && no_temps
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson --bad bad.ndjson -- sh -c 'cat; echo "{bad"; echo "{}"'
	[ "$stderr" = "refill-transform: 10 records in, 11 out, 1 quarantined to bad.ndjson" ]
	echo '{}' | cat in.ndjson - > want
	diff -u want out.ndjson
	python3 - <<'EOP'
import json
b = [json.loads(l) for l in open("bad.ndjson")]
assert b == [{"file": "output of sh", "line": 11, "reason": "invalid JSON at byte 2: expected a member name", "text": "{bad"}], b
p = json.load(open("out.ndjson.prov"))
assert p["counts"] == {"in": 10, "out": 11, "quarantined": 1}, p["counts"]
EOP
}

@test "a command that writes nothing, and one that writes 10x its input through the pipe" {
	run -0 "$B/refill-transform" -q -n t -v 1 -i in.ndjson -o none.ndjson \
	    -- sh -c 'cat > /dev/null'
	[ -e none.ndjson ] && [ ! -s none.ndjson ]
	python3 -c 'import json; o = json.load(open("none.ndjson.prov"))["output"]; assert o["records"] == 0, o'
	# 20 MB in and 200 MB out: neither side may wait on the other.
	awk 'BEGIN { for (i = 0; i < 700000; i++) printf "{\"n\":%d,\"pad\":\"abcdefgh\"}\n", i }' > big.ndjson
	run -0 "$B/refill-transform" -q -n t -v 1 -i big.ndjson -o x10.ndjson.gz \
	    --level 1 -- awk '{ for (i = 0; i < 10; i++) print }'
	python3 - <<'EOP'
import json
p = json.load(open("x10.ndjson.gz.prov"))
assert p["counts"] == {"in": 700000, "out": 7000000, "quarantined": 0}, p["counts"]
EOP
	run -0 gzip -t x10.ndjson.gz
}

@test "the command's environment names its input, partition and transform" {
	mkdir by-user
	REFILL_INPUT=stale run -0 "$B/refill-transform" -q -n clean -v 2 \
	    -i in.ndjson -o by-user/part-00003.ndjson.gz -- sh -c \
	    'cat > /dev/null; printf "{\"in\":\"%s\",\"part\":\"%s\",\"tr\":\"%s\"}\n" "$REFILL_INPUT" "$REFILL_PARTITION" "$REFILL_TRANSFORM"'
	run -0 zcat by-user/part-00003.ndjson.gz
	[ "$output" = '{"in":"in.ndjson","part":"part-00003","tr":"clean@2"}' ]
}

@test "standard input to standard output: no stamp, and always run" {
	mkcount
	run -0 --separate-stderr sh -c "'$B/refill-transform' -n t -v 1 -- ./count.sh < in.ndjson > out.ndjson"
	[ "$stderr" = "" ]
	diff -u in.ndjson out.ndjson
	[ ! -e out.ndjson.prov ]
	run -0 sh -c "'$B/refill-transform' -n t -v 1 -o o2.ndjson -- ./count.sh < in.ndjson"
	run -0 sh -c "'$B/refill-transform' -n t -v 1 -o o2.ndjson -- ./count.sh < in.ndjson"
	[ "$(wc -l < runs)" -eq 3 ]
	python3 -c 'import json; i = json.load(open("o2.ndjson.prov"))["inputs"]; assert i[0]["path"] == "-" and i[0]["records"] == 10, i'
}

@test "output to /dev/full, a missing input, a directory: status 4" {
	run -4 sh -c "'$B/refill-transform' -n t -v 1 -i in.ndjson -- cat > /dev/full"
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i missing.ndjson \
	    -o out.ndjson -- cat
	[ "$stderr" = "refill-transform: missing.ndjson: No such file or directory" ]
	run -4 "$B/refill-transform" -n t -v 1 -i . -o out.ndjson -- cat
	[ ! -e out.ndjson ] && no_temps
}

@test "usage errors are status 2" {
	run -2 "$B/refill-transform" -n t -v 1
	run -2 "$B/refill-transform" -v 1 -- cat
	run -2 "$B/refill-transform" -n t -- cat
	run -2 "$B/refill-transform" -n a@b -v 1 -- cat
	run -2 "$B/refill-transform" -n t -v 1 --timeout 0 -- cat
	run -2 "$B/refill-transform" -n t -v 1 --timeout x -- cat
	run -2 "$B/refill-transform" -n t -v 1 --level 10 -o o.gz -- cat
	run -2 "$B/refill-transform" -n t -v 1 --env A=B -- cat
	run -2 "$B/refill-transform" -n t -v 1 --env A --env A -- cat
	run -2 "$B/refill-transform" -n t -v 1 -z -- cat
	run -2 "$B/refill-transform" -n t -v 1 --no-such-option -- cat
	ln -s in.ndjson link.ndjson
	run -2 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o link.ndjson -- cat
	[ "$stderr" = "refill-transform: link.ndjson: is a symbolic link; give the path of the file itself" ]
	mkdir d
	run -2 "$B/refill-transform" -n t -v 1 -i in.ndjson -o d -- cat
	run -0 "$B/refill-transform" --help
	[ "${lines[0]%% *}" = "usage:" ]
	run -0 "$B/refill-transform" --version
	[ "$output" = "refill-transform $("$B/refill-hash" --version | cut -d' ' -f2)" ]
}

@test "killed by a signal: the command goes too, and nothing is left" {
	"$B/refill-transform" -n t -v 1 -i in.ndjson -o out.ndjson -- \
	    sh -c 'cat > /dev/null; echo $$ > child.pid; exec sleep 60' &
	pid=$!
	wait_for child.pid
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	[ "$st" -eq 143 ]
	# Gone, or a zombie its new parent has not reaped yet.
	cpid=$(cat child.pid)
	gone() {
		! kill -0 "$cpid" 2> /dev/null ||
		    [ "$(cut -d')' -f2 "/proc/$cpid/stat" | cut -d' ' -f2)" = Z ]
	}
	for i in $(seq 100); do
		gone && break
		sleep 0.05
	done
	gone
	[ ! -e out.ndjson ] && no_temps
}

@test "--check-determinism: the same records pass; another order, or other records, are status 1" {
	mkcount
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson --check-determinism=3 -- ./count.sh
	[ "$stderr" = "refill-transform: deterministic: 3 runs wrote the same records" ]
	[ "$(wc -l < runs)" -eq 3 ]
	diff -u in.ndjson out.ndjson
	# A check always runs, even when the output is up to date.
	run -0 "$B/refill-transform" -q -n t -v 1 -i in.ndjson -o out.ndjson \
	    --check-determinism -- ./count.sh
	[ "$(wc -l < runs)" -eq 5 ]
	# Reversed by the second run only: the same records in another order.
	cat > flip.sh <<'EOS'
#!/bin/sh
echo run >> flips
if [ "$(wc -l < flips)" -eq 2 ]; then tac; else cat; fi
EOS
	chmod +x flip.sh
	run -1 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o flip.ndjson --check-determinism -- ./flip.sh
	cat > want <<'EOW'
refill-transform: not deterministic: run 2 wrote the same records in another order
refill-transform: run 1 wrote 10 records and run 2 10; record 1 is the first to differ:
  run 1: {"user_id":"u1","n":1,"tags":["a","b"]}
  run 2: {"user_id":"u10","n":10}
EOW
	printf '%s\n' "$stderr" > got
	diff -u want got
	[ ! -e flip.ndjson ] && [ ! -e flip.ndjson.prov ] && no_temps
	# A time stamp in one record: different records, shown.
	run -1 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o t.ndjson --check-determinism -- sh -c 'cat; printf "{\"ns\":\"%s\"}\n" "$(date +%N)"'
	[ "${stderr%%$'\n'*}" = "refill-transform: not deterministic: run 2 wrote different records" ]
	[[ "$stderr" == *"record 11 is the first to differ:"$'\n''  run 1: {"ns":"'* ]]
	[ ! -e t.ndjson ]
	# One record fewer in the second run.
	rm flips
	sed -i 's/tac/head -n 9/' flip.sh
	run -1 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o f.ndjson --check-determinism -- ./flip.sh
	[[ "$stderr" == *$'\n''  run 1: {"user_id":"u10","n":10}'$'\n''  run 2: (no record)' ]]
}

@test "--shuffle-input: another order in is fine unless other records come out" {
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o out.ndjson --check-determinism --shuffle-input -- cat
	[ "$stderr" = "refill-transform: deterministic: 2 runs wrote the same records, from the input in other orders" ]
	diff -u in.ndjson out.ndjson
	# Keeps only the first record it sees: depends on the input's order.
	run -1 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o first.ndjson --check-determinism --shuffle-input -- \
	    sh -c 'head -n 1; cat > /dev/null'
	[ "${stderr%%$'\n'*}" = "refill-transform: not deterministic: run 2 wrote different records" ]
	[ ! -e first.ndjson ]
	# Standard input is kept for the later runs.
	run -0 sh -c "'$B/refill-transform' -q -n t -v 1 --check-determinism=3 --shuffle-input -- sort < in.ndjson > sorted"
	sort in.ndjson > want
	diff -u want sorted
	# Bad lines are compared too; only the first run quarantines them.
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o b.ndjson --bad bad.ndjson --check-determinism -- sh -c 'cat; echo "{bad"'
	[ "$(wc -l < bad.ndjson)" -eq 1 ]
	run -1 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson \
	    -o b.ndjson --bad bad.ndjson --check-determinism -- sh -c 'cat; echo "{$(date +%N)"'
	[ "$stderr" = "refill-transform: not deterministic: run 2 wrote other lines that are not JSON than run 1" ]
	run -2 "$B/refill-transform" -n t -v 1 --shuffle-input -- cat
	run -2 "$B/refill-transform" -n t -v 1 --check-determinism=1 -- cat
	run -2 "$B/refill-transform" -n t -v 1 --check-determinism=x -- cat
}

# The records of FILE grouped by the partition of their user_id over N, in
# input order: what --jobs N writes around cat (refill(7), partition).
by_partition() {
	python3 - "$1" "$2" <<'EOP'
import hashlib, json, sys
recs = [l for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
def part(l):
    k = json.dumps(json.loads(l)["user_id"], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") % n
for p in range(n):
    sys.stdout.write("".join(l for l in recs if part(l) == p))
EOP
}

@test "--jobs: records routed by key, each job's output in turn; the dataset digest does not depend on N" {
	for i in $(seq 200); do echo "{\"user_id\":\"u$((i % 37))\",\"i\":$i}"; done > many.ndjson
	"$B/refill-hash" many.ndjson > want.sum
	for n in 1 2 3 8; do
		run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -j $n \
		    -k user_id -i many.ndjson -o out$n.ndjson -- cat
		[ "$stderr" = "" ]
		by_partition many.ndjson $n > want$n
		diff -u want$n out$n.ndjson
		"$B/refill-hash" out$n.ndjson > got.sum
		[ "$(cut -d' ' -f1,3 want.sum)" = "$(cut -d' ' -f1,3 got.sum)" ]
		python3 - $n <<'EOP'
import json, sys
p = json.load(open("out%s.ndjson.prov" % sys.argv[1]))
assert p["counts"] == {"in": 200, "out": 200, "quarantined": 0}, p["counts"]
EOP
	done
	# Each copy sees only its keys: a per-key count needs no merge.
	cat > count.py <<'EOP'
import collections, json, sys
c = collections.Counter(json.loads(l)["user_id"] for l in sys.stdin)
for k in sorted(c): print(json.dumps({"user_id": k, "n": c[k]}))
EOP
	run -0 "$B/refill-transform" -n count -v 1 -j 4 -k user_id \
	    -i many.ndjson -o counts.ndjson -- python3 count.py
	run -0 python3 -c '
import json
c = [json.loads(l) for l in open("counts.ndjson")]
assert len(c) == 37 and len({r["user_id"] for r in c}) == 37, c
assert sum(r["n"] for r in c) == 200'
	# 200 MB back through two pipes at once: no job waits on another.
	awk 'BEGIN { for (i = 0; i < 300000; i++) printf "{\"user_id\":%d,\"pad\":\"abcdefgh\"}\n", i }' > big.ndjson
	run -0 "$B/refill-transform" -q -n t -v 1 -j 2 -k user_id \
	    -i big.ndjson -o x10.ndjson -- awk '{ for (i = 0; i < 10; i++) print }'
	python3 -c 'import json; c = json.load(open("x10.ndjson.prov"))["counts"]; assert c == {"in": 300000, "out": 3000000, "quarantined": 0}, c'
	no_temps
}

@test "--jobs: a record without the key is bad, with any N; a failing copy is named" {
	printf '%s\n' '{"user_id":"a"}' '{"other":1}' 'nope' '{"user_id":"b"}' > k.ndjson
	for n in 1 2; do
		run -3 --separate-stderr "$B/refill-transform" -n t -v 1 -j $n \
		    -k user_id -i k.ndjson -o out.ndjson -- cat
		[ "$stderr" = "refill-transform: k.ndjson:2: missing key user_id" ]
		[ ! -e out.ndjson ] && no_temps
		run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -j $n \
		    -k user_id -i k.ndjson -o out$n.ndjson --bad bad$n.ndjson -- cat
		[ "$stderr" = "refill-transform: 4 records in, 2 out, 2 quarantined to bad$n.ndjson" ]
		python3 - $n <<'EOP'
import json, sys
n = sys.argv[1]
b = [(r["file"], r["line"]) for r in map(json.loads, open("bad%s.ndjson" % n))]
assert b == [("k.ndjson", 2), ("k.ndjson", 3)], b
EOP
	done
	[ "$("$B/refill-hash" out1.ndjson | cut -d' ' -f1)" = "$("$B/refill-hash" out2.ndjson | cut -d' ' -f1)" ]
	# The copy that gets u7 fails; the message says which copy it was.
	job=$(python3 -c 'import hashlib; print(int.from_bytes(hashlib.sha256(b"\"u7\"").digest()[:8], "big") % 3 + 1)')
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -j 3 -k user_id \
	    -i in.ndjson -o out.ndjson -- sh -c 'if grep -q "\"u7\""; then exit 9; fi'
	[ "$stderr" = "refill-transform: sh (job $job): exited with status 9" ]
	[ ! -e out.ndjson ] && no_temps
	# A hung copy is stopped with the others.
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -j 2 -k user_id \
	    --timeout 0.5 -i in.ndjson -o out.ndjson -- sh -c 'cat; exec sleep 30'
	[ "$stderr" = "refill-transform: sh: did not finish within 0.5 seconds, stopped" ]
	[ ! -e out.ndjson ] && no_temps
	run -2 "$B/refill-transform" -n t -v 1 -j 2 -- cat
	run -2 "$B/refill-transform" -n t -v 1 -j 0 -k user_id -- cat
	run -2 "$B/refill-transform" -n t -v 1 -j 65 -k user_id -- cat
	run -2 "$B/refill-transform" -n t -v 1 -k '/a~2' -- cat
	run -2 "$B/refill-transform" -n t -v 1 -j 2 -k user_id --check-determinism -- cat
}

# The cache entry of stamp $1, from its definition in refill-transform(1).
cache_entry() {
	python3 - "$1" <<'EOP'
import hashlib, json, sys
p = json.load(open(sys.argv[1]))
k = {"inputs": [i["sha256"] for i in p["inputs"]], "transform": p["transform"]["id"]}
h = hashlib.sha256(json.dumps(k, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
print("cache/%s/%s" % (h[:2], h[2:]))
EOP
}

@test "--cache: the same work is never done twice, even under another path" {
	mkcount
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache cache \
	    -i in.ndjson -o a.ndjson -- ./count.sh
	[ "$stderr" = "" ]
	entry=$(cache_entry a.ndjson.prov)
	cmp a.ndjson "$entry"
	cmp a.ndjson.prov "$entry.prov"
	# Another input path with the same bytes, another output: from the cache.
	mkdir other
	cp in.ndjson other/copy.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache cache \
	    -i other/copy.ndjson -o other/b.ndjson --stats st.json -- ./count.sh
	[ "$stderr" = "refill-transform: other/b.ndjson: from the cache, $entry" ]
	[ "$(wc -l < runs)" -eq 1 ]
	cmp a.ndjson other/b.ndjson
	python3 - <<'EOP'
import hashlib, json
a = json.load(open("a.ndjson.prov"))
b = json.load(open("other/b.ndjson.prov"))
assert b["inputs"] == [{"path": "other/copy.ndjson", "records": 10, "sha256": a["inputs"][0]["sha256"]}], b["inputs"]
assert b["output"]["path"] == "other/b.ndjson"
for k in ("sha256", "records", "dataset_digest", "bytes"):
    assert a["output"][k] == b["output"][k], k
assert a["counts"] == b["counts"] and a["transform"] == b["transform"]
s = json.load(open("st.json"))
assert s["records_in"] == 10 and s["records_out"] == 10, s
EOP
	# Now up to date: the cache is not even looked at.
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache cache \
	    -i other/copy.ndjson -o other/b.ndjson -- ./count.sh
	[ "$stderr" = "refill-transform: other/b.ndjson: up to date" ]
	# Standard output, and gzip made from the plain entry.
	run -0 --separate-stderr sh -c "'$B/refill-transform' -n t -v 1 --cache cache -i in.ndjson -- ./count.sh > c.ndjson"
	cmp a.ndjson c.ndjson
	run -0 "$B/refill-transform" -q -n t -v 1 --cache cache -i in.ndjson \
	    -o d.ndjson.gz -- ./count.sh
	run -0 gzip -t d.ndjson.gz
	[ "$("$B/refill-hash" d.ndjson.gz | cut -d' ' -f1)" = "$("$B/refill-hash" a.ndjson | cut -d' ' -f1)" ]
	python3 -c 'import hashlib, json; o = json.load(open("d.ndjson.gz.prov"))["output"]; assert o["sha256"] == hashlib.sha256(open("d.ndjson.gz", "rb").read()).hexdigest(), o'
	[ "$(wc -l < runs)" -eq 1 ]
	# A changed input, script or version is other work; --force runs.
	echo '{"user_id":"u11"}' >> other/copy.ndjson
	run -0 "$B/refill-transform" -q -n t -v 1 --cache cache \
	    -i other/copy.ndjson -o e.ndjson -- ./count.sh
	[ "$(wc -l < runs)" -eq 2 ]
	run -0 "$B/refill-transform" -q -n t -v 2 --cache cache \
	    -i in.ndjson -o f.ndjson -- ./count.sh
	[ "$(wc -l < runs)" -eq 3 ]
	echo '# changed' >> count.sh
	run -0 "$B/refill-transform" -q -n t -v 1 --cache cache \
	    -i in.ndjson -o g.ndjson -- ./count.sh
	[ "$(wc -l < runs)" -eq 4 ]
	run -0 "$B/refill-transform" -q -n t -v 1 --cache cache -f \
	    -i in.ndjson -o g.ndjson -- ./count.sh
	[ "$(wc -l < runs)" -eq 5 ]
	[ "$(find cache -type f -name '*.prov' | wc -l)" -eq 4 ]
	no_temps
	run -0 find cache -name '.tmp-*'
	[ "$output" = "" ]
}

@test "--cache: a damaged entry is not used; quarantined work is not kept; an unwritable cache is only said" {
	mkcount
	run -0 "$B/refill-transform" -q -n t -v 1 --cache cache \
	    -i in.ndjson -o a.ndjson -- ./count.sh
	entry=$(cache_entry a.ndjson.prov)
	# The entry is the output's inode: changing one in place changes both.
	echo '{"user_id":"x"}' >> a.ndjson
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache cache \
	    -i in.ndjson -o b.ndjson -- ./count.sh
	[ "$stderr" = "refill-transform: $entry.prov: a damaged cache entry, not used" ]
	[ "$(wc -l < runs)" -eq 2 ]
	diff -u in.ndjson b.ndjson
	# The run put a sound entry back.
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache cache \
	    -i in.ndjson -o c.ndjson -- ./count.sh
	[ "$stderr" = "refill-transform: c.ndjson: from the cache, $entry" ]
	# A run that quarantined a line is not kept.
	run -0 "$B/refill-transform" -q -n bad -v 1 --cache cache --bad q.ndjson \
	    -i in.ndjson -o q.ndjson -- sh -c 'cat; echo "{oops"'
	run -0 "$B/refill-transform" -q -n bad -v 1 --cache cache --bad q.ndjson \
	    -i in.ndjson -o q2.ndjson -- sh -c 'cat; echo "{oops"'
	[ "$(wc -l < q.ndjson)" -eq 1 ]
	[ "$(find cache -type f -name '*.prov' | wc -l)" -eq 1 ]
	# A cache that cannot be written: the run succeeds and says so.
	touch notadir
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 --cache notadir \
	    -i in.ndjson -o d.ndjson -- ./count.sh
	[ "$stderr" = "refill-transform: not kept in the cache: notadir/${entry:6:2}: Not a directory" ]
	diff -u in.ndjson d.ndjson
}
