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
  step also computes the batch PSNR), with glibc's default allocator
  settings, as ``python -m sr_jax.main`` runs today;
* ``sr_jax (malloc tuned)``: the same in a process that first calls
  ``mallopt(M_MMAP_MAX=0)`` and a 1 GiB trim threshold (``harness.
  keep_freed_memory``; see ``benchmarks/conv_grad.py``);
* ``pytorch``: eager PyTorch on CPU, NCHW ``nn.Conv2d``, ``F.pixel_shuffle``
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
examples/s = 16 / median, and R = sr_jax examples/s / peer examples/s
(R > 1: sr_jax is faster), also for the malloc-tuned variant.
"""

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness  # noqa: E402

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


def sr_jax_step(config_name: str) -> harness.Workload:
  """The real ``compile_train_step`` of ``config_name`` on a fixed batch."""
  import jax
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P

  from sr_jax import models, train, train_state

  config = load_config(config_name)
  model = models.create(config)
  tx = train_state.create_optimizer(config)
  mesh = train.make_mesh()
  state = jax.jit(
    lambda rng: train_state.create_train_state(rng, config, model, tx),
    out_shardings=NamedSharding(mesh, P()),
  )(jax.random.key(config.seed))
  step_fn = train.compile_train_step(config, model, tx, mesh)
  batch = train.global_batch(make_batch(config), mesh)
  info = {
    "params": models.count_params(state.params),
    "devices": mesh.devices.size,
  }
  holder = [state]

  def run():
    # The state is donated: thread it through, as the training loop does.
    holder[0], metrics = step_fn(holder[0], batch)
    jax.block_until_ready((holder[0], metrics))

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


def torch_step(config_name: str) -> harness.Workload:
  """Eager PyTorch: forward, L1, backward, Adam, on the same batch."""
  import torch

  torch.set_num_threads(THREADS)
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
    opt.zero_grad(set_to_none=True)
    loss = (model(lr) - hr).abs().mean()
    loss.backward()
    opt.step()
    return loss.item()

  info = {
    "params": sum(p.numel() for p in model.parameters()),
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
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
      self.convs = [conv(o, k) for o, k in zip(widths, m.kernel_sizes)]

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


def tf_step(config_name: str) -> harness.Workload:
  """A ``tf.function`` step: GradientTape, L1, Keras Adam."""
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
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.abs(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss

  def run():
    return step(batch["lr"], batch["hr"]).numpy()

  info = {
    "params": int(model.count_params()),
    "tensorflow": tf.__version__,
    "keras": keras.__version__,
  }
  return harness.Workload(run=run, info=info)


# --- Driver -----------------------------------------------------------------

# (name in tables/JSON, factory, malloc tuned)
IMPLEMENTATIONS = (
  ("sr_jax", sr_jax_step, False),
  ("sr_jax (malloc tuned)", sr_jax_step, True),
  ("pytorch", torch_step, False),
  ("tensorflow", tf_step, False),
)
_PEER_MODULES = {"pytorch": "torch", "tensorflow": "tensorflow"}


def benchmark_config(
  config_name: str, *, rounds: int, steps_per_round: int
) -> dict[str, harness.Timings]:
  """Times every available implementation of one config, interleaved."""
  contenders = []
  for name, factory, tuned in IMPLEMENTATIONS:
    module = _PEER_MODULES.get(name)
    if module and importlib.util.find_spec(module) is None:
      print(f"  {name}: skipped, `{module}` is not installed")
      continue
    contenders.append(
      harness.Contender(name, factory, {"config_name": config_name}, tuned)
    )
  return harness.run_interleaved(
    contenders,
    rounds=rounds,
    calls_per_round=steps_per_round,
    warmup=3,
    threads=THREADS,
  )


def summarize(
  config_name: str, timings: dict[str, harness.Timings], batch_size: int
) -> tuple[list[list[str]], dict]:
  """Table rows and the JSON entry of one config."""
  rate = {n: batch_size / t.median_s for n, t in timings.items()}
  params = {n: t.info.get("params") for n, t in timings.items()}
  if len(set(params.values())) != 1:
    raise AssertionError(f"{config_name}: parameter counts differ: {params}")
  base, tuned = rate["sr_jax"], rate["sr_jax (malloc tuned)"]
  entry, rows = {}, []
  for name, t in timings.items():
    q1, q3 = t.quartiles_ms()
    e = {
      "examples_per_s": round(rate[name], 2),
      "median_ms": round(t.median_ms, 2),
      "iqr_ms": [round(q1, 2), round(q3, 2)],
      "cores_used": round(t.cores, 2),
      "page_faults_per_step": t.faults_per_call,
      "steps": len(t.wall_s),
    }
    if name == "sr_jax (malloc tuned)":
      e["speedup_vs_sr_jax"] = round(tuned / base, 3)
    elif name != "sr_jax":
      e["ratio"] = round(base / rate[name], 3)
      e["ratio_malloc_tuned"] = round(tuned / rate[name], 3)
    entry[name] = e
    rows.append(
      [
        config_name,
        f"{params[name]:,}",
        name,
        f"{t.median_ms:.1f} ({q1:.0f}-{q3:.0f})",
        f"{rate[name]:.1f}",
        f"{t.cores:.2f}",
        f"{t.faults_per_call:,.0f}",
        "-" if name.startswith("sr_jax") else f"{base / rate[name]:.2f}",
        "-"
        if name.startswith("sr_jax (")
        else f"{tuned / rate[name]:.2f}"
        if name != "sr_jax"
        else f"{tuned / base:.2f}",
      ]
    )
  return rows, entry


HEADERS = (
  "config",
  "params",
  "implementation",
  "ms/step median (IQR)",
  "examples/s",
  "cores busy",
  "page faults/step",
  "R (sr_jax)",
  "R (sr_jax malloc tuned)",
)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--steps_per_round", type=int, default=5)
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument(
    "--quick", action="store_true", help="2 rounds of 2 steps: a smoke run"
  )
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.steps_per_round = 2, 2
  names = [n for n in args.configs.split(",") if n]
  unknown = sorted(set(names) - set(CONFIGS))
  if unknown:
    parser.error(f"unknown --configs {unknown}; choose from {list(CONFIGS)}")

  print(harness.machine_line())
  results, rows = {}, []
  for name in names:
    print(f"{name}:")
    timings = benchmark_config(
      name, rounds=args.rounds, steps_per_round=args.steps_per_round
    )
    config_rows, results[name] = summarize(
      name, timings, load_config(name).batch_size
    )
    rows += config_rows
  print()
  print(
    f"Train step, batch 16, LR patch 16 (x3), L1 + Adam, {THREADS} threads; "
    f"{args.rounds} rounds x {args.steps_per_round} steps, interleaved. "
    "R = sr_jax examples/s / peer examples/s (R > 1: sr_jax faster); "
    "'malloc tuned' = mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB), every "
    "other row runs with glibc defaults."
  )
  print(harness.markdown_table(HEADERS, rows))
  if args.json:
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
