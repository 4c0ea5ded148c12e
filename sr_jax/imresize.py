"""MATLAB-exact bicubic ``imresize`` in NumPy (TensorFlow twin: imresize_tf).

Every published SR table builds its low-resolution inputs with MATLAB's
``imresize(HR, 1/scale, 'bicubic')``, which antialiases when downscaling and,
for ``uint8`` images, rounds to ``uint8`` after each of its two 1-D passes.
PIL's, OpenCV's, TensorFlow's and JAX's bicubic resizes all give different
pixels, and the difference is visible in PSNR (see ``docs/protocol.md``).
This module reproduces MATLAB pixel for pixel:

* cubic kernel with ``a = -0.5`` (Keys 1981);
* when downscaling by ``s < 1`` the kernel is stretched to width ``4 / s``
  (``s * cubic(s * d)``), which is the antialiasing;
* output pixel ``x`` (1-based) samples the input at
  ``u = x / s + 0.5 * (1 - 1 / s)``, with ``ceil(width) + 2`` taps starting at
  ``floor(u - width / 2)``, weights normalised to sum to 1 per output pixel;
* input indices outside the image are mirrored (``1..n, n..1, 1..n, ...``);
* the output size is ``ceil(in_size * s)`` in each spatial dimension;
* the height is resized first, then the width; ``uint8`` images are rounded
  half away from zero and clipped to ``[0, 255]`` after *each* pass.

The arithmetic below deliberately follows MATLAB's order of floating-point
operations (``u`` in 1-based coordinates, the ``s *`` factor kept before
normalising, sums accumulated tap by tap in order) so that values exactly on a
rounding boundary land on the same side as MATLAB's. The TensorFlow twin for
``tf.data`` pipelines (:mod:`sr_jax.imresize_tf`, kept apart so that
inference does not import TensorFlow) performs the same IEEE float64
operations in the same order, so the two agree bit for bit.

Float inputs (``float32``/``float64``) go through the same float64 math
without any rounding or clipping, and come back in the input's dtype.
"""

import math
import numbers

import numpy as np

# Support of the (unstretched) cubic kernel.
KERNEL_WIDTH = 4.0

_FLOAT_DTYPES = (np.float32, np.float64)


def cubic(x: np.ndarray) -> np.ndarray:
  """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``).

  Args:
    x: distances, any shape; converted to float64.

  Returns:
    Kernel values, float64, same shape as ``x``.
  """
  absx = np.abs(np.asarray(x, dtype=np.float64))
  # Explicit products rather than ``**``: the TF twin below must perform the
  # very same float operations to stay bit-identical.
  absx2 = absx * absx
  absx3 = absx2 * absx
  inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1.0)
  outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * (
    (absx > 1.0) & (absx <= 2.0)
  )
  return inner + outer


def _check_scale(scale: float) -> float:
  """Returns ``scale`` as a Python float or raises ``ValueError``."""
  if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
    raise ValueError(
      f"imresize: scale must be a positive finite real number, got {scale!r}"
    )
  scale = float(scale)
  if not math.isfinite(scale) or scale <= 0.0:
    raise ValueError(
      f"imresize: scale must be a positive finite real number, got {scale!r}"
    )
  return scale


def output_size(in_size: int, scale: float) -> int:
  """MATLAB's output length for one dimension: ``ceil(in_size * scale)``.

  Args:
    in_size: input length.
    scale: resize factor (> 0).

  Returns:
    The output length.
  """
  return math.ceil(in_size * _check_scale(scale))


def _kernel_geometry(scale: float) -> tuple[float, int, bool]:
  """Returns ``(width, num_taps, antialias)`` for a resize factor."""
  antialias = scale < 1.0
  width = KERNEL_WIDTH / scale if antialias else KERNEL_WIDTH
  return width, math.ceil(width) + 2, antialias


def _mirror_indices(indices, in_size):
  """Maps 0-based indices onto ``[0, in_size)`` by symmetric reflection.

  The period is ``2 * in_size``: ``0..n-1`` followed by ``n-1..0``, i.e. the
  edge sample is repeated, as in MATLAB's ``[1:n, n:-1:1]`` lookup table.
  """
  period = 2 * in_size
  m = np.mod(indices, period)
  return np.where(m < in_size, m, period - 1 - m)


