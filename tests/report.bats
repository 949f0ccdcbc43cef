#!/usr/bin/env bats
# Signed verification reports (refill-report(5)): refill-verify --sign KEY
# --report FILE vouches for the dataset version it checked, by its
# MANIFEST's SHA-256, with the check's figures.

load helpers

V=$B/refill-verify
RC=$B/refill-commit

# ds: version 1 from in.ndjson, version 2 with u6 changed; vera's key.
two_versions() {
	"$RC" keygen k > /dev/null 2>&1
	"$RC" keygen vera > /dev/null 2>&1
	mkdir s1 s2
	cp in.ndjson s1/part.ndjson
	sed 's/"n":6}/"n":60}/' in.ndjson > s2/part.ndjson
	"$RC" -q -k k -m one ds s1 > /dev/null
	"$RC" -q -k k -n -m two ds s2 > /dev/null
	printf '%s\n' 'required user_id' > r.rules
}

# The signed bytes of a report line, and its signature, for openssl.
split_report() {
	python3 - "$1" <<'EOP'
import base64, sys
line = open(sys.argv[1], "rb").read().rstrip(b"\n")
head, tail = b'{"report":', b',"sig":"'
assert line.startswith(head) and line.endswith(b'"}')
cut = line.rindex(tail)
open("body", "wb").write(line[len(head):cut])
open("sig", "wb").write(base64.b64decode(line[cut + len(tail):-2]))
EOP
}

@test "a diff report: the version checked, its MANIFEST, the figures; openssl checks the signature" {
	two_versions
	run -0 --separate-stderr "$V" diff -q -k user_id --max-changed 1 \
	    --max-duplicates 100% --sign vera --report d.rep ds@1 ds@2
	run -0 jq -c '.report.against' d.rep
	[ "$output" = '{"dataset":"ds","manifest":"'"$(sha256sum ds/versions/000001/MANIFEST | cut -d ' ' -f 1)"'","version":1}' ]
	run -0 jq -c '.report | [.format, .check, .dataset, .version, .passed, .status, .figures.changed, .figures.unchanged, .command]' d.rep
	[ "$output" = '["refill-report/1","diff","ds",2,true,0,1,5,["diff","-q","-k","user_id","--max-changed","1","--max-duplicates","100%","--sign","vera","--report","d.rep","ds@1","ds@2"]]' ]
	[ "$(jq -r .report.manifest d.rep)" = "$(sha256sum ds/versions/000002/MANIFEST | cut -d ' ' -f 1)" ]
	[ "$(jq -r .report.signer d.rep)" = "$(sed -n 2p vera.pub)" ]
	# One line of canonical JSON.
	run -0 wc -l d.rep
	[ "$output" = "1 d.rep" ]
	split_report d.rep
	run -0 openssl pkeyutl -verify -pubin -inkey vera.pub -rawin -in body -sigfile sig
	# A changed byte of what was signed: openssl says no.
	sed -i 's/"changed":1/"changed":0/' body
	run -1 openssl pkeyutl -verify -pubin -inkey vera.pub -rawin -in body -sigfile sig
}

@test "a failed check still reports, passed false, with status 1" {
	two_versions
	run -1 --separate-stderr "$V" diff -q -k user_id --max-duplicates 100% \
	    --sign vera --report d.rep ds@1 ds@2
	[ "$stderr" = "refill-verify: changed: 1 (10.00% of old's 10 records) is more than --max-changed 0" ]
	run -0 jq -c '.report | [.passed, .status, .figures.changed]' d.rep
	[ "$output" = '[false,1,1]' ]
}

@test "rules on a dataset version: its files, checked against the MANIFEST; the rules file's SHA-256" {
	two_versions
	run -0 --separate-stderr "$V" rules --sign vera --report r.rep r.rules ds@2
	[ "$stderr" = "refill-verify: 10 records, 1 rules, 0 broken" ]
	run -0 jq -c '.report | [.check, .version, .passed, .figures.records_in]' r.rep
	[ "$output" = '["rules",2,true,10]' ]
	[ "$(jq -r .report.rules r.rep)" = "$(sha256sum r.rules | cut -d ' ' -f 1)" ]
	# The current version, by the dataset's name alone.
	run -0 "$V" rules -q --sign vera --report cur.rep r.rules ds
	[ "$(jq -r .report.version cur.rep)" = 1 ]
	# A file of the version changed under the MANIFEST: status 1, and the
	# report says the check failed.
	obj=$(readlink -f ds/versions/000002/part.ndjson)
	chmod u+w "$obj"
	sed -i 's/"n":60}/"n":61}/' "$obj"
	run -1 --separate-stderr "$V" rules -q --sign vera --report bad.rep r.rules ds@2
	[ "$stderr" = "refill-verify: ds@000002/part.ndjson: its SHA-256 is not the one in the MANIFEST" ]
	[ "$(jq -c '[.report.passed, .report.status]' bad.rep)" = '[false,1]' ]
}

