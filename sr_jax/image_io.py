"""Reading and writing images: the one reader for evaluation, training data
and upscaling, with errors that name the file and the fix.

:func:`read_picture` reads any image a user may bring (8/16-bit, grey,
colour, alpha, palette, CMYK, EXIF-rotated); :func:`read_image` is the 8-bit
colour-or-grey view of it that benchmarks and training data use.
"""

import contextlib
import dataclasses
import io
import os

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from sr_jax import fileio

IMAGE_EXTENSIONS = (
  ".png",
  ".bmp",
  ".jpg",
  ".jpeg",
  ".tif",
  ".tiff",
  ".webp",
  ".gif",
)

_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Modes read without a change of colour space.
_PROFILE_KEEPING_MODES = ("RGB", "RGBA", "RGBa", "L", "LA", "La", "P", "PA")

# Pillow's own guard against decompression bombs (about 89.5 megapixels).
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class ImageReadError(ValueError):
  """An image file could not be decoded."""


# What Pillow raises for a file that is not a decodable image.
DECODE_ERRORS = (
  UnidentifiedImageError,
  Image.DecompressionBombError,
  OSError,
  SyntaxError,
  ValueError,
)


@dataclasses.dataclass
class Picture:
  """An image as sr_jax handles it.

  Attributes:
    color: ``[H, W]`` (grey) or ``[H, W, 3]`` (RGB), uint8 or uint16.
    alpha: ``[H, W]`` of the same dtype, or None.
    icc_profile: the file's embedded ICC colour profile, when its colour
      space is the one ``color`` is in (wide-gamut phone photos carry one;
      dropping it shifts their colours), else None.
  """

  color: np.ndarray
  alpha: np.ndarray | None = None
  icc_profile: bytes | None = None


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


@contextlib.contextmanager
def _no_pillow_limit():
  """Lifts Pillow's pixel limit; :func:`read_picture` applies its own."""
  saved = Image.MAX_IMAGE_PIXELS
  Image.MAX_IMAGE_PIXELS = None
  try:
    yield
  finally:
    Image.MAX_IMAGE_PIXELS = saved


def pixel_count(path: str) -> int:
  """Width x height from the header (0 if unreadable: reading reports it)."""
  try:
    with _no_pillow_limit(), Image.open(path) as img:
      return img.size[0] * img.size[1]
  except Exception:  # Any failure is reported when the file is read.
    return 0


