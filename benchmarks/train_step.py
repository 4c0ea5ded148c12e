"""Training-step throughput: sr_jax vs the same network in PyTorch and Keras.

Usage::

  pip install -r benchmarks/requirements.txt   # torch (CPU), OpenCV
  python benchmarks/train_step.py [--json=FILE] [--rounds=10]
      [--steps_per_round=5] [--configs=espcn_x3,espcn_rdb_x3] [--quick]

What is timed, per config (``espcn_x3`` = ``configs/espcn_x3.py``, the
59,657-parameter Keras-example ESPCN; ``espcn_rdb_x3`` = ``configs/x3.py``,
ESPCN-RDB with its bicubic image skip): one optimizer step on a batch of 16
low-resolution 16x16 patches (the config's ``lr_patch_size``) and their
48x48 targets, L1 loss, Adam, Y channel:

* ``sr_jax``: ``sr_jax.train.compile_train_step`` itself, the function
  ``train.py`` runs (uint8 RGB batch in, converted to Y inside the step; the
  step also computes the batch PSNR), set up as ``python -m sr_jax.main``
  sets it up: the CPU backend split into one JAX device per usable core
  (``platform_tuning.split_cpu_devices``), the batch sharded over a ``Mesh``
  of them (``train.global_batch``), glibc malloc tuned
  (``--keep_freed_memory``, on by default), and as many steps per compiled
  call as ``train.py`` takes (``train.steps_per_call``: 4 on CPU); its
  times are per step, i.e. per call divided by that;
* ``sr_jax, 1 step per call``: the same with ``config.steps_per_call=1``;
* ``sr_jax, dense blocks stacked``: ESPCN-RDB with the dense-block form
  the inference layer uses on CPU (``platform_tuning.for_inference``);
* ``sr_jax, 1 device``: the same with ``--cpu_devices=1`` (XLA's single CPU
  device, still with both CPUs), for comparison;
* ``pytorch``: eager PyTorch on CPU (2 threads with OpenMP's default wait
  policy, with ``OMP_WAIT_POLICY=PASSIVE``, and 1 thread: see
  ``IMPLEMENTATIONS``; R is taken against the fastest of the three), NCHW ``nn.Conv2d``, ``F.pixel_shuffle``
  and, for ESPCN-RDB, ``F.interpolate(mode='bicubic', align_corners=False)``
  (Keys a = -0.75, where ``jax.image.resize`` uses a = -0.5: same cost),
  ``torch.optim.Adam``;
* ``tensorflow``: a Keras 3 model in a ``tf.function`` with ``GradientTape``
  and ``keras.optimizers.Adam``, ``tf.nn.depth_to_space`` and
  ``tf.image.resize(method='bicubic')``.

The peers receive the same uint8 RGB batch and convert it to Y in their step
too. Parameter counts are checked equal. Each implementation runs in its own
process pinned to the same 2 CPUs, with 2 intra-op threads (XLA's pool
follows the CPU affinity), and the processes take turns step by step in
rounds (see ``benchmarks/harness.py``). Reported: the median step time,
examples/s = 16 / median, cores busy (process CPU time / wall time), and
R = sr_jax examples/s / peer examples/s (R > 1: sr_jax is faster), also for
the 1-device variant. The header names the CPU and its ISA; ``--emulate=avx2``
caps every worker at AVX2 (``benchmarks/machine.py``). Between rounds the
driver probes the idle machine; if other jobs kept it busy, ratios are
withheld ("machine loaded"; ``--ratios_under_load`` prints them marked).

``--check`` instead copies sr_jax's weights into the PyTorch and Keras twins
and prints the largest output difference (with ESPCN-RDB's bicubic skip on,
the three bicubic kernels differ; off, the networks agree to float
rounding). ``--breakdown`` instead times forward, forward + backward and the whole
step separately, for sr_jax (one device per core and one device), PyTorch
on 1 and 2 threads and TensorFlow. Times are per optimizer step: sr_jax's
whole-step calls run ``train.steps_per_call`` steps and are divided by it,
so its "+ optimizer" difference can come out below zero (the saved
per-call overhead outweighs Adam).
"""

