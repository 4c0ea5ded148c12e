#!/usr/bin/env bash
# Runs N sr_jax processes on this machine, joined by jax.distributed over
# 127.0.0.1: the multi-host code path, testable on one CPU box.
#
#   bash launch/local.sh N --config=configs/x3.py --workdir=W [more flags]
#
# Each process gets one CPU device (override with DEVICES_PER_PROCESS) and
# its own log in W/logs/process_<i>.log; process 0 also prints to stdout.
# If any process fails, the others are stopped and the exit code is non-zero.
set -euo pipefail

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ || "$1" -lt 1 ]]; then
  echo "usage: bash launch/local.sh N --config=... --workdir=... [flags]" >&2
  exit 2
fi
n=$1
shift

workdir=""
for arg in "$@"; do
  case "$arg" in --workdir=*) workdir="${arg#--workdir=}" ;; esac
done
if [[ -z "$workdir" ]]; then
  echo "launch/local.sh: pass --workdir=DIR" >&2
  exit 2
fi
mkdir -p "$workdir/logs"

# A free port for the coordinator, chosen by the OS.
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
devices=${DEVICES_PER_PROCESS:-1}
cd "$(dirname "$0")/.."

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
# Pass SIGTERM on to every process: each saves a checkpoint and exits.
trap 'for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done' TERM INT

for ((i = 0; i < n; i++)); do
  log="$workdir/logs/process_$i.log"
  JAX_PLATFORMS=cpu \
  XLA_FLAGS="--xla_force_host_platform_device_count=$devices ${XLA_FLAGS:-}" \
    python -m sr_jax.main "$@" \
      --coordinator_address="127.0.0.1:$port" \
      --num_processes="$n" --process_id="$i" >"$log" 2>&1 &
  pids+=($!)
done
if [[ -t 1 || -n "${FOLLOW:-1}" ]]; then
  tail -n +1 -f "$workdir/logs/process_0.log" --pid="${pids[0]}" &
fi

status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "launch/local.sh: process $i failed; see $workdir/logs/process_$i.log" >&2
    status=1
    cleanup
  fi
done
wait 2>/dev/null || true
exit $status
