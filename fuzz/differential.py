#!/usr/bin/env python3
"""Differential check of refill's JSON validator and RFC 8785 canonicaliser
against an independent implementation: Python's json module for the
grammar, with refill(7)'s rules that json does not apply written out here
(the exceptions in fuzz/README.md), and a JCS serialiser written from RFC
8785.  The subset that tests/ref.py handles (integers to 2^53, no
fractions, no key above U+FFFF) is also checked against ref.py's digests.

usage: differential.py VERDICT DIR...

VERDICT is fuzz/verdict.c built; each file in each DIR is one input,
taken whole as one record.  Exits 1 on any unexplained difference.
"""
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import threading

MAX_DEPTH = 1000
HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "tests", "vectors")


class Invalid(Exception):
    pass


def es_number(x):
    """ECMAScript Number.prototype.toString, as RFC 8785 3.2.2.3 uses it."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        raise Invalid("not finite")
    # repr is the shortest string that reads back as x (and the nearest).
    m, _, e = repr(abs(x)).partition("e")
    ip, _, fp = m.partition(".")
    digits, point = ip + fp, len(ip) + (int(e) if e else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    sign = "-" if x < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exp = n - 1
    return (sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" +
            ("+" if exp >= 0 else "-") + str(abs(exp)))


ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
       "\f": "\\f", "\r": "\\r"}


def es_string(s):
    out = ['"']
    for ch in s:
        if ch in ESC:
            out.append(ESC[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return es_number(v)
    if isinstance(v, str):
        return es_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(es_string(k) + ":" + jcs(v[k]) for k in keys) + "}"


class Parsed:
    """What the reference makes of one input."""

    def __init__(self, data):
        self.valid, self.why, self.value = False, None, None
        self.fraction = False       # a number with a fraction or exponent
        self.big = False            # an integer beyond 2^53
        self.depth = 0
        try:
            self.value = self.parse(data)
            self.valid = True
        except Invalid as e:
            self.why = str(e)

    def number(self, s, fraction):
        self.fraction |= fraction
        x = float(s)                # correctly rounded, inf when too big
        if not math.isfinite(x):
            raise Invalid("number not finite as a double")
        if not fraction and abs(int(s)) > 2 ** 53:
            self.big = True
        return x

    def pairs(self, kv):
        names = set()
        for k, _ in kv:
            if k in names:
                raise Invalid("duplicate name")
            names.add(k)
        return dict(kv)

    def constant(self, s):
        raise Invalid(s + " is not JSON")

    def parse(self, data):
        # json.loads(bytes) would take UTF-16 and UTF-32, skip a BOM and
        # pass encoded surrogates: decode strictly here instead.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("not UTF-8")
        try:
            v = json.loads(text, parse_constant=self.constant,
                           parse_float=lambda s: self.number(s, True),
                           parse_int=lambda s: self.number(s, False),
                           object_pairs_hook=self.pairs)
        except (ValueError, RecursionError) as e:
            if isinstance(e, Invalid):
                raise
            raise Invalid("json: %s" % e)
        # Checked after: json accepts escaped lone surrogates, and any
        # depth its recursion limit allows.
        stack = [(v, 1)]
        while stack:
            x, d = stack.pop()
            if isinstance(x, str) and any(0xD800 <= ord(c) <= 0xDFFF
                                          for c in x):
                raise Invalid("lone surrogate")
            if isinstance(x, (list, dict)):
                self.depth = max(self.depth, d)
                if d > MAX_DEPTH:
                    raise Invalid("too deep")
                items = list(x.values()) if isinstance(x, dict) else x
                if isinstance(x, dict):
                    items += list(x.keys())
                stack += [(y, d + 1) for y in items]
        return v

    def astral_key(self):
        stack = [self.value]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                if any(max(map(ord, k), default=0) > 0xFFFF for k in x):
                    return True
                stack += x.values()
            elif isinstance(x, list):
                stack += x
        return False


def self_test():
    """The reference against the RFC 8785 number vectors."""
    bad = 0
    with open(os.path.join(VECTORS, "rfc8785", "numbers.csv")) as f:
        for line in f:
            h, want = line.strip().split(",")
            x = struct.unpack(">d", bytes.fromhex(h.zfill(16)))[0]
            if math.isfinite(x) and es_number(x) != want:
                bad += 1
    return bad


def main():
    verdict, dirs = sys.argv[1], sys.argv[2:]
    if self_test() != 0:
        print("differential: the reference fails numbers.csv")
        return 2
    files = sorted(os.path.join(d, f) for d in dirs if os.path.isdir(d)
                   for f in os.listdir(d))
    out = subprocess.run([verdict], input="\n".join(files) + "\n",
                         capture_output=True, text=True, check=True).stdout
    answers = out.split("\n")[:-1]
    assert len(answers) == len(files), (len(answers), len(files))
    seen = set()
    n = {"inputs": 0, "accepted": 0, "rejected": 0, "ref.py": 0}
    problems, subset = [], []
    for path, ans in zip(files, answers):
        data = open(path, "rb").read()
        if data in seen:
            continue
        seen.add(data)
        n["inputs"] += 1
        ours, _, rest = ans.partition(" ")
        ref = Parsed(data)
        if (ours == "ok") != ref.valid:
            problems.append("%s: refill %s, reference %s" % (
                path, ans[:120], "accepts" if ref.valid else
                "rejects (%s)" % ref.why))
            continue
        if not ref.valid:
            n["rejected"] += 1
            continue
        n["accepted"] += 1
        got = bytes.fromhex(rest)
        want = jcs(ref.value).encode("utf-8")
        if got != want:
            problems.append("%s: canonical form\n  refill    %r\n  reference"
                            " %r" % (path, got[:200], want[:200]))
            continue
        # ref.py parses with Python's default recursion limit.
        if (not ref.fraction and not ref.big and ref.depth < 500 and
                not ref.astral_key()):
            subset.append((got, json.dumps(json.loads(data.decode()))))
    # tests/ref.py, on the inputs it is written for.
    if subset:
        fd, tmp = tempfile.mkstemp(suffix=".ndjson")
        with os.fdopen(fd, "w") as f:
            f.write("".join(line + "\n" for _, line in subset))
        refpy = os.path.join(HERE, "..", "tests", "ref.py")
        digests = subprocess.run([sys.executable, refpy, "records", tmp],
                                 capture_output=True, text=True,
                                 check=True).stdout.split()
        os.unlink(tmp)
        for (got, line), d in zip(subset, digests):
            n["ref.py"] += 1
            if hashlib.sha256(got).hexdigest() != d:
                problems.append("ref.py disagrees on %s" % line[:200])
    print("differential: %(inputs)d distinct inputs: %(accepted)d accepted "
          "and %(rejected)d rejected by both, with the same canonical form; "
          "%(ref.py)d also through tests/ref.py" % n)
    for p in problems[:20]:
        print("differential: " + p)
    if problems:
        print("differential: %d differences" % len(problems))
        return 1
    return 0


if __name__ == "__main__":
    # Deep inputs: json recurses, so give it room.
    sys.setrecursionlimit(100000)
    threading.stack_size(512 << 20)
    result = []
    t = threading.Thread(target=lambda: result.append(main()))
    t.start()
    t.join()
    sys.exit(result[0] if result else 2)