import argparse
import importlib
import importlib.util
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine  # noqa: E402

# Benchmark name -> config module under configs/.
CONFIGS = {"espcn_x3": "espcn_x3", "espcn_rdb_x3": "x3"}
THREADS = 2
# BT.601 luma on the 0-1 scale, as sr_jax.color.rgb_to_ycbcr computes it.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], np.float32) / 255.0
_Y_OFFSET = np.float32(16.0 / 255.0)


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


# --- PyTorch ----------------------------------------------------------------


def _torch_models():
  """The PyTorch modules (defined here so torch is imported lazily)."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  class ESPCN(nn.Module):
    """sr_jax.models.ESPCN: hidden convs with ReLU, sub-pixel conv, shuffle."""

    def __init__(self, scale, channels, features, kernel_sizes, final):
      super().__init__()
      widths = (channels, *features, channels * scale * scale)
      self.convs = nn.ModuleList(
        nn.Conv2d(i, o, k, padding=k // 2)
        for i, o, k in zip(widths[:-1], widths[1:], kernel_sizes, strict=True)
      )
      self.scale = scale
      self.final = final

    def forward(self, x):
      for conv in self.convs[:-1]:
        x = F.relu(conv(x))
      x = F.pixel_shuffle(self.convs[-1](x), self.scale)
      if self.final == "relu":
        x = F.relu(x)
      elif self.final == "tanh":
        x = torch.tanh(x)
      return x

  class RDB(nn.Module):
    """sr_jax.models.ResidualDenseBlock."""

    def __init__(self, width, growth, num_layers):
      super().__init__()
      self.convs = nn.ModuleList(
        nn.Conv2d(width + c * growth, growth, 3, padding=1)
        for c in range(num_layers)
      )
      self.lff = nn.Conv2d(width + num_layers * growth, width, 1)

    def forward(self, x):
      features = [x]
      for c, conv in enumerate(self.convs):
        inputs = torch.cat(features, dim=1) if c else x
        features.append(F.relu(conv(inputs)))
      return self.lff(torch.cat(features, dim=1)) + x

  class ESPCNRDB(nn.Module):
    """sr_jax.models.ESPCNRDB, layer for layer."""

    def __init__(
      self, scale, channels, width, num_blocks, num_layers, growth, residual
    ):
      super().__init__()
      self.sfe1 = nn.Conv2d(channels, width, 5, padding=2)
      self.sfe2 = nn.Conv2d(width, width, 3, padding=1)
      self.rdbs = nn.ModuleList(
        RDB(width, growth, num_layers) for _ in range(num_blocks)
      )
      self.gff1 = nn.Conv2d(num_blocks * width, width, 1)
      self.gff2 = nn.Conv2d(width, width, 3, padding=1)
      self.subpixel = nn.Conv2d(width, channels * scale * scale, 3, padding=1)
      self.scale = scale
      self.residual = residual

    def forward(self, x):
      f_1 = F.relu(self.sfe1(x))
      h = self.sfe2(f_1)
      outs = []
      for rdb in self.rdbs:
        h = rdb(h)
        outs.append(h)
      h = self.gff2(self.gff1(torch.cat(outs, dim=1))) + f_1
      out = F.pixel_shuffle(self.subpixel(h), self.scale)
      if self.residual:
        out = out + F.interpolate(
          x, scale_factor=self.scale, mode="bicubic", align_corners=False
        )
      return out

  return ESPCN, ESPCNRDB


def build_torch_model(config):
  """The PyTorch twin of ``sr_jax.models.create(config)``."""
  espcn, espcn_rdb = _torch_models()
  m = config.model
  if m.name == "espcn":
    return espcn(
      config.scale,
      m.channels,
      tuple(m.features),
      tuple(m.kernel_sizes),
      m.get("final_activation", None),
    )
  if m.name == "espcn_rdb":
    return espcn_rdb(
      config.scale,
      m.channels,
      m.width,
      m.num_blocks,
      m.num_layers,
      m.growth,
      m.image_residual,
    )
  raise ValueError(f"no PyTorch twin for model {m.name!r}")


def torch_step(
  config_name: str,
  *,
  threads: int = THREADS,
  omp_wait_policy: str | None = None,
  part: str = "step",
) -> harness.Workload:
  """Eager PyTorch: forward, L1, backward, Adam, on the same batch.

  Args:
    config_name: a key of :data:`CONFIGS`.
    threads: ``torch.set_num_threads``.
    omp_wait_policy: ``OMP_WAIT_POLICY`` for PyTorch's OpenMP threads (set
      before torch is imported), or None for the default (spin, then sleep).
    part: ``step``, ``forward`` (loss under ``torch.no_grad``) or ``grad``
      (loss and ``backward``, no optimizer).

  Returns:
    The workload.
  """
  if omp_wait_policy:
    os.environ["OMP_WAIT_POLICY"] = omp_wait_policy
  import torch

  torch.set_num_threads(threads)
  torch.manual_seed(0)
  config = load_config(config_name)
  if config.model.channels != 1:
    raise ValueError("the benchmark configs train on Y")
  model = build_torch_model(config)
  opt = torch.optim.Adam(
    model.parameters(),
    lr=config.optim.learning_rate,
    betas=(config.optim.b1, config.optim.b2),
  )
  batch = {k: torch.from_numpy(v) for k, v in make_batch(config).items()}
  weights = torch.from_numpy(_Y_WEIGHTS)

  def to_y(images):  # uint8 [B, H, W, 3] -> float [B, 1, H, W]
    y = (images.float() / 255.0) @ weights + float(_Y_OFFSET)
    return y[:, None]

  def run():
    lr, hr = to_y(batch["lr"]), to_y(batch["hr"])
    if part == "forward":
      with torch.no_grad():
        return (model(lr) - hr).abs().mean().item()
    opt.zero_grad(set_to_none=True)
    loss = (model(lr) - hr).abs().mean()
    loss.backward()
    if part == "step":
      opt.step()
    return loss.item()

  if part not in ("step", "forward", "grad"):
    raise ValueError(f"unknown part {part!r}")

  from benchmarks import machine

  info = {
    "params": sum(p.numel() for p in model.parameters()),
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "isa": machine.framework_isa("torch"),
  }
  return harness.Workload(run=run, info=info)


# --- TensorFlow / Keras -----------------------------------------------------


def build_keras_model(config):
  """The Keras 3 (TensorFlow backend) twin of ``models.create(config)``."""
  import keras
  import tensorflow as tf

  m, r = config.model, config.scale

  def conv(features, k):
    return keras.layers.Conv2D(features, k, padding="same")

  class ESPCN(keras.Model):
    def __init__(self):
      super().__init__()
      widths = (*m.features, m.channels * r * r)
      self.convs = [
        conv(o, k) for o, k in zip(widths, m.kernel_sizes, strict=True)
      ]

    def call(self, x):
      for c in self.convs[:-1]:
        x = tf.nn.relu(c(x))
      x = tf.nn.depth_to_space(self.convs[-1](x), r)
      final = m.get("final_activation", None)
      if final == "relu":
        x = tf.nn.relu(x)
      elif final == "tanh":
        x = tf.tanh(x)
      return x

  class RDB(keras.layers.Layer):
    def __init__(self):
      super().__init__()
      self.convs = [conv(m.growth, 3) for _ in range(m.num_layers)]
      self.lff = conv(m.width, 1)

    def call(self, x):
      features = [x]
      for c, layer in enumerate(self.convs):
        inputs = tf.concat(features, axis=-1) if c else x
        features.append(tf.nn.relu(layer(inputs)))
      return self.lff(tf.concat(features, axis=-1)) + x

  class ESPCNRDB(keras.Model):
    def __init__(self):
      super().__init__()
      self.sfe1, self.sfe2 = conv(m.width, 5), conv(m.width, 3)
      self.rdbs = [RDB() for _ in range(m.num_blocks)]
      self.gff1, self.gff2 = conv(m.width, 1), conv(m.width, 3)
      self.subpixel = conv(m.channels * r * r, 3)

    def call(self, x):
      f_1 = tf.nn.relu(self.sfe1(x))
      h = self.sfe2(f_1)
      outs = []
      for rdb in self.rdbs:
        h = rdb(h)
        outs.append(h)
      h = self.gff2(self.gff1(tf.concat(outs, axis=-1))) + f_1
      out = tf.nn.depth_to_space(self.subpixel(h), r)
      if m.image_residual:
        size = (x.shape[1] * r, x.shape[2] * r)
        out = out + tf.image.resize(x, size, method="bicubic")
      return out

  if m.name == "espcn":
    return ESPCN()
  if m.name == "espcn_rdb":
    return ESPCNRDB()
  raise ValueError(f"no Keras twin for model {m.name!r}")


def tf_step(config_name: str, *, part: str = "step") -> harness.Workload:
  """A ``tf.function`` step: GradientTape, L1, Keras Adam.

  Args:
    config_name: a key of :data:`CONFIGS`.
    part: ``step``, ``forward`` (the loss, no tape) or ``grad`` (loss and
      ``tape.gradient``, no optimizer).

  Returns:
    The workload.
  """
  import keras
  import tensorflow as tf

  tf.config.threading.set_intra_op_parallelism_threads(THREADS)
  tf.config.threading.set_inter_op_parallelism_threads(THREADS)
  keras.utils.set_random_seed(0)
  config = load_config(config_name)
  model = build_keras_model(config)
  batch = {k: tf.constant(v) for k, v in make_batch(config).items()}
  model(tf.zeros((1, 8, 8, config.model.channels)))
  opt = keras.optimizers.Adam(
    config.optim.learning_rate,
    beta_1=config.optim.b1,
    beta_2=config.optim.b2,
  )
  opt.build(model.trainable_variables)
  weights = tf.constant(_Y_WEIGHTS[:, None])

  def to_y(images):  # uint8 [B, H, W, 3] -> float [B, H, W, 1]
    return tf.cast(images, tf.float32) / 255.0 @ weights + float(_Y_OFFSET)

  @tf.function
  def step(lr, hr):
    x, y = to_y(lr), to_y(hr)
    if part == "forward":
      return tf.reduce_mean(tf.abs(model(x, training=True) - y))
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.abs(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    if part == "grad":
      return loss, grads
    opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss

  if part not in ("step", "forward", "grad"):
    raise ValueError(f"unknown part {part!r}")

  def run():
    # A tf.function returns once its graph has run (CPU): all outputs,
    # gradients included, are computed by then.
    out = step(batch["lr"], batch["hr"])
    return (out[0] if isinstance(out, tuple) else out).numpy()

  from benchmarks import machine

  info = {
    "params": int(model.count_params()),
    "tensorflow": tf.__version__,
    "keras": keras.__version__,
    "isa": machine.framework_isa("tensorflow"),
  }
  return harness.Workload(run=run, info=info)


# --- Equivalence check (--check) --------------------------------------------


def _flax_convs(config, params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """sr_jax's conv layers by a path name shared with the twins."""
  flat = {}
  for path, leaf in _flatten(params):
    flat.setdefault("/".join(path[:-1]), {})[path[-1]] = np.asarray(leaf)
  return {k: (v["kernel"], v["bias"]) for k, v in flat.items()}


