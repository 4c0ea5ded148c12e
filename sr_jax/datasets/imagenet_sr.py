"""The ESPCN paper's ImageNet subset, as a TFDS builder over ``imagenet2012``.

Shi et al. (CVPR 2016) train ESPCN on 50,000 images drawn at random from
ImageNet. This builder makes such a subset reproducibly: 50,000 training
images from the ``train`` split and 15,296 validation images from the
``validation`` split of a prepared TFDS ``imagenet2012``, by this rule:

1. keep the images whose shorter side is at least 256 pixels
   (:data:`MIN_SIDE`). Smaller ImageNet images are mostly thumbnails, often
   upscaled by their publisher, so they hold little real high-frequency
   detail for an SR model to learn; 256 also leaves room for many distinct
   crops of the largest patch the pipeline samples (e.g. (32 + 2 * 2) * 4 =
   144 HR pixels at x4 with a 32-pixel LR patch);
2. order the kept images by the SHA-256 of their file name (e.g.
   ``n01440764_10026.JPEG``), which is fixed and independent of how TFDS
   sharded or ordered ``imagenet2012``;
3. take the first 50,000 (train) or 15,296 (validation).

Sizes come from the JPEG headers (TFDS stores every ImageNet image as JPEG),
so selecting needs no decoding, but it reads the source split twice (once to
choose, once to copy): building takes a while, once. The chosen JPEG bytes are
stored unchanged, so the images are exactly ImageNet's.

  b = imagenet_sr.ImagenetSr(data_dir="~/tensorflow_datasets")
  b.download_and_prepare()  # needs imagenet2012 prepared in the same data_dir
  ds = b.as_dataset(split="train")  # {"image": uint8 [H, W, 3], "file_name"}

``imagenet2012`` itself cannot be downloaded by TFDS: its tar files have to be
fetched by hand from image-net.org (see TFDS's catalog page for it).
"""

import dataclasses
import hashlib
import heapq
import os
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

SOURCE = "imagenet2012"
NUM_TRAIN = 50_000
NUM_VALIDATION = 15_296
MIN_SIDE = 256


@dataclasses.dataclass(eq=False)
class ImagenetSrConfig(tfds.core.BuilderConfig):
  """How many images to draw per split, and the shorter-side minimum."""

  num_train: int = NUM_TRAIN
  num_validation: int = NUM_VALIDATION
  min_side: int = MIN_SIDE


def selection_key(file_name: str) -> bytes:
  """The order of the selection: SHA-256 of the UTF-8 file name."""
  return hashlib.sha256(file_name.encode("utf-8")).digest()


def select(
  records: Iterable[tuple[str, int, int]], *, num: int, min_side: int
) -> list[str]:
  """Applies the selection rule to ``(file_name, height, width)`` records.

  Args:
    records: every image of a source split, in any order.
    num: how many file names to return.
    min_side: the shorter side an image needs to be eligible.

  Returns:
    ``num`` file names, in selection order (ascending :func:`selection_key`).

  Raises:
    ValueError: fewer than ``num`` images are eligible.
  """
  eligible = (
    (selection_key(name), name)
    for name, height, width in records
    if min(height, width) >= min_side
  )
  # A bounded heap: the source split (1.28M names) is never held in memory.
  chosen = heapq.nsmallest(num, eligible)
  if len(chosen) < num:
    raise ValueError(
      f"only {len(chosen)} images have a shorter side >= {min_side}, but "
      f"{num} are needed"
    )
  return [name for _, name in chosen]


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
    raise FileNotFoundError(
      f"imagenet_sr is drawn from TFDS {SOURCE}, which is not prepared in "
      f"{source.data_dir_root} (--config.data.tfds_data_dir): put "
      "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in "
      f"{os.path.join(source.data_dir_root, 'downloads', 'manual')} and run "
      f"`tfds build {SOURCE} --data_dir={source.data_dir_root}`"
    ) from e
  return ds.map(lambda ex: {"file_name": ex["file_name"], "image": ex["image"]})


def scan(split: str, *, data_dir: str | None) -> Iterator[tuple[str, int, int]]:
  """Yields ``(file_name, height, width)`` for every image of a source split.

  Args:
    split: ``"train"`` or ``"validation"`` of ``imagenet2012``.
    data_dir: the TFDS data directory holding ``imagenet2012``.
  """
  ds = _open_source(split, data_dir=data_dir).map(
    lambda ex: (ex["file_name"], tf.image.extract_jpeg_shape(ex["image"])[:2]),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  for name, hw in ds.as_numpy_iterator():
    yield name.decode("utf-8"), int(hw[0]), int(hw[1])


class ImagenetSr(tfds.core.GeneratorBasedBuilder):
  """50,000 + 15,296 ImageNet 2012 images chosen by a fixed rule."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
    ImagenetSrConfig(
      name="espcn",
      description=(
        f"{NUM_TRAIN} train + {NUM_VALIDATION} validation images with a "
        f"shorter side >= {MIN_SIDE}, first by SHA-256 of the file name."
      ),
    )
  ]
  # Nothing is downloaded, so there are no checksums to look up; looking
  # them up needs the package importlib_resources, which TFDS 4.9.10 uses
  # without declaring it.
  url_infos = None

  def __init__(self, *, source_data_dir: str | None = None, **kwargs):
    """Creates the builder.

    Args:
      source_data_dir: the TFDS data directory that holds ``imagenet2012``;
        ``None`` for this builder's own ``data_dir``.
      **kwargs: for ``tfds.core.GeneratorBasedBuilder`` (``data_dir``,
        ``config``, ...).
    """
    super().__init__(**kwargs)
    self._source_data_dir = source_data_dir

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(
            shape=(None, None, 3), dtype=np.uint8, encoding_format="jpeg"
          ),
          "file_name": tfds.features.Text(),
        }
      ),
      description=__doc__.split("\n\n")[1],
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything comes from imagenet2012.
    config = self.builder_config
    data_dir = self._source_data_dir or os.fspath(self.data_dir_root)
    return {
      "train": self._generate_examples("train", config.num_train, data_dir),
      "validation": self._generate_examples(
        "validation", config.num_validation, data_dir
      ),
    }

  def _generate_examples(self, split: str, num: int, data_dir: str):
    chosen = select(
      scan(split, data_dir=data_dir),
      num=num,
      min_side=self.builder_config.min_side,
    )
    table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        tf.constant(chosen), tf.ones([len(chosen)], tf.int32)
      ),
      default_value=0,
    )
    ds = _open_source(split, data_dir=data_dir).filter(
      lambda ex: table.lookup(ex["file_name"]) > 0
    )
    for ex in ds.as_numpy_iterator():
      name = ex["file_name"].decode("utf-8")
      # The JPEG bytes as they are: re-encoding would lose detail.
      yield name, {"image": ex["image"], "file_name": name}
