"""Tests for the training input pipeline (pairs, determinism, sharding)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_DATA, crop_set_config, set5_crop_set

from sr_jax import image_io, imresize, input_pipeline
from sr_jax.datasets import reader
from sr_jax.pipeline import image_store, sampling

# Crops of Set5 (natural images, so every patch is unique), of sizes that
# are not multiples of the scales, so modcrop matters.
_CROPS = (
  ("baby.png", (30, 40, 97, 104)),
  ("bird.png", (100, 60, 86, 95)),
  ("butterfly.png", (20, 70, 101, 79)),
  ("woman.png", (40, 10, 88, 92)),
  ("head.png", (70, 90, 74, 110)),
)
_TOO_SMALL = ("head.png", (0, 0, 30, 200))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """``(source_dir, data_dir, {file name: image})``; set ``tiny``."""
  root = tmp_path_factory.mktemp("pipeline")
  return set5_crop_set(root, (*_CROPS, _TOO_SMALL))


_config = crop_set_config


def _batches(config, n, **kwargs):
  ds = input_pipeline.create_train_dataset(config, **kwargs)
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


class _PatchIndex:
  """Finds an HR patch in the source images; knows the reference LR."""

  def __init__(self, images, scale, lr_patch):
    self.lr_patch = lr_patch
    self.scale = scale
    self.where = {}
    self.ref_lr = {}
    hp = lr_patch * scale
    for name, image in images.items():
      hr = imresize.modcrop(image, scale)
      if min(hr.shape[:2]) < input_pipeline.min_image_size(scale, lr_patch):
        continue
      self.ref_lr[name] = imresize.imresize(hr, 1.0 / scale)
      # Pairs sit on the LR grid: only multiples of the scale.
      for y in range(0, hr.shape[0] - hp + 1, scale):
        for x in range(0, hr.shape[1] - hp + 1, scale):
          key = hr[y : y + hp, x : x + hp].tobytes()
          self.where.setdefault(key, []).append((name, y // scale, x // scale))

  def reference_lrs(self, hr):
    """The benchmark LRs at every place ``hr`` occurs (none if nowhere)."""
    p = self.lr_patch
    return [
      self.ref_lr[name][y : y + p, x : x + p]
      for name, y, x in self.where.get(np.ascontiguousarray(hr).tobytes(), [])
    ]


def _d4():
  """The 8 symmetries of the square, as functions of [n, n, C] arrays."""
  out = []
  for flip in (False, True):
    for k in range(4):
      out.append(
        lambda a, flip=flip, k=k: np.rot90(a[:, ::-1] if flip else a, k)
      )
  return out


def test_lr_margin_covers_the_kernel():
  assert [input_pipeline.lr_margin(s) for s in (2, 3, 4, 8)] == [2, 2, 2, 2]
  assert input_pipeline.min_image_size(3, 16) == 60


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pairs_equal_full_image_resize_exactly(folders, scale):
  config = _config(folders, scale=scale, augment=False, lr_patch_size=8)
  index = _PatchIndex(folders[2], scale, 8)
  num_pairs = 0
  for batch in _batches(config, 6):
    assert batch["lr"].shape == (8, 8, 8, 3)
    assert batch["hr"].shape == (8, 8 * scale, 8 * scale, 3)
    assert batch["lr"].dtype == np.uint8 and batch["hr"].dtype == np.uint8
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      refs = index.reference_lrs(hr)
      assert refs, "HR patch is not an LR-grid-aligned crop of any image"
      # Zero differing pixels against imresize(modcrop(full image), 1/s).
      assert any(np.array_equal(lr, ref) for ref in refs)
      num_pairs += 1
  assert num_pairs == 48


def test_crops_reach_the_image_border(folders):
  """Crops flush with the border are exact too (and do happen)."""
  config = _config(folders, augment=False, lr_patch_size=16)
  index = _PatchIndex(folders[2], 3, 16)
  border = 0
  for batch in _batches(config, 20):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      name, y, x = index.where[hr.tobytes()][0]
      np.testing.assert_array_equal(
        lr, index.ref_lr[name][y : y + 16, x : x + 16]
      )
      lr_h, lr_w = index.ref_lr[name].shape[:2]
      border += y == 0 or x == 0 or y + 16 == lr_h or x + 16 == lr_w
  assert border > 0


def test_augmented_pairs_are_a_symmetry_of_an_exact_pair(folders):
  config = _config(folders, augment=True, lr_patch_size=8)
  index = _PatchIndex(folders[2], 3, 8)
  used = set()
  for batch in _batches(config, 8):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      matches = [
        i
        for i, g in enumerate(_d4())
        if any(np.array_equal(g(lr), ref) for ref in index.reference_lrs(g(hr)))
      ]
      # Some symmetry g maps HR back to an aligned crop and, the same g, LR
      # to that crop's benchmark LR: one transform applied to both.
      assert matches
      used.update(matches)
  assert len(used) >= 4, "augmentation is not being applied"


def test_no_cache_path_gives_exact_pairs(folders):
  config = _config(folders, augment=False, lr_patch_size=8, cache=False)
  index = _PatchIndex(folders[2], 3, 8)
  for batch in _batches(config, 3):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      assert any(np.array_equal(lr, r) for r in index.reference_lrs(hr))


def test_same_seed_same_batches_different_seed_different(folders):
  first = _batches(_config(folders, seed=7), 5)
  again = _batches(_config(folders, seed=7), 5)
  other = _batches(_config(folders, seed=8), 5)
  for a, b in zip(first, again, strict=True):
    np.testing.assert_array_equal(a["lr"], b["lr"])
    np.testing.assert_array_equal(a["hr"], b["hr"])
  assert any(
    not np.array_equal(a["hr"], b["hr"])
    for a, b in zip(first, other, strict=True)
  )


@pytest.mark.parametrize("cache", [True, False])
def test_global_batches_are_bitwise_the_same_for_1_2_4_processes(
  folders, cache
):
  config = _config(folders, batch_size=8, cache=cache)
  whole = _batches(config, 3)
  for n in (2, 4):
    parts = [
      _batches(config, 3, process_index=i, process_count=n) for i in range(n)
    ]
    for step, batch in enumerate(whole):
      for key in ("lr", "hr"):
        assert parts[0][step][key].shape[0] == 8 // n
        joined = np.concatenate([part[step][key] for part in parts])
        np.testing.assert_array_equal(joined, batch[key])


def test_cache_false_gives_the_same_batches_as_cache_true(folders):
  cached = _batches(_config(folders, cache=True), 3)
  uncached = _batches(_config(folders, cache=False), 3)
  for a, b in zip(cached, uncached, strict=True):
    np.testing.assert_array_equal(a["lr"], b["lr"])
    np.testing.assert_array_equal(a["hr"], b["hr"])


def test_start_step_skips_exactly_that_many_batches(folders):
  config = _config(folders, batch_size=8)
  whole = _batches(config, 4)
  ds = input_pipeline.create_train_dataset(config, start_step=2)
  resumed = list(ds.take(2).as_numpy_iterator())
  for a, b in zip(whole[2:], resumed, strict=True):
    np.testing.assert_array_equal(a["lr"], b["lr"])
    np.testing.assert_array_equal(a["hr"], b["hr"])


def test_a_late_start_is_generated_directly_without_replay(folders):
  config = _config(folders, batch_size=8)
  earlier = _batches(config, 3, start_step=999_998)
  counter = tf.Variable(0, dtype=tf.int64)
  ds = input_pipeline.create_train_dataset(
    config, start_step=1_000_000, pair_counter=counter
  )
  late = next(ds.as_numpy_iterator())
  np.testing.assert_array_equal(late["lr"], earlier[2]["lr"])
  np.testing.assert_array_equal(late["hr"], earlier[2]["hr"])
  # Only the batches read and prefetched were made: no replay of the
  # 8,000,000 pairs before step 1,000,000.
  assert 8 <= int(counter.numpy()) < 8 * 1000


def test_by_file_resume_equals_the_uninterrupted_stream(folders):
  config = _config(folders, batch_size=8, host_sharding="by_file")
  whole = _batches(config, 3, process_index=1, process_count=2)
  resumed = _batches(config, 1, process_index=1, process_count=2, start_step=2)
  np.testing.assert_array_equal(resumed[0]["lr"], whole[2]["lr"])
  np.testing.assert_array_equal(resumed[0]["hr"], whole[2]["hr"])


def test_every_image_gives_patches_per_image_pairs_per_epoch():
  n, k = 7, 3
  sampler = sampling.Sampler(
    base=(1, 2),
    order_base=(3, 4),
    num_images=n,
    pairs_per_image=k,
    order_batch=8,
    order_row0=0,
    augment=False,
    degradation=input_pipeline.Degradation(),
  )
  images = tf.map_fn(sampler.image, tf.range(3 * n * k, dtype=tf.int64))
  images = images.numpy()
  epochs = images.reshape(3, n * k)
  for epoch in epochs:
    np.testing.assert_array_equal(np.bincount(epoch, minlength=n), [k] * n)
  assert not np.array_equal(epochs[0], epochs[1])


def test_jpeg_regions_decode_exactly_as_the_whole_image():
  """cache=False decodes only a JPEG's region; the pixels are the same."""
  image = image_io.read_image(
    os.path.join(REPO_DATA, "eval", "Set5", "bird.png")
  )
  height, width = 251, 277  # not multiples of the 16-pixel MCU
  encoded = tf.io.encode_jpeg(
    image[:height, :width], quality=75, chroma_downsampling=True
  )
  whole = reader.decode(encoded).numpy()
  rng = np.random.default_rng(0)
  for size in (1, 36, 60):
    for _ in range(20):
      y = int(rng.integers(0, height - size + 1))
      x = int(rng.integers(0, width - size + 1))
      region = image_store._decode_region(
        encoded,
        tf.constant(y, tf.int64),
        tf.constant(x, tf.int64),
        size,
        height=tf.constant(height, tf.int64),
        width=tf.constant(width, tf.int64),
      )
      np.testing.assert_array_equal(
        region.numpy(), whole[y : y + size, x : x + size]
      )


