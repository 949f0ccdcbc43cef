#!/usr/bin/env bats
# Hostile conditions: a rollback of current without a log line, symbolic
# links planted in a dataset or swapped into a staging directory, loose or
# fake key files, secrets in output, and what refill-transform hands its
# command.

load helpers

FAULT=$B/fault.so

# ds: three signed versions of one stamped file, {"v":1}, {"v":2} and
# {"v":3}.  Each is split anew: a staged file becomes the stored object, so
# it is replaced, never rewritten.
three_versions() {
	"$B/refill-commit" keygen k > /dev/null 2>&1
	for v in 1 2 3; do
		printf '{"v":%d}\n' "$v" > in.ndjson
		rm -rf s
		"$B/refill-split" -q -k v -n 1 -o s in.ndjson
		"$B/refill-commit" -q -k k -m "v$v" ds s > /dev/null
	done
}

# Stages {"v":N} in s, anew.
stage() {
	printf '{"v":%d}\n' "$1" > in.ndjson
	rm -rf s
	"$B/refill-split" -q -k v -n 1 -o s in.ndjson
}

@test "rollback attack: current pointed at an older signed version without a log line" {
	three_versions
	ln -sfn versions/000001 ds/current
	want="ds/current points to version 000001, but the log makes version 000003 current: changed without a log line (a rollback attack?) or left by a killed writer"
	# Readers follow the signed log, and say why.
	run -0 --separate-stderr "$B/refill-replay" ds
	[ "$output" = '{"v":3}' ]
	[ "${stderr%%$'\n'*}" = "refill-replay: $want" ]
	run -0 --separate-stderr "$B/refill-lineage" impact -i in.ndjson ds
	[ "$stderr" = "refill-lineage: $want" ]
	run -0 --separate-stderr "$B/refill-commit" show ds
	[ "${lines[1]}" = "version   000003 (current)" ]
	[ "$stderr" = "refill-commit: $want" ]
	run -0 --separate-stderr "$B/refill-verify" diff -q -k v ds ds@3
	[ "$stderr" = "refill-verify: $want" ]
	# refill-verify dataset counts it as a problem.
	run -1 --separate-stderr "$B/refill-verify" dataset ds
	[ "${lines[0]}" = "ds: $want" ]
	[ "$stderr" = "refill-verify: ds: 1 problem found" ]
	# The next writer puts it back, and names what it found.
	stage 4
	run -0 --separate-stderr "$B/refill-commit" -k k -m v4 ds s
	[ "$output" = 000004 ]
	[ "${stderr%%$'\n'*}" = "refill-commit: ds: repaired: set current to version 000003, as the log says (it was changed without a log line: a rollback attack?)" ]
	run -0 "$B/refill-verify" dataset -q --all ds
}

@test "rollback by one switch looks like a killed publish: repaired, not called an attack" {
	three_versions
	ln -sfn versions/000002 ds/current
	run -0 --separate-stderr "$B/refill-replay" ds
	[ "$output" = '{"v":3}' ]
	run -0 --separate-stderr "$B/refill-commit" publish -k k ds 3
	[ "${stderr%%$'\n'*}" = "refill-commit: ds: repaired: set current to version 000003, as the log says" ]
	[ "$(readlink ds/current)" = versions/000003 ]
}

