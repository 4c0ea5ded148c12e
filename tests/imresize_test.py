"""Tests for sr_jax/imresize.py.

The reference tests compare against the MATLAB-made LR images in
``<repo>/../shared/data/eval/matlab_lr`` and skip when that folder is absent
(the repository ships the HR images but not the MATLAB references). The other
tests need no data.
"""

import functools
import glob
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sr_jax.imresize import (
  cubic,
  imresize,
  modcrop,
  output_size,
  resize_weights,
  round_half_away_from_zero,
)
from sr_jax.imresize_tf import imresize_tf

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_EVAL = os.path.join(os.path.dirname(_REPO), "shared", "data", "eval")
_SETS = {"Set5": 5, "Set14": 14}  # Name -> number of images.
_SCALES = (2, 3, 4)
# Sum of H * W * C over the 57 MATLAB LR images (bridge counts C = 1), as
# stated in docs/protocol.md.
_REFERENCE_ELEMENTS = 4_586_496

# Scales for the NumPy-vs-TF and property tests.
_TEST_SCALES = (1 / 2, 1 / 3, 1 / 4, 2, 3, 4)


# ---------------------------------------------------------------------------
# MATLAB reference images (need ../shared).


def _read_png(path: str) -> np.ndarray:
  """Reads an image as uint8 [H, W] (grey) or [H, W, 3] (anything else)."""
  with Image.open(path) as img:
    if img.mode in ("L", "RGB"):
      pass
    elif img.mode in ("LA", "I", "I;16"):
      img = img.convert("L")
    else:  # Palette, RGBA, CMYK, ...
      img = img.convert("RGB")
    return np.asarray(img)


@pytest.fixture(scope="module")
def reference_cases():
  """[(set, name, scale, cropped HR, MATLAB LR)] for Set5/Set14, x2/x3/x4."""
  lr_root = os.path.join(_SHARED_EVAL, "matlab_lr")
  if not os.path.isdir(lr_root):
    pytest.skip(
      f"{lr_root} not found: the MATLAB reference LR images live in the "
      "project's shared data, next to the repository, not in it"
    )
  cases = []
  for set_name, count in _SETS.items():
    hr_paths = sorted(glob.glob(os.path.join(_SHARED_EVAL, set_name, "*.png")))
    assert len(hr_paths) == count, f"{set_name}: {len(hr_paths)} HR images"
    for hr_path in hr_paths:
      name = os.path.splitext(os.path.basename(hr_path))[0]
      hr = _read_png(hr_path)
      for scale in _SCALES:
        lr_path = os.path.join(
          lr_root, set_name, f"X{scale}", f"{name}x{scale}.png"
        )
        lr = _read_png(lr_path)
        # Like for like: grey HR (bridge) has a grey reference, RGB an RGB one.
        assert hr.ndim == lr.ndim, (hr_path, hr.shape, lr_path, lr.shape)
        cases.append((set_name, name, scale, modcrop(hr, scale), lr))
  return cases


@functools.cache
def _tf_resizer(scale: int, rank: int):
  """A traced imresize_tf(x, 1 / scale) with dynamic H, W (and C)."""
  spec = tf.TensorSpec([None] * rank, tf.uint8)
  return tf.function(
    lambda x: imresize_tf(x, 1 / scale), input_signature=[spec]
  )


def _downscale(backend: str, hr: np.ndarray, scale: int) -> np.ndarray:
  if backend == "numpy":
    return imresize(hr, 1 / scale)
  return _tf_resizer(scale, hr.ndim)(tf.constant(hr)).numpy()


def test_reference_set_is_complete(reference_cases):
  assert len(reference_cases) == sum(_SETS.values()) * len(_SCALES)
  elements = sum(lr.size for *_, lr in reference_cases)
  assert elements == _REFERENCE_ELEMENTS


@pytest.mark.parametrize("scale", _SCALES)
@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_matches_matlab_pixel_for_pixel(reference_cases, backend, scale):
  compared = 0
  mismatches = {}
  for set_name, name, s, hr, lr in reference_cases:
    if s != scale:
      continue
    got = _downscale(backend, hr, scale)
    assert got.dtype == np.uint8
    assert got.shape == lr.shape, (set_name, name, got.shape, lr.shape)
    compared += lr.size
    differing = int(np.count_nonzero(got != lr))
    if differing:
      mismatches[f"{set_name}/{name}"] = differing
  assert not mismatches, f"x{scale} {backend}: differing elements {mismatches}"
  assert compared > 0


# ---------------------------------------------------------------------------
# Kernel and weights.


def test_cubic_known_values():
  x = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 10.0])
  expected = [
    1.0,
    0.8671875,
    0.5625,
    0.2265625,
    0.0,
    -0.0703125,
    -0.0625,
    -0.0234375,
    0.0,
    0.0,
    0.0,
  ]
  np.testing.assert_array_equal(cubic(x), expected)
  np.testing.assert_array_equal(cubic(-x), expected)


