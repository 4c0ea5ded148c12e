"""Residual Dense Blocks: RDN (Zhang et al., CVPR 2018) and ESPCN-RDB.

Notation follows the RDN paper (arXiv 1802.08797): ``G0`` is the trunk width
(``width``), ``D`` (here ``num_blocks``) the number of residual dense blocks,
``C`` (``num_layers``) the convolutions inside a block and ``G``
(``growth``) the growth rate of each of them.

All modules take NHWC images in [0, 1], never clip, compute in ``dtype`` with
float32 parameters, and return float32.
"""

from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from sr_jax.models import upsample
from sr_jax.models.conv import Conv, ConvWeights, KernelConv
from sr_jax.models.pixel_shuffle import pixel_shuffle

# PyTorch's default Conv2d initialisation, which the official RDN code trains
# with: kaiming_uniform(a=sqrt(5)) is U(-b, b) with b = 1 / sqrt(fan_in), i.e.
# variance 1 / (3 * fan_in).
_KERNEL_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _conv(features: int, kernel: int, *, dtype: Any, name: str) -> Conv:
  """A square 'SAME' convolution with bias and float32 parameters."""
  return Conv(
    features,
    (kernel, kernel),
    padding="SAME",
    use_bias=True,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=_KERNEL_INIT,
    name=name,
  )


def _check_channels(model: str, x: jnp.ndarray, channels: int) -> None:
  # The first convolution would silently adapt to any input width, so a
  # Y-vs-RGB mix-up would only show up later as a shape error in the loss.
  if x.ndim != 4 or x.shape[-1] != channels:
    raise ValueError(
      f"{model}: expected [B, H, W, {channels}] input, got {x.shape}"
    )


class ResidualDenseBlock(nn.Module):
  """One residual dense block (RDN, Sec. 3.2).

  ``C`` 3x3 convolutions with ``G`` outputs and ReLU; layer ``c`` sees the
  concatenation of the block input and the outputs of layers ``1 .. c-1``.
  A 1x1 local feature fusion (``lff``) maps the concatenation of all of them
  (``G0 + C * G`` channels) back to ``G0``, and the block input is added
  (local residual learning). Layers are named ``conv0`` ... and ``lff``.

  Parameters: ``sum_{c<C} (9 (G0 + c G) G + G) + (G0 + C G) G0 + G0``.

  Attributes:
    growth: ``G``, output channels of each dense convolution.
    num_layers: ``C``, number of dense convolutions.
    dtype: compute dtype; parameters are always stored in float32.
    stacked: compute the dense layers in their stacked form (see
      :meth:`_dense_layers_stacked`): same parameters, same function.
  """

  growth: int = 64
  num_layers: int = 8
  dtype: Any = jnp.float32
  stacked: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """Applies the block.

    Args:
      x: ``[B, H, W, G0]`` features.

    Returns:
      ``[B, H, W, G0]`` features, in the promoted dtype of ``x`` and
      ``dtype``.
    """
    if self.stacked:
      features = self._dense_layers_stacked(x)
    else:
      features = [x]
      for c in range(self.num_layers):
        inputs = jnp.concatenate(features, axis=-1) if c else x
        y = _conv(self.growth, 3, dtype=self.dtype, name=f"conv{c}")(inputs)
        features.append(nn.relu(y))
    fused = _conv(x.shape[-1], 1, dtype=self.dtype, name="lff")(
      jnp.concatenate(features, axis=-1)
    )
    return fused + x

  def _dense_layers_stacked(self, x: jnp.ndarray) -> list[jnp.ndarray]:
    """The dense layers, each feature map convolved once ("input-stationary").

    Layer ``c``'s convolution of ``[F_0, ..., F_c]`` (concatenated) is the
    sum over ``j <= c`` of ``F_j`` convolved with the rows of layer ``c``'s
    kernel that read ``F_j``. So as soon as ``F_j`` exists it is convolved
    once with those rows of all later layers, stacked along the output axis,
    and each layer sums its slices. Same parameters (``conv0`` ...), same
    FLOPs, results equal to float rounding; what it saves are the
    concatenations the plain form re-copies at every layer, which on a
    whole image are memory-bound copies: 1.12x on the ESPCN-RDB x3 640x360
    frame on XLA:CPU. In the training step (16-pixel patches, a backward
    pass) the two forms measured 0.95x and 1.04x in two runs, no difference
    beyond the noise, so training keeps the plain form and
    ``platform_tuning.for_inference`` turns this one on (README,
    Performance).

    Args:
      x: ``[B, H, W, G0]`` block input.

    Returns:
      ``[x, F_1, ..., F_C]``, the maps the local feature fusion reads.
    """
    g0, g, n = x.shape[-1], self.growth, self.num_layers
    weights = [
      ConvWeights(
        g,
        3,
        param_dtype=jnp.float32,
        kernel_init=_KERNEL_INIT,
        name=f"conv{c}",
      )(g0 + c * g)
      for c in range(n)
    ]
    kernels = promote_dtype(*(w[0] for w in weights), dtype=self.dtype)
    biases = promote_dtype(*(w[1] for w in weights), dtype=self.dtype)
    (inputs,) = promote_dtype(x, dtype=self.dtype)
    features = [x]
    sums = [None] * n
    for j in range(n):
      # F_j's rows in the kernels of layers j .. n-1.
      lo, hi = (0, g0) if j == 0 else (g0 + (j - 1) * g, g0 + j * g)
      stacked = jnp.concatenate([k[:, :, lo:hi, :] for k in kernels[j:]], -1)
      out = KernelConv(3, name=f"stacked{j}")(inputs, stacked)
      for i, c in enumerate(range(j, n)):
        part = out[..., i * g : (i + 1) * g]
        sums[c] = part if sums[c] is None else sums[c] + part
      inputs = nn.relu(sums[j] + biases[j])
      features.append(inputs)
    return features


