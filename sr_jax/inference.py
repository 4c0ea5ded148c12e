"""Running a trained model on images: the one inference layer of sr_jax.

Training's evaluation, ``--mode=evaluate``, ``sr_jax.upscale`` and
``sr_jax.export`` all come here to

* load ``(config, params)`` from a run directory, a zoo name or a weights
  file (:func:`load`), with one fit check (:func:`sr_jax.models.check_fit`)
  and no optimizer;
* apply the forward convention (:func:`forward`): RGB models see the LR
  image in [0, 1]; Y models see its BT.601 luma and their output Y is joined
  with the chroma of the bicubic upscale, as the ESPCN work did;
* quantize float outputs to uint8 / uint16 (:func:`quantize`);
* run images whole or in tiles (:class:`Predictor`), compiled once per model
  and input shape and reused across calls.

Images of many sizes compile a bounded number of times: tiles are packed on
canvases of a few fixed sizes (:func:`sr_jax.tiling.pack`) and everything
outside them is zeroed before each convolution, as 'SAME' zero padding does
at an image border, so each tile's output equals its whole-image output up
to float rounding. A model that ``sees_whole_image`` runs on whole images.
"""

import dataclasses
import functools
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from sr_jax import (
  checkpointing,
  color,
  models,
  platform_tuning,
  rundir,
  tiling,
  zoo,
)
from sr_jax.models.conv import Conv, KernelConv

DEFAULT_TILE = 256

# Canvas sides tried for each batch of images, as multiples of the default
# (tile + 2 * margin): small images waste less on some sizes than on others.
# The small ones matter: every device runs a whole canvas, so a 64 x 48
# photo alone on canvases of 0.75 x 298 costs 2 x 224^2 LR pixels of network,
# 30 times its own.
CANVAS_SCALES = (
  0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.125, 1.25, 1.5, 1.75
)  # fmt: skip
# A canvas that must grow to the largest window grows to a multiple of this,
# so that such sides, too, come from a small fixed set.
CANVAS_STEP = 16
# Photos run whole (Predictor's whole_max_pixels) are padded to multiples of
# this per side: one compiled shape per such bucket of sizes.
WHOLE_STEP = 64


# --- Loading -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Weights:
  """A model's config and parameters, and where they came from.

  Attributes:
    config: the config that describes the model (and evaluation).
    params: the parameters, host NumPy arrays.
    source: the file or run they were read from, for messages and labels.
    step: the checkpoint step, when read from a run directory.
  """

  config: Any
  params: Any
  source: str
  step: int | None = None


def load(
  *,
  workdir: str | None = None,
  step: int | None = None,
  zoo_name: str | None = None,
  weights_file: str | None = None,
  config: Any = None,
) -> Weights:
  """Loads weights from exactly one of a run, the zoo or a file.

  Args:
    workdir: a training run's directory: its checkpoint at ``step`` (default:
      the newest readable one) and its ``config.json``.
    step: with ``workdir``, the checkpoint step.
    zoo_name: a zoo model name, or the path of a zoo ``.npz``/``.json``.
    weights_file: a zoo ``.npz`` (with its ``.json`` beside it) or an
      official checkpoint converted by :mod:`sr_jax.models`
      (``--config.pretrained``); needs ``config``.
    config: the config to use the weights with. Weights that come with a
      config of their own (runs, zoo files) must fit it; without it, theirs
      is used.

  Returns:
    The :class:`Weights`.

  Raises:
    ValueError: for a wrong combination of arguments, or weights that do not
      fit ``config``.
    FileNotFoundError: for missing weights.
  """
  given = [a for a in (workdir, zoo_name, weights_file) if a]
  if len(given) != 1:
    raise ValueError(
      "give exactly one of a run directory, a zoo model and a weights file"
    )
  if step is not None and not workdir:
    raise ValueError("a checkpoint step only applies to a run directory")
  if workdir:
    run = rundir.RunDir(workdir)
    saved = run.read_config()
    if config is None and saved is None:
      raise FileNotFoundError(
        f"--workdir={workdir}: no config.json there; is it a training run's "
        "directory?"
      )
    params, step = checkpointing.restore_params(config or saved, run, step=step)
    return Weights(config or saved, params, f"{workdir} (step {step})", step)
  if zoo_name or zoo.is_zoo_file(weights_file):
    saved, params = zoo.load(zoo_name or weights_file)
    source = zoo_name or weights_file
    if config is not None:
      models.check_fit(config, params, source=source, saved_config=saved)
    return Weights(config or saved, params, source)
  if config is None:
    raise ValueError(f"{weights_file}: official weights need a --config")
  if not os.path.isfile(weights_file):
    raise FileNotFoundError(f"{weights_file}: no such file")
  params = models.load_official_weights(weights_file, config)
  models.check_fit(config, params, source=weights_file)
  return Weights(config, jax.tree.map(np.asarray, params), weights_file)


