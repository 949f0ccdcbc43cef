#!/usr/bin/env bats
# Every program that writes, under injected faults.  tests/fault.c, loaded
# with LD_PRELOAD, counts the program's read, pread, write, fsync, rename,
# link and close calls; fault_loop below takes each call of a clean run in
# turn and runs the program again
#
#   - if it was a read, pread or write in the clean run: once with that
#     call failing with EIO or ENOSPC (one or the other, by turns: the two
#     take the same paths in every program), once failing with EINTR, and
#     once moving only half of its bytes;
#   - else once, with that call failing with EIO, ENOSPC or EINTR by
#     turns: EINTR there is rare, and where a program does not retry it
#     is one more error.  One run for each call, not three, keeps the
#     file within a minute or so.
#
# and checks:
#
#   - the status: 0 after a short transfer and after EINTR on a read or a
#     write, which the program must retry; 0 or 4 after EINTR on another
#     call (Linux releases a descriptor whatever close returns, so EINTR
#     there may be taken as success or as an error, never retried); 4
#     after EIO or ENOSPC, with the error's text in the message, unless the
#     test says that a failed call of that kind may go unheeded (see
#     may_ignore);
#   - after status 0, the outputs are complete and correct: the test's
#     check_ok;
#   - after a failure, no temporary file is left, no output is half
#     written, and none appears that the man page says a failed run does
#     not leave: the test's check_failed;
#   - after a failure, a run without faults succeeds, from the state the
#     failure left, and its outputs pass check_ok.
#
# Which call is the Nth can change from run to run where threads race;
# the checks are on the outputs, not on which call failed.  What programs
# print with stdio (digests, reports, answers) reaches write(2) inside the
# C library, where the library cannot see it; that is tested with
# /dev/full in the programs' own files.  Records that refill-transform and
# refill-replay write to standard output go through write(2), and are
# tested here.

load helpers

SKIP_UNDER_VALGRIND="hundreds of runs under the fault library"

FAULT=$B/fault.so

# On a tmpfs when there is one (helpers.bash).
ON_TMPFS=1

KINDS=read,pread,write,fsync,rename,link,close

# Runs "$@" as bats's run does, with the status in $status and standard
# error in $stderr.  run costs 20 ms, more than most runs of a program
# here, and the loops make thousands.
try() {
	status=0
	"$@" > try.out 2> try.err || status=$?
	stderr=
	IFS= read -r -d '' stderr < try.err || :
	stderr=${stderr%$'\n'}
}

# Counted calls of a clean run of "$@", in $total, and their kinds in
# calls (calls[1] is the first).
count_calls() {
	local lines
	rm -f clean.n clean.log
	try env REFILL_FAULT_CALLS=$KINDS REFILL_FAULT_COUNT=clean.n \
	    REFILL_FAULT_LOG=clean.log LD_PRELOAD="$FAULT" "$@"
	[ "$status" -eq "${ok_status:-0}" ]
	# In the order of their numbers: threads append out of order.
	mapfile -t lines < <(sort -n clean.log)
	calls=("" "${lines[@]#* }")
	read -r total < clean.n
	[ "$total" -gt 0 ]
}

# Whether a failed call of kind $1 may leave the run at status 0: a close,
# of a file that was only read, and a read that does not decide the
# output, such as that of the pipe where refill-transform learns whether
# its command started.  A read that mattered would leave the outputs
# wrong, which check_ok finds.  Tests that allow more redefine it.
may_ignore() {
	case $1 in close|read|pread) ;; *) false ;; esac
}

# No temporary file of refill's in the current directory or two levels
# below: rf_out_create's, refill-split's directories and the cache's.
no_temps_below() {
	local p
	for p in '*.tmp.*' '*/*.tmp.*' '*/*/*.tmp.*' '.*.refill-*' \
	    '.*.old-*' '.tmp-*' '*/.tmp-*' '*/*/.tmp-*'; do
		if compgen -G "$p"; then
			echo "left behind: $p"
			false
		fi
	done
}

# A --stats file, if present, is one whole line of JSON; $2 is a member
# that it must hold.
stats_whole() {
	local s=
	[ -e "$1" ] || return 0
	IFS= read -r -d '' s < "$1" || :
	[[ $s == '{"program":'*$'}\n' && $s == *"$2"* ]]
}

# A --metrics file, if present, ends with its last gauge.
metrics_whole() {
	local s=
	[ -e "$1" ] || return 0
	IFS= read -r -d '' s < "$1" || :
	[[ $s == '# HELP '*$'\nrefill_last_run_timestamp_seconds{'*$'\n' ]]
}

