"""ImageNet as people have it on disk: the ILSVRC CLS-LOC tree or a folder.

:func:`find` reads either layout from a path given by the user
(``--config.data.imagenet_dir``):

* the ILSVRC download's ``ILSVRC/Data/CLS-LOC/``, with ``train/<wnid>/*.JPEG``
  and ``val/*.JPEG`` (or ``val/<wnid>/*.JPEG``, as sorted by the usual
  ``valprep.sh``); the path may be the ``CLS-LOC`` folder or any folder above
  it (up to :data:`SEARCH_DEPTH` levels). ``test/`` is never read.
* any flat folder of images (e.g. ``ImageNet800/*.JPEG``).

:func:`probe` looks at one file the way the selection rule needs, and says how
it is stored. Real ImageNet files are not all RGB JPEGs: some are greyscale
JPEGs (19 of the 800 in ImageNet800), a few training files are CMYK JPEGs
(whose RGB depends on the decoder: older TensorFlow refused them, and PIL's
and today's TensorFlow's conversions differ) and one is a PNG named
``.JPEG``. Such files are converted to RGB once, with PIL, and stored as PNG,
which is lossless: the stored pixels are exactly the converted ones, whatever
decoder reads them later. Files that cannot be decoded at all (truncated, not
an image, 16-bit) are skipped. Every conversion and skip carries a reason,
for the build log.
"""

import collections
import dataclasses
import io
import os
import re

import numpy as np
from PIL import Image

from sr_jax import color, image_io

# The config flag that names the source, quoted in error messages.
FLAG = "--config.data.imagenet_dir"

# How far below the given path the CLS-LOC folder is looked for: an ILSVRC
# download's root holds it at ILSVRC/Data/CLS-LOC, 3 levels down.
SEARCH_DEPTH = 4

# Folders of a CLS-LOC tree that hold images, not further CLS-LOC trees.
_SPLIT_DIRS = ("train", "val", "test")

# The file formats whose bytes are stored unchanged when the file is RGB and
# named for its format; everything else is converted.
_EXTENSIONS = {"JPEG": (".jpeg", ".jpg"), "PNG": (".png",)}

# The kinds of file a conversion is made for, as the build log names them.
GREYSCALE = "greyscale JPEG"
CMYK = "CMYK JPEG"


@dataclasses.dataclass(frozen=True)
class Source:
  """Where the images of one ImageNet copy are.

  Attributes:
    kind: ``"cls-loc"`` (the ILSVRC tree) or ``"folder"`` (a flat folder).
    root: the ``CLS-LOC`` folder, or the flat folder.
    pools: name -> image paths, sorted: ``"train"`` and ``"validation"``
      for a CLS-LOC tree whose ``val/`` holds images, ``"train"`` alone for
      one whose ``val/`` does not, ``"images"`` for a flat folder. With one
      pool, it feeds both splits.
  """

  kind: str
  root: str
  pools: dict[str, list[str]]


@dataclasses.dataclass(frozen=True)
class Verdict:
  """What the selection rule makes of one file.

  Attributes:
    path: the file.
    status: ``"kept"`` (eligible), ``"filtered"`` (too small) or
      ``"skipped"`` (cannot be decoded).
    reason: why it was filtered or skipped; for a kept file, the conversion
      it needs (e.g. ``"greyscale JPEG"``), or ``""`` to store its bytes.
    height: in pixels; 0 if unknown.
    width: in pixels; 0 if unknown.
  """

  path: str
  status: str
  reason: str = ""
  height: int = 0
  width: int = 0

  @property
  def name(self) -> str:
    return os.path.basename(self.path)

  @property
  def converted(self) -> bool:
    return self.status == "kept" and bool(self.reason)


def _is_image(name: str) -> bool:
  return name.lower().endswith(image_io.IMAGE_EXTENSIONS) and not (
    name.startswith(".")
  )


def _images_in(folder: str) -> list[str]:
  """The image files directly in ``folder``, sorted; [] if it is missing."""
  try:
    entries = list(os.scandir(folder))
  except (FileNotFoundError, NotADirectoryError):
    return []
  return sorted(e.path for e in entries if e.is_file() and _is_image(e.name))


def _subfolders(folder: str) -> list[str]:
  try:
    entries = list(os.scandir(folder))
  except (FileNotFoundError, NotADirectoryError, PermissionError):
    return []
  return sorted(e.path for e in entries if e.is_dir())


def _has_image(folder: str) -> bool:
  """Whether ``folder`` holds an image file; stops at the first one."""
  try:
    with os.scandir(folder) as it:
      return any(e.is_file() and _is_image(e.name) for e in it)
  except (FileNotFoundError, NotADirectoryError, PermissionError):
    return False


def _is_cls_loc(folder: str) -> bool:
  """Whether ``folder`` is laid out as CLS-LOC: ``train/<wnid>/<images>``.

  The ILSVRC download also has ``Annotations/CLS-LOC/train/<wnid>/*.xml``:
  it has the same folders but no images, so it does not pass.
  """
  return any(_has_image(d) for d in _subfolders(os.path.join(folder, "train")))


