"""Orbax checkpoints of the train state: keep N, async, resume without a flag.

Checkpoints live in ``RunDir.checkpoints`` (``<workdir>/checkpoints/<step>/``,
written by Orbax atomically: a step directory appears only when complete).
Restoring checks the weights against the config first
(:func:`sr_jax.models.check_fit`), so a mismatch is reported with the
workdir and the parameter, not deep inside Orbax. A checkpoint that cannot be
read (truncated, half deleted) is reported in one line and the next older
one is tried; nothing is deleted (training renames the unreadable newer
steps to ``<step>.unreadable`` before it saves over their numbers).

:class:`Preemption` turns SIGTERM and Ctrl-C into a save at the next step
and a clean stop.
"""

import contextlib
import os
import signal
import threading

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from sr_jax import console, fileio, models, rundir, train_state


class CheckpointError(RuntimeError):
  """No checkpoint of a run could be read."""


def create_manager(
  run: rundir.RunDir, *, keep: int = 3, read_only: bool = False
) -> ocp.CheckpointManager:
  """An async CheckpointManager over the run's checkpoints folder."""
  return ocp.CheckpointManager(
    fileio.for_orbax(run.checkpoints),
    # Declared up front so that item_metadata() can read a step's tree
    # before anything is restored.
    item_handlers=ocp.StandardCheckpointHandler(),
    options=ocp.CheckpointManagerOptions(
      max_to_keep=keep,
      create=not read_only,
      read_only=read_only,
      enable_async_checkpointing=not read_only,
    ),
  )


def _state_dict(state: train_state.TrainState) -> dict:
  return {
    "step": state.step,
    "params": state.params,
    "opt_state": state.opt_state,
    "ema_params": state.ema_params,
  }


def save(mngr: ocp.CheckpointManager, state, *, force: bool = False) -> None:
  """Starts saving ``state`` at its step (returns before the write ends)."""
  step = int(jax.device_get(state.step))
  mngr.save(step, args=ocp.args.StandardSave(_state_dict(state)), force=force)


def _steps_to_try(mngr, run: rundir.RunDir, step: int | None) -> list[int]:
  """``[step]`` if given (and present), else every step, newest first."""
  steps = sorted(mngr.all_steps(), reverse=True)
  if step is None:
    return steps
  if step not in steps:
    raise FileNotFoundError(
      f"--step={step}: no checkpoint at that step in {run.checkpoints} "
      f"(have {sorted(steps)})"
    )
  return [step]


def _stored_tree(mngr, step: int):
  """The checkpoint's tree of array metadata (shape and dtype per leaf)."""
  meta = mngr.item_metadata(step)
  if meta is None:
    raise ValueError("it has no readable metadata")
  return getattr(meta, "tree", meta)


def _first_readable(mngr, run: rundir.RunDir, step: int | None, restore_one):
  """Runs ``restore_one(step)`` on the newest step that works.

  Returns:
    ``(result, step)``, or ``(None, None)`` if there is no checkpoint.

  Raises:
    CheckpointError: if checkpoints exist but none could be read (or the
      requested ``step`` could not).
  """
  steps = _steps_to_try(mngr, run, step)
  failures = []
  for s in steps:
    try:
      result = restore_one(s)
    except models.WeightsMismatchError:
      raise  # A wrong config, not a damaged checkpoint: no older step helps.
    except Exception as e:  # Orbax raises many kinds for damaged files.
      failures.append((s, e))
    else:
      if failures:
        logging.warning("Restored step %d of %s instead.", s, run.path)
      return result, s
    first_line = str(failures[-1][1]).strip().splitlines() or ["unknown error"]
    logging.warning(
      "Checkpoint %s/%d cannot be read (%s: %s); trying an older one.",
      run.checkpoints,
      s,
      type(failures[-1][1]).__name__,
      first_line[0][:200],
    )
  if not failures:
    return None, None
  bad = ", ".join(str(s) for s, _ in failures)
  raise CheckpointError(
    f"no readable checkpoint in {run.checkpoints} (tried step(s) {bad}; the "
    f"last error: {str(failures[-1][1]).splitlines()[0][:200]}). Nothing was "
    "deleted: remove the damaged step folders or use a new --workdir"
  ) from failures[-1][1]


def _params_only(tree) -> dict:
  return {"params": tree["params"]}


def _on_device(abstract, sharding):
  return jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding),
    abstract,
  )


