"""What the train-step benchmarks time on sr_jax's side, and their inputs.

Shared by ``train_step.py``, ``train_step_breakdown.py``, ``xla_cpu_flags.py``
and the input-pipeline benchmarks: the benchmark configs, a fixed uint8 RGB
batch, and :func:`sr_jax_step`, sr_jax's real ``compile_train_step`` set up
as ``python -m sr_jax.main`` sets it up. The PyTorch and Keras twins are in
``peers_train.py``. Heavy imports (JAX, ...) happen inside the factories:
harness workers re-import this module.
"""

import argparse
import importlib
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import harness, machine  # noqa: E402

# Benchmark name -> config module under configs/.
CONFIGS = {"espcn_x3": "espcn_x3", "espcn_rdb_x3": "x3"}
THREADS = 2
# BT.601 luma on the 0-1 scale, as sr_jax.color.rgb_to_ycbcr computes it.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966], np.float32) / 255.0
Y_OFFSET = np.float32(16.0 / 255.0)
# The malloc setting sr_jax.main applies on CPU (--keep_freed_memory).
MAIN_MALLOC = "no_mmap_one_arena"


def parse_args(description: str, argv: list[str] | None):
  """The flags every train-step comparison takes; returns ``(args, names)``."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--steps_per_round", type=int, default=5)
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument(
    "--quick", action="store_true", help="2 rounds of 2 steps: a smoke run"
  )
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.steps_per_round = 2, 2
  names = [n for n in args.configs.split(",") if n]
  unknown = sorted(set(names) - set(CONFIGS))
  if unknown:
    parser.error(f"unknown --configs {unknown}; choose from {list(CONFIGS)}")
  return args, names


def load_config(name: str):
  """The ``ml_collections`` config behind a benchmark name."""
  return importlib.import_module(f"configs.{CONFIGS[name]}").get_config()


def make_batch(config) -> dict[str, np.ndarray]:
  """A fixed uint8 RGB batch shaped like ``create_train_dataset``'s."""
  rng = np.random.default_rng(0)
  b, p, s = config.batch_size, config.data.lr_patch_size, config.scale
  return {
    "lr": rng.integers(0, 256, (b, p, p, 3), dtype=np.uint8),
    "hr": rng.integers(0, 256, (b, p * s, p * s, 3), dtype=np.uint8),
  }


# --- sr_jax -----------------------------------------------------------------


def sr_jax_step(
  config_name: str,
  *,
  devices: int = -1,
  batches: Iterator[dict] | None = None,
  part: str = "step",
  steps_per_call: int = 0,
  stacked_dense: bool = False,
) -> harness.Workload:
  """The real ``compile_train_step`` of ``config_name``, or a part of it.

  Args:
    config_name: a key of :data:`CONFIGS`.
    devices: ``--cpu_devices`` of ``sr_jax.main``: -1 one CPU device per
      usable core (reduced to divide the batch), 1 XLA's single device.
    batches: NumPy batches to train on, each put on the mesh with
      ``train.global_batch`` inside the timed call, as ``train.py`` does;
      None: one fixed batch (:func:`make_batch`), placed once.
    part: ``step`` (the train step), ``forward`` (the L1 loss only) or
      ``grad`` (loss and parameter gradients, no optimizer), the latter two
      jitted here from the same model and batch.
    steps_per_call: ``config.steps_per_call``; 0 as ``train.py`` chooses
      (``train.steps_per_call``).
    stacked_dense: residual dense blocks in their stacked form, the one
      inference uses on CPU (``platform_tuning.for_inference``), to show
      why training keeps the plain form.

  Returns:
    The workload; one call is one compiled call of ``info["steps_per_call"]``
    steps, finished (blocked on).
  """
  from sr_jax import platform_tuning

  config = load_config(config_name)
  # Before JAX starts, as sr_jax.main does.
  platform_tuning.split_cpu_devices(devices, batch_size=config.batch_size)
  import jax
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P

  from benchmarks import machine
  from sr_jax import models, train, train_state

  model = models.create(config)
  if stacked_dense:
    model = model.clone(stacked_dense=True)
  tx = train_state.create_optimizer(config)
  mesh = train.make_mesh()
  state = jax.jit(
    lambda rng: train_state.create_train_state(rng, config, model, tx),
    out_shardings=NamedSharding(mesh, P()),
  )(jax.random.key(config.seed))
  one_step = train.compile_train_step(config, model, tx, mesh)
  fixed = train.global_batch(make_batch(config), mesh)
  k = 1 if part != "step" else steps_per_call or train.steps_per_call(config)
  info = {
    "params": models.count_params(state.params),
    "devices": mesh.devices.size,
    # Per step: the FLOPs of the one-step function.
    "xla_flops": harness.xla_flops(one_step, state, fixed),
    "isa": machine.framework_isa("jax"),
    "steps_per_call": k,
  }
  if part != "step":
    return _sr_jax_part(part, model, state.params, fixed, info)
  if k > 1:
    step_fn = train.compile_train_step(config, model, tx, mesh, steps=k)
    fixed = train.call_batch(itertools.repeat(make_batch(config)), k, mesh)
  else:
    step_fn = one_step
  holder = [state]

  def run():
    batch = fixed if batches is None else train.call_batch(batches, k, mesh)
    # The state is donated: thread it through, as the training loop does.
    holder[0], metrics = step_fn(holder[0], batch)
    jax.block_until_ready((holder[0], metrics))

  return harness.Workload(run=run, info=info)


def _sr_jax_part(part, model, params, batch, info) -> harness.Workload:
  """The forward or forward + backward of ``sr_jax_step``'s model."""
  import jax
  import jax.numpy as jnp

  from sr_jax import color

  def to_y(images):
    return color.rgb_to_ycbcr(images.astype(jnp.float32) / 255.0)[..., :1]

  def loss_fn(params, batch):
    pred = model.apply({"params": params}, to_y(batch["lr"]))
    return jnp.mean(jnp.abs(pred - to_y(batch["hr"])))

  if part == "forward":
    fn = jax.jit(loss_fn)
  elif part == "grad":
    fn = jax.jit(jax.value_and_grad(loss_fn))
  else:
    raise ValueError(f"unknown part {part!r}")

  def run():
    jax.block_until_ready(fn(params, batch))

  return harness.Workload(run=run, info=info)
