"""Tests for benchmarks/opencv_espcn.py against OpenCV's own ESPCN x3.

The weights come from ``../shared/peers/opencv`` (skipped without it). The
TensorFlow test runs wherever the shared folder is. The OpenCV tests need
``cv2`` with ``dnn_superres`` (``opencv-contrib-python-headless``, in
``requirements.txt`` since the ONNX export's tests use ``cv2.dnn``), and skip,
saying so, without it.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO_DATA, require_shared
from PIL import Image

from benchmarks import opencv_espcn
from sr_jax import models

_UPSCALE = jax.jit(opencv_espcn.upscale_bgr, static_argnums=0)


def _peer(name: str) -> str:
  return require_shared("peers", "opencv", name)


def _cv2():
  try:
    import cv2
  except ImportError:
    pytest.skip(
      "cv2 is not importable: `pip install -r requirements.txt` "
      "(opencv-contrib-python-headless) to compare with OpenCV itself"
    )
  if not hasattr(cv2, "dnn_superres"):
    pytest.skip("this cv2 has no dnn_superres (needs the contrib package)")
  return cv2


def _bgr_crop() -> np.ndarray:
  """A real 72x90 BGR crop of Set14 'monarch' (wings, edges and flat areas)."""
  path = os.path.join(REPO_DATA, "eval", "Set14", "monarch.png")
  rgb = np.asarray(Image.open(path).convert("RGB"))[200:272, 300:390]
  return np.ascontiguousarray(rgb[..., ::-1])


def test_loader_builds_the_three_layer_network():
  model, params = opencv_espcn.load_opencv_espcn(_peer("ESPCN_x3.npz"))
  assert model.scale == 3
  assert model.features == (64, 32)
  assert model.final_activation == "tanh"
  # 5*5*1*64 + 64 + 3*3*64*32 + 32 + 3*3*32*9 + 9.
  assert models.count_params(params) == 22_729


def test_network_matches_the_tensorflow_graph():
  """The .pb run by TensorFlow equals sr_jax's module with the .npz weights."""
  import tensorflow as tf

  graph_def = tf.compat.v1.GraphDef()
  with open(_peer("ESPCN_x3.pb"), "rb") as f:
    graph_def.ParseFromString(f.read())
  y = _bgr_crop()[..., 1].astype(np.float32) / 255.0
  run = tf.compat.v1.wrap_function(
    lambda x: tf.compat.v1.import_graph_def(
      graph_def,
      input_map={"IteratorGetNext:0": x},
      return_elements=["NHWC_output:0"],
    ),
    [tf.TensorSpec([1, *y.shape, 1], tf.float32)],
  )
  expected = run(tf.constant(y[None, :, :, None]))[0].numpy()[0, :, :, 0]
  model, params = opencv_espcn.load_opencv_espcn(_peer("ESPCN_x3.npz"))
  got = np.asarray(opencv_espcn.upscale_y(model, params, jnp.asarray(y)))
  assert got.shape == (3 * y.shape[0], 3 * y.shape[1])
  np.testing.assert_allclose(got, expected, atol=2e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (37, 51)])
def test_bilinear_upscale_equals_jax_image_resize(shape, scale):
  """The fast two-tap resize is ``jax.image.resize(..., 'linear')``."""
  plane = np.random.default_rng(scale).random(shape, dtype=np.float32)
  got = opencv_espcn._resize_bilinear(jnp.asarray(plane), scale)  # pylint: disable=protected-access
  out_shape = (shape[0] * scale, shape[1] * scale)
  expected = jax.image.resize(jnp.asarray(plane), out_shape, "linear")
  np.testing.assert_allclose(got, expected, atol=3e-6)


def test_bilinear_upscale_is_cv2_resize():
  cv2 = _cv2()
  plane = np.random.default_rng(0).random((37, 51), dtype=np.float32)
  got = opencv_espcn._resize_bilinear(jnp.asarray(plane), 3)  # pylint: disable=protected-access
  np.testing.assert_allclose(
    got, cv2.resize(plane, None, fx=3, fy=3), atol=1e-6
  )


def test_color_conversions_are_opencvs_on_every_color():
  cv2 = _cv2()
  v = np.arange(256, dtype=np.uint8)
  every = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1)
  every = every.reshape(4096, 4096, 3)
  np.testing.assert_array_equal(
    np.asarray(opencv_espcn.bgr_to_ycrcb(jnp.asarray(every))),
    cv2.cvtColor(every, cv2.COLOR_BGR2YCrCb),
  )
  np.testing.assert_array_equal(
    np.asarray(opencv_espcn.ycrcb_to_bgr(jnp.asarray(every))),
    cv2.cvtColor(every, cv2.COLOR_YCrCb2BGR),
  )


