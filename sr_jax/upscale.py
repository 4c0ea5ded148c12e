"""Upscales your own images with a zoo model or a training run's checkpoint.

  python -m sr_jax.upscale --model=espcn_rdb_x3 --output_dir=out a.jpg photos/
  python -m sr_jax.upscale --workdir=/tmp/sr_x3 [--step=N] --output_dir=out \
      photos/ [--compare] [--tile=256] [--overwrite]

Inputs are files and folders (a folder's images, not its subfolders). Each
``<stem>.<ext>`` becomes ``<output_dir>/<stem>_x<scale>.png``, and with
``--compare`` also ``<stem>_x<scale>_compare.png`` (bicubic | SR, with a
zoomed inset).

The model sees exactly what the evaluator (:mod:`sr_jax.evaluate`) feeds it:
RGB in [0, 1] for RGB models; for Y models the BT.601 luma of the image, and
the chroma of the output comes from the MATLAB-exact bicubic upscale of the
whole image. A zoo model upscaling a benchmark's LR image therefore writes
the evaluator's SR pixels.

Image kinds:

* RGB stays RGB; grey (and 1-bit) stays grey: it goes through the model as
  three equal channels and comes back as the BT.601 luma of the output.
* An alpha channel (RGBA, LA, palette with transparency) is upscaled with
  the bicubic resize and written back; palette images become RGB(A).
* 16-bit grey PNGs (PIL modes ``I;16*``, and ``I`` with values in
  0..65535) stay 16-bit: the model runs on value / 65535 and the output is
  rounded to uint16. Pillow decodes 48/64-bit RGB(A) PNGs to 8 bits per
  channel, so those come out as 8-bit RGB(A).
* The EXIF orientation is applied first, so a rotated photo comes out
  upright (and without the tag).

Large images are processed in overlapping tiles (``--tile``, see
:mod:`sr_jax.tiling`): each tile is run with a margin of at least the
model's receptive-field radius and only its centre is kept, so the result
equals the whole-image result up to float rounding (IMDN excepted: its
channel attention pools over the whole image).

Nothing that is an input is ever overwritten, whatever the flags. An output
that already exists is skipped with a message unless ``--overwrite`` is
given; so is a second input that maps to the same output name. Skipped files
are not errors. A file that cannot be read or written is reported on stderr
and the others continue. Exit status: 0 if every file was written or
skipped, 1 if any failed, 2 for a usage error (flags, weights).
"""

import dataclasses
import json
import os
import sys

import jax
import ml_collections
import numpy as np
import tqdm
from absl import flags
from PIL import Image, ImageOps, UnidentifiedImageError

from sr_jax import (
  color,
  evaluate,
  figures,
  image_io,
  metrics,
  models,
  tiling,
  zoo,
)

DEFAULT_TILE = 256

# BT.601 luma weights: what PIL's convert("L") and the Y of sr_jax.color use
# (up to the 219/255 studio-swing scale), to bring grey outputs back to one
# channel.
_LUMA = np.array([0.299, 0.587, 0.114])

_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class UsageError(ValueError):
  """Bad flags or weights: nothing was upscaled."""


@dataclasses.dataclass
class Picture:
  """An image as the upscaler handles it.

  Attributes:
    color: ``[H, W]`` (grey) or ``[H, W, 3]`` (RGB), uint8 or uint16.
    alpha: ``[H, W]`` of the same dtype, or None.
  """

  color: np.ndarray
  alpha: np.ndarray | None = None


def read_picture(path: str) -> Picture:
  """Reads an image for upscaling, EXIF orientation applied.

  Raises:
    image_io.ImageReadError: if the file is missing, not an image, truncated
      or of an unsupported kind; the message names the file.
  """
  try:
    with Image.open(path) as img:
      img.load()  # Decodes now, so a truncated file fails here.
      return _to_picture(ImageOps.exif_transpose(img), path)
  except image_io.ImageReadError:
    raise
  except FileNotFoundError as e:
    raise image_io.ImageReadError(f"{path}: no such file") from e
  except (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
  ) as e:
    raise image_io.ImageReadError(
      f"{path}: cannot decode the image ({e}); the file is corrupt, truncated "
      "or not an image"
    ) from e