def test_by_file_processes_read_disjoint_images_and_local_batches(folders):
  config = _config(folders, batch_size=8, host_sharding="by_file")
  names = []
  for process_index in range(2):
    records = input_pipeline.train_records(
      config, process_index=process_index, process_count=2
    )
    names.append({r["name"].decode() for r in records.as_numpy_iterator()})
    batch = _batches(config, 1, process_index=process_index, process_count=2)[0]
    assert batch["lr"].shape == (4, 16, 16, 3)
    assert batch["hr"].shape == (4, 48, 48, 3)
  assert names[0] and names[1]
  assert not names[0] & names[1]
  assert names[0] | names[1] == set(folders[2])
  # Each process's patches come from its own images only.
  for process_index in range(2):
    own = {n: folders[2][n] for n in names[process_index]}
    index = _PatchIndex(own, 3, 16)
    batch = _batches(config, 2, process_index=process_index, process_count=2)
    for b in batch:
      for hr in b["hr"]:
        # Augmentation is on: some symmetry maps it back.
        assert any(
          np.ascontiguousarray(g(hr)).tobytes() in index.where for g in _d4()
        )


def test_batch_must_split_over_processes(folders):
  with pytest.raises(ValueError, match="not divisible"):
    input_pipeline.create_train_dataset(
      _config(folders, batch_size=9), process_count=2
    )