def test_pipeline_agrees_with_dnn_superres_within_one_grey_level():
  cv2 = _cv2()
  bgr = _bgr_crop()
  sr = cv2.dnn_superres.DnnSuperResImpl_create()
  sr.readModel(_peer("ESPCN_x3.pb"))
  sr.setModel("espcn", 3)
  expected = sr.upsample(bgr)
  model, params = opencv_espcn.load_opencv_espcn(_peer("ESPCN_x3.npz"))
  got = np.asarray(_UPSCALE(model, params, jnp.asarray(bgr)))
  assert got.shape == expected.shape == (216, 270, 3)
  assert got.dtype == np.uint8
  diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
  assert diff.max() <= 1
  # Off-by-one only where float rounding lands next to a .5.
  assert np.mean(diff > 0) < 1e-3


def _assert_equals_whole_frame(got, model, params, bgr):
  """``got`` is the whole-frame upscale of ``bgr`` but for float rounding."""
  expected = np.asarray(_UPSCALE(model, params, jnp.asarray(bgr)))
  assert got.dtype == np.uint8 and got.shape == expected.shape
  diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
  assert diff.max() <= 1
  assert np.mean(diff > 0) < 1e-4


@pytest.mark.parametrize("height", [72, 61, 17, 9])
def test_bands_on_two_devices_equal_the_whole_frame(height):
  """One band per device (the session has two), odd heights included."""
  assert jax.local_device_count() == 2
  model, params = opencv_espcn.load_opencv_espcn(_peer("ESPCN_x3.npz"))
  bgr = _bgr_crop()[:height]
  parallel = opencv_espcn.parallel_upscale_bgr(model, params)
  bands = parallel.bands(height)
  assert len(bands) == min(2, height // 8)
  _assert_equals_whole_frame(parallel(bgr), model, params, bgr)


def test_band_geometry_keeps_every_row_once_with_halo_context():
  parallel = opencv_espcn.BandParallel(
    lambda p, x: x, None, halo=4, scale=1, devices=jax.devices() * 3
  )
  for height in (8, 9, 30, 31, 360):
    bands = parallel.bands(height)
    kept = []
    for start, keep, rows in bands:
      span = min(rows + 2 * 4, height)
      assert 0 <= start <= keep and keep + rows <= start + span <= height
      # halo rows of context on each side, unless the frame ends there.
      assert keep - start >= 4 or start == 0
      assert start + span - (keep + rows) >= 4 or start + span == height
      kept.append((keep, keep + rows))
    assert kept[0][0] == 0 and kept[-1][1] == height
    assert all(a[1] >= b[0] for a, b in zip(kept[:-1], kept[1:], strict=True))


@pytest.mark.parametrize("height", [72, 61])
def test_row_sharding_equals_the_whole_frame(height):
  """Rows split over the two devices by XLA; an odd height takes bands."""
  assert jax.local_device_count() == 2
  model, params = opencv_espcn.load_opencv_espcn(_peer("ESPCN_x3.npz"))
  bgr = _bgr_crop()[:height]
  parallel = opencv_espcn.RowSharded(
    lambda p, x: opencv_espcn.upscale_bgr(model, p, x),
    params,
    halo=model.receptive_radius,
    scale=3,
  )
  _assert_equals_whole_frame(parallel(bgr), model, params, bgr)


def test_row_sharding_of_a_dense_network_with_its_bicubic_skip():
  # The skip's resize contracts over the sharded rows: XLA must gather.
  import random_params

  from sr_jax.models.rdb import ESPCNRDB

  model = ESPCNRDB(scale=3, width=8, num_blocks=2, num_layers=2, growth=4)
  y = np.random.default_rng(0).uniform(size=(40, 28)).astype(np.float32)
  params = random_params.numpy_init(model, jnp.asarray(y)[None, :, :, None])[
    "params"
  ]

  def apply(p, y):
    return model.apply({"params": p}, y[None, :, :, None])[0, :, :, 0]

  parallel = opencv_espcn.RowSharded(
    apply, params, halo=model.receptive_radius, scale=3
  )
  got = parallel(y)
  expected = np.asarray(jax.jit(apply)(params, y))
  assert got.shape == expected.shape == (120, 84)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  # The halo exchange matters: each half alone differs near the cut.
  half = np.asarray(jax.jit(apply)(params, y[:20]))
  assert np.abs(half[-3:] - expected[57:60]).max() > 1e-4
