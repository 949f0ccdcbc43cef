#!/bin/sh
# submit.sh: the backfill as a Slurm job array, one task per partition of
# the source's current version, then the commit as one job that runs only
# if every task succeeded (afterok).  The settings go to the jobs through
# the environment, as sbatch exports it by default:
#
#   SOURCE=raw STAGE=stage NAME=enrich VERSION=2 sh submit.sh
#
# Run it from the directory the jobs should work in, on a file system the
# compute nodes share.  MAXTASKS limits how many tasks run at once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${SOURCE:=raw}" "${MAXTASKS:=32}"
# The version current now, pinned for every task.
SOURCE_DIR=$SOURCE/$(readlink "$SOURCE/current")
export SOURCE_DIR
set -- "$SOURCE_DIR"/*.ndjson
[ -e "$1" ] || { echo "submit.sh: $SOURCE_DIR: no partitions" >&2; exit 2; }
array=$(sbatch --parsable --array="0-$(($# - 1))%$MAXTASKS" \
    "$here/transform.sbatch")
array=${array%%;*}
commit=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    "$here/commit.sbatch")
echo "transform: job array $array ($# tasks); commit: job ${commit%%;*}"
