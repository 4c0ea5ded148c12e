"""Command-line entry point: flags only; the work is in train.py and evaluate.py.

  python -m sr_jax.main --config=configs/x3.py            # runs/x3
  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3 \
      --mode=evaluate [--step=N]
  python -m sr_jax.main --config=configs/imdn_x3.py --workdir=/tmp/imdn \
      --mode=evaluate --config.pretrained=../shared/peers/imdn/IMDN_x3.npz

Without ``--workdir`` a run goes to ``runs/<config file name>`` under the
current directory; the same command run again resumes it.

The console shows the run directory, the config in a few lines, then the
progress lines, evaluation tables and warnings; everything else that is
logged (Orbax, TensorFlow, JAX, ...) goes to ``<workdir>/log.txt``
(``log.<i>.txt`` for process i > 0), and ``--verbosity=1`` shows it on the
console too. Ctrl-C saves a checkpoint and exits (status 0); a second one
stops at once (130). Errors a user can fix (a flag, a path, a full disk, a
damaged checkpoint) are reported as one line on stderr, exit status 2 for
usage errors and 1 otherwise; the traceback is in the log.
"""

import difflib
import errno
import os
import re
import runpy
import signal
import sys
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

from sr_jax import console

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


def _config_lines(config, argv: list[str]) -> list[str]:
  """The training config in a few lines (its file, overrides, the gist)."""
  model, data, optim = config.model, config.data, config.optim
  overrides = [a[len("--config.") :] for a in argv if a.startswith("--config.")]
  first = f"config {_config_path(argv)}"
  if overrides:
    first += " with " + " ".join(overrides)
  colour = {1: "Y", 3: "RGB"}.get(model.get("channels", 3), "?")
  about_model = f"model {model.name} x{config.scale} on {colour}"
  if model.get("dtype", "float32") != "float32":
    about_model += f", {model.dtype} compute"
  if config.get("init_from"):
    about_model += f", starting from {config.init_from}"
  if config.get("ema_decay"):
    about_model += f", EMA {config.ema_decay:g}"
  about_model += (
    f"; train on {data.train_sets}, {data.lr_patch_size} px LR patches, "
    f"batch {config.batch_size}"
  )
  if data.get("lr_kernels", "matlab") != "matlab":
    about_model += f", LR kernels {data.lr_kernels}"
    if data.get("blur_fraction"):
      about_model += ", blur sigma {}-{}".format(*data.blur_sigma)
  if data.get("jpeg_quality"):
    about_model += ", JPEG quality {}-{}".format(*data.jpeg_quality)
  if data.get("noise_sigma"):
    about_model += ", noise sigma {}-{}".format(*data.noise_sigma)
  schedule = (
    f"{config.total_steps:,} steps, {config.loss} loss, learning rate "
    f"{optim.learning_rate:g} {optim.schedule}"
  )
  hooks = (
    f"log {_every_text(config.log_every_steps)}, checkpoint "
    f"{_every_text(config.checkpoint_every_steps)}, evaluate on "
    f"{config.eval.datasets} {_every_text(config.eval.every_steps)}"
  )
  return [first, about_model, schedule, hooks]


def _every_text(every: int) -> str:
  return f"every {every:,} steps" if every > 0 else "at the end"


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
  from sr_jax import rundir

  logging.info(
    "jax.distributed: process %d of %d, %d local / %d global devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
    extra=rundir.CONSOLE,
  )


def _open_log(logs: console.Logs, workdir: str) -> None:
  """Starts the log file of this process in the run directory.

  Training makes the directory; evaluation only logs into one that exists.
  """
  import jax

  from sr_jax import fileio, rundir

  run = rundir.RunDir(workdir)
  if _MODE.value == "train":
    run.create()
  elif not fileio.isdir(workdir):
    return
  logs.file.open(run.log_path(jax.process_index()))
  logs.take_native_stderr()
  # One console for the run: the other processes only report problems.
  logs.chief = jax.process_index() == 0


