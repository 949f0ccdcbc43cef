#!/usr/bin/env bats
# refill-lineage: provenance read back from stamps, files and datasets.

load helpers

L="$B/refill-lineage"

# Two chains, built with the real programs.  A: four events split by user
# into raw/ (part-00000 empty), enrich@1 over each partition into
# derived/pN, and agg@2 over derived/p0, p1 and p3 into total.ndjson.
# B: three events split into rawB/ (part-00002 empty), clean@1 over each
# into derivedB/qN.  Four empty files in all, in two chains.
pipeline() {
	printf '%s\n' '{"user_id":"u1","n":1}' '{"user_id":"u2","n":2}' \
	    '{"user_id":"u3","n":3}' '{"user_id":"u1","n":4}' > ev.ndjson
	printf '%s\n' '{"user_id":"k","v":1}' '{"user_id":"l","v":1}' \
	    '{"user_id":"m","v":1}' > evB.ndjson
	cat > enrich.py <<'EOP'
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    r["double"] = 2 * r["n"]
    print(json.dumps(r, separators=(",", ":")))
EOP
	"$B/refill-split" -q -k user_id -n 4 -o raw ev.ndjson
	"$B/refill-split" -q -k user_id -n 4 -o rawB evB.ndjson
	mkdir derived derivedB
	for i in 0 1 2 3; do
		"$B/refill-transform" -q -n enrich -v 1 -i raw/part-0000$i.ndjson \
		    -o derived/p$i.ndjson -- python3 enrich.py
		"$B/refill-transform" -q -n clean -v 1 -i rawB/part-0000$i.ndjson \
		    -o derivedB/q$i.ndjson -- sed 's/"v":1/"v":2/'
	done
	"$B/refill-transform" -q -n agg -v 2 -i derived/p0.ndjson \
	    -i derived/p1.ndjson -i derived/p3.ndjson -o total.ndjson \
	    -- sh -c 'wc -l | sed "s/ //g; s/.*/{\"n\":&}/"'
	# The premise of the empty-file rule.
	[ ! -s raw/part-00000.ndjson ] && [ ! -s derived/p0.ndjson ]
	[ ! -s rawB/part-00002.ndjson ] && [ ! -s derivedB/q2.ndjson ]
	[ -s rawB/part-00000.ndjson ] && [ -s raw/part-00002.ndjson ]
}

# Signed datasets of raw/ and derived/.
datasets() {
	"$B/refill-commit" keygen k1 > k1.b64 2> /dev/null
	"$B/refill-commit" -q -k k1 -m raw rawds raw > /dev/null
	"$B/refill-commit" -q -k k1 -m derived derivedds derived > /dev/null
}

# The expected line of a file in a text tree, from the file itself:
# file DEPTH PATH [SHOWN-AS] [NOTE].
file() {
	local n sha shown=${3:-$2}
	n=$(grep -c '' "$2" || true)
	sha=$(sha256sum < "$2" | cut -c1-12)
	if [ "$n" -eq 1 ]; then n="1 record"; else n="$n records"; fi
	printf '%*s%s  %s  %s%s\n' $((4 * $1)) '' "$shown" "$sha" "$n" "${4:-}"
}

# step DEPTH ARROW WHAT: the expected line of a step.
step() {
	printf '%*s%s %s\n' $((4 * $1 + 2)) '' "$2" "$3"
}

