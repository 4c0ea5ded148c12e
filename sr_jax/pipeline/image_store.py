"""The training images in memory, looked up by number.

The images are read once, when the dataset is made (from
:func:`sr_jax.datasets.reader.train_records`), into memory, and looked up
by number:

* ``data.cache=True``: decoded pixels, all images in one flat ``uint8``
  buffer in a ``tf.Variable`` (tf.data neither copies nor serialises a
  variable); a pair gathers its HR region straight from it. For sets that fit
  decoded (T91: 16 MB).
* ``data.cache=False``: only the encoded files (for ImageNet's JPEGs a
  fraction of the decoded size); each pair decodes just its region: JPEGs
  partially (``decode_and_crop_jpeg``, exact, see :func:`_decode_region`),
  other formats whole, so this suits JPEG sets, not large PNGs such as
  DIV2K. It gives the same pairs, bit for bit, as ``cache=True``.
"""

import dataclasses

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from sr_jax.datasets import reader
from sr_jax.pipeline import geometry

# Extra pixels decoded around a JPEG region. With chroma subsampled, the
# decoder interpolates each pixel's chroma from the neighbouring chroma
# samples; without a neighbour beyond the crop, the crop's edge pixels differ
# from the whole image's (measured: 1 pixel of context suffices at 4:2:0; 4
# also covers 4:1:1).
_JPEG_CONTEXT = 4


def _image_shape(encoded: tf.Tensor) -> tf.Tensor:
  """``int64 [2]``: height and width of an encoded image.

  Read from the header for JPEG and PNG (no decoding); other formats are
  decoded.
  """

  def png():
    # IHDR, right after the 8-byte signature and the chunk's length and
    # type: width, then height, as big-endian uint32.
    b = tf.cast(
      tf.io.decode_raw(tf.strings.substr(encoded, 16, 8), tf.uint8), tf.int64
    )
    width = ((b[0] * 256 + b[1]) * 256 + b[2]) * 256 + b[3]
    height = ((b[4] * 256 + b[5]) * 256 + b[6]) * 256 + b[7]
    return tf.stack([height, width])

  is_png = tf.equal(tf.strings.substr(encoded, 0, 8), b"\x89PNG\r\n\x1a\n")
  return tf.case(
    [
      (
        tf.io.is_jpeg(encoded),
        lambda: tf.cast(tf.io.extract_jpeg_shape(encoded)[:2], tf.int64),
      ),
      (is_png, png),
    ],
    default=lambda: tf.shape(reader.decode(encoded), out_type=tf.int64)[:2],
  )


def _decode_region(
  encoded: tf.Tensor,
  top: tf.Tensor,
  left: tf.Tensor,
  size: int,
  *,
  height: tf.Tensor,
  width: tf.Tensor,
) -> tf.Tensor:
  """``decode(encoded)[top:top + size, left:left + size]``, decoding less.

  A JPEG is decoded only around the region (``decode_and_crop_jpeg`` skips
  the IDCT outside it), with :data:`_JPEG_CONTEXT` pixels of context so that
  the chroma interpolation at the region's edges sees the same neighbours as
  in the whole image: the pixels are exactly the whole decode's. Other
  formats are decoded whole.

  Args:
    encoded: the image's bytes.
    top: HR row of the region (``int64``).
    left: HR column.
    size: the region's static side.
    height: the image's height (``int64``).
    width: its width.

  Returns:
    ``uint8 [size, size, 3]``.
  """

  def jpeg():
    y0 = tf.maximum(top - _JPEG_CONTEXT, 0)
    x0 = tf.maximum(left - _JPEG_CONTEXT, 0)
    y1 = tf.minimum(top + size + _JPEG_CONTEXT, height)
    x1 = tf.minimum(left + size + _JPEG_CONTEXT, width)
    window = tf.cast(tf.stack([y0, x0, y1 - y0, x1 - x0]), tf.int32)
    part = tf.io.decode_and_crop_jpeg(
      encoded, window, channels=3, dct_method="INTEGER_ACCURATE"
    )
    return part[top - y0 : top - y0 + size, left - x0 : left - x0 + size]

  def other():
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return image[top : top + size, left : left + size]

  region = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
  return tf.ensure_shape(region, [size, size, 3])


