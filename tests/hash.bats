#!/usr/bin/env bats
# refill-hash: digests, canonical form, --check, and the shared record rules.

load helpers

@test "dataset digest matches an independent implementation" {
	$REF dataset in.ndjson > want
	run -0 --separate-stderr "$B/refill-hash" in.ndjson
	echo "$output" > got
	diff -u want got
	[ -z "$stderr" ]
}

@test "--records prints one digest per record" {
	$REF records in.ndjson > want
	"$B/refill-hash" --records in.ndjson > got
	diff -u want got
	"$B/refill-hash" -r in.ndjson > got2
	diff -u want got2
}

@test "--key digests the key: the SHA-256 of its canonical JSON" {
	$REF key user_id in.ndjson > want
	"$B/refill-hash" -r --key user_id in.ndjson > got
	diff -u want got
	# For a string key that is sha256 of the quoted string.
	printf '"u1"' | sha256sum | cut -c1-64 > want1
	head -1 got > got1
	diff -u want1 got1
	"$B/refill-hash" -r -k /o/a/1 in.ndjson --bad bad.json 2> err > got3
	printf 'null' | sha256sum | cut -c1-64 > want3
	diff -u want3 got3
	grep -c '"reason":"missing key /o/a/1"' bad.json > nbad
	echo 9 > want_nbad
	diff -u want_nbad nbad
}

@test "--canonical writes RFC 8785 form" {
	printf '{"b": 1.50, "a": [1E2, "\\u00e9\\/"], "c": {"y": 0.1e1, "x": -0}}\n' > c.ndjson
	printf '{"a":[100,"\xc3\xa9/"],"b":1.5,"c":{"x":0,"y":1}}\n' > want
	"$B/refill-hash" --canonical c.ndjson > got
	diff -u want got
	"$B/refill-hash" -C - < c.ndjson > got2
	diff -u want got2
}

