"""Training input: random (LR, HR) patch pairs with the benchmarks' degradation.

Every benchmark makes its LR input as ``imresize(modcrop(HR, s), 1 / s)`` of
the *whole* image (MATLAB bicubic, :mod:`sr_jax.imresize`). The pairs made
here are exactly what that would give: for an LR crop at ``(y, x)`` of size
``p``, the HR patch is ``HR[y*s:(y+p)*s, x*s:(x+p)*s]`` and the LR patch
equals ``imresize(modcrop(HR, s), 1/s)[y:y+p, x:x+p]`` pixel for pixel. To get
that without resizing whole images, the LR is computed from an HR region of
``(p + 2m) * s`` pixels around the crop, where ``m`` (:func:`lr_margin`, 2 for
``s`` = 2, 3, 4) covers the bicubic kernel's support; a crop near the image
border takes its region flush with the border, where the region's mirror
padding is the full image's.

Flips and 90-degree rotations (the 8 symmetries of the square) are applied to
the finished pair, never before the resize: MATLAB's resize rounds after each
1-D pass, rows first, so resizing a rotated image is not exactly the rotation
of the resized one.

The yielded batches hold uint8 RGB (C = 3) whatever ``config.model.channels``
is: uint8 is a quarter of float32 to send to the device, and the train step
converts to [0, 1] floats and, for Y models, to Y there.

**Stateless, row by row.** Row ``r`` of the global batch of step ``t`` is a
pure function of ``(config.seed, t, r)``: its image, crop position, symmetry
and degradations come from stateless TF random ops whose seeds are folded
from those three integers (:func:`_example_key`). Hence:

* each of N processes makes only its own ``B / N`` rows of each global batch
  of ``B``, and (with ``host_sharding=by_batch``) the global batch is the same
  bit for bit for any N;
* a stream that starts at step S is generated directly at S: resuming costs
  the same at step 10**6 as at step 10, with no batch replayed and no
  iterator state saved;
* there is no shuffle buffer (it would be state): the draws below already
  mix the images within every batch.

**Which image.** With ``n`` images and ``K = data.patches_per_image``, an
epoch is ``n * K`` pairs. Pair ``g = t * B + r`` is slot ``g mod nK`` of
epoch ``g div nK``; a stateless permutation of the epoch's slots, seeded by
``(seed, epoch)`` (``tf.random.experimental.index_shuffle``: O(1) per pair,
nothing materialised, so it works for ImageNet's 50,000 images as for T91's
91), maps the slot to image ``slot div K``. So every image gives exactly K
pairs per epoch, as with the classic "K crops per image visit", but the K
pairs are spread over the epoch. A plain uniform draw per pair would be as
cheap, but within an epoch it leaves some images out and repeats others.

**Where the images live.** The images are read once, when the dataset is
made (from :func:`train_records`), into memory, and looked up by number:

* ``data.cache=True``: decoded pixels, all images in one flat ``uint8``
  buffer in a ``tf.Variable`` (tf.data neither copies nor serialises a
  variable); a pair gathers its HR region straight from it. For sets that fit
  decoded (T91: 16 MB).
* ``data.cache=False``: only the encoded files (for ImageNet's JPEGs a
  fraction of the decoded size); each pair decodes just its region: JPEGs
  partially (``decode_and_crop_jpeg``, exact, see :func:`_decode_region`),
  other formats whole, so this suits JPEG sets, not large PNGs such as
  DIV2K. It gives the same pairs, bit for bit, as ``cache=True``.

``data.host_sharding`` says which images a process holds:

* ``by_batch`` (default): all of them; every process can make every row, and
  runs do not depend on the process count.
* ``by_file``: only its share (``train_records`` with this process's index),
  for sets too large to hold on every host even encoded. Its rows draw from
  its own images (same permutation scheme over the local images), so the
  batches depend on the process count; still stateless, so resuming is as
  cheap.

**Degradations** (off by default; with the defaults no degradation op is
in the graph, so the pairs are the benchmark-exact ones above): after the
exact resize and before the symmetry, the LR crop optionally gets Gaussian
noise (``data.noise_sigma``) and then a JPEG round trip
(``data.jpeg_quality``, ``data.jpeg_clean_fraction``); see :func:`_degrade`.
Each draws from its own seeds, so turning one on changes nothing else about
the pairs, and a degraded LR is exactly the degradation of the clean,
benchmark-exact LR crop. A blur before the downsampling is not offered: the
blur's reach would add to the bicubic kernel's, widening the LR margin (and
the smallest usable image) that keeps the resize exact.
"""

