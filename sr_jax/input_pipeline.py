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

Deterministic: crop positions and symmetries come from stateless random ops
seeded by ``(config.seed, process_index)`` and the image's position in the
stream, and the two shuffles have fixed seeds, so the same config gives the
same batches. (TF mixes the global seed into the shuffles' seeds: a program
that calls ``tf.random.set_seed`` gets a different, equally fixed, order.)
"""

import functools
import math
import sys

import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from sr_jax import imresize
from sr_jax.datasets import image_folder, imagenet_sr

DATASETS = ("image_folder", "div2k", "imagenet_sr")

# Crops per image each time the image comes up; used when the config has no
# ``data.patches_per_image``. The T91 images are small (78 to 508 pixels), so
# many crops per visit keep the images' decode and resize setup cheap per
# pair, and the patch shuffle buffer still mixes 64 images at its default.
PATCHES_PER_IMAGE = 16

# Images (not patches) held for shuffling when they are not cached: encoded
# images, so even DIV2K's stay small.
_IMAGE_SHUFFLE_BUFFER = 256

# DIV2K configs of the TFDS catalog, by scale; every one has the same ``hr``.
_DIV2K_SCALES = (2, 3, 4, 8)


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


def random_pairs(
  image: tf.Tensor,
  *,
  scale: int,
  lr_patch_size: int,
  num_patches: int,
  seed: tf.Tensor,
  augment: bool,
) -> dict[str, tf.Tensor]:
  """Cuts ``num_patches`` random benchmark-exact (LR, HR) pairs from an image.

  Crops lie on the LR grid of ``modcrop(image, scale)`` and may touch its
  border. The image must be at least :func:`min_image_size` in both sides
  after modcrop.

  Args:
    image: ``uint8 [H, W, C]``.
    scale: integer SR factor ``s``.
    lr_patch_size: LR patch side ``p``.
    num_patches: ``K``, pairs to cut.
    seed: ``int32``/``int64 [2]`` seed of the stateless random ops.
    augment: apply one random symmetry of the square per pair (the same to
      its LR and HR).

  Returns:
    ``{"lr": uint8 [K, p, p, C], "hr": uint8 [K, p*s, p*s, C]}`` where,
    without ``augment``, ``lr[k] == imresize(modcrop(image, s), 1/s)[y:y+p,
    x:x+p]`` and ``hr[k] == image[y*s:(y+p)*s, x*s:(x+p)*s]``.
  """
  s, p, k = scale, lr_patch_size, num_patches
  m = lr_margin(s)
  region = p + 2 * m  # LR pixels
  channels = image.shape[-1]
  seeds = tf.random.experimental.stateless_split(seed, num=3)
  # The LR size of the modcropped image.
  lr_h = tf.shape(image)[0] // s
  lr_w = tf.shape(image)[1] // s
  top = tf.random.stateless_uniform(
    [k], seed=seeds[0], minval=0, maxval=lr_h - p + 1, dtype=tf.int32
  )
  left = tf.random.stateless_uniform(
    [k], seed=seeds[1], minval=0, maxval=lr_w - p + 1, dtype=tf.int32
  )
  # The region around each crop, pushed inside the modcropped image.
  reg_top = tf.clip_by_value(top - m, 0, lr_h - region)
  reg_left = tf.clip_by_value(left - m, 0, lr_w - region)
  hr_regions = _gather_windows(image, reg_top * s, region * s, axis=0)
  hr_regions = _gather_windows(hr_regions, reg_left * s, region * s, axis=2)
  # One resize for all K regions: channels are resized independently, so the
  # regions ride along the channel axis.
  stacked = tf.reshape(
    tf.transpose(hr_regions, [1, 2, 0, 3]), [region * s, region * s, -1]
  )
  lr_regions = imresize.imresize_tf(stacked, 1.0 / s)
  lr_regions = tf.transpose(
    tf.reshape(lr_regions, [region, region, k, channels]), [2, 0, 1, 3]
  )
  dy = top - reg_top
  dx = left - reg_left
  lr = _gather_windows(lr_regions, dy, p, axis=1)
  lr = _gather_windows(lr, dx, p, axis=2)
  hr = _gather_windows(hr_regions, dy * s, p * s, axis=1)
  hr = _gather_windows(hr, dx * s, p * s, axis=2)
  if augment:
    t = tf.random.stateless_uniform(
      [k], seed=seeds[2], minval=0, maxval=8, dtype=tf.int32
    )
    lr = _d4(lr, t)
    hr = _d4(hr, t)
  lr = tf.ensure_shape(lr, [k, p, p, channels])
  hr = tf.ensure_shape(hr, [k, p * s, p * s, channels])
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
  from sr_jax.datasets import div2k

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


def _decode_record(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
  return {"image": _decode(ex["image"]), "name": ex["name"]}


def _big_enough(ex: dict[str, tf.Tensor], *, min_size: int, scale: int):
  """Filter predicate; says on stderr which image it drops, and why."""
  shape = tf.shape(ex["image"])
  ok = tf.logical_and(
    shape[0] - shape[0] % scale >= min_size,
    shape[1] - shape[1] % scale >= min_size,
  )

  def warn():
    tf.print(
      "input_pipeline: skipping training image",
      ex["name"],
      "of",
      shape[0],
      "x",
      shape[1],
      f"pixels: a pair needs {min_size} x {min_size} after modcrop",
      output_stream=sys.stderr,
    )
    return ok

  return tf.cond(ok, lambda: ok, warn)


def _seeds(seed: int, process_index: int) -> tuple[int, int, int]:
  """(crop seed, image shuffle seed, patch shuffle seed) for one process."""
  state = np.random.SeedSequence([int(seed) % 2**32, process_index])
  return tuple(int(v) for v in state.generate_state(3, dtype=np.uint32))


def create_train_dataset(
  config: ml_collections.ConfigDict,
  *,
  process_index: int = 0,
  process_count: int = 1,
  start_step: int = 0,
) -> tf.data.Dataset:
  """The endless stream of training batches for one process.

  Reads ``config.scale``, ``config.seed``, ``config.batch_size`` (global) and
  ``config.data``: ``dataset`` (image_folder | div2k | imagenet_sr),
  ``train_sets`` and ``train_dir`` (image_folder), ``tfds_data_dir``,
  ``lr_patch_size``, ``augment``, ``shuffle_buffer`` (patches), ``cache``
  (keep the decoded images in memory: for small sets like T91, not for
  ImageNet) and, if present, ``patches_per_image`` (default
  :data:`PATCHES_PER_IMAGE`).

  Images too small for a pair (:func:`min_image_size`) are skipped with a
  message on stderr.

  Args:
    config: the run's config.
    process_index: this process, in ``[0, process_count)``
      (``jax.process_index()``).
    process_count: processes sharing the data (``jax.process_count()``); each
      reads its own share of the images.
    start_step: batches to skip, so that a run resumed at step N sees exactly
      the batches an uninterrupted run sees from step N on. The skipped
      batches are generated and dropped (about 500 batches/s for T91 on two
      cores), which keeps the stream identical without saving iterator state.

  Returns:
    A ``tf.data.Dataset`` of ``{"lr": uint8 [B, p, p, 3], "hr": uint8 [B,
    p*s, p*s, 3]}``, with ``B = config.batch_size // process_count``, ``p =
    config.data.lr_patch_size``, ``s = config.scale``; RGB whatever
    ``config.model.channels`` is (see the module docstring).

  Raises:
    ValueError: a batch size not divisible by ``process_count``, a bad scale,
      patch size or process index, or no image big enough for a pair.
    FileNotFoundError: a missing source folder (names it and the flag).
    image_io.ImageReadError: a corrupt source image (names it).
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
  local_batch = config.batch_size // process_count
  p = config.data.lr_patch_size
  if p < 1 or local_batch < 1:
    raise ValueError(
      f"--config.data.lr_patch_size={p} and the per-process batch "
      f"{local_batch} must be positive"
    )
  num_patches = config.data.get("patches_per_image", PATCHES_PER_IMAGE)
  if config.data.cache and config.data.dataset == "imagenet_sr":
    logging.warning(
      "--config.data.cache=True keeps the 50,000 decoded ImageNet images in "
      "memory (tens of GB); set it to False for imagenet_sr"
    )
  host_sharding = config.data.get("host_sharding", "by_batch")
  if host_sharding == "by_batch":
    # Every process makes the same global stream and keeps its rows: the
    # batches (and so the training run) do not depend on the process count.
    read_index, read_count, stream_batch = 0, 1, config.batch_size
  elif host_sharding == "by_file":
    # Each process reads only its share of the images: for large sets.
    read_index, read_count = process_index, process_count
    stream_batch = local_batch
  else:
    raise ValueError(
      f"--config.data.host_sharding={host_sharding!r}: use by_batch or by_file"
    )
  crop_seed, image_seed, patch_seed = _seeds(config.seed, read_index)
  min_size = min_image_size(scale, p)
  big_enough = functools.partial(_big_enough, min_size=min_size, scale=scale)
  records = train_records(
    config, process_index=read_index, process_count=read_count
  )
  decoded = records.map(_decode_record, num_parallel_calls=tf.data.AUTOTUNE)
  # A set with no usable image would otherwise give an empty stream, and
  # the trainer a bare StopIteration.
  if not any(True for _ in decoded.filter(big_enough).take(1)):
    source = (
      f"--config.data.train_sets={config.data.train_sets}"
      if config.data.dataset == "image_folder"
      else f"--config.data.dataset={config.data.dataset}"
    )
    raise ValueError(
      f"no training image of {source} is at least {min_size} x "
      f"{min_size} pixels, the size a pair needs at scale {scale} with "
      f"--config.data.lr_patch_size={p} and a {lr_margin(scale)}-pixel LR "
      "margin: lower the patch size or add larger images"
    )
  if config.data.cache:
    images = decoded.filter(big_enough).cache()
    n = int(records.cardinality())
    images = images.shuffle(
      n if n > 0 else _IMAGE_SHUFFLE_BUFFER,
      seed=image_seed,
      reshuffle_each_iteration=True,
    ).repeat()
  else:
    images = (
      records.repeat()
      .shuffle(_IMAGE_SHUFFLE_BUFFER, seed=image_seed)
      .map(_decode_record, num_parallel_calls=tf.data.AUTOTUNE)
      .filter(big_enough)
    )

  def pairs(index, ex):
    seed = tf.stack([tf.constant(crop_seed, tf.int64), index])
    return random_pairs(
      ex["image"],
      scale=scale,
      lr_patch_size=p,
      num_patches=num_patches,
      seed=seed,
      augment=config.data.augment,
    )

  ds = images.enumerate().map(pairs, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.unbatch()
  if config.data.shuffle_buffer > 1:
    ds = ds.shuffle(config.data.shuffle_buffer, seed=patch_seed)
  ds = ds.batch(stream_batch, drop_remainder=True)
  if start_step:
    ds = ds.skip(start_step)
  if stream_batch != local_batch:
    lo = process_index * local_batch

    def rows(batch):
      return {k: v[lo : lo + local_batch] for k, v in batch.items()}

    ds = ds.map(rows)
  ds = ds.prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)
