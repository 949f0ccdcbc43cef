#!/usr/bin/env python3
"""A strict reader of the Prometheus text exposition format, version 0.0.4,
for the tests of --metrics.

    promparse.py METRICS [STATS]
        Parses METRICS, failing on anything the format does not allow or
        that refill must not write: a sample without # HELP and # TYPE
        before it, a family split in two, a series twice, a file that does
        not end in a newline.  With STATS, the --stats JSON of the same
        run, checks that both hold the same figures with the same labels,
        and prints the figures, one "name value" a line, in STATS's order.

    promparse.py --collect METRICS ...
        What node_exporter's textfile collector needs of several files read
        together: each name with one HELP and one TYPE, no series twice.

Exit status 0 if all holds; 1 with the reason on standard error if not.
"""
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# The --stats names of the shared figures, and their gauges.
SHARED = {"records_in": "records_in", "records_out": "records_out",
          "quarantined": "records_quarantined", "blank": "blank_lines",
          "bytes_in": "input_bytes", "seconds": "duration_seconds"}


class Bad(Exception):
    pass


def parse_float(s):
    # Go's strconv.ParseFloat, as Prometheus reads values: no hex here.
    if s in ("NaN", "+Inf", "-Inf", "Inf", "+inf", "-inf", "inf"):
        return float(s.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise Bad("not a float: %r" % s)
    return float(s)


def unescape(s, what, allowed):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 == len(s) or s[i + 1] not in allowed:
                raise Bad("bad escape in %s: %r" % (what, s))
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
            continue
        if c == "\n":
            raise Bad("newline in %s" % what)
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(s, pos):
    """Labels from s[pos] == "{"; returns (dict, position after "}")."""
    labels = {}
    pos += 1
    while True:
        if s.startswith("}", pos):
            return labels, pos + 1
        m = LABEL.match(s, pos)
        if m is None:
            raise Bad("bad label name at %r" % s[pos:])
        name = m.group(0)
        if name.startswith("__"):
            raise Bad("reserved label name %s" % name)
        if name in labels:
            raise Bad("label %s twice" % name)
        pos = m.end()
        if not s.startswith('="', pos):
            raise Bad("expected =\" after label %s" % name)
        pos += 2
        start = pos
        while pos < len(s) and s[pos] != '"':
            pos += 2 if s[pos] == "\\" else 1
        if pos >= len(s):
            raise Bad("unterminated label value")
        labels[name] = unescape(s[start:pos], "label value", '\\"n')
        pos += 1
        if s.startswith(",", pos):
            pos += 1
        elif not s.startswith("}", pos):
            raise Bad("expected , or } after label %s" % name)


def parse(text):
    """Families in order: [(name, help, type, [(labels, value)])]."""
    if text == "":
        raise Bad("empty file")
    if not text.endswith("\n"):
        raise Bad("the file does not end in a newline")
    fams, byname, series = [], {}, set()
    cur = None
    for no, line in enumerate(text[:-1].split("\n"), 1):
        try:
            if line == "":
                raise Bad("empty line")
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) < 3 or parts[0] != "#" or \
                        parts[1] not in ("HELP", "TYPE"):
                    raise Bad("a comment that is not HELP or TYPE")
                kind, name = parts[1], parts[2]
                if not NAME.fullmatch(name):
                    raise Bad("bad metric name %r" % name)
                if name not in byname:
                    byname[name] = cur = [name, None, None, []]
                    fams.append(cur)
                elif byname[name] is not cur or cur[3]:
                    raise Bad("%s: # %s after its samples, or the family "
                              "split" % (name, kind))
                arg = parts[3] if len(parts) == 4 else ""
                if kind == "HELP":
                    if cur[1] is not None:
                        raise Bad("%s: HELP twice" % name)
                    cur[1] = unescape(arg, "HELP", "\\n")
                else:
                    if cur[2] is not None:
                        raise Bad("%s: TYPE twice" % name)
                    if arg not in TYPES:
                        raise Bad("%s: unknown type %r" % (name, arg))
                    cur[2] = arg
                continue
            m = NAME.match(line)
            if m is None:
                raise Bad("bad metric name at %r" % line)
            name, pos = m.group(0), m.end()
            labels = {}
            if line.startswith("{", pos):
                labels, pos = parse_labels(line, pos)
            rest = line[pos:]
            if not rest.startswith(" ") or rest.startswith("  "):
                raise Bad("expected one space before the value")
            fields = rest[1:].split(" ")
            if len(fields) > 2 or "" in fields:
                raise Bad("expected a value and at most a timestamp")
            value = parse_float(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise Bad("bad timestamp %r" % fields[1])
            if cur is None or cur[0] != name:
                raise Bad("%s: a sample without # HELP and # TYPE just "
                          "before" % name)
            if cur[1] is None or cur[2] is None:
                raise Bad("%s: a sample before its # HELP and # TYPE" %
                          name)
            key = (name, tuple(sorted(labels.items())))
            if key in series:
                raise Bad("%s%s: the same series twice" % (name, labels))
            series.add(key)
            cur[3].append((labels, value))
        except Bad as e:
            raise Bad("line %d: %s" % (no, e))
    for f in fams:
        if not f[3]:
            raise Bad("%s: HELP or TYPE without a sample" % f[0])
    return fams


def check_stats(fams, stats):
    """The --stats JSON and the metrics: the same figures, the same labels."""
    want_labels = {"program": stats["program"]}
    if "command" in stats:
        want_labels["command"] = stats["command"]
    got = {}
    for name, _, typ, samples in fams:
        if not name.startswith("refill_") or typ != "gauge" or \
                len(samples) != 1:
            raise Bad("%s: not one refill_ gauge" % name)
        if samples[0][0] != want_labels:
            raise Bad("%s: labels %s, not %s" % (name, samples[0][0],
                                                  want_labels))
        got[name[len("refill_"):]] = samples[0][1]
    if list(got)[-1] != "last_run_timestamp_seconds":
        raise Bad("refill_last_run_timestamp_seconds is not last")
    got.pop("last_run_timestamp_seconds")
    figures = [k for k in stats if k not in ("program", "version",
                                             "command")]
    names = [SHARED.get(k, k) for k in figures]
    if names != list(got):
        raise Bad("the figures differ: %s in the JSON, %s in the metrics" %
                  (names, list(got)))
    lines = ["%s %s" % (k, stats[k]) for k in ("program", "command")
             if k in stats]
    for k, n in zip(figures, names):
        v = stats[k]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or \
                v != got[n] or v < 0:
            raise Bad("%s: %r in the JSON, %r in the metrics" % (k, v,
                                                                 got[n]))
        if k != "seconds" and not isinstance(v, int):
            raise Bad("%s: %r is not a count" % (k, v))
        # Times vary: a duration is only checked for its form.
        lines.append("%s %s" % (k, "ok" if k == "seconds" else v))
    return lines


def no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Bad("member %s twice" % k)
        d[k] = v
    return d


def collect(paths):
    helps, types, series = {}, {}, {}
    for p in paths:
        for name, help_, typ, samples in parse(open(p).read()):
            if helps.setdefault(name, help_) != help_:
                raise Bad("%s: HELP %r in %s, %r before" % (name, help_, p,
                                                            helps[name]))
            if types.setdefault(name, typ) != typ:
                raise Bad("%s: TYPE %s in %s, %s before" % (name, typ, p,
                                                            types[name]))
            for labels, _ in samples:
                key = (name, tuple(sorted(labels.items())))
                if key in series:
                    raise Bad("%s%s: in %s and %s" % (name, labels,
                                                      series[key], p))
                series[key] = p


def main(argv):
    try:
        if argv[1:2] == ["--collect"]:
            collect(argv[2:])
            return 0
        if len(argv) not in (2, 3):
            print(__doc__, file=sys.stderr)
            return 2
        fams = parse(open(argv[1]).read())
        if len(argv) == 3:
            text = open(argv[2]).read()
            if not text.endswith("}\n") or text.count("\n") != 1:
                raise Bad("%s: not one line holding an object" % argv[2])
            if not re.search(r',"seconds":\d+\.\d{3}[,}]', text):
                raise Bad("%s: no seconds with three decimals" % argv[2])
            stats = json.loads(text, object_pairs_hook=no_dups)
            for line in check_stats(fams, stats):
                print(line)
    except (Bad, ValueError, OSError) as e:
        print("promparse: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