# --- The forward convention --------------------------------------------------


def model_input(rgb: jnp.ndarray, channels: int) -> jnp.ndarray:
  """``[..., 3]`` RGB in [0, 1] -> what the model sees: Y (1) or RGB (3)."""
  return color.rgb_to_y_unit(rgb) if channels == 1 else rgb


def forward(model, params, lr, bicubic, *, channels: int) -> jnp.ndarray:
  """The SR output of ``model`` for ``lr``, as RGB. Jit-able.

  Args:
    model: the Flax module.
    params: its parameters.
    lr: ``[B, h, w, 3]`` RGB in [0, 1].
    bicubic: ``[B, h*s, w*s, 3]`` RGB in [0, 1], the bicubic upscale of
      ``lr``; only Y models use it (its chroma), others may pass None.
    channels: 1 (Y) or 3 (RGB).

  Returns:
    ``[B, h*s, w*s, 3]`` RGB, not clipped.
  """
  out = model.apply({"params": params}, model_input(lr, channels))
  if channels == 3:
    return out
  chroma = color.rgb_to_ycbcr(bicubic)[..., 1:]
  return color.ycbcr_to_rgb(jnp.concatenate([out, chroma], -1))


def _kernel_radius(module) -> int:
  size = module.kernel_size
  size = (size,) if isinstance(size, int) else tuple(size)
  return max(size) // 2


def _masking(mask: jnp.ndarray):
  """An interceptor that zeroes what lies outside ``mask`` before each
  spatial operation (convolutions wider than 1x1, the bicubic skip).

  ``mask`` is ``[B, H, W, 1]`` of 0/1 at LR; inputs at ``f`` times the LR
  size (convolutions after a pixel shuffle) get it repeated ``f`` times.
  The bicubic skip becomes ``resize(x * m) / resize(m)``: the Keys weights
  renormalized over the masked region, which is how ``jax.image.resize``
  treats an image border.
  """

  def at_size(x):
    f = x.shape[1] // mask.shape[1]
    m = mask if f == 1 else jnp.repeat(jnp.repeat(mask, f, 1), f, 2)
    return m.astype(x.dtype)

  def interceptor(next_fun, args, kwargs, context):
    module, name = context.module, context.method_name
    if (
      name == "__call__"
      and isinstance(module, (Conv, nn.Conv, KernelConv))
      and _kernel_radius(module) > 0
    ):
      x = args[0]
      return next_fun(x * at_size(x), *args[1:], **kwargs)
    if name == "bicubic_skip":
      x = args[0]
      m = at_size(x)
      num = next_fun(x * m, *args[1:], **kwargs)
      den = next_fun(m, *args[1:], **kwargs)
      return num / jnp.where(den > 1e-6, den, 1.0)
    return next_fun(*args, **kwargs)

  return interceptor


def masked_forward(model, params, lr, bicubic, mask, *, channels: int):
  """:func:`forward` with everything outside ``mask`` treated as padding."""
  with nn.intercept_methods(_masking(mask)):
    return forward(model, params, lr, bicubic, channels=channels)