@test "dataset and drift reports name the version checked" {
	two_versions
	run -1 "$V" dataset -q --sign vera --report ds.rep ds@2
	run -0 jq -c '.report | [.check, .version, .passed, .figures.versions_checked]' ds.rep
	# Committed without stamps: refill-verify dataset counts that a problem.
	[ "$output" = '["dataset",2,false,1]' ]
	run -0 "$V" drift -q --by user_id --max-change 0% --sign vera --report dr.rep ds@1 ds@2
	run -0 jq -c '.report | [.check, .version, .dataset, .passed]' dr.rep
	[ "$output" = '["drift",2,"ds",true]' ]
}

@test "--sign and --report: usage errors are status 2 and write nothing" {
	two_versions
	run -2 --separate-stderr "$V" diff -k user_id --sign vera ds@1 ds@2
	[ "$stderr" = "refill-verify: --sign and --report go together: the key signs the report" ]
	run -2 --separate-stderr "$V" rules --report r.rep r.rules ds@2
	[ "$stderr" = "refill-verify: --sign and --report go together: the key signs the report" ]
	# NEW must be a dataset version: a report vouches for one.
	cp in.ndjson plain.ndjson
	run -2 --separate-stderr "$V" diff -q -k user_id --sign vera --report d.rep ds@1 plain.ndjson
	[ "$stderr" = "refill-verify: --report: plain.ndjson is not a dataset version, and a report vouches for one" ]
	run -2 --separate-stderr "$V" rules --sign vera --report r.rep r.rules plain.ndjson
	[ "$stderr" = "refill-verify: --report: the records must be one dataset version, which the report vouches for" ]
	run -2 --separate-stderr "$V" rules --sign vera --report r.rep r.rules ds@1 ds@2
	[ "$stderr" = "refill-verify: --report: the records must be one dataset version, which the report vouches for" ]
	# Standard output is the check's; a directory or a link is refused first.
	run -2 --separate-stderr "$V" dataset --sign vera --report - ds
	[ "$stderr" = "refill-verify: --report -: the report goes to a file of its own" ]
	run -2 --separate-stderr "$V" dataset --sign vera --report /dev/fd/01 ds
	[ "$stderr" = "refill-verify: --report /dev/fd/01: the report goes to a file of its own" ]
	mkdir adir
	run -2 --separate-stderr "$V" dataset --sign vera --report adir ds
	[[ "$stderr" == "refill-verify: adir: "* ]]
	run -2 --separate-stderr "$V" dataset --all --sign vera --report r.rep ds
	[ "$stderr" = "refill-verify: --report vouches for one version: not with --all" ]
	# A key others may read is refused before the check runs.
	chmod 644 vera
	run -2 --separate-stderr "$V" dataset --sign vera --report r.rep ds@2
	[ "$stderr" = "refill-verify: vera: permissions 0644 are too open; the key must be readable by its owner only (chmod 600)" ]
	# A check that did not finish (status 3: a bad rules file) reports nothing.
	chmod 600 vera
	echo 'frobnicate x' > bad.rules
	run -2 --separate-stderr "$V" rules --sign vera --report r.rep bad.rules ds@2
	run -0 ls
	[[ "$output" != *.rep* ]]
}

@test "a report a publish line carries is checked by refill-verify dataset" {
	two_versions
	"$B/refill-split" -q -k user_id -n 1 -o st s2/part.ndjson
	"$RC" -q --unsigned -m one du st > /dev/null
	"$RC" -q --unsigned -n -m two du st > /dev/null
	run -0 "$V" rules -q --sign vera --report r.rep r.rules du@2
	run -0 "$RC" publish -q --unsigned --report r.rep du 2
	run -0 "$V" dataset -q du
	# An unsigned last line can be edited without breaking the chain:
	# the report it carries still can't be.
	run -0 "$RC" log du
	[ "${lines[-1]}" = "     report rules passed, by $(sed -n 2p vera.pub)" ]
	sed -i '$s/"records_in":10/"records_in":11/' du/log
	run -1 --separate-stderr "$V" dataset du
	[ "${lines[0]}" = "du: du/log: line 3's report 1: the signature does not match its report" ]
	[ "$stderr" = "refill-verify: du: 1 problem found" ]
	run -0 "$RC" log du
	[ "${lines[-1]}" = "     report: the signature does not match its report" ]
	# The export still goes out, the report marked as not holding.
	run -1 --separate-stderr "$V" dataset --audit du
	printf '%s\n' "$output" > audit.json
	run -0 jq -c '.audit.summary.versions[1].published[0].reports' audit.json
	[ "$output" = '[{"holds":false}]' ]
}
