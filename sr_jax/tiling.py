"""Overlapping tiles for upscaling large images under a memory bound.

A convolutional SR model's output pixel depends only on the input pixels
within its receptive-field radius. Running the model on a window that
extends ``margin >= radius`` low-resolution pixels beyond the region it is
responsible for, and keeping only that region's output, therefore gives the
whole-image result (up to float rounding), provided one more thing holds:
the model pads every convolution with zeros ('SAME'), so where a window ends
*inside* the image its padding differs from the whole-image run, and those
differences must stay in the discarded margin; where a window ends *at* the
image border its padding is exactly the whole-image run's.

:func:`tiles` achieves both without padding anything: every window has the
same fixed size ``tile + 2 * margin`` (so a compiled model is reused for
every tile of an image), and a window that would stick out of the image is
slid back inside it. Its edge then lies on the image border, where nothing
is discarded and nothing needs to be; on its other side it only gains more
context. Along an axis shorter than the window the whole axis is one window.

:func:`receptive_radius` gives the radius of each model of
:mod:`sr_jax.models`, and :func:`imresize_in_strips` is MATLAB's bicubic
upscale (:func:`sr_jax.imresize.imresize`, bit for bit) computed a strip at
a time, so that it never holds a full-size float64 image.
"""

import dataclasses

import numpy as np

from sr_jax import imresize

# Used for models this module does not know; comfortably above the radius of
# the small models, see receptive_radius.
FALLBACK_MARGIN = 32

# Models whose output depends on statistics pooled over the whole image
# (IMDN's contrast-aware channel attention), so tiling them is approximate.
GLOBAL_MODELS = ("imdn",)

Region = tuple[slice, slice]


@dataclasses.dataclass(frozen=True)
class Tile:
  """One tile of a low-resolution image.

  Attributes:
    window: the LR region the model is run on (rows, columns).
    keep: the LR region whose output this tile provides, in image
      coordinates; the ``keep`` regions of all tiles partition the image.
    inner: ``keep`` relative to ``window``.
  """

  window: Region
  keep: Region
  inner: Region


def _axis_tiles(size: int, tile: int, margin: int) -> list[tuple[int, ...]]:
  """``(window_start, window_stop, keep_start, keep_stop)`` along one axis."""
  window = tile + 2 * margin
  if tile <= 0 or size <= window:
    return [(0, size, 0, size)]
  spans = []
  for keep_start in range(0, size, tile):
    keep_stop = min(keep_start + tile, size)
    # Slid inside the image: a clamped side lies on the image border, and
    # the other side then extends even further than ``margin``.
    start = min(max(keep_start - margin, 0), size - window)
    spans.append((start, start + window, keep_start, keep_stop))
  return spans


def tiles(height: int, width: int, *, tile: int, margin: int) -> list[Tile]:
  """Splits an ``height x width`` LR image into overlapping tiles.

  Args:
    height: image height in LR pixels.
    width: image width in LR pixels.
    tile: side of the region each tile keeps; 0 means one tile (the whole
      image).
    margin: context on each side of the kept region, at least the model's
      receptive-field radius for an exact result.

  Returns:
    Tiles in row-major order. All windows have the same shape:
    ``min(tile + 2 * margin, size)`` along each axis.

  Raises:
    ValueError: for a negative ``tile`` or ``margin``.
  """
  if tile < 0 or margin < 0:
    raise ValueError(f"tiles: tile ({tile}) and margin ({margin}) must be >= 0")
  out = []
  for r0, r1, kr0, kr1 in _axis_tiles(height, tile, margin):
    for c0, c1, kc0, kc1 in _axis_tiles(width, tile, margin):
      out.append(
        Tile(
          window=(slice(r0, r1), slice(c0, c1)),
          keep=(slice(kr0, kr1), slice(kc0, kc1)),
          inner=(slice(kr0 - r0, kr1 - r0), slice(kc0 - c0, kc1 - c0)),
        )
      )
  return out