@test "a candidate made current by its link alone is not current; an older MANIFEST in a newer version is caught" {
	three_versions
	stage 5
	run -0 "$B/refill-commit" -n -q -k k -m candidate ds s
	[ "$output" = 000004 ]
	ln -sfn versions/000004 ds/current
	run -0 --separate-stderr "$B/refill-replay" ds
	[ "$output" = '{"v":3}' ]
	[ "${stderr%%$'\n'*}" = "refill-replay: ds/current points to version 000004, but the log makes version 000003 current: changed without a log line (a rollback attack?) or left by a killed writer" ]
	ln -sfn versions/000003 ds/current
	# Version 1's signed files copied over version 3's.
	chmod u+w ds/versions/000003 ds/versions/000003/*
	cp -f ds/versions/000001/* ds/versions/000003/
	run -1 --separate-stderr "$B/refill-replay" ds
	[ "$output" = "" ]
	[ "$stderr" = "refill-replay: ds/versions/000003/MANIFEST: says version 1" ]
	run -1 "$B/refill-verify" dataset ds
}

@test "symbolic links planted in a dataset are refused; gc removes nothing outside it" {
	three_versions
	mkdir outside
	touch "outside/$(printf 'a%.0s' $(seq 62))"
	refused() { echo "$1: a symbolic link, where the dataset has a directory: refused"; }
	for d in objects versions lineage; do
		mv "ds/$d" "ds/$d.real"
		ln -s ../outside "ds/$d"
		run -1 --separate-stderr "$B/refill-commit" -q -k k -m x ds s
		[ "$stderr" = "refill-commit: $(refused ds/$d)" ]
		run -1 --separate-stderr "$B/refill-replay" ds
		[ "$stderr" = "refill-replay: $(refused ds/$d)" ]
		rm "ds/$d"
		mv "ds/$d.real" "ds/$d"
	done
	mv ds/versions/000001 ds/v1
	ln -s ../v1 ds/versions/000001
	run -1 --separate-stderr "$B/refill-verify" dataset ds
	[ "$output" = "ds: log: $(refused ds/versions/000001)" ]
	rm ds/versions/000001
	mv ds/v1 ds/versions/000001
	# An object directory: a commit does not write through it, and gc
	# does not remove through it.
	chmod -R u+w ds/objects
	o=$(ls ds/objects | head -n 1)
	mv "ds/objects/$o" ds/o.real
	ln -s ../outside "ds/objects/$o"
	run -1 --separate-stderr "$B/refill-commit" gc -q -k k -m gc --keep 1 ds
	[ "$stderr" = "refill-commit: $(refused ds/objects/$o)" ]
	ls outside > got
	printf '%s\n' "$(printf 'a%.0s' $(seq 62))" > want
	diff -u want got
}

@test "a staged file swapped for a symbolic link mid-commit is refused; the link's target keeps its mode" {
	skip_under_valgrind "it stops the program with the fault library"
	"$B/refill-commit" keygen k > /dev/null 2>&1
	mkdir s
	printf '{"v":1}\n' > s/p.ndjson
	# Valid records, so that only the link itself can stop the commit.
	printf '{"secret":1}\n' > victim
	chmod 600 victim
	# Where the staged file is linked into objects/: the first link call.
	rm -f calls.log
	REFILL_FAULT_LOG=calls.log LD_PRELOAD=$FAULT "$B/refill-commit" -q -k k -m probe probe s > /dev/null
	n=$(grep -m 1 ' link$' calls.log | cut -d ' ' -f 1)
	chmod u+w s/p.ndjson
	REFILL_FAULT_STOP=$n LD_PRELOAD=$FAULT "$B/refill-commit" -q -k k -m x ds s \
	    > out 2> err &
	pid=$!
	for i in $(seq 500); do
		[ "$(cut -d ' ' -f 3 /proc/$pid/stat 2> /dev/null)" = T ] && break
		sleep 0.01
	done
	rm s/p.ndjson
	ln -s ../victim s/p.ndjson
	kill -CONT "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 3 ]
	[ "$(cat err)" = "refill-commit: s/p.ndjson: a symbolic link: stage the file itself" ]
	[ "$(stat -c %a victim)" = 600 ]
	[ ! -e ds/current ]
}

@test "escaping names: --delete, a version file, --files; staged links stay refused" {
	three_versions
	run -2 --separate-stderr "$B/refill-commit" -u -q -d ../etc/passwd -k k -m x ds s
	[ "$stderr" = "refill-commit: --delete ../etc/passwd: bad file name: '.' or '..' segment" ]
	run -2 --separate-stderr "$B/refill-lineage" show ds@1/../../k
	[ "$stderr" = "refill-lineage: ds@1/../../k: version 000001 of ds has no file ../../k" ]
	run -0 --separate-stderr "$B/refill-replay" --files '../*' ds
	[ "$output" = "" ]
	mkdir s2 elsewhere
	printf '{"v":9}\n' > elsewhere/x.ndjson
	ln -s ../elsewhere s2/sub
	run -3 --separate-stderr "$B/refill-commit" -q -k k -m x ds s2
	[ "$stderr" = "refill-commit: s2/sub: a symbolic link: stage the file itself" ]
}

@test "key files: loose modes, links and non-keys are refused; no byte of a key is ever printed" {
	"$B/refill-commit" keygen k > keygen.out 2> keygen.err
	mkdir s
	printf '{"v":1}\n' > s/p.ndjson
	for m in 640 604 660 644 620 602 700 400; do
		cp k "k$m"
		chmod "$m" "k$m"
		case $m in
		400 | 700) run -0 "$B/refill-commit" -q -k "k$m" -m "$m" "ds$m" s ;;
		*)
			run -2 --separate-stderr "$B/refill-commit" -q -k "k$m" -m x ds s
			[ "$stderr" = "refill-commit: k$m: permissions 0$m are too open; the key must be readable by its owner only (chmod 600)" ] ;;
		esac
	done
	ln -s k klink
	run -2 --separate-stderr "$B/refill-commit" -q -k klink -m x ds s
	[ "$stderr" = "refill-commit: klink: is a symbolic link; give the path of the key file itself" ]
	# A key cut short, and a file that is not a key: its text is not echoed.
	head -c 60 k > kcut
	chmod 600 kcut
	run -2 --separate-stderr "$B/refill-commit" -q -k kcut -m x ds s
	[ "$stderr" = "refill-commit: kcut: not an Ed25519 private key in PEM" ]
	# Everything these runs and a full commit wrote, anywhere: no line of
	# the private key's body.
	run -0 "$B/refill-commit" -k k -m "all" --stats st.json --metrics m.prom ds s
	printf '%s\n' "$output" > commit.out
	body=$(sed -n 2p k)
	[ ${#body} -ge 40 ]
	run -1 grep -rF -e "$body" -e "${body:0:24}" --exclude=k \
	    --exclude='k[0-9][0-9][0-9]' --exclude=kcut .
}

@test "refill-transform gives its command argv as written, no shell, the documented environment and no other descriptors" {
	skip_under_valgrind "valgrind keeps descriptors of its own"
	printf '{"a":1}\n' > 'in $(touch pwned); x.ndjson'
	cat > probe.py <<'EOP'
import json, os, sys
for line in sys.stdin:
    pass
print(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ),
                  "fds": sorted(os.listdir("/proc/self/fd"))}))
EOP
	# Started with only 0, 1 and 2 open, unlike a bats test; and Debian's
	# python3 itself as the command: a pyenv shim would add variables of
	# its own; and LC_ALL set, or Python sets LC_CTYPE (PEP 538).
	run -0 /usr/bin/python3 -c '
import subprocess, sys
sys.exit(subprocess.call(sys.argv[1:], close_fds=True, env={
    "PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C.UTF-8",
    "FOO": "a b"}))' "$B/refill-transform" -q -n probe -v 1 \
	    -i 'in $(touch pwned); x.ndjson' -o out.ndjson -- \
	    /usr/bin/python3 probe.py '$(touch pwned)' '; touch pwned2' '*' '"q"'
	[ ! -e pwned ] && [ ! -e pwned2 ]
	python3 - <<'EOP'
import json
r = json.load(open("out.ndjson"))
assert r["argv"] == ["$(touch pwned)", "; touch pwned2", "*", '"q"'], r["argv"]
want = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C.UTF-8", "FOO": "a b",
        "REFILL_INPUT": "in $(touch pwned); x.ndjson",
        "REFILL_PARTITION": "out", "REFILL_TRANSFORM": "probe@1"}
assert r["env"] == want, r["env"]
# 0, 1 and 2, and the directory listdir itself opened.
assert r["fds"] == ["0", "1", "2", "3"], r["fds"]
EOP
}
