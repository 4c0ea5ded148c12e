"""Upscales your own images with a zoo model or a training run's checkpoint.

  python -m sr_jax.upscale photo.jpg                  # -> upscaled/photo_x3.png
  python -m sr_jax.upscale --model=espcn_rdb_x3 --output_dir=out a.png photos/
  python -m sr_jax.upscale --workdir=/tmp/sr_x3 [--step=N] --output_dir=out \
      photos/ [--compare] [--tile=256] [--overwrite]

(``--help`` prints the flags, the zoo's models and which to use; it does not
print this text.)

Inputs are files and folders (a folder's images, not its subfolders). Each
``<stem>.<ext>`` becomes ``<output_dir>/<stem>_x<scale>.png`` (default
output folder: ``upscaled/`` in the current directory), and with
``--compare`` also ``<stem>_x<scale>_compare.png`` (bicubic | SR, with a
zoomed inset).

Which model: without ``--model`` or ``--workdir``, the x3 model that is
best measured over the whole degradation grid (downscaling kernels x JPEG
qualities, ``benchmarks/degradation_table.py``), for photos degraded in
ways not known; :data:`WHICH_MODEL` and ``--help`` say which model is best
for which kind of input, and README.md shows the gains.

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
  upright (and without the tag). The ICC colour profile (wide-gamut phone
  photos carry one) is written into the PNG; other EXIF and XMP tags are
  not copied.

Large images are processed in overlapping tiles (``--tile``, see
:mod:`sr_jax.tiling`): each tile is run with a margin of at least the
model's receptive-field radius and only its centre is kept, so the result
equals the whole-image result up to float rounding (IMDN excepted: its
channel attention pools over the whole image). Images of up to
``--whole_max_pixels`` LR pixels (default 1,048,576) run whole instead,
which is faster and the same up to float rounding.

Nothing that is an input is ever overwritten, whatever the flags. An output
that already exists is skipped with a message unless ``--overwrite`` is
given; so is a second input that maps to the same output name. Skipped files
are not errors. A file that cannot be read or written is reported on stderr
and the others continue. Exit status: 0 if every file was written or
skipped, 1 if any failed, 2 for a usage error (flags, weights).
"""

import os
import re
import sys
import textwrap
import zipfile

import numpy as np
import tqdm
from absl import flags

from sr_jax import figures, fileio, image_io, imresize, inference, zoo

# Which x3 model for which input: (input, its cells of the degradation
# grid, model). A cell is "<kernel>/q<JPEG quality>" of
# benchmarks/degradation_table.py; each model named here is the one with the
# best mean PSNR over its cells of Set14 and BSD100 in
# benchmarks/results/degradation_grid.json (tests/which_model_test.py checks
# that, and benchmarks/readme_tables.py prints the README's table with the
# gains from it). The last row, every cell, is the default.
_LOSSLESS_OTHER = ("box/q0", "bilinear/q0", "lanczos/q0")
_JPEG = tuple(
  f"{k}/q{q}"
  for k in ("matlab", "box", "bilinear", "lanczos")
  for q in (75, 50)
)
WHICH_MODEL = (
  ("benchmark LR (MATLAB bicubic), lossless", ("matlab/q0",), "espcn_rdb_x3"),
  (
    "shrunk by other software (area, bilinear, Lanczos), lossless",
    _LOSSLESS_OTHER,
    "espcn_rdb_x3_real",
  ),
  (
    "saved as JPEG (phones, websites), any shrinking",
    _JPEG,
    "espcn_rdb_x3_real",
  ),
  (
    "not known (the default)",
    ("matlab/q0", *_LOSSLESS_OTHER, *_JPEG),
    "espcn_rdb_x3_real",
  ),
)
DEFAULT_MODEL = WHICH_MODEL[-1][2]
DEFAULT_OUTPUT_DIR = "upscaled"

# Images upscaled together, so that their tiles share canvases: a group
# closes at this many LR pixels (or at one image, if larger).
GROUP_PIXELS = 1 << 21

# A tile below this many LR pixels would spend nearly all its work on the
# margin around it (a 1-pixel tile of a 100x100 image is 10,000 tiles).
MIN_TILE = 32

# Images of up to this many LR pixels run whole rather than tiled (see
# inference.Predictor's whole_max_pixels), saving the tile margins computed
# twice and the empty canvas corners. Memory: ESPCN-RDB on a 768 x 1024 LR
# photo peaked at 3.4 GB of process memory whole, 3.0 GB tiled.
WHOLE_MAX_PIXELS = 1 << 20


class UsageError(ValueError):
  """Bad flags or weights: nothing was upscaled."""


