#!/bin/sh
# Benchmarks refill against its peer tools on one generated data set, in
# one run, and prints the ratios the project's targets are stated in
# (bench/README.md).  usage: bench/run.sh [records]
#
# REFILL_BIN: the directory of the built programs (default build)
# BENCH_DIR:  scratch space for data and outputs (default $REFILL_BIN/bench)
set -eu

n=${1:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${REFILL_BIN:-build}" && pwd)
w=${BENCH_DIR:-$bin/bench}
mkdir -p "$w"
w=$(cd "$w" && pwd)
data=$w/events-$n.ndjson
out=$(cd "$(dirname "$0")" && pwd)/results-latest.txt

for tool in hyperfine jq mlr gzip split sha256sum python3; do
	command -v $tool > /dev/null || {
		echo "bench: $tool is missing; 'make deps' installs it" >&2
		exit 1
	}
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing ('make deps')" >&2; exit 1; }

[ -s "$data" ] || "$bin/bench-gen" "$n" > "$data"

# mean NAME: the mean time in seconds of a hyperfine export.
mean() {
	python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$w/$1.json"
}

# run NAME RUNS PREPARE COMMAND: times COMMAND; PREPARE runs, untimed, before
# each run.  Writes go to the page cache; PREPARE ends with sync so that one
# run's write-back is not charged to the next.
run() {
	hyperfine --style basic -N -w 1 -r "$2" --prepare "$3" \
	    --export-json "$w/$1.json" -n "$1" "$4" >&2
}

# ratio A B: A / B to two decimals.
ratio() {
	python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"
}

clean="sh -c 'rm -rf $w/o-refill $w/o-split $w/o-mlr $w/o.gz; sync'"
bytes=$(wc -c < "$data")

run hash-records 5 "$clean" "sh -c '$bin/refill-hash --records $data > /dev/null'"
run sha256sum 5 "$clean" "sh -c 'sha256sum $data > /dev/null'"
run jq 2 "$clean" "sh -c 'jq -S -c . $data > /dev/null'"
run split-refill 5 "$clean" "$bin/refill-split -k user_id -n 64 -o $w/o-refill $data"
run split-coreutils 5 "$clean" "sh -c 'mkdir $w/o-split && split -n r/64 $data $w/o-split/x'"
# Miller has no split by a hash of a field: it is given the same hash
# partitioning refill does (a SHA-256 of the key, modulo 64), with tee.
run split-mlr 2 "$clean" "sh -c 'mkdir $w/o-mlr && mlr --ijsonl --ojsonl put -q \"tee > \\\"$w/o-mlr/part-\\\" . (int(\\\"0x\\\" . sha256(\\\$user_id)[1:4]) % 64) . \\\".ndjson\\\", \\\$*\" $data'"
run split-refill-z1 5 "$clean" "$bin/refill-split -z --level 1 -k user_id -n 64 -o $w/o-refill $data"
run gzip-1 5 "$clean" "sh -c 'gzip -1 -c $data > $w/o.gz'"
# Schema inference against refill-hash's digests of the same file, and
# against jq listing each record's paths (no counting at all); jq takes
# the first fifth, as below, and its time is scaled to the whole.
run schema-refill 5 "sync" "sh -c '$bin/refill-hash --schema $data > /dev/null'"
run hash-sums 5 "sync" "sh -c '$bin/refill-hash $data > /dev/null'"
sub5=$w/events-$((n / 5)).ndjson
[ -s "$sub5" ] || head -n $((n / 5)) "$data" > "$sub5"
run schema-jq 2 "sync" "sh -c 'jq -c \"[paths(scalars)]\" $sub5 > /dev/null'"

# The store: 64 plain files (the data, about 270 MB) committed, against
# sha256sum over the same files; the same split gzipped, committed and
# replayed, against zcat; publish and rollback at 64 and 4096 files.
key=$w/bench.key
[ -s "$key" ] || "$bin/refill-commit" keygen "$key" > /dev/null 2>&1
for z in plain gz; do
	[ -d "$w/stage-$z" ] || "$bin/refill-split" -q $([ $z = gz ] && echo -z) \
	    -k user_id -n 64 -o "$w/stage-$z" "$data"
done
[ -d "$w/stage-4096" ] || "$bin/refill-split" -q -k user_id -n 4096 \
    -o "$w/stage-4096" "$data"
run commit-64 5 "sh -c 'chmod -R u+w $w/ds 2> /dev/null; rm -rf $w/ds; sync'" \
    "$bin/refill-commit -q -k $key -m bench $w/ds $w/stage-plain"
run sha256sum-64 5 "sync" "sh -c 'sha256sum $w/stage-plain/*.ndjson > /dev/null'"
chmod -R u+w "$w/ds-gz" "$w/ds-64" "$w/ds-4096" 2> /dev/null || :
rm -rf "$w/ds-gz" "$w/ds-64" "$w/ds-4096"
"$bin/refill-commit" -q -k "$key" -m gz "$w/ds-gz" "$w/stage-gz" > /dev/null
run replay-gz 5 "sync" "sh -c '$bin/refill-replay -q $w/ds-gz > /dev/null'"
run zcat-gz 5 "sync" "sh -c 'zcat $w/ds-gz/current/*.ndjson.gz > /dev/null'"
for nf in 64 4096; do
	st=$w/stage-plain
	[ $nf = 4096 ] && st=$w/stage-4096
	for i in 1 2; do
		"$bin/refill-commit" -q -k "$key" -m "v$i" "$w/ds-$nf" "$st" > /dev/null
	done
	run switch-$nf 10 "sync" "sh -c '$bin/refill-commit rollback -q -k $key $w/ds-$nf 1 > /dev/null && $bin/refill-commit publish -q -k $key $w/ds-$nf 2 > /dev/null'"
done

# refill-transform: what it adds around a command, against the same command
# run bare on the same files; and --jobs 2 against --jobs 1 on a CPU-bound
# command, beside two bare jq processes on the two halves (what two cores
# give this command at best).  jq takes about 13 s a million records, so
# the jq runs take the first fifth of the data.
m=$((n / 5))
sub=$w/events-$m.ndjson
[ -s "$sub" ] || head -n $m "$data" > "$sub"
[ -s "$sub.1" ] || { head -n $((m / 2)) "$sub" > "$sub.1"; tail -n +$((m / 2 + 1)) "$sub" > "$sub.2"; }
tclean="sh -c 'rm -f $w/t.ndjson $w/t.ndjson.prov $w/t1 $w/t2; sync'"
tr="$bin/refill-transform -q -n t -v 1"
run transform-cat 5 "$tclean" "$tr -i $data -o $w/t.ndjson -- cat"
run cat 5 "$tclean" "sh -c 'cat < $data > $w/t.ndjson'"
run transform-jq 5 "$tclean" "$tr -i $sub -o $w/t.ndjson -- jq -c ."
run jq-c 5 "$tclean" "sh -c 'jq -c . < $sub > $w/t.ndjson'"
run transform-jq-j1 5 "$tclean" "$tr -j 1 -k user_id -i $sub -o $w/t.ndjson -- jq -c ."
run transform-jq-j2 5 "$tclean" "$tr -j 2 -k user_id -i $sub -o $w/t.ndjson -- jq -c ."
run jq-c-halves 5 "$tclean" "sh -c 'jq -c . < $sub.1 > $w/t1 & jq -c . < $sub.2 > $w/t2; wait'"

# Built-in migrations, a rename and a default, over the whole file, against
# jq -c doing the same (the default only where the field is absent), both
# writing a file.  jq takes about 25 s: two runs, no warm-up.
printf '%s\n' '(if has("user_id") then .user = .user_id | del(.user_id) else . end)' \
    '| if has("channel") then . else .channel = "web" end' > "$w/migrate.jq"
run migrate 5 "$tclean" "$tr --rename user_id=user --default 'channel=\"web\"' -i $data -o $w/t.ndjson"
hyperfine --style basic -N -r 2 --prepare "$tclean" --export-json "$w/migrate-jq.json" \
    -n migrate-jq "sh -c 'jq -c -f $w/migrate.jq < $data > $w/t.ndjson'" >&2

# refill-verify diff: one million records against the same with 1% changed,
# 0.1% added and 0.1% removed (bench/gen.c -d), against a Python dict and
# a jq | sort | join pipeline, each run once (they take half a minute);
# two versions of the 64 partitions where 3 differ, against --full; and
# twenty times the records under the default memory bound.
dnew=$w/events-$n-new.ndjson
[ -s "$dnew" ] || "$bin/bench-gen" -d "$n" > "$dnew"
vd="$bin/refill-verify diff -q -k event_id --max-changed 100% --max-added 100% --max-removed 100%"
run diff-refill 3 "sync" "sh -c '$vd $data $dnew > /dev/null'"
hyperfine --style basic -N -r 1 --export-json "$w/diff-python.json" -n diff-python \
    "python3 $here/diff.py event_id $data $dnew" >&2
hyperfine --style basic -N -r 1 --export-json "$w/diff-jq.json" -n diff-jq \
    "sh $here/diff-jq.sh event_id $data $dnew $w" >&2
if [ ! -d "$w/ds-diff" ]; then
	rm -rf "$w/stage-3"
	cp -r "$w/stage-plain" "$w/stage-3"
	for p in 00007 00031 00052; do
		sed 's/^{/{"fix":1,/' "$w/stage-plain/part-$p.ndjson" > "$w/stage-3/part-$p.ndjson"
		rm -f "$w/stage-3/part-$p.ndjson.prov"
	done
	"$bin/refill-commit" -q -k "$key" -m v1 "$w/ds-diff" "$w/stage-plain" > /dev/null
	"$bin/refill-commit" -q -k "$key" -m v2 "$w/ds-diff" "$w/stage-3" > /dev/null
fi
run diff-3of64 5 "sync" "sh -c '$vd $w/ds-diff@1 $w/ds-diff@2 > /dev/null'"
run diff-64of64 3 "sync" "sh -c '$vd --full $w/ds-diff@1 $w/ds-diff@2 > /dev/null'"
b20=$w/events-$((20 * n)).ndjson
"$bin/bench-gen" $((20 * n)) > "$b20"
"$bin/bench-gen" -d $((20 * n)) > "$b20.new"
d20=$( { /usr/bin/time -f '%e %M' $vd "$b20" "$b20.new" > /dev/null; } 2>&1 | tail -1)
rm -f "$b20" "$b20.new"

t_hash=$(mean hash-records)
t_sha=$(mean sha256sum)
t_jq=$(mean jq)
t_split=$(mean split-refill)
t_cu=$(mean split-coreutils)
t_mlr=$(mean split-mlr)
t_z=$(mean split-refill-z1)
t_gz=$(mean gzip-1)
t_commit=$(mean commit-64)
t_sha64=$(mean sha256sum-64)
t_replay=$(mean replay-gz)
t_zcat=$(mean zcat-gz)

# Peak RSS at n and 4n records: a streaming program's must not grow.
big=$w/events-$((4 * n)).ndjson
[ -s "$big" ] || "$bin/bench-gen" $((4 * n)) > "$big"
rss() {
	rm -rf "$w/o-refill"
	/usr/bin/time -f %M "$@" 2>&1 > /dev/null | tail -1
}
m_h1=$(rss "$bin/refill-hash" --records "$data")
m_h4=$(rss "$bin/refill-hash" --records "$big")
m_s1=$(rss "$bin/refill-split" -k user_id -n 64 -o "$w/o-refill" "$data")
m_s4=$(rss "$bin/refill-split" -k user_id -n 64 -o "$w/o-refill" "$big")
m_t1=$(rss $tr -i "$data" -o "$w/t.ndjson" -- cat)
m_t4=$(rss $tr -i "$big" -o "$w/t.ndjson" -- cat)
rm -f "$w/t.ndjson" "$w/t.ndjson.prov" "$w/t1" "$w/t2"
rm -rf "$w/o-refill" "$w/o-split" "$w/o-mlr" "$w/o.gz"

{
	echo "refill benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
	echo "tools: $("$bin/refill-hash" -V), $(jq --version), $(mlr --version), $(hyperfine --version)"
	echo "data: $n records, $bytes bytes ($(ratio "$bytes" "$n") bytes a record), bench/gen.c"
	echo
	printf '%-44s %9s\n' "command" "mean (s)"
	for t in hash-records sha256sum jq schema-refill hash-sums schema-jq \
	    split-refill split-coreutils \
	    split-mlr split-refill-z1 gzip-1 commit-64 sha256sum-64 replay-gz \
	    zcat-gz switch-64 switch-4096 transform-cat cat transform-jq jq-c \
	    transform-jq-j1 transform-jq-j2 jq-c-halves migrate migrate-jq \
	    diff-refill diff-python \
	    diff-jq diff-3of64 diff-64of64; do
		printf '%-44s %9s\n' "$t" "$(mean $t)"
	done
	echo
	echo "ratios (target in brackets):"
	echo "  refill-hash --records vs jq -S -c .:      $(ratio "$t_jq" "$t_hash")x faster [>= 30]"
	echo "  refill-hash --records vs sha256sum:       $(ratio "$t_sha" "$t_hash") of its throughput [>= 0.40]"
	echo "  refill-hash --schema vs jq paths(scalars): $(ratio "$(python3 -c "print($(mean schema-jq) * 5)")" "$(mean schema-refill)")x faster [>= 20]"
	echo "  refill-hash --schema vs refill-hash:      $(ratio "$(mean schema-refill)" "$(mean hash-sums)") of its time [<= 2.00]"
	echo "  refill-split -n 64 vs split -n r/64:      $(ratio "$t_cu" "$t_split") of its throughput [>= 0.50]"
	echo "  refill-split -n 64 vs Miller:             $(ratio "$t_mlr" "$t_split")x faster"
	echo "  refill-split -z --level 1 vs gzip -1:     $(ratio "$t_z" "$t_gz") of its time [<= 1.20]"
	echo "  refill-commit (64 files) vs sha256sum:    $(ratio "$t_commit" "$t_sha64") of its time [<= 1.30]"
	echo "  refill-replay (64 gzip files) vs zcat:    $(ratio "$t_replay" "$t_zcat") of its time [<= 1.20]"
	echo "  rollback + publish, 4096 vs 64 files:     $(ratio "$(mean switch-4096)" "$(mean switch-64)") of its time [constant]"
	echo "  refill-transform -- cat vs cat:           $(ratio "$(mean transform-cat)" "$(mean cat)") of its time [<= 1.15]"
	echo "  refill-transform -- jq -c . vs jq -c .:   $(ratio "$(mean transform-jq)" "$(mean jq-c)") of its time ($m records)"
	echo "  refill-transform -j 2 vs -j 1 (jq -c .):  $(ratio "$(mean transform-jq-j1)" "$(mean transform-jq-j2)")x faster [>= 1.70]"
	echo "  two bare jq on halves vs one jq:          $(ratio "$(mean jq-c)" "$(mean jq-c-halves)")x faster (the machine's ceiling)"
	echo "  refill-transform --rename --default vs jq: $(ratio "$(mean migrate-jq)" "$(mean migrate)")x faster [>= 10]"
	echo "  refill-verify diff vs jq | sort | join:   $(ratio "$(mean diff-jq)" "$(mean diff-refill)")x faster [>= 10]"
	echo "  refill-verify diff vs a Python dict:      $(ratio "$(mean diff-python)" "$(mean diff-refill)")x faster [>= 5]"
	echo "  diff of 3 of 64 partitions vs all 64:     $(ratio "$(mean diff-3of64)" "$(mean diff-64of64)") of its time [<= 0.10]"
	echo "  diff of $((20 * n)) records, default --memory: ${d20% *} s, peak RSS ${d20#* } KiB"
	echo
	echo "peak RSS (KiB):           $n records  $((4 * n)) records"
	printf '  refill-hash --records   %12s  %12s\n' "$m_h1" "$m_h4"
	printf '  refill-split -n 64      %12s  %12s\n' "$m_s1" "$m_s4"
	printf '  refill-transform -- cat %12s  %12s\n' "$m_t1" "$m_t4"
} | tee "$out"
