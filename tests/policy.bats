#!/usr/bin/env bats
# Dataset policies (issue 9): DATASET/POLICY, set by an owner's signed log
# line; the roles each change needs, unsigned changes, the compatibility
# mode; a POLICY that is not the one the log set; repair of a half-set one.

load helpers

RC=$B/refill-commit
V=$B/refill-verify

# The defaults, as `refill-commit policy` prints them.
# What a dataset without a POLICY allows; unsigned changes too, where no
# trusted-signers file is.
DEFAULTS='{"approvals":0,"compat":"none","format":"refill-policy/1","roles":{"approve":["approver","owner"],"commit":["committer","owner"],"gc":["committer","owner"],"publish":["committer","owner"],"rollback":["committer","owner"],"verify":["owner","verifier"]},"self_approval":false,"unsigned":true,"verified":[]}'

# Three keys and a trusted-signers file naming their roles: olga an owner,
# carl a committer, pete a publisher.  A staged split of in.ndjson.
people() {
	local k
	for k in olga carl pete; do
		"$RC" keygen "$k" > "$k.b64" 2> /dev/null
		# The trusted-signers line takes the second line of NAME.pub.
		[ "$(sed -n 2p "$k.pub")" = "$(cat "$k.b64")" ]
	done
	{
		echo "olga owner $(sed -n 2p olga.pub)"
		echo "carl committer $(sed -n 2p carl.pub)"
		echo "pete publisher $(sed -n 2p pete.pub)"
	} > trusted
	"$B/refill-split" -q -k user_id -n 4 -o stage in.ndjson
}

# A dataset ds with version 1, committed by olga.
dataset() {
	people
	"$RC" -q -t trusted -k olga -m one ds stage > /dev/null
}

# Each change to its own role; written out of order, as a person might.
split_policy() {
	cat > split.json <<'EOF'
{
  "format": "refill-policy/1",
  "roles": {
    "rollback": ["owner"],
    "publish": ["publisher"],
    "gc": ["owner"],
    "commit": ["committer"]
  }
}
EOF
}
SPLIT='{"approvals":0,"compat":"none","format":"refill-policy/1","roles":{"approve":["approver","owner"],"commit":["committer"],"gc":["owner"],"publish":["publisher"],"rollback":["owner"],"verify":["owner","verifier"]},"self_approval":false,"unsigned":false,"verified":[]}'

# ds with version 1 and split.json in force, set by olga.
split_dataset() {
	dataset
	split_policy
	"$RC" policy -q -t trusted -k olga -m split ds split.json
}

# Runs the command, which must be refused with status 1 (or -N, given
# first), stderr the next argument, and nothing changed: the log byte for
# byte, the versions, current.
refused() {
	local st=-1
	case $1 in -[0-9]) st=$1; shift ;; esac
	local want=$1
	shift
	cp ds/log refused.log
	ls ds/versions > refused.versions
	local cur
	cur=$(readlink ds/current)
	run "$st" --separate-stderr "$@"
	[ -z "$output" ]
	if [ "$stderr" != "$want" ]; then
		printf 'want: %s\ngot:  %s\n' "$want" "$stderr"
		return 1
	fi
	cmp refused.log ds/log
	ls ds/versions > refused.after
	diff -u refused.versions refused.after
	[ "$(readlink ds/current)" = "$cur" ]
	[ ! -e ds/POLICY.new ]
}

# ---- setting a POLICY --------------------------------------------------------

@test "policy: the defaults are printed for a dataset without a POLICY" {
	dataset
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = "$DEFAULTS" ]
	[ "$stderr" = "refill-commit: ds: no POLICY set: these are the defaults" ]
	# With a trusted-signers file in force, no change goes unsigned.
	run -0 --separate-stderr "$RC" policy -q -t trusted ds
	[ "$output" = "${DEFAULTS/\"unsigned\":true/\"unsigned\":false}" ]
	[ -z "$stderr" ]
	[ ! -e ds/POLICY ]
}

@test "policy: an owner sets it; logged, signed by the owner's key, printed back canonical" {
	dataset
	split_policy
	cp ds/log log.before
	run -0 --separate-stderr "$RC" policy -t trusted -k olga -m "roles split" ds split.json
	[ -z "$output" ]
	[ "$stderr" = "refill-commit: ds: POLICY set: every change is checked against it" ]
	[ ! -e ds/POLICY.new ]
	no_temps
	# One line more, and the lines before as they were.
	[ "$(wc -l < ds/log)" = 2 ]
	head -1 ds/log > first
	cmp log.before first
	# The POLICY is the canonical text, and the log line names its SHA-256.
	printf '%s\n' "$SPLIT" > want
	cmp want ds/POLICY
	h=$(sha256sum < ds/POLICY | cut -c1-64)
	tail -1 ds/log > line
	jq -c '[.event, .policy, .mode, .signer, .message, .version, .manifest, .current, .seq]' line > got
	printf '["policy","%s","none","%s","roles split",null,null,1,2]\n' "$h" "$(sed -n 2p olga.pub)" > want
	diff -u want got
	# The line verifies with openssl against the owner's public key.
	sed 's/,"sig":"[^"]*"}$/}/' line | tr -d '\n' > body
	sed 's/.*,"sig":"\([^"]*\)"}$/\1/' line | base64 -d > sig
	run -0 openssl pkeyutl -verify -pubin -inkey olga.pub -rawin -in body -sigfile sig
	# Printed back exactly, roles sorted; with or without the trusted file.
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = "$SPLIT" ]
	[ -z "$stderr" ]
	run -0 --separate-stderr "$RC" policy -t trusted ds
	[ "$output" = "$SPLIT" ]
	# refill-commit log shows the mode and the POLICY's digest.
	"$RC" log ds > log.txt
	grep -v '^[0-9]' log.txt > got
	printf '     mode none\n     POLICY %s\n' "$h" > want
	diff -u want got
	run -0 "$RC" log --json ds
	[ "$(printf '%s\n' "$output" | tail -1 | jq -r .policy)" = "$h" ]
	# refill-verify finds nothing wrong.
	run -0 --separate-stderr "$V" dataset -t trusted ds
	[ "$output" = "ds@000001: OK: 4 files, 10 records" ]
}