import dataclasses
import functools
import math

import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from sr_jax import imresize, imresize_tf
from sr_jax.datasets import div2k, image_folder, imagenet_sr

DATASETS = ("image_folder", "div2k", "imagenet_sr")

# Pairs per image per epoch; used when the config has no
# ``data.patches_per_image``.
PATCHES_PER_IMAGE = 16


# Extra pixels decoded around a JPEG region. With chroma subsampled, the
# decoder interpolates each pixel's chroma from the neighbouring chroma
# samples; without a neighbour beyond the crop, the crop's edge pixels differ
# from the whole image's (measured: 1 pixel of context suffices at 4:2:0; 4
# also covers 4:1:1).
_JPEG_CONTEXT = 4

# Purposes of the per-example draws. Each folds its own constant into the
# example's key, so a new kind of draw (a degradation) changes no other.
_DRAW_CROP = 1
_DRAW_SYMMETRY = 2
_DRAW_JPEG_CLEAN = 3
_DRAW_JPEG_QUALITY = 4
_DRAW_NOISE_SIGMA = 5
_DRAW_NOISE = 6

# Crop positions are drawn as 31 random bits and scaled to the image's range
# once its size is known (see :func:`_place_regions`).
_POSITION_BITS = 31


@functools.cache
def lr_margin(scale: int) -> int:
  """LR pixels of context that make a region's resize equal the full image's.

  LR pixel ``i`` reads HR pixels from the block ``[i*s, (i+1)*s)`` and, with
  the kernel stretched by ``s`` for antialiasing, about ``1.5 * s + 1`` more
  on each side; the margin is that reach rounded up to whole LR pixels.

  Args:
    scale: the integer SR factor ``s``.

  Returns:
    ``m`` such that the LR of an HR region equals the full image's LR on all
    pixels at least ``m`` LR pixels inside the region (2 for s = 2, 3, 4, 8).
  """
  num_lr = 16
  indices, _ = imresize.resize_weights(num_lr * scale, num_lr, 1.0 / scale)
  # A middle pixel: no tap is mirrored, so the taps show the true reach.
  i = num_lr // 2
  before = i * scale - int(indices[i].min())
  after = int(indices[i].max()) - ((i + 1) * scale - 1)
  return math.ceil(max(before, after, 0) / scale)


def min_image_size(scale: int, lr_patch_size: int) -> int:
  """The smallest modcropped HR side that gives a pair: ``(p + 2m) * s``."""
  return (lr_patch_size + 2 * lr_margin(scale)) * scale


def _gather_windows(x: tf.Tensor, starts: tf.Tensor, size: int, axis: int):
  """``x[k, ..., starts[k]:starts[k] + size, ...]`` along ``axis``, per k.

  Args:
    x: ``[K, ...]`` (``batch_dims=1``) or an unbatched tensor when ``axis`` is
      0 (the same ``x`` for every window).
    starts: ``int32 [K]``.
    size: static window length.
    axis: the axis to cut.
  """
  idx = starts[:, None] + tf.range(size, dtype=starts.dtype)[None, :]
  if axis == 0:
    return tf.gather(x, idx, axis=0)
  return tf.gather(x, idx, axis=axis, batch_dims=1)


