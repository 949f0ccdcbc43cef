#!/usr/bin/env bats
# refill: the dispatcher.

load helpers

@test "refill hash runs refill-hash with its arguments" {
	"$B/refill-hash" -t in.ndjson > want
	"$B/refill" hash -t in.ndjson > got
	diff -u want got
}

@test "the program beside refill wins over PATH" {
	mkdir fake
	printf '#!/bin/sh\necho fake\n' > fake/refill-hash
	chmod +x fake/refill-hash
	run -0 env PATH="$PWD/fake:$PATH" "$B/refill" hash in.ndjson
	[ "$output" != fake ]
	# A command found only in PATH is run from there, with its arguments.
	printf '#!/bin/sh\necho "extra $*"\n' > fake/refill-extra
	chmod +x fake/refill-extra
	run -0 env PATH="$PWD/fake:$PATH" "$B/refill" extra -x y
	[ "$output" = "extra -x y" ]
}

@test "exit statuses pass through" {
	echo 'nope' > bad.ndjson
	run -3 "$B/refill" hash bad.ndjson
	run -2 "$B/refill" split
}

@test "--help lists the programs; unknown commands are status 2" {
	run -0 "$B/refill" --help
	[ "${lines[0]}" = "usage: refill [-hV] command [arg ...]" ]
	for c in commit hash lineage replay split transform verify; do
		[[ "$output" == *"   $c "* ]]
	done
	run -2 --separate-stderr "$B/refill" nosuch
	[ "$stderr" = "refill: 'nosuch' is not a refill command; see 'refill --help'" ]
	run -2 "$B/refill" ../bin/sh
	run -2 --separate-stderr "$B/refill" help ../../tmp/x
	[ "$stderr" = "refill: '../../tmp/x' is not a refill command; see 'refill --help'" ]
	run -2 "$B/refill"
	run -0 "$B/refill" -V
	[ "$output" = "refill 0.1.0" ]
}

@test "refill puts its own directory first in PATH for the command" {
	mkdir fake
	printf '#!/bin/sh\necho fake\n' > fake/refill-hash
	printf '#!/bin/sh\nrefill-hash -V\n' > fake/refill-chain
	chmod +x fake/refill-hash fake/refill-chain
	run -0 --separate-stderr env PATH="$PWD/fake:$PATH" "$B/refill" chain
	[ "$output" = "refill-hash 0.1.0" ]
}

@test "--help marks commands that are not installed; running one is status 2" {
	skip_under_valgrind "it copies the program, and a wrapper finds all the others"
	mkdir solo
	cp "$B/refill" "$B/refill-hash" solo/
	run -0 env PATH=/usr/bin:/bin solo/refill --help
	[[ "$output" == *"   hash       canonical digests, and the schema, of records"$'\n'* ]]
	[[ "$output" == *"   split      partition records into batch files by key hash or time (not installed)"$'\n'* ]]
	run -2 --separate-stderr env PATH=/usr/bin:/bin solo/refill split -h
	[ "$stderr" = "refill: refill-split is not installed" ]
}

@test "make install and uninstall honour DESTDIR, PREFIX, MANPREFIX and DOCDIR; man finds the pages" {
	make -s -C "$T/.." BUILD="$B" install DESTDIR="$PWD/d" PREFIX=/p MANPREFIX=/p/m \
	    DOCDIR=/p/doc > /dev/null
	(cd d && find . -type f -perm -u+x -path './p/bin/*' | sort) > got
	printf '%s\n' ./p/bin/refill ./p/bin/refill-commit ./p/bin/refill-hash \
	    ./p/bin/refill-lineage ./p/bin/refill-replay ./p/bin/refill-split \
	    ./p/bin/refill-transform ./p/bin/refill-verify > want
	diff -u want got
	(cd d && find ./p/m -type f | sort) > got
	printf '%s\n' ./p/m/man1/refill-commit.1 ./p/m/man1/refill-hash.1 \
	    ./p/m/man1/refill-lineage.1 ./p/m/man1/refill-replay.1 \
	    ./p/m/man1/refill-split.1 \
	    ./p/m/man1/refill-transform.1 ./p/m/man1/refill-verify.1 \
	    ./p/m/man1/refill.1 ./p/m/man5/refill-audit.5 \
	    ./p/m/man5/refill-manifest.5 ./p/m/man5/refill-policy.5 \
	    ./p/m/man5/refill-prov.5 ./p/m/man5/refill-report.5 \
	    ./p/m/man5/refill-rules.5 ./p/m/man5/refill-schema.5 \
	    ./p/m/man7/refill.7 > want
	diff -u want got
	(cd d/p/doc && find . -type f | sort) > got
	(cd "$T/.." && find examples -type f | sed 's,^,./,' | sort) > want
	diff -u want got
	run -0 d/p/bin/refill hash -V
	[ "$output" = "refill-hash 0.1.0" ]
	# man(1) finds each page by name in the installed tree.
	for m in refill-split.1 refill-prov.5 refill.7; do
		run -0 env MANPATH="$PWD/d/p/m" man -w "${m##*.}" "${m%.*}"
		[ "$output" = "$PWD/d/p/m/man${m##*.}/$m" ]
	done
	run -0 env MANPATH="$PWD/d/p/m" MANPAGER=cat MANWIDTH=80 man refill-split
	[[ "${lines[0]}" == "REFILL-SPLIT(1)"*"REFILL-SPLIT(1)" ]]
	make -s -C "$T/.." BUILD="$B" uninstall DESTDIR="$PWD/d" PREFIX=/p MANPREFIX=/p/m \
	    DOCDIR=/p/doc > /dev/null
	run -0 find d -type f
	[ -z "$output" ]
	run -0 find d/p -name doc
	[ -z "$output" ]
}

@test "every program's usage is the SYNOPSIS of its manual" {
	for m in "$T"/../man/man1/*.1; do
		p=$(basename "$m" .1)
		run -0 "$B/$p" --help
		printf '%s\n' "$output" | sed '/^$/,$d; s/^usage: //' | tr -s ' \t\n' ' ' |
		    sed 's/^ //; s/ $//' > got
		mandoc -Tascii -Owidth=500 "$m" | col -bx |
		    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' |
		    tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//' > want
		diff -u want got
	done
}
