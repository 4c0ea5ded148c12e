"""The ESPCN paper's ImageNet subset, as a TFDS builder over any ImageNet copy.

Shi et al. (CVPR 2016) train ESPCN on 50,000 images drawn at random from
ImageNet and validate on 15,296 more. This builder draws such a subset,
reproducibly, from ImageNet as people have it: the ILSVRC ``CLS-LOC`` tree or
a flat folder of JPEGs (:func:`builder` with ``imagenet_dir``; see
:mod:`sr_jax.datasets.imagenet_files`), or a prepared TFDS ``imagenet2012``.

The rule, the same for every source:

1. order the files by the SHA-256 of their file name (e.g.
   ``n01440764_10026.JPEG``, :func:`selection_key`): fixed, and independent
   of folder order or of how TFDS sharded ``imagenet2012``;
2. walking in that order, keep the images whose shorter side is at least
   256 pixels (:data:`MIN_SIDE`). Smaller ImageNet images are mostly
   thumbnails, often upscaled by their publisher, so they hold little real
   high-frequency detail for an SR model to learn; 256 also leaves room for
   many distinct crops of the largest patch the pipeline samples (e.g.
   (32 + 2 * 2) * 4 = 144 HR pixels at x4 with a 32-pixel LR patch). Files
   that cannot be decoded are skipped;
3. split 50,000 train / 15,296 validation when there are enough eligible
   images; when there are fewer, split what there is in the same
   50,000 : 15,296 ratio (:func:`split_sizes`). A source with its own
   validation images (``CLS-LOC/val``, ``imagenet2012``'s ``validation``)
   feeds the validation split from those and the train split from ``train``;
   a flat folder (or a CLS-LOC tree without ``val``) feeds both from one
   pool: the first images in selection order go to train, the next to
   validation.

Storage: RGB JPEGs keep their bytes, so the images are exactly ImageNet's.
Greyscale and CMYK JPEGs and non-JPEG files (ImageNet has a PNG named
``.JPEG``) are converted to RGB and stored as PNG, losslessly.

Every build writes ``build_log.json`` next to the TFDS files (and logs a
summary): counts of files kept, filtered, converted and skipped with their
reasons, the names, and the split sizes. :func:`build_log` reads it.

  b = imagenet_sr.builder(imagenet_dir="/data/ILSVRC", data_dir="/tmp/tfds")
  ds = b.as_dataset(split="train")  # {"image": uint8 [H, W, 3], "file_name"}

The same from the command line, with the validation images written to a
folder for ``--config.eval.datasets`` (:mod:`sr_jax.datasets.prepare_imagenet`):

  python -m sr_jax.datasets.prepare_imagenet --imagenet_dir=/data/ILSVRC \
    --tfds_data_dir=/tmp/tfds --export_validation=/tmp/imagenet_val

``imagenet2012`` itself cannot be downloaded by TFDS: its tar files have to be
fetched by hand from image-net.org (see TFDS's catalog page for it).
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import heapq
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from sr_jax import image_io
from sr_jax.datasets import imagenet_files

SOURCE = "imagenet2012"
NUM_TRAIN = 50_000
NUM_VALIDATION = 15_296
MIN_SIDE = 256
LOG_FILE = "build_log.json"

# The flags that choose the source, quoted in error messages.
_FLAGS = f"{imagenet_files.FLAG} or --config.data.tfds_data_dir"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(eq=False)
class ImagenetSrConfig(tfds.core.BuilderConfig):
  """How many images to draw per split, and the shorter-side minimum."""

  num_train: int = NUM_TRAIN
  num_validation: int = NUM_VALIDATION
  min_side: int = MIN_SIDE


def selection_key(file_name: str) -> bytes:
  """The order of the selection: SHA-256 of the UTF-8 file name."""
  return hashlib.sha256(file_name.encode("utf-8")).digest()


def split_sizes(
  *, train: int, validation: int | None, num_train: int, num_validation: int
) -> tuple[int, int]:
  """How many images the train and validation splits get.

  Args:
    train: eligible images of the train pool (counting up to what is needed:
      ``num_train``, or ``num_train + num_validation`` for one pool).
    validation: eligible images of the validation pool (up to
      ``num_validation``), or None when one pool feeds both splits.
    num_train: the train split's size when there are enough images.
    num_validation: the validation split's size when there are enough.

  Returns:
    ``(n_train, n_validation)``: the full sizes when there are enough images,
    else in the ratio ``num_train : num_validation`` (rounded), using every
    eligible image of the scarcer pool.

  Raises:
    ValueError: too few images for one in each split.
  """
  total = num_train + num_validation
  if validation is None:
    if train >= total:
      return num_train, num_validation
    n_val = max(1, round(train * num_validation / total))
    n_train = train - n_val
  else:
    f = min(1.0, train / num_train, validation / num_validation)
    n_train = min(train, round(num_train * f))
    n_val = min(validation, max(1, round(num_validation * f)))
  if n_train < 1 or n_val < 1:
    pools = (
      f"{train} eligible images"
      if validation is None
      else f"{train} eligible train and {validation} eligible validation images"
    )
    raise ValueError(
      f"only {pools}: each split needs at least one (set by {_FLAGS})"
    )
  return n_train, n_val


@dataclasses.dataclass
class _Pool:
  """One source pool walked in selection order.

  Attributes:
    files: images in the pool.
    kept: eligible ones, in selection order, as many as a split may use.
    filtered: examined ones that fail the size rule.
    skipped: examined ones that cannot be decoded.
    more_kept: eligible ones seen beyond ``kept`` (a whole TFDS split is
      read, but only the first ones in selection order are held).
    more_converted: how many of those would need a conversion.
  """

  files: int
  kept: list[imagenet_files.Verdict]
  filtered: list[imagenet_files.Verdict]
  skipped: list[imagenet_files.Verdict]
  more_kept: int = 0
  more_converted: int = 0

  def summary(self) -> dict:
    converted = [v for v in self.kept if v.converted]
    kept = len(self.kept) + self.more_kept
    return {
      "files": self.files,
      "examined": kept + len(self.filtered) + len(self.skipped),
      "kept": kept,
      "filtered": len(self.filtered),
      "converted": len(converted) + self.more_converted,
      "skipped": len(self.skipped),
      "reasons": imagenet_files.count_reasons(
        self.filtered + converted + self.skipped
      ),
    }


def _walk_files(paths: Sequence[str], *, want: int, min_side: int) -> _Pool:
  """Probes files in selection order until ``want`` are kept (or all seen).

  Files are probed in parallel chunks (PIL decodes without the GIL); the
  outcome is in selection order whatever the threads do.
  """
  order = sorted(paths, key=lambda p: selection_key(os.path.basename(p)))
  pool = _Pool(files=len(order), kept=[], filtered=[], skipped=[])
  workers = min(8, os.cpu_count() or 1)
  chunk = 32 * workers
  probe = functools.partial(imagenet_files.probe, min_side=min_side)
  with concurrent.futures.ThreadPoolExecutor(workers) as executor:
    for start in range(0, len(order), chunk):
      for verdict in executor.map(probe, order[start : start + chunk]):
        if len(pool.kept) >= want:
          return pool
        getattr(pool, verdict.status).append(verdict)
  return pool


def _walk_records(
  records: Iterable[tuple[str, int, int, int]], *, want: int, min_side: int
) -> _Pool:
  """The rule over ``(file_name, height, width, channels)`` of a whole split.

  TFDS stores ``imagenet2012`` as JPEGs with CMYK and PNG files already
  converted to RGB JPEG; greyscale JPEGs remain, and are converted here.
  """
  files = 0
  eligible_grey = 0
  filtered = []

  def eligible():
    nonlocal files, eligible_grey
    for name, height, width, channels in records:
      files += 1
      if min(height, width) >= min_side:
        eligible_grey += channels == 1
        yield name, height, width, channels
      else:
        filtered.append(
          imagenet_files.Verdict(
            name,
            "filtered",
            f"shorter side {min(height, width)} px < {min_side}",
            height,
            width,
          )
        )

  # A bounded heap: only ``want`` of the 1.28M names are held in order.
  chosen = heapq.nsmallest(want, eligible(), key=lambda r: selection_key(r[0]))
  kept = [
    imagenet_files.Verdict(
      name, "kept", imagenet_files.GREYSCALE if c == 1 else "", h, w
    )
    for name, h, w, c in chosen
  ]
  num_eligible = files - len(filtered)
  converted = sum(v.converted for v in kept)
  return _Pool(
    files=files,
    kept=kept,
    filtered=filtered,
    skipped=[],
    more_kept=num_eligible - len(kept),
    more_converted=eligible_grey - converted,
  )


def select(
  records: Iterable[tuple[str, int, int]], *, num: int, min_side: int
) -> list[str]:
  """The rule's first ``num`` eligible names of ``(file_name, h, w)`` records.

  Returns:
    Up to ``num`` file names, in selection order (ascending
    :func:`selection_key`); fewer when fewer are eligible.
  """
  pool = _walk_records(
    ((n, h, w, 3) for n, h, w in records), want=num, min_side=min_side
  )
  return [v.path for v in pool.kept]


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


def _fingerprint(source: imagenet_files.Source) -> str:
  """SHA-256 of the pools' file lists (paths relative to the root)."""
  h = hashlib.sha256()
  for pool, paths in sorted(source.pools.items()):
    for path in paths:
      h.update(f"{pool}/{os.path.relpath(path, source.root)}\n".encode())
  return h.hexdigest()


