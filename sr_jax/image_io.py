"""Reading and writing images with errors that name the file and the fix."""

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
  """An image file could not be decoded."""


def list_images(folder: str, *, flag: str = "") -> list[str]:
  """Returns the image files of ``folder`` (not recursive), sorted by name.

  Args:
    folder: a directory of images.
    flag: the config flag that names it, quoted in the error message.

  Raises:
    FileNotFoundError: if ``folder`` is not a directory or holds no image.
  """
  hint = f" (set by {flag})" if flag else ""
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"image folder {folder!r} does not exist{hint}")
  files = sorted(
    os.path.join(folder, f)
    for f in os.listdir(folder)
    if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
  )
  if not files:
    raise FileNotFoundError(
      f"image folder {folder!r} holds no image ({', '.join(IMAGE_EXTENSIONS)})"
      f"{hint}"
    )
  return files


def read_image(path: str, *, exif_transpose: bool = False) -> np.ndarray:
  """Reads an 8-bit image as uint8 ``[H, W]`` (grey) or ``[H, W, 3]`` (colour).

  Palette, CMYK and other modes are converted to RGB; an alpha channel is
  dropped (callers that keep alpha read it with PIL themselves).

  Args:
    path: the image file.
    exif_transpose: apply the EXIF orientation tag (for users' photos; the
      benchmark images carry none).

  Raises:
    ImageReadError: if the file is missing, not an image or truncated; the
      message names the file.
  """
  try:
    with Image.open(path) as img:
      img.load()  # Decodes now, so a truncated file fails here.
      if exif_transpose:
        img = ImageOps.exif_transpose(img)
      if img.mode in ("L", "RGB"):
        out = img
      elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        raise ImageReadError(
          f"{path}: 16-bit image; read it with read_image_any_depth"
        )
      elif img.mode in ("LA",):
        out = img.convert("L")
      else:
        out = img.convert("RGB")
      return np.asarray(out, dtype=np.uint8).copy()
  except FileNotFoundError as e:
    raise ImageReadError(f"{path}: no such file") from e
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    if isinstance(e, ImageReadError):
      raise
    raise ImageReadError(
      f"{path}: cannot decode the image ({e}); the file is corrupt, truncated "
      "or not an image: replace or remove it"
    ) from e


def write_png(path: str, image: np.ndarray) -> None:
  """Writes a uint8 or uint16 image as PNG, via a temporary file and rename.

  The rename makes a reader never see a half-written file.
  """
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    Image.fromarray(np.asarray(image)).save(tmp, format="PNG")
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
