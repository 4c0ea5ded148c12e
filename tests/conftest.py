"""Shared test fixtures: where the repository's and the shared data live."""

import os
import sys

import jax
import pytest

# Two CPU devices for the whole test session, set before JAX starts: the
# training tests then exercise the sharded (data-parallel) code path.
jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Config files import ``configs.default``; main.py does the same.
sys.path.insert(0, REPO)

REPO_DATA = os.path.join(REPO, "data")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
SHARED_PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")


def require_shared(*parts: str) -> str:
  """Returns ``../shared/<parts>`` or skips the test, saying why."""
  path = os.path.join(os.path.dirname(REPO), "shared", *parts)
  if not os.path.exists(path):
    pytest.skip(
      f"{path} not found: this test needs the project's shared data "
      "(present in CI, absent in a user's clone)"
    )
  return path


def set5_crop_set(root, crops) -> tuple[str, str, dict]:
  """A training set ``tiny`` of Set5 crops, for pipeline tests.

  Args:
    root: a fresh folder (a ``pathlib.Path``).
    crops: ``(Set5 file name, (y, x, height, width))`` per image; image ``i``
      is saved as ``<i>_<name>``.

  Returns:
    ``(source_dir, tfds_data_dir, {file name: image})``.
  """
  import numpy as np
  from PIL import Image

  from sr_jax import image_io

  folder = root / "src" / "tiny"
  folder.mkdir(parents=True)
  images = {}
  for i, (name, (y, x, h, w)) in enumerate(crops):
    full = image_io.read_image(os.path.join(REPO_DATA, "eval", "Set5", name))
    crop = np.ascontiguousarray(full[y : y + h, x : x + w])
    Image.fromarray(crop).save(folder / f"{i}_{name}")
    images[f"{i}_{name}"] = crop
  return str(root / "src"), str(root / "tfds"), images


def crop_set_config(folders, **data):
  """The default config training on :func:`set5_crop_set`'s ``folders``.

  ``scale``, ``seed`` and ``batch_size`` (3, 0, 8 unless given) are
  top-level keys; the other keyword arguments are ``config.data`` keys.
  """
  from configs import default

  source_dir, data_dir, _ = folders
  config = default.get_config()
  config.data.train_dir = source_dir
  config.data.train_sets = "tiny"
  config.data.tfds_data_dir = data_dir
  config.data.patches_per_image = 4
  config.scale = data.pop("scale", 3)
  config.seed = data.pop("seed", 0)
  config.batch_size = data.pop("batch_size", 8)
  config.data.update(data)
  return config