def _flatten(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict) or hasattr(value, "items"):
      yield from _flatten(value, (*prefix, key))
    else:
      yield (*prefix, key), value


def _twin_layers(config, torch_model, keras_model):
  """Layer path -> (torch conv, keras conv), in sr_jax's naming."""
  m = config.model
  pairs = {}
  if m.name == "espcn":
    for i, (tc, kc) in enumerate(
      zip(torch_model.convs, keras_model.convs, strict=True)
    ):
      pairs[f"conv{i + 1}"] = (tc, kc)
    return pairs
  for name in ("sfe1", "sfe2", "gff1", "gff2", "subpixel"):
    pairs[name] = (getattr(torch_model, name), getattr(keras_model, name))
  for d, (tb, kb) in enumerate(
    zip(torch_model.rdbs, keras_model.rdbs, strict=True)
  ):
    for c, (tc, kc) in enumerate(zip(tb.convs, kb.convs, strict=True)):
      pairs[f"rdb{d}/conv{c}"] = (tc, kc)
    pairs[f"rdb{d}/lff"] = (tb.lff, kb.lff)
  return pairs


def check_twins(config_name: str, *, image_residual: bool | None = None):
  """Max |difference| of the twins' outputs to sr_jax's, same weights.

  Args:
    config_name: a key of :data:`CONFIGS`.
    image_residual: override ``config.model.image_residual`` (ESPCN-RDB).

  Returns:
    ``{"pytorch": max abs diff, "tensorflow": max abs diff}`` on a random
    ``[2, 16, 16, 1]`` batch in [0, 1].
  """
  import jax
  import jax.numpy as jnp
  import tensorflow as tf
  import torch

  from sr_jax import models

  config = load_config(config_name)
  if image_residual is not None:
    config.model.image_residual = image_residual
  model = models.create(config)
  x = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
  params = model.init(jax.random.key(1), jnp.asarray(x))["params"]
  expected = np.asarray(model.apply({"params": params}, jnp.asarray(x)))
  torch_model = build_torch_model(config)
  keras_model = build_keras_model(config)
  keras_model(tf.zeros((1, 8, 8, 1)))
  weights = _flax_convs(config, params)
  layers = _twin_layers(config, torch_model, keras_model)
  if set(weights) != set(layers):
    raise AssertionError(f"layers differ: {sorted(weights)} {sorted(layers)}")
  with torch.no_grad():
    for name, (kernel, bias) in weights.items():
      tconv, kconv = layers[name]
      tconv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
      tconv.bias.copy_(torch.from_numpy(bias))
      kconv.kernel.assign(kernel)
      kconv.bias.assign(bias)
    got_torch = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2)))
  got_torch = got_torch.numpy().transpose(0, 2, 3, 1)
  got_tf = keras_model(tf.constant(x)).numpy()
  return {
    "pytorch": float(np.abs(got_torch - expected).max()),
    "tensorflow": float(np.abs(got_tf - expected).max()),
  }


