#!/usr/bin/env bats
# Observability in every program: progress on a terminal, --stats (JSON)
# and --metrics (Prometheus text format), the same figures in both.

load helpers

P=$T/promparse.py

# Checks a run's --stats ($1) and --metrics ($2): one JSON object, the
# exposition format read strictly, the same figures and labels in both.
# Prints the figures, "name value" a line, the duration as "ok".
figures() {
	python3 "$P" "$2" "$1"
}

# Runs a command under a pseudo-terminal, so that its standard error is
# one; what it writes to standard output goes to ./out.  The terminal's
# bytes (CR LF for LF) are in $output.
tty_run() {
	run script -qec "$1 > out" /dev/null < /dev/null
}

# A signed dataset ds of in.ndjson in eight partitions, two of them empty.
mkds() {
	"$B/refill-commit" keygen k > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 8 -o stage in.ndjson
	"$B/refill-commit" -q -k k -m one ds stage > /dev/null
}

@test "promparse.py: what the exposition format allows, and what it does not" {
	cat > good.prom <<'EOM'
# HELP a_total A help with \\ and \n escaped.
# TYPE a_total counter
a_total{x="q\"uote\\ \n",y="2",} 1.5e3 1700000000000
a_total 0
# TYPE b:c gauge
# HELP b:c B.
b:c -Inf
EOM
	python3 "$P" good.prom
	bad() {
		printf "$1" > bad.prom
		run -1 --separate-stderr python3 "$P" bad.prom
		[ "$stderr" = "promparse: $2" ]
	}
	bad '# HELP a A.\n# TYPE a gauge\na 1' 'the file does not end in a newline'
	bad 'a 1\n' 'line 1: a: a sample without # HELP and # TYPE just before'
	bad '# HELP a A.\na 1\n' 'line 2: a: a sample before its # HELP and # TYPE'
	bad '# HELP 1a A.\n' "line 1: bad metric name '1a'"
	bad '# HELP a A.\n# TYPE a gauge\na{x="\\q"} 1\n' "line 3: bad escape in label value: '\\\\q'"
	bad '# HELP a A.\n# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n' "line 4: a{'x': '1'}: the same series twice"
	bad '# HELP a A.\n# TYPE a gauge\na{x="1",x="2"} 1\n' 'line 3: label x twice'
	bad '# HELP a A.\n# TYPE a gauge\na{__x="1"} 1\n' 'line 3: reserved label name __x'
	bad '# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n' 'line 7: a: # HELP after its samples, or the family split'
	bad '# HELP a A.\n# TYPE a gauge\na one\n' "line 3: not a float: 'one'"
	bad '# HELP a A.\n# TYPE a gauge\na  1\n' 'line 3: expected one space before the value'
	bad '# HELP a A.\n# TYPE a gauge\na 1 2.5\n' "line 3: bad timestamp '2.5'"
	bad '# HELP a A.\n# TYPE a meter\n' "line 2: a: unknown type 'meter'"
	bad '# HELP a A.\n# TYPE a gauge\n\na 1\n' 'line 3: empty line'
	bad '# HELP a A.\n# TYPE a gauge\n' 'a: HELP or TYPE without a sample'
	bad '' 'empty file'
}

@test "refill-hash: the figures, the same in --stats and --metrics" {
	{ head -2 in.ndjson; echo 'not json'; echo; tail -8 in.ndjson; } > bad.ndjson
	run -0 --separate-stderr "$B/refill-hash" -q --bad q.ndjson --stats s.json --metrics m.prom bad.ndjson
	figures s.json m.prom > got
	cat > want <<EOF
program refill-hash
records_in 11
records_out 10
quarantined 1
blank 1
bytes_in $(wc -c < bad.ndjson)
seconds ok
EOF
	diff -u want got
}

@test "refill-split: partitions" {
	run -0 "$B/refill-split" -q -k user_id -n 3 -o out --stats s.json --metrics m.prom in.ndjson
	figures s.json m.prom > got
	cat > want <<EOF
program refill-split
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $(wc -c < in.ndjson)
seconds ok
partitions 3
EOF
	diff -u want got
}

