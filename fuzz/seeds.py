#!/usr/bin/env python3
"""Builds the fuzzers' seed corpora from the repository's test vectors and
fixtures, and from files that refill's own programs make.

usage: seeds.py BUILD OUTDIR     writes OUTDIR/TARGET/SEED for each target

BUILD holds the programs (refill-split, refill-commit, ...).  Seeds are
named by the SHA-1 of their bytes, so a rerun writes the same files.
"""
import ast
import glob
import gzip
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

MAX_DEPTH = 1000
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILD = os.path.abspath(sys.argv[1])
OUT = os.path.abspath(sys.argv[2])
seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, set()).add(data)


def heredocs():
    """(file name, text) of every heredoc in tests/*.bats."""
    start = re.compile(r"cat > (\S+) <<'?(\w+)'?\s*$")
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.bats"))):
        lines = open(path, encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            m = start.search(lines[i])
            i += 1
            if not m:
                continue
            body = []
            while i < len(lines) and lines[i] != m.group(2):
                body.append(lines[i])
                i += 1
            yield m.group(1), "\n".join(body) + "\n"


def run(*argv, cwd):
    subprocess.run([os.path.join(BUILD, argv[0])] + list(argv[1:]), cwd=cwd,
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def vectors():
    v = os.path.join(ROOT, "tests", "vectors")
    for f in glob.glob(os.path.join(v, "JSONTestSuite", "test_parsing", "*")):
        data = open(f, "rb").read()
        add("json", data)
        add("canon", data)
    for f in glob.glob(os.path.join(v, "rfc8785", "testdata", "*", "*.json")):
        data = open(f, "rb").read()
        add("json", data)
        add("canon", data)
    for f, every in (("numbers.csv", 500),
                     ("appendixB/rfc8785-appendix-b.csv", 1)):
        for i, line in enumerate(open(os.path.join(v, "rfc8785", f))):
            num = line.strip().split(",")[1:2]
            if i > 0 and i % every == 0 and num and num[0] != "NaN":
                add("canon", num[0])
    for f in glob.glob(os.path.join(v, "gzip-samples", "*")):
        if not f.endswith(("COMMIT", "LICENSE-MIT")):
            add("reader", open(f, "rb").read())


PATHS = ["user_id", "n", "o.z", "o.a.1", "/o/a/0", "tags.0", "/", "",
         "/a~1b", "/a~0b", "s", "a.0", "/a/0", "o.b.c.d", "e", "x.y.z",
         "0", "/0/1"]


def fixtures():
    records, pairs = [], []
    for name, text in heredocs():
        lines = [l for l in text.split("\n") if l.strip()]
        if name.endswith(".ndjson") and all(l[:1] in "{[" for l in lines):
            records += lines
            for a, b in zip(lines, lines[1:]):
                pairs.append((a, b))
    records += ['{"a":{"0":5}}', '{"a":[5,6]}', '{"a/b":1,"a~b":2}',
                '[[1,2],[3,{"x":[]}]]', '{"":1}', '{"a":1,"\\u0061b":2}']
    # At refill(7)'s limit of nesting, and one past it.
    for d in (MAX_DEPTH, MAX_DEPTH + 1):
        records += ["[" * d + "]" * d, '{"a":' * d + "1" + "}" * d]
    for r in records:
        add("json", r)
        add("canon", r)
    for i in range(0, len(records), 8):
        add("schema", "\n".join(records[i:i + 8]) + "\n")
    # Policies: the defaults written out, and one of each member.
    add("policy", '{"format":"refill-policy/1"}')
    add("policy", '{"compat":"full","format":"refill-policy/1","roles":'
        '{"commit":["committer"],"gc":["owner"],"publish":["owner",'
        '"publisher"],"rollback":["owner"]},"unsigned":true}\n')
    # Migrations: each kind of operation, over the same records.
    for ops in ("rename user_id=user.id\ndefault o.n=0\ndrop tags",
                "cast n=string\ncast s=number\nutc ts",
                "cast ts=rfc3339\ncast n=rfc3339-ms\nrename /a~1b=c"):
        add("migrate", ops + "\n%%\n" + "\n".join(records[:12]) + "\n")
    for i, p in enumerate(PATHS):
        for r in records[i::6][:6]:
            add("path", p + "\n" + r)
        add("path", p + "\n" + records[-i % len(records)])
    for a, b in pairs[:200]:
        add("jsondiff", a + "\n" + b)
        add("jsondiff", a + "\n" + a)
    add("jsondiff", '{"x":1.5,"y":[1,2]}\n{"x":1.50001,"y":[1,2,3]}')
    # Rules: the files of one test with the records that follow them.
    docs = list(heredocs())
    for i, (name, text) in enumerate(docs):
        if name.endswith(".rules"):
            recs = next((t for n, t in docs[i + 1:i + 3]
                         if n.endswith(".ndjson")), "")
            add("rules", text + "%%\n" + recs)
    # And the one-line rules files that tests write with printf or echo.
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.bats"))):
        for line in open(path, encoding="utf-8"):
            m = re.match(r"\s*((printf|echo) .*) > \S+\.rules\s*$", line)
            if not m or "$" in m.group(1) or "`" in m.group(1):
                continue
            argv = shlex.split(m.group(1))
            if argv[0] == "echo":
                text = " ".join(argv[1:]).encode() + b"\n"
            else:
                text = subprocess.run(["printf"] + argv[1:], check=True,
                                      capture_output=True).stdout
            add("rules", text + b"%%\n" +
                "\n".join(records[:12]).encode() + b"\n")
    unit = open(os.path.join(ROOT, "tests", "unit.c"),
                encoding="utf-8").read()
    m = re.search(r'static const char good\[\] =\n(.*?);', unit, re.S)
    if m:
        text = "".join(ast.literal_eval(s) for s in
                       re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1)))
        add("rules", text + "%%\n" + "\n".join(records[:20]) + "\n")