def scaled(region: Region, scale: int) -> Region:
  """The high-resolution region covered by an LR ``region`` at ``scale``."""
  return tuple(slice(s.start * scale, s.stop * scale) for s in region)


def receptive_radius(config) -> int | None:
  """How far (in LR pixels) an output pixel of the model can see.

  Counted per convolution as ``k // 2`` LR pixels; a 3x3 convolution after
  the pixel shuffle (RDN's) reaches one HR pixel, which can belong to the
  neighbouring LR pixel, so it counts one as well. Dense and residual
  connections add paths, never longer ones, so the radius is that of the
  longest chain.

  Args:
    config: the model's config (``config.model`` and ``config.scale``).

  Returns:
    The radius, or None for a model this function does not know.
  """
  m = config.model
  name = m.name
  if name == "espcn":
    kernels = m.get("kernel_sizes", None) or (5, 3, 3, 3)
    return sum(k // 2 for k in kernels)
  if name == "espcn_rdb":
    blocks = m.get("num_blocks", None) or 4
    layers = m.get("num_layers", None) or 4
    # sfe1 (5x5), sfe2, the dense 3x3s, gff2, subpixel. The parameter-free
    # bicubic skip reaches 2 LR pixels, within that.
    return 2 + 1 + blocks * layers + 1 + 1
  if name == "rdn":
    blocks = m.get("num_blocks", None) or 16
    layers = m.get("num_layers", None) or 8
    upsample_convs = 2 if config.scale == 4 else 1
    # sfe1, sfe2, dense 3x3s, gff2, UPNet convs, output conv (at HR).
    return 2 + blocks * layers + 1 + upsample_convs + 1
  if name == "imdn":
    blocks = m.get("num_blocks", None) or 6
    # fea_conv, four 3x3s per block, LR_conv, upsampler; the channel
    # attention's pooling is global and has no radius (see GLOBAL_MODELS).
    return 1 + 4 * blocks + 1 + 1
  return None


def imresize_in_strips(
  image: np.ndarray, scale: int, *, strip_rows: int = 256
) -> np.ndarray:
  """``imresize.imresize(image, scale)`` for upscaling, ``strip_rows`` at a time.

  Performs the same float64 operations in the same order as
  :func:`sr_jax.imresize.imresize` for every output pixel (height pass,
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
  out_h, out_w = imresize.output_size(h, s), imresize.output_size(w, s)
  rows_idx, rows_wt = imresize.resize_weights(h, out_h, s)
  cols_idx, cols_wt = imresize.resize_weights(w, out_w, s)
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
      acc = np.clip(imresize.round_half_away_from_zero(acc), 0.0, 255.0)
    acc2 = None
    for k in range(cols_idx.shape[1]):
      term = np.take(acc, cols_idx[:, k], axis=1) * cols_wt[:, k].reshape(
        (1, -1) + trailing
      )
      acc2 = term if acc2 is None else acc2 + term
    if quantize:
      acc2 = np.clip(imresize.round_half_away_from_zero(acc2), 0.0, 255.0)
    out[r0:r1] = acc2.astype(image.dtype)
  return out


def default_margin(config) -> tuple[int, str | None]:
  """The margin to tile ``config``'s model with, and a warning if inexact.

  Returns:
    ``(margin, warning)``: the receptive-field radius (or
    :data:`FALLBACK_MARGIN` for an unknown model), and a message explaining
    why tiles may differ from the whole-image result, or None.
  """
  radius = receptive_radius(config)
  if radius is None:
    return FALLBACK_MARGIN, (
      f"model {config.model.name!r} has no known receptive field; tiling "
      f"with a {FALLBACK_MARGIN}-pixel margin (set --margin to override, or "
      "--tile=0 for the whole image at once)"
    )
  if config.model.name in GLOBAL_MODELS:
    return radius, (
      f"model {config.model.name!r} pools statistics over the whole image, "
      "so an image split into tiles comes out slightly different from "
      "--tile=0"
    )
  return radius, None