def summary(log: dict) -> str:
  """A build log as a few lines of text."""
  lines = [
    f"imagenet_sr build from {log['source']['kind']} {log['source']['path']}"
    f" (shorter side >= {log['rule']['min_side']}, split "
    f"{log['rule']['split']}):"
  ]
  for name, pool in log["pools"].items():
    reasons = "; ".join(f"{k}: {v}" for k, v in pool["reasons"].items())
    lines.append(
      f"  pool {name}: {pool['files']} files, {pool['examined']} examined, "
      f"{pool['kept']} kept ({pool['converted']} converted), "
      f"{pool['filtered']} filtered, {pool['skipped']} skipped"
      + (f" [{reasons}]" if reasons else "")
    )
  splits = ", ".join(
    f"{k} {v['images']} ({v['converted']} converted)"
    for k, v in log["splits"].items()
  )
  lines.append(f"  splits: {splits}")
  return "\n".join(lines)


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
        f"{NUM_TRAIN} train + {NUM_VALIDATION} validation images of "
        f"{SOURCE} with a shorter side >= {MIN_SIDE}, first by SHA-256 of "
        "the file name."
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
      pools = self._walk_folder(source)
      source_info = {
        "kind": source.kind,
        "path": os.path.abspath(source.root),
        "given": self._imagenet_dir,
        "fingerprint": _fingerprint(source),
      }
    else:
      data_dir = self._source_data_dir or os.fspath(self.data_dir_root)
      pools = {
        "train": _walk_records(
          scan("train", data_dir=data_dir),
          want=config.num_train,
          min_side=config.min_side,
        ),
        "validation": _walk_records(
          scan("validation", data_dir=data_dir),
          want=config.num_validation,
          min_side=config.min_side,
        ),
      }
      source_info = {"kind": SOURCE, "path": data_dir}
    if "validation" in pools:
      n_train, n_val = split_sizes(
        train=len(pools["train"].kept),
        validation=len(pools["validation"].kept),
        num_train=config.num_train,
        num_validation=config.num_validation,
      )
      chosen = {
        "train": pools["train"].kept[:n_train],
        "validation": pools["validation"].kept[:n_val],
      }
    else:
      (pool,) = pools.values()
      kept = pool.kept
      n_train, n_val = split_sizes(
        train=len(kept),
        validation=None,
        num_train=config.num_train,
        num_validation=config.num_validation,
      )
      chosen = {
        "train": kept[:n_train],
        "validation": kept[n_train : n_train + n_val],
      }
    log = self._log(source_info, pools, chosen)
    self._write_log(log)
    return {
      split: self._generate_examples(split, verdicts, source_info)
      for split, verdicts in chosen.items()
    }

  def _walk_folder(self, source: imagenet_files.Source) -> dict[str, _Pool]:
    config = self.builder_config
    if "validation" in source.pools:
      wants = {"train": config.num_train, "validation": config.num_validation}
    else:
      (name,) = source.pools
      wants = {name: config.num_train + config.num_validation}
    return {
      name: _walk_files(source.pools[name], want=want, min_side=config.min_side)
      for name, want in wants.items()
    }

  def _log(self, source_info, pools, chosen) -> dict:
    config = self.builder_config
    split_of = {v.path: s for s, vs in chosen.items() for v in vs}

    def entries(verdicts, pool):
      return [
        {
          "name": v.name,
          "pool": pool,
          "reason": v.reason,
          "split": split_of.get(v.path),
        }
        for v in verdicts
      ]

    return {
      "dataset": f"{self.name}/{config.name}:{self.version}",
      "source": source_info,
      "rule": {
        "order": "ascending SHA-256 of the file name",
        "min_side": config.min_side,
        "num_train": config.num_train,
        "num_validation": config.num_validation,
        "split": (
          "train from pool train, validation from pool validation"
          if "validation" in pools
          else "one pool: first to train, next to validation"
        ),
      },
      "pools": {name: pool.summary() for name, pool in pools.items()},
      "splits": {
        split: {
          "images": len(verdicts),
          "converted": sum(v.converted for v in verdicts),
        }
        for split, verdicts in chosen.items()
      },
      "converted": [
        e
        for name, pool in pools.items()
        for e in entries([v for v in pool.kept if v.converted], name)
      ],
      "skipped": [
        e for name, pool in pools.items() for e in entries(pool.skipped, name)
      ],
      "filtered": [
        e for name, pool in pools.items() for e in entries(pool.filtered, name)
      ],
    }

  def _write_log(self, log: dict) -> None:
    """Writes the log into the (temporary) dataset folder, and logs it.

    During the build ``self.data_dir`` is TFDS's temporary folder, renamed
    to the final one only when the build succeeds, so the log is there
    exactly when the data is.
    """
    path = os.path.join(os.fspath(self.data_dir), LOG_FILE)
    with open(path, "w") as f:
      json.dump(log, f, indent=1)
    logging.info("%s", summary(log))
    for e in log["converted"]:
      logging.info("imagenet_sr: converted %s (%s)", e["name"], e["reason"])
    for e in log["skipped"]:
      logging.warning("imagenet_sr: skipped %s (%s)", e["name"], e["reason"])

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


def build_log(b: tfds.core.DatasetBuilder) -> dict:
  """The ``build_log.json`` of a prepared :class:`ImagenetSr`."""
  with open(os.path.join(os.fspath(b.data_dir), LOG_FILE)) as f:
    return json.load(f)


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
    LOG_FILE,
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
        built = build_log(b)["source"].get("fingerprint")
        if built != _fingerprint(imagenet_files.find(imagenet_dir)):
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
