#!/usr/bin/env bats
# refill-commit: signed versions, atomic publish and rollback, the audit
# log, the lock, repair, gc.

load helpers

# A key, its trusted-signers line, and a staged split of in.ndjson.
stage() {
	"$B/refill-commit" keygen k1 > k1.b64 2> /dev/null
	"$B/refill-split" -k user_id -n 4 -o "${1:-stage}" in.ndjson
}

commit() {
	"$B/refill-commit" -q -k k1 "$@"
}

# A subcommand: its name comes first.
sub() {
	"$B/refill-commit" "$1" -q -k k1 "${@:2}"
}

@test "commit: a signed version that coreutils and openssl verify" {
	stage
	run -0 --separate-stderr "$B/refill-commit" -k k1 -m first ds stage
	[ "$output" = 000001 ]
	[ "$stderr" = "refill-commit: ds: version 000001 committed and current: 4 files, 10 records" ]
	[ "$(readlink ds/current)" = versions/000001 ]
	(cd ds/current && sha256sum --quiet -c SHA256SUMS)
	run -0 openssl pkeyutl -verify -pubin -inkey k1.pub -rawin \
	    -in ds/current/MANIFEST -sigfile ds/current/MANIFEST.sig
	ls ds/current > got
	printf '%s\n' MANIFEST MANIFEST.sig SHA256SUMS part-00000.ndjson \
	    part-00001.ndjson part-00002.ndjson part-00003.ndjson > want
	diff -u want got
	# Sealed: the version and its files are read-only.
	[ "$(stat -c %a ds/versions/000001)" = 555 ]
	[ "$(stat -c %a ds/versions/000001/part-00000.ndjson)" = 444 ]
}

@test "commit: MANIFEST holds the files' digests, counts and stamps" {
	stage
	commit -m first ds stage
	"$B/refill-hash" in.ndjson | cut -d' ' -f1-3 > want
	python3 - ds/current/MANIFEST > got <<'EOP'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
h = lines[0]
print("%s  %d" % (h["digest"], h["records"]))
assert h["files"] == len(lines) - 1 == 4 and h["version"] == 1
assert h["parent"] is None and h["message"] == "first"
assert [f["name"] for f in lines[1:]] == sorted(f["name"] for f in lines[1:])
for f in lines[1:]:
    stamp = json.load(open("stage/" + f["name"] + ".prov"))
    assert f["prov"] == stamp, f["name"]
    assert f["records"] == stamp["output"]["records"]
    assert f["sha256"] == stamp["output"]["sha256"]
EOP
	diff -u want got
	# The stamps are kept in lineage/ under the data's SHA-256.
	h=$(sha256sum stage/part-00000.ndjson | cut -c1-64)
	cmp stage/part-00000.ndjson.prov "ds/lineage/$h.prov"
}

@test "commit: the dataset digest of a version is the input's" {
	stage
	commit -m first ds stage
	"$B/refill-hash" in.ndjson | cut -d' ' -f1,3 > want
	"$B/refill-hash" -t ds/current/part-*.ndjson | tail -1 | cut -d' ' -f1,3 > got
	diff -u want got
}

@test "--update: unchanged files are shared by inode, --delete removes one" {
	stage
	commit -m first ds stage
	mkdir fix
	echo '{"user_id":"u99","n":99}' > fix/part-00001.ndjson
	echo '{"user_id":"u98"}' > fix/extra.ndjson
	run -0 commit -u -d part-00003.ndjson -m fix ds fix
	[ "$output" = 000002 ]
	ls ds/versions/000002 > got
	printf '%s\n' MANIFEST MANIFEST.sig SHA256SUMS extra.ndjson \
	    part-00000.ndjson part-00001.ndjson part-00002.ndjson > want
	diff -u want got
	[ "$(stat -c %i ds/versions/000001/part-00000.ndjson)" = \
	  "$(stat -c %i ds/versions/000002/part-00000.ndjson)" ]
	cmp fix/part-00001.ndjson ds/versions/000002/part-00001.ndjson
	run -0 python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["parent"])' ds/versions/000002/MANIFEST
	[ "$output" = 1 ]
	# The old version is untouched.
	(cd ds/versions/000001 && sha256sum --quiet -c SHA256SUMS)
	run -2 commit -u -d nosuch.ndjson -m x ds fix
	[ "$output" = "refill-commit: --delete nosuch.ndjson: not in version 000002" ]
}