@test "show: upward through two transforms and a split to the source" {
	pipeline
	{
		file 0 total.ndjson
		step 0 '<-' 'refill-transform agg@2'
		file 1 derived/p0.ndjson
		step 1 '<-' 'refill-transform enrich@1'
		file 2 raw/part-00000.ndjson
		step 2 '<-' refill-split
		file 3 ev.ndjson ev.ndjson '  (source)'
		file 1 derived/p1.ndjson
		step 1 '<-' 'refill-transform enrich@1'
		file 2 raw/part-00001.ndjson
		step 2 '<-' refill-split
		file 3 ev.ndjson ev.ndjson '  (see above)'
		file 1 derived/p3.ndjson
		step 1 '<-' 'refill-transform enrich@1'
		file 2 raw/part-00003.ndjson
		step 2 '<-' refill-split
		file 3 ev.ndjson ev.ndjson '  (see above)'
	} > want
	run -0 --separate-stderr "$L" show total.ndjson
	printf '%s\n' "$output" > got
	diff -u want got
	[ -z "$stderr" ]
	# The same through the dispatcher, and with the stamps named.
	"$B/refill" lineage show total.ndjson > got2
	diff -u want got2
	"$L" show ./total.ndjson total.ndjson.prov derived raw > got3
	diff -u want got3
	# A file that no stamp made, and one whose stamp is not read.
	run -1 --separate-stderr "$L" show ev.ndjson
	[ "$stderr" = "refill-lineage: ev.ndjson: no stamp found for it" ]
	[ -z "$output" ]
	# A copy is found by its content; without the stamp, it is not.
	cp derived/p1.ndjson lone.ndjson
	"$L" show derived/p1.ndjson > want
	"$L" show lone.ndjson > got
	diff -u want got
	run -1 --separate-stderr "$L" show lone.ndjson raw
	[ "$stderr" = "refill-lineage: lone.ndjson: no stamp found for it" ]
	mv derived/p1.ndjson.prov p1.prov.away
	run -1 "$L" show derived/p1.ndjson
}

@test "show by digest; uses downward, and nothing derived is an empty answer" {
	pipeline
	{
		file 0 raw/part-00001.ndjson
		step 0 '->' 'refill-transform enrich@1'
		file 1 derived/p1.ndjson
		step 1 '->' 'refill-transform agg@2'
		file 2 total.ndjson
	} > want
	run -0 "$L" uses raw/part-00001.ndjson
	printf '%s\n' "$output" > got
	diff -u want got
	d=$(sha256sum < raw/part-00001.ndjson | cut -c1-64)
	"$L" uses "$d" > got
	diff -u want got
	run -0 "$L" uses total.ndjson
	[ -z "$output" ]
	run -0 "$L" uses derived/p2.ndjson
	[ -z "$output" ]
	# show by digest: the same tree as by path.
	d=$(sha256sum < derived/p3.ndjson | cut -c1-64)
	"$L" show derived/p3.ndjson > want
	"$L" show "$d" > got
	diff -u want got
	[ "$(wc -l < got)" -eq 5 ]
	# uses of the source reaches every file of chain A, none of B.
	"$L" uses -f json ev.ndjson > got.json
	python3 - <<'EOP'
import json
got = sorted(p for l in open("got.json") for p in json.loads(l)["places"])
want = sorted(["ev.ndjson", "total.ndjson"] +
    ["raw/part-0000%d.ndjson" % i for i in range(4)] +
    ["derived/p%d.ndjson" % i for i in range(4)])
assert got == want, got
EOP
}

@test "impact -T name, -T name@version, -i: the exact list, sorted" {
	pipeline
	printf '%s\n' derived/p0.ndjson derived/p1.ndjson derived/p2.ndjson \
	    derived/p3.ndjson total.ndjson > want
	run -0 --separate-stderr "$L" impact -T enrich
	printf '%s\n' "$output" > got
	diff -u want got
	[ -z "$stderr" ]
	"$L" impact --transform enrich@1 > got
	diff -u want got
	# Another version of the same name is not this one.
	run -0 --separate-stderr "$L" impact -T enrich@2
	[ -z "$output" ]
	[ "$stderr" = "refill-lineage: no stamp names transform enrich@2" ]
	printf '%s\n' total.ndjson > want
	"$L" impact -T agg@2 > got
	diff -u want got
	# -i: what was made from it, not the file itself; a union with -T.
	printf '%s\n' derived/p3.ndjson total.ndjson > want
	"$L" impact -i raw/part-00003.ndjson > got
	diff -u want got
	printf '%s\n' derived/p3.ndjson derivedB/q0.ndjson derivedB/q1.ndjson \
	    derivedB/q2.ndjson derivedB/q3.ndjson total.ndjson > want
	run -0 --separate-stderr "$L" impact -i raw/part-00003.ndjson -T clean \
	    -T nosuch
	printf '%s\n' "$output" > got
	diff -u want got
	[ "$stderr" = "refill-lineage: no stamp names transform nosuch" ]
	# Everything made from the export, by digest.
	d=$(sha256sum < ev.ndjson | cut -c1-64)
	{ printf '%s\n' derived/p{0,1,2,3}.ndjson raw/part-0000{0,1,2,3}.ndjson \
	    total.ndjson; } > want
	"$L" impact -i "$d" > got
	diff -u want got
	# Straight into xargs: the stale files go, their stamps stay.
	"$L" impact -T enrich@1 derived | xargs rm -f
	[ ! -e derived/p1.ndjson ] && [ -e derived/p1.ndjson.prov ]
	[ -e total.ndjson ] && [ -e raw/part-00001.ndjson ]
}