def _to_picture(img: Image.Image, path: str) -> Picture:
  mode = img.mode
  if mode in _16_BIT_MODES:
    return Picture(np.asarray(img).astype(np.uint16))
  if mode == "I":
    values = np.asarray(img)
    if values.size and (values.min() < 0 or values.max() > 65535):
      raise image_io.ImageReadError(
        f"{path}: 32-bit integer pixels outside 0..65535 are not supported"
      )
    return Picture(values.astype(np.uint16))
  if mode == "F":
    raise image_io.ImageReadError(
      f"{path}: floating-point images (PIL mode F) are not supported; "
      "convert it to 8 or 16 bits"
    )
  if mode in ("1", "L"):
    return Picture(np.asarray(img.convert("L")))
  if mode in ("LA", "La"):
    la = np.asarray(img.convert("LA"))
    return Picture(la[..., 0].copy(), la[..., 1].copy())
  if mode in ("P", "PA"):
    has_alpha = mode == "PA" or "transparency" in img.info
    img = img.convert("RGBA" if has_alpha else "RGB")
    mode = img.mode
  if mode in ("RGBA", "RGBa"):
    rgba = np.asarray(img.convert("RGBA"))
    return Picture(rgba[..., :3].copy(), rgba[..., 3].copy())
  return Picture(np.asarray(img.convert("RGB")))


def write_picture(path: str, picture: Picture) -> None:
  """Writes ``picture`` as a PNG (L, LA, RGB, RGBA or 16-bit grey)."""
  image = picture.color
  if picture.alpha is not None:
    if image.dtype != np.uint8:
      raise ValueError("PIL cannot write 16-bit images with alpha")
    alpha = picture.alpha[..., None]
    image = np.concatenate([image.reshape(alpha.shape[:2] + (-1,)), alpha], -1)
  image_io.write_png(path, image)


def _to_8_bit(image: np.ndarray) -> np.ndarray:
  """uint8 as is; uint16 rounded to 8 bits; float in [0, 1] rounded."""
  if image.dtype == np.uint8:
    return image
  if image.dtype == np.uint16:
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
  return metrics.to_uint8(image)


def _sr_forward(model, channels: int, params, lr, bicubic):
  """``evaluate.make_sr_function``'s forward pass, float in, float out.

  Args:
    model: the Flax module.
    channels: 1 (Y) or 3 (RGB).
    params: its parameters.
    lr: ``[1, h, w, 3]`` RGB in [0, 1].
    bicubic: ``[1, h * s, w * s, 3]`` RGB in [0, 1], the bicubic upscale of
      ``lr`` (its chroma is the Y model's); unused by RGB models.

  Returns:
    ``[1, h * s, w * s, 3]`` RGB, not clipped.
  """
  return evaluate.sr_forward(model, params, lr, bicubic, channels=channels)