@dataclasses.dataclass(frozen=True)
class ImageStore:
  """The training images in memory, by number ``0 <= i < n``.

  Attributes:
    heights: ``int64 [n]``, before modcrop.
    widths: ``int64 [n]``.
    pixels: ``cache=True``: ``uint8 [sum(h * w), 3]``, the decoded images
      one after the other, row-major; else None.
    offsets: with ``pixels``, ``int64 [n]``: each image's first pixel.
    encoded: ``cache=False``: ``string [n]``, the encoded files; else None.
  """

  heights: np.ndarray
  widths: np.ndarray
  pixels: tf.Variable | None = None
  offsets: np.ndarray | None = None
  encoded: tf.Variable | None = None

  @property
  def num_images(self) -> int:
    return len(self.heights)

  def hr_regions(
    self,
    image: tf.Tensor,
    top: tf.Tensor,
    left: tf.Tensor,
    size: int,
  ) -> tf.Tensor:
    """``image[k]``'s ``size``-pixel square at HR ``(top[k], left[k])``.

    Args:
      image: ``int64 [K]``.
      top: ``int64 [K]``.
      left: ``int64 [K]``.
      size: static side.

    Returns:
      ``uint8 [K, size, size, 3]``.
    """
    if self.pixels is not None:
      width = tf.gather(self.widths, image)
      first = tf.gather(self.offsets, image)
      r = tf.range(size, dtype=tf.int64)
      rows = top[:, None] + r[None, :]
      cols = left[:, None] + r[None, :]
      index = (
        first[:, None, None]
        + rows[:, :, None] * width[:, None, None]
        + cols[:, None, :]
      )
      return tf.gather(self.pixels, index)

    def one(args):
      i, y, x = args
      return _decode_region(
        tf.gather(self.encoded, i),
        y,
        x,
        size,
        height=tf.gather(self.heights, i),
        width=tf.gather(self.widths, i),
      )

    return tf.map_fn(
      one,
      (image, top, left),
      fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
    )


def _usable_images(records, config, *, min_size: int):
  """Which records are big enough for a pair, from their headers.

  Returns:
    ``(keep, heights, widths)``: a flag per record, and the sizes of those
    kept.

  Raises:
    ValueError: if no image is big enough.
  """
  scale = config.scale
  headers = records.map(
    lambda ex: (_image_shape(ex["image"]), ex["name"]),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  held_out = {
    n.strip() for n in config.data.get("exclude", "").split(",") if n.strip()
  }
  keep, heights, widths = [], [], []
  for (h, w), name in headers.as_numpy_iterator():
    if name.decode(errors="replace") in held_out:
      logging.info("input_pipeline: %s held out (data.exclude)", name)
      keep.append(False)
      continue
    keep.append(h - h % scale >= min_size and w - w % scale >= min_size)
    if keep[-1]:
      heights.append(h)
      widths.append(w)
    else:
      logging.warning(
        "input_pipeline: skipping training image %s of %d x %d pixels: a "
        "pair needs %d x %d after modcrop",
        name.decode(errors="replace"),
        h,
        w,
        min_size,
        min_size,
      )
  if not heights:
    source = (
      f"--config.data.train_sets={config.data.train_sets}"
      if config.data.dataset == "image_folder"
      else f"--config.data.dataset={config.data.dataset}"
    )
    raise ValueError(
      f"no training image of {source} is at least {min_size} x "
      f"{min_size} pixels, the size a pair needs at scale {scale} with "
      f"--config.data.lr_patch_size={config.data.lr_patch_size} and a "
      f"{geometry.lr_margin(scale)}-pixel LR margin: lower the patch size or "
      "add larger images"
    )
  return keep, heights, widths


def load_images(
  config: ml_collections.ConfigDict,
  *,
  process_index: int,
  process_count: int,
  min_size: int,
) -> ImageStore:
  """Reads the training images (this share of them) into memory.

  Images too small for a pair are left out with a warning.

  Raises:
    ValueError: if no image is big enough.
  """
  records = reader.train_records(
    config, process_index=process_index, process_count=process_count
  )
  keep, heights, widths = _usable_images(records, config, min_size=min_size)
  heights = np.asarray(heights, np.int64)
  widths = np.asarray(widths, np.int64)
  kept = (
    tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(keep), records))
    .filter(lambda k, ex: k)
    .map(lambda k, ex: ex["image"])
  )
  if not config.data.cache:
    encoded = kept.batch(len(heights)).get_single_element()
    return ImageStore(
      heights=heights,
      widths=widths,
      encoded=tf.Variable(encoded, trainable=False),
    )
  sizes = heights * widths
  offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
  # Filled image by image: memory holds the store and the few images being
  # decoded, not a second copy of the set.
  pixels = tf.Variable(
    tf.zeros([int(sizes.sum()), 3], tf.uint8), trainable=False
  )
  decoded = kept.map(reader.decode, num_parallel_calls=tf.data.AUTOTUNE)
  for i, image in enumerate(decoded):
    if tuple(image.shape[:2]) != (heights[i], widths[i]):
      raise ValueError(
        f"training image {i} decodes to {image.shape[:2]}, but its header "
        f"says {heights[i]} x {widths[i]}"
      )
    pixels[offsets[i] : offsets[i] + sizes[i]].assign(
      tf.reshape(image, [-1, 3])
    )
  return ImageStore(
    heights=heights, widths=widths, pixels=pixels, offsets=offsets
  )
