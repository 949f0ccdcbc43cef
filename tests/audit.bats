#!/usr/bin/env bats
# Audit export (refill-audit(5)): refill-verify dataset --audit writes a
# dataset's history and a summary of it; refill-verify audit checks one
# offline, and one changed byte anywhere fails it.

load helpers

V=$B/refill-verify
RC=$B/refill-commit

# ds, governed: olga (owner) commits version 1 and sets a POLICY needing
# one approval and a passing rules report; carl commits version 2, ann
# approves it, vera verifies it, olga publishes it, rolls back, and
# publishes it again.  Stages are made by refill-split: stamped.
history() {
	local k
	for k in olga carl ann vera; do
		"$RC" keygen "$k" > /dev/null 2>&1
	done
	{
		echo "olga owner $(sed -n 2p olga.pub)"
		echo "carl committer $(sed -n 2p carl.pub)"
		echo "ann approver $(sed -n 2p ann.pub)"
		echo "vera verifier $(sed -n 2p vera.pub)"
	} > trusted
	"$B/refill-split" -q -k user_id -n 2 -o s1 in.ndjson
	"$RC" -q -t trusted -k olga -m one ds s1 > /dev/null
	printf '%s\n' '{"format":"refill-policy/1","approvals":1,"verified":["rules"]}' > p.json
	"$RC" policy -q -t trusted -k olga -m governed ds p.json
	head -4 in.ndjson > in2.ndjson
	"$B/refill-split" -q -k user_id -n 2 -o s2 in2.ndjson
	"$RC" -q -t trusted -k carl -n -m two ds s2 > /dev/null
	"$RC" approve -q -t trusted -k ann -m "looks right" ds 2
	printf '%s\n' 'required user_id' > r.rules
	"$V" rules -q -t trusted --sign vera --report r.rep r.rules ds@2
	"$RC" publish -q -t trusted -k olga -m "go" --report r.rep ds 2 > /dev/null
	"$RC" rollback -q -t trusted -k olga -m "back" ds > /dev/null
	"$RC" publish -q -t trusted -k olga -m "forward" ds 2 > /dev/null
}

@test "audit: an export checks offline; it says who committed, approved, verified and published" {
	history
	run -0 --separate-stderr "$V" dataset --audit -t trusted --sign olga ds
	[ "$stderr" = "" ]
	printf '%s\n' "$output" > audit.json
	# The history is rebuilt under TMPDIR, and removed.
	mkdir scratch
	TMPDIR=$PWD/scratch run -0 "$V" audit -t trusted audit.json
	run -0 ls -A scratch
	[ "$output" = "" ]
	run -0 "$V" audit -t trusted audit.json
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "audit.json: the history holds and the summary is its own: dataset ds, 7 log lines, 2 versions, current 000002" ]
	[[ "${lines[1]}" =~ ^audit\.json:\ exported\ 20[0-9-]+T[0-9:.]+Z,\ signed\ by\ olga$ ]]
	[ "${lines[2]}" = "audit.json: verification at export: no problem found" ]
	# The history is the dataset's, byte for byte.
	jq -j .audit.history.log audit.json > log
	cmp log ds/log
	jq -j '.audit.history.versions[1].manifest' audit.json > m2
	cmp m2 ds/versions/000002/MANIFEST
	jq -j .audit.history.policy audit.json > policy
	cmp policy ds/POLICY
	# Who did what to version 2, by key.
	pub() { sed -n 2p "$1.pub"; }
	run -0 jq -c '.audit.summary.versions[1] | [.committed.signer, .committed.message, [.approvals[] | .signer, .message, .manifest_matches], [.published[] | .event, .signer, .message, [.reports[] | .check, .passed, .signer]]]' audit.json
	[ "$output" = "[\"$(pub carl)\",\"two\",[\"$(pub ann)\",\"looks right\",true],[\"publish\",\"$(pub olga)\",\"go\",[\"rules\",true,\"$(pub vera)\"],\"publish\",\"$(pub olga)\",\"forward\",[]]]" ]
	# Version 1 was published by its commit, and rolled back to.
	run -0 jq -c '[.audit.summary.versions[0].published[] | .event, .message]' audit.json
	[ "$output" = '["commit","one","rollback","back"]' ]
	# What made it: refill-split's stamps, no transform.
	run -0 jq -c '.audit.summary.versions[1].contents' audit.json
	[ "$output" = '{"bytes":'"$(cat ds/versions/000002/*.ndjson | wc -c)"',"files":2,"input_files":1,"records":4,"transforms":[],"unstamped":0}' ]
}

