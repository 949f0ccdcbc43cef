#!/usr/bin/env python3
"""An independent implementation of refill's digests, from refill(7), for
the bats tests.  Canonical form here is json.dumps with sorted keys, which
equals RFC 8785 for records of strings, integers, booleans, null, arrays
and objects with ASCII keys: the tests use only such records.

usage: ref.py records FILE        one record digest per line
       ref.py dataset FILE        DIGEST  COUNT  FILE
       ref.py partition N PATH FILE   the partition of each record's key
       ref.py key PATH FILE       one key digest per line
"""
import hashlib
import json
import sys


def canon(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def digest(v):
    return hashlib.sha256(canon(v)).digest()


def records(path):
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n").rstrip(b"\r")
            if line.strip(b" \t\r"):
                yield json.loads(line)


def get(rec, path):
    for seg in path.split("."):
        rec = rec[int(seg)] if isinstance(rec, list) else rec[seg]
    return rec


cmd = sys.argv[1]
if cmd == "records":
    for r in records(sys.argv[2]):
        print(digest(r).hex())
elif cmd == "key":
    for r in records(sys.argv[3]):
        print(digest(get(r, sys.argv[2])).hex())
elif cmd == "dataset":
    total, n = 0, 0
    for r in records(sys.argv[2]):
        total = (total + int.from_bytes(digest(r), "big")) % (1 << 256)
        n += 1
    print("%064x  %d  %s" % (total, n, sys.argv[2]))
elif cmd == "partition":
    n = int(sys.argv[2])
    for r in records(sys.argv[4]):
        print(int.from_bytes(digest(get(r, sys.argv[3]))[:8], "big") % n)
else:
    sys.exit("ref.py: unknown command " + cmd)