# --- Driver -----------------------------------------------------------------

SR_JAX = "sr_jax, 1 device per core (as sr_jax.main runs)"
ONE_STEP = "sr_jax, 1 step per call"
ONE_DEVICE = "sr_jax, 1 device"
STACKED_DENSE = "sr_jax, dense blocks stacked (inference's form)"
# The malloc setting sr_jax.main applies on CPU (--keep_freed_memory).
MAIN_MALLOC = "no_mmap_one_arena"

# (name in tables/JSON, framework, factory, extra kwargs, malloc, CPUs).
# sr_jax runs as sr_jax.main runs it (one device per core, tuned malloc) and
# on a single device. PyTorch runs three ways because its OpenMP threads,
# with the default wait policy, stall for milliseconds at every parallel
# region when another job keeps the cores busy: the fastest of the three is
# its figure ("pytorch" in the JSON).
IMPLEMENTATIONS = (
  (SR_JAX, "jax", sr_jax_step, {"devices": -1}, MAIN_MALLOC, None),
  (ONE_DEVICE, "jax", sr_jax_step, {"devices": 1}, MAIN_MALLOC, None),
  (
    ONE_STEP,
    "jax",
    sr_jax_step,
    {"devices": -1, "steps_per_call": 1},
    MAIN_MALLOC,
    None,
  ),
  (
    STACKED_DENSE,
    "jax",
    sr_jax_step,
    {"devices": -1, "stacked_dense": True},
    MAIN_MALLOC,
    None,
  ),
  ("pytorch, 2 threads", "torch", torch_step, {}, None, None),
  (
    "pytorch, 2 threads, OMP_WAIT_POLICY=PASSIVE",
    "torch",
    torch_step,
    {"omp_wait_policy": "PASSIVE"},
    None,
    None,
  ),
  ("pytorch, 1 thread", "torch", torch_step, {"threads": 1}, None, None),
  ("tensorflow", "tensorflow", tf_step, {}, None, None),
)


