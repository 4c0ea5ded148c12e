"""The training data of the configs that train on the original project's
source: T91 + BSD200 + General100 + ImageNet800 from ``../shared/data/train``,
less the README showcase photos (held out so their figures are fair)."""

import os

from sr_jax import showcase_photos

SHARED_TRAIN = os.path.normpath(
  os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "..",
    "shared",
    "data",
    "train",
  )
)


def use_original_data(config) -> None:
  """Points ``config.data`` at that data, in place."""
  config.data.train_dir = SHARED_TRAIN
  config.data.train_sets = "T91,BSD200,General100,ImageNet800"
  config.data.exclude = ",".join(showcase_photos.PHOTOS)
