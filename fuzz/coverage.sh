#!/bin/sh
# make fuzz-cov: line and function coverage of lib/ by the corpora that
# make fuzz left (seeds and what the fuzzers found), per target and for
# all together.  Builds each target again with clang's source-based
# coverage, without sanitizers, and runs it once over its corpus.
#
# usage: BUILD=build [FUZZ_CC=clang] sh fuzz/coverage.sh TARGET...
set -eu
b=${BUILD:-build}/fuzz
c=$b/cov
cc=${FUZZ_CC:-clang}
ver=$($cc --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p')
profdata=$(command -v llvm-profdata-$ver || command -v llvm-profdata)
llvmcov=$(command -v llvm-cov-$ver || command -v llvm-cov)
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -Ilib -O1 -g
    -fprofile-instr-generate -fcoverage-mapping"

rm -rf "$c"
mkdir -p "$c/obj" "$c/tmp"
for f in lib/*.c; do
	o=$c/obj/$(basename "$f" .c).o
	$cc $flags -fsanitize=fuzzer-no-link -c -o "$o" "$f"
done
objs=
first=$c/fuzz-$1
for t in "$@"; do
	$cc $flags -fsanitize=fuzzer -o "$c/fuzz-$t" "fuzz/$t.c" "$c"/obj/*.o \
	    -lcrypto -lz -lpthread -lm
	# -runs=0 runs every input of the directories once, and stops.
	LLVM_PROFILE_FILE=$c/$t.profraw TMPDIR=$PWD/$c/tmp "$c/fuzz-$t" \
	    -runs=0 -rss_limit_mb=2048 "$b/corpus/$t" "$b/seeds/$t" \
	    > "$c/$t.log" 2>&1
	$profdata merge -sparse -o "$c/$t.profdata" "$c/$t.profraw"
	[ "$t" = "$1" ] || objs="$objs -object=$c/fuzz-$t"
	printf '%-9s ' "$t"
	$llvmcov report "$c/fuzz-$t" -instr-profile="$c/$t.profdata" \
	    lib/*.c | tail -1 | awk '{ printf "lines %s of %s (%s), functions %s\n",
	    $8 - $9, $8, $10, $7 }'
done
$profdata merge -sparse -o "$c/all.profdata" "$c"/*.profraw
$llvmcov report "$first" $objs -instr-profile="$c/all.profdata" lib/*.c |
    tee "$c/report.txt"