# $1 is absent, or the same as $2.
same_or_absent() {
	[ ! -e "$1" ] || cmp "$1" "$2"
}

# What the files "$@" hold in ref/, where a clean run wrote them, for
# same_as_ref.
ref_sums() {
	want_sums=$(cd ref && sha256sum -- "$@")
}

# The files of ref_sums are here and hold the same.
same_as_ref() {
	local got
	got=$(sha256sum -- "$@")
	[ "$got" = "$want_sums" ] ||
	    { diff -u <(echo "$want_sums") <(echo "$got"); false; }
}

# The files "$@" are here, each with a stamp that describes its bytes.
stamps_match() {
	local sums d f s
	sums=$(sha256sum -- "$@")
	while read -r d f; do
		s=
		read -r s < "$f.prov" || :
		[[ $s == *'"sha256":"'"$d"'"},"program":'* ]] ||
		    { echo "$f.prov does not describe $f"; false; }
	done <<< "$sums"
}

# The names in directory $1 are those of ref/$1.
names_as_ref() {
	local want got
	want=$(cd "ref/$1" && echo *)
	got=$(cd "$1" && echo *)
	[ "$got" = "$want" ] || { echo "in $1: $got"; false; }
}

# The loop of the file's comment, over "$@".  The test defines reset (the
# state before the run), check_ok and check_failed; it sets ok_status if a
# clean run ends with another status than 0 (1 for a check that fails),
# and the array again if the next run after a failure is another command.
# bats's DEBUG trap, which runs before every command to know the line of a
# failure, is off in the loop: it took more time than all the rest.  A
# failure is still one, and the lines echoed say where it was.
fault_loop() {
	local n mode modes err fired ok runs=0 trap
	local -a fenv errs
	trap=$(trap -p DEBUG)
	trap - DEBUG
	: "${ok_status:=0}"
	reset
	count_calls "$@"
	check_ok
	for ((n = 1; n <= total; n++)); do
		case ${calls[n]} in
		read|pread|write)
			modes="error EINTR short"
			errs=(EIO ENOSPC) ;;
		*)
			modes=error
			errs=(EIO ENOSPC EINTR) ;;
		esac
		for mode in $modes; do
			case $mode in
			error)
				err=${errs[n % ${#errs[@]}]}
				fenv=(REFILL_FAULT_FAIL=$n REFILL_FAULT_ERRNO=$err) ;;
			EINTR)
				err=EINTR
				fenv=(REFILL_FAULT_FAIL=$n REFILL_FAULT_ERRNO=EINTR) ;;
			short)
				err=
				fenv=(REFILL_FAULT_SHORT=$n) ;;
			esac
			reset
			rm -f fired.log
			try env "${fenv[@]}" REFILL_FAULT_CALLS=$KINDS \
			    REFILL_FAULT_LOG=fired.log LD_PRELOAD="$FAULT" "$@"
			runs=$((runs + 1))
			# By its number, not its line: threads append out of order.
			fired=$(awk -v n="$n" '$1 == n { print $2; exit }' fired.log)
			echo "call $n of $total ($fired), $mode $err: status $status: $stderr"
			case $err/$fired in
			/*|EINTR/read|EINTR/pread|EINTR/write)
				ok=0 ;;
			EINTR/*)
				ok="0 4" ;;
			*)
				ok=4
				if may_ignore "$fired"; then ok="0 4"; fi ;;
			esac
			# Status 0 stands for the status of a clean run.
			ok=${ok/0/$ok_status}
			[[ " $ok " == *" $status "* ]]
			if [ "$status" -eq "$ok_status" ]; then
				check_ok
				continue
			fi
			case $err in
			EIO) [[ $stderr == *"Input/output error"* ]] ;;
			ENOSPC) [[ $stderr == *"No space left on device"* ]] ;;
			EINTR) [[ $stderr == *"Interrupted system call"* ]] ;;
			esac
			check_failed
			# The next run, without faults, from what the failure left.
			if [ -n "${again+set}" ]; then try "${again[@]}"; else try "$@"; fi
			[ "$status" -eq "$ok_status" ] ||
			    { echo "rerun: $status: $stderr"; false; }
			check_ok
		done
	done
	eval "$trap"
	echo "# $runs faulty runs" >&3
}

# ---- refill-split ----------------------------------------------------------

@test "fault: refill-split, its partitions, stamps, --bad, --stats and --metrics" {
	cp in.ndjson inb.ndjson
	echo 'not json' >> inb.ndjson
	mkdir ref
	"$B/refill-split" -q -k user_id -n 3 -o ref/s --bad ref/bad.nd inb.ndjson
	parts=(s/part-0000{0,1,2}.ndjson)
	ref_sums "${parts[@]}" bad.nd
	reset() {
		rm -rf s .s.* bad.nd* st.json* m.prom*
	}
	check_ok() {
		names_as_ref s
		same_as_ref "${parts[@]}" bad.nd
		stamps_match "${parts[@]}"
		[ -f st.json ]
		[ -f m.prom ]
		stats_whole st.json '"records_in":11,'
		metrics_whole m.prom
		no_temps_below
	}
	# The output only with status 0; the others, published one by one
	# after it, may be in place if the failure came after them.
	check_failed() {
		[ ! -e s ]
		same_or_absent bad.nd ref/bad.nd
		stats_whole st.json '"records_in":11,'
		metrics_whole m.prom
		no_temps_below
	}
	fault_loop "$B/refill-split" -q -k user_id -n 3 -o s --bad bad.nd \
	    --stats st.json --metrics m.prom inb.ndjson
}

@test "fault: refill-split -f over an older output, gzip" {
	printf '{"b":%d}\n' 1 2 3 4 5 > in2.ndjson
	mkdir ref
	"$B/refill-split" -q -k b -n 2 -o ref/old in2.ndjson
	"$B/refill-split" -q -z -k user_id -n 4 -o ref/s in.ndjson
	parts=(s/part-0000{0,1,2,3}.ndjson.gz)
	ref_sums "${parts[@]}"
	new_sums=$want_sums
	old_sums=$(cd ref/old && sha256sum part-0000{0,1}.ndjson)
	reset() {
		rm -rf s .s.* st.json*
		cp -a ref/old s
	}
	check_ok() {
		names_as_ref s
		same_as_ref "${parts[@]}"
		stamps_match "${parts[@]}"
		stats_whole st.json '"partitions":4'
		no_temps_below
	}
	# The older output stays as it was.
	check_failed() {
		mv s old
		names_as_ref old
		want_sums=$old_sums
		(cd old && same_as_ref part-0000{0,1}.ndjson)
		want_sums=$new_sums
		mv old s
		stats_whole st.json '"partitions":4'
		no_temps_below
	}
	fault_loop "$B/refill-split" -q -f -z -k user_id -n 4 -o s \
	    --stats st.json in.ndjson
}

# ---- refill-hash -----------------------------------------------------------

@test "fault: refill-hash, its --bad, --stats and --metrics" {
	cp in.ndjson inb.ndjson
	echo 'not json' >> inb.ndjson
	mkdir ref
	"$B/refill-hash" -q --bad ref/bad.nd inb.ndjson in.ndjson > ref/out
	ref_sums bad.nd
	reset() {
		rm -f bad.nd* st.json* m.prom*
	}
	check_ok() {
		cmp try.out ref/out
		same_as_ref bad.nd
		[ -f st.json ]
		[ -f m.prom ]
		stats_whole st.json '"records_in":21,'
		metrics_whole m.prom
		no_temps_below
	}
	# With status 4, the --bad file may be published, with what was read
	# before the failure; --stats and --metrics may be there only if the
	# failure came after they were.
	check_failed() {
		if [ -s bad.nd ]; then cmp bad.nd ref/bad.nd; fi
		stats_whole st.json '"records_in":21,'
		metrics_whole m.prom
		no_temps_below
	}
	fault_loop "$B/refill-hash" -q --bad bad.nd --stats st.json \
	    --metrics m.prom inb.ndjson in.ndjson
}

@test "fault: refill-hash -c reads its list and the files" {
	"$B/refill-hash" in.ndjson > sums
	printf '{"b":%d}\n' 1 2 3 | gzip > in2.ndjson.gz
	"$B/refill-hash" in2.ndjson.gz >> sums
	reset() { :; }
	check_ok() {
		[ "$(< try.out)" = "in.ndjson: OK
in2.ndjson.gz: OK" ]
	}
	check_failed() { :; }
	fault_loop "$B/refill-hash" -c sums
}

# ---- refill-transform ------------------------------------------------------

@test "fault: refill-transform, its output, stamp, --bad and --stats" {
	cp in.ndjson inb.ndjson
	echo 'not json' >> inb.ndjson
	mkdir ref
	t=(-n t -v 1 -i inb.ndjson --bad bad.nd --stats st.json -- cat)
	"$B/refill-transform" -q -o ref/out.ndjson --bad ref/bad.nd -n t -v 1 \
	    -i inb.ndjson -- cat
	ref_sums out.ndjson bad.nd
	reset() {
		rm -f out.ndjson* bad.nd* st.json*
	}
	check_ok() {
		same_as_ref out.ndjson bad.nd
		stamps_match out.ndjson
		stats_whole st.json '"records_in":11,'
		[ -f st.json ]
		no_temps_below
	}
	# Neither the output nor its stamp; --bad and --stats only after them.
	check_failed() {
		[ ! -e out.ndjson ]
		[ ! -e out.ndjson.prov ]
		same_or_absent bad.nd ref/bad.nd
		stats_whole st.json '"records_in":11,'
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q -o out.ndjson "${t[@]}"
}

@test "fault: refill-transform over an older output and stamp" {
	printf '{"b":%d}\n' 1 2 3 > in2.ndjson
	mkdir ref
	"$B/refill-transform" -q -o ref/old.ndjson -n t -v 1 -i in2.ndjson -- cat
	"$B/refill-transform" -q -z -o ref/out.ndjson.gz -n t -v 1 -i in.ndjson \
	    -- cat
	ref_sums out.ndjson.gz
	reset() {
		cp ref/old.ndjson out.ndjson.gz
		sed 's/"path":"ref\/old.ndjson"/"path":"out.ndjson.gz"/' \
		    ref/old.ndjson.prov > out.ndjson.gz.prov
	}
	check_ok() {
		same_as_ref out.ndjson.gz
		stamps_match out.ndjson.gz
		no_temps_below
	}
	# The older output and its stamp as they were, or neither.
	check_failed() {
		if [ -e out.ndjson.gz ]; then
			cmp out.ndjson.gz ref/old.ndjson
			stamps_match out.ndjson.gz
		else
			[ ! -e out.ndjson.gz.prov ]
		fi
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q -z -o out.ndjson.gz -n t -v 1 \
	    -i in.ndjson -- cat
}

@test "fault: refill-transform --cache, putting an entry" {
	mkdir ref
	"$B/refill-transform" -q -o ref/out.ndjson -n t -v 1 -i in.ndjson -- cat
	ref_sums out.ndjson
	reset() {
		rm -rf out.ndjson* st.json* cache
	}
	# The output is out before the cache is written: a cache that
	# cannot be is only said.
	may_ignore() {
		case $1 in close|read|pread) return 0 ;; esac
		[[ $stderr == *"refill-transform: not kept in the cache: "* ]]
	}
	# An entry has its stamp only if it is whole.
	check_ok() {
		local p
		same_as_ref out.ndjson
		stamps_match out.ndjson
		stats_whole st.json '"cache_hit":0,'
		[ -f st.json ]
		for p in cache/*/*.prov; do
			if [ -e "$p" ]; then stamps_match "${p%.prov}"; fi
		done
		no_temps_below
	}
	check_failed() {
		[ ! -e out.ndjson ]
		[ ! -e out.ndjson.prov ]
		[ ! -e cache ]
		stats_whole st.json '"cache_hit":0,'
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q -o out.ndjson --cache cache \
	    --stats st.json -n t -v 1 -i in.ndjson -- cat
}

