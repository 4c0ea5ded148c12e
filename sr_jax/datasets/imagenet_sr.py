"""The ESPCN paper's ImageNet subset, as a TFDS builder over any ImageNet copy.

Shi et al. (CVPR 2016) train ESPCN on 50,000 images drawn at random from
ImageNet and validate on 15,296 more. This builder draws such a subset,
reproducibly, from ImageNet as people have it: the ILSVRC ``CLS-LOC`` tree or
a flat folder of JPEGs (:func:`builder` with ``imagenet_dir``; see
:mod:`sr_jax.datasets.imagenet_files`), or a prepared TFDS ``imagenet2012``.

The rule, the same for every source:

1. order the files by the SHA-256 of their file name (e.g.
   ``n01440764_10026.JPEG``, :func:`imagenet_selection.selection_key`):
   fixed, and independent of folder order or of how TFDS sharded
   ``imagenet2012``;
2. walking in that order, keep the images whose shorter side is at least
   256 pixels (:data:`imagenet_selection.MIN_SIDE`). Smaller ImageNet
   images are mostly thumbnails, often upscaled by their publisher, so they
   hold little real high-frequency detail for an SR model to learn; 256 also
   leaves room for many distinct crops of the largest patch the pipeline
   samples (e.g. (32 + 2 * 2) * 4 = 144 HR pixels at x4 with a 32-pixel LR
   patch). Files that cannot be decoded are skipped;
3. split 50,000 train / 15,296 validation when there are enough eligible
   images; when there are fewer, split what there is in the same
   50,000 : 15,296 ratio (:func:`imagenet_selection.split_sizes`). A source
   with its own validation images (``CLS-LOC/val``, ``imagenet2012``'s
   ``validation``) feeds the validation split from those and the train split
   from ``train``; a flat folder (or a CLS-LOC tree without ``val``) feeds
   both from one pool: the first images in selection order go to train, the
   next to validation.

:mod:`sr_jax.datasets.imagenet_selection` applies the rule, and
:mod:`sr_jax.datasets.imagenet_log` keeps the record of each build.

Storage: RGB JPEGs keep their bytes, so the images are exactly ImageNet's.
Greyscale and CMYK JPEGs and non-JPEG files (ImageNet has a PNG named
``.JPEG``) are converted to RGB and stored as PNG, losslessly.

Every build writes ``build_log.json`` next to the TFDS files (and logs a
summary): counts of files kept, filtered, converted and skipped with their
reasons, the names, and the split sizes. :func:`imagenet_log.build_log`
reads it.

  b = imagenet_sr.builder(imagenet_dir="/data/ILSVRC", data_dir="/tmp/tfds")
  ds = b.as_dataset(split="train")  # {"image": uint8 [H, W, 3], "file_name"}

The same from the command line, with the validation images written to a
folder for ``--config.eval.datasets`` (:mod:`sr_jax.datasets.prepare_imagenet`):

  python -m sr_jax.datasets.prepare_imagenet --imagenet_dir=/data/ILSVRC \
    --tfds_data_dir=/tmp/tfds --export_validation=/tmp/imagenet_val

``imagenet2012`` itself cannot be downloaded by TFDS: its tar files have to be
fetched by hand from image-net.org (see TFDS's catalog page for it).
"""

import dataclasses
import hashlib
import io
import os
import re
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from sr_jax import image_io
from sr_jax.datasets import imagenet_files, imagenet_log, imagenet_selection

SOURCE = "imagenet2012"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(eq=False)
class ImagenetSrConfig(tfds.core.BuilderConfig):
  """How many images to draw per split, and the shorter-side minimum."""

  num_train: int = imagenet_selection.NUM_TRAIN
  num_validation: int = imagenet_selection.NUM_VALIDATION
  min_side: int = imagenet_selection.MIN_SIDE


