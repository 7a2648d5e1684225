#!/usr/bin/env bash
# Run stackmedic's full loop on a fresh copy of the bundled broken sample.
#
# Sets up everything first (engine, Compose, base images, the package), copies
# examples/tacoreservice to a temporary folder, brings the broken stack up and
# runs `stackmedic run` on the copy. The files in the repository are never
# edited, so the demo can be run again and again. Extra arguments go to
# `stackmedic run` (for example --lang zh-CN).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

bash "$root/scripts/engine.sh"
echo "[demo] pip install -e $root"
python3 -m pip install -q -e "$root" 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true

# Local base images stand in for the public ones, which cannot be pulled here.
if docker image inspect stackmedic/python-base:bookworm >/dev/null 2>&1; then
  export BASE_IMAGE="${BASE_IMAGE:-stackmedic/python-base:bookworm}"
  export REDIS_IMAGE="${REDIS_IMAGE:-stackmedic/redis:bookworm}"
fi
TACORESERVICE_HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TACORESERVICE_HTTP_PORT

work=$(mktemp -d "${TMPDIR:-/tmp}/stackmedic-demo.XXXXXX")
cp -r "$root/examples/tacoreservice" "$work/tacoreservice"
echo "[demo] sample copied to $work/tacoreservice"
# Each demo gets its own compose project (named after its folder), so two
# demos on one engine never touch each other's containers or volumes.
suffix=${work##*.}
project="stackmedic-demo-$(echo "$suffix" | tr '[:upper:]' '[:lower:]')"

echo "[demo] bringing up the broken stack (docker compose up --build -d)"
docker compose --project-directory "$work/tacoreservice" -p "$project" up --build -d --quiet-pull 2>&1 | tail -n 3

status=0
stackmedic run "$work/tacoreservice" -p "$project" --run-dir "$work/run" "$@" || status=$?

echo
echo "[demo] exit code $status (0 healthy, 1 problems remain, 2 usage or environment error)"
echo "[demo] reports: $work/run/report.md, report.json and report.html"
echo "[demo] undo the run's file changes: stackmedic rollback run --project-dir $work/tacoreservice --runs-dir $work"
echo "[demo] the stack is still running: docker compose -p $project ps"
echo "[demo] remove it with: docker compose -p $project down -v --rmi local"
exit "$status"
