#!/bin/sh
# make fuzz: builds the seed corpora, runs each libFuzzer target in turn
# for SECONDS, then the differential check of the JSON targets' corpora.
# Fails if any target finds a crash, leak, timeout or broken property,
# or if the differential check finds an unexplained difference.
#
# usage: BUILD=build [FUZZ_ARGS=...] sh fuzz/run.sh SECONDS TARGET...
set -u
secs=$1
shift
b=${BUILD:-build}/fuzz
case $b in
/*) ;;
*) b=$PWD/$b ;;
esac
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$b/seeds"
mkdir -p "$b/tmp" "$b/logs" "$b/artifacts" || exit 4
python3 "$here/seeds.py" "${BUILD:-build}" "$b/seeds" > "$b/logs/seeds.log" ||
    { cat "$b/logs/seeds.log"; exit 4; }

status=0
summary=$b/summary.txt
printf '%-9s %10s %8s %6s %6s %6s  %s\n' target execs exec/s cov ft corpus \
    result > "$summary"
for t in "$@"; do
	case $t in
	reader) len=65536 dict= ;;
	rules) len=8192 dict=$here/rules.dict ;;
	trusted) len=4096 dict= ;;
	*) len=16384 dict=$here/json.dict ;;
	esac
	mkdir -p "$b/corpus/$t"
	log=$b/logs/$t.log
	echo "fuzz: $t for ${secs}s"
	# Hangs are caught by -timeout; the malloc limit stops one input
	# from taking the machine's memory.
	TMPDIR=$b/tmp "$b/fuzz-$t" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len="$len" \
	    -print_final_stats=1 -artifact_prefix="$b/artifacts/$t-" \
	    ${dict:+-dict="$dict"} ${FUZZ_ARGS:-} "$b/corpus/$t" "$b/seeds/$t" \
	    > "$log" 2>&1
	rc=$?
	result=ok
	if [ $rc -ne 0 ]; then
		result="FAILED ($rc), see $log"
		status=1
		grep -E 'ERROR|SUMMARY|property violated|artifact' "$log" | head -20
	fi
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	printf '%-9s %10s %8s %6s %6s %6s  %s\n' "$t" "${execs:--}" \
	    "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result" \
	    >> "$summary"
done
cat "$summary"

# The differential check: refill against Python's json module.
if ! python3 "$here/differential.py" "$b/verdict" "$b/seeds/json" \
    "$b/corpus/json" "$b/seeds/canon" "$b/corpus/canon"; then
	status=1
fi
exit $status
