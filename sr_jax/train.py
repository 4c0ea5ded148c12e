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
and :class:`checkpointing.Preemption` (SIGTERM or Ctrl-C: save, then stop).
"""

import functools
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
  config_checks,
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
      "Resumed from checkpoint at step %d in %s.",
      start_step,
      run.path,
      extra=rundir.CONSOLE,
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
    extra=rundir.CONSOLE,
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

  Rates leave out the first call of each size (it compiles): the loop calls
  :meth:`before_call` before each call and :meth:`add` after it, and the
  wall time between the two for such a call is not counted. When a log step
  comes before any call that did not compile (a resume just before one),
  the progress line falls back to the rate with the compilation, which is
  low but real; only a measured rate is written to the summaries.
  """

  def __init__(self, config, writer, *, mngr, run):
    self.config = config
    self._writer = writer
    self._lr_fn = train_state.learning_rate_schedule(config)
    self._mngr, self._run = mngr, run
    self._pending = []
    # Since the last log: (start, steps) without and with compiling calls.
    self._t, self._steps = None, 0
    self._t_all, self._steps_all = None, 0
    self._compile_start = None
    self._call_sizes = set()

  def before_call(self, steps: int) -> None:
    """Marks the start of a call that runs ``steps`` steps."""
    if self._t is None:
      self._t = self._t_all = time.perf_counter()
    if steps not in self._call_sizes:
      # The calls queued before it are counted: let them finish first.
      jax.block_until_ready(self._pending)
      self._compile_start = time.perf_counter()

  def add(self, step: int, step_metrics, *, steps: int = 1) -> None:
    """Queues the metrics of the call that ended at ``step``.

    ``steps > 1``: the call ran that many steps, its metrics stacked.
    """
    self._pending.append(step_metrics)
    self._steps_all += steps
    if steps in self._call_sizes:
      self._steps += steps
      return
    self._call_sizes.add(steps)
    jax.block_until_ready(step_metrics)
    if self._compile_start is not None:
      self._t += time.perf_counter() - self._compile_start
      self._compile_start = None

  def restart_clock(self) -> None:
    """Keeps evaluation time out of the next rate."""
    if self._t is not None:
      self._t = self._t_all = time.perf_counter()
      self._steps = self._steps_all = 0

  def flush(self, step: int, *, log: bool) -> None:
    if not self._pending:
      return  # Flushed at this step already.
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
    if log:
      self._write(step, losses, host)

  def _rate(self, now: float) -> tuple[float, bool]:
    """Steps per second since the last log, and whether it was measured
    without compilation."""
    if self._steps > 0:
      return self._steps / max(now - self._t, 1e-9), True
    return self._steps_all / max(now - self._t_all, 1e-9), False

  def _write(self, step: int, losses, host) -> None:
    config = self.config
    now = time.perf_counter()
    rate, measured = self._rate(now)
    scalars = {
      "train/loss": float(losses.mean()),
      "train/psnr": float(
        np.mean(np.concatenate([np.ravel(m["psnr"]) for m in host]))
      ),
      "train/learning_rate": float(self._lr_fn(step)),
    }
    if measured:
      scalars["train/steps_per_sec"] = rate
      scalars["train/examples_per_sec"] = rate * config.batch_size
    self._writer.write_scalars(step, scalars)
    # On disk at every log step, so a run killed between evaluations keeps
    # its curves (clu's writer is asynchronous; this waits for it).
    self._writer.flush()
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
      extra=rundir.CONSOLE,
    )
    self.restart_clock()