# $1: -z for an entry in gzip, or nothing; $2: -z for an output in gzip.
cache_serve() {
	mkdir ref
	"$B/refill-transform" -q $2 -o ref/out.ndjson -n t -v 1 -i in.ndjson \
	    -- cat
	"$B/refill-transform" -q $1 -o ref/entry.ndjson --cache ref/cache \
	    -n t -v 1 -i in.ndjson -- cat
	ref_sums out.ndjson
	reset() {
		rm -rf out.ndjson* st.json* cache
		cp -a ref/cache cache
	}
	# A damaged entry is not used; then the command runs.
	check_ok() {
		same_as_ref out.ndjson
		stamps_match out.ndjson
		stats_whole st.json '"records_in":10,'
		[ -f st.json ]
		no_temps_below
	}
	check_failed() {
		[ ! -e out.ndjson ]
		[ ! -e out.ndjson.prov ]
		stats_whole st.json '"records_in":10,'
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q $2 -o out.ndjson --cache cache \
	    --stats st.json -n t -v 1 -i in.ndjson -- cat
}

@test "fault: refill-transform --cache, an entry in gzip served plain" {
	cache_serve -z ''
}

@test "fault: refill-transform --cache, a plain entry served as it is" {
	cache_serve '' ''
}

@test "fault: refill-transform, an output up to date" {
	mkdir ref
	"$B/refill-transform" -q -o ref/out.ndjson -n t -v 1 -i in.ndjson -- cat
	ref_sums out.ndjson
	reset() {
		rm -f st.json*
		cp -p ref/out.ndjson out.ndjson
		sed 's/"path":"ref\/out.ndjson"/"path":"out.ndjson"/' \
		    ref/out.ndjson.prov > out.ndjson.prov
	}
	check_ok() {
		same_as_ref out.ndjson
		stamps_match out.ndjson
		stats_whole st.json '"version":'
		[ -f st.json ]
		no_temps_below
	}
	# Up to date until the run makes it again; a failure then leaves
	# neither.
	check_failed() {
		if [ -e out.ndjson ]; then
			stamps_match out.ndjson
		else
			[ ! -e out.ndjson.prov ]
		fi
		stats_whole st.json '"version":'
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q -o out.ndjson --stats st.json \
	    -n t -v 1 -i in.ndjson -- cat
}

@test "fault: refill-transform -j 2, with a scratch file" {
	mkdir ref scratch
	export TMPDIR=$PWD/scratch
	"$B/refill-transform" -q -j 2 -k user_id -o ref/out.ndjson -n t -v 1 \
	    -i in.ndjson -- cat
	ref_sums out.ndjson
	reset() {
		rm -f out.ndjson*
	}
	check_ok() {
		same_as_ref out.ndjson
		stamps_match out.ndjson
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	check_failed() {
		[ ! -e out.ndjson ]
		[ ! -e out.ndjson.prov ]
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q -j 2 -k user_id -o out.ndjson \
	    -n t -v 1 -i in.ndjson -- cat
}

@test "fault: refill-transform --check-determinism, with scratch files" {
	mkdir ref scratch
	export TMPDIR=$PWD/scratch
	"$B/refill-transform" -q -o ref/out.ndjson -n t -v 1 -i in.ndjson -- sort
	ref_sums out.ndjson
	reset() {
		rm -f out.ndjson*
	}
	check_ok() {
		same_as_ref out.ndjson
		stamps_match out.ndjson
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	check_failed() {
		[ ! -e out.ndjson ]
		[ ! -e out.ndjson.prov ]
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	fault_loop "$B/refill-transform" -q --check-determinism \
	    --shuffle-input -o out.ndjson -n t -v 1 -i in.ndjson -- sort
}

# ---- refill-replay ---------------------------------------------------------

@test "fault: refill-replay -o over an older output, with --stats" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 3 -o s1 in.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	mkdir ref
	printf '{"b":%d}\n' 1 2 3 > in2.ndjson
	"$B/refill-transform" -q -o ref/old.ndjson -n t -v 1 -i in2.ndjson -- cat
	"$B/refill-replay" -q -o ref/out.ndjson ds
	ref_sums out.ndjson
	reset() {
		rm -f st.json*
		cp ref/old.ndjson out.ndjson
		sed 's/"path":"ref\/old.ndjson"/"path":"out.ndjson"/' \
		    ref/old.ndjson.prov > out.ndjson.prov
	}
	check_ok() {
		same_as_ref out.ndjson
		stamps_match out.ndjson
		[ -f st.json ]
		stats_whole st.json '"records_out":10,'
		no_temps_below
	}
	# The older output and its stamp as they were, or neither.
	check_failed() {
		if [ -e out.ndjson ]; then
			cmp out.ndjson ref/old.ndjson
			stamps_match out.ndjson
		else
			[ ! -e out.ndjson.prov ]
		fi
		stats_whole st.json '"records_out":10,'
		no_temps_below
	}
	fault_loop "$B/refill-replay" -q -o out.ndjson --stats st.json ds
}

# ---- refill-verify ---------------------------------------------------------

@test "fault: refill-verify diff, its --emit, --bad and --stats" {
	sed -e 's/"n":4/"n":44/' -e '/u7/d' in.ndjson > new.ndjson
	echo 'not json' >> new.ndjson
	mkdir ref
	run -1 "$B/refill-verify" diff -q -k user_id --emit ref/e.nd \
	    --bad ref/bad.nd in.ndjson new.ndjson
	ref_sums e.nd bad.nd
	ok_status=1
	reset() {
		rm -f e.nd* bad.nd* st.json*
	}
	check_ok() {
		same_as_ref e.nd bad.nd
		[ -f st.json ]
		stats_whole st.json '"records_in":20,'
		no_temps_below
	}
	# Each file is whole if it is there, --emit first, the others after.
	check_failed() {
		same_or_absent e.nd ref/e.nd
		same_or_absent bad.nd ref/bad.nd
		stats_whole st.json '"records_in":20,'
		no_temps_below
	}
	fault_loop "$B/refill-verify" diff -q -k user_id --emit e.nd \
	    --bad bad.nd --stats st.json in.ndjson new.ndjson
}

@test "fault: refill-verify rules, with scratch files" {
	mkdir ref scratch
	export TMPDIR=$PWD/scratch
	# Enough values of the unique rule for 1M to be too little.
	seq 15000 | sed 's/.*/{"id":&}/' > u.ndjson
	printf '{"id":7}\nnot json\n' >> u.ndjson
	echo 'unique id' > r.rules
	run -1 "$B/refill-verify" rules -q --memory 1M --bad ref/bad.nd \
	    --stats ref/st.json r.rules u.ndjson
	[[ $(< ref/st.json) == *'"spilled_bytes":'[1-9]* ]]
	ref_sums bad.nd
	ok_status=1
	reset() {
		rm -f bad.nd* st.json*
	}
	check_ok() {
		same_as_ref bad.nd
		[[ $(< try.out) == *'unique id: 1 of 15001 records'* ]]
		[ -f st.json ]
		stats_whole st.json '"records_in":15002,'
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	check_failed() {
		same_or_absent bad.nd ref/bad.nd
		stats_whole st.json '"records_in":15002,'
		[ -z "$(ls scratch)" ]
		no_temps_below
	}
	fault_loop "$B/refill-verify" rules -q --memory 1M --bad bad.nd \
	    --stats st.json r.rules u.ndjson
}

@test "fault: refill-verify dataset reads a stored version" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 2 -o s1 in.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	printf '{"b":%d}\n' 1 2 3 > in2.ndjson
	"$B/refill-split" -q -k b -n 2 -o s2 in2.ndjson
	"$B/refill-commit" -q -k k1 -m two ds s2 > /dev/null
	reset() {
		rm -f st.json*
	}
	check_ok() {
		[ -f st.json ]
		stats_whole st.json '"command":"dataset"'
		no_temps_below
	}
	check_failed() {
		stats_whole st.json '"command":"dataset"'
		no_temps_below
	}
	fault_loop "$B/refill-verify" dataset -q --stats st.json ds
}

@test "fault: refill-verify rules --sign --report on a dataset version" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 2 -o s1 in.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	printf '%s\n' 'required user_id' > r.rules
	reset() {
		rm -f r.rep
	}
	check_ok() {
		# One whole line, signed, of version 1.
		[ "$(jq -c '[.report.check, .report.version, .report.passed]' r.rep)" = '["rules",1,true]' ]
		[ "$(wc -l < r.rep)" -eq 1 ]
		no_temps_below
	}
	check_failed() {
		# None, or (the directory's fsync failed after the rename) whole.
		if [ -e r.rep ]; then check_ok; fi
		no_temps_below
	}
	fault_loop "$B/refill-verify" rules -q --sign k1 --report r.rep r.rules ds
}

# ---- refill-lineage --------------------------------------------------------

@test "fault: refill-lineage, its answer and --stats" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 2 -o s1 in.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	mkdir src
	"$B/refill-transform" -q -o src/t.ndjson -n t -v 1 \
	    -i s1/part-00000.ndjson -- cat
	"$B/refill-replay" -q -o src/r.ndjson ds
	mkdir ref
	"$B/refill-lineage" show -f json src/t.ndjson src s1 ds > ref/out
	reset() {
		rm -f st.json*
	}
	check_ok() {
		cmp try.out ref/out
		[ -f st.json ]
		stats_whole st.json '"program":"refill-lineage"'
		no_temps_below
	}
	check_failed() {
		stats_whole st.json '"program":"refill-lineage"'
		no_temps_below
	}
	fault_loop "$B/refill-lineage" show -f json --stats st.json \
	    src/t.ndjson src s1 ds
}

# ---- refill-commit ---------------------------------------------------------
# tests/fault.bats fails each write, fsync, rename, link and close of a
# commit with EIO or ENOSPC, and kills a commit, a rollback and a gc at each
# of them; here are the reads, EINTR, short transfers, and publish,
# rollback, gc and keygen under all of them.

# k1, and two stages: s1 (in.ndjson) and s2 (other records); ds0, version
# 1 of s1; d1 and d2, the dataset digests of the stages.
commit_fixture() {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 3 -o s1 in.ndjson
	printf '{"b":%d}\n' 1 2 3 4 5 6 7 > in2.ndjson
	"$B/refill-split" -q -k b -n 3 -o s2 in2.ndjson
	"$B/refill-commit" -q -k k1 -m one ds0 s1 > /dev/null
	d1=$("$B/refill-hash" in.ndjson | cut -d' ' -f1)
	d2=$("$B/refill-hash" in2.ndjson | cut -d' ' -f1)
}

# Puts ds back as copy $1 of it.
fresh() {
	rm -rf ds st.json*
	cp -a "$1" ds
}

# The digest in the MANIFEST of the version that current names.
current_digest() {
	local m=
	read -r m < ds/current/MANIFEST
	m=${m#*'"digest":"'}
	echo "${m%%'"'*}"
}

# What a reader sees: a whole version, whose records are $1's or $2's.
whole_current() {
	local d
	(cd ds/current && sha256sum --quiet -c SHA256SUMS)
	"$B/refill-replay" -q ds > /dev/null
	d=$(current_digest)
	[ "$d" = "$1" ] || [ "$d" = "${2:-$1}" ]
}

# After a writer that succeeded: the dataset checks, current is version
# $2 (the newest if not given) with $1's records, and nothing temporary
# is left.
settled() {
	local newest
	"$B/refill-verify" dataset -q --all ds > /dev/null
	newest=$(cd ds/versions && echo [0-9]*)
	newest=${newest##* }
	[ "$(readlink ds/current)" = "versions/${2:-$newest}" ]
	[ "$(current_digest)" = "$1" ]
	[ ! -e ds/current.tmp ]
	! compgen -G 'ds/*/.tmp-*'
	stats_whole st.json '"program":"refill-commit"'
}

@test "fault: refill-commit, reads, EINTR and short transfers" {
	commit_fixture
	reset() { fresh ds0; }
	check_ok() {
		settled "$d2"
		[ -f st.json ]
	}
	# What the next writer repairs may be left; a reader sees one whole
	# version.
	check_failed() {
		whole_current "$d1" "$d2"
		stats_whole st.json '"program":"refill-commit"'
	}
	fault_loop "$B/refill-commit" -q -k k1 -m two --stats st.json ds s2
}

@test "fault: refill-commit publish" {
	commit_fixture
	cp -a ds0 ds1
	"$B/refill-commit" -q -n -k k1 -m two ds1 s2 > /dev/null
	reset() { fresh ds1; }
	check_ok() {
		settled "$d2" 000002
		[ -f st.json ]
	}
	check_failed() {
		whole_current "$d1" "$d2"
		stats_whole st.json '"program":"refill-commit"'
	}
	fault_loop "$B/refill-commit" publish -q -k k1 --stats st.json ds 2
}

@test "fault: refill-commit publish --report, the report into the log" {
	commit_fixture
	cp -a ds0 ds1
	"$B/refill-commit" -q -n -k k1 -m two ds1 s2 > /dev/null
	printf '%s\n' 'required b' > r.rules
	"$B/refill-verify" rules -q --sign k1 --report r.rep r.rules ds1@2
	reset() { fresh ds1; }
	check_ok() {
		settled "$d2" 000002
		# The publish line holds the report as it was.
		[ "$(tail -1 ds/log | jq -c '.reports[0]')" = "$(cat r.rep)" ]
	}
	check_failed() {
		whole_current "$d1" "$d2"
	}
	fault_loop "$B/refill-commit" publish -q -k k1 --report r.rep ds 2
}

@test "fault: refill-commit rollback" {
	commit_fixture
	cp -a ds0 ds1
	"$B/refill-commit" -q -k k1 -m two ds1 s2 > /dev/null
	reset() { fresh ds1; }
	check_ok() {
		settled "$d1" 000001
	}
	check_failed() {
		whole_current "$d1" "$d2"
	}
	# A rollback to where current already is would be refused: the next
	# writer is a publish of version 1.
	again=("$B/refill-commit" publish -q -k k1 ds 1)
	fault_loop "$B/refill-commit" rollback -q -k k1 ds
}

@test "fault: refill-commit gc" {
	commit_fixture
	cp -a ds0 ds1
	"$B/refill-commit" -q -k k1 -m two ds1 s2 > /dev/null
	"$B/refill-commit" -q -k k1 -m three ds1 s1 > /dev/null
	reset() { fresh ds1; }
	# It keeps version 3, the current one, and 2, the one before.
	check_ok() {
		settled "$d1" 000003
		[ "$(cd ds/versions && echo *)" = "000002 000003" ]
	}
	check_failed() {
		whole_current "$d1"
	}
	fault_loop "$B/refill-commit" gc -q -k k1 --keep 1 ds
}

@test "fault: refill-commit keygen" {
	reset() { rm -f k2 k2.pub k2.*; }
	# The key, mode 600, and its public half.
	check_ok() {
		[ "$(stat -c %a k2)" = 600 ]
		openssl pkey -in k2 -pubout | cmp - k2.pub
		no_temps_below
	}
	# No key: the next keygen would refuse one.
	check_failed() {
		[ ! -e k2 ]
		no_temps_below
	}
	fault_loop "$B/refill-commit" keygen k2
}

# ---- all at once -----------------------------------------------------------

@test "fault: every read, pread and write short at once, in every program" {
	commit_fixture
	printf '{"b":%d}\n' 1 2 3 | gzip > in3.ndjson.gz
	seq 15000 | sed 's/.*/{"id":&}/' > u.ndjson
	echo '{"id":7}' >> u.ndjson
	echo 'unique id' > r.rules
	mkdir scratch
	export TMPDIR=$PWD/scratch
	"$B/refill-transform" -q -z -o e.ndjson.gz --cache cache -n t -v 1 \
	    -i in.ndjson -- cat
	# Each program as v (clean or short) into v/, statuses checked.
	for v in clean short; do
		f=()
		if [ $v = short ]; then
			f=(env REFILL_FAULT_CALLS=$KINDS REFILL_FAULT_SHORT=all
			    LD_PRELOAD="$FAULT")
		fi
		mkdir $v
		run -0 "${f[@]}" "$B/refill-split" -q -z -k user_id -n 3 \
		    -o $v/s in.ndjson
		run -0 "${f[@]}" "$B/refill-hash" -r in.ndjson in3.ndjson.gz
		echo "$output" > $v/hash
		run -0 "${f[@]}" "$B/refill-transform" -q -j 2 -k user_id \
		    -o $v/j.ndjson -n t -v 1 -i in.ndjson -- cat
		run -0 "${f[@]}" "$B/refill-transform" -q -o $v/g.ndjson \
		    -n t -v 1 -i in3.ndjson.gz -i in.ndjson -- cat
		run -0 "${f[@]}" "$B/refill-transform" -q --check-determinism \
		    -o $v/d.ndjson -n t -v 1 -i in.ndjson -- cat
		run -0 "${f[@]}" "$B/refill-transform" -q --cache cache \
		    -o $v/c.ndjson -n t -v 1 -i in.ndjson -- cat
		run -0 "${f[@]}" "$B/refill-replay" -q -o $v/r.ndjson ds0
		run -1 "${f[@]}" "$B/refill-verify" rules -q --memory 1M \
		    r.rules u.ndjson
		echo "$output" > $v/rules
		run -0 "${f[@]}" "$B/refill-lineage" show \
		    $v/r.ndjson $v ds0
		echo "${output//$v\//}" > $v/lineage
		cp -a ds0 $v/ds
		run -0 "${f[@]}" "$B/refill-commit" -q -k k1 -m two $v/ds s2
		run -0 "${f[@]}" "$B/refill-verify" dataset -q --all $v/ds
		run -0 "${f[@]}" "$B/refill-commit" keygen $v/k
	done
	[ -z "$(ls scratch)" ]
	diff -r -x '*.prov' -x ds -x 'k*' clean short
	diff <("$B/refill-replay" -q short/ds) <("$B/refill-replay" -q clean/ds)
	openssl pkey -in short/k -pubout | cmp - short/k.pub
}

# ---- records on standard output ----------------------------------------------

# refill-transform and refill-replay write records to standard output with
# write(2), not stdio, so the library sees those writes.
@test "fault: refill-transform and refill-replay, records on standard output" {
	commit_fixture
	"$B/refill-transform" -q -n t -v 1 -i in.ndjson -- cat > want
	reset() { :; }
	check_ok() {
		cmp try.out want
	}
	check_failed() { :; }
	fault_loop "$B/refill-transform" -q -n t -v 1 -i in.ndjson -- cat
	"$B/refill-replay" -q ds0 > want
	fault_loop "$B/refill-replay" -q ds0
}

# A failure after the output was written leaves neither it nor its stamp,
# but a FIFO written in place is not the run's to remove.
@test "fault: a failed publish leaves a FIFO output where it is" {
	commit_fixture
	mkfifo out.fifo
	for p in transform replay; do
		cat out.fifo > got &
		# The stamp's rename, then that of --stats, which fails.
		if [ $p = transform ]; then
			run -4 --separate-stderr env REFILL_FAULT_CALLS=rename \
			    REFILL_FAULT_FAIL=2 LD_PRELOAD="$FAULT" \
			    "$B/refill-transform" -q -o out.fifo --stats st.json \
			    -n t -v 1 -i in.ndjson -- cat
		else
			run -4 --separate-stderr env REFILL_FAULT_CALLS=rename \
			    REFILL_FAULT_FAIL=2 LD_PRELOAD="$FAULT" \
			    "$B/refill-replay" -q -o out.fifo --stats st.json ds0
		fi
		wait
		[ "$stderr" = "refill-$p: st.json: rename: Input/output error" ]
		[ -p out.fifo ]
		[ ! -e out.fifo.prov ]
		[ ! -e st.json ]
		if [ $p = transform ]; then cmp got in.ndjson; fi
	done
}
