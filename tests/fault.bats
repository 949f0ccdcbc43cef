#!/usr/bin/env bats
# refill-commit under injected faults and kill -9.  tests/fault.c, loaded
# with LD_PRELOAD, makes the Nth write, fsync, rename, link or close fail,
# or stops the process just before it; the loops below take N over every
# such call that the operation makes.  tests/fault-io.bats adds reads,
# EINTR and short transfers, and every other program that writes.

load helpers

SKIP_UNDER_VALGRIND="hundreds of runs under the fault library"

FAULT=$B/fault.so

# On a tmpfs when there is one (helpers.bash).
ON_TMPFS=1

# bats's DEBUG trap, which runs before every command to know the line of a
# failure, is off in the loops, where it took most of the time; a failure
# is still one, and the lines echoed say where.
untrap() {
	saved_trap=$(trap -p DEBUG)
	trap - DEBUG
}

retrap() {
	eval "$saved_trap"
}

# ds0: version 1 of in.ndjson.  s2: other records, to commit as version 2.
# d1 and d2: the dataset digests of the two.
prepare() {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -k user_id -n 3 -o s1 in.ndjson
	printf '{"b":%d}\n' 1 2 3 4 5 6 7 > in2.ndjson
	"$B/refill-split" -k b -n 3 -o s2 in2.ndjson
	"$B/refill-commit" -q -k k1 -m one ds0 s1 > /dev/null
	d1=$("$B/refill-hash" in.ndjson | cut -d' ' -f1)
	d2=$("$B/refill-hash" in2.ndjson | cut -d' ' -f1)
}

fresh() {
	if [ -d ds ]; then chmod -R u+w ds; rm -rf ds; fi
	cp -a "${1:-ds0}" ds
}

# How many counted calls a clean run of the command makes; the calls'
# names go to calls.log.
count_calls() {
	rm -f calls.n calls.log
	REFILL_FAULT_COUNT=calls.n REFILL_FAULT_LOG=calls.log \
	    LD_PRELOAD=$FAULT "$@" > /dev/null
	cat calls.n
}

# Every version name in versions/ is a whole, signed version.
check_whole() {
	local v
	for v in ds/versions/[0-9]*; do
		(cd "$v" && sha256sum --quiet -c SHA256SUMS)
		openssl pkeyutl -verify -pubin -inkey k1.pub -rawin \
		    -in "$v/MANIFEST" -sigfile "$v/MANIFEST.sig" > /dev/null
	done
}

# The dataset digest of what a reader of current gets.
current_digest() {
	"$B/refill-replay" ds > replayed
	"$B/refill-hash" replayed | cut -d' ' -f1
}

# Right after the faulty operation: a reader gets version 1 with d1's
# records, or version 2 with d2's: the version that the log makes
# current, which the link may not name yet when the writer failed or was
# killed between the two (the next writer moves it).  The version that
# the reader got is in $got.
check_old_or_new() {
	local d
	check_whole
	[[ "$(readlink ds/current)" == versions/00000[12] ]]
	"$B/refill-replay" ds > replayed 2> replayed.err
	d=$("$B/refill-hash" replayed | cut -d' ' -f1)
	case "$(< replayed.err)" in
	*"refill-replay: ds@000001: "*) got=1; [ "$d" = "$d1" ] ;;
	*"refill-replay: ds@000002: "*) got=2; [ "$d" = "$d2" ] ;;
	*) false ;;
	esac
}

# After the next writer: the log checks, current is the newest version
# and holds $1's records, and nothing temporary is left in the dataset.
check_settled() {
	local left
	"$B/refill-commit" log ds > /dev/null
	check_whole
	[ "$(readlink ds/current)" = "versions/$(ls ds/versions | tail -1)" ]
	[ "$(current_digest)" = "$1" ]
	left=$(find ds -name '.tmp-*' -o -name '*.tmp.*' -o -name current.tmp)
	[ -z "$left" ]
}

# kill -9 a stopped process and reap it.
kill9() {
	local st=0
	kill -9 "$1"
	wait "$1" || st=$?
	[ "$st" -eq 137 ]
}

# Waits until process $1 has stopped itself; fails if it exits instead.
wait_stopped() {
	local i st
	for i in $(seq 500); do
		st=$(cut -d' ' -f3 "/proc/$1/stat" 2> /dev/null) || return 1
		[ "$st" = T ] && return 0
		[ "$st" = Z ] && return 1
		sleep 0.01
	done
	return 1
}