@test "audit: one changed byte of history, of the summary, or of a signed export fails" {
	history
	"$V" dataset --audit -t trusted ds > plain.json
	"$V" dataset --audit -t trusted --sign olga ds > signed.json
	run -0 "$V" audit -q -t trusted plain.json
	[ "$output" = "" ]
	# Each edit changes one byte, and the file is still JSON.
	edit() { python3 -c '
import sys
f, old, new = sys.argv[1:4]
b = open(f, "rb").read()
assert b.count(old.encode()) >= 1, old
open("t.json", "wb").write(b.replace(old.encode(), new.encode(), 1))' "$@"; run -1 cmp -s "$1" t.json; }

	# A message in the log: that line's signature.
	edit plain.json '\"message\":\"one\"' '\"message\":\"onE\"'
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[ "$stderr" = "refill-verify: t.json: history/log:1: the signature does not match" ]
	# When version 2's MANIFEST says it was made: its signature.
	created=$(head -1 ds/versions/000002/MANIFEST | jq -r .created)
	edit plain.json "\\\"created\\\":\\\"$created" "\\\"created\\\":\\\"${created/2/3}"
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[ "$stderr" = "refill-verify: t.json: history/versions/000002/MANIFEST: the signature does not match" ]
	# The summary: no longer the history's.
	edit plain.json '"message":"looks right"' '"message":"looks light"'
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[[ "$stderr" == "refill-verify: t.json: the summary is not the history's: they differ from byte "*", at \"light\""* ]]
	# Signed, any byte: the export's signature.
	edit signed.json '"ok":true' '"ok":true '
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[ "$stderr" = "refill-verify: t.json: not one line of canonical JSON: not an export as written" ]
	edit signed.json '"current":2' '"current":1'
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[ "$stderr" = "refill-verify: t.json: the signature does not match the export" ]
	# Unsigned, its verification is only the exporter's word: said so.
	run -0 "$V" audit -t trusted plain.json
	[ "${lines[1]}" = "plain.json: exported $(jq -r .audit.exported plain.json), unsigned: its verification is the exporter's word" ]
}

@test "audit: the auditor's trusted file decides whose signatures count" {
	history
	"$V" dataset --audit -t trusted --sign olga ds > audit.json
	grep -v '^olga ' trusted > others
	run -1 --separate-stderr "$V" audit -t others audit.json
	[ "$stderr" = "refill-verify: audit.json: signed by a key that others does not list" ]
	# Unsigned, the history's own signers are checked against it.
	"$V" dataset --audit -t trusted ds > plain.json
	run -1 --separate-stderr "$V" audit -t others plain.json
	[ "$stderr" = "refill-verify: plain.json: history/log:1: signed by a key that others does not list" ]
	# Without one, the signatures are checked against the keys they name.
	run -0 "$V" audit -q audit.json
}

@test "audit: problems found at export are in it, and the export still checks" {
	history
	obj=$(readlink -f ds/versions/000002/part-00000.ndjson)
	chmod u+w "$obj"
	printf '%s\n' '{"user_id":"zz"}' >> "$obj"
	run -1 --separate-stderr "$V" dataset --audit -t trusted ds
	printf '%s\n' "$output" > audit.json
	printf '%s\n' "refill-verify: ds@000002: part-00000.ndjson: its SHA-256 is not the MANIFEST's" \
	    "refill-verify: ds: 1 problem found" > want
	printf '%s\n' "$stderr" > got
	diff -u want got
	run -0 jq -c '.audit.verification.ok' audit.json
	[ "$output" = false ]
	run -1 "$V" audit -t trusted audit.json
	[ "${lines[2]}" = "audit.json: verification at export: problems found" ]
}

@test "audit: a version left out of the history, or gone from the dataset, is named" {
	history
	"$V" dataset --audit -t trusted ds > plain.json
	python3 - <<'EOP'
import json
d = json.load(open("plain.json"))
d["audit"]["history"]["versions"] = d["audit"]["history"]["versions"][1:]
open("t.json", "w").write(json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
EOP
	run -1 --separate-stderr "$V" audit -t trusted t.json
	[ "$stderr" = "refill-verify: t.json: history: version 000001 is committed (line 1 of the log) and no gc removed it, but it is not here" ]
	# The same of the dataset itself: refill-verify dataset --all.
	rm -rf ds/versions/000001
	run -1 --separate-stderr "$V" dataset --all -t trusted ds
	[ "${lines[0]}" = "ds: version 000001 is committed (line 1 of the log) and no gc removed it, but its directory is gone" ]
}

@test "audit: a version gc removed is in the summary, its MANIFEST gone from the history" {
	"$RC" keygen k > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 2 -o s in.ndjson
	for m in one two three; do "$RC" -q -k k -m "$m" ds s > /dev/null; done
	"$RC" gc -q -k k -m tidy --keep 1 ds > /dev/null
	"$V" dataset --audit ds > audit.json
	run -0 "$V" audit -q audit.json
	run -0 jq -c '[.audit.history.versions[].version]' audit.json
	[ "$output" = '[2,3]' ]
	run -0 jq -c '.audit.summary.versions[0] | [.version, .contents, .removed.event, .removed.message]' audit.json
	[ "$output" = '[1,null,"gc","tidy"]' ]
}

@test "audit: usage, a dataset whose log does not hold, and a file that is not an export" {
	"$RC" keygen k > /dev/null 2>&1
	"$B/refill-split" -q -k user_id -n 2 -o s in.ndjson
	"$RC" -q -k k -m one ds s > /dev/null
	run -2 --separate-stderr "$V" dataset --audit ds@1
	[ "$stderr" = "refill-verify: --audit exports the whole dataset: give it alone, without --json or --report" ]
	run -2 --separate-stderr "$V" dataset --audit --json ds
	[ "$stderr" = "refill-verify: --audit exports the whole dataset: give it alone, without --json or --report" ]
	run -2 --separate-stderr "$V" audit
	[ "${stderr%%$'\n'*}" = "usage: refill-verify diff [-q] [--abs-tol x] [--bad file] [--emit file] [--full]" ]
	echo '{"audit":{"format":"refill-audit/0"}}' > old.json
	run -3 --separate-stderr "$V" audit old.json
	[ "$stderr" = "refill-verify: old.json: format is not \"refill-audit/1\"" ]
	echo 'not json' > junk.json
	run -3 --separate-stderr "$V" audit junk.json
	[[ "$stderr" == "refill-verify: junk.json: invalid JSON"* ]]
	run -4 --separate-stderr "$V" audit missing.json
	[ "$stderr" = "refill-verify: missing.json: No such file or directory" ]
	# A log line cut: nothing to export.
	sed -i '1s/"one"/"One"/' ds/log
	run -1 --separate-stderr "$V" dataset --audit ds
	[ "$output" = "" ]
	[[ "$stderr" == *"refill-verify: ds: no audit export: its log does not hold" ]]
}