class Upscaler:
  """A model and its weights, ready to upscale images of any size.

  Attributes:
    config: the model's config.
    scale: the upscaling factor.
    channels: 1 (Y model) or 3 (RGB model).
    tile: LR tile side; 0 runs every image whole.
    margin: LR context around each tile.
    warning: why tiling is not exact for this model, or None.
  """

  def __init__(
    self, config, params, *, tile: int = DEFAULT_TILE, margin: int = -1
  ):
    """Builds the model.

    Args:
      config: the config that made ``params`` (``config.model``,
        ``config.scale``).
      params: the parameters.
      tile: LR tile side in pixels; 0 for whole images.
      margin: LR pixels of context around each tile; negative for the
        model's receptive-field radius (see :mod:`sr_jax.tiling`).
    """
    if tile < 0:
      raise UsageError(f"--tile must be >= 0, got {tile}")
    self.config = config
    self.scale = int(config.scale)
    self.channels = int(config.model.channels)
    self.tile = tile
    default, self.warning = tiling.default_margin(config)
    self.margin = default if margin < 0 else margin
    model = models.create(config)
    self._params = jax.device_put(params)
    self._forward = jax.jit(
      lambda p, lr, bic: _sr_forward(model, self.channels, p, lr, bic)
    )

  def bicubic(self, image: np.ndarray) -> np.ndarray:
    """MATLAB-exact bicubic upscale: uint8 stays uint8 (as the evaluator's
    baseline); uint16 becomes float32 in [0, 1] (not rounded, no clipping)."""
    if image.dtype == np.uint16:
      image = image.astype(np.float32) / 65535.0
    return tiling.imresize_in_strips(image, self.scale)

  def upscale(
    self,
    image: np.ndarray,
    *,
    bicubic: np.ndarray | None = None,
    progress: bool = False,
  ) -> np.ndarray:
    """Super-resolves one image, tile by tile.

    Args:
      image: ``[h, w]`` (grey) or ``[h, w, 3]``, uint8 or uint16.
      bicubic: ``self.bicubic(image)``, if the caller has it; Y models need
        it and compute it otherwise.
      progress: show a progress bar over the tiles (stderr).

    Returns:
      ``[h * s, w * s(, 3)]``, the dtype and layout of ``image``.
    """
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
      raise ValueError(
        f"upscale: expected uint8/uint16 [h, w] or [h, w, 3], got "
        f"{image.dtype} {image.shape}"
      )
    if self.channels == 1 and bicubic is None:
      bicubic = self.bicubic(image)
    max_value = 255.0 if image.dtype == np.uint8 else 65535.0
    s = self.scale
    h, w = image.shape[:2]
    out = np.empty((h * s, w * s) + image.shape[2:], image.dtype)
    parts = tiling.tiles(h, w, tile=self.tile, margin=self.margin)
    for part in tqdm.tqdm(
      parts,
      desc="tiles",
      file=sys.stderr,
      leave=False,
      disable=not progress or len(parts) < 2,
    ):
      # The same conversions as the evaluator: float32 division of the
      # integer image; for uint8 the bicubic is the rounded uint8 baseline.
      lr = (
        color.gray_to_rgb(image[part.window])[None].astype(np.float32)
        / max_value
      )
      bic = None
      if self.channels == 1:
        bic = color.gray_to_rgb(bicubic[tiling.scaled(part.window, s)])[None]
        if bic.dtype == np.uint8:
          bic = bic.astype(np.float32) / 255.0
      sr = np.asarray(self._forward(self._params, lr, bic))[0]
      out[tiling.scaled(part.keep, s)] = _quantize(
        sr[tiling.scaled(part.inner, s)], image.dtype, grey=image.ndim == 2
      )
    return out

  def upscale_picture(
    self,
    picture: Picture,
    *,
    with_bicubic: bool = False,
    progress: bool = False,
  ) -> tuple[Picture, np.ndarray | None]:
    """Upscales colour (model) and alpha (bicubic).

    Returns:
      ``(picture, bicubic)``: the upscaled picture and, when
      ``with_bicubic``, the bicubic upscale of its colour as uint8.
    """
    bicubic = None
    if self.channels == 1 or with_bicubic:
      bicubic = self.bicubic(picture.color)
    color_sr = self.upscale(picture.color, bicubic=bicubic, progress=progress)
    alpha = None
    if picture.alpha is not None:
      # uint8 only: PIL has no 16-bit modes with alpha.
      alpha = self.bicubic(picture.alpha)
    return Picture(color_sr, alpha), (
      _to_8_bit(bicubic) if with_bicubic else None
    )


def upscale_array(
  image: np.ndarray,
  *,
  config,
  params,
  tile: int = DEFAULT_TILE,
  margin: int = -1,
) -> np.ndarray:
  """Super-resolves one uint8/uint16 ``[h, w(, 3)]`` image (see
  :meth:`Upscaler.upscale`). Compiles the model anew: for several images,
  make one :class:`Upscaler` and call its ``upscale``."""
  return Upscaler(config, params, tile=tile, margin=margin).upscale(image)


def _quantize(sr: np.ndarray, dtype, *, grey: bool) -> np.ndarray:
  """Clips float RGB to [0, 1] and rounds it to ``dtype`` (as evaluation)."""
  sr = np.clip(np.asarray(sr, np.float64), 0.0, 1.0)
  if grey:
    sr = sr @ _LUMA
  if dtype == np.uint8:
    return metrics.to_uint8(sr)
  return np.floor(sr * 65535.0 + 0.5).astype(np.uint16)