@test "policy: the same policy again, in any spelling, logs nothing; another one is a new line" {
	split_dataset
	cp ds/log log.mid
	cp ds/POLICY policy.mid
	# Its canonical form, and a file with the roles in another order.
	printf '%s\n' "$SPLIT" > canon.json
	printf '%s\n' '{"roles":{"commit":["committer"],"publish":["publisher"],"gc":["owner"],"rollback":["owner"]},"unsigned":false,"compat":"none","format":"refill-policy/1"}' > again.json
	for f in split.json canon.json again.json; do
		run -0 --separate-stderr "$RC" policy -t trusted -k olga ds "$f"
		[ -z "$output" ]
		[ "$stderr" = "refill-commit: ds: that POLICY is in force already" ]
		cmp log.mid ds/log
		cmp policy.mid ds/POLICY
	done
	# Another policy: a second policy line, and the later one is in force.
	printf '%s\n' '{"format":"refill-policy/1","roles":{"publish":["release-2","publisher","owner"]}}' > three.json
	run -0 --separate-stderr "$RC" policy -q -t trusted -k olga -m three ds three.json
	[ -z "$stderr" ]
	[ "$(wc -l < ds/log)" = 3 ]
	want='{"approvals":0,"compat":"none","format":"refill-policy/1","roles":{"approve":["approver","owner"],"commit":["committer","owner"],"gc":["committer","owner"],"publish":["owner","publisher","release-2"],"rollback":["committer","owner"],"verify":["owner","verifier"]},"self_approval":false,"unsigned":false,"verified":[]}'
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = "$want" ]
	"$RC" log --json ds > log.json
	jq -c 'select(.event == "policy") | [.seq, .message]' log.json > got
	printf '%s\n' '[2,"split"]' '[3,"three"]' > want
	diff -u want got
	# A POLICY of the members' defaults is a change too, logged; it lets
	# no change go unsigned, where no POLICY does without a trusted file.
	printf '%s\n' '{"format":"refill-policy/1"}' > plain.json
	run -0 --separate-stderr "$RC" policy -q -t trusted -k olga ds plain.json
	[ "$(wc -l < ds/log)" = 4 ]
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = "${DEFAULTS/\"unsigned\":true/\"unsigned\":false}" ]
	[ -z "$stderr" ]
}

@test "policy: only an owner sets it; no trusted file or no key is status 2" {
	dataset
	split_policy
	# A committer: refused, nothing written.
	refused "refill-commit: ds: setting its POLICY needs the role owner; carl has committer" \
	    "$RC" policy -t trusted -k carl ds split.json
	[ ! -e ds/POLICY ]
	# A publisher: refused the same way, once the dataset is open.
	refused "refill-commit: ds: setting its POLICY needs the role owner; pete has publisher" \
	    "$RC" policy -t trusted -k pete ds split.json
	[ ! -e ds/POLICY ]
	# No trusted-signers file: nobody is known to be an owner.
	cp ds/log log.before
	run -2 --separate-stderr "$RC" policy -k olga ds split.json
	[ "$stderr" = "refill-commit: ds: a POLICY needs an owner: give the trusted-signers file that names the roles (-t or REFILL_TRUSTED)" ]
	# --unsigned: with a trusted file, and without one.
	run -2 --separate-stderr "$RC" policy --unsigned -t trusted ds split.json
	[ "$stderr" = "refill-commit: --unsigned: a trusted-signers file (trusted) is in force, and readers would refuse an unsigned line" ]
	run -2 --separate-stderr "$RC" policy --unsigned ds split.json
	[ "$stderr" = "refill-commit: ds: a POLICY is set with an owner's key: give --key" ]
	# No key at all.
	run -2 --separate-stderr "$RC" policy -t trusted ds split.json
	[ "$stderr" = "refill-commit: no signing key: give --key FILE or set REFILL_KEY (or --unsigned to write without a signature)" ]
	# --expect: the current version must be the one named.
	run -5 --separate-stderr "$RC" policy -e 2 -t trusted -k olga ds split.json
	[ "$stderr" = "refill-commit: ds: --expect 000002, but current is 000001" ]
	cmp log.before ds/log
	[ ! -e ds/POLICY ]
	[ ! -e ds/POLICY.new ]
	# The owner, with the trusted file from the environment.
	REFILL_TRUSTED=trusted REFILL_KEY=olga run -0 --separate-stderr "$RC" policy -q -e 1 ds split.json
	[ -z "$stderr" ]
	cmp ds/POLICY <(printf '%s\n' "$SPLIT")
}