def largest_kernel_radius(model, channels: int) -> int:
  """The widest single spatial operation of ``model``, found by tracing it."""
  radii = [0]

  def record(next_fun, args, kwargs, context):
    if context.method_name == "__call__" and isinstance(
      context.module, (Conv, nn.Conv, KernelConv)
    ):
      radii.append(_kernel_radius(context.module))
    if context.method_name == "bicubic_skip":
      radii.append(2)  # Keys cubic: four taps, two on each side.
    return next_fun(*args, **kwargs)

  dummy = jnp.zeros((1, 8, 8, channels), jnp.float32)
  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0), dummy))
  return max(radii)


# --- Quantization ------------------------------------------------------------


def quantize(sr: np.ndarray, dtype, *, grey: bool = False) -> np.ndarray:
  """Clips float RGB to [0, 1] and rounds it to uint8 or uint16.

  Rounding is ``floor(v * max + 0.5)``, the protocol's. With ``grey`` the
  output is the BT.601 luma of the RGB (a grey image in gives one out).
  """
  sr = np.clip(np.asarray(sr, np.float64), 0.0, 1.0)
  if grey:
    sr = color.luma(sr)
  top = 255.0 if np.dtype(dtype) == np.uint8 else 65535.0
  return np.floor(sr * top + 0.5).astype(dtype)


def _view(k: int, mirror: bool):
  """One of the square's eight symmetries on ``[h, w, c]`` and its inverse."""

  def view(x):
    return np.rot90(x[:, ::-1] if mirror else x, k)

  def undo(y):
    y = np.rot90(y, -k)
    return y[:, ::-1] if mirror else y

  return view, undo


# The identity first: without self-ensemble only it runs.
_VIEWS = [_view(k, m) for m in (False, True) for k in range(4)]


# --- Running -----------------------------------------------------------------


def to_float(image: np.ndarray) -> np.ndarray:
  """uint8 / uint16 (or float in [0, 1]) -> float32 RGB in [0, 1]."""
  image = color.gray_to_rgb(image)
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 255.0
  if image.dtype == np.uint16:
    return image.astype(np.float32) / 65535.0
  return image.astype(np.float32)


def _traced_with(precision: str | None, fn):
  """``fn`` traced under ``jax.default_matmul_precision(precision)``."""
  if precision is None:
    return fn

  @functools.wraps(fn)
  def traced(*args):
    with jax.default_matmul_precision(precision):
      return fn(*args)

  return traced