def _d4(x: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
  """Applies symmetry ``t[k]`` of the square to ``x[k]``.

  Args:
    x: ``[K, n, n, C]`` square patches.
    t: ``int32 [K]`` in ``[0, 8)``; bit 0 flips left-right, then bit 1 flips
      upside down, then bit 2 transposes: the 8 combinations are the 8
      symmetries (flips and quarter turns).

  Returns:
    ``[K, n, n, C]``.
  """

  def select(bit, transformed, original):
    chosen = tf.equal(t // bit % 2, 1)[:, None, None, None]
    return tf.where(chosen, transformed, original)

  # Three whole-batch transforms and selects: cheaper than building all
  # eight variants of every patch.
  x = select(1, tf.reverse(x, axis=[2]), x)
  x = select(2, tf.reverse(x, axis=[1]), x)
  return select(4, tf.transpose(x, [0, 2, 1, 3]), x)


def _resize_regions(hr_regions: tf.Tensor, scale: int) -> tf.Tensor:
  """MATLAB-exact ``1/scale`` resize of K square HR regions at once.

  Args:
    hr_regions: ``uint8 [K, R*s, R*s, C]``.
    scale: ``s``.

  Returns:
    ``uint8 [K, R, R, C]``.
  """
  k, size, _, channels = hr_regions.shape
  region = size // scale
  # One resize for all K regions: channels are resized independently, so the
  # regions ride along the channel axis.
  stacked = tf.reshape(tf.transpose(hr_regions, [1, 2, 0, 3]), [size, size, -1])
  lr_regions = imresize_tf.imresize_tf(stacked, 1.0 / scale)
  return tf.transpose(
    tf.reshape(lr_regions, [region, region, k, channels]), [2, 0, 1, 3]
  )


def _cut_pairs(
  lr_regions: tf.Tensor,
  hr_regions: tf.Tensor,
  dy: tf.Tensor,
  dx: tf.Tensor,
  *,
  scale: int,
  lr_patch_size: int,
) -> dict[str, tf.Tensor]:
  """The LR crops at ``(dy, dx)`` in their regions and the matching HR.

  Args:
    lr_regions: ``uint8 [K, R, R, C]``.
    hr_regions: ``uint8 [K, R*s, R*s, C]``.
    dy: ``int32 [K]``, the crop's top in its LR region.
    dx: ``int32 [K]``, its left.
    scale: ``s``.
    lr_patch_size: ``p``.

  Returns:
    ``{"lr": uint8 [K, p, p, C], "hr": uint8 [K, p*s, p*s, C]}``.
  """
  s, p = scale, lr_patch_size
  lr = _gather_windows(lr_regions, dy, p, axis=1)
  lr = _gather_windows(lr, dx, p, axis=2)
  hr = _gather_windows(hr_regions, dy * s, p * s, axis=1)
  hr = _gather_windows(hr, dx * s, p * s, axis=2)
  return {"lr": lr, "hr": hr}


def _decode(encoded: tf.Tensor) -> tf.Tensor:
  """Encoded PNG/JPEG/BMP bytes -> ``uint8 [H, W, 3]``.

  JPEGs (ImageNet) use the accurate integer DCT rather than TF's
  system-specific default, which is usually the faster, less exact one.
  """
  image = tf.cond(
    tf.io.is_jpeg(encoded),
    lambda: tf.io.decode_jpeg(
      encoded, channels=3, dct_method="INTEGER_ACCURATE"
    ),
    lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False),
  )
  image.set_shape([None, None, 3])
  return image


def _num_train_examples(b: tfds.core.DatasetBuilder) -> int | None:
  """The size of the ``train`` split, or None where TFDS does not know it."""
  try:
    n = b.info.splits["train"].num_examples
  except (KeyError, TypeError, AttributeError):
    return None
  return int(n) if isinstance(n, (int, np.integer)) and n > 0 else None


def _read_tfds(
  b: tfds.core.DatasetBuilder,
  *,
  image_key: str,
  name_key: str | None,
  skip_keys: tuple[str, ...] = (),
  process_index: int,
  process_count: int,
) -> tf.data.Dataset:
  """This process's share of a prepared builder's ``train`` split.

  Returns:
    ``{"image": encoded bytes, "name": string}`` in the stored order.
  """
  n = _num_train_examples(b)
  if n is not None and n < process_count:
    raise ValueError(
      f"TFDS {b.info.full_name} has {n} training images, fewer than the "
      f"{process_count} processes; every process needs at least one"
    )
  # Whole images per process: even_splits where the size is known (each of
  # 91 images goes to exactly one of 2 hosts, 46 + 45); shard() otherwise.
  split = (
    tfds.even_splits("train", n=process_count, drop_remainder=False)[
      process_index
    ]
    if n is not None
    else "train"
  )
  ds = b.as_dataset(
    split=split,
    # Decoded by the pipeline: it picks the JPEG DCT, and without caching it
    # shuffles the small encoded images rather than decoded ones.
    decoders={
      key: tfds.decode.SkipDecoding() for key in (image_key, *skip_keys)
    },
    shuffle_files=False,
    read_config=tfds.ReadConfig(try_autocache=False),
  )
  if n is None and process_count > 1:
    ds = ds.shard(process_count, process_index)

  def record(ex):
    name = ex[name_key] if name_key else tf.constant("")
    return {"image": ex[image_key], "name": name}

  return ds.map(record)


def _data_dir(config: ml_collections.ConfigDict) -> str | None:
  return config.data.tfds_data_dir or None


def image_folder_records(
  config: ml_collections.ConfigDict, *, process_index: int, process_count: int
) -> tf.data.Dataset:
  """The folders of ``config.data.train_sets``, built into TFDS if needed."""
  names = [n.strip() for n in config.data.train_sets.split(",") if n.strip()]
  if not names:
    raise ValueError("--config.data.train_sets names no image folder")
  parts = [
    _read_tfds(
      image_folder.builder(
        name, source_dir=config.data.train_dir, data_dir=_data_dir(config)
      ),
      image_key="image",
      name_key="name",
      process_index=process_index,
      process_count=process_count,
    )
    for name in names
  ]
  return functools.reduce(lambda a, b: a.concatenate(b), parts)


def div2k_records(
  config: ml_collections.ConfigDict, *, process_index: int, process_count: int
) -> tf.data.Dataset:
  """The 800 DIV2K training HR images (the ``hr`` of ``div2k/bicubic_x*``).

  The catalog's LR images are ignored: LR is made here, MATLAB-exact. DIV2K
  must be prepared in the TFDS data dir (:func:`div2k.builder` says how if
  it is not); a prepared config of any scale serves.
  """
  # Imported here to keep this change inside the function (input_pipeline.py
  # is being rewritten in parallel); move it to the top when merging.
  b = div2k.builder(scale=config.scale, data_dir=_data_dir(config))
  return _read_tfds(
    b,
    image_key="hr",
    name_key=None,
    skip_keys=("lr",),
    process_index=process_index,
    process_count=process_count,
  )


def imagenet_sr_records(
  config: ml_collections.ConfigDict, *, process_index: int, process_count: int
) -> tf.data.Dataset:
  """The training images of :mod:`sr_jax.datasets.imagenet_sr`.

  Drawn from ``config.data.imagenet_dir`` (a CLS-LOC tree or a folder) if the
  config has it set, else from TFDS ``imagenet2012``; built once.
  """
  b = imagenet_sr.builder(
    imagenet_dir=config.data.get("imagenet_dir", ""),
    data_dir=_data_dir(config),
  )
  return _read_tfds(
    b,
    image_key="image",
    name_key="file_name",
    process_index=process_index,
    process_count=process_count,
  )


def train_records(
  config: ml_collections.ConfigDict,
  *,
  process_index: int = 0,
  process_count: int = 1,
) -> tf.data.Dataset:
  """This process's training images, encoded, in a fixed order.

  Args:
    config: reads ``data.dataset`` and what that source needs.
    process_index: this process, in ``[0, process_count)``.
    process_count: processes that share the data; each reads whole, distinct
      images.

  Returns:
    ``{"image": string (encoded image), "name": string}``.

  Raises:
    ValueError: for an unknown ``config.data.dataset``.
  """
  kwargs = dict(process_index=process_index, process_count=process_count)
  dataset = config.data.dataset
  if dataset == "image_folder":
    return image_folder_records(config, **kwargs)
  elif dataset == "div2k":
    return div2k_records(config, **kwargs)
  elif dataset == "imagenet_sr":
    return imagenet_sr_records(config, **kwargs)
  raise ValueError(
    f"--config.data.dataset={dataset!r} is not one of {', '.join(DATASETS)}"
  )


# The stream of examples is numbered from 0 without end; this bound is only
# for tf.data.Dataset.range (2**62 examples outlast any run).
_STREAM_END = 2**62


@dataclasses.dataclass(frozen=True)
class Degradation:
  """The optional LR degradations of ``config.data``; all off by default.

  Attributes:
    jpeg_quality: ``(lo, hi)``: each degraded example's JPEG quality is drawn
      uniformly from the integers in ``[lo, hi]`` (1 to 100); None: no JPEG.
    jpeg_clean_fraction: the probability that an example skips the JPEG.
    noise_sigma: ``(lo, hi)``: each example gets Gaussian noise with a
      standard deviation drawn uniformly from ``[lo, hi]``, in 0..255 pixel
      units; None: no noise.
  """

  jpeg_quality: tuple[int, int] | None = None
  jpeg_clean_fraction: float = 0.0
  noise_sigma: tuple[float, float] | None = None

  @classmethod
  def from_config(cls, data: ml_collections.ConfigDict) -> "Degradation":
    """Reads and checks ``data.jpeg_quality``, ``jpeg_clean_fraction`` and
    ``noise_sigma`` (each optional; ``()`` or None means off).

    Raises:
      ValueError: for a malformed range or fraction.
    """
    jpeg = data.get("jpeg_quality") or None
    if jpeg is not None:
      if len(jpeg) != 2 or not 1 <= jpeg[0] <= jpeg[1] <= 100:
        raise ValueError(
          f"--config.data.jpeg_quality={tuple(jpeg)!r}: give (lo, hi) with "
          "1 <= lo <= hi <= 100, or () for no JPEG"
        )
      jpeg = (int(jpeg[0]), int(jpeg[1]))
    clean = float(data.get("jpeg_clean_fraction", 0.0))
    if not 0.0 <= clean <= 1.0:
      raise ValueError(
        f"--config.data.jpeg_clean_fraction={clean} is not in [0, 1]"
      )
    noise = data.get("noise_sigma") or None
    if noise is not None:
      if len(noise) != 2 or not 0 <= noise[0] <= noise[1]:
        raise ValueError(
          f"--config.data.noise_sigma={tuple(noise)!r}: give (lo, hi) with "
          "0 <= lo <= hi (0..255 pixel units), or () for no noise"
        )
      noise = (float(noise[0]), float(noise[1]))
    return cls(jpeg_quality=jpeg, jpeg_clean_fraction=clean, noise_sigma=noise)

  @property
  def active(self) -> bool:
    return self.jpeg_quality is not None or self.noise_sigma is not None


def jpeg_round_trip(image: tf.Tensor, quality: tf.Tensor) -> tf.Tensor:
  """JPEG-encodes ``image`` at ``quality`` and decodes it.

  Encodes with 4:2:0 chroma subsampling, as ``tf.io.encode_jpeg(...,
  chroma_downsampling=True)`` and most cameras and web images do (that op
  takes the quality as a fixed attribute; this one, a tensor, so it can vary
  per example); decodes with the accurate integer DCT, libjpeg's and PIL's
  default.

  Args:
    image: ``uint8 [H, W, 3]``.
    quality: ``int32`` scalar in ``[1, 100]``.

  Returns:
    ``uint8 [H, W, 3]``.
  """
  encoded = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=quality)
  decoded = tf.io.decode_jpeg(
    encoded, channels=3, dct_method="INTEGER_ACCURATE"
  )
  return tf.reshape(decoded, tf.shape(image))