def _run(config, workdir: str, logs: console.Logs) -> None:
  with console.native_stderr_to_log(not logs.verbose):
    # Keep TensorFlow (tf.data only) off any accelerator JAX wants.
    import tensorflow as tf

    if _MODE.value == "train" and not logs.verbose:
      import tensorflow_datasets as tfds

      # Progress bars of a first TFDS build only make sense on a terminal.
      tfds.display_progress_bar(sys.stderr.isatty())
  tf.config.set_visible_devices([], "GPU")
  from sr_jax import platform_tuning

  if not _COORDINATOR.value and not _in_cluster():
    platform_tuning.split_cpu_devices(
      _CPU_DEVICES.value,
      batch_size=config.batch_size if _MODE.value == "train" else 0,
    )
  init_distributed()
  _open_log(logs, workdir)

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
  # Light modules first: a usage error must not import TensorFlow (whose
  # banner would print) just to be reported.
  from sr_jax import config_checks, rundir

  first = (str(e).strip().splitlines() or [type(e).__name__])[0]
  usage = _UsageError | NotADirectoryError | rundir.RunLockedError
  if isinstance(e, usage | config_checks.ConfigError):
    return first, 2
  from sr_jax import checkpointing, train

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


def _header(config, workdir: str) -> None:
  """The run directory, where the log goes, and the config in a few lines."""
  single = not _COORDINATOR.value and not _in_cluster()
  log = os.path.join(workdir, "log.txt" if single else "log*.txt")
  print(
    f"sr_jax: run directory {workdir} (full log: {log}; --verbosity=1 shows "
    "it here)",
    file=sys.stderr,
  )
  if _MODE.value == "train":
    try:
      lines = _config_lines(config, sys.argv)
    except (AttributeError, KeyError, TypeError, ValueError):
      lines = [f"config {_config_path(sys.argv)}"]  # A config of its own.
    logging.info("Config:\n%s", "\n".join(lines))
    for line in lines:
      print(f"  {line}", file=sys.stderr)
  sys.stderr.flush()


def _interrupted(workdir: str) -> None:
  """Ctrl-C outside the training loop (which saves and exits 0 itself)."""
  # Another Ctrl-C while Python shuts down ends it at once, still with 130.
  signal.signal(signal.SIGINT, lambda *_: os._exit(130))
  console.write(f"\nsr_jax: interrupted; {_last_checkpoint(workdir)}.")
  sys.exit(130)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir = _WORKDIR.value or default_workdir(_config_path(sys.argv))
  verbose = flags.FLAGS.verbosity >= 1
  if not verbose:
    # TensorFlow's (and XLA's) C++ log lines cannot go to the log file, and
    # at the default verbosity none is for the user: even its ERROR lines
    # are notes (oneDNN falling back to Eigen for uint8) or end-of-data
    # chatter, and a real failure reaches Python as an exception, which is
    # reported. A value set by the user wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  logs = console.Logs(verbose=verbose)
  logging.info("Run directory: %s", workdir)
  try:
    config = _load_config()
    from sr_jax import config_checks

    config_checks.check_run(config, mode=_MODE.value)
    _header(config, workdir)
    _run(config, workdir, logs)
    logging.info("Done.")
  except KeyboardInterrupt:
    _interrupted(workdir)
  except Exception as e:
    reported = _one_line(e, workdir)
    if reported is None and logs.file.path is None:
      raise  # No log file to hold the traceback: it goes to the console.
    logging.info("".join(traceback.format_exception(e)))
    if reported is None:
      # Not an error a user can fix: one line, the traceback in the log.
      first = (str(e).strip().splitlines() or [""])[0]
      reported = (
        f"{type(e).__name__}: {first} (traceback in {logs.file.path})",
        1,
      )
    console.write(f"sr_jax: error: {reported[0]}")
    sys.exit(reported[1])
  finally:
    logs.close()


if __name__ == "__main__":
  try:
    app.run(main, flags_parser=_parse_flags)
  except KeyboardInterrupt:  # A second Ctrl-C while the first was handled.
    os._exit(130)