def test_cubic_is_continuous_at_knots():
  eps = 1e-9
  for knot in (1.0, 2.0):
    assert abs(cubic(knot - eps) - cubic(knot + eps)) < 1e-7


def test_resize_weights_x2_downscale_known_taps():
  indices, weights = resize_weights(20, 10, 1 / 2)
  # Width 4 / (1/2) = 8, so P = 8 + 2 = 10 taps; the outer two are zero.
  assert indices.shape == weights.shape == (10, 10)
  taps = np.array(
    [-0.01171875, -0.03515625, 0.11328125, 0.43359375],
  )
  taps = np.concatenate([taps, taps[::-1]])
  nonzero = weights[:, 1:9]
  np.testing.assert_array_equal(nonzero, np.tile(taps, (10, 1)))
  np.testing.assert_array_equal(weights[:, [0, 9]], 0.0)
  # Output i (0-based) is centred between inputs 2i and 2i + 1.
  np.testing.assert_array_equal(indices[4, 1:9], np.arange(5, 13))
  # At the border the taps mirror with the edge sample repeated.
  np.testing.assert_array_equal(indices[0, 1:9], [2, 1, 0, 0, 1, 2, 3, 4])
  np.testing.assert_array_equal(
    indices[9, 1:9], [15, 16, 17, 18, 19, 19, 18, 17]
  )


@pytest.mark.parametrize("scale", _TEST_SCALES + (0.7, 1, 1.5))
@pytest.mark.parametrize("in_size", [1, 2, 5, 17])
def test_resize_weights_shape_range_and_normalisation(in_size, scale):
  out = output_size(in_size, scale)
  indices, weights = resize_weights(in_size, out, scale)
  width = 4 / scale if scale < 1 else 4
  assert indices.shape == weights.shape == (out, math.ceil(width) + 2)
  assert indices.dtype == np.int64 and weights.dtype == np.float64
  assert indices.min() >= 0 and indices.max() < in_size
  np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_output_size_is_ceil():
  assert output_size(7, 1 / 3) == 3
  assert output_size(9, 1 / 3) == 3
  assert output_size(510, 1 / 3) == 170
  assert output_size(5, 0.5) == 3
  assert output_size(5, 3) == 15


def test_round_half_away_from_zero():
  x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999999999999994, 254.5, 3.2])
  np.testing.assert_array_equal(
    round_half_away_from_zero(x), [1, 2, 3, -1, -2, 0, 255, 3]
  )


# ---------------------------------------------------------------------------
# imresize properties.


def _random_uint8(shape, seed):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("scale", _TEST_SCALES)
@pytest.mark.parametrize("shape", [(7, 5), (17, 23, 3), (9, 31, 1)])
def test_output_shape_and_dtype(shape, scale):
  image = _random_uint8(shape, 0)
  out = imresize(image, scale)
  expected = (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale))
  assert out.shape == expected + shape[2:]
  assert out.dtype == np.uint8
  for dtype in (np.float32, np.float64):
    assert imresize(image.astype(dtype), scale).dtype == dtype


@pytest.mark.parametrize("scale", _TEST_SCALES)
def test_constant_image_stays_constant(scale):
  image = np.full((13, 10, 3), 173, np.uint8)
  out = imresize(image, scale)
  np.testing.assert_array_equal(out, 173)
  out = imresize(image.astype(np.float64) / 255, scale)
  np.testing.assert_allclose(out, 173 / 255, rtol=0, atol=1e-12)