def restore(
  mngr, config, model, tx, *, run: rundir.RunDir, step=None, shardings=None
):
  """Restores the train state at ``step`` (default: the newest readable).

  Args:
    mngr: the run's CheckpointManager.
    config: the run's config.
    model: the Flax model.
    tx: the optimizer (its state's structure is restored).
    run: the run directory (its saved config is checked against ``config``).
    step: the step to restore, or None for the newest readable one.
    shardings: a sharding for every array (e.g. replicated over the mesh);
      None restores onto this process's first device.

  Returns:
    ``(state, step)`` or ``(None, None)`` when there is no checkpoint.
  """
  saved = run.read_config()
  if shardings is None:
    # Explicit target shardings let a checkpoint written on another topology
    # (say, by two processes) restore here.
    shardings = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = _state_dict(
    jax.eval_shape(
      lambda: train_state.create_train_state(
        jax.random.key(0), config, model, tx
      )
    )
  )
  abstract = _on_device(abstract, shardings)

  def restore_one(s: int):
    stored = _stored_tree(mngr, s)
    models.check_fit(
      config,
      _params_only(stored)["params"],
      source=f"checkpoint {run.checkpoints}/{s}",
      saved_config=saved,
    )
    restored = mngr.restore(s, args=ocp.args.StandardRestore(abstract))
    return train_state.TrainState(**restored)

  state, step = _first_readable(mngr, run, step, restore_one)
  if state is not None:
    _set_aside_newer(mngr, run, step)
  return state, step


def _set_aside_newer(mngr, run: rundir.RunDir, step: int) -> None:
  """Renames the unreadable steps after ``step`` to ``<step>.unreadable``.

  A run resumed from an older step would otherwise collide with them when it
  saves that step again. They are kept (renamed, not deleted) for the user
  to inspect; Orbax ignores folders whose name is not a step.
  """
  newer = [s for s in mngr.all_steps() if s > step]
  if not newer:
    return
  if jax.process_index() == 0:
    for s in newer:
      src = fileio.join(run.checkpoints, str(s))
      dst = f"{src}.unreadable"
      fileio.rename(src, dst)
      logging.warning("Moved the unreadable checkpoint %s to %s.", src, dst)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("sr_jax: unreadable steps set aside")
  mngr.reload()


def restore_params(config, run: rundir.RunDir | str, *, step=None):
  """The evaluation params of a run's checkpoint, without an optimizer.

  The EMA params when the run kept them, else the params. The tree to restore
  is read from the checkpoint's own metadata, so nothing about the optimizer
  needs to be known.

  Returns:
    ``(params, step)`` with params as host NumPy arrays.

  Raises:
    FileNotFoundError: if the run holds no checkpoint.
    CheckpointError: if none can be read.
    ValueError: if the weights do not fit ``config``.
  """
  if isinstance(run, str):
    run = rundir.RunDir(run)
  if not run.has_checkpoints():
    raise FileNotFoundError(
      f"--workdir={run.path} holds no checkpoints/ (train first, or pass "
      "--config.pretrained=FILE)"
    )
  saved = run.read_config()
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  mngr = create_manager(run, read_only=True)

  def restore_one(s: int):
    stored = _stored_tree(mngr, s)
    key = "ema_params" if stored.get("ema_params") is not None else "params"
    models.check_fit(
      config,
      stored[key],
      source=f"checkpoint {run.checkpoints}/{s}",
      saved_config=saved,
    )
    abstract = _on_device(
      jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), stored),
      device,
    )
    restored = mngr.restore(s, args=ocp.args.StandardRestore(abstract))
    return jax.tree.map(np.asarray, restored[key])

  try:
    params, step = _first_readable(mngr, run, step, restore_one)
  finally:
    mngr.close()
  if params is None:
    raise FileNotFoundError(
      f"--workdir={run.path}: no checkpoint in {run.checkpoints}"
    )
  logging.info("Restored step %d from %s", step, run.path)
  return params, step


