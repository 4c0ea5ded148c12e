"""Tests for the ImageNet subset builder and the TFDS-catalog sources.

TFDS ``imagenet2012`` and DIV2K cannot be downloaded here: their readers run
on fake examples (``tfds.testing.mock_data``, or a patched source for the
build). Folder sources run on small synthetic files (greyscale, CMYK,
mislabelled PNG, broken files) and on the 800 real ImageNet JPEGs of
``../shared/data/train/ImageNet800``, flat and arranged as a CLS-LOC tree.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import REPO_DATA, require_shared
from PIL import Image

from configs import default
from sr_jax import image_io, imresize, input_pipeline
from sr_jax.datasets import (
  div2k,
  imagenet_files,
  imagenet_log,
  imagenet_selection,
  imagenet_sr,
  reader,
)

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


def _encode(image, image_format: str, **kwargs) -> bytes:
  if not isinstance(image, Image.Image):
    image = Image.fromarray(image)
  buf = io.BytesIO()
  image.save(buf, format=image_format, **kwargs)
  return buf.getvalue()


def _jpeg(image: np.ndarray) -> bytes:
  return _encode(image, "JPEG", quality=92)


def _png(image: np.ndarray) -> bytes:
  return _encode(image, "PNG")


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
  return sorted(eligible, key=imagenet_selection.selection_key)[:num]


def _prepare(b):
  b.download_and_prepare(
    download_config=tfds.download.DownloadConfig(try_download_gcs=False)
  )
  return b


def _stored(b, split: str) -> dict[str, bytes]:
  """``file name -> stored (encoded) bytes`` of a split."""
  ds = b.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
  return {
    ex["file_name"].decode(): ex["image"] for ex in ds.as_numpy_iterator()
  }


# --- The rule ---------------------------------------------------------------


def test_select_rule():
  chosen = imagenet_selection.select(_SOURCE, num=3, min_side=64)
  assert chosen == _expected(3)
  assert "n02_3.JPEG" not in chosen and "n03_5.JPEG" not in chosen
  # Independent of the order of the source.
  assert imagenet_selection.select(_SOURCE[::-1], num=3, min_side=64) == chosen
  # Fewer than asked for when fewer are eligible.
  assert imagenet_selection.select(_SOURCE, num=9, min_side=64) == _expected(9)


def test_defaults_are_the_espcn_subset():
  config = imagenet_sr.ImagenetSr.builder_configs["espcn"]
  assert (config.num_train, config.num_validation, config.min_side) == (
    50_000,
    15_296,
    256,
  )


@pytest.mark.parametrize(
  "train, validation, expected",
  [
    # Enough: the paper's sizes.
    (65_296, None, (50_000, 15_296)),
    (1_000_000, None, (50_000, 15_296)),
    (50_000, 15_296, (50_000, 15_296)),
    # Fewer, one pool: all of it, in the 50,000 : 15,296 ratio.
    (719, None, (551, 168)),
    (6_529, None, (5_000, 1_529)),
    (2, None, (1, 1)),
    # Fewer, two pools: the ratio, as far as the scarcer pool allows.
    (36, 12, (36, 11)),
    (50_000, 1_529, (4_998, 1_529)),
    (10, 15_296, (10, 3)),
  ],
)
def test_split_sizes(train, validation, expected):
  got = imagenet_selection.split_sizes(
    train=train,
    validation=validation,
    num_train=50_000,
    num_validation=15_296,
  )
  assert got == expected
  n_train, n_val = got
  if validation is None:
    assert n_train + n_val == min(train, 65_296)
  else:
    assert n_train <= train and n_val <= validation
  # The ratio holds to rounding.
  assert abs(n_train * 15_296 - n_val * 50_000) <= 50_000


@pytest.mark.parametrize("train, validation", [(1, None), (0, None), (5, 0)])
def test_split_sizes_needs_one_per_split(train, validation):
  with pytest.raises(ValueError, match="each split needs at least one"):
    imagenet_selection.split_sizes(
      train=train, validation=validation, num_train=50, num_validation=15
    )


# --- TFDS imagenet2012 as the source ----------------------------------------


def test_builds_the_selection_with_unchanged_jpegs(tmp_path, monkeypatch):
  monkeypatch.setattr(imagenet_sr, "_open_source", _fake_source)
  config = imagenet_sr.ImagenetSrConfig(
    name="tiny", num_train=3, num_validation=2, min_side=64
  )
  b = _prepare(imagenet_sr.ImagenetSr(config=config, data_dir=str(tmp_path)))
  for split, num in (("train", 3), ("validation", 2)):
    got = _stored(b, split)
    assert sorted(got) == sorted(_expected(num))
    for name, data in got.items():
      assert data == _JPEGS[name]
  log = imagenet_log.build_log(b)
  assert log["source"]["kind"] == "imagenet2012"
  assert log["pools"]["train"] == {
    "files": 7,
    "examined": 7,
    "kept": 5,
    "filtered": 2,
    "converted": 0,
    "skipped": 0,
    "reasons": {"shorter side < 64": 2},
  }
  assert log["splits"] == {
    "train": {"images": 3, "converted": 0},
    "validation": {"images": 2, "converted": 0},
  }


def test_greyscale_in_imagenet2012_is_stored_as_rgb_png(tmp_path, monkeypatch):
  grey = _photo(80, 70, 1)[..., 1]
  grey_jpeg = _encode(grey, "JPEG", quality=92)

  def source(split, *, data_dir):
    del split, data_dir
    return tf.data.Dataset.from_tensor_slices(
      {
        "file_name": ["g.JPEG", "c.JPEG"],
        "image": [grey_jpeg, _JPEGS["n01_1.JPEG"]],
      }
    )

  monkeypatch.setattr(imagenet_sr, "_open_source", source)
  config = imagenet_sr.ImagenetSrConfig(
    name="grey", num_train=2, num_validation=2, min_side=64
  )
  b = _prepare(imagenet_sr.ImagenetSr(config=config, data_dir=str(tmp_path)))
  stored = _stored(b, "train")
  assert stored["c.JPEG"] == _JPEGS["n01_1.JPEG"]
  decoded = np.asarray(Image.open(io.BytesIO(stored["g.JPEG"])))
  assert decoded.shape == (80, 70, 3)
  expected = np.asarray(Image.open(io.BytesIO(grey_jpeg)))
  for c in range(3):
    np.testing.assert_array_equal(decoded[..., c], expected)
  log = imagenet_log.build_log(b)
  assert log["converted"][0]["name"] == "g.JPEG"
  assert log["converted"][0]["reason"] == imagenet_files.GREYSCALE


def test_scan_reads_jpeg_sizes_from_imagenet2012():
  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    assert self.name == "imagenet2012"
    return _fake_source(split, data_dir=None).map(
      lambda ex: {**ex, "label": tf.constant(0, tf.int64)}
    )

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    got = sorted(imagenet_sr.scan("train", data_dir=None))
  assert got == sorted((n, h, w, 3) for n, h, w in _SOURCE)


def test_missing_imagenet2012_says_how_to_get_it(tmp_path):
  with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
    next(imagenet_sr.scan("train", data_dir=str(tmp_path)))


def test_no_source_names_both_ways(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    imagenet_sr.builder(data_dir=str(tmp_path))
  message = str(e.value)
  assert "--config.data.imagenet_dir=PATH" in message
  assert "CLS-LOC" in message
  assert f"tfds build imagenet2012 --data_dir={tmp_path}" in message
  # Nothing was built.
  assert not os.path.exists(tmp_path / "imagenet_sr")


# --- Folder sources: the quirks of real ImageNet files ----------------------


@pytest.fixture
def quirky(tmp_path):
  """A flat folder with one file of each kind, and the expected outcome.

  Returns:
    ``(folder, expected)``: ``expected[name]`` is ``("kept", pixels)`` for a
    converted file, ``("kept", bytes)`` for one stored as is, or
    ``("filtered" | "skipped", reason fragment)``.
  """
  folder = tmp_path / "quirky"
  folder.mkdir()
  rgb = _photo(260, 300, 0)
  rgb2 = _photo(256, 270, 2)
  grey = _photo(270, 256, 1)[..., 0]
  files = {
    "n01_rgb.JPEG": _jpeg(rgb),
    "n02_rgb.jpg": _jpeg(rgb2),
    "n03_grey.JPEG": _encode(grey, "JPEG", quality=92),
    "n04_cmyk.JPEG": _encode(
      Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=92
    ),
    "n05_png.JPEG": _png(rgb[:256, :280]),
    "n06_small.JPEG": _jpeg(rgb[:200]),
    "n07_truncated.JPEG": _jpeg(rgb)[:3000],
    "n08_text.JPEG": b"not an image at all",
  }
  for name, data in files.items():
    (folder / name).write_bytes(data)

  def pil(name, mode):
    return np.asarray(Image.open(folder / name).convert(mode))

  expected = {
    "n01_rgb.JPEG": ("kept", files["n01_rgb.JPEG"]),
    "n02_rgb.jpg": ("kept", files["n02_rgb.jpg"]),
    "n03_grey.JPEG": ("kept", pil("n03_grey.JPEG", "RGB")),
    "n04_cmyk.JPEG": ("kept", pil("n04_cmyk.JPEG", "RGB")),
    "n05_png.JPEG": ("kept", rgb[:256, :280]),
    "n06_small.JPEG": ("filtered", "shorter side 200 px < 256"),
    "n07_truncated.JPEG": ("skipped", "cannot decode"),
    "n08_text.JPEG": ("skipped", "cannot decode"),
  }
  return str(folder), expected


def test_probe_says_what_each_file_needs(quirky):
  folder, _ = quirky

  def probe(name):
    return imagenet_files.probe(os.path.join(folder, name), min_side=256)

  assert probe("n01_rgb.JPEG").reason == ""
  assert probe("n02_rgb.jpg").reason == ""
  assert probe("n03_grey.JPEG").reason == imagenet_files.GREYSCALE
  assert probe("n04_cmyk.JPEG").reason == imagenet_files.CMYK
  assert probe("n05_png.JPEG").reason == "PNG data in a .jpeg file"
  v = probe("n06_small.JPEG")
  assert (v.status, v.height, v.width) == ("filtered", 200, 300)
  assert probe("n07_truncated.JPEG").status == "skipped"
  assert probe("n08_text.JPEG").status == "skipped"


def test_folder_build_converts_or_skips_never_crashes(quirky, tmp_path):
  folder, expected = quirky
  b = imagenet_sr.builder(imagenet_dir=folder, data_dir=str(tmp_path / "tfds"))
  stored = {**_stored(b, "train"), **_stored(b, "validation")}
  kept = {n for n, (status, _) in expected.items() if status == "kept"}
  assert set(stored) == kept
  # 5 eligible images, one pool: round(5 * 15296 / 65296) = 1 validation.
  assert b.info.splits["train"].num_examples == 4
  assert b.info.splits["validation"].num_examples == 1
  for name in kept:
    want = expected[name][1]
    if isinstance(want, bytes):
      assert stored[name] == want  # The original JPEG, byte for byte.
    else:
      assert stored[name].startswith(b"\x89PNG")  # Converted, losslessly.
      np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(stored[name]))), want
      )
    # What the training pipeline decodes: RGB, whatever the file was.
    image = reader.decode(tf.constant(stored[name])).numpy()
    assert image.ndim == 3 and image.shape[2] == 3

  log = imagenet_log.build_log(b)
  with open(os.path.join(b.data_dir, imagenet_log.LOG_FILE)) as f:
    assert json.load(f) == log
  assert log["source"]["kind"] == "folder"
  assert log["pools"]["images"] == {
    "files": 8,
    "examined": 8,
    "kept": 5,
    "filtered": 1,
    "converted": 3,
    "skipped": 2,
    "reasons": {
      imagenet_files.CMYK: 1,
      "PNG data in a .jpeg file": 1,
      "cannot decode": 2,
      imagenet_files.GREYSCALE: 1,
      "shorter side < 256": 1,
    },
  }
  assert {e["name"] for e in log["converted"]} == {
    "n03_grey.JPEG",
    "n04_cmyk.JPEG",
    "n05_png.JPEG",
  }
  assert {e["name"]: e["reason"] for e in log["skipped"]}.keys() == {
    "n07_truncated.JPEG",
    "n08_text.JPEG",
  }
  assert [e["name"] for e in log["filtered"]] == ["n06_small.JPEG"]
  assert sum(s["converted"] for s in log["splits"].values()) == 3
  text = imagenet_log.summary(log)
  assert "5 kept (3 converted), 1 filtered, 2 skipped" in text
  assert "train 4" in text and "validation 1" in text


def test_folder_build_is_reused_and_stale_builds_refused(quirky, tmp_path):
  folder, _ = quirky
  data_dir = str(tmp_path / "tfds")
  b = imagenet_sr.builder(imagenet_dir=folder, data_dir=data_dir)
  again = imagenet_sr.builder(imagenet_dir=folder, data_dir=data_dir)
  assert again.data_dir == b.data_dir
  Image.fromarray(_photo(256, 256, 3)).save(os.path.join(folder, "n09.JPEG"))
  with pytest.raises(ValueError, match="built from other files"):
    imagenet_sr.builder(imagenet_dir=folder, data_dir=data_dir)


def test_missing_or_empty_folder_names_the_flag(tmp_path):
  for path in (tmp_path / "absent", tmp_path):
    with pytest.raises(FileNotFoundError, match="--config.data.imagenet_dir"):
      imagenet_sr.builder(imagenet_dir=str(path), data_dir=str(tmp_path))


def test_export_validation_for_the_evaluator(quirky, tmp_path):
  folder, expected = quirky
  b = imagenet_sr.builder(imagenet_dir=folder, data_dir=str(tmp_path / "tfds"))
  out = str(tmp_path / "val")
  files = imagenet_sr.export_split(b, out_dir=out)
  assert len(files) == 1
  assert image_io.list_images(out) == files
  (name,) = _stored(b, "validation")
  written = files[0]
  if isinstance(expected[name][1], bytes):
    assert os.path.basename(written) == name
  else:
    assert os.path.basename(written) == os.path.splitext(name)[0] + ".png"
  # Idempotent; but a folder holding other images is refused.
  assert imagenet_sr.export_split(b, out_dir=out) == files
  Image.fromarray(_photo(20, 20, 0)).save(os.path.join(out, "other.png"))
  with pytest.raises(ValueError, match="not in the validation split"):
    imagenet_sr.export_split(b, out_dir=out)


def test_train_records_read_a_folder_source(quirky, tmp_path):
  folder, _ = quirky
  config = default.get_config()
  config.data.dataset = "imagenet_sr"
  config.data.imagenet_dir = folder
  config.data.tfds_data_dir = str(tmp_path / "tfds")
  names = [
    r["name"].decode()
    for r in input_pipeline.train_records(config).as_numpy_iterator()
  ]
  assert len(names) == 4


# --- The real ImageNet800 files ---------------------------------------------


def _imagenet800() -> str:
  return require_shared("data", "train", "ImageNet800")


def test_imagenet800_flat_folder_end_to_end(tmp_path):
  source = _imagenet800()
  b = imagenet_sr.builder(imagenet_dir=source, data_dir=str(tmp_path))
  log = imagenet_log.build_log(b)
  assert log["source"]["kind"] == "folder"
  # 800 files, 19 greyscale; 81 are under 256 px on the shorter side (2 of
  # them greyscale). Nothing is undecodable.
  assert log["pools"]["images"] == {
    "files": 800,
    "examined": 800,
    "kept": 719,
    "filtered": 81,
    "converted": 17,
    "skipped": 0,
    "reasons": {"greyscale JPEG": 17, "shorter side < 256": 81},
  }
  assert {k: v["images"] for k, v in log["splits"].items()} == {
    "train": 551,
    "validation": 168,
  }
  train, validation = _stored(b, "train"), _stored(b, "validation")
  assert not set(train) & set(validation)
  name = next(n for n in train if not train[n].startswith(b"\x89PNG"))
  with open(os.path.join(source, name), "rb") as f:
    assert f.read() == train[name]


def _cls_loc_tree(root, source: str, *, num_train: int, num_val: int) -> dict:
  """Links ImageNet800 files into ``root/ILSVRC/Data/CLS-LOC``.

  ``train/<wnid>/<wnid>_<i>.JPEG`` (the wnid is the file name's prefix) and
  ``val/ILSVRC2012_val_<i>.JPEG``, as in the ILSVRC download; plus the
  annotation tree, which has the same folders but no images.

  Returns:
    ``{"train": {link name: source file}, "validation": {...}}``.
  """
  files = sorted(os.listdir(source))
  # The first greyscale file rides along, so conversion is exercised too.
  grey = next(
    f for f in files if Image.open(os.path.join(source, f)).mode == "L"
  )
  picked = [f for f in files if f != grey][: num_train + num_val - 1] + [grey]
  cls_loc = root / "ILSVRC" / "Data" / "CLS-LOC"
  links = {"train": {}, "validation": {}}
  for i, f in enumerate(picked):
    wnid = f.split("_")[0]
    if i < num_train - 1 or f == grey:
      folder = cls_loc / "train" / wnid
      link = f"{wnid}_{i + 1}.JPEG"
      links["train"][link] = f
      (root / "ILSVRC" / "Annotations" / "CLS-LOC" / "train" / wnid).mkdir(
        parents=True, exist_ok=True
      )
    else:
      folder = cls_loc / "val"
      link = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
      links["validation"][link] = f
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.join(source, f), folder / link)
  (cls_loc / "test").mkdir()
  return links


def test_imagenet800_as_a_cls_loc_tree(tmp_path):
  source = _imagenet800()
  links = _cls_loc_tree(tmp_path / "dl", source, num_train=36, num_val=12)
  cls_loc = tmp_path / "dl" / "ILSVRC" / "Data" / "CLS-LOC"
  # The CLS-LOC folder itself, or any folder above it.
  for path in (cls_loc, tmp_path / "dl" / "ILSVRC", tmp_path / "dl"):
    found = imagenet_files.find(str(path))
    assert (found.kind, found.root) == ("cls-loc", str(cls_loc))
    assert {k: len(v) for k, v in found.pools.items()} == {
      "train": 36,
      "validation": 12,
    }

  # Without val/, train/ is the one pool that feeds both splits.
  for f in os.listdir(cls_loc / "val"):
    os.rename(cls_loc / "val" / f, tmp_path / f)
  assert imagenet_files.find(str(tmp_path / "dl")).pools.keys() == {"train"}
  for f in links["validation"]:
    os.rename(tmp_path / f, cls_loc / "val" / f)

  b = imagenet_sr.builder(
    imagenet_dir=str(tmp_path / "dl"), data_dir=str(tmp_path / "tfds")
  )
  log = imagenet_log.build_log(b)
  assert log["source"]["kind"] == "cls-loc"
  pools = log["pools"]
  eligible_train = pools["train"]["kept"]
  eligible_val = pools["validation"]["kept"]
  assert pools["train"]["files"] == 36 and pools["validation"]["files"] == 12
  for pool in pools.values():
    assert pool["kept"] + pool["filtered"] + pool["skipped"] == pool["files"]
  assert pools["train"]["converted"] == 1  # The greyscale file.
  n_train, n_val = imagenet_selection.split_sizes(
    train=eligible_train,
    validation=eligible_val,
    num_train=50_000,
    num_validation=15_296,
  )
  train, validation = _stored(b, "train"), _stored(b, "validation")
  assert (len(train), len(validation)) == (n_train, n_val)
  assert set(train) <= set(links["train"])
  assert set(validation) <= set(links["validation"])
  for name, data in train.items():
    if not data.startswith(b"\x89PNG"):
      with open(os.path.join(source, links["train"][name]), "rb") as f:
        assert f.read() == data


# --- The TFDS-catalog sources through the pipeline --------------------------


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


@pytest.fixture
def mock_catalog(monkeypatch):
  """Mock data for the catalog builders, which then count as prepared."""
  monkeypatch.setattr(
    tfds.core.DatasetBuilder, "is_prepared", lambda self: True
  )
  with tfds.testing.mock_data(as_dataset_fn=_mock_catalog):
    yield


@pytest.mark.parametrize("dataset", ["imagenet_sr", "div2k"])
def test_catalog_sources_give_exact_pairs(dataset, mock_catalog):
  config = default.get_config()
  config.data.dataset = dataset
  config.data.augment = False
  config.data.patches_per_image = 4
  config.batch_size = 4
  records = input_pipeline.train_records(config)
  images = [
    reader.decode(r["image"]).numpy() for r in records.as_numpy_iterator()
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


def test_catalog_sources_shard_over_processes(mock_catalog):
  config = default.get_config()
  config.data.dataset = "imagenet_sr"
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


def test_div2k_prepared_at_any_scale_serves(tmp_path, monkeypatch):
  monkeypatch.setattr(
    tfds.core.DatasetBuilder,
    "is_prepared",
    lambda self: self.builder_config.name == "bicubic_x2",
  )
  b = div2k.builder(scale=3, data_dir=str(tmp_path))
  assert b.builder_config.name == "bicubic_x2"  # Same HR images as x3's.
  monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda s: False)
  with pytest.raises(FileNotFoundError, match="tfds build div2k/bicubic_x3"):
    div2k.builder(scale=3, data_dir=str(tmp_path))
