"""Command-line entry point: flags only; the work is in train.py and evaluate.py.

  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3
  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3 \
      --mode=evaluate [--step=N]
  python -m sr_jax.main --config=configs/imdn_x3.py --workdir=/tmp/imdn \
      --mode=evaluate --config.pretrained=../shared/peers/imdn/IMDN_x3.npz
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

# Config files import ``configs.default``; make that work from any cwd.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Training configuration file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Directory for checkpoints, summaries and results."
)
_MODE = flags.DEFINE_enum(
  "mode", "train", ["train", "evaluate"], "Train (and evaluate) or evaluate."
)
_STEP = flags.DEFINE_integer(
  "step", None, "--mode=evaluate: checkpoint step (default: the latest)."
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address",
  None,
  "Multi-host: host:port of process 0. Not needed on TPU pods and under "
  "SLURM, where jax.distributed finds the cluster itself.",
)
_NUM_PROCESSES = flags.DEFINE_integer(
  "num_processes", None, "Multi-host: the number of processes."
)
_PROCESS_ID = flags.DEFINE_integer(
  "process_id", None, "Multi-host: this process's index."
)
_KEEP_FREED_MEMORY = flags.DEFINE_bool(
  "keep_freed_memory",
  True,
  "Tune glibc malloc so XLA:CPU stops page-faulting every step (1.28x on "
  "the ESPCN-RDB x3 train step; see sr_jax/allocator.py).",
)
flags.mark_flags_as_required(["config", "workdir"])


def _in_cluster() -> bool:
  """True under a multi-task SLURM job or on a multi-host TPU slice."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  return "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")


def init_distributed() -> None:
  """Starts JAX's multi-controller runtime when this is a multi-host run.

  Must run before anything touches a JAX device. With explicit flags (e.g.
  ``launch/local.sh``) they are passed on; on TPU pods and under SLURM
  ``jax.distributed.initialize()`` detects the cluster by itself.
  """
  import jax

  if _COORDINATOR.value:
    if _NUM_PROCESSES.value is None or _PROCESS_ID.value is None:
      raise app.UsageError(
        "--coordinator_address needs --num_processes and --process_id"
      )
    jax.distributed.initialize(
      coordinator_address=_COORDINATOR.value,
      num_processes=_NUM_PROCESSES.value,
      process_id=_PROCESS_ID.value,
    )
  elif _in_cluster():
    jax.distributed.initialize()
  else:
    return
  if jax.process_index() != 0:
    # One log for the run: the other processes only report problems.
    logging.set_verbosity(logging.WARNING)
  logging.info(
    "jax.distributed: process %d of %d, %d local / %d global devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if _KEEP_FREED_MEMORY.value:
    from sr_jax import allocator

    allocator.keep_freed_memory()
  # Keep TensorFlow (tf.data only) off any accelerator JAX wants.
  import tensorflow as tf

  tf.config.set_visible_devices([], "GPU")
  init_distributed()

  config = _CONFIG.value
  workdir = _WORKDIR.value
  if _MODE.value == "train":
    from sr_jax import train

    train.train_and_evaluate(config, workdir)
  else:
    from sr_jax import evaluate

    evaluate.evaluate(config, workdir, step=_STEP.value)
  logging.info("Done.")


if __name__ == "__main__":
  app.run(main)