@test "empty partitions in two chains are not confused" {
	pipeline
	e=$(sha256sum < /dev/null | cut -c1-64)
	[ "$(sha256sum < derivedB/q2.ndjson | cut -c1-64)" = "$e" ]
	{
		file 0 derivedB/q2.ndjson
		step 0 '<-' 'refill-transform clean@1'
		file 1 rawB/part-00002.ndjson
		step 1 '<-' refill-split
		file 2 evB.ndjson evB.ndjson '  (source)'
	} > want
	run -0 "$L" show derivedB/q2.ndjson
	printf '%s\n' "$output" > got
	diff -u want got
	{
		file 0 derived/p0.ndjson
		step 0 '<-' 'refill-transform enrich@1'
		file 1 raw/part-00000.ndjson
		step 1 '<-' refill-split
		file 2 ev.ndjson ev.ndjson '  (source)'
	} > want
	"$L" show derived/p0.ndjson > got
	diff -u want got
	# Downward too: one empty partition's consumers, not the other's.
	printf '%s\n' derivedB/q2.ndjson > want
	"$L" impact -i rawB/part-00002.ndjson > got
	diff -u want got
	printf '%s\n' derived/p0.ndjson total.ndjson > want
	"$L" impact -i raw/part-00000.ndjson > got
	diff -u want got
	# By digest alone nothing tells them apart: every empty file's stamp.
	"$L" show -f json "$e" > got.json
	python3 - "$e" <<'EOP'
import json, sys
roots = [json.loads(l) for l in open("got.json")]
made = sorted(p for r in roots if r["sha256"] == sys.argv[1] and r["made_by"]
    for p in r["places"])
assert made == ["derived/p0.ndjson", "derivedB/q2.ndjson",
    "raw/part-00000.ndjson", "rawB/part-00002.ndjson"], made
EOP
}

@test "committed files are DATASET@NNNNNN/NAME; the staged file and its copy are one node" {
	pipeline
	datasets
	{
		file 0 derived/p1.ndjson derivedds@000001/p1.ndjson
		step 0 '<-' 'refill-transform enrich@1'
		file 1 raw/part-00001.ndjson rawds@000001/part-00001.ndjson
		step 1 '<-' refill-split
		file 2 ev.ndjson ev.ndjson '  (source)'
	} > want
	run -0 "$L" show derivedds@1/p1.ndjson rawds derivedds/
	printf '%s\n' "$output" > got
	diff -u want got
	"$L" show derivedds/versions/000001/p1.ndjson rawds > got
	diff -u want got
	printf '%s\n' derivedds@000001/p{0,1,2,3}.ndjson > want
	"$L" impact -T enrich rawds derivedds > got
	diff -u want got
	# Staged and committed: one node, two places, in every format.
	run -0 "$L" show -f json derived/p1.ndjson .
	python3 - "$output" <<'EOP'
import json, sys
nodes = [json.loads(l) for l in sys.argv[1].splitlines()]
by = {n["sha256"]: n for n in nodes}
assert len(by) == len(nodes) == 3, nodes
p1 = [n for n in nodes if "derived/p1.ndjson" in n["places"]][0]
assert p1["places"] == ["derived/p1.ndjson", "derivedds@000001/p1.ndjson"], p1
r1 = by[p1["made_by"]["inputs"][0]]
assert r1["places"] == ["raw/part-00001.ndjson", "rawds@000001/part-00001.ndjson"]
EOP
}

