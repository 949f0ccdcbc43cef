# gen.py DAYS PER_DAY: the orders of a shop, as NDJSON, the same on every run.
import json, random, sys

days, per_day = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(20250701)
currencies = ["EUR", "GBP", "USD"]
n = 0
for d in range(1, days + 1):
    for i in range(per_day):
        n += 1
        h, m, s = rnd.randrange(24), rnd.randrange(60), rnd.randrange(60)
        # Some tills report local time, with an offset, on the same UTC day.
        zone = "+02:00" if h >= 2 and n % 3 == 0 else "Z"
        ts = "2025-07-%02dT%02d:%02d:%02d%s" % (d, h, m, s, zone)
        print(json.dumps({
            "order_id": "o%07d" % n,
            "ts": ts,
            "customer": "c%04d" % rnd.randrange(5000),
            "currency": currencies[rnd.randrange(3)],
            "amount": rnd.randrange(100, 50000) / 100,
        }, separators=(",", ":")))
