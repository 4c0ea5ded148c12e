"""Training input: random (LR, HR) patch pairs with the benchmarks' degradation.

:func:`create_train_dataset` assembles the stream; a training example takes
this way through the modules:

1. records: the training images, encoded
   (:func:`sr_jax.datasets.reader.train_records`);
2. store: read once into memory, looked up by number
   (:mod:`sr_jax.pipeline.image_store`);
3. sampler: the stateless draws of each row of each step: which image, where
   to crop, which symmetry, which degradations
   (:mod:`sr_jax.pipeline.sampling`);
4. geometry: the crop and the HR region around it whose resize makes the LR
   crop exactly the benchmarks' ``imresize(modcrop(HR, s), 1 / s)``
   (:mod:`sr_jax.pipeline.geometry`), or with another drawn kernel exactly
   that kernel's resize of the whole image;
5. degradations: optional other kernels and blur, noise and JPEG, off by
   default (:mod:`sr_jax.pipeline.degradations`);
6. assembly, here: the symmetry, then batches of uint8 pairs.

Which rows and images each process has is :mod:`sr_jax.pipeline.host_plan`.

The yielded batches hold uint8 RGB (C = 3) whatever ``config.model.channels``
is: uint8 is a quarter of float32 to send to the device, and the train step
converts to [0, 1] floats and, for Y models, to Y there.
"""

import functools

import ml_collections
import tensorflow as tf

from sr_jax.datasets import reader
from sr_jax.pipeline import (
  degradations,
  geometry,
  host_plan,
  image_store,
  sampling,
)

# The names callers use from here; each lives in the module it names.
DATASETS = reader.DATASETS
PATCHES_PER_IMAGE = host_plan.PATCHES_PER_IMAGE
Degradation = degradations.Degradation
jpeg_round_trip = degradations.jpeg_round_trip
lr_margin = geometry.lr_margin
min_image_size = geometry.min_image_size
train_records = reader.train_records

# The stream of examples is numbered from 0 without end; this bound is only
# for tf.data.Dataset.range (2**62 examples outlast any run).
_STREAM_END = 2**62


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
  ``config.data`` (see configs/default.py). The images are read into memory
  here, once; images too small for a pair (:func:`min_image_size`) are left
  out with a warning.

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
  local_batch, p, pairs_per_image = host_plan.check_stream(
    config, process_index, process_count, start_step
  )
  scale = config.scale
  degradation = degradations.Degradation.from_config(config.data)
  first_row = process_index * local_batch
  read, order = host_plan.sharding_plan(config, process_index, process_count)
  margin = degradation.lr_margin(scale)
  store = image_store.load_images(
    config, **read, min_size=geometry.min_image_size(scale, p, margin)
  )
  sampler = _sampler(config, order, store, pairs_per_image, degradation)

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


def _sampler(
  config, order, store, pairs_per_image, degradation
) -> sampling.Sampler:
  """The run's sampler; ``order`` is :func:`host_plan.sharding_plan`'s."""
  return sampling.Sampler(
    base=sampling.root_key(config.seed),
    order_base=sampling.root_key(config.seed, 1, order["salt"]),
    num_images=store.num_images,
    pairs_per_image=pairs_per_image,
    order_batch=order["batch"],
    order_row0=order["row0"],
    augment=config.data.augment,
    degradation=degradation,
  )


def _make_pairs(
  draws, *, store, config, local_batch, degradation, pair_counter
):
  """A batch of drawn examples -> ``{"lr", "hr"}`` uint8 pairs."""
  scale, p = config.scale, config.data.lr_patch_size
  margin = degradation.lr_margin(scale)
  region = p + 2 * margin
  image = draws["image"]
  top, left, dy, dx = geometry.place_regions(
    draws["bits"],
    tf.gather(store.heights, image),
    tf.gather(store.widths, image),
    scale=scale,
    lr_patch_size=p,
    margin=margin,
  )
  hr_regions = store.hr_regions(
    image, top * scale, left * scale, region * scale
  )
  lr_regions = degradations.downscale_regions(
    hr_regions, draws, degradation, scale
  )
  pair = geometry.cut_pairs(
    lr_regions, hr_regions, dy, dx, scale=scale, lr_patch_size=p
  )
  if degradation.active:
    pair["lr"] = degradations.degrade(pair["lr"], draws, degradation)
  if config.data.augment:
    pair = {k: geometry.d4(v, draws["symmetry"]) for k, v in pair.items()}
  pair = {
    "lr": tf.ensure_shape(pair["lr"], [local_batch, p, p, 3]),
    "hr": tf.ensure_shape(pair["hr"], [local_batch, p * scale, p * scale, 3]),
  }
  if pair_counter is not None:
    counted = pair_counter.assign_add(tf.size(image, out_type=tf.int64))
    with tf.control_dependencies([counted]):
      pair = {k: tf.identity(v) for k, v in pair.items()}
  return pair
