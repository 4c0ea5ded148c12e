"""Pair geometry: the crop, the region that makes its LR exact, symmetries.

Every benchmark makes its LR input as ``imresize(modcrop(HR, s), 1 / s)`` of
the *whole* image (MATLAB bicubic, :mod:`sr_jax.imresize`). The training
pairs are exactly what that would give: for an LR crop at ``(y, x)`` of size
``p``, the HR patch is ``HR[y*s:(y+p)*s, x*s:(x+p)*s]`` and the LR patch
equals ``imresize(modcrop(HR, s), 1/s)[y:y+p, x:x+p]`` pixel for pixel. To get
that without resizing whole images, the LR is computed from an HR region of
``(p + 2m) * s`` pixels around the crop, where ``m`` (:func:`lr_margin`, 2 for
``s`` = 2, 3, 4) covers the bicubic kernel's support; a crop near the image
border takes its region flush with the border, where the region's mirror
padding is the full image's.

Flips and 90-degree rotations (the 8 symmetries of the square) are applied to
the finished pair, never before the resize: MATLAB's resize rounds after each
1-D pass, rows first, so resizing a rotated image is not exactly the rotation
of the resized one.
"""

import functools
import math

import tensorflow as tf

from sr_jax import imresize, imresize_tf

# Crop positions are drawn as 31 random bits and scaled to the image's range
# once its size is known (see :func:`place_regions`).
POSITION_BITS = 31


@functools.cache
def lr_margin(scale: int) -> int:
  """LR pixels of context that make a region's resize equal the full image's.

  LR pixel ``i`` reads HR pixels from the block ``[i*s, (i+1)*s)`` and, with
  the kernel stretched by ``s`` for antialiasing, about ``1.5 * s + 1`` more
  on each side; the margin is that reach rounded up to whole LR pixels.

  Args:
    scale: the integer SR factor ``s``.

  Returns:
    ``m`` such that the LR of an HR region equals the full image's LR on all
    pixels at least ``m`` LR pixels inside the region (2 for s = 2, 3, 4, 8).
  """
  num_lr = 16
  indices, _ = imresize.resize_weights(num_lr * scale, num_lr, 1.0 / scale)
  # A middle pixel: no tap is mirrored, so the taps show the true reach.
  i = num_lr // 2
  before = i * scale - int(indices[i].min())
  after = int(indices[i].max()) - ((i + 1) * scale - 1)
  return math.ceil(max(before, after, 0) / scale)


def min_image_size(
  scale: int, lr_patch_size: int, margin: int | None = None
) -> int:
  """The smallest modcropped HR side that gives a pair: ``(p + 2m) * s``.

  ``margin`` is ``m``, by default :func:`lr_margin` (MATLAB's kernel); the
  degradations' other kernels may need more
  (:meth:`sr_jax.pipeline.degradations.Degradation.lr_margin`).
  """
  m = lr_margin(scale) if margin is None else margin
  return (lr_patch_size + 2 * m) * scale


