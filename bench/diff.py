#!/usr/bin/env python3
"""The peer of refill-verify diff in make bench: a keyed diff as a data
engineer writes it in a few lines, a dict from key to record.  usage:
diff.py KEY OLD NEW; prints unchanged, changed, added, removed."""
import json
import sys

key, oldf, newf = sys.argv[1:4]
old = {}
with open(oldf) as f:
    for line in f:
        r = json.loads(line)
        old[r[key]] = r
unchanged = changed = added = 0
seen = set()
with open(newf) as f:
    for line in f:
        r = json.loads(line)
        k = r[key]
        o = old.get(k)
        if o is None:
            added += 1
        elif o == r:
            unchanged += 1
        else:
            changed += 1
        seen.add(k)
print(unchanged, changed, added, len(old.keys() - seen))
