"""Orbax checkpoints of the train state: keep N, async, resume without a flag.

Checkpoints live in ``RunDir.checkpoints`` (``<workdir>/checkpoints/<step>/``,
written by Orbax atomically: a step directory appears only when complete).
Restoring checks the weights against the config first
(:func:`sr_jax.models.check_fit`), so a mismatch is reported with the
workdir and the parameter, not deep inside Orbax. A checkpoint that cannot be
read (truncated, half deleted) is reported in one line and the next older
one is tried; nothing is deleted (training renames the unreadable newer
steps to ``<step>.unreadable`` before it saves over their numbers).
"""

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from sr_jax import fileio, models, rundir, train_state


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
