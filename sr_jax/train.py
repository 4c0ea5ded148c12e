"""Training loop: ``train_and_evaluate(config, workdir)``.

Data parallelism is ``jax.jit`` over a one-axis ``Mesh`` named ``'data'``:
the global batch is sharded along it and the train state is replicated, so
XLA inserts the gradient all-reduce. The same code runs on one CPU, N local
devices and many hosts (each host feeds its own slice of the batch).
"""

import functools
import json
import os
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from clu import metric_writers
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from sr_jax import (
  checkpointing,
  color,
  evaluate,
  input_pipeline,
  metrics,
  models,
  train_state,
)


def _load_usage(workdir: str) -> dict:
  try:
    with open(os.path.join(workdir, "usage.json")) as f:
      return json.load(f)
  except (FileNotFoundError, json.JSONDecodeError):
    return {"cpu_seconds": 0.0, "wall_seconds": 0.0}


def _write_usage(workdir: str, usage: dict) -> None:
  """Cumulative compute of the run, over restarts (for the zoo's CPU hours)."""
  path = os.path.join(workdir, "usage.json")
  with open(path + ".tmp", "w") as f:
    json.dump(usage, f)
  os.replace(path + ".tmp", path)


class NonFiniteLossError(RuntimeError):
  """The loss became NaN or inf."""


def _to_model_space(images: jnp.ndarray, channels: int) -> jnp.ndarray:
  """uint8 RGB ``[B, H, W, 3]`` -> float32 in [0, 1], Y or RGB."""
  x = images.astype(jnp.float32) / 255.0
  return color.rgb_to_ycbcr(x)[..., :1] if channels == 1 else x


def train_step(state, batch, *, model, tx, config):
  """One optimizer step on a (sharded) global batch.

  Args:
    state: the replicated :class:`train_state.TrainState`.
    batch: ``{"lr": uint8 [B, p, p, 3], "hr": uint8 [B, p*s, p*s, 3]}``.
    model: the Flax model.
    tx: the optimizer.
    config: the run's config (loss, channels, EMA, dtype are read).

  Returns:
    ``(new_state, metrics)`` with scalar ``loss`` and ``psnr`` (batch means).
  """
  channels = config.model.channels
  lr = _to_model_space(batch["lr"], channels)
  hr = _to_model_space(batch["hr"], channels)

  def loss_fn(params):
    pred = model.apply({"params": params}, lr)
    diff = pred.astype(jnp.float32) - hr
    if config.loss == "l1":
      loss = jnp.mean(jnp.abs(diff))
    else:
      loss = jnp.mean(diff**2)
    return loss, pred

  (loss, pred), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema = state.ema_params
  if ema is not None:
    d = config.ema_decay
    ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)
  new_state = state.replace(
    step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema
  )
  out = {
    "loss": loss,
    "psnr": jnp.mean(metrics.psnr_jax(pred, hr, crop_border=config.scale)),
  }
  return new_state, out


def make_mesh(devices=None) -> Mesh:
  """A one-axis mesh named ``'data'``, by default over every device of every
  process."""
  return Mesh(np.asarray(devices or jax.devices()), ("data",))


def compile_train_step(config, model, tx, mesh: Mesh):
  """``train_step`` jitted over ``mesh``: batch on 'data', state replicated."""
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))
  step_fn = functools.partial(train_step, model=model, tx=tx, config=config)
  return jax.jit(
    step_fn,
    in_shardings=(replicated, batch_sharding),
    out_shardings=(replicated, replicated),
    donate_argnums=(0,),
  )


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assembles each process's slice into global arrays sharded on 'data'."""
  sharding = NamedSharding(mesh, P("data"))
  return {
    k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
    for k, v in local_batch.items()
  }