def _dense_trunk(
  f_1: jnp.ndarray, f_0: jnp.ndarray, net: "_DenseNetwork"
) -> jnp.ndarray:
  """RDN's D residual dense blocks, global feature fusion and residual.

  Must be called from inside a compact module; the layers it creates
  (``rdb0`` ..., ``gff1`` (1x1), ``gff2`` (3x3)) belong to that module.

  Args:
    f_1: ``[B, H, W, G0]``, the first shallow feature map (``F_{-1}``),
      added back after fusion (global residual learning).
    f_0: ``[B, H, W, G0]``, the second shallow feature map (``F_0``), input
      to the first block.
    net: the calling network: its ``num_blocks`` (D), ``num_layers`` (C),
      ``growth`` (G) and compute ``dtype`` are used.

  Returns:
    ``[B, H, W, G0]`` dense features ``F_DF = GFF(F_1 .. F_D) + F_{-1}``.
  """
  width = f_1.shape[-1]
  h = f_0
  block_outputs = []
  for d in range(net.num_blocks):
    h = ResidualDenseBlock(
      growth=net.growth,
      num_layers=net.num_layers,
      dtype=net.dtype,
      stacked=net.stacked_dense,
      name=f"rdb{d}",
    )(h)
    block_outputs.append(h)
  g = _conv(width, 1, dtype=net.dtype, name="gff1")(
    jnp.concatenate(block_outputs, axis=-1)
  )
  g = _conv(width, 3, dtype=net.dtype, name="gff2")(g)
  return g + f_1


class _DenseNetwork(nn.Module):
  """The fields of the residual-dense networks, with RDN's values."""

  scale: int
  channels: int = 3
  width: int = 64
  num_blocks: int = 16
  num_layers: int = 8
  growth: int = 64
  dtype: Any = jnp.float32
  # The blocks' stacked form (ResidualDenseBlock.stacked): inference only.
  stacked_dense: bool = False

  # What sr_jax.inference needs to know (see models/__init__.py).
  sees_whole_image: ClassVar[bool] = False