@test "--total adds a line for all inputs, and digests merge" {
	head -4 in.ndjson > a.ndjson
	tail -6 in.ndjson > b.ndjson
	"$B/refill-hash" -t a.ndjson b.ndjson > got
	tail -1 got | cut -c1-66 > total
	"$B/refill-hash" in.ndjson | cut -c1-66 > whole
	diff -u whole total
	run -0 "$B/refill-hash" --total a.ndjson b.ndjson
	[ "${lines[2]##* }" = total ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "standard input: no operand or -" {
	"$B/refill-hash" < in.ndjson > got
	$REF dataset in.ndjson | sed 's/in.ndjson$/-/' > want
	diff -u want got
	"$B/refill-hash" - < in.ndjson > got2
	diff -u want got2
}

@test "empty input: count 0 and a zero sum" {
	: > empty.ndjson
	printf '%064d  0  empty.ndjson\n' 0 > want
	"$B/refill-hash" empty.ndjson > got
	diff -u want got
}

@test "no final newline, CRLF and blank lines give the same digest" {
	"$B/refill-hash" in.ndjson | cut -c1-66 > want
	head -c -1 in.ndjson > nonl.ndjson
	"$B/refill-hash" nonl.ndjson | cut -c1-66 > got1
	diff -u want got1
	sed 's/$/\r/' in.ndjson > crlf.ndjson
	"$B/refill-hash" crlf.ndjson | cut -c1-66 > got2
	diff -u want got2
	{ echo; head -3 in.ndjson; printf '  \t\n'; tail -7 in.ndjson; } > blank.ndjson
	"$B/refill-hash" --stats s.json blank.ndjson | cut -c1-66 > got3
	diff -u want got3
	python3 -c 'import json,sys; s=json.load(open("s.json")); print(s["records_in"], s["blank"])' > counts
	echo "10 2" > want_counts
	diff -u want_counts counts
}

@test "a bad record stops with status 3 naming FILE:LINE" {
	{ head -2 in.ndjson; echo '{"a":1,}'; tail -7 in.ndjson; } > bad.ndjson
	run -3 --separate-stderr "$B/refill-hash" bad.ndjson
	[ "$stderr" = "refill-hash: bad.ndjson:3: invalid JSON at byte 8: expected a member name" ]
	[ -z "$output" ]
}

@test "I-JSON: duplicate keys, lone surrogates, overflow, invalid UTF-8 are bad" {
	printf '{"a":1,"a":2}\n"\\ud800"\n1e400\n"\xff"\n[1,2]\n' > bad.ndjson
	run -3 --separate-stderr "$B/refill-hash" bad.ndjson
	[ "$stderr" = 'refill-hash: bad.ndjson:1: duplicate key "a"' ]
	run -0 --separate-stderr "$B/refill-hash" --bad q.ndjson bad.ndjson
	[ "$stderr" = "refill-hash: 5 records in, 1 out, 4 quarantined to q.ndjson" ]
	cat > want <<'EOQ'
{"file":"bad.ndjson","line":1,"reason":"duplicate key \"a\"","text":"{\"a\":1,\"a\":2}"}
{"file":"bad.ndjson","line":2,"reason":"invalid JSON at byte 2: lone surrogate escape","text":"\"\\ud800\""}
{"file":"bad.ndjson","line":3,"reason":"number out of range at byte 1","text":"1e400"}
{"file":"bad.ndjson","line":4,"reason":"invalid UTF-8 at byte 2","base64":"Iv8i"}
EOQ
	diff -u want q.ndjson
}

@test "--bad quarantines and counts; -q silences the summary" {
	{ head -2 in.ndjson; echo 'not json'; tail -8 in.ndjson; } > bad.ndjson
	tail -8 in.ndjson > good.ndjson
	run -0 --separate-stderr "$B/refill-hash" -q -r --bad q.ndjson --stats s.json bad.ndjson
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 10 ]
	python3 -c 'import json; s=json.load(open("s.json")); print(s["program"], s["records_in"], s["records_out"], s["quarantined"])' > counts
	echo "refill-hash 11 10 1" > want
	diff -u want counts
}

@test "--metrics writes the run's figures in Prometheus text format" {
	{ head -2 in.ndjson; echo 'not json'; echo; tail -8 in.ndjson; } > bad.ndjson
	run -0 "$B/refill-hash" -q --bad q.ndjson --stats s.json --metrics m.prom bad.ndjson
	# Times vary from run to run; every other byte is fixed by the input.
	sed -E 's/^(refill_(duration|last_run_timestamp)_seconds\{[^}]*\}) [0-9]+\.[0-9]{3}$/\1 T/' m.prom > got
	cat > want <<EOM
# HELP refill_records_in Records read, blank lines not counted.
# TYPE refill_records_in gauge
refill_records_in{program="refill-hash"} 11
# HELP refill_records_out Records read and not quarantined.
# TYPE refill_records_out gauge
refill_records_out{program="refill-hash"} 10
# HELP refill_records_quarantined Bad records written to the --bad file.
# TYPE refill_records_quarantined gauge
refill_records_quarantined{program="refill-hash"} 1
# HELP refill_blank_lines Blank lines skipped.
# TYPE refill_blank_lines gauge
refill_blank_lines{program="refill-hash"} 1
# HELP refill_input_bytes Bytes read from the inputs, as stored.
# TYPE refill_input_bytes gauge
refill_input_bytes{program="refill-hash"} $(wc -c < bad.ndjson)
# HELP refill_duration_seconds Wall-clock time of the run.
# TYPE refill_duration_seconds gauge
refill_duration_seconds{program="refill-hash"} T
# HELP refill_last_run_timestamp_seconds When the run ended, in seconds since the epoch.
# TYPE refill_last_run_timestamp_seconds gauge
refill_last_run_timestamp_seconds{program="refill-hash"} T
EOM
	diff -u want got
	# The same figures as --stats.
	python3 -c '
import json
s = json.load(open("s.json"))
print(s["records_in"], s["records_out"], s["quarantined"], s["blank"], s["bytes_in"], "%.3f" % s["seconds"])
' > sfig
	sed -nE 's/^refill_(records_in|records_out|records_quarantined|blank_lines|input_bytes|duration_seconds)\{[^}]*\} //p' m.prom | paste -sd' ' > mfig
	diff -u sfig mfig
	run -4 --separate-stderr "$B/refill-hash" --metrics /dev/full in.ndjson
	[ "$stderr" = "refill-hash: /dev/full: No space left on device" ]
}

@test "an unreadable input is status 4 even after a bad record; --bad is kept, --stats is not" {
	printf '{"a":1}\nbad\n' > b.ndjson
	run -4 --separate-stderr "$B/refill-hash" nosuch b.ndjson
	run -4 --separate-stderr "$B/refill-hash" --bad q.ndjson --stats s.json b.ndjson nosuch
	echo "$(printf '{"a":1}' | sha256sum | cut -c1-64)  1  b.ndjson" > want
	diff -u want <(echo "$output")
	echo '{"file":"b.ndjson","line":2,"reason":"invalid JSON at byte 1: expected a value","text":"bad"}' > wantq
	diff -u wantq q.ndjson
	[ ! -e s.json ]
	no_temps
}

@test "--stats on a symbolic link is status 2 before any work; /dev/stdout keeps the order" {
	echo keep > target
	ln -s target link
	run -2 --separate-stderr "$B/refill-hash" --stats link in.ndjson
	[ "$stderr" = "refill-hash: link: is a symbolic link; give the path of the file itself" ]
	[ -z "$output" ]
	[ -L link ]
	echo keep > want
	diff -u want target
	run -2 "$B/refill-hash" --metrics link in.ndjson
	run -2 "$B/refill-hash" --bad link in.ndjson
	diff -u want target
	# Redirected to a file, /dev/stdout gets the stats after the digest.
	"$B/refill-hash" --stats /dev/stdout in.ndjson > both
	"$B/refill-hash" in.ndjson > want2
	head -1 both > got2
	diff -u want2 got2
	tail -1 both | python3 -c 'import json,sys; print(json.load(sys.stdin)["records_in"])' > n
	echo 10 > want3
	diff -u want3 n
}

@test "killed by a signal: the --bad temporary is removed; an ignored HUP stays ignored" {
	python3 -c '
for i in range(30000):
    print("not json %d" % i)
' > bad.ndjson
	mkfifo fifo
	"$B/refill-hash" -q --bad q.ndjson fifo > /dev/null &
	pid=$!
	exec 7> fifo
	cat bad.ndjson >&7
	wait_for 'q.ndjson.tmp.*'
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	exec 7>&-
	[ "$st" -eq 143 ]
	[ ! -e q.ndjson ]
	no_temps
	# As under nohup: a hangup does not end the run.
	(trap '' HUP; exec "$B/refill-hash" -q --bad q.ndjson fifo > /dev/null) &
	pid=$!
	exec 7> fifo
	echo 'not json' >&7
	wait_for 'q.ndjson.tmp.*'
	kill -HUP $pid
	sleep 0.2
	kill -0 $pid
	exec 7>&-
	wait $pid
	echo '{"file":"fifo","line":1,"reason":"invalid JSON at byte 1: invalid literal","text":"not json"}' > want
	diff -u want q.ndjson
}

@test "--bad lines are JSON whatever the bytes of the file name or reason" {
	printf 'x\n' > $'f\xff.ndjson'
	python3 -c 'k = "\u65e5" * 150; print("{\"%s\":1,\"%s\":2}" % (k, k))' > dup.ndjson
	run -0 "$B/refill-hash" -q --bad q.ndjson $'f\xff.ndjson' dup.ndjson
	python3 -c '
import json
for l in open("q.ndjson", encoding="utf-8"):
    r = json.loads(l)
    print(r["file"], r["line"], r["reason"][:24], len(r["reason"]))
' > got
	printf '%s\n' "f$(printf '\xef\xbf\xbd').ndjson 1 invalid JSON at byte 1:  40" \
	    "dup.ndjson 1 duplicate key \"日日日日日日日日日 82" > want
	diff -u want got
}

@test "--max-line does not count a CR, however the line arrives" {
	printf '"12345678"\r\n' > want.ndjson
	"$B/refill-hash" want.ndjson | cut -c1-66 > want
	# The CR and the LF in two reads: the reader must wait for the LF.
	run -0 --separate-stderr sh -c '(printf "\"12345678\"\r"; sleep 0.3; printf "\n") | "$0" --max-line 10' "$B/refill-hash"
	diff -u want <(echo "$output" | cut -c1-66)
	run -3 --separate-stderr sh -c '(printf "\"123456789\"\r"; sleep 0.3; printf "\n") | "$0" --max-line 10' "$B/refill-hash"
	[ "$stderr" = "refill-hash: -:1: line longer than 10 bytes (--max-line)" ]
}

@test "gzip input, multi-member gzip, truncated and corrupt gzip" {
	gzip -c in.ndjson > in.ndjson.gz
	"$B/refill-hash" in.ndjson | cut -c1-66 > want
	"$B/refill-hash" in.ndjson.gz | cut -c1-66 > got
	diff -u want got
	{ head -3 in.ndjson | gzip -c; tail -7 in.ndjson | gzip -1 -c; } > multi.gz
	"$B/refill-hash" multi.gz | cut -c1-66 > got2
	diff -u want got2
	head -c 40 in.ndjson.gz > trunc.gz
	run -3 --separate-stderr "$B/refill-hash" trunc.gz
	[ "$stderr" = "refill-hash: trunc.gz: truncated gzip input" ]
	run -3 --separate-stderr "$B/refill-hash" "$T/vectors/gzip-samples/corrupt-gz-file.bin"
	[[ "$stderr" == "refill-hash: $T/vectors/gzip-samples/corrupt-gz-file.bin: corrupt gzip input: invalid distance too far back" ]]
	{ cat in.ndjson.gz; printf 'junk'; } > junk.gz
	run -3 --separate-stderr "$B/refill-hash" junk.gz
	[ "$stderr" = "refill-hash: junk.gz: trailing garbage after gzip data" ]
}

@test "a 20 MB record; --max-line below it is status 3 even with --bad" {
	python3 -c 'import json; print(json.dumps({"id": 1, "blob": "x" * 20000000}))' > big.ndjson
	cat in.ndjson >> big.ndjson
	$REF dataset big.ndjson > want
	"$B/refill-hash" big.ndjson > got
	diff -u want got
	run -3 --separate-stderr "$B/refill-hash" --max-line 1M --bad q.json big.ndjson
	[ "$stderr" = "refill-hash: big.ndjson:1: line longer than 1048576 bytes (--max-line)" ]
	[ ! -e q.json ]
}

@test "a missing file or a directory is status 4; other files still hashed" {
	run -4 --separate-stderr "$B/refill-hash" nosuch.ndjson in.ndjson
	[ "$stderr" = "refill-hash: nosuch.ndjson: No such file or directory" ]
	[ "${#lines[@]}" -eq 1 ]
	mkdir d
	run -4 --separate-stderr "$B/refill-hash" d
	[ "$stderr" = "refill-hash: d: Is a directory" ]
}

@test "writing to /dev/full is status 4" {
	run -4 --separate-stderr sh -c '"$0" -r "$1" > /dev/full' "$B/refill-hash" in.ndjson
	[[ "$stderr" == "refill-hash: stdout: No space left on device" ]]
	run -4 --separate-stderr "$B/refill-hash" --stats /dev/full in.ndjson
	[ "$stderr" = "refill-hash: /dev/full: No space left on device" ]
}

@test "--check verifies its own output" {
	head -4 in.ndjson > a.ndjson
	tail -6 in.ndjson > b.ndjson
	"$B/refill-hash" -t a.ndjson b.ndjson > SUMS
	run -0 --separate-stderr "$B/refill-hash" --check SUMS
	printf 'a.ndjson: OK\nb.ndjson: OK\ntotal: OK\n' > want
	echo "$output" > got
	diff -u want got
	# A changed record fails the check with status 1.
	sed -i 's/"n":9/"n":99/' b.ndjson
	run -1 --separate-stderr "$B/refill-hash" -c SUMS
	printf 'a.ndjson: OK\nb.ndjson: FAILED\ntotal: FAILED\n' > want
	echo "$output" > got
	diff -u want got
	[ "$stderr" = "refill-hash: WARNING: 2 computed digests did NOT match" ]
}

@test "--check: a reordered file still matches; malformed line 3; missing file 4" {
	"$B/refill-hash" in.ndjson > SUMS
	tac in.ndjson > rev.ndjson
	sed 's/in.ndjson$/rev.ndjson/' SUMS > SUMS2
	run -0 "$B/refill-hash" -c SUMS2
	[ "$output" = "rev.ndjson: OK" ]
	{ cat SUMS; echo "xyz  1  in.ndjson"; } > SUMS3
	run -3 --separate-stderr "$B/refill-hash" -c SUMS3
	[ "$output" = "in.ndjson: OK" ]
	printf 'refill-hash: SUMS3:2: malformed line\nrefill-hash: WARNING: 1 line is improperly formatted\n' > want
	diff -u want <(echo "$stderr")
	{ sed 's/in.ndjson$/gone.ndjson/' SUMS; cat SUMS; } > SUMS4
	run -4 --separate-stderr "$B/refill-hash" -c SUMS4
	printf 'gone.ndjson: FAILED open or read\nin.ndjson: OK\n' > want
	echo "$output" > got
	diff -u want got
	printf 'refill-hash: gone.ndjson: No such file or directory\nrefill-hash: WARNING: 1 listed file could not be read\n' > want
	diff -u want <(echo "$stderr")
	# Every kind at once: the most serious status wins.
	{ cat SUMS4; echo junk; sed 's/  10  /  11  /' SUMS; } > SUMS5
	run -4 --separate-stderr "$B/refill-hash" -c SUMS5
	printf 'gone.ndjson: FAILED open or read\nin.ndjson: OK\nin.ndjson: FAILED\n' > want
	diff -u want <(echo "$output")
	printf '%s\n' 'refill-hash: gone.ndjson: No such file or directory' \
	    'refill-hash: SUMS5:3: malformed line' \
	    'refill-hash: WARNING: 1 line is improperly formatted' \
	    'refill-hash: WARNING: 1 listed file could not be read' \
	    'refill-hash: WARNING: 1 computed digest did NOT match' > want
	diff -u want <(echo "$stderr")
	echo junk > SUMS6
	run -3 --separate-stderr "$B/refill-hash" -c SUMS6
	printf 'refill-hash: SUMS6:1: malformed line\nrefill-hash: SUMS6: no properly formatted lines found\n' > want
	diff -u want <(echo "$stderr")
}

@test "--progress draws on stderr; --help, --version, bad options" {
	for i in $(seq 3000); do cat in.ndjson; done > many.ndjson
	run -0 --separate-stderr "$B/refill-hash" --progress many.ndjson
	[[ "$stderr" == *"refill-hash: "*" records, "* ]]
	run -0 --separate-stderr "$B/refill-hash" -q many.ndjson
	[ -z "$stderr" ]
	run -0 "$B/refill-hash" --help
	[[ "${lines[0]}" == "usage: refill-hash [-Cqrt] [--bad file] [-c file] [-k path] [--max-line size]" ]]
	run -0 "$B/refill-hash" -V
	[ "$output" = "refill-hash 0.1.0" ]
	run -2 "$B/refill-hash" --nosuch
	run -2 "$B/refill-hash" -r -C in.ndjson
	run -2 "$B/refill-hash" -c SUMS in.ndjson
	run -2 --separate-stderr "$B/refill-hash" --max-line 12x in.ndjson
	[ "$stderr" = "refill-hash: --max-line: invalid size: 12x" ]
	run -2 --separate-stderr "$B/refill-hash" -k 'a..b' in.ndjson
	[ "$stderr" = "refill-hash: --key: empty segment in field path 'a..b'" ]
}
