bats_require_minimum_version 1.5.0

# Shared set-up for the bats files: the programs under test and a fixture.
B=$(cd "${BATS_TEST_DIRNAME}/.." && cd "${REFILL_BUILD:-build}" && pwd)
T=$BATS_TEST_DIRNAME
REF="python3 $T/ref.py"

setup() {
	# A file of fault loops sets this: skip in setup, as bats 1.8 cannot
	# skip from setup_file.
	[ -z "${SKIP_UNDER_VALGRIND-}" ] || skip_under_valgrind "$SKIP_UNDER_VALGRIND"
	cd "$BATS_TEST_TMPDIR"
	# Ten small records: strings, integers, nesting, unicode, varied key order.
	cat > in.ndjson <<'EOR'
{"user_id":"u1","n":1,"tags":["a","b"]}
{"n":2,"user_id":"u2","o":{"z":1,"a":[true,null]}}
{"user_id":"u3","s":"caf\u00e9 \ud83d\ude00"}
{"user_id":"u1","n":4}
{"user_id":"u5","n":-5,"e":"line\nbreak"}
{"user_id":"u6","n":6}
{"user_id":"u7","o":{"b":{"c":{"d":7}}}}
{"user_id":"u2","n":8}
{"user_id":"u9","n":9,"s":"\"q\""}
{"user_id":"u10","n":10}
EOR
	# A file of fault loops sets ON_TMPFS: its tests run on a tmpfs when
	# there is one, where the fsync that is most of a run's time on a disk
	# costs nothing (the faults are injected, and a kill -9 is no crash).
	SHM=
	if [ -n "${ON_TMPFS-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
		SHM=$(mktemp -d /dev/shm/refill-fault.XXXXXX)
		cp in.ndjson "$SHM"/
		cd "$SHM"
	fi
}

teardown() {
	if [ -n "${SHM-}" ]; then rm -rf "$SHM"; fi
}

# Fails if a temporary file or directory of refill's is left in the cwd.
no_temps() {
	run compgen -G '.*.refill-*'
	[ "$status" -eq 1 ]
	run compgen -G '*.tmp.*'
	[ "$status" -eq 1 ]
}

# Waits up to 5 s for a file matching the glob; fails if none appears.
wait_for() {
	for i in $(seq 100); do
		compgen -G "$1" > /dev/null && return 0
		sleep 0.05
	done
	compgen -G "$1"
}

# Under `make valgrind` (REFILL_VALGRIND set), skips a test that memcheck
# would take too long over: loops of hundreds of runs under the LD_PRELOAD
# fault library, or inputs of hundreds of megabytes.  `make check' and
# `make sanitize' run them.
skip_under_valgrind() {
	[ -z "${REFILL_VALGRIND-}" ] || skip "not under valgrind: $1"
}