@test "refill-transform: a run, one up to date, parallel jobs, a cache hit, a check" {
	n=$(wc -c < in.ndjson)
	tr=("$B/refill-transform" -q -n t -v 1 -i in.ndjson --stats s.json --metrics m.prom)
	want() {
		printf '%s\n' "program refill-transform" "records_in $1" \
		    "records_out $1" "quarantined 0" "blank 0" "bytes_in $2" \
		    "seconds ok" "up_to_date $3" "cache_hit $4" "command_runs $5" > want
	}
	run -0 "${tr[@]}" -o a.ndjson -- cat
	figures s.json m.prom > got
	want 10 "$n" 0 0 1
	diff -u want got
	# Up to date: nothing ran, and the figures say so; --bad is left alone.
	echo keep > q.ndjson
	run -0 --separate-stderr "${tr[@]}" --bad q.ndjson -o a.ndjson -- cat
	figures s.json m.prom > got
	want 0 0 1 0 0
	diff -u want got
	[ "$(cat q.ndjson)" = keep ]
	run -0 "${tr[@]}" -j 3 -k user_id --cache cache -o b.ndjson -- cat
	figures s.json m.prom > got
	want 10 "$n" 0 0 3
	diff -u want got
	run -0 "${tr[@]}" -j 3 -k user_id --cache cache -o c.ndjson -- cat
	figures s.json m.prom > got
	want 10 "$n" 0 1 0
	diff -u want got
	run -0 "${tr[@]}" --check-determinism=3 -o d.ndjson -- cat
	figures s.json m.prom > got
	want 10 "$n" 0 0 3
	diff -u want got
}