class Predictor:
  """A model with its weights, compiled once, for images of any size.

  Attributes:
    config: the model's config.
    model: the Flax module.
    scale: the upscaling factor.
    channels: 1 (Y model) or 3 (RGB model).
    tile: LR tile side; 0 runs every image whole.
    margin: LR context around each tile (at least the receptive radius for
      an exact result).
    canvas: side of the canvases tiles are packed on; 0 when not packing.
    whole_max_pixels: images larger than one tile but with at most this
      many LR pixels run whole instead of in tiles (0: none).
  """

  def __init__(
    self,
    config,
    params=None,
    *,
    tile: int = DEFAULT_TILE,
    margin: int | None = None,
    whole_max_pixels: int = 0,
  ):
    """Builds and wraps the model.

    Args:
      config: the config that describes the model.
      params: its parameters (or None, and :meth:`set_params` later).
      tile: LR tile side in pixels for :meth:`upscale`; 0 for whole images.
      margin: LR context around each tile; None for the model's receptive
        radius.
      whole_max_pixels: with packing, an image larger than one tile but of
        at most this many LR pixels runs whole, on a canvas of its size
        rounded up to multiples of :data:`WHOLE_STEP` (one compiled shape
        per such size), instead of as tiles on square canvases: no margins
        computed twice and no canvas corners left empty (1.4-1.5x on a 640x480
        photo, ``benchmarks/upscale_sizes.py``). 0: every image is tiled.
    """
    if tile < 0:
      raise ValueError(f"--tile must be >= 0, got {tile}")
    if whole_max_pixels < 0:
      raise ValueError(
        f"--whole_max_pixels must be >= 0, got {whole_max_pixels}"
      )
    self.config = config
    # On CPU, residual-dense networks in their faster inference form.
    self.model = platform_tuning.for_inference(models.create(config))
    self.scale = int(config.scale)
    self.channels = int(config.model.channels)
    self.tile = tile
    self.margin = self.model.receptive_radius if margin is None else margin
    packs = tile > 0 and not self.model.sees_whole_image
    self.canvas = tile + 2 * self.margin if packs else 0
    self.whole_max_pixels = whole_max_pixels if packs else 0
    self._gap = largest_kernel_radius(self.model, self.channels) if packs else 0
    precision = platform_tuning.inference_precision()
    self._forward = jax.jit(
      _traced_with(
        precision,
        functools.partial(forward, self.model, channels=self.channels),
      )
    )
    self._masked_forward = jax.jit(
      _traced_with(
        precision,
        functools.partial(masked_forward, self.model, channels=self.channels),
      )
    )
    # Every local device takes part: canvases go as a batch sharded over
    # them, whole images round-robin (on the CPU backend sr_jax.main makes
    # one device per core, see platform_tuning).
    self._devices = jax.local_devices()
    self._mesh = Mesh(np.asarray(self._devices), ("data",))
    self.params = None
    self._replicas = []
    if params is not None:
      self.set_params(params)

  @property
  def warning(self) -> str | None:
    """Why tiled outputs may differ from whole-image ones, or None."""
    if self.model.sees_whole_image and self.tile:
      return (
        f"model {self.config.model.name!r} pools statistics over the whole "
        "image, so an image split into tiles comes out slightly different "
        "from --tile=0"
      )
    if self.margin < self.model.receptive_radius:
      return (
        f"--margin={self.margin} is below the model's receptive radius "
        f"({self.model.receptive_radius}): tiles will show seams"
      )
    return None

  def set_params(self, params) -> None:
    """Replaces the weights; nothing is recompiled."""
    self.params = jax.device_put(params, NamedSharding(self._mesh, P()))
    self._replicas = [jax.device_put(params, d) for d in self._devices]

  def sr(self, lr: np.ndarray, bicubic: np.ndarray | None) -> np.ndarray:
    """The evaluator's SR image: whole, unpadded, uint8 RGB.

    Args:
      lr: uint8 ``[h, w]`` or ``[h, w, 3]``.
      bicubic: uint8 ``imresize(lr, scale)`` (Y models take its chroma).

    Returns:
      uint8 ``[h*s, w*s, 3]``.
    """
    return self.sr_many([(lr, bicubic)])[0]

  def sr_many(self, pairs, *, self_ensemble: bool = False) -> list[np.ndarray]:
    """:meth:`sr` of ``[(lr, bicubic), ...]``, spread over the devices.

    Forward pass ``i`` (an image, or with ``self_ensemble`` one of its
    views) runs on device ``i % num_devices``; all are dispatched before any
    result is read, so the devices work at the same time.

    Args:
      pairs: ``[(lr, bicubic), ...]`` as for :meth:`sr`.
      self_ensemble: the "+" rows of EDSR / RCAN tables (x8 geometric
        self-ensemble): each image also runs rotated by 90, 180, 270 degrees
        and mirrored, every output is turned back, and the eight float
        outputs are averaged before rounding. 8x the compute.
    """
    views = _VIEWS if self_ensemble else _VIEWS[:1]
    pending = []
    n = 0
    for lr, bicubic in pairs:
      lr = to_float(lr)
      bic = None
      if bicubic is not None and self.channels == 1:
        bic = to_float(bicubic)
      outs = []
      for view, _ in views:
        device = self._devices[n % len(self._devices)]
        replica = self._replicas[n % len(self._devices)]
        n += 1
        x, b = view(lr)[None], None if bic is None else view(bic)[None]
        x, b = jax.device_put((x, b), device)
        outs.append(self._forward(replica, x, b))
      pending.append(outs)
    results = []
    for outs in pending:
      back = [
        undo(np.asarray(out)[0])
        for (_, undo), out in zip(views, outs, strict=True)
      ]
      results.append(quantize(np.mean(back, axis=0), np.uint8))
    return results

  def upscale(
    self, images: list[np.ndarray], bicubics: list[np.ndarray | None]
  ) -> list[np.ndarray]:
    """Super-resolves a batch of images, tile by tile.

    Args:
      images: each ``[h, w]`` (grey) or ``[h, w, 3]``, uint8 or uint16.
      bicubics: for each image its MATLAB bicubic upscale (uint8 for uint8
        images, float in [0, 1] for uint16), or None; Y models need it.

    Returns:
      Each ``[h * s, w * s(, 3)]``, in the dtype and layout of its image.
    """
    s = self.scale
    outs, pieces, whole = [], [], []
    for i, image in enumerate(images):
      if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise ValueError(
          "upscale: expected uint8/uint16 [h, w] or [h, w, 3], got "
          f"{image.dtype} {image.shape}"
        )
      if self.channels == 1 and bicubics[i] is None:
        raise ValueError("upscale: a Y model needs the bicubic upscale")
      h, w = image.shape[:2]
      outs.append(np.empty((h * s, w * s) + image.shape[2:], image.dtype))
      if max(h, w) > self.tile and h * w <= self.whole_max_pixels:
        whole.append(i)
        continue
      pieces += [
        (i, part)
        for part in tiling.tiles(h, w, tile=self.tile, margin=self.margin)
      ]

    def keep(i, part, sr_window):
      outs[i][tiling.scaled(part.keep, s)] = quantize(
        sr_window[tiling.scaled(part.inner, s)],
        images[i].dtype,
        grey=images[i].ndim == 2,
      )

    if not self.canvas:
      pending = []
      for k, (i, part) in enumerate(pieces):
        device = self._devices[k % len(self._devices)]
        lr, bic = self._window(images[i], bicubics[i], part.window)
        lr, bic = jax.device_put((lr, bic), device)
        replica = self._replicas[k % len(self._devices)]
        pending.append(self._forward(replica, lr, bic))
      for (i, part), out in zip(pieces, pending, strict=True):
        keep(i, part, np.asarray(out)[0])
      return outs
    self._run_whole(whole, images, bicubics, outs)
    if not pieces:
      return outs
    shapes = [part.shape for _, part in pieces]
    side, canvases = self._pack(shapes)
    n = len(self._devices)
    for first in range(0, len(canvases), n):
      batch = canvases[first : first + n]
      srs = self._run_canvases(
        side,
        [
          [(*self._piece_inputs(pieces[p.index], images, bicubics), p.region)
           for p in placements]
          for placements in batch
        ]
      )  # fmt: skip
      for placements, sr in zip(batch, srs, strict=False):
        for p in placements:
          keep(*pieces[p.index], sr[tiling.scaled(p.region, s)])
    return outs

  def _run_whole(self, indices, images, bicubics, outs) -> None:
    """Runs ``images[i]`` for ``i`` in ``indices`` whole, into ``outs[i]``.

    Each image is the one window of a canvas of its size rounded up to
    multiples of :data:`WHOLE_STEP` (masked, so the padding acts as the
    zero padding at its border); image ``k`` of the list runs on device
    ``k % num_devices``, all dispatched before any is read.
    """
    s, step, n, pending = self.scale, WHOLE_STEP, len(self._devices), []
    for k, i in enumerate(indices):
      h, w = images[i].shape[:2]
      region = (slice(0, h), slice(0, w))
      lr_w, bic_w = self._window(images[i], bicubics[i], region)
      inputs = self._canvas_inputs(
        (-(-h // step) * step, -(-w // step) * step),
        [[(lr_w, bic_w, region)]],
        1,
      )
      inputs = jax.device_put(inputs, self._devices[k % n])
      pending.append(self._masked_forward(self._replicas[k % n], *inputs))
    for i, out in zip(indices, pending, strict=True):
      h, w = images[i].shape[:2]
      outs[i][...] = quantize(
        np.asarray(out)[0, : h * s, : w * s],
        images[i].dtype,
        grey=images[i].ndim == 2,
      )

  def _piece_inputs(self, piece, images, bicubics):
    i, part = piece
    return self._window(images[i], bicubics[i], part.window)

  def _window(self, image, bicubic, window):
    """The model inputs for one window: ``[1, ...]`` float32 lr, bicubic."""
    lr = to_float(image[window])[None]
    bic = None
    if self.channels == 1:
      bic = to_float(bicubic[tiling.scaled(window, self.scale)])[None]
    return lr, bic

  def _pack(self, shapes) -> tuple[int, list]:
    """Packs windows on the canvas size that wastes least.

    The sides are a fixed set (:data:`CANVAS_SCALES` times ``self.canvas``,
    or the largest window rounded up to a multiple of :data:`CANVAS_STEP`
    when that is larger), so a run compiles a bounded number of shapes. The
    cost counts the canvases the devices run (:meth:`_canvases_run`).

    Returns:
      ``(side, canvases)`` as from :func:`tiling.pack`.
    """
    largest = max(max(shape) for shape in shapes)
    largest = -(-largest // CANVAS_STEP) * CANVAS_STEP
    best = None
    for factor in CANVAS_SCALES:
      side = max(int(round(self.canvas * factor)), largest)
      canvases = tiling.pack(shapes, canvas=side, gap=self._gap)
      cost = self._canvases_run(len(canvases)) * side * side
      if best is None or cost < best[0]:
        best = (cost, side, canvases)
    return best[1], best[2]

  def _canvas_inputs(self, shape, canvases, n):
    """Host model inputs for ``n`` canvases of LR ``shape`` ``(H, W)``.

    Args:
      shape: the canvas's LR height and width.
      canvases: at most ``n`` lists of windows ``(lr, bicubic, region)``
        (see :meth:`_run_canvases`); canvases beyond them stay empty.
      n: the batch size.

    Returns:
      ``(lr, bicubic, mask)``: float32 ``[n, H, W, 3]``, ``[n, H*s, W*s,
      3]`` (None for RGB models) and ``[n, H, W, 1]``, zero outside the
      windows.
    """
    (h, w), s = shape, self.scale
    lr = np.zeros((n, h, w, 3), np.float32)
    mask = np.zeros((n, h, w, 1), np.float32)
    bic = None
    if self.channels == 1:
      bic = np.zeros((n, h * s, w * s, 3), np.float32)
    for k, windows in enumerate(canvases):
      for lr_w, bic_w, region in windows:
        lr[(k, *region)] = lr_w[0]
        mask[(k, *region)] = 1.0
        if bic is not None:
          bic[(k, *tiling.scaled(region, s))] = bic_w[0]
    return lr, bic, mask

  def _canvases_run(self, count: int) -> int:
    """How many canvases the devices compute to run ``count`` of them.

    Canvases go in batches of one per device; a last batch of several
    canvases is padded with empty ones to a full batch (one compiled shape),
    but a lone last canvas runs on one device, whose computation then takes
    every core through XLA's thread pool, instead of beside empty canvases
    (a second compiled shape, but half the work for a single small image on
    two devices).
    """
    n = len(self._devices)
    full, rest = divmod(count, n)
    return full * n + (rest if rest <= 1 else n)

  def _run_canvases(self, side: int, canvases) -> np.ndarray:
    """Runs a batch of canvases; returns ``[b, C*s, C*s, 3]`` outputs.

    Args:
      side: the canvas side ``C``.
      canvases: for each canvas (at most one per device) its windows, each
        ``(lr, bicubic, region)``: model inputs (see _window) and the LR
        region on the canvas. A lone canvas runs on the first device alone;
        otherwise one per device, missing ones empty.
    """
    n = self._canvases_run(len(canvases))
    lr, bic, mask = self._canvas_inputs((side, side), canvases, n)
    if n == 1:
      lr, bic, mask = jax.device_put((lr, bic, mask), self._devices[0])
      params = self._replicas[0]
    else:
      batch = NamedSharding(self._mesh, P("data"))
      lr, bic, mask = jax.device_put((lr, bic, mask), batch)
      params = self.params
    return np.asarray(self._masked_forward(params, lr, bic, mask))
