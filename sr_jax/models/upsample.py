"""Bicubic upsampling by an integer factor as fixed convolutions.

Upsampling by an integer factor ``r`` samples output pixel ``r k + i`` of
every row at LR position ``k + (i + 0.5) / r - 0.5``: the same ``r`` offsets
(phases) from one LR pixel to the next. So each 1-D pass is a convolution
with ``r`` fixed kernels of Keys cubic weights (``a = -0.5``), one per phase,
over the LR pixels ``k - 2 .. k + 2``, followed by a pixel shuffle. Unlike
``jax.image.resize``, whose weight matrices are built for one input size,
these convolutions take any size, including sizes that are only known when
the function runs (``jax.export`` / ``jax2tf`` symbolic shapes), and they
export to ONNX and LiteRT as plain convolutions.

Two border conventions, both exact to float rounding:

* :func:`keys_upsample` is ``jax.image.resize(x, ..., "cubic")``: at a border
  the weights of the pixels inside the image are renormalized to sum to 1,
  i.e. the zero-padded convolution divided by the same convolution of an
  all-ones image;
* :func:`matlab_upsample` is MATLAB's ``imresize(x, r, 'bicubic')``
  (:mod:`sr_jax.imresize`): the image mirrored at its borders (``x1 x0 | x0
  ... xn-1 | xn-1 xn-2``), and with ``quantize`` rounded to 8 bits after each
  pass as MATLAB does for ``uint8`` images.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sr_jax import imresize
from sr_jax.models.pixel_shuffle import pixel_shuffle

# LR pixels on each side of the one a phase starts from: Keys cubic has
# support 2, and an offset in (-0.5, 0.5) keeps every tap within 2.
RADIUS = 2


def keys_taps(scale: int) -> np.ndarray:
  """Keys cubic weights of each phase: ``[scale, 5]`` float64.

  Row ``i`` weighs LR pixels ``k - 2 .. k + 2`` for output pixel
  ``scale * k + i``; each row sums to 1.
  """
  offsets = (np.arange(scale) + 0.5) / scale - 0.5
  taps = np.arange(-RADIUS, RADIUS + 1)
  return imresize.cubic(taps[None, :] - offsets[:, None])


def _phase_pass(x: jax.Array, scale: int, axis: int, pad: int) -> jax.Array:
  """One 1-D pass along ``axis`` (1: rows, 2: columns) of ``[B, H, W, C]``.

  Returns ``[B, H', W', C * scale]``, channel ``c * scale + i`` holding
  phase ``i`` of channel ``c`` (the order :func:`pixel_shuffle` reads after
  both passes), where the spatial size changes by ``2 * pad - 4`` along
  ``axis``.
  """
  channels = x.shape[-1]
  taps = np.tile(keys_taps(scale).T, (1, channels)).astype(np.float32)
  kernel = taps[:, None, None, :] if axis == 1 else taps[None, :, None, :]
  padding = [(0, 0), (0, 0)]
  padding[axis - 1] = (pad, pad)
  return lax.conv_general_dilated(
    x,
    jnp.asarray(kernel, x.dtype),
    (1, 1),
    padding,
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    feature_group_count=channels,
    # As jax.image.resize's default: no TF32 / bf16 passes on accelerators.
    precision=lax.Precision.HIGHEST,
  )


def _upsample_zero_padded(x: jax.Array, scale: int) -> jax.Array:
  """Both passes on ``x`` padded with zeros, pixel-shuffled."""
  rows = _phase_pass(x, scale, 1, RADIUS)
  return pixel_shuffle(_phase_pass(rows, scale, 2, RADIUS), scale)


def keys_upsample(x: jax.Array, scale: int) -> jax.Array:
  """``jax.image.resize(x, (B, H * s, W * s, C), "cubic")``, as convolutions.

  Args:
    x: ``[B, H, W, C]`` float.
    scale: the integer factor ``s``.

  Returns:
    ``[B, H * s, W * s, C]`` in the dtype of ``x``.
  """
  # The ones image has the shape of x: slicing a channel or an image off x
  # would be a gather that LiteRT's converter refuses on symbolic shapes.
  num = _upsample_zero_padded(x, scale)
  den = _upsample_zero_padded(jnp.ones_like(x), scale)
  return num / den


def _mirror_pad(x: jax.Array, axis: int) -> jax.Array:
  """``x1 x0 | x | xn-1 xn-2`` along ``axis``, MATLAB's border for 2 taps.

  The pixels are taken with ``dynamic_slice`` at traced positions, so a
  symbolic size needs no comparison while tracing. The positions are
  clamped here, not left to ``dynamic_slice`` (jax2onnx's Slice does not
  clamp), which makes a 1-pixel axis ``x0 x0 | x0 | x0 x0``, as MATLAB's
  mirroring does.
  """
  last = jnp.asarray(x.shape[axis], jnp.int32) - 1

  def pixel(i):
    return lax.dynamic_slice_in_dim(x, i, 1, axis=axis)

  second = jnp.minimum(last, 1)
  second_last = jnp.maximum(last - 1, 0)
  return lax.concatenate(
    [pixel(second), pixel(0), x, pixel(last), pixel(second_last)], axis
  )


def _to_uint8_grid(v: jax.Array) -> jax.Array:
  # floor(v + 0.5) is MATLAB's half-away-from-zero rounding for v >= 0, and
  # the clip takes negative values to 0 either way.
  return jnp.clip(jnp.floor(v + 0.5), 0.0, 255.0)


def matlab_upsample(
  x: jax.Array, scale: int, *, quantize: bool = False
) -> jax.Array:
  """MATLAB ``imresize(x, scale, 'bicubic')`` for an integer ``scale``.

  Args:
    x: ``[B, H, W, C]`` float32, values in [0, 1].
    scale: the integer factor ``s``.
    quantize: as MATLAB resizes a ``uint8`` image: ``x`` is first rounded to
      8 bits, and each pass is rounded and clipped to 8 bits. The Keys
      weights of ``s`` = 2 and 4 are multiples of 1/128 and 1/1024, so on
      whole grey levels both passes are exact in float32; those of ``s`` = 3,
      multiples of 1/27, never land within 1/54 of a rounding tie. Either
      way the rounding decides as MATLAB's float64 does.

  Returns:
    ``[B, H * s, W * s, C]`` float32 (multiples of 1/255 with
    ``quantize``).
  """
  if quantize:
    x = _to_uint8_grid(x * 255.0)
  rows = _phase_pass(_mirror_pad(x, 1), scale, 1, 0)
  if quantize:
    rows = _to_uint8_grid(rows)
  out = _phase_pass(_mirror_pad(rows, 2), scale, 2, 0)
  if quantize:
    out = _to_uint8_grid(out) / 255.0
  return pixel_shuffle(out, scale)
