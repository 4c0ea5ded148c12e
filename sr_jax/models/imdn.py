"""IMDN: the Information Multi-distillation Network (Hui et al., ACM MM 2019).

"Lightweight Image Super-Resolution with Information Multi-distillation
Network". The network works on RGB in [0, 1], NHWC, and ends in a sub-pixel
(pixel shuffle) upsampler. Its output is not clipped here: evaluation clips.

Submodule names mirror the PyTorch state_dict of the official checkpoints
(Zheng222/IMDN), so that ``imdn_weights.py`` maps one to the other by a table
a reader can check line by line:

==============================  ==========================================
Flax path (``params[...]``)     PyTorch name
==============================  ==========================================
``fea_conv``                    ``fea_conv``
``IMDB{k}/c1`` .. ``c5``        ``IMDB{k}.c1`` .. ``IMDB{k}.c5``
``IMDB{k}/cca/conv_du_0``       ``IMDB{k}.cca.conv_du.0``
``IMDB{k}/cca/conv_du_2``       ``IMDB{k}.cca.conv_du.2``
``c``                           ``c.0`` (1x1 conv; ``c.1`` is the LeakyReLU)
``LR_conv``                     ``LR_conv``
``upsampler``                   ``upsampler.0`` (``upsampler.1`` shuffles)
==============================  ==========================================

``k`` runs from 1 to ``num_blocks``. Every convolution has a bias and 'SAME'
padding, which for odd kernels and stride 1 equals PyTorch's ``padding=k//2``.
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from sr_jax.models.pixel_shuffle import pixel_shuffle

# The official code builds every LeakyReLU with this slope, not PyTorch's 0.01.
LEAKY_SLOPE = 0.05


def _lrelu(x: jnp.ndarray) -> jnp.ndarray:
  return nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def _conv(features: int, kernel: int, name: str) -> nn.Conv:
  return nn.Conv(
    features, (kernel, kernel), padding="SAME", use_bias=True, name=name
  )


def spatial_std(x: jnp.ndarray) -> jnp.ndarray:
  """Per-channel standard deviation over H and W (population variance).

  Args:
    x: ``[B, H, W, C]``.

  Returns:
    ``[B, 1, 1, C]``: the square root of the mean squared deviation (divided
    by ``H * W``, not ``H * W - 1``), as in the official ``stdv_channels``.
  """
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
  # sqrt's gradient is infinite at 0, and a spatially constant channel (a
  # flat training crop) would turn it into NaN. The double `where` keeps the
  # forward value exact and makes that gradient 0 instead.
  positive = var > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)


class CCALayer(nn.Module):
  """Contrast-aware channel attention.

  The per-channel "contrast" (spatial std plus spatial mean) goes through a
  bottleneck of two 1x1 convolutions and a sigmoid, and rescales the input.

  Attributes:
    reduction: channel reduction of the bottleneck.
  """

  reduction: int = 16

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """Rescales ``x: [B, H, W, C]`` channel-wise; returns the same shape."""
    c = x.shape[-1]
    y = spatial_std(x) + jnp.mean(x, axis=(1, 2), keepdims=True)
    # Names follow the indices of the official nn.Sequential (1 is the ReLU,
    # 3 the sigmoid; neither has parameters).
    y = nn.relu(_conv(c // self.reduction, 1, "conv_du_0")(y))
    y = nn.sigmoid(_conv(c, 1, "conv_du_2")(y))
    return x * y


class IMDB(nn.Module):
  """Information multi-distillation block.

  Three 3x3 convolutions each split off ``distillation_rate`` of their
  channels (kept) and pass the rest on; a fourth produces the last distilled
  part. The concatenation goes through CCA and a 1x1 fusion ``c5``, plus a
  residual connection to the block input.

  Attributes:
    features: channels in and out.
    distillation_rate: fraction of channels distilled at each step.
  """

  features: int = 64
  distillation_rate: float = 0.25

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """Maps ``x: [B, H, W, features]`` to the same shape."""
    distilled = int(self.features * self.distillation_rate)

    out = _lrelu(_conv(self.features, 3, "c1")(x))
    d1, r = out[..., :distilled], out[..., distilled:]
    out = _lrelu(_conv(self.features, 3, "c2")(r))
    d2, r = out[..., :distilled], out[..., distilled:]
    out = _lrelu(_conv(self.features, 3, "c3")(r))
    d3, r = out[..., :distilled], out[..., distilled:]
    # The last distillation step has no activation in the official model.
    d4 = _conv(distilled, 3, "c4")(r)

    out = jnp.concatenate([d1, d2, d3, d4], axis=-1)
    out = CCALayer(name="cca")(out)
    return _conv(self.features, 1, "c5")(out) + x


class IMDN(nn.Module):
  """The IMDN super-resolution network.

  Attributes:
    scale: upscaling factor ``r``.
    features: feature channels throughout the LR trunk.
    num_blocks: number of IMDBs.
    channels: image channels in and out (3 for RGB).
  """

  scale: int
  features: int = 64
  num_blocks: int = 6
  channels: int = 3

  # What sr_jax.inference needs to know (see models/__init__.py): the
  # contrast-aware channel attention pools over the whole image, so a tile
  # (or a padded canvas) changes every output pixel a little.
  sees_whole_image: ClassVar[bool] = True

  @property
  def receptive_radius(self) -> int:
    """fea_conv, four 3x3s per block, LR_conv and the upsampler, one each
    (the pooling is global and has no radius: see sees_whole_image)."""
    return 1 + 4 * self.num_blocks + 1 + 1

  @nn.compact
  def __call__(self, lr_images: jnp.ndarray) -> jnp.ndarray:
    """Super-resolves a batch.

    Args:
      lr_images: ``[B, H, W, channels]`` float32, RGB in [0, 1].

    Returns:
      ``[B, H * scale, W * scale, channels]``, not clipped.
    """
    fea = _conv(self.features, 3, "fea_conv")(lr_images)

    block_outputs = []
    out = fea
    for k in range(1, self.num_blocks + 1):
      out = IMDB(self.features, name=f"IMDB{k}")(out)
      block_outputs.append(out)

    # Every block's output feeds the fusion, not only the last one.
    out = _lrelu(
      _conv(self.features, 1, "c")(jnp.concatenate(block_outputs, -1))
    )
    # The global residual adds the shallow features after LR_conv.
    out = _conv(self.features, 3, "LR_conv")(out) + fea

    r2 = self.scale * self.scale
    out = _conv(self.channels * r2, 3, "upsampler")(out)
    return pixel_shuffle(out, self.scale)