class _Preemption:
  """Records SIGTERM so the loop can save and exit cleanly."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread (e.g. a notebook): no handler.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint, then exiting.")
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _host_params(params):
  """Fully replicated global arrays -> NumPy (works on every process)."""
  return jax.tree.map(np.asarray, params)


def train_and_evaluate(config, workdir: str):
  """Trains ``config``'s model, checkpointing and evaluating in ``workdir``.

  Restarts resume from the latest checkpoint in ``workdir`` without a flag.

  Args:
    config: an ``ml_collections.ConfigDict`` (see ``configs/default.py``).
    workdir: directory for checkpoints, TensorBoard events and results.

  Returns:
    The final train state.
  """
  t_run = time.perf_counter()
  cpu_run = time.process_time()
  mesh = make_mesh()
  num_devices = mesh.devices.size
  if config.batch_size % num_devices:
    raise ValueError(
      f"--config.batch_size={config.batch_size} is not divisible by the "
      f"{num_devices} devices"
    )
  is_chief = jax.process_index() == 0
  writer = metric_writers.create_default_writer(
    workdir, just_logging=not is_chief
  )

  model = models.create(config)
  tx = train_state.create_optimizer(config)
  lr_fn = train_state.learning_rate_schedule(config)
  replicated = NamedSharding(mesh, P())

  checkpointing.check_compatible(config, workdir)
  mngr = checkpointing.create_manager(workdir, keep=config.keep_checkpoints)
  state, start_step = checkpointing.restore(
    mngr, config, model, tx, workdir=workdir, shardings=replicated
  )
  if state is None:
    start_step = 0
    state = jax.jit(
      lambda rng: train_state.create_train_state(rng, config, model, tx),
      out_shardings=replicated,
    )(jax.random.key(config.seed))
    logging.info("Starting from scratch (no checkpoint in %s).", workdir)
  else:
    logging.info(
      "Resumed from checkpoint at step %d in %s.", start_step, workdir
    )
  checkpointing.write_config(config, workdir)
  usage = _load_usage(workdir)
  if is_chief and start_step == 0:
    writer.write_hparams(
      {
        k: v
        for k, v in config.to_dict().items()
        if isinstance(v, (int, float, str))
      }
    )
    logging.info(
      "Model %s: %d parameters; %d devices, %d processes.",
      config.model.name,
      models.count_params(state.params),
      num_devices,
      jax.process_count(),
    )

  if jax.process_count() > 1:
    # Process 0 builds any missing TFDS data first, so that processes sharing
    # a filesystem do not build the same dataset at once.
    if jax.process_index() == 0:
      input_pipeline.train_records(config)
    multihost_utils.sync_global_devices("sr_jax: training data prepared")
  ds = input_pipeline.create_train_dataset(
    config,
    process_index=jax.process_index(),
    process_count=jax.process_count(),
    start_step=start_step,
  )
  batches = iter(ds.as_numpy_iterator())
  step_fn = compile_train_step(config, model, tx, mesh)
  evaluator = None

  def run_eval(step: int):
    nonlocal evaluator
    if evaluator is None:
      evaluator = evaluate.Evaluator.from_config(config)
    sr_fn = evaluate.make_sr_function(
      model,
      _host_params(state.eval_params()),
      channels=config.model.channels,
    )
    results, figs = evaluator.run(sr_fn, num_figures=config.eval.num_figures)
    if is_chief:
      scalars = {}
      for name, r in results.items():
        scalars[f"eval/{name}/psnr"] = r["psnr"]
        scalars[f"eval/{name}/ssim"] = r["ssim"]
        scalars[f"eval/{name}/bicubic_psnr"] = r["bicubic_psnr"]
        scalars[f"eval/{name}/bicubic_ssim"] = r["bicubic_ssim"]
      writer.write_scalars(step, scalars)
      writer.write_images(step, {f"eval/{k}": v[None] for k, v in figs.items()})
      evaluate.write_results(
        workdir,
        label=str(step),
        scale=config.scale,
        convention=config.eval.convention,
        results=results,
        figs={},
      )
      logging.info(
        "Eval at step %d (%.1f min after the start of this run):\n%s",
        step,
        (time.perf_counter() - t_run) / 60,
        evaluate.markdown_table(results, model_name=config.model.name),
      )
    writer.flush()

  pending = []  # device metrics since the last log line
  last_good = start_step
  t_log, steps_since_log = time.perf_counter(), 0
  t_start, first_timed_step = None, None
  step = start_step
  with _Preemption() as preemption:
    while step < config.total_steps:
      batch = global_batch(next(batches), mesh)
      state, step_metrics = step_fn(state, batch)
      step += 1
      steps_since_log += 1
      pending.append(step_metrics)
      if t_start is None:
        # Time from the end of the first (compiling) step.
        jax.block_until_ready(step_metrics)
        t_start, first_timed_step = time.perf_counter(), step
        t_log, steps_since_log = t_start, 0

      is_last = step == config.total_steps
      log_now = step % config.log_every_steps == 0 or is_last
      ckpt_now = step % config.checkpoint_every_steps == 0 or is_last
      eval_now = (
        config.eval.every_steps > 0 and step % config.eval.every_steps == 0
      ) or is_last
      if jax.process_count() > 1:
        # Processes get SIGTERM at different moments; agree on one step.
        flags = multihost_utils.process_allgather(
          np.array(preemption.requested)
        )
        preemption.requested = bool(np.any(flags))
      if log_now or ckpt_now or preemption.requested:
        host = jax.device_get(pending)
        pending = []
        losses = np.array([m["loss"] for m in host], np.float64)
        if not np.all(np.isfinite(losses)):
          mngr.wait_until_finished()
          raise NonFiniteLossError(
            f"loss became {losses[~np.isfinite(losses)][0]} at or before step "
            f"{step}; stopping. The last good checkpoint (step "
            f"{mngr.latest_step()}) in {workdir} is kept. Lower "
            "--config.optim.learning_rate or check the data."
          )
        if host and log_now:
          now = time.perf_counter()
          rate = steps_since_log / max(now - t_log, 1e-9)
          remaining = config.total_steps - step
          eta_min = remaining / rate / 60 if rate > 0 else float("nan")
          scalars = {
            "train/loss": float(losses.mean()),
            "train/psnr": float(np.mean([m["psnr"] for m in host])),
            "train/learning_rate": float(lr_fn(step)),
          }
          if steps_since_log > 0 and step > first_timed_step:
            scalars["train/steps_per_sec"] = rate
            scalars["train/examples_per_sec"] = rate * config.batch_size
          writer.write_scalars(step, scalars)
          logging.info(
            "step %d/%d loss %.5f psnr %.2f lr %.2e | %.2f steps/s "
            "%.1f examples/s | ETA %.1f min",
            step,
            config.total_steps,
            scalars["train/loss"],
            scalars["train/psnr"],
            scalars["train/learning_rate"],
            rate,
            rate * config.batch_size,
            eta_min,
          )
          t_log, steps_since_log = now, 0
        if ckpt_now or preemption.requested:
          checkpointing.save(mngr, state, force=True)
          last_good = step
          if is_chief:
            _write_usage(
              workdir,
              {
                "step": step,
                "cpu_seconds": usage["cpu_seconds"]
                + time.process_time()
                - cpu_run,
                "wall_seconds": usage["wall_seconds"]
                + time.perf_counter()
                - t_run,
              },
            )
      if eval_now:
        run_eval(step)
        # Keep evaluation time out of the next steps/s figure.
        t_log, steps_since_log = time.perf_counter(), 0
      if preemption.requested:
        mngr.wait_until_finished()
        logging.warning("Saved step %d after SIGTERM; exiting.", last_good)
        break
  mngr.wait_until_finished()
  mngr.close()
  writer.flush()
  writer.close()
  return state
