"""ESPCN: Efficient Sub-Pixel CNN (Shi et al., CVPR 2016, arXiv 1609.05158).

The default configuration is the keras-io example "Image Super-Resolution
using an Efficient Sub-Pixel CNN": four 'SAME' convolutions working at low
resolution, followed by a pixel shuffle to the high-resolution grid:

  conv1 5x5 -> 64, ReLU
  conv2 3x3 -> 64, ReLU
  conv3 3x3 -> 32, ReLU
  conv4 3x3 -> channels * r^2           (no activation by default)
  pixel_shuffle(r)

At x3 on the Y channel that is 59,657 parameters. With ``features=(64, 32)``,
``kernel_sizes=(5, 3, 3)`` and ``final_activation='tanh'`` the same module is
the original paper's three-layer network as shipped by OpenCV's dnn_superres
(trained by TF-ESPCN: ReLU hidden layers, tanh after the depth-to-space).
"""

from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from sr_jax.models.conv import Conv
from sr_jax.models.pixel_shuffle import pixel_shuffle

_FINAL_ACTIVATIONS = {
  None: lambda x: x,
  "relu": nn.relu,
  "tanh": jnp.tanh,
}


class ESPCN(nn.Module):
  """ESPCN with a configurable stack of hidden convolutions.

  Layers are named ``conv1`` ... ``convK`` in order, the last being the
  sub-pixel convolution, so a checkpoint converter can map layers by index.

  Attributes:
    scale: upscale factor ``r``.
    channels: image channels in and out (1 for Y, 3 for RGB).
    features: output widths of the hidden convolutions (each followed by
      ReLU).
    kernel_sizes: square kernel size of every convolution, hidden ones first,
      then the sub-pixel convolution; ``len(features) + 1`` entries.
    final_activation: ``None``, ``'tanh'`` (OpenCV's ESPCN) or ``'relu'``
      (the keras-io example applies its shared ``activation='relu'`` to the
      last convolution too; ReLU commutes with the pixel shuffle, so applying
      it afterwards is equivalent). Applied after the pixel shuffle.
    dtype: compute dtype; parameters are always stored in float32.
  """

  scale: int
  channels: int = 1
  features: tuple[int, ...] = (64, 64, 32)
  kernel_sizes: tuple[int, ...] = (5, 3, 3, 3)
  final_activation: str | None = None
  dtype: Any = jnp.float32

  # What sr_jax.inference needs to know (see models/__init__.py).
  sees_whole_image: ClassVar[bool] = False

  @property
  def receptive_radius(self) -> int:
    """LR pixels an output pixel sees on each side: one ``k // 2`` per conv."""
    return sum(k // 2 for k in self.kernel_sizes)

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """Super-resolves ``x``, ``[B, H, W, channels]`` in [0, 1].

    Returns:
      ``[B, H * scale, W * scale, channels]``, float32, not clipped.

    Raises:
      ValueError: on inconsistent ``features`` / ``kernel_sizes``, an unknown
        ``final_activation``, or an input with the wrong channel count.
    """
    if len(self.kernel_sizes) != len(self.features) + 1:
      raise ValueError(
        f"ESPCN: kernel_sizes {tuple(self.kernel_sizes)} needs "
        f"len(features) + 1 = {len(self.features) + 1} entries"
      )
    if self.final_activation not in _FINAL_ACTIVATIONS:
      raise ValueError(
        f"ESPCN: final_activation {self.final_activation!r} not in "
        f"{sorted(k for k in _FINAL_ACTIVATIONS if k)} or None"
      )
    if x.shape[-1] != self.channels:
      raise ValueError(
        f"ESPCN: expected {self.channels} input channels, got {x.shape}"
      )

    def conv(features: int, kernel: int, index: int) -> Conv:
      return Conv(
        features,
        (kernel, kernel),
        padding="SAME",
        use_bias=True,
        dtype=self.dtype,
        param_dtype=jnp.float32,
        # Orthogonal, as in the keras-io example this model reproduces.
        kernel_init=nn.initializers.orthogonal(),
        name=f"conv{index}",
      )

    r = self.scale
    hidden = zip(self.features, self.kernel_sizes[:-1], strict=True)
    for i, (feat, k) in enumerate(hidden):
      x = nn.relu(conv(feat, k, i + 1)(x))
    x = conv(
      self.channels * r * r, self.kernel_sizes[-1], len(self.features) + 1
    )(x)
    x = pixel_shuffle(x, r)
    x = _FINAL_ACTIVATIONS[self.final_activation](x)
    return x.astype(jnp.float32)
