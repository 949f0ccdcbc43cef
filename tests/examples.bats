#!/usr/bin/env bats
# examples/: the Makefile template, interrupted and resumed; the GNU
# parallel script, here and across stand-in hosts; the Slurm scripts under
# a stand-in sbatch.  Each must make the dataset digest a plain make does.

load helpers

E="$T/../examples"

# Six days of orders, split by day and committed as the dataset raw.
source_dataset() {
	python3 "$E/demo/gen.py" 6 50 > orders.ndjson
	"$B/refill-commit" keygen refill.key > /dev/null 2>&1
	"$B/refill-split" -q -T ts -w day -o raw-stage orders.ndjson
	"$B/refill-commit" -q -k refill.key -m orders raw raw-stage > /dev/null
	cat > enrich.jq <<'EOJ'
def rate: {"EUR": 1, "GBP": 1.17, "USD": 0.92}[.currency];
.amount_eur = (.amount * rate * 100 | round / 100)
EOJ
}

# The dataset digest of the partitions in a directory: the last line of
# refill-hash --total, without the word "total".
digest() {
	run -0 "$B/refill-hash" --total "$1"/*.ndjson
	printf '%s\n' "${lines[-1]% *}"
}

# As a user runs it, not as a sub-make of `make check': make[1] would say
# so in its messages.
tmake() {
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -f "$E/backfill/Makefile" \
	    REFILL="$B/" "$@"
}

@test "backfill Makefile: make -j2 stamps every partition, then has nothing to do; candidate, verify, publish" {
	source_dataset
	run -0 tmake -j2
	ls stage > got
	for d in 01 02 03 04 05 06; do
		printf '%s\n' 2025-07-$d.ndjson 2025-07-$d.ndjson.prov
	done > want
	diff -u want got
	run -0 jq -r '"\(.transform.name)@\(.transform.version) \(.inputs[0].path)"' \
	    stage/2025-07-04.ndjson.prov
	[ "$output" = "enrich@1 raw/versions/000001/2025-07-04.ndjson" ]
	run -0 tmake -j2
	[ "$output" = "make: Nothing to be done for 'all'." ]
	# The first version: no current version to diff against, only rules.
	printf 'required order_id\nunique order_id\nmin amount_eur 0\n' > rules.json
	run -0 tmake publish
	[ "$(cat derived.verified)" = 000001 ]
	[ "$(readlink derived/current)" = versions/000001 ]
	[ ! -e derived.diff.json ]
	run -0 jq -c '[.rules, .rules_broken, .records_in]' derived.rules.json
	[ "$output" = "[3,0,300]" ]

	# Version 2 changes every pound amount, a third of the records: the
	# diff gate refuses it at --max-changed 10%, and nothing is published.
	sed -i 's/"GBP": 1.17/"GBP": 1.2/' enrich.jq
	# A bad question removes nothing; the right one removes all six.
	run -2 tmake invalidate WHAT=--no-such-option
	run -0 find stage -name '*.ndjson'
	[ "${#lines[@]}" -eq 6 ]
	run -0 tmake invalidate WHAT='-T enrich@1'
	run -0 find stage -type f
	[ "$output" = "" ]
	run -0 tmake -j2 VERSION=2
	run -2 tmake VERSION=2 MAX_CHANGED=10% publish
	[[ "$output" == *$'\n'"refill-verify: changed: "*" is more than --max-changed 10%"$'\n'* ]]
	[ "$(readlink derived/current)" = versions/000001 ]
	[ "$(cat derived.verified)" = 000001 ]
	run -0 tmake VERSION=2 MAX_CHANGED=50% publish
	[ "$(readlink derived/current)" = versions/000002 ]
	# Published once: again, make has nothing to do and logs nothing.
	run -0 tmake VERSION=2 MAX_CHANGED=50% publish
	[ "$output" = "make: Nothing to be done for 'publish'." ]
	jq -r '"\(.event) \(.version)"' derived/log > got
	printf '%s\n' "commit 1" "publish 1" "commit 2" "publish 2" > want
	diff -u want got
	run -0 jq -c '[.added, .removed, .changed > 0]' derived.diff.json
	[ "$output" = "[0,0,true]" ]
}

@test "backfill Makefile: killed in the middle, rerun, it makes only what was missing and the same digest" {
	source_dataset
	tmake -s STAGE=serial > /dev/null
	want=$(digest serial)
	# A command that logs each start and, on the 4th, waits to be killed.
	cat > slow.sh <<'EOS'
echo "$REFILL_PARTITION" >> starts
if [ "$REFILL_PARTITION" = 2025-07-04 ] && [ ! -e resumed ]; then
	: > reached
	sleep 60
fi
exec jq -c -f enrich.jq
EOS
	setsid env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -f "$E/backfill/Makefile" \
	    REFILL="$B/" COMMAND="sh slow.sh" > make1.log 2>&1 &
	pid=$!
	for i in $(seq 200); do [ -e reached ] && break; sleep 0.05; done
	[ -e reached ]
	kill -TERM -- -"$pid"
	st=0
	wait "$pid" || st=$?
	# The whole group gets the signal: make dies of it (143), or, when
	# its recipe's death reaches it first, says the recipe failed (2).
	# What make said, shown if this fails.
	echo "make: status $st"
	cat make1.log
	[ "$st" -eq 143 ] || [ "$st" -eq 2 ]
	# Whole partitions or none: no output, stamp or temporary for the 4th.
	# Those started before it are there, whole.
	ls -A stage > got
	grep -vx 2025-07-04 starts | sort |
	    while read -r p; do printf '%s\n' $p.ndjson $p.ndjson.prov; done > want
	[ -s want ]
	diff -u want got

	: > resumed
	run -0 tmake COMMAND="sh slow.sh"
	[ "$(digest stage)" = "$want" ]
	# Each partition started once, the killed one twice.
	sort starts > got
	printf '%s\n' 2025-07-01 2025-07-02 2025-07-03 2025-07-04 2025-07-04 \
	    2025-07-05 2025-07-06 > want
	diff -u want got
}

@test "GNU parallel: -j2 here and two stand-in hosts over ssh give make's digest; a failure stops it" {
	source_dataset
	tmake -s STAGE=serial > /dev/null
	want=$(digest serial)
	run -0 env REFILL="$B/" STAGE=here JOBS=2 sh "$E/parallel/backfill.sh"
	[ "$(digest here)" = "$want" ]
	for f in serial/*.prov; do
		[ "$(jq -r .transform.id "$f")" = "$(jq -r .transform.id "here/${f#*/}")" ]
	done

	# Two hosts that share nothing with this directory: each partition
	# and the script must be sent, and the output and stamp sent back.
	cat > where.sh <<'EOS'