class Checkpoints:
  """Saves the state, and records the compute of steps that were saved.

  ``usage.json`` (cumulative CPU and wall seconds over restarts, for the
  zoo's CPU hours) is written only once the checkpoint of its step has been
  committed, so it never records a step whose save failed.
  """

  def __init__(
    self, run: rundir.RunDir, mngr, *, is_chief: bool, start_step: int = 0
  ):
    self._run, self._mngr, self._is_chief = run, mngr, is_chief
    self._usage = run.read_usage()
    if start_step == 0 and self._usage.get("step", 0) > 0:
      # Checkpoints deleted by hand: the compute of the lost steps is not
      # this run's, and the user should know it starts over.
      logging.warning(
        "usage.json in %s records %d trained steps, but no checkpoint is "
        "left in %s: starting from scratch, CPU hours counted from zero",
        run.path,
        self._usage["step"],
        run.checkpoints,
      )
      self._usage = {"cpu_seconds": 0.0, "wall_seconds": 0.0}
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
    step = self._pending_usage["step"]
    # Checked against the checkpoint folder, not the save call: a save that
    # failed in the background never counts.
    if self._is_chief and step in self._mngr.all_steps(read=True):
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

  def abandon(self) -> None:
    """On an error: commits an in-flight save if it can, else leaves the
    last committed state; never raises (the first error is the one to
    report)."""
    try:
      self.close()
    except Exception as e:  # Reported in the log; the first error wins.
      logging.info("The checkpoint being saved was not committed: %s", e)


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
      extra=rundir.CONSOLE,
    )


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
  config_checks.check_run(config, mode="train")
  run = rundir.RunDir(workdir)
  mesh = make_mesh()
  config_checks.check_batch(config, mesh.devices.size)
  is_chief = jax.process_index() == 0
  if is_chief:
    run.acquire_lock()
  try:
    return _train(config, run, mesh, is_chief=is_chief)
  finally:
    if is_chief:
      run.release_lock()


def _log_and_save(step: int, state, log, checkpoints, *, stop: bool) -> bool:
  """The log and checkpoint hooks at ``step``; True if it was saved."""
  config = log.config
  log_now = _every(step, config.log_every_steps, config.total_steps)
  save_now = stop or _every(
    step, config.checkpoint_every_steps, config.total_steps
  )
  if log_now or save_now:
    log.flush(step, log=log_now)
  if save_now:
    checkpoints.save(state, step)
  return save_now


def _evaluate(step: int, state, evaluation, preemption, *, stop: bool) -> bool:
  """The evaluation hook; True if the run should stop (and save) now."""
  with preemption.busy("evaluation"):
    evaluation(step, state)
  # A signal during the evaluation: save now, not a step later.
  return stop or preemption.pending()


def _train(config, run: rundir.RunDir, mesh: Mesh, *, is_chief: bool):
  """The body of :func:`train_and_evaluate`, with the run's lock held."""
  model = models.create(config)
  tx = train_state.create_optimizer(config)
  mngr = checkpointing.create_manager(run, keep=config.keep_checkpoints)
  state, start_step = restore_or_init(config, run, mngr, model, tx, mesh)
  if is_chief:
    run.write_config(config)
  writer = summaries.create_writer(run.path, chief=is_chief)
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
  checkpoints = Checkpoints(run, mngr, is_chief=is_chief, start_step=start_step)
  evaluation = Evaluation(config, run, writer, is_chief=is_chief)
  total = config.total_steps
  step, stop = start_step, False
  on_abort = run.release_lock if is_chief else None
  with checkpointing.Preemption(on_abort=on_abort) as preemption:
    try:
      while step < total and not stop:
        # k steps in one call when no hook falls inside them, else one.
        n = k if _steps_to_next_hook(step, config) >= k else 1
        log.before_call(n)
        state, step_metrics = step_fns[n](state, call_batch(batches, n, mesh))
        step += n
        log.add(step, step_metrics, steps=n)
        stop = preemption.requested(step, steps=n)
        saved = _log_and_save(step, state, log, checkpoints, stop=stop)
        checkpoints.poll()
        if _every(step, config.eval.every_steps, total):
          stop = _evaluate(step, state, evaluation, preemption, stop=stop)
          if stop and not saved:
            _log_and_save(step, state, log, checkpoints, stop=True)
          log.restart_clock()
      if start_step >= total and not run.result_labels(str(total)):
        # Stopped during its final evaluation last time: finish it now.
        _evaluate(total, state, evaluation, preemption, stop=True)
    except BaseException:
      # A failure after a save started: commit that save (or, if it fails
      # too, keep the previous one) before the error is reported.
      checkpoints.abandon()
      raise
    checkpoints.close()  # Within: a second Ctrl-C while it waits ends it.
  if stop:
    preemption.report(step, run)
  writer.flush()
  writer.close()
  return state