def test_scale_one_is_identity():
  image = _random_uint8((11, 8, 3), 1)
  np.testing.assert_array_equal(imresize(image, 1), image)
  as_float = image.astype(np.float64)
  np.testing.assert_allclose(imresize(as_float, 1), as_float, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_reproduces_a_linear_ramp_away_from_borders(scale):
  # Keys' cubic reproduces linear functions, so where all taps lie inside the
  # image the output is the ramp evaluated at the sample position u.
  n = 24
  ramp = np.arange(1, n + 1, dtype=np.float64)  # Value = 1-based position.
  image = np.tile(ramp[:, None], (1, 3))
  out = imresize(image, scale)[:, 0]
  x = np.arange(1, n * scale + 1)
  u = x / scale + 0.5 * (1 - 1 / scale)
  inside = (np.floor(u - 2) >= 1) & (np.floor(u - 2) + 5 <= n)
  assert inside.sum() > n
  np.testing.assert_allclose(out[inside], u[inside], rtol=0, atol=1e-10)


def test_channels_are_independent_and_grey_matches():
  image = _random_uint8((15, 12, 3), 2)
  out = imresize(image, 1 / 3)
  for c in range(3):
    np.testing.assert_array_equal(out[..., c], imresize(image[..., c], 1 / 3))


def test_uint8_downscale_antialiases_a_checkerboard():
  # Without the widened kernel a x1/2 resize of a 2-pixel-period pattern
  # aliases to stripes; with it the pattern averages out to mid-grey.
  image = np.indices((32, 32)).sum(axis=0) % 2 * 255
  out = imresize(image.astype(np.uint8), 1 / 2)
  interior = out[3:-3, 3:-3].astype(int)
  assert np.all(np.abs(interior - 128) <= 1), np.unique(interior)


# ---------------------------------------------------------------------------
# TensorFlow version.


@pytest.mark.parametrize("scale", _TEST_SCALES)
@pytest.mark.parametrize(
  "shape", [(17, 23, 3), (31, 9, 1), (13, 11), (1, 5, 3)]
)
def test_tf_matches_numpy_on_random_images(shape, scale):
  image = _random_uint8(shape, sum(shape))
  got = imresize_tf(tf.constant(image), scale)
  assert got.dtype == tf.uint8
  np.testing.assert_array_equal(got.numpy(), imresize(image, scale))


@pytest.mark.parametrize("scale", [1 / 3, 2])
def test_tf_matches_numpy_on_float_images(scale):
  image = np.random.default_rng(3).random((14, 9, 3))
  got = imresize_tf(tf.constant(image), scale)
  assert got.dtype == tf.float64
  # Same float64 operations in the same order: bit-identical.
  np.testing.assert_array_equal(got.numpy(), imresize(image, scale))


def test_tf_dynamic_shape_inside_dataset_map():
  shapes = [(17, 23), (30, 12), (9, 9), (64, 47)]
  images = [_random_uint8(s + (3,), i) for i, s in enumerate(shapes)]
  ds = tf.data.Dataset.from_generator(
    lambda: iter(images),
    output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
  )
  for scale in (1 / 3, 2):
    mapped = ds.map(lambda x, s=scale: imresize_tf(x, s))
    assert mapped.element_spec.shape.as_list() == [None, None, 3]
    assert mapped.element_spec.dtype == tf.uint8
    for image, got in zip(images, mapped, strict=True):
      np.testing.assert_array_equal(got.numpy(), imresize(image, scale))


def test_tf_sets_static_output_shape_when_known():
  @tf.function
  def resize(x):
    out = imresize_tf(x, 1 / 3)
    assert out.shape.as_list() == [6, 4, 3]
    return out

  assert resize(tf.zeros([17, 12, 3], tf.uint8)).shape == (6, 4, 3)

  spec = tf.TensorSpec([None, 12, 3], tf.uint8)
  concrete = tf.function(lambda x: imresize_tf(x, 2)).get_concrete_function(
    spec
  )
  assert concrete.output_shapes.as_list() == [None, 24, 3]


# ---------------------------------------------------------------------------
# modcrop.


def test_modcrop_crops_top_left_anchored():
  image = np.arange(7 * 10 * 3).reshape(7, 10, 3)
  out = modcrop(image, 3)
  assert out.shape == (6, 9, 3)
  np.testing.assert_array_equal(out, image[:6, :9])
  assert modcrop(image[..., 0], 4).shape == (4, 8)
  assert modcrop(image, 1).shape == image.shape
  assert modcrop(np.zeros((12, 8)), 4).shape == (12, 8)


# ---------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("scale", [0, -0.5, float("nan"), float("inf"), "2"])
def test_bad_scale_raises(scale):
  image = np.zeros((4, 4), np.uint8)
  with pytest.raises(ValueError, match="scale must be a positive finite"):
    imresize(image, scale)
  with pytest.raises(ValueError, match="scale must be a positive finite"):
    imresize_tf(tf.constant(image), scale)


@pytest.mark.parametrize("shape", [(5,), (2, 4, 4, 3)])
def test_bad_rank_raises(shape):
  image = np.zeros(shape, np.uint8)
  with pytest.raises(ValueError, match=r"expected an \[H, W\] or \[H, W, C\]"):
    imresize(image, 1 / 2)
  with pytest.raises(ValueError, match=r"expected an \[H, W\] or \[H, W, C\]"):
    imresize_tf(tf.constant(image), 1 / 2)


def test_bad_dtype_and_empty_image_raise():
  with pytest.raises(TypeError, match="uint8, float32 or float64"):
    imresize(np.zeros((4, 4), np.uint16), 1 / 2)
  with pytest.raises(TypeError, match="uint8, float32 or float64"):
    imresize_tf(tf.zeros((4, 4), tf.int32), 1 / 2)
  with pytest.raises(ValueError, match="empty image"):
    imresize(np.zeros((0, 4, 3), np.uint8), 1 / 2)
  with pytest.raises(tf.errors.InvalidArgumentError, match="empty image"):
    imresize_tf(tf.zeros((0, 4, 3), tf.uint8), 1 / 2)


@pytest.mark.parametrize("scale", [0, -2, 2.0, True])
def test_modcrop_bad_scale_raises(scale):
  with pytest.raises(ValueError, match="positive integer"):
    modcrop(np.zeros((4, 4)), scale)


def test_modcrop_bad_rank_raises():
  with pytest.raises(ValueError, match=r"expected an \[H, W, \.\.\.\] image"):
    modcrop(np.zeros(5), 2)
