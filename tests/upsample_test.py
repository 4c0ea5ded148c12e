"""Tests for sr_jax/models/upsample.py: bicubic upsampling as convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import random_params

from sr_jax import imresize
from sr_jax.models import upsample
from sr_jax.models.rdb import ESPCNRDB

# Odd, even, one-pixel and non-square sizes: every border case.
_SIZES = ((1, 1), (2, 3), (7, 5), (13, 6))

# One compiled program per shape: faster than op by op here.
_keys = jax.jit(upsample.keys_upsample, static_argnums=1)
_matlab = jax.jit(
  upsample.matlab_upsample, static_argnums=1, static_argnames="quantize"
)


def _images(h, w, c, *, seed=0, batch=2) -> np.ndarray:
  return np.random.default_rng(seed).random((batch, h, w, c), np.float32)


def test_keys_taps_sum_to_one_and_interpolate_at_zero_offset():
  for scale in (2, 3, 4):
    taps = upsample.keys_taps(scale)
    assert taps.shape == (scale, 5)
    np.testing.assert_allclose(taps.sum(axis=1), 1.0, atol=1e-12)
  # x3's middle phase sits on the LR pixel: weight 1 there, 0 elsewhere.
  np.testing.assert_allclose(upsample.keys_taps(3)[1], [0, 0, 1, 0, 0])


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_keys_upsample_is_jax_image_resize(scale):
  # Two channels: each is upsampled on its own (grouped convolutions).
  for h, w in _SIZES:
    x = _images(h, w, 2, seed=h * w)
    want = jax.image.resize(x, (2, h * scale, w * scale, 2), "cubic")
    got = _keys(x, scale)
    np.testing.assert_allclose(got, want, atol=3e-6, err_msg=f"{h}x{w}")


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_matlab_upsample_is_imresize(scale):
  for h, w in _SIZES:
    x = _images(h, w, 3, seed=h + w)
    want = np.stack([imresize.imresize(i.astype(np.float64), scale) for i in x])
    got = _matlab(x, scale)
    np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{h}x{w}")


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_quantized_matlab_upsample_is_uint8_imresize_exactly(scale):
  # MATLAB rounds a uint8 image after each pass; on whole grey levels the
  # float32 convolutions decide every rounding as its float64 does.
  rng = np.random.default_rng(scale)
  for h, w in _SIZES:
    lr = rng.integers(0, 256, (h, w, 3), np.uint8)
    want = imresize.imresize(lr, scale)
    x = jnp.asarray(lr[None].astype(np.float32) / 255.0)
    got = _matlab(x, scale, quantize=True)
    np.testing.assert_array_equal(
      np.rint(np.asarray(got[0]) * 255.0).astype(np.uint8), want
    )


def test_espcn_rdb_skip_equals_the_jax_image_resize_it_replaced():
  # The skip used to be jax.image.resize(..., "cubic"); a trained model's
  # outputs must not move beyond float rounding.
  model = ESPCNRDB(scale=3, width=8, num_blocks=1, num_layers=1, growth=4)
  for h, w in ((5, 7), (9, 4), (1, 3)):
    x = jnp.asarray(_images(h, w, 1, seed=h))
    old = jax.image.resize(x, (2, 3 * h, 3 * w, 1), method="cubic")
    np.testing.assert_allclose(model.bicubic_skip(x), old, atol=3e-6)
  params = random_params.numpy_init(model, x)
  out = model.apply(params, x)
  net_only = model.clone(image_residual=False).apply(params, x)
  np.testing.assert_allclose(
    out, net_only + jax.image.resize(x, out.shape, "cubic"), atol=1e-5
  )


def test_upsampling_traces_with_symbolic_sizes():
  # What ONNX and LiteRT export needs: no size-dependent constant.
  spec = jax.ShapeDtypeStruct(
    jax.export.symbolic_shape("b, h, w, 3"), jnp.float32
  )
  for fn in (upsample.keys_upsample, upsample.matlab_upsample):
    out = jax.eval_shape(lambda x, fn=fn: fn(x, 3), spec)
    assert str(out.shape) == "(b, 3*h, 3*w, 3)"
