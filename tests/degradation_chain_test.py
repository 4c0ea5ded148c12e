"""Tests for the drawn downscaling kernels and blur of the training chain."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_DATA, crop_set_config, set5_crop_set
from PIL import Image

from configs import default
from sr_jax import image_io, imresize, input_pipeline
from sr_jax.pipeline import degradations, resampling

_PIL = {
  "box": Image.Resampling.BOX,
  "bilinear": Image.Resampling.BILINEAR,
  "bicubic": Image.Resampling.BICUBIC,
  "lanczos": Image.Resampling.LANCZOS,
}
_CROPS = (
  ("baby.png", (30, 40, 117, 124)),
  ("bird.png", (100, 60, 106, 115)),
  ("butterfly.png", (20, 70, 121, 99)),
  ("woman.png", (40, 10, 108, 112)),
)


def _set5():
  paths = sorted(glob.glob(os.path.join(REPO_DATA, "eval", "Set5", "*.png")))
  assert paths, "the repo's Set5 is missing"
  return [image_io.read_image(p) for p in paths]


def _pillow(hr, name, scale):
  h, w = hr.shape[:2]
  return np.asarray(
    Image.fromarray(hr).resize((w // scale, h // scale), _PIL[name])
  )


def _ours(hr, name, scale):
  lr = resampling.downscale(
    hr[None],
    tf.constant([resampling.KERNELS.index(name)]),
    names=resampling.KERNELS,
    scale=scale,
  )
  return lr[0].numpy().astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", resampling.KERNELS)
def test_each_kernel_is_pillows_resize_within_one_grey_level(name, scale):
  """Whole Set5 images: at most 1 grey level off, and rarely off at all."""
  for image in _set5():
    hr = imresize.modcrop(image, scale)
    ours, ref = _ours(hr, name, scale), _pillow(hr, name, scale)
    assert ours.shape == ref.shape
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001  # Pillow's fixed-point weights only


def test_box_is_opencv_area_at_integer_scale():
  cv2 = pytest.importorskip("cv2")
  for image in _set5():
    hr = imresize.modcrop(image, 3)
    h, w = hr.shape[:2]
    ref = cv2.resize(hr, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    diff = np.abs(_ours(hr, "box", 3).astype(int) - ref.astype(int))
    assert diff.max() <= 1


def test_unblurred_gaussian_kernel_is_a_delta_and_blur_keeps_the_mean():
  k = resampling.gaussian_kernels(
    tf.constant([0.0, 1.0]), tf.constant([0.0, 0.5]), tf.constant([0.0, 1.0]), 3
  ).numpy()
  assert k[0, 3, 3] == pytest.approx(1.0) and k[0].sum() == pytest.approx(1)
  assert k[1].sum() == pytest.approx(1.0) and k[1, 3, 3] < 0.5
  flat = tf.fill([2, 20, 20, 3], 77.0)
  out = resampling.blur(flat, tf.constant(k)).numpy()
  # Renormalised at the edges: a flat image stays flat up to the border.
  np.testing.assert_allclose(out, 77.0, rtol=1e-5)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  root = tmp_path_factory.mktemp("chain")
  return set5_crop_set(root, _CROPS)


def _config(folders, **data):
  return crop_set_config(folders, augment=False, lr_patch_size=8, **data)


def _batches(config, n):
  ds = input_pipeline.create_train_dataset(config)
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def _locate(images, hr_patch, scale):
  """Where ``hr_patch`` sits on the LR grid of the modcropped images."""
  hp = hr_patch.shape[0]
  found = []
  for name, image in images.items():
    hr = imresize.modcrop(image, scale)
    for y in range(0, hr.shape[0] - hp + 1, scale):
      for x in range(0, hr.shape[1] - hp + 1, scale):
        if np.array_equal(hr[y : y + hp, x : x + hp], hr_patch):
          found.append((name, y // scale, x // scale))
  return found


@pytest.mark.parametrize("name", ["matlab", *resampling.KERNELS])
def test_pairs_of_each_kernel_equal_its_whole_image_resize_exactly(
  folders, name
):
  """Each LR crop is the kernel's resize of the whole image, pixel for pixel
  (the region's margin covers Lanczos' reach; crops touch the borders)."""
  config = _config(folders, lr_kernels=name)
  full = {}
  for file_name, image in folders[2].items():
    hr = imresize.modcrop(image, 3)
    full[file_name] = (
      imresize.imresize(hr, 1 / 3) if name == "matlab" else _ours(hr, name, 3)
    )
  checked = 0
  for batch in _batches(config, 4):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      places = _locate(folders[2], hr, 3)
      assert places
      assert any(
        np.array_equal(lr, full[f][y : y + 8, x : x + 8]) for f, y, x in places
      )
      checked += 1
  assert checked == 32


def test_kernels_are_drawn_with_their_weights_and_matlab_pairs_stay_exact(
  folders,
):
  kernels = ("matlab", "box", "lanczos")
  config = _config(
    folders,
    lr_kernels=",".join(kernels),
    lr_kernel_weights=(0.5, 0.5, 0.0),
    patches_per_image=64,
  )
  config.batch_size = 64
  ds = input_pipeline.create_train_dataset(config)
  degradation = degradations.Degradation.from_config(config.data)
  sampler_draws = [
    input_pipeline.sampling.Sampler(
      base=input_pipeline.sampling.root_key(0),
      order_base=input_pipeline.sampling.root_key(0, 1, 0),
      num_images=4,
      pairs_per_image=64,
      order_batch=64,
      order_row0=0,
      augment=False,
      degradation=degradation,
    ).draw(tf.constant(0, tf.int64), tf.constant(r, tf.int64))["kernel"]
    for r in range(64)
  ]
  counts = np.bincount([int(k) for k in sampler_draws], minlength=3)
  assert counts[2] == 0 and 16 < counts[0] < 48 and counts[0] + counts[1] == 64
  batch = next(iter(ds))
  matlab_lr = {
    f: imresize.imresize(imresize.modcrop(im, 3), 1 / 3)
    for f, im in folders[2].items()
  }
  box_lr = {
    f: _ours(imresize.modcrop(im, 3), "box", 3) for f, im in folders[2].items()
  }
  for i, (lr, hr) in enumerate(
    zip(batch["lr"].numpy(), batch["hr"].numpy(), strict=True)
  ):
    ref = matlab_lr if int(sampler_draws[i]) == 0 else box_lr
    assert any(
      np.array_equal(lr, ref[f][y : y + 8, x : x + 8])
      for f, y, x in _locate(folders[2], hr, 3)
    )


def test_blurred_pairs_equal_the_blurred_whole_image_within_one_level(
  folders,
):
  config = _config(
    folders,
    lr_kernels="bilinear",
    blur_fraction=1.0,
    blur_sigma=(0.8, 1.0),
    blur_anisotropic_fraction=0.0,
  )
  sharp = {
    f: _ours(imresize.modcrop(im, 3), "bilinear", 3)
    for f, im in folders[2].items()
  }
  differs = 0
  for batch in _batches(config, 2):
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
      f, y, x = _locate(folders[2], hr, 3)[0]
      ref = sharp[f][y : y + 8, x : x + 8].astype(int)
      differs += int(np.abs(lr.astype(int) - ref).max() > 1)
  # A blur of sigma 0.8..1.0 HR pixels visibly changes textured patches.
  assert differs >= 8


def test_same_seed_same_pixels_other_seed_other_pixels(folders):
  chain = dict(
    lr_kernels="matlab,box,bilinear,bicubic,lanczos",
    blur_fraction=0.5,
    blur_sigma=(0.2, 1.0),
    blur_anisotropic_fraction=0.5,
    noise_sigma=(1.0, 5.0),
    noise_clean_fraction=0.5,
    jpeg_quality=(30, 95),
    jpeg_clean_fraction=0.3,
  )
  a = _batches(_config(folders, **chain), 3)
  b = _batches(_config(folders, **chain), 3)
  c = _config(folders, **chain)
  c.seed = 1
  other = _batches(c, 3)
  for x, y, z in zip(a, b, other, strict=True):
    assert np.array_equal(x["lr"], y["lr"]) and np.array_equal(x["hr"], y["hr"])
    assert not np.array_equal(x["lr"], z["lr"])


def test_default_chain_adds_no_margin_and_a_long_kernel_does():
  config = default.get_config()
  d = degradations.Degradation.from_config(config.data)
  assert d.lr_kernels == ("matlab",) and d.lr_margin(3) == 2
  config.data.lr_kernels = "matlab,lanczos"
  assert degradations.Degradation.from_config(config.data).lr_margin(3) == 3
  config.data.blur_fraction = 0.1
  config.data.blur_sigma = (0.2, 1.0)
  assert degradations.Degradation.from_config(config.data).lr_margin(3) == 4


@pytest.mark.parametrize(
  "key,value,flag",
  [
    ("lr_kernels", "matlab,nearest", "--config.data.lr_kernels"),
    ("lr_kernels", "box,box", "--config.data.lr_kernels"),
    ("lr_kernel_weights", (1.0,), "--config.data.lr_kernel_weights"),
    ("blur_fraction", 1.5, "--config.data.blur_fraction"),
    ("blur_sigma", (2.0, 1.0), "--config.data.blur_sigma"),
    ("noise_clean_fraction", -0.1, "--config.data.noise_clean_fraction"),
  ],
)
def test_bad_chain_settings_name_the_flag(key, value, flag):
  config = default.get_config()
  config.data.lr_kernels = "matlab,box"
  config.data[key] = value
  with pytest.raises(ValueError, match=flag):
    degradations.Degradation.from_config(config.data)
