"""Tests for the ImageNet subset builder and the TFDS-catalog sources.

ImageNet and DIV2K cannot be downloaded here: their readers run on fake
examples (``tfds.testing.mock_data``, or a patched source for the build).
"""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import REPO_DATA
from PIL import Image

from configs import default
from sr_jax import image_io, imresize, input_pipeline
from sr_jax.datasets import imagenet_sr

_SET5 = ("baby.png", "bird.png", "butterfly.png", "head.png", "woman.png")

# (file name, height, width): the rule keeps shorter sides >= min_side.
_SOURCE = [
  ("n01_1.JPEG", 70, 90),
  ("n01_2.JPEG", 64, 100),
  ("n02_3.JPEG", 90, 63),  # too narrow for min_side=64
  ("n02_4.JPEG", 80, 80),
  ("n03_5.JPEG", 40, 200),  # too short
  ("n03_6.JPEG", 100, 66),
  ("n04_7.JPEG", 66, 66),
]


def _photo(height: int, width: int, seed: int) -> np.ndarray:
  """A crop of a Set5 image; different images for seeds 0 to 4."""
  name = _SET5[seed % len(_SET5)]
  image = image_io.read_image(os.path.join(REPO_DATA, "eval", "Set5", name))
  y, x = 3 * (seed // len(_SET5)), 5 * (seed // len(_SET5))
  return np.ascontiguousarray(image[y : y + height, x : x + width])


def _jpeg(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=92)
  return buf.getvalue()


def _png(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG")
  return buf.getvalue()


_JPEGS = {
  name: _jpeg(_photo(h, w, i)) for i, (name, h, w) in enumerate(_SOURCE)
}


def _fake_source(split, *, data_dir):
  """Stands in for ``imagenet_sr._open_source`` (a prepared imagenet2012)."""
  del data_dir
  names = [n for n, _, _ in _SOURCE]
  if split == "validation":
    names = names[::-1]  # Order must not matter.
  return tf.data.Dataset.from_tensor_slices(
    {"file_name": names, "image": [_JPEGS[n] for n in names]}
  )


def _expected(num, min_side=64):
  eligible = [n for n, h, w in _SOURCE if min(h, w) >= min_side]
  return sorted(eligible, key=imagenet_sr.selection_key)[:num]


def test_select_rule():
  chosen = imagenet_sr.select(_SOURCE, num=3, min_side=64)
  assert chosen == _expected(3)
  assert "n02_3.JPEG" not in chosen and "n03_5.JPEG" not in chosen
  # Independent of the order of the source.
  assert imagenet_sr.select(_SOURCE[::-1], num=3, min_side=64) == chosen
  with pytest.raises(ValueError, match="only 5 images"):
    imagenet_sr.select(_SOURCE, num=6, min_side=64)


def test_defaults_are_the_espcn_subset():
  config = imagenet_sr.ImagenetSr.builder_configs["espcn"]
  assert (config.num_train, config.num_validation, config.min_side) == (
    50_000,
    15_296,
    256,
  )


def test_builds_the_selection_with_unchanged_jpegs(tmp_path, monkeypatch):
  monkeypatch.setattr(imagenet_sr, "_open_source", _fake_source)
  config = imagenet_sr.ImagenetSrConfig(
    name="tiny", num_train=3, num_validation=2, min_side=64
  )
  b = imagenet_sr.ImagenetSr(config=config, data_dir=str(tmp_path))
  b.download_and_prepare(
    download_config=tfds.download.DownloadConfig(try_download_gcs=False)
  )
  for split, num in (("train", 3), ("validation", 2)):
    ds = b.as_dataset(
      split=split, decoders={"image": tfds.decode.SkipDecoding()}
    )
    got = {
      ex["file_name"].decode(): ex["image"] for ex in ds.as_numpy_iterator()
    }
    assert sorted(got) == sorted(_expected(num))
    for name, data in got.items():
      assert data == _JPEGS[name]


def test_scan_reads_jpeg_sizes_from_imagenet2012():
  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    assert self.name == "imagenet2012"
    return _fake_source(split, data_dir=None).map(
      lambda ex: {**ex, "label": tf.constant(0, tf.int64)}
    )

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    assert sorted(imagenet_sr.scan("train", data_dir=None)) == sorted(_SOURCE)


def test_missing_imagenet2012_says_how_to_get_it(tmp_path):
  with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
    next(imagenet_sr.scan("train", data_dir=str(tmp_path)))


def _mock_catalog(self, split, decoders=None, read_config=None, **kwargs):
  """Fake ``imagenet_sr`` / ``div2k`` examples, as the pipeline reads them."""
  del split, read_config, kwargs
  images = [_photo(70 + 7 * i, 90 - 4 * i, i) for i in range(4)]
  if self.name == "imagenet_sr":
    assert isinstance(decoders["image"], tfds.decode.SkipDecoding)
    return tf.data.Dataset.from_tensor_slices(
      {
        "image": [_jpeg(im) for im in images],
        "file_name": [f"n{i}.JPEG" for i in range(4)],
      }
    )
  assert self.name == "div2k"
  assert isinstance(decoders["hr"], tfds.decode.SkipDecoding)
  return tf.data.Dataset.from_tensor_slices(
    {
      "hr": [_png(im) for im in images],
      "lr": [_png(im[::3, ::3]) for im in images],
    }
  )


@pytest.mark.parametrize("dataset", ["imagenet_sr", "div2k"])
def test_catalog_sources_give_exact_pairs(dataset):
  config = default.get_config()
  config.data.dataset = dataset
  config.data.augment = False
  config.data.patches_per_image = 4
  config.batch_size = 4
  with tfds.testing.mock_data(as_dataset_fn=_mock_catalog):
    records = input_pipeline.train_records(config)
    images = [
      input_pipeline._decode(r["image"]).numpy()
      for r in records.as_numpy_iterator()
    ]
    batches = list(
      input_pipeline.create_train_dataset(config).take(3).as_numpy_iterator()
    )
  assert len(images) == 4
  refs = [imresize.imresize(imresize.modcrop(im, 3), 1 / 3) for im in images]
  for batch in batches:
    assert batch["lr"].shape == (4, 16, 16, 3)
    assert batch["hr"].shape == (4, 48, 48, 3)
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      found = []
      for image, ref in zip(images, refs, strict=True):
        for y in range(0, image.shape[0] - 47, 3):
          for x in range(0, image.shape[1] - 47, 3):
            if np.array_equal(image[y : y + 48, x : x + 48], hr):
              found.append(ref[y // 3 : y // 3 + 16, x // 3 : x // 3 + 16])
      assert found, "HR patch is not an aligned crop of any image"
      assert any(np.array_equal(lr, ref) for ref in found)


def test_catalog_sources_shard_over_processes():
  config = default.get_config()
  config.data.dataset = "imagenet_sr"
  with tfds.testing.mock_data(as_dataset_fn=_mock_catalog):
    names = [
      {
        r["name"].decode()
        for r in input_pipeline.train_records(
          config, process_index=i, process_count=2
        ).as_numpy_iterator()
      }
      for i in range(2)
    ]
  assert names[0] and names[1] and not names[0] & names[1]
  assert len(names[0] | names[1]) == 4
