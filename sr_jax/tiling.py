"""Geometry of tiled inference: overlapping tiles, and canvases packed with them.

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
same size ``tile + 2 * margin`` along an axis longer than that, and a window
that would stick out of the image is slid back inside it. Its edge then lies
on the image border, where nothing is discarded and nothing needs to be; on
its other side it only gains more context. Along a shorter axis the whole
axis is one window.

:func:`pack` places windows of many images on a few canvases of one fixed
size, a ``gap`` apart, so that a folder of differently sized images runs
through a model compiled for that shape (sr_jax.inference picks the size
from a small fixed set). sr_jax.inference masks everything
outside the windows before each convolution, so a gap as wide as the largest
kernel radius keeps the windows from seeing each other.
"""

import dataclasses
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

  @property
  def shape(self) -> tuple[int, int]:
    return tuple(s.stop - s.start for s in self.window)


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


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where item ``index`` (of the list given to :func:`pack`) lies on a canvas.

  Attributes:
    index: position of the item in the input list.
    region: its region on the canvas (rows, columns).
  """

  index: int
  region: Region


def pack(
  shapes: list[tuple[int, int]], *, canvas: int, gap: int
) -> list[list[Placement]]:
  """Places rectangles on square canvases, largest first, bottom-left.

  A skyline packer: each canvas keeps, per column, the first free row;
  a rectangle goes where it ends highest-up (then leftmost) on the first
  canvas it fits, and a new canvas opens when it fits none. Every rectangle
  is given ``gap`` more rows and columns than its own (a canvas ``gap``
  more too), so that no two are closer than ``gap``. On 100 random sizes
  of 48-160 pixels and 298-pixel canvases this fills about 80% of the
  canvas area.

  Args:
    shapes: ``(height, width)`` of each rectangle, each at most ``canvas``.
    canvas: the canvas side.
    gap: the empty pixels kept between rectangles.

  Returns:
    One list of placements per canvas; every input index appears once.

  Raises:
    ValueError: for a rectangle larger than the canvas.
  """
  for h, w in shapes:
    if h > canvas or w > canvas or h <= 0 or w <= 0:
      raise ValueError(f"pack: a {h}x{w} item does not fit a {canvas} canvas")
  side = canvas + gap
  order = sorted(range(len(shapes)), key=lambda i: (-math.prod(shapes[i]), i))
  skylines: list[np.ndarray] = []
  canvases: list[list[Placement]] = []
  for i in order:
    h, w = shapes[i][0] + gap, shapes[i][1] + gap
    spot = None
    for c, sky in enumerate(skylines):
      tops = sliding_window_view(sky, w).max(axis=1)
      x = int(np.argmin(tops))
      if tops[x] + h <= side:
        spot = (c, int(tops[x]), x)
        break
    if spot is None:
      skylines.append(np.zeros(side, np.int64))
      canvases.append([])
      spot = (len(skylines) - 1, 0, 0)
    c, y, x = spot
    skylines[c][x : x + w] = y + h
    region = (slice(y, y + h - gap), slice(x, x + w - gap))
    canvases[c].append(Placement(i, region))
  return canvases