def load_weights(
  *, model: str | None, workdir: str | None, step: int | None = None
):
  """The config and params named by ``--model`` or ``--workdir``.

  Args:
    model: a zoo name, or the path of a zoo ``.npz``/``.json``.
    workdir: a training run's directory (its ``config.json`` and latest or
      ``step``-th checkpoint).
    step: with ``workdir``, the checkpoint step.

  Returns:
    ``(config, params)``.

  Raises:
    UsageError: unless exactly one of ``model`` and ``workdir`` is given, or
      when the weights cannot be found.
  """
  if bool(model) == bool(workdir):
    raise UsageError(
      "give exactly one of --model=<zoo name or .npz> and --workdir=<run "
      f"directory> (got {'both' if model else 'neither'})"
    )
  if step is not None and not workdir:
    raise UsageError("--step only applies with --workdir")
  if model:
    try:
      return zoo.load(model)
    except FileNotFoundError as e:
      raise UsageError(f"--model={model}: {e}") from e
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise UsageError(
      f"--workdir={workdir}: no config.json there; is it a training run's "
      "directory?"
    )
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  # Imported here: Orbax is only needed for checkpoints.
  from sr_jax import checkpointing

  try:
    params, _ = checkpointing.restore_params(config, workdir, step=step)
  except FileNotFoundError as e:
    raise UsageError(str(e)) from e
  return config, params


def collect_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
  """Expands folders into their images and drops duplicates.

  Returns:
    ``(files, errors)``: input files in order, and a message for each
    argument that is neither a file nor a folder with images.
  """
  files, errors, seen = [], [], set()
  for arg in inputs:
    if os.path.isdir(arg):
      try:
        found = image_io.list_images(arg)
      except FileNotFoundError as e:
        errors.append(str(e))
        continue
    elif os.path.exists(arg):
      found = [arg]
    else:
      errors.append(f"{arg}: no such file or folder")
      continue
    for path in found:
      real = os.path.realpath(path)
      if real not in seen:
        seen.add(real)
        files.append(path)
  return files, errors


def output_paths(path: str, output_dir: str, scale: int) -> tuple[str, str]:
  """``(<stem>_x<scale>.png, <stem>_x<scale>_compare.png)`` in output_dir."""
  stem = os.path.splitext(os.path.basename(path))[0]
  base = os.path.join(output_dir, f"{stem}_x{scale}")
  return base + ".png", base + "_compare.png"


class _OutputGuard:
  """Decides which outputs may be written: never an input, never twice."""

  def __init__(self, inputs: list[str], *, overwrite: bool):
    self._overwrite = overwrite
    self._inputs = {os.path.realpath(p) for p in inputs}
    # Hard links (and case-insensitive file systems) defeat realpath; the
    # inode does not.
    self._inodes = set()
    for p in inputs:
      try:
        st = os.stat(p)
      except OSError:
        continue
      self._inodes.add((st.st_dev, st.st_ino))
    self._written: dict[str, str] = {}

  def refusal(self, path: str) -> str | None:
    """Why ``path`` must not be written, or None."""
    real = os.path.realpath(path)
    if real in self._inputs:
      return f"{path} is an input (inputs are never overwritten)"
    try:
      st = os.stat(path)
    except OSError:
      st = None
    if st is not None and (st.st_dev, st.st_ino) in self._inodes:
      return f"{path} is an input (inputs are never overwritten)"
    if real in self._written:
      return f"{path} was already written for {self._written[real]}"
    if os.path.lexists(path) and not self._overwrite:
      return f"{path} exists (pass --overwrite to replace it)"
    return None

  def claim(self, path: str, source: str) -> None:
    self._written[os.path.realpath(path)] = source