def bicubic(image: np.ndarray, scale: int) -> np.ndarray:
  """MATLAB-exact bicubic upscale: uint8 stays uint8 (as the evaluator's
  baseline); uint16 becomes float32 in [0, 1] (not rounded, no clipping)."""
  if image.dtype == np.uint16:
    image = image.astype(np.float32) / 65535.0
  return imresize.imresize_in_strips(image, scale)


def to_8_bit(image: np.ndarray) -> np.ndarray:
  """uint8 as is; uint16 rounded to 8 bits; float in [0, 1] rounded."""
  if image.dtype == np.uint8:
    return image
  if image.dtype == np.uint16:
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
  return inference.quantize(image, np.uint8)


def upscale_pictures(
  predictor: inference.Predictor,
  pictures: list[image_io.Picture],
  *,
  with_bicubic: bool = False,
) -> list[tuple[image_io.Picture, np.ndarray | None]]:
  """Upscales colour (the model) and alpha (bicubic) of several pictures.

  Returns:
    For each picture ``(upscaled, bicubic)``: ``bicubic`` is the bicubic
    upscale of its colour as uint8 when ``with_bicubic``, else None.
  """
  s = predictor.scale
  bicubics = [
    bicubic(p.color, s) if predictor.channels == 1 or with_bicubic else None
    for p in pictures
  ]
  colors = predictor.upscale([p.color for p in pictures], bicubics)
  out = []
  for p, c, b in zip(pictures, colors, bicubics, strict=True):
    # uint8 only: PIL has no 16-bit modes with alpha.
    alpha = None if p.alpha is None else bicubic(p.alpha, s)
    sr = image_io.Picture(c, alpha, icc_profile=p.icc_profile)
    out.append((sr, to_8_bit(b) if with_bicubic else None))
  return out


def load_weights(
  *, model: str | None, workdir: str | None, step: int | None = None
) -> inference.Weights:
  """The weights named by ``--model`` or ``--workdir`` (neither:
  DEFAULT_MODEL).

  Raises:
    UsageError: when both ``model`` and ``workdir`` are given, or when the
      weights cannot be found or read.
  """
  if model and workdir:
    raise UsageError(
      "give one of --model=<zoo name or .npz> and --workdir=<run directory> "
      "(got both)"
    )
  if not workdir:
    model = model or DEFAULT_MODEL
  if step is not None and not workdir:
    raise UsageError("--step only applies with --workdir")
  try:
    return inference.load(zoo_name=model, workdir=workdir, step=step)
  except (OSError, ValueError, RuntimeError, KeyError, zipfile.BadZipFile) as e:
    flag = f"--model={model}" if model else f"--workdir={workdir}"
    message = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, KeyError):  # A zoo .json without a key it needs.
      message = f"its metadata has no key {e}: re-export or replace it"
    elif isinstance(e, zipfile.BadZipFile):
      message = f"not a readable weights archive ({e}): replace the file"
    if flag not in message:
      message = f"{flag}: {message}"
    raise UsageError(message) from e


def collect_inputs(
  inputs: list[str], *, scale: int
) -> tuple[list[str], list[str], list[str]]:
  """Expands folders into their images and drops duplicates.

  A folder's earlier outputs of this program (``<stem>_x<scale>.png`` or
  ``..._compare.png`` carrying sr_jax's PNG tag) are left out, so that a
  rerun into an input folder does not upscale its own outputs; name such a
  file explicitly to upscale it anyway.

  Returns:
    ``(files, errors, left_out)``: input files in order, a message for each
    argument that is neither a file nor a folder with images, and the
    earlier outputs that were left out.
  """
  files, errors, left_out, seen = [], [], [], set()
  ours = re.compile(rf".*_x{scale}(_compare)?\.png$")
  for arg in inputs:
    if os.path.isdir(arg):
      try:
        found = image_io.list_images(arg)
      except FileNotFoundError as e:
        errors.append(str(e))
        continue
      earlier = {
        p
        for p in found
        if ours.match(os.path.basename(p)) and image_io.written_by_sr_jax(p)
      }
      left_out += sorted(earlier)
      found = [p for p in found if p not in earlier]
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
  return files, errors, left_out


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


def _groups(jobs: list, pixels: list[int]):
  """Consecutive runs of ``jobs`` holding about GROUP_PIXELS LR pixels."""
  group, total = [], 0
  for job, n in zip(jobs, pixels, strict=True):
    if group and total + n > GROUP_PIXELS:
      yield group
      group, total = [], 0
    group.append(job)
    total += n
  if group:
    yield group


