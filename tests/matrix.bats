#!/usr/bin/env bats
# The bad-input matrix: every program against each bad input.  Each test
# is one row of the table in refill(7), "Bad input, program by program",
# and checks every program's cell: its exact status, its exact messages
# (which name the file and the line), and that nothing was lost: records
# in = records out + records quarantined, the quarantined lines as they
# were, and no file half-written or left behind.  A change to a cell here
# is a change to that table.

load helpers

setup_file() {
	# Made once, at test time: huge.ndjson is 100 MiB.
	export FX=$BATS_FILE_TMPDIR/fx
	mkdir -p "$FX"
	(cd "$FX" && python3 "$BATS_TEST_DIRNAME/matrix-gen.py")
}

teardown() {
	if [ -n "${PRIVDIR:-}" ]; then
		chmod -R u+w "$PRIVDIR"
		rm -rf "$PRIVDIR"
	fi
}

# The output digest of the stamps made by tests/matrix-gen.py.
MADE=0000000000000000000000000000000000000000000000000000000000000002

# Standard error of the last run was exactly these lines (none: empty).
err_is() {
	{ [ $# -eq 0 ] || printf '%s\n' "$@"; } > want.err
	{ [ -z "$stderr" ] || printf '%s\n' "$stderr"; } > got.err
	diff -u want.err got.err
}

# "DIGEST  COUNT" of the records of the files taken together.
sum() {
	local s
	s=$("$B/refill-hash" --total "$@")
	s=${s##*$'\n'}
	echo "${s%  total}"
}

# The --stats file $1 counts $2 records in, $3 out and $4 quarantined.
counts() {
	jq -e --argjson i "$2" --argjson o "$3" --argjson q "$4" \
	    '.records_in == $i and .records_out == $o and .quarantined == $q' \
	    "$1" > /dev/null
}

# The --bad file $1 holds $6 lines, each the line $3 of $5, named $2, with
# the reason $4, its bytes kept exactly (as text, or base64 when they are
# not UTF-8).  Checked by quarantine_checked, all at once: python3 takes
# long to start.
quarantined() {
	QN=$((${QN:-0} + 1))
	cp "$1" "quarantine-$QN"
	printf '%s\0' "quarantine-$QN" "$2" "$3" "$4" "$5" "$6" >> quarantine.args
}

quarantine_checked() {
	python3 - quarantine.args <<'EOF'
import base64, json, sys
with open(sys.argv[1], 'rb') as f:
    args = [a.decode() for a in f.read().split(b'\0')[:-1]]
for k in range(0, len(args), 6):
    path, name, line, why, src, n = args[k:k + 6]
    with open(path, 'rb') as f:
        got = f.read()
    assert got.endswith(b'\n'), (path, 'no final LF')
    lines = got.split(b'\n')[:-1]
    assert len(lines) == int(n), (path, lines)
    with open(src, 'rb') as f:
        want = f.read().split(b'\n')[int(line) - 1]
    for l in lines:
        o = json.loads(l)
        assert list(o)[:3] == ['file', 'line', 'reason'], (path, o)
        assert (o['file'], o['line'], o['reason']) == \
            (name, int(line), why), (path, o)
        b = base64.b64decode(o['base64']) if 'base64' in o else \
            o['text'].encode('utf-8')
        assert b == want, (path, b, want)
EOF
}

# Runs as a user who cannot read a mode 000 file: nobody, when root.
unpriv() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
	else
		"$@"
	fi
}

# Writes file $1 into the FIFO $2 in the background, for at most 20 s.
feed() {
	timeout 20 sh -c 'cat "$1" > "$2"' _ "$1" "$2" 3>&- &
	FEEDER=$!
}

fed() {
	kill "$FEEDER" 2>/dev/null || :
	wait "$FEEDER" || :
}

to_full() {
	"$@" > /dev/full
}

# The status of "$@" when its reader, head -1, has gone.
to_head() {
	"$@" | head -1 > /dev/null
	return "${PIPESTATUS[0]}"
}

# No temporary file of refill's anywhere under the current directory.
no_temps_below() {
	local left
	left=$(find . -name '*.tmp.*' -o -name '.*.refill-*' -o -name '.tmp-*' \
	    -o -name current.tmp)
	[ -z "$left" ]
}

# ---- records ---------------------------------------------------------------

# Every program on $1.ndjson, whose line 2 is a bad record for reason $2:
# status 3 and FILE:2 without --bad; with --bad, 0 and the line
# quarantined whole.
bad_record() {
	local f=$1.ndjson why=$2 want=$FX/$1.want
	echo 'required k' > k.rules
	cp "$FX/$f" .

	run -3 --separate-stderr "$B/refill-hash" "$f"
	err_is "refill-hash: $f:2: $why"
	[ -z "$output" ]
	run -0 --separate-stderr "$B/refill-hash" --bad bad.ndjson "$f"
	err_is "refill-hash: 3 records in, 2 out, 1 quarantined to bad.ndjson"
	[ "$output" = "$(sum "$want")  $f" ]
	quarantined bad.ndjson "$f" 2 "$why" "$f" 1

	run -3 --separate-stderr "$B/refill-split" -k k -n 2 -o parts "$f"
	err_is "refill-split: $f:2: $why"
	[ ! -e parts ]
	run -0 --separate-stderr "$B/refill-split" -k k -n 2 -o parts \
	    --bad bad.ndjson --stats stats.json "$f"
	err_is "refill-split: 3 records in, 2 out, 1 quarantined to bad.ndjson"
	[ "$(sum parts/*.ndjson)" = "$(sum "$want")" ]
	counts stats.json 3 2 1
	quarantined bad.ndjson "$f" 2 "$why" "$f" 1

	# Input lines go to the command unchecked; its output is checked.
	run -3 --separate-stderr "$B/refill-transform" -n t -v 1 -i "$f" \
	    -o out.ndjson -- cat
	err_is "refill-transform: output of cat:2: $why"
	[ ! -e out.ndjson ] && [ ! -e out.ndjson.prov ]
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i "$f" \
	    -o out.ndjson --bad bad.ndjson --stats stats.json -- cat
	err_is "refill-transform: 3 records in, 2 out, 1 quarantined to bad.ndjson"
	cmp out.ndjson "$want"
	counts stats.json 3 2 1
	quarantined bad.ndjson "output of cat" 2 "$why" "$f" 1
	# With -k, input records are checked, to route them.
	run -3 --separate-stderr "$B/refill-transform" -n t -v 1 -k k \
	    -i "$f" -o out2.ndjson -- cat
	err_is "refill-transform: $f:2: $why"
	[ ! -e out2.ndjson ]
	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -k k \
	    -i "$f" -o out2.ndjson --bad bad.ndjson -- cat
	cmp out2.ndjson "$want"
	quarantined bad.ndjson "$f" 2 "$why" "$f" 1

	run -3 --separate-stderr "$B/refill-verify" diff -k k "$f" "$f"
	err_is "refill-verify: $f:2: $why"
	run -0 --separate-stderr "$B/refill-verify" diff -k k \
	    --bad bad.ndjson --stats stats.json "$f" "$f"
	err_is "refill-verify: 6 records in, 4 out, 2 quarantined to bad.ndjson"
	counts stats.json 6 4 2
	quarantined bad.ndjson "$f" 2 "$why" "$f" 2
	run -3 --separate-stderr "$B/refill-verify" rules k.rules "$f"
	err_is "refill-verify: $f:2: $why"
	run -0 --separate-stderr "$B/refill-verify" rules --bad bad.ndjson \
	    k.rules "$f"
	err_is "refill-verify: 3 records in, 2 out, 1 quarantined to bad.ndjson" \
	    "refill-verify: 2 records, 1 rules, 0 broken"
	quarantined bad.ndjson "$f" 2 "$why" "$f" 1
	run -3 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% "$f" "$f"
	err_is "refill-verify: $f:2: $why"
	run -0 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% --bad bad.ndjson "$f" "$f"
	err_is "refill-verify: 6 records in, 4 out, 2 quarantined to bad.ndjson"
	quarantined bad.ndjson "$f" 2 "$why" "$f" 2

	# A version holds nothing that cannot be read.
	mkdir stage
	cp "$f" stage/
	run -3 --separate-stderr "$B/refill-commit" --unsigned -m m ds stage
	err_is "refill-commit: stage/$f:2: $why"
	[ -z "$output" ]
	[ ! -e ds/current ] && [ -z "$(ls ds/versions)" ]

	# So refill-replay meets it only in a stored file changed after the
	# commit, which its manifest check stops before a record is written.
	tampered "$f" "$want"
	no_temps_below
	quarantine_checked
}

# Commits a version holding $2 as $1, then changes the stored file to
# $1's bytes: refill-replay refuses it, and writes nothing.
tampered() {
	mkdir keep
	cp "$2" "keep/$1"
	run -0 "$B/refill-commit" -q --unsigned -m m kept keep
	chmod u+w "kept/versions/000001/$1"
	cat "$1" > "kept/versions/000001/$1"
	run -1 --separate-stderr "$B/refill-replay" kept
	err_is "refill-replay: kept/versions/000001/$1: does not match the manifest: the file was changed or damaged"
	[ -z "$output" ]
	run -1 --separate-stderr "$B/refill-replay" -o replayed.ndjson kept
	[ ! -e replayed.ndjson ] && [ ! -e replayed.ndjson.prov ]
}

# Every program on $1, an input of $2 good records, which must come out as
# $FX/${1%.*}.want.
good_input() {
	local f=$1 n=$2 want=$FX/${1%.*}.want
	echo 'required k' > k.rules
	cp "$FX/$f" .

	run -0 --separate-stderr "$B/refill-hash" "$f"
	err_is
	[ "$output" = "$(sum "$want")  $f" ]
	[ "${output#*  }" = "$n  $f" ]

	run -0 --separate-stderr "$B/refill-split" -k k -n 2 -o parts \
	    --bad bad.ndjson --stats stats.json "$f"
	err_is
	[ "$(sum parts/*.ndjson)" = "$(sum "$want")" ]
	counts stats.json "$n" "$n" 0
	[ -f bad.ndjson ] && [ ! -s bad.ndjson ]

	run -0 --separate-stderr "$B/refill-transform" -n t -v 1 -i "$f" \
	    -o out.ndjson --stats stats.json -- cat
	err_is
	cmp out.ndjson "$want"
	counts stats.json "$n" "$n" 0

	run -0 --separate-stderr "$B/refill-verify" diff -k k \
	    --stats stats.json "$f" "$f"
	err_is
	counts stats.json $((2 * n)) $((2 * n)) 0
	run -0 --separate-stderr "$B/refill-verify" rules k.rules "$f"
	err_is "refill-verify: $n records, 1 rules, 0 broken"
	run -0 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% "$f" "$f"
	err_is

	mkdir stage
	cp "$f" stage/
	run -0 --separate-stderr "$B/refill-commit" --unsigned -m m ds stage
	err_is "refill-commit: ds: version 000001 committed and current: 1 file, $n records, unsigned"
	[ "$output" = 000001 ]
	run -0 --separate-stderr "$B/refill-replay" -o replayed.ndjson ds
	err_is "refill-replay: ds@000001: $n of $n records"
	cmp replayed.ndjson "$want"
	no_temps_below
}

# refill-lineage on the stamp $1.prov: status $2, and the message $3.
stamp() {
	cp "$FX/$1.prov" .
	run "-$2" --separate-stderr "$B/refill-lineage" show "$MADE" "$1.prov"
	if [ "$2" -eq 0 ]; then
		err_is
		[ "${lines[0]}" = "$1  000000000000  2 records" ]
	else
		err_is "refill-lineage: $1.prov:1: $3"
		[ -z "$output" ]
	fi
}

@test "empty input: 0, no records" {
	good_input empty.ndjson 0
	stamp empty 3 "invalid JSON at byte 1: expected a value, found the end of the record"
}

@test "only blank lines: 0, skipped and counted as blank" {
	good_input blank.ndjson 0
	run -0 "$B/refill-hash" --stats stats.json blank.ndjson
	jq -e '.blank == 4 and .records_in == 0' stats.json
	stamp blank 3 "invalid JSON at byte 5: expected a value, found the end of the record"
}

@test "no final newline: 0, the last line is a record" {
	good_input nofinal.ndjson 2
	stamp nofinal 0
}

@test "CRLF line ends: 0, the CR dropped" {
	good_input crlf.ndjson 2
	stamp crlf 0
}

@test "a NUL byte: 3, FILE:LINE: invalid JSON; kept whole with --bad" {
	bad_record nul "invalid JSON at byte 8: control character in string"
	stamp nul 3 "invalid JSON at byte 473: control character in string"
}

@test "invalid UTF-8: 3, FILE:LINE: invalid UTF-8; base64 with --bad" {
	bad_record utf8 "invalid UTF-8 at byte 7"
	stamp utf8 3 "invalid UTF-8 at byte 472"
}

@test "a lone surrogate escape: 3, FILE:LINE" {
	bad_record surrogate "invalid JSON at byte 7: lone surrogate escape"
	stamp surrogate 3 "invalid JSON at byte 472: lone surrogate escape"
}

@test "duplicate keys: 3, FILE:LINE: duplicate key" {
	bad_record dupkey 'duplicate key "k"'
	stamp dupkey 3 'duplicate key "format"'
}

@test "10,000-deep nesting: 3 at the depth limit, no stack overflow" {
	bad_record deep "nesting deeper than 1000 at byte 1005"
	stamp deep 3 "nesting deeper than 1000 at byte 1470"
}

@test "1e400: 3, number out of range" {
	bad_record 1e400 "number out of range at byte 6"
	stamp 1e400 3 "number out of range at byte 471"
}

@test "-0 and 1e-400: 0, both are 0" {
	good_input negzero.ndjson 2
	[ "$(sum negzero.ndjson)" = "$(sum "$FX/negzero.canon")" ]
	stamp negzero 0
}

# Inputs that stop every program with status 3, --bad or not: $1 is the
# file, $2 the message after "PROG: " (it names $1 and, when it is
# about a line, its number).
stops() {
	local f=$1 msg=$2
	echo 'required k' > k.rules
	ln "$FX/$f" .

	run -3 --separate-stderr "$B/refill-hash" "$f"
	err_is "refill-hash: $msg"
	[ -z "$output" ]
	run -3 --separate-stderr "$B/refill-hash" --bad bad.ndjson "$f"
	err_is "refill-hash: $msg"
	[ ! -e bad.ndjson ]

	run -3 --separate-stderr "$B/refill-split" -k k -n 2 -o parts \
	    --bad bad.ndjson "$f"
	err_is "refill-split: $msg"
	[ ! -e parts ] && [ ! -e bad.ndjson ]

	run -3 --separate-stderr "$B/refill-transform" -n t -v 1 -i "$f" \
	    -o out.ndjson --bad bad.ndjson -- cat
	err_is "refill-transform: $msg"
	[ ! -e out.ndjson ] && [ ! -e out.ndjson.prov ] && [ ! -e bad.ndjson ]

	run -3 --separate-stderr "$B/refill-verify" diff -k k \
	    --bad bad.ndjson "$f" "$f"
	err_is "refill-verify: $msg"
	run -3 --separate-stderr "$B/refill-verify" rules --bad bad.ndjson \
	    k.rules "$f"
	err_is "refill-verify: $msg"
	run -3 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% --bad bad.ndjson "$f" "$f"
	err_is "refill-verify: $msg"
	[ ! -e bad.ndjson ]

	mkdir stage
	ln "$f" stage/
	run -3 --separate-stderr "$B/refill-commit" --unsigned -m m ds stage
	err_is "refill-commit: stage/$msg"
	[ ! -e ds/current ] && [ -z "$(ls ds/versions)" ]
	no_temps_below
}

@test "a 100 MB record: 3, FILE:LINE: line longer than --max-line" {
	skip_under_valgrind "a 100 MB record"
	stops huge.ndjson \
	    "huge.ndjson:2: line longer than 67108864 bytes (--max-line)"
	tampered huge.ndjson "$FX/nofinal.want"
	stamp huge 3 "larger than 67108864 bytes"
}

# ---- files -------------------------------------------------------------------

@test "truncated gzip: 3, FILE: truncated gzip input" {
	stops truncated.gz "truncated.gz: truncated gzip input"
	tampered truncated.gz "$FX/members.gz"
}

@test "gzip with trailing garbage: 3, FILE: trailing garbage" {
	stops trailing.gz "trailing.gz: trailing garbage after gzip data"
	tampered trailing.gz "$FX/members.gz"
}

@test "concatenated gzip members: 0, read as one stream" {
	good_input members.gz 3
}

@test "a gzip bomb: 3 at the line limit, after 64 MiB, not 1 GiB" {
	skip_under_valgrind "64 MiB inflated"
	stops bomb.gz "bomb.gz:2: line longer than 67108864 bytes (--max-line)"
	tampered bomb.gz "$FX/members.gz"
}

@test "an unreadable file: 4, FILE: Permission denied" {
	skip_under_valgrind "another user cannot write valgrind's log"
	if [ "$(id -u)" -eq 0 ] && ! command -v setpriv > /dev/null; then
		skip "root reads anything, and setpriv is missing"
	fi
	# A directory the unprivileged user can work in.
	PRIVDIR=$(mktemp -d /tmp/refill-matrix.XXXXXX)
	chmod 777 "$PRIVDIR"
	cd "$PRIVDIR"
	cp "$FX/nofinal.want" secret.ndjson
	echo 'required k' > k.rules
	printf '{"k":1}\n' > open.ndjson
	mkdir -m 777 stage
	cp secret.ndjson stage/
	"$B/refill-commit" -q --unsigned -m m ds stage > /dev/null
	chmod 000 secret.ndjson stage/secret.ndjson \
	    ds/versions/000001/secret.ndjson
	cp "$FX/good.prov" secret.prov
	chmod 000 secret.prov

	run -4 --separate-stderr unpriv "$B/refill-hash" secret.ndjson
	err_is "refill-hash: secret.ndjson: Permission denied"
	run -4 --separate-stderr unpriv "$B/refill-split" -k k -n 2 -o parts \
	    secret.ndjson
	err_is "refill-split: secret.ndjson: Permission denied"
	[ ! -e parts ]
	run -4 --separate-stderr unpriv "$B/refill-transform" -n t -v 1 \
	    -i secret.ndjson -o out.ndjson -- cat
	err_is "refill-transform: secret.ndjson: Permission denied"
	[ ! -e out.ndjson ]
	run -4 --separate-stderr unpriv "$B/refill-verify" diff -k k \
	    open.ndjson secret.ndjson
	err_is "refill-verify: secret.ndjson: Permission denied"
	run -4 --separate-stderr unpriv "$B/refill-verify" rules k.rules \
	    secret.ndjson
	err_is "refill-verify: secret.ndjson: Permission denied"
	run -4 --separate-stderr unpriv "$B/refill-verify" drift --by k \
	    --max-change 0% open.ndjson secret.ndjson
	err_is "refill-verify: secret.ndjson: Permission denied"
	run -4 --separate-stderr unpriv "$B/refill-commit" --unsigned -m m \
	    ds2 stage
	err_is "refill-commit: stage/secret.ndjson: Permission denied"
	[ ! -e ds2/current ]
	run -4 --separate-stderr unpriv "$B/refill-replay" -o out.ndjson ds
	err_is "refill-replay: ds/versions/000001/secret.ndjson: Permission denied"
	[ ! -e out.ndjson ]
	run -4 --separate-stderr unpriv "$B/refill-lineage" show "$MADE" \
	    secret.prov
	err_is "refill-lineage: secret.prov: Permission denied"
	no_temps_below
}

@test "a directory: 4, FILE: Is a directory; or read as one where allowed" {
	mkdir adir
	cp "$FX/nofinal.want" adir/part.ndjson
	echo 'required k' > k.rules

	run -4 --separate-stderr "$B/refill-hash" adir
	err_is "refill-hash: adir: Is a directory"
	run -4 --separate-stderr "$B/refill-split" -k k -n 2 -o parts adir
	err_is "refill-split: adir: Is a directory"
	[ ! -e parts ]
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i adir \
	    -o out.ndjson -- cat
	err_is "refill-transform: adir: Is a directory"
	[ ! -e out.ndjson ]
	run -4 --separate-stderr "$B/refill-verify" rules k.rules adir
	err_is "refill-verify: adir: Is a directory"
	# diff and drift take a directory of batch files.
	run -0 --separate-stderr "$B/refill-verify" diff -k k \
	    --stats stats.json adir adir
	counts stats.json 4 4 0
	run -0 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% adir adir
	# A stagedir's subdirectories are staged, under their paths.
	mkdir stage
	cp -R adir stage/
	run -0 --separate-stderr "$B/refill-commit" --unsigned -m m ds stage
	[ -f ds/versions/000001/adir/part.ndjson ]
	# A dataset is a directory, but not any directory.
	run -2 --separate-stderr "$B/refill-replay" adir
	err_is "refill-replay: adir: not a dataset (no versions/)"
	# refill-lineage looks for stamps in one.
	mkdir stamps
	cp "$FX/good.prov" stamps/
	run -0 --separate-stderr "$B/refill-lineage" show "$MADE" stamps
	[ "${lines[0]}" = "stamps/good  000000000000  2 records" ]
}

@test "a FIFO: 0, read once as a stream; refused where a file is kept" {
	mkfifo fifo
	cp "$FX/crlf.ndjson" .
	echo 'required k' > k.rules
	local want
	want=$(sum "$FX/crlf.want")

	feed crlf.ndjson fifo
	run -0 --separate-stderr "$B/refill-hash" fifo
	fed
	[ "$output" = "$want  fifo" ]
	feed crlf.ndjson fifo
	run -0 --separate-stderr "$B/refill-split" -k k -n 2 -o parts fifo
	fed
	[ "$(sum parts/*.ndjson)" = "$want" ]
	# Never up to date: its digest would take what the command must get.
	for i in 1 2; do
		feed crlf.ndjson fifo
		run -0 --separate-stderr "$B/refill-transform" -n t -v 1 \
		    -i fifo -o out.ndjson -- cat
		fed
		err_is
		cmp out.ndjson "$FX/crlf.want"
	done
	feed crlf.ndjson fifo
	run -0 --separate-stderr "$B/refill-verify" diff -k k crlf.ndjson fifo
	fed
	feed crlf.ndjson fifo
	run -0 --separate-stderr "$B/refill-verify" rules k.rules fifo
	fed
	err_is "refill-verify: 2 records, 1 rules, 0 broken"
	feed crlf.ndjson fifo
	run -0 --separate-stderr "$B/refill-verify" drift --by k \
	    --max-change 0% crlf.ndjson fifo
	fed
	# Not read: not a regular file, a dataset or a stamp.
	mkdir stage
	mkfifo stage/fifo.ndjson
	run -3 --separate-stderr "$B/refill-commit" --unsigned -m m ds stage
	err_is "refill-commit: stage/fifo.ndjson: not a regular file"
	[ ! -e ds/current ]
	run -2 --separate-stderr "$B/refill-replay" fifo
	err_is "refill-replay: fifo: not a dataset (no versions/)"
	mkfifo fifo.prov
	run -2 --separate-stderr "$B/refill-lineage" show "$MADE" fifo.prov
	err_is "refill-lineage: fifo.prov: not a .prov file, a dataset or a directory"
	no_temps_below
}

# ---- output ------------------------------------------------------------------

@test "output to /dev/full: 4, NAME: No space left on device" {
	echo 'required n' > n.rules
	mkdir stage
	cp in.ndjson stage/
	"$B/refill-commit" -q --unsigned -m m ds0 stage > /dev/null
	"$B/refill-split" -q -k user_id -n 1 -o parts in.ndjson

	run -4 --separate-stderr to_full "$B/refill-hash" in.ndjson
	err_is "refill-hash: stdout: No space left on device"
	# Its output is a directory: its --bad file, then.
	printf '{"k":1}\n{"k"}\n' > bad-in.ndjson
	run -4 --separate-stderr "$B/refill-split" -k k -n 2 -o out \
	    --bad /dev/full bad-in.ndjson
	err_is "refill-split: /dev/full: No space left on device"
	[ ! -e out ]
	run -4 --separate-stderr to_full "$B/refill-transform" -n t -v 1 \
	    -i in.ndjson -- cat
	err_is "refill-transform: stdout: No space left on device"
	run -4 --separate-stderr to_full "$B/refill-replay" -q ds0
	err_is "refill-replay: stdout: No space left on device"
	run -4 --separate-stderr to_full "$B/refill-verify" diff -k user_id \
	    --max-duplicates 100% in.ndjson in.ndjson
	err_is "refill-verify: stdout: No space left on device"
	run -4 --separate-stderr to_full "$B/refill-verify" rules --json \
	    n.rules in.ndjson
	err_is "refill-verify: 10 records, 1 rules, 1 broken" \
	    "refill-verify: stdout: No space left on device"
	run -4 --separate-stderr to_full "$B/refill-verify" drift --by user_id \
	    --max-change 0% in.ndjson in.ndjson
	err_is "refill-verify: stdout: No space left on device"
	run -4 --separate-stderr to_full "$B/refill-lineage" show \
	    parts/part-00000.ndjson parts
	err_is "refill-lineage: stdout: No space left on device"
	# The version is made before its number is written: committed, and
	# said so, but the number is lost.
	run -4 --separate-stderr to_full "$B/refill-commit" --unsigned -m m \
	    ds stage
	err_is "refill-commit: ds: version 000001 committed and current: 1 file, 10 records, unsigned" \
	    "refill-commit: stdout: No space left on device"
	[ "$(readlink ds/current)" = versions/000001 ]
	no_temps_below
}

@test "SIGPIPE from | head -1: killed by it, 141, silently" {
	cp "$FX/many.ndjson" "$FX/many.rules" "$FX/wide.prov" "$FX/empty.ndjson" .
	mkdir stage
	cp many.ndjson stage/
	"$B/refill-commit" -q --unsigned -m m ds stage > /dev/null

	run -141 --separate-stderr to_head "$B/refill-hash" --records many.ndjson
	err_is
	run -141 --separate-stderr to_head "$B/refill-transform" -n t -v 1 \
	    -i many.ndjson -- cat
	err_is
	run -141 --separate-stderr to_head "$B/refill-transform" -n t -v 1 \
	    -j 2 -k k -i many.ndjson -- cat
	err_is
	run -141 --separate-stderr to_head "$B/refill-replay" -q ds
	err_is
	run -141 --separate-stderr to_head "$B/refill-verify" diff -k k \
	    --max-added 100% --emit /dev/stdout empty.ndjson many.ndjson
	err_is
	run -141 --separate-stderr to_head "$B/refill-verify" rules \
	    --examples 1000 many.rules many.ndjson
	err_is
	run -141 --separate-stderr to_head "$B/refill-verify" drift --by k \
	    --max-change 0% empty.ndjson many.ndjson
	err_is
	run -141 --separate-stderr to_head "$B/refill-lineage" show -f json \
	    0000000000000000000000000000000000000000000000000000000000000001 \
	    wide.prov
	err_is
	# refill-split writes nothing on standard output; refill-commit one
	# line, which head reads.
	run -0 --separate-stderr to_head "$B/refill-commit" -q --unsigned \
	    -m m ds stage
	[ "$(readlink ds/current)" = versions/000002 ]
	no_temps_below
}

# A full disk at each write, fsync, rename, link and close that a run of
# "$@" makes: the call fails with ENOSPC.  In every run, the status is 0,
# or 4 with "PROG: PATH: ...No space left on device"; nothing temporary
# is left; and each of the files that OUTS names is either missing or
# whole: data files the same bytes as a run without faults, JSON files
# valid.  With status 0, all of them are there.
full_disk() {
	[ -f "$B/fault.so" ] || skip "no $B/fault.so: make check builds it"
	local prog=${1##*/} n i f st
	mkdir base
	mv ./* base/ 2>/dev/null || :
	cp -a base clean
	(cd clean && REFILL_FAULT_COUNT=calls.n LD_PRELOAD=$B/fault.so \
	    "$@" > /dev/null 2>&1)
	n=$(cat clean/calls.n)
	[ "$n" -gt 5 ]
	for i in $(seq "$n"); do
		rm -rf run
		cp -a base run
		st=0
		(cd run && REFILL_FAULT_FAIL=$i REFILL_FAULT_ERRNO=ENOSPC \
		    LD_PRELOAD=$B/fault.so "$@" > ../out.txt 2> ../err.txt) ||
		    st=$?
		if [ "$st" -ne 0 ] && { [ "$st" -ne 4 ] || ! grep -q -x \
		    "$prog: [^ ].*: No space left on device" err.txt; }; then
			echo "call $i: status $st:"; cat err.txt
			return 1
		fi
		(cd run && no_temps_below) || { echo "call $i: temps"; return 1; }
		for f in $OUTS; do
			if [ ! -e "run/$f" ]; then
				[ "$st" -eq 0 ] && { echo "call $i: no $f"; return 1; }
				continue
			fi
			case $f in
			*.json | *.prov) jq empty "run/$f" ;;
			*) cmp "clean/$f" "run/$f" ;;
			esac || { echo "call $i: $f not whole"; return 1; }
		done
	done
}

@test "a full disk: refill-hash" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	OUTS="bad.ndjson stats.json" full_disk "$B/refill-hash" \
	    --bad bad.ndjson --stats stats.json utf8.ndjson
}

@test "a full disk: refill-split" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	OUTS="parts/part-00000.ndjson parts/part-00001.ndjson
	    parts/part-00000.ndjson.prov parts/part-00001.ndjson.prov
	    bad.ndjson stats.json" full_disk "$B/refill-split" -k k -n 2 \
	    -o parts --bad bad.ndjson --stats stats.json utf8.ndjson
}

@test "a full disk: refill-transform" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	# env: the command is not under test (an older fault.so was loaded
	# into it too).
	OUTS="out.ndjson out.ndjson.prov bad.ndjson stats.json" \
	    full_disk "$B/refill-transform" -n t -v 1 -i utf8.ndjson \
	    -o out.ndjson --bad bad.ndjson --stats stats.json -- \
	    env -u LD_PRELOAD cat
}

@test "a full disk: refill-replay" {
	skip_under_valgrind "a loop under the fault library"
	mkdir stage
	cp in.ndjson stage/
	"$B/refill-commit" -q --unsigned -m m ds stage > /dev/null
	rm -r stage
	OUTS="replayed.ndjson replayed.ndjson.prov stats.json" \
	    full_disk "$B/refill-replay" -o replayed.ndjson --stats stats.json ds
}

@test "a full disk: refill-verify diff" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	OUTS="bad.ndjson emit.ndjson stats.json" full_disk \
	    "$B/refill-verify" diff -k k --bad bad.ndjson --emit emit.ndjson \
	    --stats stats.json utf8.ndjson utf8.ndjson
}

@test "a full disk: refill-verify rules" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	echo 'required k' > k.rules
	OUTS="bad.ndjson stats.json" full_disk "$B/refill-verify" rules \
	    --bad bad.ndjson --stats stats.json k.rules utf8.ndjson
}

@test "a full disk: refill-verify drift" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/utf8.ndjson" .
	OUTS="bad.ndjson stats.json" full_disk "$B/refill-verify" drift \
	    --by k --max-change 0% --bad bad.ndjson --stats stats.json \
	    utf8.ndjson utf8.ndjson
}

@test "a full disk: refill-lineage" {
	skip_under_valgrind "a loop under the fault library"
	cp "$FX/good.prov" .
	OUTS="stats.json" full_disk "$B/refill-lineage" show \
	    --stats stats.json "$MADE" good.prov
}

@test "a full disk: refill-commit, the old version or the new" {
	skip_under_valgrind "a loop under the fault library"
	mkdir stage stage2
	cp in.ndjson stage/
	cp "$FX/crlf.ndjson" stage2/
	"$B/refill-commit" -q --unsigned -m m ds stage > /dev/null
	rm -r stage
	OUTS="stats.json" full_disk "$B/refill-commit" --unsigned -m m2 \
	    --stats stats.json ds stage2
	# After each fault, a reader got the old records or the new ones.
	local old new i got
	old=$(sum base/in.ndjson)
	new=$(sum "$FX/crlf.want")
	for i in $(seq "$(cat clean/calls.n)"); do
		rm -rf run
		cp -a base run
		(cd run && REFILL_FAULT_FAIL=$i REFILL_FAULT_ERRNO=ENOSPC \
		    LD_PRELOAD=$B/fault.so "$B/refill-commit" -q --unsigned \
		    -m m2 ds stage2 > /dev/null 2>&1) || :
		"$B/refill-replay" -q -o run/got.ndjson run/ds 2> /dev/null
		got=$(sum run/got.ndjson)
		[ "$got" = "$old" ] || [ "$got" = "$new" ] ||
		    { echo "call $i: $got"; return 1; }
	done
}