@test "--no-publish, publish, rollback and roll forward" {
	stage
	commit -m one ds stage
	run -0 commit -n -m two ds stage
	[ "$output" = 000002 ]
	[ "$(readlink ds/current)" = versions/000001 ]
	run -0 --separate-stderr "$B/refill-commit" publish -k k1 -m go ds 2
	[ "$stderr" = "refill-commit: ds: current is version 000002 (was 000001)" ]
	[ "$(readlink ds/current)" = versions/000002 ]
	run -0 sub rollback ds
	[ "$output" = 000001 ]
	[ "$(readlink ds/current)" = versions/000001 ]
	run -2 sub rollback ds 2
	[ "$output" = "refill-commit: ds: version 000002 is not older than current; use publish" ]
	run -0 sub publish ds 000002
	[ "$(readlink ds/current)" = versions/000002 ]
	run -2 sub publish ds 7
	[ "$output" = "refill-commit: ds: no version 000007" ]
	"$B/refill-commit" log --json ds | python3 -c '
import json, sys
print(" ".join("%s:%s" % (e["event"], e["current"]) for e in map(json.loads, sys.stdin)))' > got
	echo "commit:1 commit:1 publish:2 rollback:1 publish:2" > want
	diff -u want got
}

@test "the log is a chain: each line holds the SHA-256 of the one before" {
	stage
	commit -m one ds stage
	commit -m two ds stage
	sub rollback -m back ds
	python3 - ds/log <<'EOP'
import hashlib, json, sys
prev = "0" * 64
for i, raw in enumerate(open(sys.argv[1], "rb"), 1):
    line = raw.rstrip(b"\n")
    e = json.loads(line)
    assert e["seq"] == i and e["prev"] == prev, i
    prev = hashlib.sha256(line).hexdigest()
EOP
}

@test "a log line verifies with sed, base64 and openssl" {
	stage
	commit -m one ds stage
	head -1 ds/log > line
	sed 's/,"sig":"[^"]*"}$/}/' line | tr -d '\n' > body
	sed 's/.*,"sig":"\([^"]*\)"}$/\1/' line | base64 -d > sig
	run -0 openssl pkeyutl -verify -pubin -inkey k1.pub -rawin -in body -sigfile sig
}

@test "a signing key is required, and must be private" {
	stage
	run -2 "$B/refill-commit" -m x ds stage
	[ "$output" = "refill-commit: no signing key: give --key FILE or set REFILL_KEY (or --unsigned to write without a signature)" ]
	[ ! -e ds ]
	chmod 640 k1
	run -2 "$B/refill-commit" -k k1 -m x ds stage
	[ "$output" = "refill-commit: k1: permissions 0640 are too open; the key must be readable by its owner only (chmod 600)" ]
	chmod 600 k1
	REFILL_KEY=k1 run -0 "$B/refill-commit" -q -m x ds stage
	run -2 "$B/refill-commit" -k k1 --unsigned -m x ds stage
	run -0 "$B/refill-commit" -q --unsigned -m y ds stage
	[ ! -e ds/versions/000002/MANIFEST.sig ]
	run -0 "$B/refill-commit" show ds
	[ "${lines[6]}" = "signer    unsigned" ]
}

@test "trusted signers: an unlisted key or one without the role is refused" {
	stage
	"$B/refill-commit" keygen k2 > k2.b64 2> /dev/null
	echo "alice committer $(cat k1.b64)" > trusted
	echo "bob approver $(cat k2.b64)" >> trusted
	run -1 "$B/refill-commit" -t trusted -k k2 -m x ds stage
	[ "$output" = "refill-commit: k2: this key has neither the owner nor the committer role in trusted" ]
	grep -v bob trusted > t1
	run -1 "$B/refill-commit" -t t1 -k k2 -m x ds stage
	[ "$output" = "refill-commit: k2: this key is not listed in t1" ]
	[ ! -e ds ]
	REFILL_TRUSTED=trusted run -0 commit -m x ds stage
	run -0 "$B/refill-commit" show -t trusted ds
	[ "${lines[6]}" = "signer    $(cat k1.b64) (alice)" ]
	# A version signed by k2 is refused by readers that trust only alice.
	"$B/refill-commit" -q -k k2 -m y ds stage
	run -1 "$B/refill-commit" show -t t1 ds
	[ "$output" = "refill-commit: ds/log:2: signed by a key that t1 does not list" ]
}

