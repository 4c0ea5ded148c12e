"""Command-line entry point: flags only; the work is in train.py and evaluate.py.

  python -m sr_jax.main --config=configs/x3.py            # runs/x3
  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3 \
      --mode=evaluate [--step=N]
  python -m sr_jax.main --config=configs/imdn_x3.py --workdir=/tmp/imdn \
      --mode=evaluate --config.pretrained=../shared/peers/imdn/IMDN_x3.npz

Without ``--workdir`` a run goes to ``runs/<config file name>`` under the
current directory; the same command run again resumes it. Errors a user can
fix (a flag, a path, a full disk, a damaged checkpoint) are reported as one
line on stderr, exit status 2 for usage errors and 1 otherwise; the
traceback is logged at ``--verbosity=1``.
"""

import difflib
import errno
import os
import re
import runpy
import sys
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

# Config files import ``configs.default``; make that work from any cwd.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Training configuration file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Directory for checkpoints, summaries and results (default: "
  "runs/<config file name>).",
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
  "On the CPU backend, tune glibc malloc so XLA:CPU stops page-faulting "
  "every step (1.28x on the ESPCN-RDB x3 train step; see "
  "sr_jax/platform_tuning.py). Not applied on GPU/TPU.",
)
_CPU_DEVICES = flags.DEFINE_integer(
  "cpu_devices",
  -1,
  "On the CPU backend of a single-process run: JAX devices to split the "
  "cores into (-1: one per core this process may use, reduced to divide "
  "the batch; 1: XLA's single device). An XLA_FLAGS device count wins. See "
  "sr_jax/platform_tuning.py.",
)
flags.mark_flags_as_required(["config"])


class _UsageError(Exception):
  """A flag or path the user can fix: one line, exit status 2."""


def default_workdir(config_path: str) -> str:
  """``runs/<name>`` for ``configs/<name>.py``, relative to the cwd."""
  name = os.path.splitext(os.path.basename(config_path))[0]
  return os.path.join("runs", name or "run")


def _config_keys(config, prefix: str = "") -> list[str]:
  keys = []
  for k, v in config.items():
    keys.append(prefix + k)
    if hasattr(v, "items"):
      keys += _config_keys(v, prefix + k + ".")
  return keys


def _config_path(argv: list[str]) -> str:
  """The ``--config`` file named on the command line."""
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1].split(":")[0]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1].split(":")[0]
  return ""


def _unknown_key_message(e: Exception, argv: list[str]) -> str:
  """One line for a ``--config.<key>`` override naming no key of the config."""
  found = re.search(r"'([A-Za-z0-9_]+)", str(e))
  key = found.group(1) if found else str(e)
  overrides = [a for a in argv if a.startswith("--config.")]
  flag = next((a for a in overrides if key in a.split("=")[0]), key)
  path = _config_path(argv)
  try:
    base = runpy.run_path(path)["get_config"]()
    near = difflib.get_close_matches(
      flag.split("=")[0][len("--config.") :], _config_keys(base), n=1
    )
  except Exception:  # The suggestion is a courtesy.
    near = []
  hint = f"; did you mean --config.{near[0]}?" if near else ""
  return f"{flag}: {path} has no key {key!r}{hint}"


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with one-line errors (exit 2) for bad flags."""
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:  # config_flags: an unknown key.
    message = _unknown_key_message(e, argv)
  except flags.Error as e:
    message = str(e)
  print(f"sr_jax: error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def _load_config():
  """The config with its overrides; a _UsageError if the file is bad."""
  path = _config_path(sys.argv)
  try:
    config = _CONFIG.value
    config.keys()  # A file that failed to load raises on first use.
    return config
  except OSError as e:
    if not os.path.exists(path):
      raise _UsageError(f"--config={path}: no such file") from e
    raise _UsageError(f"--config={path}: cannot load it ({e})") from e


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


def _run(config, workdir: str) -> None:
  # Keep TensorFlow (tf.data only) off any accelerator JAX wants.
  import tensorflow as tf

  tf.config.set_visible_devices([], "GPU")
  from sr_jax import platform_tuning

  if not _COORDINATOR.value and not _in_cluster():
    platform_tuning.split_cpu_devices(
      _CPU_DEVICES.value,
      batch_size=config.batch_size if _MODE.value == "train" else 0,
    )
  init_distributed()

  platform_tuning.apply_process_tunings(
    keep_freed_memory=_KEEP_FREED_MEMORY.value
  )
  if _MODE.value == "train":
    from sr_jax import train

    train.train_and_evaluate(config, workdir)
  else:
    from sr_jax import evaluate

    evaluate.evaluate(config, workdir, step=_STEP.value)


def _disk_full(e: BaseException) -> bool:
  while e is not None:
    if getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e):
      return True
    e = e.__cause__ or e.__context__
  return False


def _last_checkpoint(workdir: str) -> str:
  from sr_jax import fileio, rundir

  folder = rundir.RunDir(workdir).checkpoints
  names = fileio.listdir(folder) if fileio.isdir(folder) else []
  steps = sorted(int(d) for d in names if d.isdigit())
  return (
    f"the last saved checkpoint is step {steps[-1]} in {folder}"
    if steps
    else "no checkpoint was saved"
  )


def _one_line(e: BaseException, workdir: str) -> tuple[str, int] | None:
  """The message and exit status for an error a user can act on, or None."""
  from sr_jax import checkpointing, rundir, train

  first = (str(e).strip().splitlines() or [type(e).__name__])[0]
  if isinstance(e, _UsageError | NotADirectoryError | rundir.RunLockedError):
    return first, 2
  if _disk_full(e):
    return (
      f"no space left on the device of --workdir={workdir}; "
      f"{_last_checkpoint(workdir)}. Free some space and run the same "
      "command again to resume",
      1,
    )
  if isinstance(
    e,
    train.NonFiniteLossError
    | checkpointing.CheckpointError
    | FileNotFoundError
    | ValueError,
  ):
    return first, 1
  return None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir = _WORKDIR.value or default_workdir(_config_path(sys.argv))
  logging.info("Run directory: %s", workdir)
  print(f"sr_jax: run directory {workdir}", file=sys.stderr, flush=True)
  try:
    config = _load_config()
    _run(config, workdir)
  except Exception as e:
    reported = _one_line(e, workdir)
    if reported is None:
      raise
    logging.debug("".join(traceback.format_exception(e)))
    print(f"sr_jax: error: {reported[0]}", file=sys.stderr, flush=True)
    sys.exit(reported[1])
  logging.info("Done.")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