def place_regions(
  bits: tf.Tensor,
  height: tf.Tensor,
  width: tf.Tensor,
  *,
  scale: int,
  lr_patch_size: int,
  margin: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """Crop positions from random bits, and the exact regions around them.

  Crops lie on the LR grid of the modcropped image and may touch its border;
  the region (:func:`min_image_size`) extends ``m`` LR pixels beyond the
  crop, pushed inside the image where the crop is near its border.

  Args:
    bits: ``int64 [..., 2]`` in ``[0, 2**31)``: the crop's top and left as
      fractions of their ranges.
    height: ``int64 [...]``, the image's height before modcrop.
    width: ``int64 [...]``.
    scale: ``s``.
    lr_patch_size: ``p``.
    margin: ``m``, by default :func:`lr_margin`.

  Returns:
    ``(region_top, region_left, dy, dx)``, ``int64 [...]``: the region's
    top-left corner in LR pixels and the crop's offset in the region.
  """
  p = lr_patch_size
  m = lr_margin(scale) if margin is None else margin
  region = p + 2 * m
  lr_h = height // scale
  lr_w = width // scale
  top = bits[..., 0] * (lr_h - p + 1) // 2**POSITION_BITS
  left = bits[..., 1] * (lr_w - p + 1) // 2**POSITION_BITS
  region_top = tf.clip_by_value(top - m, 0, lr_h - region)
  region_left = tf.clip_by_value(left - m, 0, lr_w - region)
  return region_top, region_left, top - region_top, left - region_left


def resize_regions(hr_regions: tf.Tensor, scale: int) -> tf.Tensor:
  """MATLAB-exact ``1/scale`` resize of K square HR regions at once.

  Args:
    hr_regions: ``uint8 [K, R*s, R*s, C]``.
    scale: ``s``.

  Returns:
    ``uint8 [K, R, R, C]``.
  """
  k, size, _, channels = hr_regions.shape
  region = size // scale
  # One resize for all K regions: channels are resized independently, so the
  # regions ride along the channel axis.
  stacked = tf.reshape(tf.transpose(hr_regions, [1, 2, 0, 3]), [size, size, -1])
  lr_regions = imresize_tf.imresize_tf(stacked, 1.0 / scale)
  return tf.transpose(
    tf.reshape(lr_regions, [region, region, k, channels]), [2, 0, 1, 3]
  )


def _gather_windows(x: tf.Tensor, starts: tf.Tensor, size: int, axis: int):
  """``x[k, ..., starts[k]:starts[k] + size, ...]`` along ``axis``, per k.

  Args:
    x: ``[K, ...]`` (``batch_dims=1``) or an unbatched tensor when ``axis`` is
      0 (the same ``x`` for every window).
    starts: ``int32 [K]``.
    size: static window length.
    axis: the axis to cut.
  """
  idx = starts[:, None] + tf.range(size, dtype=starts.dtype)[None, :]
  if axis == 0:
    return tf.gather(x, idx, axis=0)
  return tf.gather(x, idx, axis=axis, batch_dims=1)


def cut_pairs(
  lr_regions: tf.Tensor,
  hr_regions: tf.Tensor,
  dy: tf.Tensor,
  dx: tf.Tensor,
  *,
  scale: int,
  lr_patch_size: int,
) -> dict[str, tf.Tensor]:
  """The LR crops at ``(dy, dx)`` in their regions and the matching HR.

  Args:
    lr_regions: ``uint8 [K, R, R, C]``.
    hr_regions: ``uint8 [K, R*s, R*s, C]``.
    dy: ``int32 [K]``, the crop's top in its LR region.
    dx: ``int32 [K]``, its left.
    scale: ``s``.
    lr_patch_size: ``p``.

  Returns:
    ``{"lr": uint8 [K, p, p, C], "hr": uint8 [K, p*s, p*s, C]}``.
  """
  s, p = scale, lr_patch_size
  lr = _gather_windows(lr_regions, dy, p, axis=1)
  lr = _gather_windows(lr, dx, p, axis=2)
  hr = _gather_windows(hr_regions, dy * s, p * s, axis=1)
  hr = _gather_windows(hr, dx * s, p * s, axis=2)
  return {"lr": lr, "hr": hr}


def d4(x: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
  """Applies symmetry ``t[k]`` of the square to ``x[k]``.

  Args:
    x: ``[K, n, n, C]`` square patches.
    t: ``int32 [K]`` in ``[0, 8)``; bit 0 flips left-right, then bit 1 flips
      upside down, then bit 2 transposes: the 8 combinations are the 8
      symmetries (flips and quarter turns).

  Returns:
    ``[K, n, n, C]``.
  """

  def select(bit, transformed, original):
    chosen = tf.equal(t // bit % 2, 1)[:, None, None, None]
    return tf.where(chosen, transformed, original)

  # Three whole-batch transforms and selects: cheaper than building all
  # eight variants of every patch.
  x = select(1, tf.reverse(x, axis=[2]), x)
  x = select(2, tf.reverse(x, axis=[1]), x)
  return select(4, tf.transpose(x, [0, 2, 1, 3]), x)