def test_no_image_big_enough_is_an_error(folders):
  with pytest.raises(ValueError, match="lr_patch_size=40"):
    input_pipeline.create_train_dataset(_config(folders, lr_patch_size=40))


def test_unknown_dataset(folders):
  with pytest.raises(ValueError, match="not one of"):
    input_pipeline.create_train_dataset(_config(folders, dataset="bsd"))


def test_missing_train_set_names_the_flag(folders, tmp_path):
  config = _config(folders, train_sets="tiny,NoSuchSet")
  with pytest.raises(FileNotFoundError, match="--config.data.train_sets"):
    input_pipeline.create_train_dataset(config)


def _jpeg(image, quality):
  """JPEG round trip with the public TF ops (4:2:0, accurate IDCT)."""
  encoded = tf.io.encode_jpeg(image, quality=quality, chroma_downsampling=True)
  return tf.io.decode_jpeg(
    encoded, channels=3, dct_method="INTEGER_ACCURATE"
  ).numpy()


def _sampler(**degradation):
  return sampling.Sampler(
    base=(5, 6),
    order_base=(7, 8),
    num_images=10,
    pairs_per_image=4,
    order_batch=8,
    order_row0=0,
    augment=True,
    degradation=input_pipeline.Degradation(**degradation),
  )


def test_default_degradation_settings_change_no_pixel(folders):
  plain = _batches(_config(folders), 3)
  config = _config(folders)
  for key in ("jpeg_quality", "jpeg_clean_fraction", "noise_sigma"):
    del config.data[key]  # a config from before the degradations
  older = _batches(config, 3)
  off = _batches(
    _config(folders, jpeg_quality=(), jpeg_clean_fraction=0.0, noise_sigma=()),
    3,
  )
  # JPEG in the graph, but every example drawn clean: the other draws do not
  # move, so the pairs are the clean ones.
  all_clean = _batches(
    _config(folders, jpeg_quality=(50, 50), jpeg_clean_fraction=1.0), 3
  )
  for other in (older, off, all_clean):
    for a, b in zip(plain, other, strict=True):
      np.testing.assert_array_equal(a["lr"], b["lr"])
      np.testing.assert_array_equal(a["hr"], b["hr"])


def test_jpeg_at_one_quality_is_the_round_trip_of_the_exact_lr(folders):
  config = _config(
    folders, augment=False, lr_patch_size=8, jpeg_quality=(40, 40)
  )
  index = _PatchIndex(folders[2], 3, 8)
  changed = 0
  for batch in _batches(config, 3):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      refs = index.reference_lrs(hr)
      assert refs, "the HR patch is not a clean aligned crop"
      assert any(np.array_equal(lr, _jpeg(ref, 40)) for ref in refs)
      changed += not any(np.array_equal(lr, ref) for ref in refs)
  assert changed >= 20