@test "policy: a malformed file is status 2 naming it; nothing written" {
	dataset
	cp ds/log log.before
	while IFS='|' read -r json msg; do
		printf '%s\n' "$json" > bad.json
		run -2 --separate-stderr "$RC" policy -t trusted -k olga ds bad.json
		[ -z "$output" ]
		if [ "$stderr" != "refill-commit: bad.json: $msg" ]; then
			printf 'file: %s\nwant: %s\ngot:  %s\n' "$json" "$msg" "$stderr"
			return 1
		fi
		cmp log.before ds/log
		[ ! -e ds/POLICY ]
		[ ! -e ds/POLICY.new ]
	done <<'EOF'
{"format":"refill-policy/1","frob":1}|"frob": not a member of a policy
{"format":"refill-policy/2"}|format is not "refill-policy/1"
{"roles":{"commit":["owner"]}}|no "format": "refill-policy/1"
{"format":"refill-policy/1","roles":{"commit":["Committer"]}}|roles.commit: not an array of role names
{"format":"refill-policy/1","roles":{"publish":["owner","a_b"]}}|roles.publish: not an array of role names
{"format":"refill-policy/1","roles":{"gc":[]}}|roles.gc: no role may do it
{"format":"refill-policy/1","roles":{"rollback":["owner","owner"]}}|roles.rollback: a role named twice
{"format":"refill-policy/1","roles":{"commit":"owner"}}|roles.commit: not an array of role names
{"format":"refill-policy/1","roles":{"commit":[1]}}|roles.commit: not an array of role names
{"format":"refill-policy/1","roles":{"frob":["owner"]}}|roles: "frob" is not commit, publish, rollback, gc, approve or verify
{"format":"refill-policy/1","roles":["owner"]}|roles: not an object
{"format":"refill-policy/1","compat":"sideways"}|compat: not "backward", "forward", "full" or "none"
{"format":"refill-policy/1","compat":1}|compat: not "backward", "forward", "full" or "none"
{"format":"refill-policy/1","unsigned":"yes"}|unsigned: not true or false
{"format":"refill-policy/1","compat":"none","compat":"full"}|duplicate key "compat"
["format","refill-policy/1"]|not a JSON object
{"format":"refill-policy/1",|invalid JSON at byte 30: expected a member name, found the end of the record
EOF
	# A file that is not there: an I/O error, status 4.
	run -4 --separate-stderr "$RC" policy -t trusted -k olga ds nosuch.json
	[ "$stderr" = "refill-commit: nosuch.json: No such file or directory" ]
	cmp log.before ds/log
}

# ---- every change checked against it -----------------------------------------

@test "policy: every role refusal, each beside the role that is allowed" {
	split_dataset
	(cd ds && find objects -type f | sort) > objects.before
	# commit: a publisher refused, a committer allowed.
	refused "refill-commit: ds: commit needs the role committer (its POLICY); pete has publisher" \
	    "$RC" -t trusted -k pete -n -m two ds stage
	(cd ds && find objects -type f | sort) > objects.after
	diff -u objects.before objects.after
	refused "refill-commit: ds: commit needs the role committer (its POLICY); olga has owner" \
	    "$RC" -t trusted -k olga -n -m two ds stage
	run -0 --separate-stderr "$RC" -t trusted -k carl -n -m two ds stage
	[ "$output" = 000002 ]
	[ "$(readlink ds/current)" = versions/000001 ]
	# publish: a committer refused, a publisher allowed.
	refused "refill-commit: ds: publish needs the role publisher (its POLICY); carl has committer" \
	    "$RC" publish -t trusted -k carl ds 2
	refused "refill-commit: ds: publish needs the role publisher (its POLICY); olga has owner" \
	    "$RC" publish -t trusted -k olga ds 2
	run -0 --separate-stderr "$RC" publish -t trusted -k pete -m go ds 2
	[ "$stderr" = "refill-commit: ds: current is version 000002 (was 000001)" ]
	[ "$(readlink ds/current)" = versions/000002 ]
	# rollback: a publisher refused, an owner allowed.
	refused "refill-commit: ds: rollback needs the role owner (its POLICY); pete has publisher" \
	    "$RC" rollback -t trusted -k pete ds
	refused "refill-commit: ds: rollback needs the role owner (its POLICY); carl has committer" \
	    "$RC" rollback -t trusted -k carl ds 1
	run -0 --separate-stderr "$RC" rollback -t trusted -k olga ds
	[ "$output" = 000001 ]
	[ "$(readlink ds/current)" = versions/000001 ]
	# gc: a committer refused, an owner allowed.
	refused "refill-commit: ds: gc needs the role owner (its POLICY); carl has committer" \
	    "$RC" gc -t trusted -k carl --keep 1 ds
	refused "refill-commit: ds: gc needs the role owner (its POLICY); pete has publisher" \
	    "$RC" gc -t trusted -k pete --keep 1 ds
	run -0 --separate-stderr "$RC" gc -t trusted -k olga --keep 1 ds
	[ "$stderr" = "refill-commit: ds: removed 0 versions and 0 objects" ]
	# The log holds the allowed changes only.
	"$RC" log --json ds > log.json
	jq -r '.event' log.json > got
	printf '%s\n' commit policy commit publish rollback gc > want
	diff -u want got
	run -0 --separate-stderr "$V" dataset -t trusted ds
}

@test "policy: the roles a refusal names are sorted, joined with commas and or" {
	dataset
	"$RC" keygen rita > rita.b64 2> /dev/null
	echo "rita reader,auditor $(sed -n 2p rita.pub)" >> trusted
	printf '%s\n' '{"format":"refill-policy/1","roles":{"publish":["release-2","publisher","owner"],"commit":["owner","committer"]}}' > p.json
	"$RC" policy -q -t trusted -k olga ds p.json
	"$RC" -q -t trusted -k carl -n -m two ds stage > /dev/null
	refused "refill-commit: ds: publish needs the role owner, publisher or release-2 (its POLICY); carl has committer" \
	    "$RC" publish -t trusted -k carl ds 2
	# A key the POLICY gives nothing, listed with two roles of its own.
	refused "refill-commit: ds: commit needs the role committer or owner (its POLICY); rita has reader,auditor" \
	    "$RC" -t trusted -k rita -m three ds stage
	run -0 --separate-stderr "$RC" publish -q -t trusted -k pete ds 2
	[ "$(readlink ds/current)" = versions/000002 ]
}

# BUG: a commit that is not --no-publish makes its version current, so a
# key the POLICY lets commit but not publish publishes all the same.  Now:
# status 0, "000002", "version 000002 committed and current", current moved.
@test "policy: a committer without the publish role cannot make a version current by committing" {
	split_dataset
	# carl may commit, not publish: a commit that would publish is refused.
	refused "refill-commit: ds: publish needs the role publisher (its POLICY); carl has committer
refill-commit: ds: commit with -n, for a candidate that a publisher publishes" \
	    "$RC" -t trusted -k carl -m two ds stage
	[ "$(readlink ds/current)" = versions/000001 ]
	# As a candidate it is allowed.
	run -0 --separate-stderr "$RC" -q -t trusted -k carl -n -m two ds stage
	[ "$output" = 000002 ]
	[ "$(readlink ds/current)" = versions/000001 ]
}

# ---- unsigned changes --------------------------------------------------------

@test "policy: unsigned changes refused unless the POLICY allows them" {
	split_dataset
	"$RC" -q -t trusted -k carl -n -m two ds stage > /dev/null
	# Without the trusted file, --unsigned: every writer refused.
	for cmd in "--unsigned -m three ds stage" "publish --unsigned ds 2" \
	    "rollback --unsigned ds" "gc --unsigned --keep 1 ds"; do
		# shellcheck disable=SC2086
		refused "refill-commit: ds: its POLICY allows no unsigned change" \
		    "$RC" $cmd
	done
	# With it, --unsigned is a usage error, as ever.
	run -2 --separate-stderr "$RC" --unsigned -t trusted -m three ds stage
	[ "$stderr" = "refill-commit: --unsigned: a trusted-signers file (trusted) is in force, and readers would refuse an unsigned line" ]
	# A signed change without the trusted file: the roles are unknown.
	cp ds/log log.before
	run -2 --separate-stderr "$RC" -k carl -m three ds stage
	[ "$stderr" = "refill-commit: ds: its POLICY gives each change to roles: give the trusted-signers file that names the roles (-t or REFILL_TRUSTED)" ]
	run -2 --separate-stderr "$RC" publish -k pete ds 2
	[ "$stderr" = "refill-commit: ds: its POLICY gives each change to roles: give the trusted-signers file that names the roles (-t or REFILL_TRUSTED)" ]
	cmp log.before ds/log
	# A policy that allows them: --unsigned commits and publishes go through.
	printf '%s\n' '{"format":"refill-policy/1","unsigned":true}' > open.json
	"$RC" policy -q -t trusted -k olga -m open ds open.json
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = '{"approvals":0,"compat":"none","format":"refill-policy/1","roles":{"approve":["approver","owner"],"commit":["committer","owner"],"gc":["committer","owner"],"publish":["committer","owner"],"rollback":["committer","owner"],"verify":["owner","verifier"]},"self_approval":false,"unsigned":true,"verified":[]}' ]
	run -0 --separate-stderr "$RC" --unsigned -m three ds stage
	[ "$output" = 000003 ]
	[ "$stderr" = "refill-commit: ds: version 000003 committed and current: 4 files, 10 records, unsigned" ]
	run -0 --separate-stderr "$RC" publish -q --unsigned ds 2
	[ "$(readlink ds/current)" = versions/000002 ]
	"$RC" log ds > log.txt
	grep -c '(unsigned)' log.txt > got
	echo 2 > want
	diff -u want got
	# Readers without the trusted file accept the unsigned lines.
	run -0 --separate-stderr "$V" dataset ds
	[ "$output" = "ds@000002: OK: 4 files, 10 records" ]
	# With it they refuse them (refill-commit(1), before any POLICY).
	run -1 --separate-stderr "$RC" log -t trusted ds
	[ "$stderr" = "refill-commit: ds/log:5: unsigned, and trusted is in force" ]
	run -1 --separate-stderr "$V" dataset -t trusted ds
	[ "$output" = "ds: log: ds/log:5: unsigned, and trusted is in force" ]
	[ "$stderr" = "refill-verify: ds: 1 problem found" ]
}