@test "refill-replay: records read and written, bytes, files, version" {
	mkds
	run -0 --separate-stderr "$B/refill-replay" --stats s.json --metrics m.prom ds
	[ "$stderr" = "refill-replay: ds@000001: 10 of 10 records" ]
	figures s.json m.prom > got
	cat > want <<EOF
program refill-replay
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $(cat stage/*.ndjson | wc -c)
seconds ok
files_read 8
dataset_version 1
EOF
	diff -u want got
	# A selection: out is what it let through; -o publishes all three.
	run -0 "$B/refill-replay" -q --files 'part-0000[0-3]*' --sample 0 -k user_id \
	    -o o.ndjson --stats s.json --metrics m.prom ds@1
	figures s.json m.prom > got
	cat > want <<EOF
program refill-replay
records_in $(cat stage/part-0000[0-3].ndjson | wc -l)
records_out 0
quarantined 0
blank 0
bytes_in $(cat stage/part-0000[0-3].ndjson | wc -c)
seconds ok
files_read 4
dataset_version 1
EOF
	diff -u want got
	[ -e o.ndjson ] && [ -e o.ndjson.prov ]
	# --merge-by reads the files at once: the same counts.
	run -0 "$B/refill-replay" -q --merge-by user_id --files 'part-0000[13]*' \
	    --stats s.json --metrics m.prom ds
	figures s.json m.prom > got
	sed -n 2,3p got > counts
	n=$(cat stage/part-0000[13].ndjson | wc -l)
	printf '%s\n' "records_in $n" "records_out $n" > want
	diff -u want counts
}

@test "refill-commit: a commit, one with -u, publish, rollback and gc" {
	mkds
	"$B/refill-commit" -q -k k --stats s.json --metrics m.prom -m two ds stage > /dev/null
	figures s.json m.prom > got
	# Two of the eight partitions are empty: one content, stored once.
	[ "$(find stage -name '*.ndjson' -empty | wc -l)" -eq 2 ]
	cat > want <<EOF
program refill-commit
command commit
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $(cat stage/*.ndjson | wc -c)
seconds ok
files_committed 8
files_reused 8
files_inherited 0
dataset_version 2
version_records 10
EOF
	diff -u want got
	mkdir part
	echo '{"user_id":"u11"}' > part/part-00007.ndjson
	echo '{"user_id":"u12"}' > part/new.ndjson
	"$B/refill-commit" -q -k k -u --stats s.json --metrics m.prom -m three ds part > /dev/null
	figures s.json m.prom > got
	cat > want <<EOF
program refill-commit
command commit
records_in 2
records_out 2
quarantined 0
blank 0
bytes_in $(cat part/* | wc -c)
seconds ok
files_committed 2
files_reused 0
files_inherited 7
dataset_version 3
version_records $((10 - 3 + 2))
EOF
	diff -u want got
	want() {
		printf '%s\n' "program refill-commit" "command $1" "records_in 0" \
		    "records_out 0" "quarantined 0" "blank 0" "bytes_in 0" \
		    "seconds ok" > want
		shift
		printf '%s\n' "$@" >> want
	}
	"$B/refill-commit" rollback -q -k k --stats s.json --metrics m.prom ds 1 > /dev/null
	figures s.json m.prom > got
	want rollback "dataset_version 1" "previous_version 3"
	diff -u want got
	"$B/refill-commit" publish -q -k k --stats s.json --metrics m.prom ds 3 > /dev/null
	figures s.json m.prom > got
	want publish "dataset_version 3" "previous_version 1"
	diff -u want got
	# Current already: no change, and the figures all the same.
	"$B/refill-commit" publish -q -k k --stats s.json --metrics m.prom ds 3 > /dev/null
	figures s.json m.prom > got
	want publish "dataset_version 3" "previous_version 3"
	diff -u want got
	"$B/refill-commit" gc -q -k k --keep 0 --stats s.json --metrics m.prom ds
	figures s.json m.prom > got
	# Version 2 goes (current 3, previous 1 stay); its objects are 1's.
	want gc "versions_removed 1" "objects_removed 0"
	diff -u want got
}

@test "refill-lineage: stamps read, files known, files listed" {
	mkds
	n=$(cat stage/*.prov | wc -c)
	want() {
		printf '%s\n' "program refill-lineage" "command $1" "records_in $2" \
		    "records_out $2" "quarantined 0" "blank 0" "bytes_in $3" \
		    "seconds ok" "stamps_read $2" "files_known 9" "files_listed $4" > want
	}
	run -0 "$B/refill-lineage" impact -i in.ndjson --stats s.json --metrics m.prom stage
	[ "${#lines[@]}" -eq 8 ]
	figures s.json m.prom > got
	want impact 8 "$n" 8
	diff -u want got
	# The stamp beside the file is read, then again in the walk.
	run -0 "$B/refill-lineage" show --stats s.json --metrics m.prom stage/part-00007.ndjson stage
	figures s.json m.prom > got
	want show 9 $((n + $(wc -c < stage/part-00007.ndjson.prov))) 2
	diff -u want got
	# From a dataset, a stamp's bytes are its line of the MANIFEST.
	run -0 "$B/refill-lineage" uses -f json --stats s.json --metrics m.prom in.ndjson ds
	[ "${#lines[@]}" -eq 9 ]
	figures s.json m.prom > got
	want uses 8 $((n - 8)) 9
	diff -u want got
	# No stamp made it: status 1, and the figures still.
	run -1 "$B/refill-lineage" show --stats s.json --metrics m.prom in.ndjson stage
	figures s.json m.prom > got
	want show 8 "$n" 0
	diff -u want got
}

@test "refill-verify diff and drift: their counts, written with status 1 too" {
	printf '%s\n' '{"id":1,"g":"a","v":1}' '{"id":2,"g":"a","v":2}' \
	    '{"id":3,"g":"b","v":3}' '{"id":4,"g":"b","v":4}' > old.ndjson
	printf '%s\n' '{"id":1,"g":"a","v":1}' '{"id":2,"g":"a","v":2.001}' \
	    '{"id":3,"g":"b","v":30}' '{"id":5,"g":"c","v":5}' \
	    '{"id":6,"g":"c","v":6}' '{"id":6,"g":"c","v":7}' > new.ndjson
	n=$(cat old.ndjson new.ndjson | wc -c)
	run -1 "$B/refill-verify" diff -k id --abs-tol 0.01 --stats s.json --metrics m.prom old.ndjson new.ndjson
	figures s.json m.prom > got
	cat > want <<EOF
program refill-verify
command diff
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $n
seconds ok
unchanged 1
tolerated 1
changed 1
added 1
removed 1
duplicate_keys 1
EOF
	diff -u want got
	run -1 "$B/refill-verify" drift --by g --sum v --max-change 10% --stats s.json --metrics m.prom old.ndjson new.ndjson
	figures s.json m.prom > got
	cat > want <<EOF
program refill-verify
command drift
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $n
seconds ok
groups 3
groups_flagged 2
groups_appeared 1
groups_vanished 0
groups_grew 0
groups_shrank 1
groups_sum_changed 0
EOF
	diff -u want got
	# A total that moved past the limit, and a group gone.
	run -1 "$B/refill-verify" drift --by g --sum v --max-change 0.01% --stats s.json --metrics m.prom new.ndjson old.ndjson
	figures s.json m.prom > got
	printf '%s\n' "groups 3" "groups_flagged 3" "groups_appeared 0" \
	    "groups_vanished 1" "groups_grew 1" "groups_shrank 0" \
	    "groups_sum_changed 1" > want
	tail -7 got > counts
	diff -u want counts
}

@test "refill-verify rules: the rules and those broken" {
	printf '%s\n' 'required user_id' 'type n integer' 'unique user_id' > r.rules
	run -1 "$B/refill-verify" rules -q --stats s.json --metrics m.prom r.rules in.ndjson
	figures s.json m.prom > got
	cat > want <<EOF
program refill-verify
command rules
records_in 10
records_out 10
quarantined 0
blank 0
bytes_in $(wc -c < in.ndjson)
seconds ok
rules 3
rules_broken 1
spilled_bytes 0
EOF
	diff -u want got
}

@test "refill-verify dataset: versions, files and problems, written with status 1 too" {
	mkds
	want() {
		printf '%s\n' "program refill-verify" "command dataset" \
		    "records_in $1" "records_out $1" "quarantined 0" "blank 0" \
		    "bytes_in $2" "seconds ok" "versions_checked $3" \
		    "files_checked $4" "problems $5" > want
	}
	n=$(cat stage/*.ndjson | wc -c)
	run -0 "$B/refill-verify" dataset -q --stats s.json --metrics m.prom ds
	figures s.json m.prom > got
	want 10 "$n" 1 8 0
	diff -u want got
	"$B/refill-commit" -q -k k -m two ds stage > /dev/null
	run -0 "$B/refill-verify" dataset -q --all --stats s.json --metrics m.prom ds
	figures s.json m.prom > got
	want 20 $((2 * n)) 2 16 0
	diff -u want got
	# A damaged file: a problem, status 1, and the figures.
	f=ds/versions/000002/part-00007.ndjson
	chmod u+w ds/versions/000002 $f
	printf ' ' >> $f
	run -1 "$B/refill-verify" dataset -q --stats s.json --metrics m.prom ds
	figures s.json m.prom > got
	want 10 $((n + 1)) 1 8 1
	diff -u want got
}

@test "every program's metrics, read together, suit one textfile collector" {
	mkds
	mkdir prom
	"$B/refill-hash" -q --metrics prom/hash.prom in.ndjson > /dev/null
	"$B/refill-split" -q -k user_id -n 2 -o out --metrics prom/split.prom in.ndjson
	"$B/refill-transform" -q -n t -v 1 -i in.ndjson --metrics prom/transform.prom -- cat > /dev/null
	"$B/refill-replay" -q --metrics prom/replay.prom ds > /dev/null
	"$B/refill-commit" -q -k k --metrics prom/commit.prom -m two ds stage > /dev/null
	"$B/refill-commit" publish -q -k k --metrics prom/publish.prom ds 1 > /dev/null
	"$B/refill-commit" gc -q -k k --keep 5 --metrics prom/gc.prom ds
	"$B/refill-lineage" impact -i in.ndjson --metrics prom/lineage.prom stage > /dev/null
	printf '%s\n' 'required user_id' > r.rules
	"$B/refill-verify" rules -q --metrics prom/rules.prom r.rules in.ndjson
	"$B/refill-verify" diff -q -k user_id --metrics prom/diff.prom in.ndjson in.ndjson > /dev/null || true
	"$B/refill-verify" drift -q --by user_id --max-change 0% --metrics prom/drift.prom in.ndjson in.ndjson > /dev/null
	"$B/refill-verify" dataset -q --metrics prom/dataset.prom ds
	[ "$(ls prom | wc -l)" -eq 12 ]
	python3 "$P" --collect prom/*.prom
	# Two runs of one command do not: that is the collector's rule.
	cp prom/hash.prom prom/hash2.prom
	run -1 --separate-stderr python3 "$P" --collect prom/*.prom
	[[ "$stderr" == *"refill_records_in{'program': 'refill-hash'}: in prom/hash.prom and prom/hash2.prom" ]]
}

@test "progress under a terminal: shown by default, not with -q; ETA for a file, not a pipe" {
	# A slow run (a loaded machine, valgrind) draws the line more than
	# once before the last: the patterns allow for it.
	mkds
	for p in "$B/refill-hash in.ndjson" "$B/refill-split -k user_id -n 2 -o o1 in.ndjson"; do
		tty_run "$p"
		[ "$status" -eq 0 ]
		[[ "$output" == $'\r'"refill-"*": 10 records, $(wc -c < in.ndjson)B, "*"B/s, ETA 0:00:00"$'\e[K\r' ]]
		rm -rf o1
		tty_run "$p -q"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
		rm -rf o1
	done
	# From a pipe the size is not known: no time left.
	tty_run "cat in.ndjson | $B/refill-hash"
	[ "$status" -eq 0 ]
	[[ "$output" == $'\r'"refill-hash: "*"10 records, "* ]]
	[[ "$output" != *ETA* ]]
	# Nor when one of the inputs is a pipe.
	tty_run "cat in.ndjson | $B/refill-hash in.ndjson -"
	[[ "$output" == *"20 records"* && "$output" != *ETA* ]]
	tty_run "$B/refill-replay ds"
	[ "$status" -eq 0 ]
	[[ "$output" == $'\r'"refill-replay: "*"10 records, $(cat stage/*.ndjson | wc -c)B, "*"ETA 0:00:00"$'\e[K\r\n'"refill-replay: ds@000001: 10 of 10 records"$'\r' ]]
	tty_run "$B/refill-replay -q ds"
	[ -z "$output" ]
	tty_run "$B/refill-commit -k k -m two ds stage"
	[ "$status" -eq 0 ]
	[[ "$output" == $'\r'"refill-commit: "*"10 records, $(cat stage/*.ndjson | wc -c)B, "*"ETA 0:00:00"$'\e[K\r\n'"refill-commit: ds: version 000002 committed and current: 8 files, 10 records"$'\r' ]]
	tty_run "$B/refill-commit -q -k k -m three ds stage"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(cat out)" = 000003 ]
	# Of -q and --progress, the last one wins; -q keeps commit's summary off.
	tty_run "$B/refill-commit -q --progress -k k -m four ds stage"
	[[ "$output" == $'\r'"refill-commit: "*"10 records, "*$'\e[K\r' ]]
	tty_run "$B/refill-hash --progress -q in.ndjson"
	[ -z "$output" ]
	# The others too.
	tty_run "$B/refill-lineage impact -i in.ndjson stage"
	[[ "$output" == $'\r'"refill-lineage: "*"8 records, "*"B/s"$'\e[K\r' ]]
	tty_run "$B/refill-verify dataset ds"
	[[ "$output" == $'\r'"refill-verify: "*"10 records, "*"ETA 0:00:00"$'\e[K\r' ]]
	tty_run "$B/refill-verify dataset --all ds"
	[[ "$output" == $'\r'"refill-verify: "*"40 records, "* && "$output" != *ETA* ]]
	# Writers that read no records show none.
	tty_run "$B/refill-commit publish -k k ds 1"
	[ "$output" = "refill-commit: ds: current is version 000001 (was 000004)"$'\r' ]
}

@test "progress without a terminal: none unless --progress" {
	mkds
	for p in "refill-hash in.ndjson" "refill-split -k user_id -n 2 -o o1 in.ndjson" \
	    "refill-replay -q ds" "refill-commit -q -k k -m two ds stage"; do
		run -0 --separate-stderr $B/$p
		[ -z "$stderr" ]
		rm -rf o1
		run -0 --separate-stderr $B/$p --progress
		# (replay's summary follows: the last of -q and --progress wins.)
		[[ "$stderr" == $'\r'"refill-"*": 10 records, "*"ETA 0:00:00"$'\e[K'* ]]
		rm -rf o1
	done
}

@test "--metrics on /dev/full: status 4, and nothing half-written" {
	mkds
	run -4 --separate-stderr "$B/refill-replay" -o o.ndjson --stats s.json --metrics /dev/full ds
	[ "$stderr" = "refill-replay: /dev/full: No space left on device" ]
	[ ! -e o.ndjson ] && [ ! -e o.ndjson.prov ] && [ ! -e s.json ]
	run -4 --separate-stderr "$B/refill-replay" --stats s.json --metrics /dev/full ds
	[ "$stderr" = "refill-replay: /dev/full: No space left on device" ]
	[ ! -e s.json ]
	# The commit stops before its log line: no version 2.
	run -4 --separate-stderr "$B/refill-commit" -q -k k --stats s.json --metrics /dev/full -m two ds stage
	[ "$stderr" = "refill-commit: /dev/full: No space left on device" ]
	[ -z "$output" ] && [ ! -e s.json ]
	[ "$(ls ds/versions)" = 000001 ]
	[ "$(readlink ds/current)" = versions/000001 ]
	run -0 "$B/refill-commit" log ds
	[ "${#lines[@]}" -eq 1 ]
	"$B/refill-commit" -q -k k -m two ds stage > /dev/null
	run -4 --separate-stderr "$B/refill-commit" rollback -q -k k --stats s.json --metrics /dev/full ds
	[ "$stderr" = "refill-commit: /dev/full: No space left on device" ]
	[ "$(readlink ds/current)" = versions/000002 ]
	run -0 "$B/refill-commit" log ds
	[ "${#lines[@]}" -eq 2 ]
	[ ! -e s.json ]
	run -4 --separate-stderr "$B/refill-lineage" impact -i in.ndjson --stats s.json --metrics /dev/full stage
	[ "$stderr" = "refill-lineage: /dev/full: No space left on device" ]
	[ ! -e s.json ]
	run -4 --separate-stderr "$B/refill-verify" dataset --stats s.json --metrics /dev/full ds
	[ "$stderr" = "refill-verify: /dev/full: No space left on device" ]
	[ ! -e s.json ]
	run -4 --separate-stderr "$B/refill-transform" -n t -v 1 -i in.ndjson -o t.ndjson --stats s.json --metrics /dev/full -- cat
	[ "$stderr" = "refill-transform: /dev/full: No space left on device" ]
	[ ! -e t.ndjson ] && [ ! -e t.ndjson.prov ] && [ ! -e s.json ]
	no_temps
	run -0 "$B/refill-verify" dataset -q --all ds
}

@test "--stats, --metrics and --progress where they do not apply are usage errors" {
	mkds
	run -2 --separate-stderr "$B/refill-commit" log --stats s.json ds
	[ "${stderr%%$'\n'*}" = "refill-commit: --stats and --metrics apply to commit, publish, rollback and gc" ]
	run -2 "$B/refill-commit" show --metrics m.prom ds
	run -2 "$B/refill-commit" keygen --stats s.json k2
	[ ! -e k2 ]
	run -2 --separate-stderr "$B/refill-commit" gc --progress -k k --keep 1 ds
	[ "${stderr%%$'\n'*}" = "refill-commit: --progress applies to a commit only" ]
	# A --stats that cannot be made is refused before any work.
	ln -s nowhere link
	run -2 --separate-stderr "$B/refill-replay" --stats link ds
	[ "$stderr" = "refill-replay: link: is a symbolic link; give the path of the file itself" ]
	[ -z "$output" ]
	run -2 "$B/refill-commit" -q -k k --metrics link -m two ds stage
	[ "$(ls ds/versions)" = 000001 ]
	run -2 "$B/refill-lineage" show --stats link stage/part-00001.ndjson stage
	run -2 "$B/refill-verify" dataset --metrics link ds
	[ -L link ]
}
