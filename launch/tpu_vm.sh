#!/usr/bin/env bash
# Trains on a Cloud TPU VM slice: create it, copy this repository to every
# worker, install, run the same command on all workers, stream the logs,
# delete the slice (also on failure or Ctrl-C).
#
#   bash launch/tpu_vm.sh NAME ZONE ACCELERATOR_TYPE RUNTIME_VERSION \
#     --config=configs/rdn_x3.py --workdir=gs://BUCKET/runs/rdn_x3 [flags]
#
# e.g. bash launch/tpu_vm.sh sr-v4-32 us-central2-b v4-32 tpu-ubuntu2204-base ...
#
# On a TPU slice every worker runs the same command; jax.distributed finds
# the other workers by itself (sr_jax/main.py calls jax.distributed.initialize
# when TPU_WORKER_HOSTNAMES lists several hosts). The workdir must be shared
# by all workers (a gs:// bucket): Orbax writes checkpoints collectively and
# TFDS data should live there too (--config.data.tfds_data_dir=gs://...).
# Set KEEP=1 to keep the slice after the run.
set -euo pipefail

if [[ $# -lt 5 ]]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
name=$1 zone=$2 accelerator=$3 runtime=$4
shift 4
args=$(printf '%q ' "$@")
repo=$(cd "$(dirname "$0")/.." && pwd)

tpu() { gcloud compute tpus tpu-vm "$@" --zone="$zone"; }

cleanup() {
  if [[ -z "${KEEP:-}" ]]; then
    echo "Deleting TPU VM $name" >&2
    tpu delete "$name" --quiet || true
  fi
}
trap cleanup EXIT

tpu create "$name" --accelerator-type="$accelerator" --version="$runtime"

# The code, without run outputs or the git history.
tarball=$(mktemp --suffix=.tar.gz)
tar -C "$repo" --exclude=.git --exclude='__pycache__' -czf "$tarball" .
tpu scp "$tarball" "$name":~/sr_jax.tar.gz --worker=all
tpu ssh "$name" --worker=all --command="
  set -e
  mkdir -p ~/sr_jax && tar -C ~/sr_jax -xzf ~/sr_jax.tar.gz
  cd ~/sr_jax
  sed -i 's/^jax\[cpu\]==\(.*\)/jax[tpu]==\1/' requirements.txt
  python3 -m pip install -q -r requirements.txt
"

# Same command on every worker; --worker=all streams every worker's output,
# prefixed by gcloud. SIGINT/SIGTERM here reach the workers as SIGTERM, so
# they save a checkpoint before the slice is deleted.
tpu ssh "$name" --worker=all --command="
  cd ~/sr_jax && python3 -m sr_jax.main $args
"