def _root_key(seed: int, *words: int) -> tuple[int, int]:
  """An ``int64 [2]`` key from ``config.seed``; ``words`` name a stream.

  The examples' keys (:func:`_example_key`) grow from ``_root_key(seed)``,
  the image order's from ``_root_key(seed, 1, salt)``, so the two never
  share a seed.
  """
  state = np.random.SeedSequence([int(seed) % 2**32, *words])
  return tuple(int(v) for v in state.generate_state(2, dtype=np.uint32))


def _example_key(base: tf.Tensor, step: tf.Tensor, row: tf.Tensor):
  """The seed of every draw for row ``row`` of the global batch of ``step``.

  Args:
    base: ``int64 [2]``, ``_root_key(config.seed)``.
    step: ``int64`` scalar.
    row: ``int64`` scalar in ``[0, config.batch_size)``.

  Returns:
    ``int64 [2]``, a seed for the stateless random ops.
  """
  fold = tf.random.experimental.stateless_fold_in
  return fold(fold(base, step), row)


def _draw_key(key: tf.Tensor, purpose: int) -> tf.Tensor:
  """The seed of one kind of draw (``_DRAW_*``) of an example."""
  return tf.random.experimental.stateless_fold_in(
    key, tf.constant(purpose, tf.int64)
  )