printf '%s %s\n' "$REFILL_PARTITION" "${PWD##*/}" >> "$WHERE_LOG"
exec jq -c -f enrich.jq
EOS
	run -0 env PATH="$B:$PATH" PARALLEL_SSH="$E/parallel/fake-ssh" \
	    FAKE_SSH_ROOT="$PWD/hosts" WHERE_LOG="$PWD/where.log" \
	    SSHLOGIN=1/h1,1/h2 STAGE=away COMMAND="sh where.sh" \
	    BASEFILES="enrich.jq where.sh" sh "$E/parallel/backfill.sh"
	# What parallel said, shown if a check below fails.
	printf '%s\n' "$output"
	ls away > got
	ls serial > want
	diff -u want got
	for f in serial/*.ndjson; do
		cmp "$f" "away/${f#*/}"
	done
	[ "$(digest away)" = "$want" ]
	# Every partition ran on h1 or h2, and both were used.
	cut -d ' ' -f 1 where.log | sort > got
	ls serial | sed -n 's/\.ndjson$//p' > want
	diff -u want got
	cut -d ' ' -f 2 where.log | sort -u > got
	printf '%s\n' h1 h2 > want
	diff -u want got
	# --cleanup left no partition or output on the hosts.
	run -0 find hosts -name '*.ndjson*'
	[ "$output" = "" ]

	# A partition the command fails on: the run stops with the failed job's
	# status, refill-transform's 4, and that partition has no output here.
	printf '%s\n' 'case $REFILL_PARTITION in *-03) exit 7;; esac' \
	    'exec jq -c -f enrich.jq' > fail3.sh
	run -4 env PATH="$B:$PATH" PARALLEL_SSH="$E/parallel/fake-ssh" \
	    FAKE_SSH_ROOT="$PWD/hosts" SSHLOGIN=1/h1 STAGE=broken \
	    COMMAND="sh fail3.sh" BASEFILES="enrich.jq fail3.sh" \
	    sh "$E/parallel/backfill.sh"
	[ ! -e broken/2025-07-03.ndjson ]
	[ ! -e broken/2025-07-03.ndjson.prov ]

	# The connection drops as one partition's output is brought back:
	# parallel still counts the job by its command, so the script must
	# notice the output and stamp missing, and say so.
	cat > lossy-ssh <<'EOS'
