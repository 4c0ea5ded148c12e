"""Downscaling kernels other than MATLAB's, and a blur before them, in TF.

Real photos are downscaled by many programs, and few use MATLAB's bicubic:
thumbnailers and screenshot tools average boxes (OpenCV ``INTER_AREA``,
Pillow ``reduce``), browsers and galleries use bilinear, editors Lanczos.
This module downscales by an integer factor ``s`` exactly as Pillow's
``Image.resize`` does with its ``BOX``, ``BILINEAR``, ``BICUBIC`` and
``LANCZOS`` filters (:data:`KERNELS`), batched, with one kernel per example,
so that the training pipeline can draw a kernel per example.

What Pillow does, and so what this does: output pixel ``i`` is centred at
input coordinate ``(i + 0.5) * s``; the filter is stretched by ``s`` (its
support ``a`` becomes ``a * s`` input pixels, the antialiasing); taps that
fall outside the image are dropped and the remaining weights renormalised to
sum to 1; the horizontal pass runs first and is rounded to 8 bits before the
vertical one. Renormalising over the taps inside the image is what dividing
by the resampled all-ones mask of the image does, which is how it is
written here: a region cut from an image then resizes to exactly the
image's resize on every pixel that is :func:`lr_margin` LR pixels inside
the region (the region is flush with the image where the image ends). The
only difference from Pillow left is its fixed-point weights (22 bits),
which can move a value across a rounding boundary: outputs agree within one
grey level (tested against Pillow on whole images).

The optional blur (an isotropic or anisotropic Gaussian on the HR, before
the downscaling, as camera optics and the pre-filters of some resizers do)
is renormalised at the image's edges in the same way.
"""

import math

import numpy as np
import tensorflow as tf

# Pillow's filters: name -> (support in output pixels, f(x)).
_SUPPORT = {"box": 0.5, "bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}
KERNELS = tuple(_SUPPORT)


def _filter(name: str, x: np.ndarray) -> np.ndarray:
  """Pillow's filter ``name`` at ``x`` (float64)."""
  ax = np.abs(x)
  if name == "box":
    # Pillow's box counts the right edge in, the left out.
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)
  if name == "bilinear":
    return np.maximum(1.0 - ax, 0.0)
  if name == "bicubic":
    a = -0.5  # Keys' cubic, the same a as MATLAB's and Pillow's
    near = ((a + 2) * ax - (a + 3)) * ax * ax + 1
    far = ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a
    return np.where(ax < 1, near, np.where(ax < 2, far, 0.0))
  if name == "lanczos":
    return np.where(ax < 3, np.sinc(x) * np.sinc(x / 3), 0.0)
  raise ValueError(f"unknown kernel {name!r}; use one of {KERNELS}")


def taps(name: str, scale: int) -> tuple[int, np.ndarray]:
  """The unnormalised weights of an output pixel away from the edges.

  Output pixel ``i`` reads input pixels ``i * s + first + j`` for ``j`` in
  ``range(len(weights))``, as Pillow's ``precompute_coeffs`` places them.

  Returns:
    ``(first, weights)``: the first tap's offset from ``i * s`` and the
    float64 weights (their sum is renormalised where they are used).
  """
  support = _SUPPORT[name] * scale
  # Any i away from the edges gives the same offsets; take i = 0 of an
  # unbounded line: centre s / 2.
  center = 0.5 * scale
  first = math.floor(center - support + 0.5)
  last = math.floor(center + support + 0.5)  # exclusive
  x = np.arange(first, last)
  weights = _filter(name, (x - center + 0.5) / scale)
  return first, weights


def _table(names: tuple[str, ...], scale: int) -> tuple[int, np.ndarray]:
  """Every kernel's taps on one common range of offsets.

  Returns:
    ``(first, table)``: ``table[k, j]`` is kernel ``names[k]``'s weight at
    offset ``first + j`` (zero outside its own taps).
  """
  spans = [taps(n, scale) for n in names]
  first = min(f for f, _ in spans)
  end = max(f + len(w) for f, w in spans)
  table = np.zeros((len(names), end - first))
  for k, (f, w) in enumerate(spans):
    table[k, f - first : f - first + len(w)] = w
  return first, table


def blur_radius(sigma_max: float) -> int:
  """Half the side of the blur kernels: 3 sigma, in HR pixels."""
  return math.ceil(3 * sigma_max) if sigma_max > 0 else 0


def lr_margin(names: tuple[str, ...], scale: int, blur: int = 0) -> int:
  """LR pixels of context that make a region's resize equal the image's.

  Args:
    names: the kernels in use.
    scale: ``s``.
    blur: :func:`blur_radius` of the blur in use (0: none).
  """
  first, table = _table(names, scale)
  before = -first
  after = first + table.shape[1] - scale
  return math.ceil((max(before, after, 0) + blur) / scale)


def _round8(x: tf.Tensor) -> tf.Tensor:
  # Pillow rounds half up, then clips to 8 bits.
  return tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0)