IN = """{"user_id":"u1","n":1,"tags":["a","b"],"ts":"2025-07-01T09:12:00+02:00"}
{"n":2,"user_id":"u2","o":{"z":1,"a":[true,null]},"ts":1751360400}
{"user_id":"u3","s":"caf\\u00e9 \\ud83d\\ude00","ts":"2025-07-02T00:15:00Z"}
{"user_id":"u1","n":4,"ts":"2025-07-02T08:00:00-05:00"}
{"user_id":"u5","n":-5,"e":"line\\nbreak","ts":1751400000000}
{"user_id":"u6","n":6.25,"ts":"2025-07-03"}
"""


def programs():
    """MANIFEST, log, stamps and trusted files from a real backfill."""
    d = tempfile.mkdtemp(prefix="refill-seeds.")
    try:
        open(os.path.join(d, "in.ndjson"), "w").write(IN)
        run("refill-commit", "keygen", "k1", cwd=d)
        run("refill-commit", "keygen", "k2", cwd=d)
        pubs = [open(os.path.join(d, k + ".pub")).read().split("\n")[1]
                for k in ("k1", "k2")]
        add("trusted", "# signers\nalice committer %s\n\nbob approver,owner "
            "%s\r\n" % tuple(pubs))
        add("trusted", "alice committer %s\n" % pubs[0])
        run("refill-split", "-q", "-k", "user_id", "-n", "3", "-o", "s1",
            "in.ndjson", cwd=d)
        run("refill-split", "-q", "-T", "ts", "-w", "day", "-o", "s2",
            "in.ndjson", cwd=d)
        run("refill-transform", "-q", "-n", "t", "-v", "1", "-i",
            "s1/part-00000.ndjson", "-o", "s1/t-00000.ndjson", "--", "cat",
            cwd=d)
        run("refill-commit", "-q", "-k", "k1", "-m", "first", "ds", "s1",
            cwd=d)
        run("refill-commit", "-q", "-k", "k1", "-m", "second", "ds", "s2",
            cwd=d)
        run("refill-commit", "rollback", "-q", "-k", "k1", "ds", cwd=d)
        run("refill-commit", "publish", "-q", "-k", "k1", "ds", "2", cwd=d)
        run("refill-commit", "gc", "-q", "-k", "k1", "--keep", "1", "ds",
            cwd=d)
        run("refill-commit", "-q", "--unsigned", "-m", "u", "du", "s2",
            cwd=d)
        # Reports, signed: of a dataset check, a diff and rules.
        open(os.path.join(d, "r.rules"), "w").write("required user_id\n")
        for check in (["dataset", "ds"],
                      ["diff", "-k", "user_id", "ds@2", "ds@2"],
                      ["rules", "r.rules", "ds@2"]):
            subprocess.run([os.path.join(BUILD, "refill-verify"), check[0],
                            "-q", "--sign", "k2", "--report", "r.rep"] +
                           check[1:], cwd=d, capture_output=True)
            add("report", open(os.path.join(d, "r.rep"), "rb").read())
        for ds in ("ds", "du"):
            log = open(os.path.join(d, ds, "log"), "rb").read()
            add("log", log)
            lines = log.split(b"\n")
            for k in range(1, len(lines)):
                add("log", b"\n".join(lines[:k]) + b"\n")
            for m in glob.glob(os.path.join(d, ds, "versions", "*",
                                            "MANIFEST")):
                add("manifest", open(m, "rb").read())
            for s in glob.glob(os.path.join(d, ds, "lineage", "**", "*"),
                               recursive=True):
                if os.path.isfile(s):
                    add("stamp", open(s, "rb").read())
        add("schema", subprocess.run(
            [os.path.join(BUILD, "refill-hash"), "--schema", "in.ndjson"],
            cwd=d, check=True, capture_output=True).stdout)
        stamps = [open(p, "rb").read().strip() for p in
                  sorted(glob.glob(os.path.join(d, "s*", "*.prov")))]
        for s in stamps:
            add("stamp", s)
        add("stamp", b"\n".join(stamps) + b"\n")
        plain = IN.encode()
        add("reader", plain)
        add("reader", plain.replace(b"\n", b"\r\n"))
        add("reader", b"\n \t\n" + plain.rstrip(b"\n") + b"\r")
        gz = gzip.compress(plain, mtime=0)
        add("reader", gz)
        add("reader", gz + gzip.compress(b"\n{}\n", mtime=0))
        add("reader", gz[:len(gz) // 2])
        add("reader", gz + b"\0\0")
        add("reader", gzip.compress(b"x" * 5000 + b"\n" + b" " * 70 + b"\n",
                                    mtime=0))
    finally:
        shutil.rmtree(d)


vectors()
fixtures()
programs()
for target, datas in sorted(seeds.items()):
    out = os.path.join(OUT, target)
    os.makedirs(out, exist_ok=True)
    for data in datas:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("seeds: %-9s %5d" % (target, len(datas)))