@dataclasses.dataclass(frozen=True)
class _Sampler:
  """Draws all that decides one example, statelessly; fixed for a run.

  Attributes:
    base: the examples' root key, ``_root_key(config.seed)``.
    order_base: the image order's, ``_root_key(config.seed, 1, salt)``
      with salt 0 (by_batch) or 1 + the process index (by_file, where each
      process orders its own images).
    num_images: ``n``, the images rows draw from.
    pairs_per_image: ``K``; an epoch is ``n * K`` pairs.
    order_batch: pairs per step in the numbering of the image order: the
      global batch (by_batch) or the local one (by_file, own images).
    order_row0: the global row numbered 0 in that numbering.
    augment: draw a symmetry of the square.
    degradation: what else to draw.
  """

  base: tuple[int, int]
  order_base: tuple[int, int]
  num_images: int
  pairs_per_image: int
  order_batch: int
  order_row0: int
  augment: bool
  degradation: Degradation

  def image(self, pair: tf.Tensor) -> tf.Tensor:
    """The image of pair number ``pair`` (``int64``): see the module doc."""
    per_epoch = self.num_images * self.pairs_per_image
    epoch_key = tf.random.experimental.stateless_fold_in(
      tf.constant(self.order_base, tf.int64), pair // per_epoch
    )
    slot = tf.random.experimental.index_shuffle(
      pair % per_epoch,
      seed=epoch_key,
      max_index=tf.constant(per_epoch - 1, tf.int64),
    )
    return slot // self.pairs_per_image

  def draw(self, step: tf.Tensor, row: tf.Tensor) -> dict[str, tf.Tensor]:
    """Everything random about row ``row`` of step ``step``'s global batch.

    Returns:
      ``image`` (``int64``), ``bits`` (``int64 [2]``, the crop position as
      31-bit fractions of the image's range), and where enabled
      ``symmetry`` (``int32`` in ``[0, 8)``), ``jpeg_quality`` (``int32``;
      0 keeps the example clean), ``noise_sigma`` (``float32``) and
      ``noise_key`` (``int64 [2]``).
    """
    key = _example_key(tf.constant(self.base, tf.int64), step, row)
    pair = step * self.order_batch + (row - self.order_row0)
    out = {
      "image": self.image(pair),
      "bits": tf.random.stateless_uniform(
        [2],
        seed=_draw_key(key, _DRAW_CROP),
        minval=0,
        maxval=2**_POSITION_BITS,
        dtype=tf.int64,
      ),
    }
    if self.augment:
      out["symmetry"] = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_SYMMETRY), minval=0, maxval=8,
        dtype=tf.int32,
      )  # fmt: skip
    d = self.degradation
    if d.jpeg_quality is not None:
      lo, hi = d.jpeg_quality
      quality = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_JPEG_QUALITY), minval=lo,
        maxval=hi + 1, dtype=tf.int32,
      )  # fmt: skip
      clean = (
        tf.random.stateless_uniform([], seed=_draw_key(key, _DRAW_JPEG_CLEAN))
        < d.jpeg_clean_fraction
      )
      out["jpeg_quality"] = tf.where(clean, 0, quality)
    if d.noise_sigma is not None:
      lo, hi = d.noise_sigma
      out["noise_sigma"] = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_NOISE_SIGMA), minval=lo, maxval=hi
      )
      out["noise_key"] = _draw_key(key, _DRAW_NOISE)
    return out