def upscale_files(
  files: list[str],
  *,
  predictor: inference.Predictor,
  output_dir: str,
  overwrite: bool = False,
  compare: bool = False,
  max_pixels: int | None = image_io.DEFAULT_MAX_PIXELS,
  protect: tuple[str, ...] = (),
) -> dict[str, list[str]]:
  """Upscales ``files`` into ``output_dir``; never raises for one bad file.

  Neither ``files`` nor the files in ``protect`` are ever overwritten.

  Images are read and upscaled a group at a time (their tiles share the
  model's canvases), and each output is written as soon as its group is
  done.

  Returns:
    ``{"written": [...], "skipped": [...], "failed": [...]}``, input paths.
  """
  guard = _OutputGuard(files + list(protect), overwrite=overwrite)
  result = {"written": [], "skipped": [], "failed": []}
  bar = tqdm.tqdm(
    total=len(files),
    desc="upscaling",
    unit="image",
    file=sys.stderr,
    disable=len(files) <= 1,
  )

  def fail(path: str, message: str) -> None:
    tqdm.tqdm.write(f"FAILED {message}", file=sys.stderr)
    result["failed"].append(path)
    bar.update()

  jobs, sizes = [], []
  for path in files:
    out, fig = output_paths(path, output_dir, predictor.scale)
    refusals = [r for r in map(guard.refusal, [out, fig][: 1 + compare]) if r]
    if refusals:
      tqdm.tqdm.write(f"skipping {path}: {refusals[0]}", file=sys.stderr)
      result["skipped"].append(path)
      bar.update()
      continue
    # Claimed now, so a second input with the same stem is skipped.
    guard.claim(out, path)
    if compare:
      guard.claim(fig, path)
    jobs.append((path, out, fig))
    sizes.append(image_io.pixel_count(path))

  for group in _groups(jobs, sizes):
    pictures, readable = [], []
    for path, out, fig in group:
      try:
        pictures.append(image_io.read_picture(path, max_pixels=max_pixels))
        readable.append((path, out, fig))
      except image_io.ImageReadError as e:
        fail(path, str(e))
    if not pictures:
      continue
    done = upscale_pictures(predictor, pictures, with_bicubic=compare)
    for (path, out, fig), (sr, bic) in zip(readable, done, strict=True):
      try:
        image_io.write_picture(out, sr)
        if compare:
          figure = figures.comparison(
            [("bicubic", bic), ("SR", to_8_bit(sr.color))]
          )
          image_io.write_png(fig, figure)
      except OSError as e:
        fail(path, f"{path}: cannot write ({e})")
        continue
      result["written"].append(path)
      bar.update()
  bar.close()
  return result


def _flag_values() -> flags.FlagValues:
  # Private flags, so that importing this module (say, beside sr_jax.main,
  # which also has --workdir and --step) defines nothing globally.
  fv = flags.FlagValues()
  flags.DEFINE_string(
    "model",
    None,
    f"Zoo model name (listed below), or the path of its .npz/.json "
    f"(default, without --workdir: {DEFAULT_MODEL}).",
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
    DEFAULT_OUTPUT_DIR,
    "Where to write <stem>_x<scale>.png (created; inputs are never "
    "overwritten).",
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
    inference.DEFAULT_TILE,
    f"LR tile side in pixels (at least {MIN_TILE}); 0: whole images.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "whole_max_pixels",
    WHOLE_MAX_PIXELS,
    "With --tile > 0: an image larger than one tile but of at most this many "
    "pixels runs whole instead of in tiles (faster; one compilation per size "
    "rounded up to 64 pixels); 0: tile every image.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "margin",
    -1,
    "LR context around each tile; -1: the model's receptive-field radius.",
    flag_values=fv,
  )
  flags.DEFINE_integer(
    "max_pixels",
    image_io.DEFAULT_MAX_PIXELS,
    "Refuse input images with more pixels than this (Pillow's guard against "
    "decompression bombs); 0: no limit.",
    flag_values=fv,
  )
  flags.DEFINE_bool("help", False, "Show this help.", flag_values=fv)
  return fv


def _which_model_help() -> str:
  rows = [f"  {model:<19} {kind}" for kind, _, model in WHICH_MODEL]
  return "\n".join(
    [
      "Which model (each the best measured on its inputs, x3):",
      *rows,
      f"  {'espcn_rdb_x2, _x4':<19} other scales (trained on clean LR)",
    ]
  )


