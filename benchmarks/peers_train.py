"""The PyTorch and Keras twins of sr_jax's training step, for the benchmarks.

Layer for layer the networks of ``sr_jax.models`` (ESPCN, ESPCN-RDB) in
PyTorch (eager, NCHW ``nn.Conv2d``, ``F.pixel_shuffle``, ``F.interpolate``
bicubic, ``torch.optim.Adam``) and Keras 3 on TensorFlow (a ``tf.function``
with ``GradientTape``, ``tf.nn.depth_to_space``, ``tf.image.resize``
bicubic, ``keras.optimizers.Adam``), and their step workloads. The
frameworks are imported inside the functions: harness workers re-import
this module, and each worker imports only its own framework.
"""

import os

from benchmarks import harness
from benchmarks.train_workloads import (
  THREADS,
  Y_OFFSET,
  Y_WEIGHTS,
  load_config,
  make_batch,
)

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
  weights = torch.from_numpy(Y_WEIGHTS)

  def to_y(images):  # uint8 [B, H, W, 3] -> float [B, 1, H, W]
    y = (images.float() / 255.0) @ weights + float(Y_OFFSET)
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
  weights = tf.constant(Y_WEIGHTS[:, None])

  def to_y(images):  # uint8 [B, H, W, 3] -> float [B, H, W, 1]
    return tf.cast(images, tf.float32) / 255.0 @ weights + float(Y_OFFSET)

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