@test "policy: a dataset of unsigned lines takes no POLICY; without one --unsigned works as before" {
	people
	run -0 "$RC" -q --unsigned -m one du stage
	run -0 "$RC" -q --unsigned -m two du stage
	[ "$output" = 000002 ]
	split_policy
	cp du/log log.before
	run -2 --separate-stderr "$RC" policy --unsigned du split.json
	[ "$stderr" = "refill-commit: du: a POLICY is set with an owner's key: give --key" ]
	run -2 --separate-stderr "$RC" policy -k olga du split.json
	[ "$stderr" = "refill-commit: du: a POLICY needs an owner: give the trusted-signers file that names the roles (-t or REFILL_TRUSTED)" ]
	run -1 --separate-stderr "$RC" policy -t trusted -k olga du split.json
	[ "$stderr" = "refill-commit: du/log:1: unsigned, and trusted is in force" ]
	cmp log.before du/log
	[ ! -e du/POLICY ]
	[ ! -e du/POLICY.new ]
}

# ---- a POLICY that is not the one the log set --------------------------------

@test "policy: a changed byte of POLICY is refused by every writer and named by refill-verify" {
	split_dataset
	"$RC" -q -t trusted -k carl -n -m two ds stage > /dev/null
	cp ds/POLICY policy.good
	# "unsigned":false becomes "unsigned":true : one byte more permissive.
	sed -i 's/"unsigned":false,/"unsigned":true ,/' ds/POLICY
	run -1 cmp -s policy.good ds/POLICY
	msg="refill-commit: ds/POLICY: is not the policy that line 2 of the log set"
	refused "$msg" "$RC" -t trusted -k carl -n -m three ds stage
	refused "$msg" "$RC" publish -t trusted -k pete ds 2
	refused "$msg" "$RC" rollback -t trusted -k olga ds 1
	refused "$msg" "$RC" gc -t trusted -k olga --keep 1 ds
	refused "$msg" "$RC" --unsigned -m three ds stage
	# Not even its owner sets another over it.
	printf '%s\n' '{"format":"refill-policy/1"}' > plain.json
	refused "$msg" "$RC" policy -t trusted -k olga ds plain.json
	refused "$msg" "$RC" policy ds
	run -1 --separate-stderr "$V" dataset ds
	[ "$output" = "ds: ds/POLICY: is not the policy that line 2 of the log set
ds@000001: OK: 4 files, 10 records" ]
	[ "$stderr" = "refill-verify: ds: 1 problem found" ]
	run -1 --separate-stderr "$V" dataset --json -t trusted ds
	run -0 jq -c '[.ok, .log]' <<< "$output"
	[ "$output" = '[false,["ds/POLICY: is not the policy that line 2 of the log set"]]' ]
	# The bytes put back: all is well again.
	cp policy.good ds/POLICY
	run -0 --separate-stderr "$V" dataset -t trusted ds
	run -0 --separate-stderr "$RC" publish -q -t trusted -k pete ds 2
}

@test "policy: a missing POLICY, and one that no line of the log set" {
	split_dataset
	rm ds/POLICY
	msg="refill-commit: ds/POLICY: missing, but line 2 of the log sets it"
	refused "$msg" "$RC" -t trusted -k carl -n -m two ds stage
	refused "$msg" "$RC" rollback -t trusted -k olga ds 1
	refused "$msg" "$RC" policy ds
	run -1 --separate-stderr "$V" dataset ds
	[ "$output" = "ds: ds/POLICY: missing, but line 2 of the log sets it
ds@000001: OK: 4 files, 10 records" ]
	# A POLICY copied into a dataset that never set one.
	"$RC" -q -t trusted -k olga -m one other stage > /dev/null
	printf '%s\n' "$SPLIT" > other/POLICY
	cp other/log other.log
	for cmd in "-t trusted -k olga -m two other stage" \
	    "-t trusted -k carl -m two other stage" \
	    "policy -t trusted -k olga other split.json" "policy other"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr "$RC" $cmd
		[ "$stderr" = "refill-commit: other/POLICY: no line of the log sets it" ]
		cmp other.log other/log
	done
	run -1 --separate-stderr "$V" dataset other
	[ "$output" = "other: other/POLICY: no line of the log sets it
other@000001: OK: 4 files, 10 records" ]
	[ "$stderr" = "refill-verify: other: 1 problem found" ]
}

@test "policy: a POLICY set by a key the trusted file lists only as a committer is refused" {
	people
	# carl is an owner in t-owner, and sets the policy with it.
	sed 's/^carl committer /carl committer,owner /' trusted > t-owner
	"$RC" -q -t t-owner -k carl -m one ds stage > /dev/null
	split_policy
	run -0 --separate-stderr "$RC" policy -q -t t-owner -k carl ds split.json
	run -0 --separate-stderr "$V" dataset -t t-owner ds
	# trusted lists carl as a committer only: the POLICY is not an owner's.
	msg="refill-commit: ds/POLICY: set by line 2 of the log, with a key that trusted does not list as an owner's"
	refused "$msg" "$RC" -t trusted -k carl -n -m two ds stage
	refused "$msg" "$RC" publish -t trusted -k pete ds 1
	refused "$msg" "$RC" policy -t trusted ds
	refused "$msg" "$RC" policy -t trusted -k olga ds split.json
	run -1 --separate-stderr "$V" dataset -t trusted ds
	[ "$output" = "ds: ds/POLICY: set by line 2 of the log, with a key that trusted does not list as an owner's
ds@000001: OK: 4 files, 10 records" ]
	# Without a trusted file no owner is known: the POLICY's bytes alone.
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = "$SPLIT" ]
	run -0 --separate-stderr "$V" dataset ds
}

@test "policy: a POLICY whose log line was edited to name it: the signature fails" {
	split_dataset
	sed 's/"publisher"/"committer"/' ds/POLICY > forged
	old=$(sha256sum < ds/POLICY | cut -c1-64)
	new=$(sha256sum < forged | cut -c1-64)
	cp forged ds/POLICY
	sed -i "2s/$old/$new/" ds/log
	grep -q "$new" ds/log
	msg="refill-commit: ds/log:2: the signature does not match"
	refused "$msg" "$RC" -t trusted -k carl -n -m two ds stage
	refused "$msg" "$RC" publish -t trusted -k carl ds 1
	refused "$msg" "$RC" policy ds
	run -1 --separate-stderr "$V" dataset ds
	[ "$output" = "ds: log: ds/log:2: the signature does not match" ]
}

# ---- repair ------------------------------------------------------------------

@test "policy: a POLICY.new the log set is put in place by the next writer" {
	split_dataset
	cp ds/POLICY policy.good
	# What a writer killed after its log line leaves.
	mv ds/POLICY ds/POLICY.new
	# Readers do not repair: they say what is wrong.
	run -1 --separate-stderr "$RC" policy ds
	[ "$stderr" = "refill-commit: ds/POLICY: missing, but line 2 of the log sets it (a writer stopped while setting it: the next writer puts POLICY.new in place)" ]
	run -1 --separate-stderr "$V" dataset ds
	[ ! -e ds/POLICY ]
	run -0 --separate-stderr "$RC" -t trusted -k carl -n -m two ds stage
	[ "$output" = 000002 ]
	[ "$stderr" = "refill-commit: ds: repaired: put in place the POLICY that line 2 of the log set
refill-commit: ds: version 000002 committed as a candidate (not current): 4 files, 10 records" ]
	cmp policy.good ds/POLICY
	[ ! -e ds/POLICY.new ]
	# In force again: the roles apply.
	refused "refill-commit: ds: publish needs the role publisher (its POLICY); carl has committer" \
	    "$RC" publish -t trusted -k carl ds 2
	run -0 --separate-stderr "$V" dataset -t trusted ds
}

@test "policy: a stray POLICY.new the log never set is removed, the POLICY unchanged" {
	split_dataset
	cp ds/POLICY policy.good
	"$RC" -q -t trusted -k carl -n -m two ds stage > /dev/null
	printf '%s\n' '{"format":"refill-policy/1","unsigned":true}' > ds/POLICY.new
	run -0 --separate-stderr "$RC" publish -t trusted -k pete ds 2
	[ "$stderr" = "refill-commit: ds: repaired: removed ds/POLICY.new: the log never set it
refill-commit: ds: current is version 000002 (was 000001)" ]
	[ ! -e ds/POLICY.new ]
	cmp policy.good ds/POLICY
	# One an earlier line set, but not the last: removed too.
	printf '%s\n' '{"format":"refill-policy/1"}' > plain.json
	"$RC" policy -q -t trusted -k olga ds plain.json
	cp ds/POLICY policy.plain
	cp policy.good ds/POLICY.new
	run -0 --separate-stderr "$RC" rollback -t trusted -k olga ds
	[ "$stderr" = "refill-commit: ds: repaired: removed ds/POLICY.new: the log never set it
refill-commit: ds: current is version 000001 (was 000002)" ]
	[ ! -e ds/POLICY.new ]
	cmp policy.plain ds/POLICY
}

# BUG: refill-commit decides whether a POLICY is set by looking for
# DATASET/POLICY before it opens the dataset; while the POLICY is missing
# (a POLICY.new awaiting repair, or deleted), a key without the owner or
# committer role is refused before the repair, or the check of the log,
# can run, even when the POLICY the log set gives it the change.  Now: the
# publish is status 1, "refill-commit: pete: this key has neither the owner
# nor the committer role in trusted", POLICY.new left as it was.
@test "policy: a publisher's publish repairs a POLICY.new, and is told of a missing POLICY" {
	split_dataset
	"$RC" -q -t trusted -k carl -n -m two ds stage > /dev/null
	cp ds/POLICY policy.good
	mv ds/POLICY ds/POLICY.new
	run -0 --separate-stderr "$RC" publish -t trusted -k pete ds 2
	[ "$stderr" = "refill-commit: ds: repaired: put in place the POLICY that line 2 of the log set
refill-commit: ds: current is version 000002 (was 000001)" ]
	cmp policy.good ds/POLICY
	rm ds/POLICY
	refused "refill-commit: ds/POLICY: missing, but line 2 of the log sets it" \
	    "$RC" rollback -t trusted -k pete ds
}

# ---- compatibility mode ------------------------------------------------------

# Records for version 1, and a breaking change of them (tests/schema.bats).
compat_stage() {
	mkdir -p st1 st2
	printf '%s\n' '{"id":1,"kind":"a","v":1}' '{"id":2,"kind":"b","v":null,"o":{"x":1.5}}' > st1/p1.ndjson
	printf '%s\n' '{"id":3,"kind":"a","v":2}' > st1/p2.ndjson
	printf '%s\n' '{"id":"4","kind":"a","v":1}' > st2/p1.ndjson
}

@test "policy: refill-commit compat is refused under a POLICY, which sets the mode itself" {
	people
	compat_stage
	"$RC" -q -t trusted -k olga -m first ds st1 > /dev/null
	# Without a POLICY, compat works as before.
	run -0 --separate-stderr "$RC" compat -q -t trusted -k olga ds forward
	printf '%s\n' '{"format":"refill-policy/1","compat":"backward"}' > strict.json
	"$RC" policy -q -t trusted -k olga -m strict ds strict.json
	for m in backward none full; do
		refused -2 "refill-commit: ds: its POLICY sets the compatibility mode: change its compat member with refill-commit policy" \
		    "$RC" compat -t trusted -k olga ds "$m"
	done
	"$RC" log --json ds > log.json
	jq -c 'select(.event == "compat" or .event == "policy") | [.event, .mode]' log.json > got
	printf '%s\n' '["compat","forward"]' '["policy","backward"]' > want
	diff -u want got
}

@test "policy: its compat mode refuses a breaking commit; --allow-breaking lets it through" {
	people
	compat_stage
	"$RC" -q -t trusted -k olga -m first ds st1 > /dev/null
	printf '%s\n' '{"format":"refill-policy/1","compat":"backward"}' > strict.json
	"$RC" policy -q -t trusted -k olga -m strict ds strict.json
	run -0 --separate-stderr "$RC" policy ds
	[ "$output" = '{"approvals":0,"compat":"backward","format":"refill-policy/1","roles":{"approve":["approver","owner"],"commit":["committer","owner"],"gc":["committer","owner"],"publish":["committer","owner"],"rollback":["committer","owner"],"verify":["owner","verifier"]},"self_approval":false,"unsigned":false,"verified":[]}' ]
	"$RC" log ds > log.txt
	grep -v '^[0-9]' log.txt > got
	printf '     mode backward\n     POLICY %s\n' "$(sha256sum < ds/POLICY | cut -c1-64)" > want
	diff -u want got
	cp ds/log log.before
	run -1 --separate-stderr "$RC" -t trusted -k carl -m second ds st2
	[ -z "$output" ]
	cat > want <<'EOF'
refill-commit: ds: id: type changed (integer to string): backward compatibility with version 000001 breaks
refill-commit: ds: kind: enum values removed ("b"): backward compatibility with version 000001 breaks
refill-commit: ds: v: lost its nulls: backward compatibility with version 000001 breaks
refill-commit: ds: the dataset's mode is backward: nothing committed (override with --allow-breaking MESSAGE)
EOF
	printf '%s\n' "$stderr" > got
	diff -u want got
	cmp log.before ds/log
	[ "$(readlink ds/current)" = versions/000001 ]
	no_temps
	run -0 --separate-stderr "$RC" -t trusted -k carl -m second --allow-breaking "ids are strings now" ds st2
	[ "$output" = 000002 ]
	[[ "$stderr" == *"refill-commit: ds: committed all the same: --allow-breaking, which the log records"* ]]
	tail -1 ds/log > last
	run -0 jq -c '[.event, .version, .override]' last
	[ "$output" = '["commit",2,"ids are strings now"]' ]
	# Another POLICY with compat none: the same kind of change goes through.
	printf '%s\n' '{"id":5,"kind":"a","v":1}' > st2/p1.ndjson
	printf '%s\n' '{"format":"refill-policy/1","compat":"none"}' > loose.json
	"$RC" policy -q -t trusted -k olga ds loose.json
	run -0 --separate-stderr "$RC" -q -t trusted -k carl -m third ds st2
	[ "$output" = 000003 ]
}

@test "policy: a POLICY without compat sets the mode none, over an earlier compat line" {
	people
	compat_stage
	"$RC" -q -t trusted -k olga -m first ds st1 > /dev/null
	"$RC" compat -q -t trusted -k olga ds backward
	run -1 --separate-stderr "$RC" -q -t trusted -k carl -n -m x ds st2
	printf '%s\n' '{"format":"refill-policy/1"}' > plain.json
	"$RC" policy -q -t trusted -k olga ds plain.json
	tail -1 ds/log > last
	run -0 jq -r .mode last
	[ "$output" = none ]
	run -0 --separate-stderr "$RC" -q -t trusted -k carl -n -m x ds st2
	[ "$output" = 000002 ]
}

# ---- approvals ---------------------------------------------------------------

# Two approvers, ann and abe, beside olga, carl and pete; a policy that
# needs two approvals to publish; version 2 a candidate carl committed.
approvals_dataset() {
	dataset
	local k
	for k in ann abe; do
		"$RC" keygen "$k" > /dev/null 2>&1
		echo "$k approver $(sed -n 2p "$k.pub")" >> trusted
	done
	sed -i 's/^carl committer /carl committer,approver /' trusted
	printf '%s\n' '{"format":"refill-policy/1","approvals":2}' > two.json
	"$RC" policy -q -t trusted -k olga -m "two approvals" ds two.json
	mkdir stage2
	printf '%s\n' '{"uid":"u1","n":1}' '{"uid":"u2","n":2}' > stage2/part.ndjson
	run -0 "$RC" -q -t trusted -k carl -n -m two ds stage2
	[ "$output" = 000002 ]
}

@test "approvals: a publish waits for the POLICY's count of distinct approvers" {
	approvals_dataset
	# A commit that would publish at once cannot have been approved.
	refused "refill-commit: ds: its POLICY needs 2 approvals to publish a version: commit with -n, have it approved, then publish" \
	    "$RC" -t trusted -k carl -m three ds stage2
	m2=$(sha256sum ds/versions/000002/MANIFEST | cut -c 1-12)
	refused "refill-commit: ds: version 000002 needs 2 approvals of its MANIFEST $m2... (its POLICY); it has 0" \
	    "$RC" publish -t trusted -k olga ds 2
	run -0 --separate-stderr "$RC" approve -t trusted -k ann -m "figures match" ds 2
	[ "$stderr" = "refill-commit: ds: version 000002 approved: 1 of the 2 its POLICY needs to publish it" ]
	# The same key again adds nothing, and no line.
	cp ds/log log.before
	run -0 --separate-stderr "$RC" approve -t trusted -k ann -m "again" ds 2
	[ "$stderr" = "refill-commit: ds: this key approved version 000002 already (line 4)" ]
	cmp log.before ds/log
	refused "refill-commit: ds: version 000002 needs 2 approvals of its MANIFEST $m2... (its POLICY); it has 1 (ann)" \
	    "$RC" publish -t trusted -k olga ds 2
	run -0 --separate-stderr "$RC" approve -t trusted -k abe -m "reviewed" ds 2
	[ "$stderr" = "refill-commit: ds: version 000002 approved: 2 of the 2 its POLICY needs to publish it" ]
	run -0 --separate-stderr "$RC" publish -t trusted -k olga ds 2
	[ "$output" = 000002 ]
	# The log: the approvals name version 2's MANIFEST, signed by each.
	jq -c 'select(.event == "approve") | [.version, .manifest, .message]' ds/log > got
	m=$(sha256sum ds/versions/000002/MANIFEST | cut -d ' ' -f 1)
	printf '[2,"%s","%s"]\n' "$m" "figures match" "$m" reviewed > want
	diff -u want got
	jq -r 'select(.event == "approve") | .signer' ds/log > got
	printf '%s\n' "$(sed -n 2p ann.pub)" "$(sed -n 2p abe.pub)" > want
	diff -u want got
}

@test "approvals: one manifest's do not count for another's; a committer may not approve its own" {
	approvals_dataset
	run -0 "$RC" approve -q -t trusted -k ann -m ok ds 2
	run -0 "$RC" approve -q -t trusted -k abe -m ok ds 2
	# Version 3 holds other data: version 2's approvals are not its.
	# A new file: the old one is version 2's stored object, linked.
	rm stage2/part.ndjson
	printf '%s\n' '{"uid":"u3","n":3}' > stage2/part.ndjson
	run -0 "$RC" -q -t trusted -k carl -n -m three ds stage2
	m3=$(sha256sum ds/versions/000003/MANIFEST | cut -c 1-12)
	refused "refill-commit: ds: version 000003 needs 2 approvals of its MANIFEST $m3... (its POLICY); it has 0" \
	    "$RC" publish -t trusted -k olga ds 3
	# carl committed version 3, and is an approver: not of his own.
	refused "refill-commit: ds: this key committed version 000003, and its POLICY lets no committer approve its own version" \
	    "$RC" approve -t trusted -k carl -m mine ds 3
	# Of a candidate olga committed, his approval counts.
	mkdir stage4
	printf '%s\n' '{"uid":"u4","n":4}' > stage4/part.ndjson
	run -0 "$RC" -q -t trusted -k olga -n -m four ds stage4
	[ "$output" = 000004 ]
	run -0 --separate-stderr "$RC" approve -t trusted -k carl -m "olga's" ds 4
	[ "$stderr" = "refill-commit: ds: version 000004 approved: 1 of the 2 its POLICY needs to publish it" ]
	# Version 1 was published already: nothing is left to approve.
	refused "refill-commit: ds: version 000001 was published already (line 1): there is nothing left to approve" \
	    "$RC" approve -t trusted -k ann -m late ds 1
	# A key without an approving role is refused, naming the role.
	refused "refill-commit: ds: approve needs the role approver or owner (its POLICY); pete has publisher" \
	    "$RC" approve -t trusted -k pete -m ok ds 3
	# With self_approval, the committer's own counts.
	printf '%s\n' '{"format":"refill-policy/1","approvals":1,"self_approval":true}' > self.json
	run -0 "$RC" policy -q -t trusted -k olga ds self.json
	run -0 "$RC" approve -q -t trusted -k carl -m mine ds 3
	run -0 "$RC" publish -q -t trusted -k olga ds 3
	[ "$output" = 000003 ]
}

@test "approvals: usage — a key and a reason are needed; no such version" {
	approvals_dataset
	run -2 --separate-stderr "$RC" approve -t trusted -k ann ds 2
	[ "$stderr" = "refill-commit: an approval says why: -m MESSAGE" ]
	run -2 --separate-stderr "$RC" approve --unsigned -m ok ds 2
	[ "$stderr" = "refill-commit: an approval is signed: give --key" ]
	run -2 --separate-stderr "$RC" approve -t trusted -k ann -m ok ds 9
	[ "$stderr" = "refill-commit: ds: no version 000009" ]
	run -2 --separate-stderr "$RC" approve -t trusted -k ann -m ok ds
	[ "${stderr%%$'\n'*}" = "usage: refill-commit [-nqu] [--allow-breaking message] [-d name] [-e version]" ]
}

@test "approvals: without a POLICY, approvers and owners approve; a count of none is needed" {
	dataset
	"$RC" keygen ann > /dev/null 2>&1
	echo "ann approver $(sed -n 2p ann.pub)" >> trusted
	run -0 "$RC" -q -t trusted -k carl -n -m two ds stage
	[ "$output" = 000002 ]
	run -0 --separate-stderr "$RC" approve -t trusted -k ann -m ok ds 2
	[ "$stderr" = "refill-commit: ds: version 000002 approved: 1 approval; publishing needs none" ]
	refused "refill-commit: ds: approve needs the role approver or owner (no POLICY: the default); carl has committer" \
	    "$RC" approve -t trusted -k carl -m ok ds 2
	# Its own, without a POLICY: the default lets no committer approve it.
	sed -i 's/^carl committer /carl committer,approver /' trusted
	refused "refill-commit: ds: this key committed version 000002, and without a POLICY, the default lets no committer approve its own version" \
	    "$RC" approve -t trusted -k carl -m mine ds 2
}

@test "approvals: rollback to a version never current needs its approvals too" {
	approvals_dataset
	# Version 3, approved and published; version 2 never was.
	rm stage2/part.ndjson
	printf '%s\n' '{"uid":"u3","n":3}' > stage2/part.ndjson
	run -0 "$RC" -q -t trusted -k carl -n -m three ds stage2
	run -0 "$RC" approve -q -t trusted -k ann -m ok ds 3
	run -0 "$RC" approve -q -t trusted -k abe -m ok ds 3
	run -0 "$RC" publish -q -t trusted -k olga ds 3
	m2=$(sha256sum ds/versions/000002/MANIFEST | cut -c 1-12)
	refused "refill-commit: ds: version 000002 needs 2 approvals of its MANIFEST $m2... (its POLICY); it has 0" \
	    "$RC" rollback -t trusted -k olga ds 2
	# Version 1 was current before: going back to it needs none.
	run -0 "$RC" rollback -q -t trusted -k olga ds 1
	[ "$output" = 000001 ]
}

# ds with version 1 (olga's), a POLICY that needs passing diff and rules
# reports, and version 2, a candidate of two records committed by carl.
# vera is a verifier.
verified_dataset() {
	dataset
	"$RC" keygen vera > /dev/null 2>&1
	echo "vera verifier $(sed -n 2p vera.pub)" >> trusted
	printf '%s\n' '{"format":"refill-policy/1","verified":["rules","diff"]}' > gate.json
	"$RC" policy -q -t trusted -k olga -m gate ds gate.json
	mkdir stage2
	printf '%s\n' '{"user_id":"u1","n":1}' '{"user_id":"u2","n":2}' > stage2/part.ndjson
	run -0 "$RC" -q -t trusted -k carl -n -m two ds stage2
	[ "$output" = 000002 ]
	printf '%s\n' 'required user_id' 'type n integer' > checks.rules
	m2=$(sha256sum ds/versions/000002/MANIFEST | cut -c 1-12)
}

# The diff of version 1 and 2 that passes, with limits that let through
# what changed: records gone, changed, and u1 and u2 twice in version 1.
diff_report() {
	run -0 "$V" diff -q -t trusted -k user_id --max-removed 100% \
	    --max-changed 100% --max-duplicates 100% --sign "$1" \
	    --report "$2" ds@1 ds@2
}

@test "verified: publish needs a passing report of each check, by a verifier, of this MANIFEST" {
	verified_dataset
	refused "refill-commit: ds: its POLICY needs signed reports of refill-verify to publish a version: commit with -n, verify it, then publish with --report" \
	    "$RC" -t trusted -k olga -m three ds stage2
	refused "refill-commit: ds: version 000002 needs a passing report of diff, rules by a key that may verify, of its MANIFEST $m2... (its POLICY)" \
	    "$RC" publish -t trusted -k olga ds 2
	diff_report vera diff.rep
	refused "refill-commit: ds: version 000002 needs a passing report of rules by a key that may verify, of its MANIFEST $m2... (its POLICY)" \
	    "$RC" publish -t trusted -k olga --report diff.rep ds 2
	# carl is a committer: his report is not a verifier's.
	run -0 "$V" rules -q -t trusted --sign carl --report carl.rep checks.rules ds@2
	refused "refill-commit: carl.rep: a report counts when signed by the role owner or verifier (its POLICY); carl has committer" \
	    "$RC" publish -t trusted -k olga --report diff.rep --report carl.rep ds 2
	# A report of version 1 is not one of version 2.
	run -0 "$V" rules -q -t trusted --sign vera --report one.rep checks.rules ds@1
	m1=$(sha256sum ds/versions/000001/MANIFEST | cut -c 1-12)
	refused "refill-commit: one.rep: a report of version 000001's MANIFEST $m1..., not of version 000002's $m2..." \
	    "$RC" publish -t trusted -k olga --report diff.rep --report one.rep ds 2
	# A failed check: signed, but not passing.
	run -1 "$V" diff -q -t trusted -k user_id --sign vera --report failed.rep ds@1 ds@2
	[ "$(jq -c '[.report.passed, .report.status]' failed.rep)" = '[false,1]' ]
	refused "refill-commit: failed.rep: the diff check of version 000002 failed" \
	    "$RC" publish -t trusted -k olga --report failed.rep ds 2
	# One changed byte of a report: its signature fails.  Not a report: 3.
	run -0 "$V" rules -q -t trusted --sign vera --report rules.rep checks.rules ds@2
	sed 's/"records_in":2/"records_in":3/' rules.rep > forged.rep
	run -1 cmp -s rules.rep forged.rep
	refused "refill-commit: forged.rep: the signature does not match its report" \
	    "$RC" publish -t trusted -k olga --report diff.rep --report forged.rep ds 2
	echo '{"report":{}}' > empty.rep
	refused -3 "refill-commit: empty.rep: not a verification report: no report, or no sig" \
	    "$RC" publish -t trusted -k olga --report empty.rep ds 2
	# A key the trusted file does not list.
	"$RC" keygen stranger > /dev/null 2>&1
	run -0 "$V" rules -q --sign stranger --report stranger.rep checks.rules ds@2
	refused "refill-commit: stranger.rep: signed by a key that trusted does not list" \
	    "$RC" publish -t trusted -k olga --report diff.rep --report stranger.rep ds 2

	# Both, by vera: published, and the line carries them as they were.
	run -0 --separate-stderr "$RC" publish -t trusted -k olga -m gated \
	    --report diff.rep --report rules.rep ds 2
	[ "$output" = 000002 ]
	tail -1 ds/log > line
	jq -c '.reports[]' line > got
	cat diff.rep rules.rep > want
	diff -u want got
	run -0 "$RC" log -t trusted ds
	[ "${lines[-2]}" = "     report diff passed, by vera" ]
	[ "${lines[-1]}" = "     report rules passed, by vera" ]
	# The line verifies, reports and all.
	run -0 "$V" dataset -q -t trusted ds@1
}

@test "verified: a version current before needs no report; one given is status 2" {
	verified_dataset
	diff_report vera diff.rep
	run -0 "$V" rules -q -t trusted --sign vera --report rules.rep checks.rules ds@2
	run -0 "$RC" publish -q -t trusted -k olga --report diff.rep --report rules.rep ds 2
	run -0 "$RC" rollback -q -t trusted -k olga ds 1
	[ "$output" = 000001 ]
	refused -2 "refill-commit: ds: version 000002 was current before (line 4): a report is for a version's first publication" \
	    "$RC" publish -t trusted -k olga --report diff.rep --report rules.rep ds 2
	run -0 "$RC" publish -q -t trusted -k olga ds 2
	[ "$output" = 000002 ]
	# --report belongs to publish and rollback.
	run -2 --separate-stderr "$RC" approve -t trusted -k olga -m x --report diff.rep ds 2
	[ "${stderr%%$'\n'*}" = "refill-commit: --report applies to publish and rollback only" ]
}

@test "verified: without a trusted-signers file no report is a verifier's" {
	verified_dataset
	# A POLICY that lets changes go unsigned asks for no trusted file.
	printf '%s\n' '{"format":"refill-policy/1","verified":["rules","diff"],"unsigned":true}' > gate.json
	"$RC" policy -q -t trusted -k olga -m "gate, unsigned" ds gate.json
	diff_report vera diff.rep
	run -0 "$V" rules -q -t trusted --sign vera --report rules.rep checks.rules ds@2
	refused -2 "refill-commit: ds: no trusted-signers file names the verifiers that its POLICY needs" \
	    "$RC" publish -k olga --report diff.rep --report rules.rep ds 2
}

@test "verified: a POLICY's verified checks are strict" {
	dataset
	local bad
	while IFS='|' read -r file why; do
		printf '%s\n' "$file" > bad.json
		refused -2 "refill-commit: bad.json: $why" \
		    "$RC" policy -t trusted -k olga ds bad.json
	done <<'EOF'
{"format":"refill-policy/1","verified":"diff"}|verified: not an array of checks
{"format":"refill-policy/1","verified":["diff","lint"]}|verified: a check is "dataset", "diff", "drift" or "rules"
{"format":"refill-policy/1","verified":["diff","diff"]}|verified: a check named twice
{"format":"refill-policy/1","verified":[1]}|verified: a check is "dataset", "diff", "drift" or "rules"
EOF
	printf '%s\n' '{"format":"refill-policy/1","verified":["rules","drift","dataset"]}' > ok.json
	run -0 "$RC" policy -q -t trusted -k olga ds ok.json
	run -0 jq -c .verified ds/POLICY
	[ "$output" = '["dataset","drift","rules"]' ]
}
