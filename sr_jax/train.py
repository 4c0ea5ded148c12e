"""Training loop: ``train_and_evaluate(config, workdir)``.

Data parallelism is ``jax.jit`` over a one-axis ``Mesh`` named ``'data'``:
the global batch is sharded along it and the train state is replicated, so
XLA inserts the gradient all-reduce. The same code runs on one CPU, N local
devices and many hosts (each host feeds its own slice of the batch).

The loop is a short story of named parts, each testable alone:
:func:`restore_or_init` the state, :func:`make_batches`, the jitted
:func:`train_step`, then after each step the periodic hooks:
:class:`MetricsLog` (summaries, the progress line, the NaN check),
:class:`Checkpoints` (saves and the compute record), :class:`Evaluation`
(benchmarks through the inference layer, compiled once for the whole run)
and :class:`Preemption` (SIGTERM: save, then stop).
"""

import functools
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from sr_jax import (
  checkpointing,
  evaluate,
  fileio,
  inference,
  input_pipeline,
  metrics,
  models,
  rundir,
  summaries,
  train_state,
)


class NonFiniteLossError(RuntimeError):
  """The loss became NaN or inf."""


# ----------------------------------------------------------------------------
# The step


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
  lr = inference.model_input(batch["lr"].astype(jnp.float32) / 255.0, channels)
  hr = inference.model_input(batch["hr"].astype(jnp.float32) / 255.0, channels)

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


def compile_train_step(config, model, tx, mesh: Mesh, *, steps: int = 1):
  """``train_step`` jitted over ``mesh``: batch on 'data', state replicated.

  With ``steps > 1`` the function takes ``steps`` batches stacked on a
  leading axis and runs that many optimizer steps, one after the other, in a
  single call (unrolled: XLA:CPU runs convolutions inside a ``while`` loop
  body far more slowly); it returns the metrics stacked the same way. The
  steps are the same as single calls would take; what is saved is the
  per-call overhead: dispatch and the host round trip between steps.
  """
  replicated = NamedSharding(mesh, P())
  step_fn = functools.partial(train_step, model=model, tx=tx, config=config)
  if steps == 1:
    return jax.jit(
      step_fn,
      in_shardings=(replicated, NamedSharding(mesh, P("data"))),
      out_shardings=(replicated, replicated),
      donate_argnums=(0,),
    )

  def multi_step(state, batches):
    outs = []
    for i in range(steps):
      state, out = step_fn(state, jax.tree.map(lambda b, i=i: b[i], batches))
      outs.append(out)
    return state, jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

  return jax.jit(
    multi_step,
    in_shardings=(replicated, NamedSharding(mesh, P(None, "data"))),
    out_shardings=(replicated, replicated),
    donate_argnums=(0,),
  )


def steps_per_call(config) -> int:
  """``config.steps_per_call``, or when 0 the measured choice per backend.

  On XLA:CPU four steps per call are 1.1-1.3x faster than one
  (``benchmarks/train_step.py``); on accelerators nothing was measured, so
  they keep one step per call.
  """
  if config.get("steps_per_call", 0) > 0:
    return config.steps_per_call
  return 4 if jax.default_backend() == "cpu" else 1


def global_batch(local_batch: dict, mesh: Mesh, *, stacked: bool = False):
  """Assembles each process's slice into global arrays sharded on 'data'.

  With ``stacked``, the arrays carry a leading axis of steps, kept whole.
  """
  sharding = NamedSharding(mesh, P(None, "data") if stacked else P("data"))
  return {
    k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
    for k, v in local_batch.items()
  }


def call_batch(batches, n: int, mesh: Mesh) -> dict:
  """The next ``n`` batches of ``batches`` as the input of an ``n``-step
  call of :func:`compile_train_step` (stacked on a leading axis if n > 1)."""
  if n == 1:
    return global_batch(next(batches), mesh)
  local = [next(batches) for _ in range(n)]
  return global_batch(
    {key: np.stack([b[key] for b in local]) for key in local[0]},
    mesh,
    stacked=True,
  )