def _open_source(split: str, *, data_dir: str | None) -> tf.data.Dataset:
  """The source split, in file order, as ``{"file_name", "image": JPEG}``.

  Raises:
    FileNotFoundError: ``imagenet2012`` is not prepared in ``data_dir``.
  """
  source = tfds.builder(SOURCE, data_dir=data_dir)
  try:
    ds = source.as_dataset(
      split=split,
      decoders={"image": tfds.decode.SkipDecoding()},
      shuffle_files=False,
      read_config=tfds.ReadConfig(try_autocache=False),
    )
  except AssertionError as e:  # TFDS's way of saying "not prepared".
    raise FileNotFoundError(_no_source_message(source)) from e
  return ds.map(lambda ex: {"file_name": ex["file_name"], "image": ex["image"]})


def _no_source_message(source: tfds.core.DatasetBuilder) -> str:
  root = source.data_dir_root
  return (
    "the ImageNet subset needs ImageNet, given one of two ways: (1) "
    f"{imagenet_files.FLAG}=PATH, where PATH is the ILSVRC CLS-LOC folder "
    "(ILSVRC/Data/CLS-LOC, holding train/<wnid>/*.JPEG and val/*.JPEG), a "
    "folder above it, or any flat folder of JPEGs; or (2) TFDS "
    f"{SOURCE} prepared in {root} (--config.data.tfds_data_dir), which is "
    f"not the case now: put ILSVRC2012_img_train.tar and "
    f"ILSVRC2012_img_val.tar in {os.path.join(root, 'downloads', 'manual')} "
    f"and run `tfds build {SOURCE} --data_dir={root}`"
  )