def upscale_files(
  files: list[str],
  *,
  upscaler: Upscaler,
  output_dir: str,
  overwrite: bool = False,
  compare: bool = False,
) -> dict[str, list[str]]:
  """Upscales ``files`` into ``output_dir``; never raises for one bad file.

  Returns:
    ``{"written": [...], "skipped": [...], "failed": [...]}``, input paths.
  """
  os.makedirs(output_dir, exist_ok=True)
  guard = _OutputGuard(files, overwrite=overwrite)
  result = {"written": [], "skipped": [], "failed": []}
  bar = tqdm.tqdm(
    files,
    desc="upscaling",
    unit="image",
    file=sys.stderr,
    disable=len(files) <= 1,
  )
  for path in bar:
    out, fig = output_paths(path, output_dir, upscaler.scale)
    targets = [out, fig] if compare else [out]
    refusals = [r for r in map(guard.refusal, targets) if r]
    if refusals:
      tqdm.tqdm.write(f"skipping {path}: {refusals[0]}", file=sys.stderr)
      result["skipped"].append(path)
      continue
    try:
      picture = read_picture(path)
      sr, bicubic = upscaler.upscale_picture(
        picture, with_bicubic=compare, progress=len(files) <= 1
      )
      write_picture(out, sr)
      guard.claim(out, path)
      if compare:
        figure = figures.comparison(
          [("bicubic", bicubic), ("SR", _to_8_bit(sr.color))]
        )
        image_io.write_png(fig, figure)
        guard.claim(fig, path)
    except image_io.ImageReadError as e:
      tqdm.tqdm.write(f"FAILED {e}", file=sys.stderr)
      result["failed"].append(path)
      continue
    except OSError as e:
      tqdm.tqdm.write(f"FAILED {path}: cannot write ({e})", file=sys.stderr)
      result["failed"].append(path)
      continue
    result["written"].append(path)
  bar.close()
  return result


def _flag_values() -> flags.FlagValues:
  # Private flags, so that importing this module (say, beside sr_jax.main,
  # which also has --workdir and --step) defines nothing globally.
  fv = flags.FlagValues()
  flags.DEFINE_string(
    "model",
    None,
    "Zoo model name, or the path of its .npz/.json.",
    flag_values=fv,
  )
  flags.DEFINE_string(
    "workdir",
    None,
    "A training run's directory: its latest checkpoint.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "step",
    None,
    "With --workdir: the checkpoint step (default: latest).",
    flag_values=fv,
  )
  flags.DEFINE_string(
    "output_dir",
    None,
    "Where to write <stem>_x<scale>.png (created).",
    flag_values=fv,
  )
  flags.DEFINE_bool(
    "overwrite",
    False,
    "Replace existing outputs (never inputs).",
    flag_values=fv,
  )
  flags.DEFINE_bool(
    "compare",
    False,
    "Also write <stem>_x<scale>_compare.png.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "tile",
    DEFAULT_TILE,
    "LR tile side in pixels for large images; 0: whole images.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "margin",
    -1,
    "LR context around each tile; -1: the model's receptive-field radius.",
    flag_values=fv,
  )
  flags.DEFINE_bool("help", False, "Show this help.", flag_values=fv)
  return fv


def run(argv: list[str]) -> int:
  """The command line: ``argv[0]`` is the program name.

  Returns:
    The exit status: 0 all written or skipped, 1 some failed, 2 usage error.
  """
  fv = _flag_values()
  try:
    inputs = fv(argv)[1:]
  except flags.Error as e:
    print(f"upscale: {e}", file=sys.stderr)
    return 2
  if fv.help:
    print(__doc__ + "\n" + fv.get_help())
    return 0
  try:
    if not fv.output_dir:
      raise UsageError("--output_dir is required")
    if not inputs:
      raise UsageError("no input files or folders given")
    config, params = load_weights(
      model=fv.model, workdir=fv.workdir, step=fv.step
    )
    upscaler = Upscaler(config, params, tile=fv.tile, margin=fv.margin)
  except (UsageError, ValueError) as e:
    print(f"upscale: error: {e}", file=sys.stderr)
    return 2
  if upscaler.warning and fv.tile:
    print(f"upscale: warning: {upscaler.warning}", file=sys.stderr)
  files, errors = collect_inputs(inputs)
  for message in errors:
    print(f"FAILED {message}", file=sys.stderr)
  result = upscale_files(
    files,
    upscaler=upscaler,
    output_dir=fv.output_dir,
    overwrite=fv.overwrite,
    compare=fv.compare,
  )
  failed = len(result["failed"]) + len(errors)
  print(
    f"upscale: x{upscaler.scale}: {len(result['written'])} written, "
    f"{len(result['skipped'])} skipped, {failed} failed -> {fv.output_dir}",
    file=sys.stderr,
  )
  return 1 if failed else 0


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == "__main__":
  main()