def benchmark_config(
  config_name: str,
  *,
  rounds: int,
  steps_per_round: int,
  monitor: machine.LoadMonitor | None = None,
) -> dict[str, harness.Timings]:
  """Times every available implementation of one config, interleaved."""
  contenders = []
  for name, module, factory, kwargs, malloc, cpus in IMPLEMENTATIONS:
    if name == STACKED_DENSE and load_config(config_name).model.name not in (
      "espcn_rdb",
      "rdn",
    ):
      continue  # No dense blocks: the same program as SR_JAX.
    if importlib.util.find_spec(module) is None:
      print(f"  {name}: skipped, `{module}` is not installed")
      continue
    kwargs = {"config_name": config_name, **kwargs}
    contenders.append(
      harness.Contender(name, factory, kwargs, malloc=malloc, threads=cpus)
    )
  return harness.run_interleaved(
    contenders,
    rounds=rounds,
    calls_per_round=steps_per_round,
    # A step of PyTorch with stalling threads can take seconds: bound it.
    round_budget_s=2.0,
    warmup=15,
    threads=THREADS,
    monitor=monitor,
  )


def summarize(
  config_name: str,
  timings: dict[str, harness.Timings],
  batch_size: int,
  *,
  loaded: bool = False,
  show_loaded: bool = False,
) -> tuple[list[list[str]], dict]:
  """Table rows and the JSON entry of one config.

  The JSON entry has ``sr_jax`` (as ``sr_jax.main`` runs it),
  ``sr_jax_1_device``, one entry per peer framework (its fastest variant,
  named in ``setting``; ``ratio`` = sr_jax examples/s / the peer's,
  ``ratio_1_device`` the same for the 1-device sr_jax; both None when the
  machine was loaded, see ``ratio_under_load``) and ``all``, every variant
  by its table name.
  """
  # Per optimizer step: sr_jax's calls may take several (steps_per_call).
  per_call = {n: t.info.get("steps_per_call", 1) for n, t in timings.items()}
  step_s = {n: t.median_s / per_call[n] for n, t in timings.items()}
  rate = {n: batch_size / step_s[n] for n in timings}
  params = {n: t.info.get("params") for n, t in timings.items()}
  if len(set(params.values())) != 1:
    raise AssertionError(f"{config_name}: parameter counts differ: {params}")
  base = rate[SR_JAX]
  one = rate.get(ONE_DEVICE, float("nan"))
  # The same network, batch and optimizer: one FLOP count for every row.
  flops = timings[SR_JAX].info.get("xla_flops")
  framework = {row[0]: row[1] for row in IMPLEMENTATIONS}
  best = {}
  for name in timings:
    fw = framework[name]
    if fw != "jax" and (fw not in best or rate[name] > rate[best[fw]]):
      best[fw] = name
  every, rows = {}, []
  for name, t in timings.items():
    k = per_call[name]
    q1, q3 = (q / k for q in t.quartiles_ms())
    e = {
      "examples_per_s": round(rate[name], 2),
      "median_ms": round(step_s[name] * 1e3, 2),
      "iqr_ms": [round(q1, 2), round(q3, 2)],
      "cores_busy": round(t.cores, 2),
      "page_faults_per_step": t.faults_per_call / k,
      "steps_per_call": k,
      "steps": len(t.wall_s),
      "isa": t.info.get("isa"),
    }
    if "devices" in t.info:
      e["devices"] = t.info["devices"]
    if flops:
      e["gflop_per_s"] = round(flops / step_s[name] / 1e9, 1)
    r_base = r_one = "-"
    if framework[name] == "jax":
      if name != SR_JAX:
        ratio = rate[name] / base
        e["speedup_vs_sr_jax"] = None if loaded else round(ratio, 3)
        r_base = harness.ratio_text(
          ratio, loaded=loaded, show_loaded=show_loaded, unit=" x sr_jax"
        )
    else:
      ratio, ratio_one = base / rate[name], one / rate[name]
      e["ratio"] = None if loaded else round(ratio, 3)
      e["ratio_1_device"] = None if loaded else round(ratio_one, 3)
      if loaded:
        e["ratio_under_load"] = round(ratio, 3)
        e["ratio_1_device_under_load"] = round(ratio_one, 3)
      r_base = harness.ratio_text(ratio, loaded=loaded, show_loaded=show_loaded)
      r_one = harness.ratio_text(
        ratio_one, loaded=loaded, show_loaded=show_loaded
      )
    every[name] = e
    label = name + (
      " **(fastest)**" if best.get(framework[name]) == name else ""
    )
    rows.append(
      [
        config_name,
        f"{params[name]:,}",
        label,
        f"{step_s[name] * 1e3:.1f} ({q1:.0f}-{q3:.0f})",
        f"{rate[name]:.1f}",
        f"{flops / step_s[name] / 1e9:.1f}" if flops else "-",
        f"{t.cores:.2f}",
        f"{t.faults_per_call / k:,.0f}",
        r_base,
        r_one,
      ]
    )
  entry = {"sr_jax": every[SR_JAX]}
  if ONE_DEVICE in every:
    entry["sr_jax_1_device"] = every[ONE_DEVICE]
  peer_keys = {"torch": "pytorch", "tensorflow": "tensorflow"}
  for fw, name in best.items():
    entry[peer_keys[fw]] = {**every[name], "setting": name}
  entry["all"] = every
  return rows, entry