#!/bin/sh
case "$*" in *--sender*2025-07-03*) exit 255 ;; esac
exec "$FAKE" "$@"
EOS
	chmod +x lossy-ssh
	run -1 --separate-stderr env PATH="$B:$PATH" PARALLEL_SSH="$PWD/lossy-ssh" \
	    FAKE="$E/parallel/fake-ssh" FAKE_SSH_ROOT="$PWD/hosts" \
	    SSHLOGIN=1/h1,1/h2 STAGE=lost COMMAND="jq -c -f enrich.jq" \
	    sh "$E/parallel/backfill.sh"
	printf '%s\n' "$stderr"
	src=raw/$(readlink raw/current)
	[[ "$stderr" == *"backfill.sh: lost/2025-07-03.ndjson: not made; partition $src/2025-07-03.ndjson"* ]]
	[[ "$stderr" == *"backfill.sh: lost/2025-07-03.ndjson.prov: not made; partition $src/2025-07-03.ndjson"* ]]
	ls lost > got
	ls serial | grep -v 2025-07-03 > want
	diff -u want got
}

@test "Slurm: an array task per partition, then the commit, under a stand-in sbatch" {
	source_dataset
	tmake -s STAGE=serial > /dev/null
	want=$(digest serial)
	export SBATCH_STATE="$PWD/slurm"
	run -0 env PATH="$T/standin:$B:$PATH" DATASET=derived sh "$E/slurm/submit.sh"
	[ "$output" = "transform: job array 1001 (6 tasks); commit: job 1002" ]
	[ "$(digest stage)" = "$want" ]
	# The commit ran after the array: a candidate, not yet current.
	[ "$(cat derived.candidate)" = 000001 ]
	[ ! -e derived/current ]
	run -0 "$B/refill-hash" --total derived/versions/000001/*.ndjson
	[ "${lines[-1]% *}" = "$want" ]

	# One task fails: the others' outputs are made, and nothing is committed.
	printf '%s\n' 'case $REFILL_PARTITION in *-05) exit 1;; esac' \
	    'exec jq -c -f enrich.jq' > fail5.sh
	run -0 env PATH="$T/standin:$B:$PATH" STAGE=stage2 DATASET=derived2 \
	    COMMAND="sh fail5.sh" sh "$E/slurm/submit.sh"
	[ "$output" = "transform: job array 1003 (6 tasks); commit: job 1004" ]
	ls stage2 | grep -c 'ndjson$' > got
	echo 5 > want
	diff -u want got
	[ ! -e stage2/2025-07-05.ndjson ]
	[ ! -e derived2 ]
	[ -e slurm/1004.cancelled ]
	grep -q 'refill-transform: .*status 1' slurm-1003_4.out
}