def usage(fv: flags.FlagValues) -> str:
  """``--help``: the flags first, then the zoo's models and which to use."""
  flag_lines = fv.get_help(include_special_flags=False).strip().splitlines()
  # get_help heads the flags with this file's path; "flags:" says it here.
  if flag_lines and not flag_lines[0].startswith(" "):
    flag_lines = flag_lines[1:]
  models = []
  for name in zoo.names(zoo.ZOO_DIR):  # Read now, not at import.
    try:
      info = zoo.read_info(name, zoo_dir=zoo.ZOO_DIR)
      models.append(f"{name} (x{info['config']['scale']})")
    except (OSError, KeyError, ValueError):
      models.append(name)
  # Wrapped at the commas only, so a name stays with its scale.
  listed = [
    line.replace("\0", " ")
    for line in textwrap.wrap(
      ", ".join(m.replace(" ", "\0") for m in models) or "none", 76
    )
  ]
  return "\n".join(
    [
      "usage: python -m sr_jax.upscale [flags] IMAGE_OR_FOLDER...",
      "Writes <output_dir>/<stem>_x<scale>.png for each image, with "
      f"{DEFAULT_MODEL}",
      "unless --model or --workdir names other weights.",
      "",
      "flags:",
      *flag_lines,
      "",
      f"Zoo models (in {zoo.ZOO_DIR}):",
      *(f"  {line}" for line in listed),
      "",
      _which_model_help(),
      "",
      "Metadata: the ICC colour profile is kept; EXIF orientation is applied,",
      "and EXIF, XMP and other tags are not copied into the PNG.",
      "",
      "More (image kinds, tiling, exit status): python -m pydoc sr_jax.upscale",
    ]
  )


def _predictor(fv: flags.FlagValues) -> inference.Predictor:
  """The model named by the flags, ready to run (raises UsageError)."""
  if not fv.output_dir:
    raise UsageError("--output_dir must name a folder")
  if os.path.exists(fv.output_dir) and not os.path.isdir(fv.output_dir):
    raise UsageError(f"--output_dir={fv.output_dir} exists and is a file")
  tile = fv.tile
  if 0 < tile < MIN_TILE:
    print(
      f"upscale: --tile={tile} raised to {MIN_TILE}: smaller tiles spend "
      "nearly all their work on the margin around them",
      file=sys.stderr,
    )
    tile = MIN_TILE
  weights = load_weights(model=fv.model, workdir=fv.workdir, step=fv.step)
  try:
    return inference.Predictor(
      weights.config,
      weights.params,
      tile=tile,
      margin=None if fv.margin < 0 else fv.margin,
      whole_max_pixels=fv.whole_max_pixels,
    )
  except ValueError as e:
    raise UsageError(str(e)) from e


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
    print(usage(fv))
    return 0
  try:
    if not inputs:
      raise UsageError("no input files or folders given")
    predictor = _predictor(fv)
    os.makedirs(fv.output_dir, exist_ok=True)
  except (UsageError, OSError) as e:
    print(f"upscale: error: {e}", file=sys.stderr)
    return 2
  # Outputs are written to a temporary file and renamed; a run killed in
  # between left one behind (its writer's pid is gone): cleared here.
  if orphans := fileio.remove_orphans(fv.output_dir):
    print(
      f"upscale: removed {len(orphans)} temporary file(s) left in "
      f"{fv.output_dir} by an interrupted run",
      file=sys.stderr,
    )
  if not fv.model and not fv.workdir:
    print(
      f"upscale: model {DEFAULT_MODEL}, the default for photos degraded in "
      "unknown ways (--help says which model fits which input)",
      file=sys.stderr,
    )
  if predictor.warning:
    print(f"upscale: warning: {predictor.warning}", file=sys.stderr)
  files, errors, left_out = collect_inputs(inputs, scale=predictor.scale)
  if left_out:
    print(
      f"upscale: left out {len(left_out)} earlier output(s) of sr_jax found "
      f"in the input folders (e.g. {left_out[0]}); name a file to upscale "
      "it anyway",
      file=sys.stderr,
    )
  for message in errors:
    print(f"FAILED {message}", file=sys.stderr)
  result = upscale_files(
    files,
    predictor=predictor,
    output_dir=fv.output_dir,
    overwrite=fv.overwrite,
    compare=fv.compare,
    max_pixels=fv.max_pixels or None,
    protect=tuple(left_out),
  )
  failed = len(result["failed"]) + len(errors)
  print(
    f"upscale: x{predictor.scale}: {len(result['written'])} written, "
    f"{len(result['skipped'])} skipped, {failed} failed -> {fv.output_dir}",
    file=sys.stderr,
  )
  return 1 if failed else 0


def main() -> None:
  # As sr_jax.main does: one CPU device per core (canvases are spread over
  # them) and the allocator tuning, on the CPU backend only.
  from sr_jax import platform_tuning

  platform_tuning.split_cpu_devices(-1)
  platform_tuning.apply_process_tunings(keep_freed_memory=True)
  sys.exit(run(sys.argv))


if __name__ == "__main__":
  main()
