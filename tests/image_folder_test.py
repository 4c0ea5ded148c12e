"""Tests for the TFDS image_folder builder."""

import os

import numpy as np
import pytest
from conftest import REPO_DATA
from PIL import Image

from sr_jax import image_io
from sr_jax.datasets import image_folder


def _set5(name: str) -> np.ndarray:
  return image_io.read_image(os.path.join(REPO_DATA, "eval", "Set5", name))


@pytest.fixture
def source(tmp_path):
  """A folder ``src/mini`` with an RGB PNG, a grey PNG and an RGB BMP."""
  folder = tmp_path / "src" / "mini"
  folder.mkdir(parents=True)
  rgb = _set5("bird.png")[:40, :50]
  grey = _set5("head.png")[:30, :20, 1]
  Image.fromarray(rgb).save(folder / "a_rgb.png")
  Image.fromarray(grey).save(folder / "b_grey.png")
  Image.fromarray(rgb[::-1]).save(folder / "c_rgb.bmp")
  expected = {
    "a_rgb.png": rgb,
    "b_grey.png": np.repeat(grey[:, :, None], 3, axis=2),
    "c_rgb.bmp": rgb[::-1],
  }
  return str(tmp_path / "src"), expected


def _read_all(b):
  return {
    ex["name"].decode(): ex["image"]
    for ex in b.as_dataset(split="train").as_numpy_iterator()
  }


def _leftovers(data_dir: str, name: str) -> list[str]:
  """Everything the builder left for config ``name``, temp dirs included."""
  root = os.path.join(data_dir, "image_folder", name)
  if not os.path.isdir(root):
    return []
  return sorted(os.listdir(root))


def test_known_configs():
  assert set(image_folder.KNOWN_FOLDERS) <= set(
    image_folder.ImageFolder.builder_configs
  )
  assert image_folder.ImageFolder.name == "image_folder"


def test_builds_losslessly_and_greys_become_rgb(source, tmp_path):
  source_dir, expected = source
  data_dir = str(tmp_path / "tfds")
  b = image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)
  assert b.info.splits["train"].num_examples == 3
  images = _read_all(b)
  assert images.keys() == expected.keys()
  for name, image in images.items():
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    np.testing.assert_array_equal(image, expected[name])
  grey = images["b_grey.png"]
  assert (grey[..., 0] == grey[..., 1]).all()
  assert (grey[..., 0] == grey[..., 2]).all()


def test_reloads_without_rebuilding(source, tmp_path, monkeypatch):
  source_dir, expected = source
  data_dir = str(tmp_path / "tfds")
  image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)

  def no_rebuild(*args, **kwargs):
    raise AssertionError("rebuilt an already built dataset")

  monkeypatch.setattr(
    image_folder.ImageFolder, "_generate_examples", no_rebuild
  )
  b = image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)
  assert _read_all(b).keys() == expected.keys()
  # The source folder is not needed once built.
  b = image_folder.builder(
    "mini", source_dir=str(tmp_path / "gone"), data_dir=data_dir
  )
  assert b.info.splits["train"].num_examples == 3


def test_stale_build_is_refused(source, tmp_path):
  source_dir, _ = source
  data_dir = str(tmp_path / "tfds")
  image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)
  Image.fromarray(_set5("baby.png")[:20, :20]).save(
    os.path.join(source_dir, "mini", "d_new.png")
  )
  with pytest.raises(ValueError, match="holds 3 images.*now holds 4"):
    image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)


def test_missing_folder_names_folder_and_flag(tmp_path):
  data_dir = str(tmp_path / "tfds")
  source_dir = str(tmp_path / "src")
  with pytest.raises(FileNotFoundError) as e:
    image_folder.builder("T91", source_dir=source_dir, data_dir=data_dir)
  assert os.path.join(source_dir, "T91") in str(e.value)
  assert "--config.data.train_dir" in str(e.value)
  assert "--config.data.train_sets" in str(e.value)
  assert _leftovers(data_dir, "T91") == []


def test_corrupt_image_fails_cleanly_then_builds(source, tmp_path):
  source_dir, _ = source
  data_dir = str(tmp_path / "tfds")
  bad = os.path.join(source_dir, "mini", "z_truncated.png")
  with open(os.path.join(source_dir, "mini", "a_rgb.png"), "rb") as f:
    data = f.read()
  with open(bad, "wb") as f:
    f.write(data[: len(data) // 2])
  with pytest.raises(image_io.ImageReadError) as e:
    image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)
  assert "z_truncated.png" in str(e.value)
  assert "--config.data.train_sets" in str(e.value)
  # TFDS built into a temporary folder and removed it: nothing is left that
  # could pass for a finished dataset.
  assert _leftovers(data_dir, "mini") == []
  b = image_folder.ImageFolder(
    config=image_folder._make_config("mini"), data_dir=data_dir
  )
  assert not b.is_prepared()
  os.remove(bad)
  b = image_folder.builder("mini", source_dir=source_dir, data_dir=data_dir)
  assert b.info.splits["train"].num_examples == 3
  assert _leftovers(data_dir, "mini") == ["1.0.0"]


def test_bad_folder_name(tmp_path):
  with pytest.raises(ValueError, match="plain folder name"):
    image_folder.builder(
      "../up", source_dir=str(tmp_path), data_dir=str(tmp_path / "tfds")
    )