HEADERS = (
  "config",
  "params",
  "implementation",
  "ms/step median (IQR)",
  "examples/s",
  "GFLOP/s",
  "cores busy",
  "page faults/step",
  "R = sr_jax / this",
  "R = sr_jax 1 device / this",
)


# (label, factory, extra kwargs, malloc) for --breakdown.
BREAKDOWN = (
  ("sr_jax", sr_jax_step, {"devices": -1}, MAIN_MALLOC),
  (ONE_DEVICE, sr_jax_step, {"devices": 1}, MAIN_MALLOC),
  ("pytorch, 1 thread", torch_step, {"threads": 1}, None),
  ("pytorch, 2 threads", torch_step, {}, None),
  ("tensorflow", tf_step, {}, None),
)
PARTS = ("forward", "grad", "step")


def breakdown(
  config_name: str,
  *,
  rounds: int,
  steps_per_round: int,
  monitor: machine.LoadMonitor | None = None,
) -> tuple[list[list[str]], dict]:
  """Forward, forward + backward and whole step of each framework.

  Returns:
    Table rows and a JSON entry: framework -> part -> median ms.
  """
  contenders = []
  for label, factory, kwargs, malloc in BREAKDOWN:
    for part in PARTS:
      kw = {"config_name": config_name, "part": part, **kwargs}
      contenders.append(
        harness.Contender(f"{label} {part}", factory, kw, malloc=malloc)
      )
  t = harness.run_interleaved(
    contenders,
    rounds=rounds,
    calls_per_round=steps_per_round,
    round_budget_s=2.0,
    warmup=15,
    threads=THREADS,
    monitor=monitor,
  )
  # Per optimizer step: a "step" call of sr_jax runs several
  # (info["steps_per_call"]); forward and grad calls run one.
  ms = {
    label: {
      part: t[f"{label} {part}"].median_ms
      / t[f"{label} {part}"].info.get("steps_per_call", 1)
      for part in PARTS
    }
    for label, *_ in BREAKDOWN
  }
  cores = {
    label: {part: t[f"{label} {part}"].cores for part in PARTS}
    for label, *_ in BREAKDOWN
  }
  flops = t["sr_jax step"].info.get("xla_flops")
  base = ms["sr_jax"]
  rows = []
  for label, m in ms.items():
    backward = m["grad"] - m["forward"]
    optimizer = m["step"] - m["grad"]
    rows.append(
      [
        config_name,
        label,
        f"{m['forward']:.1f}",
        f"{backward:.1f}",
        f"{optimizer:.1f}",
        f"{m['step']:.1f}",
        f"{cores[label]['step']:.2f}",
        f"{flops / m['step'] * 1e-6:.0f}" if flops else "-",
        "-"
        if label == "sr_jax"
        else " / ".join(f"{m[p] / base[p]:.2f}" for p in PARTS),
      ]
    )
  return rows, {
    "median_ms": ms,
    "cores_busy": cores,
    "xla_flops_per_step": flops,
  }


