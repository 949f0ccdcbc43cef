#!/bin/sh
# backfill.sh: the backfill of ../backfill/Makefile driven by GNU parallel,
# on this host or across hosts.  Each partition of the source's current
# version becomes one file of STAGE, stamped by refill-transform.
#
#   sh backfill.sh                             here, a job per core
#   SSHLOGIN=4/h1,4/alice@h2 sh backfill.sh    on h1 and h2, four jobs each
#
# Across hosts, each job's partition is sent with --transferfile, the
# transform's script once per host with --basefile, and the output and its
# stamp come back with --return; --cleanup removes them on the host.  The
# hosts need refill and the command on their PATH, nothing else: no shared
# file system.  PARALLEL_SSH (or ssh's own configuration) picks how to log
# in.  Then commit and gate as in ../backfill/Makefile.
#
# parallel counts a job by its command's status, and a --return that
# failed does not change it; so at the end every partition's output and
# stamp must be here, or the run fails (status 1) naming what is missing.
set -eu

SOURCE=${SOURCE:-raw}
STAGE=${STAGE:-stage}
NAME=${NAME:-enrich}
VERSION=${VERSION:-1}
# The command, and the files it reads that each host must be sent.
COMMAND=${COMMAND:-jq -c -f enrich.jq}
BASEFILES=${BASEFILES:-enrich.jq}
JOBS=${JOBS:-100%}
SSHLOGIN=${SSHLOGIN:-}
REFILL=${REFILL:-}

# The version current now, pinned, as in the Makefile.
src=$SOURCE/$(readlink "$SOURCE/current")
mkdir -p "$STAGE"
transform="${REFILL}refill-transform -q -n $NAME -v $VERSION -i {} -o $STAGE/{/} -- $COMMAND"

# --halt: the first failed partition stops the run, and the status says so.
# The job log lists what finished, for `--resume' on a rerun.
if [ -z "$SSHLOGIN" ]; then
	parallel --will-cite --halt now,fail=1 --joblog "$STAGE.joblog" \
	    -j "$JOBS" "$transform" ::: "$src"/*.ndjson
else
	set --
	for f in $BASEFILES; do set -- "$@" --basefile "$f"; done
	parallel --will-cite --halt now,fail=1 --joblog "$STAGE.joblog" \
	    -S "$SSHLOGIN" "$@" --transferfile {} \
	    --return "$STAGE/{/}" --return "$STAGE/{/}.prov" --cleanup \
	    "mkdir -p $STAGE && $transform" ::: "$src"/*.ndjson
fi
missing=0
for f in "$src"/*.ndjson; do
	out=$STAGE/${f##*/}
	for g in "$out" "$out.prov"; do
		if [ ! -f "$g" ]; then
			echo "backfill.sh: $g: not made; partition $f" >&2
			missing=1
		fi
	done
done
exit $missing