def _steps_to_next_hook(step: int, config) -> int:
  """Steps from ``step`` to the next step at which a hook runs."""
  nxt = config.total_steps
  for every in (
    config.log_every_steps,
    config.checkpoint_every_steps,
    config.eval.every_steps,
  ):
    if every > 0:
      nxt = min(nxt, (step // every + 1) * every)
  return nxt - step


# ----------------------------------------------------------------------------
# Before the loop


def restore_or_init(config, run: rundir.RunDir, mngr, model, tx, mesh: Mesh):
  """The newest readable checkpoint of ``run``, or a fresh state.

  Returns:
    ``(state, start_step)``, the state replicated over ``mesh``.
  """
  replicated = NamedSharding(mesh, P())
  state, start_step = checkpointing.restore(
    mngr, config, model, tx, run=run, shardings=replicated
  )
  if state is not None:
    logging.info(
      "Resumed from checkpoint at step %d in %s.", start_step, run.path
    )
    return state, start_step
  init_params = initial_params(config)
  state = jax.jit(
    lambda rng, params: train_state.create_train_state(
      rng, config, model, tx, params
    ),
    out_shardings=replicated,
  )(jax.random.key(config.seed), init_params)
  logging.info(
    "Starting %s (no checkpoint in %s). Model %s: %d parameters; "
    "%d devices, %d processes.",
    f"from {config.init_from}" if init_params is not None else "from scratch",
    run.path,
    config.model.name,
    models.count_params(state.params),
    mesh.devices.size,
    jax.process_count(),
  )
  return state, 0


def initial_params(config):
  """The weights ``config.init_from`` names, or None to initialise afresh.

  ``init_from`` is a zoo name, a zoo or official weights file, or a training
  run's directory (its newest checkpoint); the weights must fit
  ``config.model``. Only the params carry over: the optimizer and the
  learning-rate schedule start anew.
  """
  source = config.get("init_from", "")
  if not source:
    return None
  if fileio.isdir(source):
    weights = inference.load(workdir=source, config=config)
  elif fileio.exists(source):
    weights = inference.load(weights_file=source, config=config)
  else:
    weights = inference.load(zoo_name=source, config=config)
  return weights.params


def make_batches(config, start_step: int):
  """This process's batches from ``start_step`` on, as NumPy dicts."""
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
  return iter(ds.as_numpy_iterator())


# ----------------------------------------------------------------------------
# The hooks


def _every(step: int, every: int, total: int) -> bool:
  """True every ``every`` steps (never if ``every <= 0``) and at the end."""
  return (every > 0 and step % every == 0) or step == total


class MetricsLog:
  """Training summaries and the progress line, from device metrics.

  Metrics stay on the device between log steps; :meth:`flush` fetches them,
  raises :class:`NonFiniteLossError` on a NaN or inf loss and, on log steps,
  writes the summaries and logs loss, PSNR, rate and ETA.
  """

  def __init__(self, config, writer, *, mngr, run):
    self._config = config
    self._writer = writer
    self._lr_fn = train_state.learning_rate_schedule(config)
    self._mngr, self._run = mngr, run
    self._pending = []
    self._t, self._steps = None, 0
    self._first_timed = None
    self._call_sizes = set()

  def add(self, step: int, step_metrics, *, steps: int = 1) -> None:
    """Queues the metrics of the call that ended at ``step``.

    ``steps > 1``: the call ran that many steps, its metrics stacked.
    """
    self._pending.append(step_metrics)
    if steps not in self._call_sizes:
      # Rates count from the end of the first call of each size (it
      # compiles).
      self._call_sizes.add(steps)
      jax.block_until_ready(step_metrics)
      self._t, self._steps = time.perf_counter(), 0
      self._first_timed = step
    else:
      self._steps += steps

  def restart_clock(self) -> None:
    """Keeps evaluation time out of the next rate."""
    if self._t is not None:
      self._t, self._steps = time.perf_counter(), 0

  def flush(self, step: int, *, log: bool) -> None:
    host = jax.device_get(self._pending)
    self._pending = []
    losses = np.concatenate(
      [np.ravel(m["loss"]) for m in host], dtype=np.float64
    )
    if not np.all(np.isfinite(losses)):
      self._mngr.wait_until_finished()
      raise NonFiniteLossError(
        f"loss became {losses[~np.isfinite(losses)][0]} at or before step "
        f"{step}; stopping. The last good checkpoint (step "
        f"{self._mngr.latest_step()}) in {self._run.path} is kept. Lower "
        "--config.optim.learning_rate or check the data."
      )
    if host and log:
      self._write(step, losses, host)

  def _write(self, step: int, losses, host) -> None:
    config = self._config
    now = time.perf_counter()
    rate = self._steps / max(now - self._t, 1e-9)
    scalars = {
      "train/loss": float(losses.mean()),
      "train/psnr": float(
        np.mean(np.concatenate([np.ravel(m["psnr"]) for m in host]))
      ),
      "train/learning_rate": float(self._lr_fn(step)),
    }
    if self._steps > 0 and step > self._first_timed:
      scalars["train/steps_per_sec"] = rate
      scalars["train/examples_per_sec"] = rate * config.batch_size
    self._writer.write_scalars(step, scalars)
    eta = (config.total_steps - step) / rate / 60 if rate > 0 else float("nan")
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
      eta,
    )
    self._t, self._steps = now, 0


class Checkpoints:
  """Saves the state, and records the compute of steps that were saved.

  ``usage.json`` (cumulative CPU and wall seconds over restarts, for the
  zoo's CPU hours) is written only once the checkpoint of its step has been
  committed, so it never records a step whose save failed.
  """

  def __init__(self, run: rundir.RunDir, mngr, *, is_chief: bool):
    self._run, self._mngr, self._is_chief = run, mngr, is_chief
    self._usage = run.read_usage()
    self._t0, self._cpu0 = time.perf_counter(), time.process_time()
    self._pending_usage = None
    self.last_saved = None

  def save(self, state, step: int) -> None:
    self._commit_usage(wait=True)
    checkpointing.save(self._mngr, state, force=True)
    self.last_saved = step
    self._pending_usage = {
      "step": step,
      "cpu_seconds": self._usage["cpu_seconds"]
      + time.process_time()
      - self._cpu0,
      "wall_seconds": self._usage["wall_seconds"]
      + time.perf_counter()
      - self._t0,
    }

  def _commit_usage(self, *, wait: bool) -> None:
    if self._pending_usage is None:
      return
    if wait:
      self._mngr.wait_until_finished()
    elif self._mngr.is_saving_in_progress():
      return
    if self._is_chief:
      self._run.write_usage(self._pending_usage)
      self._run.refresh_lock()
    self._pending_usage = None

  def poll(self) -> None:
    """Records the compute of a save that finished in the background."""
    self._commit_usage(wait=False)

  def close(self) -> None:
    self._commit_usage(wait=True)
    self._mngr.wait_until_finished()
    self._mngr.close()


class Evaluation:
  """Periodic benchmark evaluation, compiled once for the whole run.

  The benchmarks' LR inputs are made at the first evaluation; the model is
  wrapped once in an :class:`inference.Predictor`, whose compiled functions
  (one per image shape) are reused by every later evaluation.
  """

  def __init__(self, config, run: rundir.RunDir, writer, *, is_chief: bool):
    self._config, self._run, self._writer = config, run, writer
    self._is_chief = is_chief
    self._evaluator = None
    self._predictor = inference.Predictor(config, tile=0)
    self._t_run = time.perf_counter()

  def __call__(self, step: int, state) -> dict:
    config = self._config
    if self._evaluator is None:
      self._evaluator = evaluate.Evaluator.from_config(config)
    # Fully replicated global arrays -> NumPy (works on every process).
    self._predictor.set_params(jax.tree.map(np.asarray, state.eval_params()))
    results, figs = self._evaluator.run(
      self._predictor.sr_many, num_figures=config.eval.num_figures
    )
    if self._is_chief:
      self._report(step, results, figs)
    self._writer.flush()
    return results

  def _report(self, step: int, results: dict, figs: dict) -> None:
    scalars = {}
    for name, r in results.items():
      for key in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"):
        scalars[f"eval/{name}/{key}"] = r[key]
    self._writer.write_scalars(step, scalars)
    self._writer.write_images(
      step, {f"eval/{k}": v[None] for k, v in figs.items()}
    )
    evaluate.write_report(
      self._run, label=str(step), config=self._config, results=results, figs={}
    )
    logging.info(
      "Eval at step %d (%.1f min after the start of this run):\n%s",
      step,
      (time.perf_counter() - self._t_run) / 60,
      evaluate.markdown_table(results, model_name=self._config.model.name),
    )


class Preemption:
  """SIGTERM (TPU maintenance, SLURM's ``--signal``, ``kill``): save, then stop.

  On several processes this is JAX's preemption service (started by
  ``jax.distributed.initialize``): it catches SIGTERM on any host and agrees
  in the background on the step at which every process saves, so
  :meth:`requested` is a local check with no per-step host sync. A single
  process has no coordination service, so here a Python SIGTERM handler
  sets a flag.
  """

  def __init__(self):
    self._flag = False
    self._previous = None
    self._service = jax.process_count() > 1

  def __enter__(self):
    if self._service:
      return self  # The service has its own SIGTERM handler.
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread (e.g. a notebook): no handler.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint, then exiting.")
    self._flag = True

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

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


# ----------------------------------------------------------------------------
# The story


def train_and_evaluate(config, workdir: str):
  """Trains ``config``'s model, checkpointing and evaluating in ``workdir``.

  Restarts resume from the newest readable checkpoint in ``workdir`` without
  a flag.

  Args:
    config: an ``ml_collections.ConfigDict`` (see ``configs/default.py``).
    workdir: directory for checkpoints, TensorBoard events and results.

  Returns:
    The final train state.
  """
  run = rundir.RunDir(workdir)
  mesh = make_mesh()
  if config.batch_size % mesh.devices.size:
    raise ValueError(
      f"--config.batch_size={config.batch_size} is not divisible by the "
      f"{mesh.devices.size} devices"
    )
  is_chief = jax.process_index() == 0
  if is_chief:
    run.acquire_lock()
  try:
    return _train(config, run, mesh, is_chief=is_chief)
  finally:
    if is_chief:
      run.release_lock()


def _train(config, run: rundir.RunDir, mesh: Mesh, *, is_chief: bool):
  """The body of :func:`train_and_evaluate`, with the run's lock held."""
  model = models.create(config)
  tx = train_state.create_optimizer(config)
  mngr = checkpointing.create_manager(run, keep=config.keep_checkpoints)
  state, start_step = restore_or_init(config, run, mngr, model, tx, mesh)
  if is_chief:
    run.write_config(config)
  writer = summaries.create_writer(run.path, just_logging=not is_chief)
  if is_chief and start_step == 0:
    writer.write_hparams(
      {
        k: v
        for k, v in config.to_dict().items()
        if isinstance(v, (int, float, str))
      }
    )
  batches = make_batches(config, start_step)
  k = steps_per_call(config)
  step_fns = {1: compile_train_step(config, model, tx, mesh)}
  if k > 1:
    step_fns[k] = compile_train_step(config, model, tx, mesh, steps=k)
  log = MetricsLog(config, writer, mngr=mngr, run=run)
  checkpoints = Checkpoints(run, mngr, is_chief=is_chief)
  evaluation = Evaluation(config, run, writer, is_chief=is_chief)
  total = config.total_steps
  step, stop = start_step, False
  with Preemption() as preemption:
    while step < total:
      # k steps in one call when no hook falls inside them, else one.
      n = k if _steps_to_next_hook(step, config) >= k else 1
      state, step_metrics = step_fns[n](state, call_batch(batches, n, mesh))
      step += n
      log.add(step, step_metrics, steps=n)
      log_now = _every(step, config.log_every_steps, total)
      save_now = _every(step, config.checkpoint_every_steps, total)
      stop = preemption.requested(step, steps=n)
      if log_now or save_now or stop:
        log.flush(step, log=log_now)
      if save_now or stop:
        checkpoints.save(state, step)
      checkpoints.poll()
      if _every(step, config.eval.every_steps, total):
        evaluation(step, state)
        log.restart_clock()
      if stop:
        break
  checkpoints.close()
  if stop:
    logging.warning("Saved step %d after SIGTERM; exiting.", step)
  writer.flush()
  writer.close()
  return state
