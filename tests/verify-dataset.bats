#!/usr/bin/env bats
# refill-verify dataset: a stored version checked end to end.

load helpers

V="$B/refill-verify"

# A dataset with two signed versions of the fixture, split four ways.
twoversions() {
	"$B/refill-commit" keygen k1 > k1.b64 2> /dev/null
	"$B/refill-split" -q -k user_id -n 4 -o s1 in.ndjson
	sed 's/"n":1,/"n":11,/' in.ndjson > in2.ndjson
	"$B/refill-split" -q -k user_id -n 4 -o s2 in2.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s1 > /dev/null
	"$B/refill-commit" -q -k k1 -m two ds s2 > /dev/null
}

@test "dataset: a sound version, and every version with --all, are status 0" {
	twoversions
	run -0 --separate-stderr "$V" dataset ds
	[ "$output" = "ds@000002: OK: 4 files, 10 records" ]
	[ "$stderr" = "" ]
	run -0 --separate-stderr "$V" dataset --all ds
	[ "$output" = "ds@000001: OK: 4 files, 10 records
ds@000002: OK: 4 files, 10 records" ]
	run -0 --separate-stderr "$V" dataset ds@1
	[ "$output" = "ds@000001: OK: 4 files, 10 records" ]
	run -0 --separate-stderr "$V" dataset -q ds
	[ "$output" = "" ]
	printf 'alice owner %s\n' "$(cat k1.b64)" > trusted
	run -0 --separate-stderr "$V" dataset -t trusted --all --json ds
	printf '%s\n' "$output" > got.json
	python3 - <<'EOP'
import json
r = json.load(open("got.json"))
assert r == {"dataset": "ds", "log": [], "ok": True, "versions": [
    {"files": 4, "ok": True, "problems": [], "records": 10, "version": 1},
    {"files": 4, "ok": True, "problems": [], "records": 10, "version": 2}]}, r
EOP
}

@test "dataset: a flipped byte, a stray file and a lost stamp are named; status 1" {
	twoversions
	# u1's partition differs between the versions; another is shared (one
	# object, so one stamp in lineage/ for both).
	f=$(grep -l '"u1"' s1/*.ndjson); f=${f#s1/}
	g=$(grep -L '"u1"' s1/*.ndjson | head -n 1); g=${g#s1/}
	chmod u+w "ds/versions/000001/$f" ds/versions/000001
	printf 'X' | dd of="ds/versions/000001/$f" bs=1 seek=2 conv=notrunc 2> /dev/null
	echo '{}' > ds/versions/000001/extra.ndjson
	h=$(sha256sum < "s1/$g" | cut -c1-64)
	rm "ds/lineage/$h.prov"
	run -1 --separate-stderr "$V" dataset --all ds
	{
		for p in "$f" "$g"; do
			[ "$p" = "$f" ] && echo "ds@000001: $f: its SHA-256 is not the MANIFEST's"
			[ "$p" = "$g" ] && echo "ds@000001: $g: lineage/$h.prov: missing"
		done | sort
		echo "ds@000001: extra.ndjson: a file the MANIFEST does not list"
		echo "ds@000002: $g: lineage/$h.prov: missing"
	} > want
	printf '%s\n' "$output" > got
	diff -u want got
	[ "$stderr" = "refill-verify: ds: 4 problems found" ]
}

@test "dataset: a forged manifest, an untrusted signer and an edited log line" {
	twoversions
	chmod u+w ds/versions/000002 ds/versions/000002/MANIFEST
	sed -i 's/"message":"two"/"message":"TWO"/' ds/versions/000002/MANIFEST
	run -1 --separate-stderr "$V" dataset ds
	[ "$output" = "ds@000002: ds/versions/000002/MANIFEST: the signature does not match" ]
	run -0 --separate-stderr "$V" dataset ds@1
	# A trusted-signers file that lists another key.
	"$B/refill-commit" keygen k2 > k2.b64 2> /dev/null
	printf 'bob owner %s\n' "$(cat k2.b64)" > trusted
	run -1 --separate-stderr "$V" dataset -t trusted ds@1
	[[ "$output" == "ds: log: "*"trusted"* ]]
	# A log line edited: the chain breaks.
	sed -i '1s/"message":"one"/"message":"ONE"/' ds/log
	run -1 --separate-stderr "$V" dataset ds@1
	[[ "$output" == "ds: log: "* ]]
	[ "$stderr" = "refill-verify: ds: 1 problem found" ]
}

@test "dataset: a file committed without a stamp is named" {
	"$B/refill-commit" keygen k1 > /dev/null 2>&1
	mkdir s
	cp in.ndjson s/a.ndjson
	"$B/refill-commit" -q -k k1 -m one ds s > /dev/null
	run -1 --separate-stderr "$V" dataset ds
	[ "$output" = "ds@000001: a.ndjson: no provenance stamp" ]
}

@test "dataset: usage errors are status 2; a missing dataset status 4" {
	twoversions
	run -2 "$V" dataset
	run -2 "$V" dataset ds ds
	run -2 "$V" dataset ds@x
	run -2 "$V" dataset --all ds@1
	run -2 --separate-stderr "$V" dataset ds@7
	[ "$stderr" = "refill-verify: ds: no version 000007" ]
	run -2 --separate-stderr "$V" dataset nothere
	[ "$stderr" = "refill-verify: nothere: not a dataset (no versions/)" ]
}