def test_jpeg_qualities_come_from_the_range(folders):
  lo, hi = 20, 60
  config = _config(
    folders, augment=False, lr_patch_size=8, jpeg_quality=(lo, hi)
  )
  index = _PatchIndex(folders[2], 3, 8)
  matched = set()
  for batch in _batches(config, 2):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      qualities = {
        q
        for ref in index.reference_lrs(hr)
        for q in range(1, 101)
        if np.array_equal(lr, _jpeg(ref, q))
      }
      assert qualities & set(range(lo, hi + 1)), qualities
      matched |= qualities & set(range(lo, hi + 1))
  assert len(matched) > 3, "the quality does not vary"


def test_quality_and_clean_draws_follow_the_config():
  sampler = _sampler(jpeg_quality=(30, 33), jpeg_clean_fraction=0.25)
  draws = tf.map_fn(
    lambda i: sampler.draw(i // 8, i % 8)["jpeg_quality"],
    tf.range(4000, dtype=tf.int64),
    fn_output_signature=tf.int32,
  ).numpy()
  clean = np.mean(draws == 0)
  assert abs(clean - 0.25) < 0.03, clean
  assert set(draws[draws > 0]) == {30, 31, 32, 33}


def test_clean_fraction_is_kept_over_many_examples(folders):
  config = _config(
    folders,
    augment=False,
    lr_patch_size=8,
    jpeg_quality=(30, 30),
    jpeg_clean_fraction=0.5,
  )
  index = _PatchIndex(folders[2], 3, 8)
  clean = total = 0
  for batch in _batches(config, 12):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      clean += any(np.array_equal(lr, r) for r in index.reference_lrs(hr))
      total += 1
  assert 0.35 < clean / total < 0.65, (clean, total)


def test_noise_has_the_drawn_sigma(folders):
  config = _config(folders, augment=False, lr_patch_size=8, noise_sigma=(6, 6))
  index = _PatchIndex(folders[2], 3, 8)
  diffs = []
  for batch in _batches(config, 2):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      ref = index.reference_lrs(hr)[0]
      diffs.append(lr.astype(np.float64) - ref)
  # Rounding adds 1/12 to the variance; clipping at 0 and 255 removes some.
  assert 5.0 < np.std(diffs) < 6.5


def test_degraded_batches_are_deterministic_and_process_independent(folders):
  config = _config(
    folders, jpeg_quality=(20, 90), jpeg_clean_fraction=0.2, noise_sigma=(0, 8)
  )
  first = _batches(config, 2)
  again = _batches(config, 2)
  parts = [
    _batches(config, 2, process_index=i, process_count=2) for i in range(2)
  ]
  clean = _batches(_config(folders), 2)
  for step, batch in enumerate(first):
    for key in ("lr", "hr"):
      np.testing.assert_array_equal(batch[key], again[step][key])
      joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
      np.testing.assert_array_equal(batch[key], joined)
    # Only the LR is degraded.
    np.testing.assert_array_equal(batch["hr"], clean[step]["hr"])
    assert not np.array_equal(batch["lr"], clean[step]["lr"])


def test_jpeg_round_trip_is_tf_encode_jpeg_with_chroma_subsampling():
  image = image_io.read_image(
    os.path.join(REPO_DATA, "eval", "Set5", "baby.png")
  )
  image = image[:37, :45]
  for q in (5, 50, 95):
    got = input_pipeline.jpeg_round_trip(image, tf.constant(q))
    np.testing.assert_array_equal(got.numpy(), _jpeg(image, q))


@pytest.mark.parametrize(
  "setting",
  [
    {"jpeg_quality": (0, 50)},
    {"jpeg_quality": (90, 50)},
    {"jpeg_quality": (50,)},
    {"jpeg_clean_fraction": 1.5},
    {"noise_sigma": (-1.0, 2.0)},
  ],
)
def test_bad_degradation_settings_are_errors(folders, setting):
  with pytest.raises(ValueError, match="--config.data"):
    input_pipeline.create_train_dataset(_config(folders, **setting))


def test_excluded_images_are_never_trained_on(folders):
  _, _, images = folders
  names = sorted(images)
  config = _config(folders, lr_patch_size=8)
  everything = image_store.load_images(
    config, process_index=0, process_count=1, min_size=12
  )
  config = _config(folders, lr_patch_size=8, exclude=f"{names[0]},{names[1]}")
  held_out = image_store.load_images(
    config, process_index=0, process_count=1, min_size=12
  )
  assert held_out.num_images == everything.num_images - 2