def _cls_loc_pools(root: str) -> dict[str, list[str]]:
  train = [
    p for d in _subfolders(os.path.join(root, "train")) for p in _images_in(d)
  ]
  val_dir = os.path.join(root, "val")
  validation = _images_in(val_dir) + [
    p for d in _subfolders(val_dir) for p in _images_in(d)
  ]
  pools = {"train": train}
  if validation:
    pools["validation"] = sorted(validation)
  return pools


def find(path: str) -> Source:
  """Finds the ImageNet images at or below ``path``.

  A CLS-LOC tree at ``path`` itself wins; then image files directly in
  ``path`` (a flat folder); then the shallowest CLS-LOC tree below ``path``.

  Args:
    path: the CLS-LOC folder, a folder above it, or a flat folder of images.

  Returns:
    The :class:`Source`.

  Raises:
    FileNotFoundError: ``path`` is missing or holds neither layout; the
      message names the path, the flag and the layouts.
  """
  if not os.path.isdir(path):
    raise FileNotFoundError(
      f"ImageNet folder {path!r} does not exist (set by {FLAG})"
    )
  if _is_cls_loc(path):
    return Source("cls-loc", path, _cls_loc_pools(path))
  files = _images_in(path)
  if files:
    return Source("folder", path, {"images": files})
  # Breadth first, so ILSVRC/Data/CLS-LOC is found before anything deeper.
  level = [path]
  for _ in range(SEARCH_DEPTH):
    level = [
      sub
      for folder in level
      if os.path.basename(folder) not in _SPLIT_DIRS
      for sub in _subfolders(folder)
    ]
    for folder in level:
      if _is_cls_loc(folder):
        return Source("cls-loc", folder, _cls_loc_pools(folder))
  raise FileNotFoundError(
    f"no ImageNet images in {path!r} (set by {FLAG}): expected the ILSVRC "
    "CLS-LOC tree (CLS-LOC/train/<wnid>/*.JPEG and CLS-LOC/val/*.JPEG) at "
    f"that path or up to {SEARCH_DEPTH} levels below it (e.g. "
    "ILSVRC/Data/CLS-LOC), or a folder holding image files "
    f"({', '.join(image_io.IMAGE_EXTENSIONS)})"
  )


def _conversion(path: str, image_format: str | None, mode: str) -> str:
  """The conversion a decodable file needs; ``""`` for none."""
  ext = os.path.splitext(path)[1].lower()
  named_right = ext in _EXTENSIONS.get(image_format or "", ())
  if image_format == "JPEG" and mode == "L":
    return GREYSCALE
  if image_format == "JPEG" and mode == "CMYK":
    return CMYK
  if not named_right:
    return f"{image_format} data in a {ext} file"
  if mode != "RGB":
    return f"{image_format} in mode {mode}"
  return ""


def probe(path: str, *, min_side: int) -> Verdict:
  """Applies the size rule to one file, and checks that it decodes.

  The size comes from the header, so a file that is too small is never
  decoded; an eligible one is decoded in full, so that a truncated file is
  skipped here rather than stop training later.

  Args:
    path: the image file.
    min_side: the shorter side a file needs to be kept.

  Returns:
    The :class:`Verdict`; never raises for a bad file.
  """
  try:
    with Image.open(path) as img:
      width, height = img.size
      if min(height, width) < min_side:
        return Verdict(
          path,
          "filtered",
          f"shorter side {min(height, width)} px < {min_side}",
          height,
          width,
        )
      img.load()
      image_format, mode = img.format, img.mode
  except image_io.DECODE_ERRORS as e:
    return Verdict(path, "skipped", f"cannot decode: {e}")
  if mode.startswith("I;16") or mode in ("I", "F"):
    return Verdict(path, "skipped", f"{mode} (not 8-bit)", height, width)
  conversion = _conversion(path, image_format, mode)
  return Verdict(path, "kept", conversion, height, width)


def rgb_png(path: str) -> bytes:
  """Decodes ``path`` to RGB (greys repeated, CMYK by PIL) and encodes PNG.

  Raises:
    image_io.ImageReadError: the file cannot be decoded (names it).
  """
  image = color.gray_to_rgb(image_io.read_image(path))
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
  return buf.getvalue()


def _reason_kind(v: Verdict) -> str:
  if v.status == "filtered":
    # "shorter side 200 px < 256" -> "shorter side < 256".
    return re.sub(r" \d+ px", "", v.reason)
  if v.status == "skipped":
    # "cannot decode: <the decoder's words>" -> "cannot decode".
    return v.reason.split(":")[0]
  return v.reason


def count_reasons(verdicts: list[Verdict]) -> dict[str, int]:
  """``reason -> count``, one line per kind of reason (not per file)."""
  counts = collections.Counter(_reason_kind(v) for v in verdicts)
  return dict(sorted(counts.items()))