BREAKDOWN_HEADERS = (
  "config",
  "implementation",
  "forward ms",
  "+ backward ms",
  "+ optimizer ms",
  "step ms",
  "step cores busy",
  "GFLOP/s (XLA count)",
  "R fwd / fwd+bwd / step",
)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--steps_per_round", type=int, default=5)
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument(
    "--breakdown",
    action="store_true",
    help="instead: time forward, forward + backward and step separately",
  )
  parser.add_argument(
    "--check",
    action="store_true",
    help="instead: check the twins compute sr_jax's function (same weights)",
  )
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

  if args.check:
    for name in names:
      variants = [None]
      if load_config(name).model.name == "espcn_rdb":
        variants = [True, False]
      for residual in variants:
        diffs = check_twins(name, image_residual=residual)
        label = "" if residual is None else f" (image_residual={residual})"
        print(
          f"{name}{label}: max |twin - sr_jax| on the same weights: "
          + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
        )
    return

  record = machine.start(args.emulate)
  results, rows = {}, []
  if args.breakdown:
    monitor = machine.LoadMonitor()
    for name in names:
      print(f"{name} (breakdown):")
      config_rows, results[name] = breakdown(
        name,
        rounds=args.rounds,
        steps_per_round=args.steps_per_round,
        monitor=monitor,
      )
      rows += config_rows
    print()
    print(machine.header(machine.cpu_info(), args.emulate))
    print(monitor.line())
    print(
      "Where the step time goes: medians of forward (loss), forward + "
      "backward (loss and gradients) and the whole step, each jitted / "
      "traced on its own; backward and optimizer are differences of "
      "medians. GFLOP/s = XLA's FLOP count of sr_jax's step / step time. "
      "R = this / sr_jax's time (R > 1: sr_jax faster)."
    )
    print(harness.markdown_table(BREAKDOWN_HEADERS, rows))
    if args.json:
      results["machine"] = {**record, "load": monitor.summary()}
      harness.write_json(args.json, results)
    return
  timings, notes = {}, []
  for name in names:
    print(f"{name}:")
    # One monitor per config: its rounds are numbered from 1 again.
    monitor = machine.LoadMonitor()
    timings[name] = benchmark_config(
      name,
      rounds=args.rounds,
      steps_per_round=args.steps_per_round,
      monitor=monitor,
    )
    record.setdefault("load", {})[name] = monitor.summary()
    note = f"{name}: {monitor.line()}"
    loaded = monitor.loaded
    if loaded:
      quiet = harness.quiet_rounds_only(timings[name], monitor)
      if quiet is None:
        note += "; too few quiet rounds: ratios withheld"
      else:
        timings[name], how = quiet
        note += f"; {how}"
        loaded = False
    notes.append(note)
    config_rows, results[name] = summarize(
      name,
      timings[name],
      load_config(name).batch_size,
      loaded=loaded,
      show_loaded=args.ratios_under_load,
    )
    results[name]["ratios_from_quiet_rounds_only"] = (
      monitor.loaded and not loaded
    )
    rows += config_rows
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  for note in notes:
    print(note)
  print(
    f"Train step, batch 16, LR patch 16 (x3), L1 + Adam, {THREADS} CPUs; "
    f"{args.rounds} rounds x {args.steps_per_round} steps, interleaved. "
    "R = sr_jax examples/s / peer examples/s (R > 1: sr_jax faster), "
    "the peer's fastest setting marked; cores busy = process CPU time / "
    "wall time. sr_jax rows run as sr_jax.main does (tuned malloc, one CPU "
    "device per core unless '1 device'); peers with glibc defaults. "
    "GFLOP/s = XLA's FLOP count of sr_jax's compiled step / median step "
    "time (the same count for all)."
  )
  print(harness.markdown_table(HEADERS, rows))
  if args.json:
    results["machine"] = record
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