def read_picture(
  path: str,
  *,
  exif_transpose: bool = True,
  max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Picture:
  """Reads any supported image, keeping its depth and alpha.

  Grey (and 1-bit) stays grey; palette images become RGB or RGBA; CMYK and
  other colour modes become RGB; 16-bit grey stays uint16. Animated images
  (GIF, APNG, WebP with several frames) are refused rather than silently
  cut to their first frame.

  Args:
    path: the image file.
    exif_transpose: apply the EXIF orientation tag (users' photos).
    max_pixels: refuse larger images before decoding them (None: no limit).

  Raises:
    ImageReadError: if the file is missing, not an image, truncated, too
      large or of an unsupported kind; the message names the file.
  """
  try:
    with _no_pillow_limit(), Image.open(path) as img:
      width, height = img.size
      if max_pixels and width * height > max_pixels:
        raise ImageReadError(
          f"{path}: {width}x{height} = {width * height:,} pixels is more than "
          f"the limit of {max_pixels:,} (a guard against decompression "
          "bombs); raise it with --max_pixels if you trust the file"
        )
      frames = getattr(img, "n_frames", 1)
      if frames > 1:
        raise ImageReadError(
          f"{path}: animated image with {frames} frames; sr_jax upscales "
          "still images only: extract the frames first (e.g. with ffmpeg)"
        )
      img.load()  # Decodes now, so a truncated file fails here.
      if exif_transpose:
        img = ImageOps.exif_transpose(img)
      picture = _to_picture(img, path)
      # A profile describes the file's colour space: kept only where the
      # pixels stay in it (not for CMYK or YCbCr files converted to RGB).
      if img.mode in _PROFILE_KEEPING_MODES:
        picture.icc_profile = img.info.get("icc_profile") or None
      return picture
  except ImageReadError:
    raise
  except FileNotFoundError as e:
    raise ImageReadError(f"{path}: no such file") from e
  except DECODE_ERRORS as e:
    raise ImageReadError(
      f"{path}: cannot decode the image ({e}); the file is corrupt, truncated "
      "or not an image: replace or remove it"
    ) from e


def _to_picture(img: Image.Image, path: str) -> Picture:
  mode = img.mode
  if mode in _16_BIT_MODES:
    return Picture(np.asarray(img).astype(np.uint16))
  if mode == "I":
    values = np.asarray(img)
    if values.size and (values.min() < 0 or values.max() > 65535):
      raise ImageReadError(
        f"{path}: 32-bit integer pixels outside 0..65535 are not supported"
      )
    return Picture(values.astype(np.uint16))
  if mode == "F":
    raise ImageReadError(
      f"{path}: floating-point images (PIL mode F) are not supported; "
      "convert it to 8 or 16 bits"
    )
  if mode in ("1", "L"):
    return Picture(np.asarray(img.convert("L")).copy())
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
  return Picture(np.asarray(img.convert("RGB")).copy())


def read_image(path: str, *, exif_transpose: bool = False) -> np.ndarray:
  """Reads an 8-bit image as uint8 ``[H, W]`` (grey) or ``[H, W, 3]`` (colour).

  Palette, CMYK and other modes are converted to RGB; an alpha channel is
  dropped. The benchmark images carry no EXIF orientation, so it is ignored
  unless asked for.

  Raises:
    ImageReadError: if the file is missing, not an image, truncated or
      16-bit; the message names the file.
  """
  picture = read_picture(path, exif_transpose=exif_transpose)
  if picture.color.dtype != np.uint8:
    raise ImageReadError(
      f"{path}: 16-bit image; only 8-bit images are used here (convert it, "
      "or upscale it with python -m sr_jax.upscale, which keeps 16 bits)"
    )
  return picture.color


# Written into every PNG sr_jax makes, so that its outputs can be told apart
# from a user's files (see written_by_sr_jax).
SOFTWARE = "sr_jax"


def encode_png(image: np.ndarray, *, icc_profile: bytes | None = None) -> bytes:
  """PNG bytes, zlib level 1 (OpenCV's default): on upscaled photos about
  5x faster to write than level 6, for files about a fifth larger. An ICC
  profile, if given, is embedded (PNG's iCCP chunk)."""
  info = PngImagePlugin.PngInfo()
  info.add_text("Software", SOFTWARE)
  buf = io.BytesIO()
  extra = {"icc_profile": icc_profile} if icc_profile else {}
  Image.fromarray(np.asarray(image)).save(
    buf, format="PNG", pnginfo=info, compress_level=1, **extra
  )
  return buf.getvalue()


def written_by_sr_jax(path: str) -> bool:
  """True for a PNG that sr_jax wrote (its Software tag; header only)."""
  try:
    with Image.open(path) as img:
      return img.format == "PNG" and img.info.get("Software") == SOFTWARE
  except Exception:  # Unreadable files are reported when they are read.
    return False


def write_png(
  path: str, image: np.ndarray, *, icc_profile: bytes | None = None
) -> None:
  """Writes a uint8 or uint16 image as PNG, atomically (see fileio)."""
  fileio.write_atomic(path, encode_png(image, icc_profile=icc_profile))


def write_picture(path: str, picture: Picture) -> None:
  """Writes ``picture`` as a PNG (L, LA, RGB, RGBA or 16-bit grey), with
  its ICC profile; other metadata (EXIF, XMP) is not written."""
  image = picture.color
  if picture.alpha is not None:
    if image.dtype != np.uint8:
      raise ValueError("PIL cannot write 16-bit images with alpha")
    alpha = picture.alpha[..., None]
    image = np.concatenate([image.reshape(alpha.shape[:2] + (-1,)), alpha], -1)
  write_png(path, image, icc_profile=picture.icc_profile)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
  """``image`` saved as a baseline JPEG and decoded back, as a website would.

  Pillow (its libjpeg), quality ``quality`` (1-95), 4:2:0 chroma subsampling
  for colour, standard Huffman tables (not optimized), not progressive;
  decoded by Pillow with its default (accurate integer) IDCT.

  Args:
    image: uint8 ``[H, W]`` or ``[H, W, 3]``.
    quality: JPEG quality, 1 to 95.

  Returns:
    The decoded uint8 image, same shape.
  """
  if not 1 <= quality <= 95:
    raise ValueError(f"JPEG quality must be in 1..95, got {quality}")
  buf = io.BytesIO()
  Image.fromarray(np.asarray(image)).save(
    buf,
    format="JPEG",
    quality=int(quality),
    subsampling=2,  # 4:2:0
    optimize=False,
    progressive=False,
  )
  buf.seek(0)
  with Image.open(buf) as img:
    return np.asarray(img).copy()


def jpeg_settings(quality: int) -> dict:
  """What :func:`jpeg_round_trip` does, for results files."""
  import PIL

  return {
    "lr_jpeg_quality": int(quality),
    "encoder": f"Pillow {PIL.__version__}",
    "chroma_subsampling": "4:2:0",
    "baseline": True,
    "optimize": False,
  }