@test "DATASET@all reads every version; a file committed without a stamp is a node" {
	pipeline
	datasets
	# Version 2: enrich@2 over partition 1, and a file without a stamp.
	mkdir v2
	"$B/refill-transform" -q -n enrich -v 2 -i raw/part-00001.ndjson \
	    -o v2/p1.ndjson -- python3 enrich.py
	echo '{"note":1}' > v2/extra.ndjson
	"$B/refill-commit" -q -k k1 -u -m v2 derivedds v2 > /dev/null
	printf '%s\n' derivedds@000001/p{0,1,2,3}.ndjson \
	    derivedds@000002/p{0,2,3}.ndjson > want
	run -0 "$L" impact -T enrich@1 derivedds@all
	printf '%s\n' "$output" > got
	diff -u want got
	printf '%s\n' derivedds@000002/p{0,2,3}.ndjson > want
	"$L" impact -T enrich@1 derivedds > got
	diff -u want got
	printf '%s\n' derivedds@000001/p{0,1,2,3}.ndjson > want
	"$L" impact -T enrich@1 derivedds@1 > got
	diff -u want got
	printf '%s\n' derivedds@000002/p1.ndjson > want
	"$L" impact -T enrich@2 derivedds@000002 > got
	diff -u want got
	# The unstamped file: known, but no stamp made it.
	run -1 --separate-stderr "$L" show derivedds@2/extra.ndjson derivedds
	[ "$stderr" = "refill-lineage: derivedds@2/extra.ndjson: no stamp found for it" ]
	run -0 "$L" uses -f json rawds@1/part-00001.ndjson derivedds@all
	python3 - "$output" <<'EOP'
import json, sys
places = sorted(p for l in sys.argv[1].splitlines() for p in json.loads(l)["places"])
assert places == ["derivedds@000001/p1.ndjson", "derivedds@000002/p1.ndjson",
    "rawds@000001/part-00001.ndjson"], places
EOP
}

@test "a forged MANIFEST, or an untrusted signer, is status 1" {
	pipeline
	datasets
	cp -a derivedds forged
	chmod u+w forged/versions/000001 forged/versions/000001/MANIFEST
	sed -i 's/"message":"derived"/"message":"Derived"/' \
	    forged/versions/000001/MANIFEST
	run -1 --separate-stderr "$L" impact -T enrich forged
	[ "$stderr" = "refill-lineage: forged/versions/000001/MANIFEST: the signature does not match" ]
	[ -z "$output" ]
	run -1 "$L" show derived/p1.ndjson raw forged
	# Met during a walk, it is checked all the same.
	mkdir tree
	mv forged tree/
	run -1 "$L" impact -T enrich tree
	"$B/refill-commit" keygen k2 > k2.b64 2> /dev/null
	echo "bob committer $(cat k2.b64)" > others
	run -1 --separate-stderr "$L" impact -t others -T enrich derivedds
	[ "$stderr" = "refill-lineage: derivedds/log:1: signed by a key that others does not list" ]
	echo "alice committer $(cat k1.b64)" > mine
	run -0 env REFILL_TRUSTED=mine "$L" impact -T agg derivedds
	run -1 env REFILL_TRUSTED=others "$L" impact -T agg derivedds
}

@test "a broken stamp is status 3 naming PATH:1, or the MANIFEST and its line" {
	pipeline
	mkdir bad
	printf '%s\n' '{"format":"refill-prov/1"' > bad/a.ndjson.prov
	run -3 --separate-stderr "$L" show total.ndjson .
	[[ "$stderr" == "refill-lineage: bad/a.ndjson.prov:1: invalid JSON at byte "* ]]
	[ -z "$output" ]
	# Valid JSON, not a stamp: each reason names the member.
	p=derived/p1.ndjson.prov
	python3 - "$p" <<'EOP'
import json, sys
s = json.load(open(sys.argv[1]))
def put(name, f):
    t = json.loads(json.dumps(s)); f(t)
    open("bad/" + name + ".prov", "w").write(json.dumps(t))
put("fmt", lambda t: t.update(format="refill-prov/2"))
put("sha", lambda t: t["output"].update(sha256=t["output"]["sha256"].upper()))
put("rec", lambda t: t["inputs"][0].update(records=1.5))
put("path", lambda t: t["inputs"][0].pop("path"))
put("tr", lambda t: t.update(transform=[]))
put("time", lambda t: t.update(ended="yesterday"))
EOP
	for c in 'fmt:bad "format": not "refill-prov/1"' \
	    'sha:bad "output.sha256": not 64 lower-case hexadecimal digits' \
	    'rec:bad "inputs.0.records": not an integer from 0 to 2^53' \
	    'path:no "inputs.0.path"' \
	    'tr:bad "transform": neither null nor an object' \
	    'time:bad "ended": not an RFC 3339 date-time'; do
		run -3 --separate-stderr "$L" show total.ndjson "bad/${c%%:*}.prov"
		[ "$stderr" = "refill-lineage: bad/${c%%:*}.prov:1: ${c#*:}" ]
	done
	# A committed stamp: the MANIFEST's path and the stamp's line.
	mkdir st
	echo '{"a":1}' > st/x.ndjson
	echo '{"a":2}' > st/y.ndjson
	h=$(sha256sum < st/y.ndjson | cut -c1-64)
	echo "{\"output\":{\"sha256\":\"$h\"}}" > st/y.ndjson.prov
	"$B/refill-commit" -q --unsigned -m st ds st > /dev/null
	run -3 --separate-stderr "$L" impact -T x ds
	[ "$stderr" = 'refill-lineage: ds/versions/000001/MANIFEST:3: no "format"' ]
}