class Preemption:
  """SIGTERM and Ctrl-C (SIGINT): save at the next step, then stop.

  SIGTERM comes from TPU maintenance, SLURM's ``--signal`` or ``kill``. On
  several processes it is JAX's preemption service (started by
  ``jax.distributed.initialize``) that catches it on any host and agrees in
  the background on the step at which every process saves, so
  :meth:`requested` is a local check with no per-step host sync. A single
  process has no coordination service, so here a Python handler sets a
  flag.

  Ctrl-C does the same on a single process. A second Ctrl-C ends the
  process at once (exit status 130), without saving: the last complete
  checkpoint stays (Orbax renames a step's folder into place only when it is
  whole). On several processes a Ctrl-C is turned into a SIGTERM of this
  process, so that the preemption service has all of them save one agreed
  step: a process saving alone would wait forever for the others in the
  save's collectives. A SIGINT the process ignores (a background job of a
  script such as launch/local.sh, which sends SIGTERM itself) stays ignored.
  """

  def __init__(self, *, on_abort=None):
    """``on_abort``: called before a second Ctrl-C ends the process."""
    self._flag = False
    self._signal = None  # The name of the first signal received.
    self._interrupted = False  # A Ctrl-C came.
    self._busy = None
    self._on_abort = on_abort
    self._aborting = threading.Lock()
    self._wakeup = None  # The wakeup fd before ours, once ours is set.
    self._wakeup_pipe = None
    self._previous = {}
    self._service = jax.process_count() > 1

  def __enter__(self):
    # The service has its own SIGTERM handler.
    wanted = [signal.SIGINT] + ([] if self._service else [signal.SIGTERM])
    for signum in wanted:
      if signal.getsignal(signum) == signal.SIG_IGN:
        continue
      try:
        self._previous[signum] = signal.signal(signum, self._handle)
      except ValueError:  # Not the main thread (e.g. a notebook).
        pass
    if signal.SIGINT in self._previous:
      self._count_sigints()
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT:
      if self._interrupted:
        self._abort()
      self._interrupted = True
    self._signal = self._signal or signal.Signals(signum).name
    if self._service:  # A SIGINT: the service coordinates SIGTERMs.
      os.kill(os.getpid(), signal.SIGTERM)
      return
    if signum == signal.SIGTERM:
      logging.warning("SIGTERM received: saving a checkpoint, then exiting.")
    elif self._busy:
      logging.info(
        "Ctrl-C: saving when the %s ends (Ctrl-C again to stop at once).",
        self._busy,
        extra=rundir.CONSOLE,
      )
    self._flag = True

  def _count_sigints(self) -> None:
    """Ends the process at the second SIGINT even while the main thread is
    in XLA (compiling, say): the Python handler runs only once it returns,
    and once for two SIGINTs that came meanwhile. Python's C handler writes
    each signal's number to the wakeup fd at once; a thread counts them."""
    read, self._wakeup_pipe = os.pipe()
    os.set_blocking(self._wakeup_pipe, False)
    self._wakeup = signal.set_wakeup_fd(
      self._wakeup_pipe, warn_on_full_buffer=False
    )

    def count():
      seen = 0
      while data := os.read(read, 64):  # Empty once __exit__ closes it.
        seen += data.count(signal.SIGINT)
        if seen >= 2:
          self._abort()
      os.close(read)

    threading.Thread(target=count, name="sr_jax_sigint", daemon=True).start()

  def _abort(self) -> None:
    if not self._aborting.acquire(blocking=False):
      return  # The other path (thread or handler) is ending the process.
    # os.write, not sys.stderr: this may run inside a write to sys.stderr.
    os.write(
      console.console_fd(),
      b"\nsr_jax: stopped at once (second Ctrl-C), without saving; the same "
      b"command resumes from the last complete checkpoint.\n",
    )
    if self._on_abort is not None:
      self._on_abort()
    os._exit(130)

  @contextlib.contextmanager
  def busy(self, what: str):
    """Marks a long stretch between steps (a Ctrl-C then says it waits)."""
    self._busy = what
    try:
      yield
    finally:
      self._busy = None

  def pending(self) -> bool:
    """Whether a stop was requested (a local check, for between steps)."""
    return self._flag

  def requested(self, step: int, *, steps: int = 1) -> bool:
    """True when the run should save at ``step`` and stop.

    Args:
      step: the step just reached.
      steps: how many steps the last call ran. The service's agreed step may
        be any of them: each is reported in order, and a hit on any means
        all processes save at ``step`` (they run the same calls, so they
        all see the hit in the same call).
    """
    if self._service and not self._flag:
      for s in range(step - steps + 1, step + 1):
        if multihost_utils.reached_preemption_sync_point(s):
          self._flag = True
          break
      if self._flag:
        logging.warning(
          "SIGTERM received by a process of the run: all save step %d, then "
          "exit.",
          step,
        )
    return self._flag

  def report(self, step: int, run: rundir.RunDir) -> None:
    """The one line after the save that stopped the run."""
    if self._signal == "SIGINT" and not self._service:
      logging.info(
        "Interrupted at step %d: checkpoint saved in %s; run the same "
        "command to resume.",
        step,
        run.checkpoints,
        extra=rundir.CONSOLE,
      )
    else:
      logging.warning("Saved step %d after SIGTERM; exiting.", step)

  def __exit__(self, *exc):
    if self._wakeup_pipe is not None:
      signal.set_wakeup_fd(self._wakeup)
      os.close(self._wakeup_pipe)
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