def scan(
  split: str, *, data_dir: str | None
) -> Iterator[tuple[str, int, int, int]]:
  """Yields ``(file_name, height, width, channels)`` of a source split.

  Sizes come from the JPEG headers, so nothing is decoded.

  Args:
    split: ``"train"`` or ``"validation"`` of ``imagenet2012``.
    data_dir: the TFDS data directory holding ``imagenet2012``.
  """
  ds = _open_source(split, data_dir=data_dir).map(
    lambda ex: (ex["file_name"], tf.image.extract_jpeg_shape(ex["image"])),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  for name, hwc in ds.as_numpy_iterator():
    yield name.decode("utf-8"), int(hwc[0]), int(hwc[1]), int(hwc[2])


class ImagenetSr(tfds.core.GeneratorBasedBuilder):
  """50,000 + 15,296 ImageNet images chosen by a fixed rule."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
    "1.0.0": "Initial release.",
    "1.1.0": (
      "Folder sources (ILSVRC CLS-LOC tree, flat folder); greyscale, CMYK "
      "and non-JPEG files stored as RGB PNG; proportional split when fewer "
      "images; build_log.json."
    ),
  }
  BUILDER_CONFIGS = [
    ImagenetSrConfig(
      name="espcn",
      description=(
        f"{imagenet_selection.NUM_TRAIN} train + "
        f"{imagenet_selection.NUM_VALIDATION} validation images of {SOURCE} "
        f"with a shorter side >= {imagenet_selection.MIN_SIDE}, first by "
        "SHA-256 of the file name."
      ),
    )
  ]
  # Nothing is downloaded, so there are no checksums to look up; looking
  # them up needs the package importlib_resources, which TFDS 4.9.10 uses
  # without declaring it.
  url_infos = None

  def __init__(
    self,
    *,
    source_data_dir: str | None = None,
    imagenet_dir: str = "",
    **kwargs,
  ):
    """Creates the builder.

    Args:
      source_data_dir: the TFDS data directory that holds ``imagenet2012``;
        ``None`` for this builder's own ``data_dir``.
      imagenet_dir: a folder of ImageNet files to draw from instead of
        ``imagenet2012`` (see :func:`imagenet_files.find`); use
        :func:`builder`, which names the config after it.
      **kwargs: for ``tfds.core.GeneratorBasedBuilder`` (``data_dir``,
        ``config``, ...).
    """
    super().__init__(**kwargs)
    self._source_data_dir = source_data_dir
    self._imagenet_dir = imagenet_dir

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          # JPEG as published, or PNG for a converted file: the bytes are
          # given as they are, and decoding reads either.
          "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
          "file_name": tfds.features.Text(),
        }
      ),
      description=__doc__.split("\n\n")[1],
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded.
    config = self.builder_config
    if self._imagenet_dir:
      source = imagenet_files.find(self._imagenet_dir)
      pools = imagenet_selection.walk_folder(source, config)
      source_info = {
        "kind": source.kind,
        "path": os.path.abspath(source.root),
        "given": self._imagenet_dir,
        "fingerprint": imagenet_log.fingerprint(source),
      }
    else:
      data_dir = self._source_data_dir or os.fspath(self.data_dir_root)
      pools = {
        "train": imagenet_selection.walk_records(
          scan("train", data_dir=data_dir),
          want=config.num_train,
          min_side=config.min_side,
        ),
        "validation": imagenet_selection.walk_records(
          scan("validation", data_dir=data_dir),
          want=config.num_validation,
          min_side=config.min_side,
        ),
      }
      source_info = {"kind": SOURCE, "path": data_dir}
    chosen = imagenet_selection.choose(pools, config)
    log = imagenet_log.make(
      f"{self.name}/{config.name}:{self.version}",
      config,
      source_info,
      pools,
      chosen,
    )
    imagenet_log.write(os.fspath(self.data_dir), log)
    return {
      split: self._generate_examples(split, verdicts, source_info)
      for split, verdicts in chosen.items()
    }

  def _generate_examples(self, split, verdicts, source_info):
    if source_info["kind"] == SOURCE:
      yield from self._generate_from_tfds(
        split, verdicts, data_dir=source_info["path"]
      )
      return
    for v in verdicts:
      if v.converted:
        data = imagenet_files.rgb_png(v.path)
      else:
        with open(v.path, "rb") as f:
          data = f.read()
      # The relative path: file names may repeat across class folders.
      key = os.path.relpath(v.path, source_info["path"])
      yield key, {"image": data, "file_name": v.name}

  def _generate_from_tfds(self, split, verdicts, *, data_dir: str):
    convert = {v.path for v in verdicts if v.converted}
    names = [v.path for v in verdicts]
    table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        tf.constant(names, tf.string), tf.ones([len(names)], tf.int32)
      ),
      default_value=0,
    )
    ds = _open_source(split, data_dir=data_dir).filter(
      lambda ex: table.lookup(ex["file_name"]) > 0
    )
    for ex in ds.as_numpy_iterator():
      name = ex["file_name"].decode("utf-8")
      data = ex["image"]
      if name in convert:
        data = imagenet_files.rgb_png(io.BytesIO(data))
      # Otherwise the JPEG bytes as they are: re-encoding would lose detail.
      yield name, {"image": data, "file_name": name}


def folder_config(imagenet_dir: str) -> ImagenetSrConfig:
  """The config for a folder source: named after the folder and its path.

  The name holds a hash of the absolute path, so two folders of the same
  name do not share a build.
  """
  real = os.path.realpath(imagenet_dir)
  base = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.basename(real)) or "root"
  digest = hashlib.sha256(real.encode("utf-8")).hexdigest()[:8]
  return ImagenetSrConfig(
    name=f"{base}_{digest}",
    description=f"The ESPCN ImageNet subset rule applied to {real}.",
  )


def builder(
  *,
  imagenet_dir: str = "",
  data_dir: str | None = None,
  source_data_dir: str | None = None,
) -> ImagenetSr:
  """Returns the prepared ImageNet subset, building it if needed.

  A subset already built into ``data_dir`` is reused. For a folder source,
  if the folder still exists but its file list changed, the build is stale
  and this raises rather than train on old data.

  Args:
    imagenet_dir: an ImageNet folder (CLS-LOC tree or above it, or a flat
      folder: :func:`imagenet_files.find`); ``""`` to draw from TFDS
      ``imagenet2012``.
    data_dir: the TFDS data directory; ``None`` or ``""`` for TFDS's
      default.
    source_data_dir: where ``imagenet2012`` is prepared, if not in
      ``data_dir``.

  Returns:
    The prepared builder: ``train`` and ``validation`` splits of
    ``{"image", "file_name"}``.

  Raises:
    FileNotFoundError: no source: the message says the two ways to give one.
    ValueError: a stale build, or too few eligible images.
  """
  b = _prepared(
    imagenet_dir=imagenet_dir,
    data_dir=data_dir or None,
    source_data_dir=source_data_dir,
  )
  logging.info(
    "imagenet_sr: using %s in %s (its %s says what was kept, filtered, "
    "converted and skipped)",
    b.info.full_name,
    b.data_dir,
    imagenet_log.LOG_FILE,
  )
  return b


def _prepared(*, imagenet_dir, data_dir, source_data_dir) -> ImagenetSr:
  """:func:`builder` without the log line."""
  download_config = tfds.download.DownloadConfig(try_download_gcs=False)
  if imagenet_dir:
    b = ImagenetSr(
      config=folder_config(imagenet_dir),
      data_dir=data_dir,
      imagenet_dir=imagenet_dir,
    )
    if b.is_prepared():
      if os.path.isdir(imagenet_dir):
        built = imagenet_log.build_log(b)["source"].get("fingerprint")
        if built != imagenet_log.fingerprint(imagenet_files.find(imagenet_dir)):
          raise ValueError(
            f"TFDS {b.info.full_name} in {b.data_dir} was built from other "
            f"files than {imagenet_dir} now holds: delete {b.data_dir} to "
            "rebuild it"
          )
      return b
    # Before TFDS runs, so the message names our flag.
    imagenet_files.find(imagenet_dir)
    b.download_and_prepare(download_config=download_config)
    return b
  b = ImagenetSr(data_dir=data_dir, source_data_dir=source_data_dir)
  if b.is_prepared():
    return b
  source = tfds.builder(SOURCE, data_dir=source_data_dir or data_dir)
  if not source.is_prepared():
    raise FileNotFoundError(_no_source_message(source))
  b.download_and_prepare(download_config=download_config)
  return b


def export_split(
  b: tfds.core.DatasetBuilder, *, out_dir: str, split: str = "validation"
) -> list[str]:
  """Writes a split's images into a folder, e.g. for ``--config.eval.datasets``.

  JPEGs are written as stored (the original bytes), converted images as
  PNG (``<stem>.png``).

  Args:
    b: a prepared :class:`ImagenetSr`.
    out_dir: the folder; created if needed. It may hold an earlier export
      of the same split, but no other images (an evaluation would read them).
    split: ``"validation"`` or ``"train"``.

  Returns:
    The written file paths, sorted.

  Raises:
    ValueError: ``out_dir`` holds images that are not of this split.
  """
  ds = b.as_dataset(
    split=split,
    decoders={"image": tfds.decode.SkipDecoding()},
    shuffle_files=False,
  )
  files = {}
  for ex in ds.as_numpy_iterator():
    name = ex["file_name"].decode("utf-8")
    if ex["image"][:8] == _PNG_MAGIC:
      name = os.path.splitext(name)[0] + ".png"
    files[name] = ex["image"]
  os.makedirs(out_dir, exist_ok=True)
  others = [
    f
    for f in os.listdir(out_dir)
    if f.lower().endswith(image_io.IMAGE_EXTENSIONS) and f not in files
  ]
  if others:
    raise ValueError(
      f"{out_dir} holds {len(others)} images that are not in the {split} "
      f"split (e.g. {sorted(others)[0]}): export into an empty folder"
    )
  for name, data in files.items():
    with open(os.path.join(out_dir, name), "wb") as f:
      f.write(data)
  return sorted(os.path.join(out_dir, n) for n in files)
