"""A TFDS builder for a folder of training images (T91, BSD200, ...).

The images of ``<source_dir>/<name>/`` become the ``train`` split of
``image_folder/<name>``, built offline into a TFDS ``data_dir`` and stored as
PNG, so the decoded pixels are exactly those of the source files. Each
example is ``{"image": uint8 [H, W, 3], "name": file name}``; grey images are
stored as three equal channels so that every example has the same rank.

The source folder reaches the builder through TFDS's ``manual_dir``: the
parent folder is passed as ``DownloadConfig(manual_dir=source_dir)`` and the
config name picks the subfolder. :func:`builder` does all of this:

  b = image_folder.builder("T91", source_dir="data/train",
                           data_dir="~/tensorflow_datasets")
  ds = b.as_dataset(split="train")

TFDS writes into a temporary ``incomplete.*`` folder and renames it only when
the build succeeded, so a missing or corrupt image leaves nothing that a
later run would mistake for a finished dataset.

Build once per ``data_dir``: several processes that share one ``data_dir``
(e.g. on a network disk) must not build the same set at the same time, so
build it first (one process, or ``builder`` in a setup step); each process
on its own local ``data_dir`` may build its own copy.

Configs exist for the usual SR sets (:data:`KNOWN_FOLDERS`); any other folder
name gets a config made on the fly by :func:`builder`.
"""

import os
import re

import numpy as np
import tensorflow_datasets as tfds

from sr_jax import image_io

# Folder names with a predefined config; others are made by ``builder``.
KNOWN_FOLDERS = ("T91", "BSD200", "General100", "Set5", "Set14", "BSD100")

# The config flags that name the source folder, quoted in error messages.
SOURCE_FLAGS = "--config.data.train_dir / --config.data.train_sets"

# Config names become folder names under data_dir; keep them portable.
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _make_config(name: str) -> tfds.core.BuilderConfig:
  """A config for the images of ``<manual_dir>/<name>/``."""
  if not _VALID_NAME.match(name):
    raise ValueError(
      f"image folder name {name!r} must be a plain folder name (letters, "
      f"digits, '_', '-', '.'), set by {SOURCE_FLAGS}"
    )
  return tfds.core.BuilderConfig(
    name=name, description=f"The images of the folder {name}/."
  )


class ImageFolder(tfds.core.GeneratorBasedBuilder):
  """The images of one folder as a ``train`` split, losslessly (PNG)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [_make_config(n) for n in KNOWN_FOLDERS]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Pass the parent of the image folder as the manual_dir, e.g.
  DownloadConfig(manual_dir="data/train") for the config T91 reads
  data/train/T91/*.{png,bmp,jpg,...}. sr_jax.datasets.image_folder.builder
  does this for you.
  """
  # Nothing is downloaded, so there are no checksums to look up; looking
  # them up needs the package importlib_resources, which TFDS 4.9.10 uses
  # without declaring it.
  url_infos = None

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(
            shape=(None, None, 3), dtype=np.uint8, encoding_format="png"
          ),
          "name": tfds.features.Text(),
        }
      ),
      description=(
        "High-resolution training images read from a folder and stored "
        "losslessly."
      ),
    )

  def _split_generators(self, dl_manager):
    folder = os.fspath(dl_manager.manual_dir / self.builder_config.name)
    files = image_io.list_images(folder, flag=SOURCE_FLAGS)
    return {"train": self._generate_examples(files)}

  def _generate_examples(self, files):
    for path in files:
      try:
        image = image_io.read_image(path)
      except image_io.ImageReadError as e:
        raise image_io.ImageReadError(
          f"{e} (while building TFDS image_folder/{self.builder_config.name} "
          f"from the folder set by {SOURCE_FLAGS})"
        ) from e
      if image.ndim == 2:
        # One rank for every example; the model picks Y or RGB later.
        image = np.repeat(image[:, :, None], 3, axis=2)
      name = os.path.basename(path)
      yield name, {"image": image, "name": name}


def builder(
  name: str, *, source_dir: str, data_dir: str | None = None
) -> ImageFolder:
  """Returns the prepared ``image_folder/<name>`` builder, building if needed.

  A dataset already built into ``data_dir`` is reused without reading the
  source folder again (the source may even be absent then). If the source
  folder exists but holds a different number of images than the built
  dataset, the build is stale and this raises rather than train on old data.

  Args:
    name: the folder name under ``source_dir``, e.g. ``"T91"``; also the
      config name.
    source_dir: the folder holding ``name/`` (``config.data.train_dir``).
    data_dir: the TFDS data directory; ``None`` or ``""`` for TFDS's default
      (``~/tensorflow_datasets`` or ``$TFDS_DATA_DIR``).

  Returns:
    The builder; ``.as_dataset(split="train")`` reads it.

  Raises:
    FileNotFoundError: the dataset is not built and ``source_dir/name`` is
      missing or holds no image; the message names the folder and the flags.
    image_io.ImageReadError: an image cannot be decoded; names the file.
    ValueError: a bad folder name, or a stale build (see above).
  """
  config = (
    ImageFolder.builder_configs[name]
    if name in ImageFolder.builder_configs
    else _make_config(name)
  )
  b = ImageFolder(config=config, data_dir=data_dir or None)
  folder = os.path.join(source_dir, name)
  if b.is_prepared():
    if os.path.isdir(folder):
      num_files = len(image_io.list_images(folder, flag=SOURCE_FLAGS))
      num_built = b.info.splits["train"].num_examples
      if num_files != num_built:
        raise ValueError(
          f"TFDS image_folder/{name} in {b.data_dir} holds {num_built} "
          f"images but {folder} now holds {num_files}: delete {b.data_dir} "
          "to rebuild it"
        )
    return b
  # Checked here, before TFDS runs, so the message names our flags rather
  # than TFDS's manual-download instructions.
  image_io.list_images(folder, flag=SOURCE_FLAGS)
  b.download_and_prepare(
    download_config=tfds.download.DownloadConfig(
      manual_dir=source_dir, try_download_gcs=False
    )
  )
  return b