@test "missing sources and files are status 4; usage errors status 2" {
	pipeline
	run -4 --separate-stderr "$L" show total.ndjson nosuch
	[ "$stderr" = "refill-lineage: nosuch: No such file or directory" ]
	run -4 --separate-stderr "$L" show nosuch.ndjson
	[ "$stderr" = "refill-lineage: nosuch.ndjson: No such file or directory" ]
	run -4 "$L" impact -i nosuch.ndjson
	run -4 "$L" impact -T enrich nosuch@all
	run -2 --separate-stderr "$L"
	[ "${stderr%%$'\n'*}" = "usage: refill-lineage show [-q] [-f format] [--metrics file] [--progress] [--stats file]" ]
	run -2 --separate-stderr "$L" frob total.ndjson
	[ "${stderr%%$'\n'*}" = "refill-lineage: frob: not a command: show, uses or impact" ]
	run -2 --separate-stderr "$L" show
	run -2 --separate-stderr "$L" show -f xml total.ndjson
	[ "$stderr" = "refill-lineage: -f xml: not text, json, dot or openlineage" ]
	run -2 --separate-stderr "$L" show -T enrich total.ndjson
	[ "${stderr%%$'\n'*}" = "refill-lineage: -T and -i apply to impact only" ]
	run -2 --separate-stderr "$L" impact
	[ "${stderr%%$'\n'*}" = "refill-lineage: impact needs -T name[@version] or -i file|digest" ]
	run -2 --separate-stderr "$L" impact -T @1
	[ "$stderr" = "refill-lineage: -T @1: not name[@version]" ]
	run -2 --separate-stderr "$L" impact -T enrich@
	[ "$stderr" = "refill-lineage: -T enrich@: not name[@version]" ]
	# getopt's own messages name the program, not the command.
	run -2 --separate-stderr "$L" impact --bogus
	[ "${stderr%%$'\n'*}" = "refill-lineage: unrecognized option '--bogus'" ]
	run -2 --separate-stderr "$L" show total.ndjson ev.ndjson
	[ "$stderr" = "refill-lineage: ev.ndjson: not a .prov file, a dataset or a directory" ]
	datasets
	run -2 --separate-stderr "$L" impact -T enrich derivedds@9
	[ "$stderr" = "refill-lineage: derivedds: no version 000009" ]
	run -2 --separate-stderr "$L" impact -T enrich derivedds@x
	[ "$stderr" = "refill-lineage: x: not a version number (1 to 999999)" ]
	run -2 --separate-stderr "$L" show derivedds@1/nope.ndjson
	[ "$stderr" = "refill-lineage: derivedds@1/nope.ndjson: version 000001 of derivedds has no file nope.ndjson" ]
	run -0 "$L" -V
	[ "$output" = "refill-lineage 0.1.0" ]
}