def _place_regions(
  bits: tf.Tensor,
  height: tf.Tensor,
  width: tf.Tensor,
  *,
  scale: int,
  lr_patch_size: int,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """Crop positions from random bits, and the exact regions around them.

  Crops lie on the LR grid of the modcropped image and may touch its border;
  the region (:func:`min_image_size`) extends ``m`` LR pixels beyond the
  crop, pushed inside the image where the crop is near its border.

  Args:
    bits: ``int64 [..., 2]`` in ``[0, 2**31)``: the crop's top and left as
      fractions of their ranges.
    height: ``int64 [...]``, the image's height before modcrop.
    width: ``int64 [...]``.
    scale: ``s``.
    lr_patch_size: ``p``.

  Returns:
    ``(region_top, region_left, dy, dx)``, ``int64 [...]``: the region's
    top-left corner in LR pixels and the crop's offset in the region.
  """
  p, m = lr_patch_size, lr_margin(scale)
  region = p + 2 * m
  lr_h = height // scale
  lr_w = width // scale
  top = bits[..., 0] * (lr_h - p + 1) // 2**_POSITION_BITS
  left = bits[..., 1] * (lr_w - p + 1) // 2**_POSITION_BITS
  region_top = tf.clip_by_value(top - m, 0, lr_h - region)
  region_left = tf.clip_by_value(left - m, 0, lr_w - region)
  return region_top, region_left, top - region_top, left - region_left


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
    default=lambda: tf.shape(_decode(encoded), out_type=tf.int64)[:2],
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
  """``_decode(encoded)[top:top + size, left:left + size]``, decoding less.

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
class _ImageStore:
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
      f"{lr_margin(scale)}-pixel LR margin: lower the patch size or add "
      "larger images"
    )
  return keep, heights, widths


def _load_images(
  config: ml_collections.ConfigDict,
  *,
  process_index: int,
  process_count: int,
  min_size: int,
) -> _ImageStore:
  """Reads the training images (this share of them) into memory.

  Images too small for a pair are left out with a warning.

  Raises:
    ValueError: if no image is big enough.
  """
  records = train_records(
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
    return _ImageStore(
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
  decoded = kept.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
  for i, image in enumerate(decoded):
    if tuple(image.shape[:2]) != (heights[i], widths[i]):
      raise ValueError(
        f"training image {i} decodes to {image.shape[:2]}, but its header "
        f"says {heights[i]} x {widths[i]}"
      )
    pixels[offsets[i] : offsets[i] + sizes[i]].assign(
      tf.reshape(image, [-1, 3])
    )
  return _ImageStore(
    heights=heights, widths=widths, pixels=pixels, offsets=offsets
  )


def _degrade(
  lr: tf.Tensor,
  draws: dict[str, tf.Tensor],
  degradation: Degradation,
) -> tf.Tensor:
  """Noise, then a JPEG round trip, on each clean LR crop.

  The JPEG encodes the LR crop itself, not its region: only the crop is
  exact (the region's margin is the resize of a cut-out, mirror-padded at
  its edges), so this keeps every degraded LR exactly ``JPEG(benchmark LR
  crop)``. The 8x8 block grid then starts at the crop's corner, as a whole
  JPEG image's grid starts at the image's corner, where the network's input
  starts at inference; inside the patch the grid meets the convolutions'
  windows at every phase. Chroma is subsampled 4:2:0
  (:func:`jpeg_round_trip`), so an odd-sized crop's last chroma sample
  covers a partial 2x2 block, as at an image's edge.

  Args:
    lr: ``uint8 [K, p, p, 3]``.
    draws: the batch's draws (:meth:`_Sampler.draw`).
    degradation: what to apply.

  Returns:
    ``uint8 [K, p, p, 3]``.
  """
  names = [
    n for n in ("jpeg_quality", "noise_sigma", "noise_key") if n in draws
  ]

  def one(args):
    patch, d = args[0], dict(zip(names, args[1:], strict=True))
    if degradation.noise_sigma is not None:
      noise = d["noise_sigma"] * tf.random.stateless_normal(
        tf.shape(patch), seed=d["noise_key"]
      )
      noisy = tf.round(tf.cast(patch, tf.float32) + noise)
      patch = tf.cast(tf.clip_by_value(noisy, 0.0, 255.0), tf.uint8)
    if degradation.jpeg_quality is not None:
      quality = d["jpeg_quality"]
      patch = tf.cond(
        quality > 0,
        lambda: jpeg_round_trip(patch, quality),
        lambda: patch,
      )
    return patch

  return tf.map_fn(
    one,
    (lr, *(draws[n] for n in names)),
    fn_output_signature=tf.TensorSpec(lr.shape[1:], tf.uint8),
  )


def create_train_dataset(
  config: ml_collections.ConfigDict,
  *,
  process_index: int = 0,
  process_count: int = 1,
  start_step: int = 0,
  pair_counter: tf.Variable | None = None,
) -> tf.data.Dataset:
  """The endless stream of training batches for one process.

  Reads ``config.scale``, ``seed``, ``batch_size`` (global) and
  ``config.data`` (see configs/default.py; ``shuffle_buffer`` is unused: the
  stream needs none). The images are read into memory here, once; images
  too small for a pair (:func:`min_image_size`) are left out with a warning.

  Args:
    config: the run's config.
    process_index: this process, in ``[0, process_count)``
      (``jax.process_index()``).
    process_count: processes sharing the data (``jax.process_count()``); each
      makes only its rows of each global batch.
    start_step: the first step of the stream: a run resumed at step N sees
      exactly the batches an uninterrupted run sees from step N on. Nothing
      before N is generated, so this costs the same for any N.
    pair_counter: if given, an ``int64`` scalar variable to which every
      batch adds the pairs it made (for benchmarks).

  Returns:
    A ``tf.data.Dataset`` of ``{"lr": uint8 [B, p, p, 3], "hr": uint8 [B,
    p*s, p*s, 3]}``, with ``B = config.batch_size // process_count``, ``p =
    config.data.lr_patch_size``, ``s = config.scale``; RGB whatever
    ``config.model.channels`` is (see the module docstring). Batch ``k`` of
    process ``i`` is rows ``[i * B, (i + 1) * B)`` of global step
    ``start_step + k``.

  Raises:
    ValueError: a batch size not divisible by ``process_count``, a bad scale,
      patch size, process index, start step or degradation setting, or no
      image big enough for a pair.
    FileNotFoundError: a missing source folder (names it and the flag).
    image_io.ImageReadError: a corrupt source image (names it).
  """
  local_batch, p, pairs_per_image = _check_stream(
    config, process_index, process_count, start_step
  )
  scale = config.scale
  degradation = Degradation.from_config(config.data)
  first_row = process_index * local_batch
  read, order = _sharding_plan(config, process_index, process_count)
  store = _load_images(config, **read, min_size=min_image_size(scale, p))
  sampler = _Sampler(
    base=_root_key(config.seed),
    order_base=_root_key(config.seed, 1, order["salt"]),
    num_images=store.num_images,
    pairs_per_image=pairs_per_image,
    order_batch=order["batch"],
    order_row0=order["row0"],
    augment=config.data.augment,
    degradation=degradation,
  )

  def draw(index):
    # Example ``index`` of this process's stream: a row of a global batch.
    step = index // local_batch
    row = first_row + index % local_batch
    return sampler.draw(step, row)

  make_pairs = functools.partial(
    _make_pairs,
    store=store,
    config=config,
    local_batch=local_batch,
    degradation=degradation,
    pair_counter=pair_counter,
  )
  ds = tf.data.Dataset.range(start_step * local_batch, _STREAM_END)
  ds = ds.map(draw, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(local_batch, drop_remainder=True)
  ds = ds.map(make_pairs, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def _check_stream(config, process_index, process_count, start_step):
  """Validates the stream's arguments.

  Returns:
    ``(local_batch, lr_patch_size, pairs_per_image)``.
  """
  scale = config.scale
  if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
    raise ValueError(
      f"--config.scale must be a positive integer, got {scale!r}"
    )
  if config.batch_size % process_count:
    raise ValueError(
      f"--config.batch_size={config.batch_size} is not divisible by the "
      f"{process_count} processes"
    )
  if not 0 <= process_index < process_count:
    raise ValueError(
      f"process_index={process_index} is not in [0, {process_count})"
    )
  if start_step < 0:
    raise ValueError(f"start_step={start_step} is negative")
  local_batch = config.batch_size // process_count
  p = config.data.lr_patch_size
  if p < 1 or local_batch < 1:
    raise ValueError(
      f"--config.data.lr_patch_size={p} and the per-process batch "
      f"{local_batch} must be positive"
    )
  pairs_per_image = config.data.get("patches_per_image", PATCHES_PER_IMAGE)
  if pairs_per_image < 1:
    raise ValueError(
      f"--config.data.patches_per_image={pairs_per_image} must be positive"
    )
  if config.data.cache and config.data.dataset == "imagenet_sr":
    logging.warning(
      "--config.data.cache=True keeps the 50,000 decoded ImageNet images in "
      "memory (tens of GB); set it to False for imagenet_sr"
    )
  return local_batch, p, pairs_per_image


def _sharding_plan(config, process_index: int, process_count: int):
  """Which images this process holds, and how its rows pick among them.

  Returns:
    ``(read, order)``: ``read`` are the ``process_index`` /
    ``process_count`` to read the images with; ``order`` the batch, first
    row and salt of the per-epoch image order.
  """
  local_batch = config.batch_size // process_count
  host_sharding = config.data.get("host_sharding", "by_batch")
  if host_sharding == "by_batch":
    # Every process holds every image and can make any row: the batches (and
    # so the training run) do not depend on the process count.
    read = {"process_index": 0, "process_count": 1}
    order = {"batch": config.batch_size, "row0": 0, "salt": 0}
  elif host_sharding == "by_file":
    # Each process holds only its share of the images: for large sets.
    read = {"process_index": process_index, "process_count": process_count}
    order = {
      "batch": local_batch,
      "row0": process_index * local_batch,
      "salt": 1 + process_index,
    }
  else:
    raise ValueError(
      f"--config.data.host_sharding={host_sharding!r}: use by_batch or by_file"
    )
  return read, order


def _make_pairs(
  draws, *, store, config, local_batch, degradation, pair_counter
):
  """A batch of drawn examples -> ``{"lr", "hr"}`` uint8 pairs."""
  scale, p = config.scale, config.data.lr_patch_size
  region = p + 2 * lr_margin(scale)
  image = draws["image"]
  top, left, dy, dx = _place_regions(
    draws["bits"],
    tf.gather(store.heights, image),
    tf.gather(store.widths, image),
    scale=scale,
    lr_patch_size=p,
  )
  hr_regions = store.hr_regions(
    image, top * scale, left * scale, region * scale
  )
  lr_regions = _resize_regions(hr_regions, scale)
  pair = _cut_pairs(
    lr_regions, hr_regions, dy, dx, scale=scale, lr_patch_size=p
  )
  if degradation.active:
    pair["lr"] = _degrade(pair["lr"], draws, degradation)
  if config.data.augment:
    pair = {k: _d4(v, draws["symmetry"]) for k, v in pair.items()}
  pair = {
    "lr": tf.ensure_shape(pair["lr"], [local_batch, p, p, 3]),
    "hr": tf.ensure_shape(pair["hr"], [local_batch, p * scale, p * scale, 3]),
  }
  if pair_counter is not None:
    counted = pair_counter.assign_add(tf.size(image, out_type=tf.int64))
    with tf.control_dependencies([counted]):
      pair = {k: tf.identity(v) for k, v in pair.items()}
  return pair