class ESPCNRDB(_DenseNetwork):
  """ESPCN with residual dense blocks between its convolutions and upsampler.

  Layers, all at low resolution until the final pixel shuffle:

    sfe1     conv 5x5 -> G0, ReLU        (ESPCN's first layer; F_{-1})
    sfe2     conv 3x3 -> G0, no act.     (RDN's second shallow conv; F_0)
    rdb0..   D residual dense blocks (C convs of growth G each)
    gff1     conv 1x1 -> G0 on the concatenated D block outputs
    gff2     conv 3x3 -> G0, then + F_{-1} (global residual, as in RDN)
    subpixel conv 3x3 -> channels * r^2, then pixel_shuffle(r)
    (+ bicubic upsampling of the input, when ``image_residual``)

  ``F_{-1}`` is taken after ``sfe1``'s ReLU, i.e. the tensor ``sfe2`` reads.
  As in RDN, no activation precedes the sub-pixel convolution.

  With ``image_residual`` (the default) the network predicts the difference
  to a bicubic upsampling of its input, as VDSR does: it starts at the
  bicubic baseline instead of at zero, which on a CPU budget is the
  difference between passing bicubic in minutes and in hours. The skip has no
  parameters, and is ``jax.image.resize``'s Keys cubic (a = -0.5), which is
  not the MATLAB-exact resize: it only has to be a good starting point.

  Attributes:
    scale: upscale factor ``r`` (any positive integer: one pixel shuffle).
    channels: image channels in and out (1 for Y, 3 for RGB).
    width: ``G0``, trunk width.
    num_blocks: ``D``, number of residual dense blocks.
    num_layers: ``C``, convolutions per block.
    growth: ``G``, growth rate.
    dtype: compute dtype; parameters are always stored in float32.
    image_residual: add a bicubic upsampling of the input to the output.
  """

  channels: int = 1
  num_blocks: int = 4
  num_layers: int = 4
  growth: int = 32
  image_residual: bool = True

  @property
  def receptive_radius(self) -> int:
    """LR pixels an output pixel sees on each side.

    sfe1 (5x5) 2, sfe2 1, the dense 3x3s one each, gff2 1, subpixel 1. The
    1x1 convs see nothing around them; the bicubic skip reaches 2, within
    that; dense and residual connections add paths, never longer ones.
    """
    return 2 + 1 + self.num_blocks * self.num_layers + 1 + 1

  def bicubic_skip(self, x: jnp.ndarray) -> jnp.ndarray:
    """The parameter-free skip: ``x`` upscaled by Keys cubic, float32.

    ``jax.image.resize(x, ..., "cubic")`` to float rounding, computed as
    fixed convolutions (:func:`upsample.keys_upsample`), which need no
    size-dependent weight matrices, so the model exports to ONNX and LiteRT
    with any input size. A method of its own so that inference can run it
    on packed, masked inputs exactly (see sr_jax/inference.py).
    """
    return upsample.keys_upsample(x.astype(jnp.float32), self.scale)

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """Upscales a low-resolution batch.

    Args:
      x: ``[B, H, W, channels]`` low-resolution images in [0, 1].

    Returns:
      ``[B, H * scale, W * scale, channels]`` float32 predictions (not
      clipped).
    """
    _check_channels("ESPCNRDB", x, self.channels)
    r = self.scale
    f_1 = nn.relu(_conv(self.width, 5, dtype=self.dtype, name="sfe1")(x))
    f_0 = _conv(self.width, 3, dtype=self.dtype, name="sfe2")(f_1)
    h = _dense_trunk(f_1, f_0, self)
    h = _conv(self.channels * r * r, 3, dtype=self.dtype, name="subpixel")(h)
    out = pixel_shuffle(h, r).astype(jnp.float32)
    if self.image_residual:
      out = out + self.bicubic_skip(x)
    return out


class RDN(_DenseNetwork):
  """Residual Dense Network (Zhang et al., CVPR 2018).

  Layers:

    sfe1, sfe2   two 3x3 convs -> G0 (no activation); F_{-1}, F_0
    rdb0..       D residual dense blocks
    gff1, gff2   1x1 then 3x3 conv -> G0 on the concatenated block outputs,
                 then + F_{-1}
    up1 (, up2)  UPNet: for x2 / x3 one 3x3 conv -> G0 * r^2 and
                 pixel_shuffle(r); for x4 two such x2 stages
    output       3x3 conv -> channels

  UPNet uses ``G0`` on both sides of every shuffle, as the official code
  does with its default ``G0 == G``.

  Attributes:
    scale: 2, 3 or 4.
    channels: image channels in and out (3 for RGB, 1 for Y).
    width: ``G0``.
    num_blocks: ``D``.
    num_layers: ``C``.
    growth: ``G``.
    dtype: compute dtype; parameters are always stored in float32.
  """

  @property
  def receptive_radius(self) -> int:
    """LR pixels an output pixel sees on each side.

    sfe1, sfe2, the dense 3x3s, gff2 and the UPNet convs one each; the
    output conv works at HR, where one pixel may belong to the neighbouring
    LR pixel, so it counts one as well.
    """
    upsample_convs = 2 if self.scale == 4 else 1
    return 2 + self.num_blocks * self.num_layers + 1 + upsample_convs + 1

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """``[B, H, W, channels]`` LR in [0, 1] -> ``[B, H*r, W*r, channels]``
    float32, not clipped.

    Raises:
      ValueError: if ``scale`` is not 2, 3 or 4, or on a channel mismatch.
    """
    if self.scale not in (2, 3, 4):
      raise ValueError(f"RDN: scale must be 2, 3 or 4, got {self.scale}")
    _check_channels("RDN", x, self.channels)
    g0 = self.width
    f_1 = _conv(g0, 3, dtype=self.dtype, name="sfe1")(x)
    f_0 = _conv(g0, 3, dtype=self.dtype, name="sfe2")(f_1)
    h = _dense_trunk(f_1, f_0, self)
    stages = (2, 2) if self.scale == 4 else (self.scale,)
    for i, r in enumerate(stages):
      h = _conv(g0 * r * r, 3, dtype=self.dtype, name=f"up{i + 1}")(h)
      h = pixel_shuffle(h, r)
    h = _conv(self.channels, 3, dtype=self.dtype, name="output")(h)
    return h.astype(jnp.float32)