def _downscale_axis(x, weights, first, scale, axis):
  """One pass of the downscale along ``axis`` (1: rows, 2: columns).

  Args:
    x: ``float32 [K, H, W, C]``; the axis' length must be a multiple of s.
    weights: ``float32 [K, L]``, each example's taps from ``first``.
    first: the common first offset.
    scale: ``s``.
    axis: 1 or 2.

  Returns:
    ``float32``, the axis ``s`` times shorter, rounded to 8-bit values.
  """
  size = x.shape[axis]
  out = size // scale
  taps_len = weights.shape[1]
  before = -first
  after = max(first + taps_len - scale, 0)
  pads = [[0, 0]] * 4
  pads[axis] = [before, after]
  padded = tf.pad(x, pads)
  inside = np.pad(np.ones(size, np.float32), [before, after])
  index = np.arange(out)[:, None] * scale + np.arange(taps_len)[None, :]
  gathered = tf.gather(padded, index, axis=axis)  # the axis -> [out, L]
  # Taps outside the image weigh nothing, the rest are renormalised.
  norm = tf.einsum("ol,kl->ko", tf.constant(inside[index]), weights)
  if axis == 1:
    y = tf.einsum("kolwc,kl->kowc", gathered, weights)
    y = y / norm[:, :, None, None]
  else:
    y = tf.einsum("kholc,kl->khoc", gathered, weights)
    y = y / norm[:, None, :, None]
  return _round8(y)


def downscale(
  images: tf.Tensor, kernel: tf.Tensor, *, names: tuple[str, ...], scale: int
) -> tf.Tensor:
  """Pillow's ``resize`` by ``1 / scale`` with a kernel per image.

  Args:
    images: ``[K, H, W, C]`` (uint8 or float32 in 0..255); H and W
      multiples of ``scale``.
    kernel: ``int32 [K]``, each image's index into ``names``.
    names: kernel names from :data:`KERNELS`.
    scale: ``s``.

  Returns:
    ``float32 [K, H / s, W / s, C]`` holding 8-bit values.
  """
  first, table = _table(tuple(names), scale)
  weights = tf.gather(tf.constant(table, tf.float32), kernel)
  x = tf.cast(images, tf.float32)
  x = _downscale_axis(x, weights, first, scale, axis=2)  # Pillow: rows last
  return _downscale_axis(x, weights, first, scale, axis=1)


def gaussian_kernels(
  sigma_y: tf.Tensor, sigma_x: tf.Tensor, angle: tf.Tensor, radius: int
) -> tf.Tensor:
  """Per-example Gaussian blur kernels, rotated by ``angle``.

  Args:
    sigma_y: ``float32 [K]``, the standard deviation along the kernel's
      first principal axis, in HR pixels; 0 gives no blur.
    sigma_x: ``float32 [K]``, along the second (equal to ``sigma_y`` for an
      isotropic blur).
    angle: ``float32 [K]``, the first axis' angle from the vertical.
    radius: the kernels' half side (:func:`blur_radius`).

  Returns:
    ``float32 [K, 2r + 1, 2r + 1]``, each summing to 1.
  """
  r = tf.range(-radius, radius + 1, dtype=tf.float32)
  yy, xx = tf.meshgrid(r, r, indexing="ij")
  c, s = tf.cos(angle)[:, None, None], tf.sin(angle)[:, None, None]
  u = c * yy + s * xx  # along the first axis
  v = -s * yy + c * xx
  # A zero sigma is a delta: keep its quadratic form finite, then the
  # centre alone survives the normalisation.
  eps = 1e-3
  q = (u / tf.maximum(sigma_y, eps)[:, None, None]) ** 2 + (
    v / tf.maximum(sigma_x, eps)[:, None, None]
  ) ** 2
  k = tf.exp(-0.5 * q)
  return k / tf.reduce_sum(k, axis=[1, 2], keepdims=True)


def blur(images: tf.Tensor, kernels: tf.Tensor) -> tf.Tensor:
  """Blurs image k by ``kernels[k]``, renormalised at the images' edges.

  Args:
    images: ``float32 [K, H, W, C]``.
    kernels: ``float32 [K, 2r + 1, 2r + 1]``.

  Returns:
    ``float32 [K, H, W, C]`` (not rounded).
  """
  k, h, w, c = images.shape
  size = kernels.shape[1]
  r = size // 2
  # Each example's kernel on its own channels: a depthwise convolution
  # with the examples riding along the channel axis.
  x = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, k * c])
  filt = tf.repeat(tf.transpose(kernels, [1, 2, 0]), c, axis=2)
  pad = [[0, 0], [r, r], [r, r], [0, 0]]
  y = tf.nn.depthwise_conv2d(
    tf.pad(x, pad), filt[..., None], [1, 1, 1, 1], "VALID"
  )
  ones = tf.pad(tf.ones([1, h, w, k]), pad)
  norm = tf.nn.depthwise_conv2d(
    ones, tf.transpose(kernels, [1, 2, 0])[..., None], [1, 1, 1, 1], "VALID"
  )
  y = y / tf.repeat(norm, c, axis=3)
  return tf.transpose(tf.reshape(y, [h, w, k, c]), [2, 0, 1, 3])