@test "--help prints the SYNOPSIS of the manual" {
	run -0 "$L" --help
	printf '%s\n' "$output" > usage
	# Word by word, as mandoc lays it out: the same three forms.
	mandoc -Tascii -O width=200 "$T/../man/man1/refill-lineage.1" |
	    col -b > man.txt
	python3 - <<'EOP'
import re
man = open("man.txt").read()
syn = man.split("SYNOPSIS", 1)[1].split("DESCRIPTION", 1)[0]
forms = [f.split() for f in re.split(r"\n(?=\s*refill-lineage )", syn.strip())]
use = open("usage").read().replace("usage:", "", 1)
uforms = [f.split() for f in re.split(r"\n(?=\s*refill-lineage )", use.strip())]
assert forms == uforms, (forms, uforms)
assert len(forms) == 3
EOP
	run -0 "$L" impact -h
	[ "${lines[0]}" = "usage: refill-lineage show [-q] [-f format] [--metrics file] [--progress] [--stats file]" ]
}

@test "-f json: one canonical line per node, members from the stamps" {
	pipeline
	run -0 "$L" show -f json total.ndjson
	printf '%s\n' "$output" > got.json
	python3 - <<'EOP'
import glob, json, hashlib
lines = open("got.json").read().splitlines()
nodes = [json.loads(l) for l in lines]
for l, n in zip(lines, nodes):
    assert l == json.dumps(n, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert sorted(n) == ["dataset_digest", "made_by", "places", "records", "sha256"]
assert [n["places"][0] for n in nodes] == sorted(n["places"][0] for n in nodes)
stamps = {}
for p in glob.glob("*.prov") + glob.glob("*/*.prov"):
    s = json.load(open(p))
    stamps[p[:-5]] = s
seen = set()
for n in nodes:
    place = n["places"][0]
    seen.add(place)
    data = open(place, "rb").read()
    assert n["sha256"] == hashlib.sha256(data).hexdigest()
    assert n["records"] == data.count(b"\n")
    if place == "ev.ndjson":
        assert n["made_by"] is None and n["dataset_digest"] is None
        continue
    s = stamps[place]
    m = n["made_by"]
    assert n["dataset_digest"] == s["output"]["dataset_digest"]
    assert m["program"] == s["program"]["name"]
    assert m["started"] == s["started"] and m["ended"] == s["ended"]
    assert m["inputs"] == [i["sha256"] for i in s["inputs"]]
    t = s["transform"]
    assert m["transform"] == (t and {"id": t["id"], "name": t["name"],
        "version": t["version"]}), m
assert seen == {"total.ndjson", "ev.ndjson"} | {"derived/p%d.ndjson" % i for i in (0, 1, 3)} \
    | {"raw/part-0000%d.ndjson" % i for i in (0, 1, 3)}, seen
EOP
	# impact: the same lines, for the files affected.
	run -0 "$L" impact -f json -T agg
	[ "${#lines[@]}" -eq 1 ]
	grep -qxF "${lines[0]}" got.json
}

@test "-f dot: a digraph with every string quoted; dot renders it" {
	pipeline
	mkdir odd
	"$B/refill-transform" -q -n 'we"ird' -v '1\2' -i derived/p1.ndjson \
	    -o 'odd/a "b" \c.ndjson' -- cat
	run -0 "$L" uses -f dot derived/p1.ndjson
	printf '%s\n' "$output" > got.dot
	run -0 "$L" uses -f dot derived/p1.ndjson
	printf '%s\n' "$output" | cmp - got.dot
	python3 - <<'EOP'
import hashlib, re
text = open("got.dot").read()
lines = text.splitlines()
assert lines[0] == "digraph lineage {" and lines[-1] == "}", lines
q = r'"((?:[^"\\]|\\.)*)"'
nodes, edges = {}, []
for l in lines[1:-1]:
    m = re.fullmatch(r'\t(n\d+) \[label=' + q + r'\];', l)
    if m:
        nodes[m.group(1)] = m.group(2)
        continue
    m = re.fullmatch(r'\t(n\d+) -> (n\d+) \[label=' + q + r'\];', l)
    if m:
        edges.append(m.groups())
        continue
    assert l == "\tnode [shape=box];", l
def unq(s):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)
labels = {k: unq(v) for k, v in nodes.items()}
def short(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()[:12]
want = {p + "\n" + short(p) for p in
    ["derived/p1.ndjson", "total.ndjson", 'odd/a "b" \\c.ndjson']}
assert set(labels.values()) == want, labels
name = {v.split("\n")[0]: k for k, v in labels.items()}
got = sorted((labels[a].split("\n")[0], labels[b].split("\n")[0], unq(l)) for a, b, l in edges)
assert got == sorted([("derived/p1.ndjson", "total.ndjson", "agg@2"),
    ("derived/p1.ndjson", 'odd/a "b" \\c.ndjson', 'we"ird@1\\2')]), got
EOP
	if command -v dot > /dev/null; then
		dot -Tsvg got.dot > lineage.svg
		grep -q '<svg' lineage.svg
	fi
	# show: edges from the split and the transforms, labelled so.
	run -0 "$L" show -f dot total.ndjson
	[[ "$output" == *'[label="refill-split"];'* ]]
	[[ "$output" == *'[label="enrich@1"];'* ]]
}

@test "-f openlineage: RunEvents with a deterministic version 8 runId" {
	pipeline
	run -0 "$L" show -f openlineage total.ndjson
	printf '%s\n' "$output" > a.ol
	"$L" show -f openlineage total.ndjson . > b.ol
	cmp a.ol b.ol
	python3 - <<'EOP'
import hashlib, json, uuid
events = [json.loads(l) for l in open("a.ol")]
assert len(events) == 7, len(events)
byout = {}
for e in events:
    assert sorted(e) == ["eventTime", "eventType", "inputs", "job", "outputs",
        "producer", "run", "schemaURL"], sorted(e)
    assert e["eventType"] == "COMPLETE"
    assert e["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    assert e["producer"].startswith("https://") and e["producer"].endswith("/0.1.0")
    assert e["job"]["namespace"] == "refill"
    for d in e["inputs"] + e["outputs"]:
        assert d["namespace"] == "file" and d["name"]
    u = uuid.UUID(e["run"]["runId"])
    assert str(u) == e["run"]["runId"] and u.version == 8 and u.variant == uuid.RFC_4122
    assert len(e["outputs"]) == 1
    byout[e["outputs"][0]["name"]] = e
for place, e in byout.items():
    raw = open(place + ".prov", "rb").read().rstrip(b"\n")
    s = json.loads(raw)
    d = bytearray(hashlib.sha256(raw).digest()[:16])
    d[6] = d[6] & 0x0F | 0x80
    d[8] = d[8] & 0x3F | 0x80
    assert e["run"]["runId"] == str(uuid.UUID(bytes=bytes(d))), place
    assert e["eventTime"] == s["ended"]
    t = s["transform"]
    assert e["job"]["name"] == (t["name"] if t else s["program"]["name"])
    assert [i["name"] for i in e["inputs"]] == [i["path"] for i in s["inputs"]]
assert byout["total.ndjson"]["job"]["name"] == "agg"
assert byout["raw/part-00001.ndjson"]["job"]["name"] == "refill-split"
EOP
}

@test "a cycle ends; identical stamps found twice count once" {
	# Two hand-made stamps, each the other's input.
	python3 - <<'EOP'
import hashlib, json
def h(s): return hashlib.sha256(s.encode()).hexdigest()
def stamp(out, inp):
    return json.dumps({"format": "refill-prov/1", "program": {"name": "p"},
        "transform": None, "started": "2026-01-01T00:00:00Z",
        "ended": "2026-01-01T00:00:01Z",
        "inputs": [{"path": inp, "sha256": h(inp), "records": 1}],
        "output": {"path": out, "sha256": h(out), "records": 1,
            "dataset_digest": "0" * 64}}, sort_keys=True, separators=(",", ":"))
open("a.prov", "w").write(stamp("a", "b") + "\n")
open("b.prov", "w").write(stamp("b", "a") + "\n")
EOP
	ha=$(printf a | sha256sum | cut -c1-12)
	hb=$(printf b | sha256sum | cut -c1-12)
	printf '%s\n' "a  $ha  1 record" "  <- p" "    b  $hb  1 record" \
	    "      <- p" "        a  $ha  1 record  (see above)" > want
	run -0 "$L" show "$(printf a | sha256sum | cut -c1-64)"
	printf '%s\n' "$output" > got
	diff -u want got
	printf '%s\n' a b > want
	"$L" impact -i "$(printf a | sha256sum | cut -c1-64)" > got
	diff -u want got
	# The same stamp in two files: one node, two places.
	mkdir copy
	cp a.prov copy/a.prov
	run -0 "$L" show -f json "$(printf a | sha256sum | cut -c1-64)" . a.prov
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == *'"places":["a","copy/a"]'* ]]
}