@test "a forged MANIFEST or a flipped data byte is detected" {
	stage
	commit -m one ds stage
	commit -n -m two ds stage
	chmod u+w ds/versions/000002 ds/versions/000002/MANIFEST
	sed -i 's/"message":"two"/"message":"TWO"/' ds/versions/000002/MANIFEST
	run -1 "$B/refill-commit" show ds@2
	[ "$output" = "refill-commit: ds/versions/000002/MANIFEST: the signature does not match" ]
	run -1 sub publish ds 2
	[ "$(readlink ds/current)" = versions/000001 ]
	# A flipped byte in a data file: the coreutils check fails.
	f=ds/versions/000001/part-00000.ndjson
	chmod u+w $f
	printf 'X' | dd of=$f bs=1 seek=3 conv=notrunc 2> /dev/null
	run -1 sh -c 'cd ds/versions/000001 && sha256sum --quiet -c SHA256SUMS'
	[ "$output" = "part-00000.ndjson: FAILED
sha256sum: WARNING: 1 computed checksum did NOT match" ]
}

@test "an edited or removed log line is detected" {
	stage
	commit -m one ds stage
	commit -m two ds stage
	commit -m three ds stage
	cp ds/log log.orig
	sed -i '2s/"message":"two"/"message":"Two"/' ds/log
	run -1 "$B/refill-commit" log ds
	[ "$output" = "refill-commit: ds/log:2: the signature does not match" ]
	run -1 commit -m four ds stage
	[ "$output" = "refill-commit: ds/log:2: the signature does not match" ]
	sed 2d log.orig > ds/log
	run -1 "$B/refill-commit" log ds
	[ "$output" = "refill-commit: ds/log:2: seq is 3: a line was removed or inserted" ]
}

@test "--expect: a stale expectation is status 5 and changes nothing" {
	stage
	commit -m one ds stage
	commit -m two ds stage
	cp ds/log log.before
	run -5 commit -e 1 -m three ds stage
	[ "$output" = "refill-commit: ds: --expect 000001, but current is 000002" ]
	cmp log.before ds/log
	[ "$(readlink ds/current)" = versions/000002 ]
	run -0 ls ds/versions
	[ "$output" = "000001
000002" ]
	run -0 commit -e 2 -m three ds stage
	# "none": the dataset must have no current version yet.
	run -0 commit -e none -m x new stage
	run -5 commit -e none -m x new stage
	[ "$output" = "refill-commit: new: --expect none, but current is 000001" ]
}

@test "a held lock is status 5; racing commits: exactly one wins" {
	stage
	commit -m one ds stage
	python3 -c '
import fcntl, sys, time
f = open("ds/lock", "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
open("locked", "w").close()
time.sleep(3)' &
	wait_for locked
	run -5 commit -m two ds stage
	[ "$output" = "refill-commit: ds: another writer holds the lock" ]
	wait
	for i in 1 2 3 4; do
		( set +e; "$B/refill-commit" -q -k k1 -e 1 -m "race $i" ds stage \
		    > out.$i 2>&1; echo $? > rc.$i ) &
	done
	wait
	cat rc.* | sort | uniq -c | sed 's/^ *//' > got
	printf '%s\n' "1 0" "3 5" > want
	diff -u want got
	[ "$(readlink ds/current)" = versions/000002 ]
	run -0 ls ds/versions
	[ "$output" = "000001
000002" ]
}

@test "bad staged input: a symlink, a bad record, a bad name, a stale stamp" {
	stage
	ln -s ../in.ndjson stage/link.ndjson
	run -3 commit -m x ds stage
	[ "$output" = "refill-commit: stage/link.ndjson: a symbolic link: stage the file itself" ]
	rm stage/link.ndjson
	printf '{"a":1}\n{"a":\n' > stage/broken.ndjson
	run -3 commit -m x ds stage
	[ "$output" = "refill-commit: stage/broken.ndjson:2: invalid JSON at byte 6: expected a value, found the end of the record" ]
	[ ! -e ds/current ]
	run -0 ls -A ds/versions
	[ -z "$output" ]
	rm stage/broken.ndjson
	echo '{}' > 'stage/back\slash.ndjson'
	run -3 commit -m x ds stage
	[ "$output" = 'refill-commit: stage: back\slash.ndjson: bad file name: control character or backslash' ]
	rm 'stage/back\slash.ndjson'
	echo '{"user_id":"u0"}' >> stage/part-00000.ndjson
	run -1 commit -m x ds stage
	[[ "$output" == "refill-commit: stage/part-00000.ndjson.prov: describes other content than stage/part-00000.ndjson (its output.sha256 is "* ]]
	rm stage/part-00000.ndjson.prov
	echo '{}' > stage/orphan.ndjson.prov
	run -3 commit -m x ds stage
	[ "$output" = "refill-commit: stage/orphan.ndjson.prov: a stamp without its file" ]
}

@test "repair: what a killed writer left is finished or undone, and said" {
	stage
	commit -m one ds stage
	commit -m two ds stage
	# A version built but never logged (its log line is cut), a
	# temporary, a torn log line.
	commit -n -m lost ds stage
	sed -i '$d' ds/log
	mkdir ds/versions/.tmp-000004
	printf '{"seq":3,"torn' >> ds/log
	# The pointer behind the log.
	ln -sfn versions/000001 ds/current
	run -0 --separate-stderr commit -m three ds stage
	[ "$output" = 000003 ]
	cat > want <<-EOF
	refill-commit: ds: repaired: cut a torn last line from ds/log
	refill-commit: ds: repaired: removed ds/versions/.tmp-000004, left by an interrupted writer
	refill-commit: ds: repaired: removed version 000003: its commit never reached the log
	refill-commit: ds: repaired: set current to version 000002, as the log says
	EOF
	echo "$stderr" > got
	diff -u want got
	run -0 "$B/refill-commit" log ds
	[ "${#lines[@]}" -eq 3 ]
	(cd ds/current && sha256sum --quiet -c SHA256SUMS)
}

@test "lines cut from the log's end: refused, and no version is removed" {
	stage
	commit -m one ds stage
	commit -m two ds stage
	commit -m three ds stage
	sed -i '2,$d' ds/log
	run -1 commit -m four ds stage
	[ "$output" = "refill-commit: ds/log: no line commits version 000003: lines were removed from the log" ]
	run -0 ls ds/versions
	[ "$output" = "000001
000002
000003" ]
}

@test "a MANIFEST re-signed by another key is not the one the log committed" {
	stage
	commit -m one ds stage
	"$B/refill-commit" keygen k2 > /dev/null 2>&1
	v=ds/versions/000001
	chmod u+w $v $v/MANIFEST $v/MANIFEST.sig
	sed -i "s/\"message\":\"one\"/\"message\":\"One\"/; s|$(cat k1.b64)|$(cat k2.pub | sed -n 2p)|" $v/MANIFEST
	openssl pkeyutl -sign -inkey k2 -rawin -in $v/MANIFEST -out $v/MANIFEST.sig
	run -1 "$B/refill-commit" show ds
	[ "$output" = "refill-commit: ds/versions/000001/MANIFEST: is not the manifest that line 1 of the log committed" ]
}

@test "text for the log must be UTF-8; --unsigned is refused under a trusted file" {
	stage
	run -2 "$B/refill-commit" -k k1 -m "$(printf 'bad \377')" ds stage
	[ "$output" = "refill-commit: -m: not UTF-8" ]
	echo "alice committer $(cat k1.b64)" > trusted
	run -2 "$B/refill-commit" -t trusted --unsigned -m x ds stage
	[ "$output" = "refill-commit: --unsigned: a trusted-signers file (trusted) is in force, and readers would refuse an unsigned line" ]
	[ ! -e ds ]
}

@test "gc --keep: old versions and unreferenced objects go; current and previous stay" {
	stage
	for i in 1 2 3 4; do
		echo "{\"user_id\":\"x$i\"}" > stage/only-$i.ndjson
		commit -m "v$i" ds stage
		rm stage/only-$i.ndjson
	done
	sub rollback ds 2
	find ds/objects -type f | wc -l > n.before
	run -0 --separate-stderr "$B/refill-commit" gc -k k1 --keep 1 ds
	[ "$stderr" = "refill-commit: ds: removed 2 versions and 2 objects" ]
	run -0 ls ds/versions
	[ "$output" = "000002
000004" ]
	[ "$(readlink ds/current)" = versions/000002 ]
	(cd ds/versions/000004 && sha256sum --quiet -c SHA256SUMS)
	(cd ds/versions/000002 && sha256sum --quiet -c SHA256SUMS)
	[ "$(tail -1 ds/log | python3 -c 'import json,sys; print(json.load(sys.stdin)["removed"])')" = "[1, 3]" ]
	# Numbers are never reused.
	run -0 commit -m five ds stage
	[ "$output" = 000005 ]
}

@test "repair finishes a gc that was killed after its log line" {
	stage
	for i in 1 2 3; do
		commit -m "v$i" ds stage
	done
	cp -a ds/versions/000001 v1
	sub gc --keep 0 ds
	# As if killed: version 1 back, part removed; a removal's temporary.
	cp -a v1 ds/versions/000001
	chmod u+w ds/versions/000001
	rm ds/versions/000001/part-00000.ndjson
	cp -a v1 ds/versions/.tmp-rm-000001
	run -0 --separate-stderr commit -m four ds stage
	cat > want <<-EOF
	refill-commit: ds: repaired: removed ds/versions/.tmp-rm-000001, left by an interrupted writer
	refill-commit: ds: repaired: removed version 000001, which an interrupted gc (log line 4) had not
	EOF
	echo "$stderr" > got
	diff -u want got
	run -0 ls ds/versions
	[ "$output" = "000002
000003
000004" ]
}

@test "keygen refuses an existing file; usage errors are status 2" {
	stage
	run -2 "$B/refill-commit" keygen k1
	[ "$output" = "refill-commit: k1: already exists" ]
	run -2 "$B/refill-commit" -k k1 ds stage
	[ "${lines[0]}" = "refill-commit: a commit needs a message: -m MESSAGE" ]
	run -2 "$B/refill-commit" gc -k k1 ds
	[ "${lines[0]}" = "refill-commit: gc needs --keep N" ]
	run -2 "$B/refill-commit" --bogus
	[ "${lines[0]}" = "refill-commit: unrecognized option '--bogus'" ]
	run -2 "$B/refill-commit" publish --bogus ds 1
	[ "${lines[0]}" = "refill-commit: unrecognized option '--bogus'" ]
	run -2 "$B/refill-commit" show ds@x
	[ "$output" = "refill-commit: x: not a version number (1 to 999999)" ]
	run -0 "$B/refill-commit" --help
	[ "${lines[0]}" = "usage: refill-commit [-nqu] [--allow-breaking message] [-d name] [-e version]" ]
}

@test "the refill-manifest(5) recipe verifies a version with coreutils and openssl" {
	stage
	commit -m one ds stage
	cat > verify-version <<'EOS'
v=${1:?usage: verify-version DIR PUB.pem} pub=${2:?usage: verify-version DIR PUB.pem}
set -e
openssl pkeyutl -verify -pubin -inkey "$pub" -rawin \
    -in "$v/MANIFEST" -sigfile "$v/MANIFEST.sig"
h=$(head -n 1 "$v/MANIFEST")
h=${h##*\"sha256sums\":\"}
printf '%s  %s\n' "${h%%\"*}" "$v/SHA256SUMS" | sha256sum --quiet -c
a=$(tail -n +2 "$v/MANIFEST" | while IFS= read -r l; do
        l=${l##*\"sha256\":\"}; printf '%s\n' "${l%%\"*}"; done | sha256sum)
b=$(cut -c 1-64 "$v/SHA256SUMS" | sha256sum)
[ "$a" = "$b" ] || { echo "$v: MANIFEST and SHA256SUMS differ" >&2; exit 1; }
(cd "$v" && sha256sum --quiet --strict -c SHA256SUMS)
echo "$v: OK"
EOS
	run -0 sh verify-version ds/versions/000001 k1.pub
	[ "$output" = "Signature Verified Successfully
ds/versions/000001: OK" ]
	"$B/refill-commit" keygen k2 > /dev/null 2>&1
	run -1 sh verify-version ds/versions/000001 k2.pub
	[ "${lines[0]}" = "Signature Verification Failure" ]
	f=ds/versions/000001/part-00002.ndjson
	chmod u+w $f
	printf 'X' | dd of=$f bs=1 seek=2 conv=notrunc 2> /dev/null
	run -1 sh verify-version ds/versions/000001 k1.pub
	[ "${lines[1]}" = "part-00002.ndjson: FAILED" ]
}