@test "fault: a failed write, fsync, rename, link or close at any call of a commit" {
	prepare
	fresh
	total=$(count_calls "$B/refill-commit" -q -k k1 -m two ds s2)
	# The run makes calls of every kind, so the loop reaches each.
	for c in write fsync rename link close; do
		grep -q " $c\$" calls.log
	done
	untrap
	for n in $(seq "$total"); do
		echo "call $n of $total: $(grep "^$n " calls.log)"
		# Odd calls fail with EIO, even ones with ENOSPC.
		err=EIO msg="Input/output error"
		if [ $((n % 2)) -eq 0 ]; then
			err=ENOSPC msg="No space left on device"
		fi
		fresh
		rm -f fired.log
		run --separate-stderr env REFILL_FAULT_FAIL="$n" \
		    REFILL_FAULT_ERRNO=$err REFILL_FAULT_LOG=fired.log \
		    LD_PRELOAD="$FAULT" "$B/refill-commit" -q -k k1 -m two ds s2
		call=$(grep "^$n " fired.log | cut -d' ' -f2)
		if [ "$status" -eq 0 ]; then
			# Only a close may fail unheeded (of a file it read).
			[ "$call" = close ]
			[ "$output" = 000002 ]
			[ -z "$stderr" ]
			[ "$(readlink ds/current)" = versions/000002 ]
		else
			[ "$status" -eq 4 ]
			[ -z "$output" ]
			# It names a file of the dataset's or the stage's.
			[[ "$stderr" == "refill-commit: "[ds]*": "*"$msg"* ]]
		fi
		check_old_or_new
		# A log line that could not be appended, closed included, is
		# taken back: the commit did not happen.
		if [[ $stderr == "refill-commit: ds/log: "* ]]; then
			[ "$got" = 1 ]
		fi
		run -0 --separate-stderr "$B/refill-commit" -q -k k1 -m three ds s1
		check_settled "$d1"
	done
	retrap
}

@test "crash: kill -9 at every call of a commit; readers see one whole version" {
	prepare
	fresh
	total=$(count_calls "$B/refill-commit" -q -k k1 -m two ds s2)
	untrap
	for n in $(seq "$total"); do
		echo "stop at call $n of $total"
		fresh
		REFILL_FAULT_STOP=$n LD_PRELOAD=$FAULT \
		    "$B/refill-commit" -q -k k1 -m two ds s2 > /dev/null 2>&1 &
		pid=$!
		wait_stopped $pid
		# What a reader sees while the writer is stopped, then dead.
		check_old_or_new
		kill9 $pid
		check_old_or_new
		run -0 --separate-stderr "$B/refill-commit" -q -k k1 -m three ds s1
		check_settled "$d1"
	done
	retrap
}

@test "crash: kill -9 at every call of a rollback and of a gc" {
	prepare
	fresh
	"$B/refill-commit" -q -k k1 -m two ds s2 > /dev/null
	cp -a ds ds2
	total=$(count_calls "$B/refill-commit" rollback -q -k k1 ds 1)
	[ "$total" -gt 0 ]
	untrap
	for n in $(seq "$total"); do
		echo "rollback: stop at call $n of $total"
		fresh ds2
		REFILL_FAULT_STOP=$n LD_PRELOAD=$FAULT \
		    "$B/refill-commit" rollback -q -k k1 ds 1 > /dev/null 2>&1 &
		pid=$!
		wait_stopped $pid
		kill9 $pid
		check_old_or_new
		run -0 "$B/refill-commit" publish -q -k k1 ds 2
		check_settled "$d2"
	done
	retrap

	# Versions 1 to 4, current 4: gc --keep 0 removes 1 and 2.
	for m in three four; do
		"$B/refill-commit" -q -k k1 -m $m ds2 s2 > /dev/null
	done
	cp -a ds2 ds4
	fresh ds4
	total=$(count_calls "$B/refill-commit" gc -q -k k1 --keep 0 ds)
	[ "$total" -gt 0 ]
	untrap
	for n in $(seq "$total"); do
		echo "gc: stop at call $n of $total"
		fresh ds4
		REFILL_FAULT_STOP=$n LD_PRELOAD=$FAULT \
		    "$B/refill-commit" gc -q -k k1 --keep 0 ds > /dev/null 2>&1 &
		pid=$!
		wait_stopped $pid
		kill9 $pid
		# current and the version before it are whole whatever happened.
		(cd ds/current && sha256sum --quiet -c SHA256SUMS)
		(cd ds/versions/000003 && sha256sum --quiet -c SHA256SUMS)
		run -0 "$B/refill-commit" gc -q -k k1 --keep 0 ds
		check_settled "$d2"
		run -0 ls ds/versions
		[ "$output" = "000003
000004" ]
	done
	retrap
}
