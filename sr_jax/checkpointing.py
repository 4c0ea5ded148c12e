"""Orbax checkpoints of the train state: keep N, async, resume without a flag.

A run's workdir holds ``checkpoints/<step>/`` (written by Orbax, atomically:
a step directory appears only when complete) and ``config.json``, the config
that made them. Restoring into a model whose parameters differ in shape fails
with an error naming the workdir and the parameter, not deep inside Orbax.
"""

import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from sr_jax import models, train_state

# Keys that change parameter shapes; a checkpoint only restores if they match.
_SHAPE_KEYS = ("scale", "model")


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def create_manager(
  workdir: str, *, keep: int = 3, read_only: bool = False
) -> ocp.CheckpointManager:
  """An async CheckpointManager over ``workdir/checkpoints``."""
  return ocp.CheckpointManager(
    checkpoint_dir(workdir),
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


def write_config(config, workdir: str) -> None:
  """Records the run's config beside its checkpoints (process 0 only)."""
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  os.replace(tmp, path)


def check_compatible(config, workdir: str) -> None:
  """Raises ValueError if ``workdir``'s checkpoints are for another model.

  Compares the shape-determining keys of ``workdir/config.json`` (scale and
  ``model.*``, except the compute dtype) with ``config``.
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = json.load(f)
  current = json.loads(config.to_json_best_effort())
  diffs = []
  for key in _SHAPE_KEYS:
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      for k in sorted(set(a) | set(b)):
        if k != "dtype" and a.get(k) != b.get(k):
          diffs.append(f"{key}.{k}: checkpoint {a.get(k)!r}, now {b.get(k)!r}")
    elif a != b:
      diffs.append(f"{key}: checkpoint {a!r}, now {b!r}")
  if diffs:
    raise ValueError(
      f"workdir {workdir!r} holds checkpoints of another model ("
      + "; ".join(diffs)
      + "). Use a new --workdir, or the matching --config overrides."
    )


def _abstract_state(config, model, tx):
  rng = jax.random.key(0)
  return jax.eval_shape(
    lambda: train_state.create_train_state(rng, config, model, tx)
  )


def _check_shapes(mngr, step: int, target: dict, workdir: str) -> None:
  """Compares stored array shapes with the target's, naming any mismatch."""
  try:
    meta = mngr.item_metadata(step)
  except Exception:  # Older or foreign layouts: let restore report it.
    return
  if meta is None:
    return
  tree = getattr(meta, "tree", meta)
  stored = {
    jax.tree_util.keystr(k): tuple(getattr(v, "shape", ()) or ())
    for k, v in jax.tree_util.tree_leaves_with_path(tree)
  }
  for k, v in jax.tree_util.tree_leaves_with_path(target["params"]):
    key = "['params']" + jax.tree_util.keystr(k)
    if key not in stored:
      raise ValueError(
        f"checkpoint {workdir}/checkpoints/{step} has no parameter {key}: "
        "it was written by another model; use a new --workdir"
      )
    if stored[key] != tuple(v.shape):
      raise ValueError(
        f"checkpoint {workdir}/checkpoints/{step}: parameter {key} has shape "
        f"{stored[key]}, the configured model needs {tuple(v.shape)}; check "
        "--config.scale and --config.model.*"
      )


def restore(
  mngr, config, model, tx, *, workdir: str, step=None, shardings=None
):
  """Restores the train state at ``step`` (default: latest).

  Args:
    mngr: the run's CheckpointManager.
    config: the run's config.
    model: the Flax model.
    tx: the optimizer (its state's structure is restored).
    workdir: for error messages.
    step: the step to restore, or None for the latest.
    shardings: a sharding for every array (e.g. replicated over the mesh);
      None restores onto this process's first device.

  Returns:
    ``(state, step)`` or ``(None, None)`` when there is no checkpoint.
  """
  if step is None:
    step = mngr.latest_step()
    if step is None:
      return None, None
  elif step not in mngr.all_steps():
    raise FileNotFoundError(
      f"--step={step}: no checkpoint at that step in {checkpoint_dir(workdir)}"
      f" (have {sorted(mngr.all_steps())})"
    )
  check_compatible(config, workdir)
  abstract = _state_dict(_abstract_state(config, model, tx))
  if shardings is None:
    # Explicit target shardings let a checkpoint written on another topology
    # (say, by two processes) restore here.
    shardings = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=shardings),
    abstract,
  )
  _check_shapes(mngr, step, abstract, workdir)
  restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  state = train_state.TrainState(**restored)
  return state, step


def restore_params(config, workdir: str, *, step=None):
  """The evaluation params of a run's checkpoint (EMA when the run kept one).

  Returns:
    ``(params, step)`` with params as host NumPy arrays.

  Raises:
    FileNotFoundError: if ``workdir`` holds no checkpoint.
  """
  if not os.path.isdir(checkpoint_dir(workdir)):
    raise FileNotFoundError(
      f"--workdir={workdir!r} holds no checkpoints/ (train first, or pass "
      "--config.pretrained=FILE)"
    )
  model = models.create(config)
  tx = train_state.create_optimizer(config)
  mngr = create_manager(workdir, read_only=True)
  try:
    state, step = restore(mngr, config, model, tx, workdir=workdir, step=step)
  finally:
    mngr.close()
  if state is None:
    raise FileNotFoundError(
      f"--workdir={workdir!r}: no checkpoint in {checkpoint_dir(workdir)}"
    )
  logging.info("Restored step %d from %s", step, workdir)
  return jax.tree.map(np.asarray, state.eval_params()), step
