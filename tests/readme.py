"""readme.py README DIR: runs the commands of the README's tour in DIR, in
one bash, and compares what each prints (standard output and error, as a
terminal shows them) with the lines the README gives under it.  Words are
compared, not spacing, and in any order for ls, which lays out columns
only on a terminal.
Exits 1 with a unified diff on a difference."""
import difflib
import re
import subprocess
import sys

text = open(sys.argv[1], encoding="utf-8").read()
tour = text[text.index("## A short tour"):]
tour = tour[:tour.index("\n## ", 1)]

cmds = []          # [command text, expected lines]
lines = [l[4:] for l in tour.split("\n") if l.startswith("    ")]
i = 0
while i < len(lines):
    l = lines[i]
    i += 1
    if l.startswith("$ "):
        cmd = [l[2:]]
        m = re.search(r"<<'(\w+)'$", l)
        if m:
            while lines[i] != m.group(1):
                cmd.append(lines[i])
                i += 1
            cmd.append(lines[i])
            i += 1
        while cmd[-1].endswith("\\"):
            cmd.append(lines[i])
            i += 1
        cmds.append(["\n".join(cmd), []])
    elif cmds:
        cmds[-1][1].append(l)

mark = "@@readme-%d@@"
# Each command sees the status of the one before, for "echo $?".
script = ["s=0"]
for n, (c, _) in enumerate(cmds):
    script.append("echo '%s'; (exit $s)" % (mark % n))
    script.append("{\n%s\n} 2>&1; s=$?" % c)
script.append("echo '%s'" % (mark % len(cmds)))
out = subprocess.run(["bash", "-c", "\n".join(script)], cwd=sys.argv[2],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True).stdout
bad = 0
for n, (c, want) in enumerate(cmds):
    got = out[out.index(mark % n) + len(mark % n) + 1:out.index(mark % (n + 1))]
    g, w = got.split(), " ".join(want).split()
    if c.startswith("ls "):
        g, w = sorted(g), sorted(w)
    if g != w:
        bad += 1
        sys.stdout.writelines(difflib.unified_diff(
            [w + "\n" for w in want], got.splitlines(True),
            "README: $ " + c.split("\n")[0], "got"))
if len(cmds) < 20:
    sys.exit("only %d commands found in the tour" % len(cmds))
sys.exit(1 if bad else 0)