def resize_weights(
  in_size: int, out_size: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
  """The taps and weights of one 1-D MATLAB bicubic resize.

  Output pixel ``i`` (0-based) is ``sum_k weights[i, k] * in[indices[i, k]]``.
  Zero-weight taps are kept (MATLAB drops all-zero columns, which does not
  change any sum), so every row has ``P = ceil(width) + 2`` taps.

  Args:
    in_size: input length (> 0).
    out_size: output length (> 0); usually :func:`output_size`.
    scale: the resize factor (> 0); ``< 1`` downscales with antialiasing.

  Returns:
    ``(indices, weights)``: ``int64 [out_size, P]`` 0-based input indices,
    already mirrored into ``[0, in_size)``, and ``float64 [out_size, P]``
    weights, each row summing to 1 (up to rounding).

  Raises:
    ValueError: for a non-positive size or a bad scale.
  """
  scale = _check_scale(scale)
  if in_size <= 0 or out_size <= 0:
    raise ValueError(
      f"resize_weights: sizes must be positive, got in_size={in_size}, "
      f"out_size={out_size}"
    )
  x = np.arange(1, out_size + 1, dtype=np.float64)
  taps, weights = _taps_and_weights(
    x,
    scale,
    floor=np.floor,
    arange=lambda n: np.arange(n, dtype=np.float64),
    kernel=cubic,
  )
  indices = _mirror_indices(taps.astype(np.int64) - 1, in_size)
  return indices, weights


def _taps_and_weights(x, scale: float, *, floor, arange, kernel):
  """1-based tap positions and normalized weights for output positions ``x``.

  Shared by the NumPy and TF versions (``floor``, ``arange`` and the cubic
  ``kernel`` come from the array library), so both do the same float64
  operations in the same order.
  """
  width, num_taps, antialias = _kernel_geometry(scale)
  u = x / scale + 0.5 * (1.0 - 1.0 / scale)
  left = floor(u - width / 2.0)
  # Tap positions as floats, so that ``u - taps`` rounds like MATLAB.
  taps = left[:, None] + arange(num_taps)[None, :]
  dist = u[:, None] - taps
  if antialias:
    weights = scale * kernel(scale * dist)
  else:
    weights = kernel(dist)
  total = weights[:, 0]
  for k in range(1, num_taps):
    total = total + weights[:, k]
  return taps, weights / total[:, None]


def round_half_away_from_zero(x: np.ndarray) -> np.ndarray:
  """Rounds like MATLAB's ``round``: halves go away from zero.

  ``np.round`` rounds halves to even, and ``floor(x + 0.5)`` is wrong for
  ``0.49999999999999994`` (the addition rounds up to 1.0); ``x - floor(x)`` is
  always exact, so comparing it with 0.5 is not.

  Args:
    x: float array.

  Returns:
    The rounded values, same dtype.
  """
  a = np.abs(x)
  fl = np.floor(a)
  return np.sign(x) * (fl + (a - fl >= 0.5))


def _resize_axis_np(
  x: np.ndarray, axis: int, scale: float, quantize: bool
) -> np.ndarray:
  """One 1-D resize of a float64 array along ``axis``."""
  in_size = x.shape[axis]
  indices, weights = resize_weights(in_size, output_size(in_size, scale), scale)
  bshape = [1] * x.ndim
  bshape[axis] = -1
  # Tap by tap, in order: the same summation order as MATLAB's resize mex and
  # as the TF version, and only one gathered slab in memory at a time.
  acc = None
  for k in range(indices.shape[1]):
    term = np.take(x, indices[:, k], axis=axis) * weights[:, k].reshape(bshape)
    acc = term if acc is None else acc + term
  if quantize:
    acc = np.clip(round_half_away_from_zero(acc), 0.0, 255.0)
  return acc


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
  """MATLAB ``imresize(image, scale, 'bicubic')`` (antialiased), exactly.

  Args:
    image: ``[H, W]`` or ``[H, W, C]``, ``uint8``, ``float32`` or ``float64``.
    scale: resize factor (> 0), the same for both spatial dimensions; e.g.
      ``1 / 3`` for the x3 SR low-resolution input.

  Returns:
    ``[ceil(H * scale), ceil(W * scale)(, C)]``. ``uint8`` input gives
    ``uint8`` output, rounded half away from zero and clipped after each
    pass like MATLAB. Float input is resized in float64 without rounding or
    clipping (cubic overshoot can leave the input's range) and returned in
    its own dtype.

  Raises:
    ValueError: for a non-positive or non-finite scale, an image that is not
      2-D or 3-D, or an empty image.
    TypeError: for dtypes other than ``uint8``, ``float32``, ``float64``.
  """
  scale = _check_scale(scale)
  image = np.asarray(image)
  if image.ndim not in (2, 3):
    raise ValueError(
      "imresize: expected an [H, W] or [H, W, C] image, got shape "
      f"{image.shape}"
    )
  if image.shape[0] == 0 or image.shape[1] == 0:
    raise ValueError(f"imresize: empty image of shape {image.shape}")
  if image.dtype == np.uint8:
    quantize = True
  elif image.dtype in _FLOAT_DTYPES:
    quantize = False
  else:
    raise TypeError(
      f"imresize: expected uint8, float32 or float64 image, got {image.dtype}"
    )
  x = image.astype(np.float64)
  # Height first: MATLAB orders the passes by scale, and a tie keeps dim 1
  # (rows) first.
  x = _resize_axis_np(x, 0, scale, quantize)
  x = _resize_axis_np(x, 1, scale, quantize)
  return x.astype(image.dtype)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
  """Crops height and width down to multiples of ``scale``, top-left anchored.

  Args:
    image: ``[H, W, ...]`` array.
    scale: positive integer.

  Returns:
    ``image[:H - H % scale, :W - W % scale]`` (a view).

  Raises:
    ValueError: if ``scale`` is not a positive integer or ``image`` has fewer
      than 2 dimensions.
  """
  if (
    isinstance(scale, bool)
    or not isinstance(scale, numbers.Integral)
    or scale < 1
  ):
    raise ValueError(
      f"modcrop: scale must be a positive integer, got {scale!r}"
    )
  image = np.asarray(image)
  if image.ndim < 2:
    raise ValueError(
      f"modcrop: expected an [H, W, ...] image, got shape {image.shape}"
    )
  h, w = image.shape[:2]
  return image[: h - h % scale, : w - w % scale]


def imresize_in_strips(
  image: np.ndarray, scale: int, *, strip_rows: int = 256
) -> np.ndarray:
  """``imresize(image, scale)`` for upscaling, ``strip_rows`` at a time.

  Performs the same float64 operations in the same order as
  :func:`imresize` for every output pixel (height pass,
  rounding for uint8, width pass, rounding), so the result is bit-identical,
  but the float64 temporaries are ``strip_rows`` output rows high instead of
  the whole image: for a 6000x4500 RGB output about 80 MB instead of 2 GB.

  Args:
    image: ``[H, W]`` or ``[H, W, C]``, uint8, float32 or float64.
    scale: the integer upscaling factor.
    strip_rows: output rows computed at a time.

  Returns:
    ``[H * scale, W * scale(, C)]`` in the input's dtype.
  """
  image = np.asarray(image)
  if image.dtype not in (np.uint8, np.float32, np.float64):
    raise TypeError(f"imresize_in_strips: unsupported dtype {image.dtype}")
  quantize = image.dtype == np.uint8
  s = float(scale)
  h, w = image.shape[:2]
  out_h, out_w = output_size(h, s), output_size(w, s)
  rows_idx, rows_wt = resize_weights(h, out_h, s)
  cols_idx, cols_wt = resize_weights(w, out_w, s)
  trailing = (1,) * (image.ndim - 2)
  out = np.empty((out_h, out_w) + image.shape[2:], image.dtype)
  for r0 in range(0, out_h, strip_rows):
    r1 = min(r0 + strip_rows, out_h)
    idx, wt = rows_idx[r0:r1], rows_wt[r0:r1]
    lo, hi = int(idx.min()), int(idx.max()) + 1
    src = image[lo:hi].astype(np.float64)
    acc = None
    for k in range(idx.shape[1]):
      term = np.take(src, idx[:, k] - lo, axis=0) * wt[:, k].reshape(
        (-1, 1) + trailing
      )
      acc = term if acc is None else acc + term
    if quantize:
      acc = np.clip(round_half_away_from_zero(acc), 0.0, 255.0)
    acc2 = None
    for k in range(cols_idx.shape[1]):
      term = np.take(acc, cols_idx[:, k], axis=1) * cols_wt[:, k].reshape(
        (1, -1) + trailing
      )
      acc2 = term if acc2 is None else acc2 + term
    if quantize:
      acc2 = np.clip(round_half_away_from_zero(acc2), 0.0, 255.0)
    out[r0:r1] = acc2.astype(image.dtype)
  return out
