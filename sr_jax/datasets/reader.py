"""The training images as TFDS records: this process's share, encoded.

:func:`train_records` reads the set that ``config.data.dataset`` names (one
of :data:`DATASETS`) from TFDS, first building it where that is done offline
(an image folder, the ImageNet subset). The records hold the encoded bytes,
which :func:`decode` turns into pixels.
"""

import functools

import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from sr_jax.datasets import div2k, image_folder, imagenet_sr

DATASETS = ("image_folder", "div2k", "imagenet_sr")


def decode(encoded: tf.Tensor) -> tf.Tensor:
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
