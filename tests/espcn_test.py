"""Tests for sr_jax.models.espcn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import random_params

from sr_jax.models import count_params
from sr_jax.models.espcn import ESPCN

_KEY = random_params.KEY

# OpenCV's dnn_superres ESPCN: 5x5/64, 3x3/32, 3x3/r^2, tanh after shuffle.
_OPENCV = dict(
  features=(64, 32), kernel_sizes=(5, 3, 3), final_activation="tanh"
)


_abstract_params = random_params.abstract_params
_init = random_params.numpy_init


def _espcn_count(channels, scale, features, kernel_sizes):
  """Hand count: sum over layers of k*k*c_in*c_out + c_out."""
  widths = (channels, *features, channels * scale**2)
  return sum(
    k * k * c_in * c_out + c_out
    for k, c_in, c_out in zip(
      kernel_sizes, widths[:-1], widths[1:], strict=True
    )
  )


def test_keras_espcn_x3_y_has_59657_params():
  params = _abstract_params(ESPCN(scale=3), 1)
  assert count_params(params) == 59_657
  assert sorted(params) == ["conv1", "conv2", "conv3", "conv4"]
  assert params["conv4"]["kernel"].shape == (3, 3, 32, 9)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_param_count_matches_formula(scale, channels):
  params = _abstract_params(ESPCN(scale=scale, channels=channels), channels)
  expected = _espcn_count(channels, scale, (64, 64, 32), (5, 3, 3, 3))
  assert count_params(params) == expected


def test_opencv_layout_param_count_and_names():
  params = _abstract_params(ESPCN(scale=3, **_OPENCV), 1)
  # 5*5*64+64 + 9*64*32+32 + 9*32*9+9.
  assert count_params(params) == 22_729
  assert params["conv1"]["kernel"].shape == (5, 5, 1, 64)
  assert params["conv3"]["kernel"].shape == (3, 3, 32, 9)


def test_real_init_is_float32_and_finite():
  model = ESPCN(scale=2, features=(8, 4), kernel_sizes=(5, 3, 3))
  x = jnp.full((1, 4, 4, 1), 0.5)
  variables = jax.jit(model.init)(_KEY, x)
  for leaf in jax.tree.leaves(variables):
    assert leaf.dtype == jnp.float32
    assert np.all(np.isfinite(leaf))
  assert np.any(variables["params"]["conv1"]["kernel"] != 0)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_and_dtype(scale, channels):
  model = ESPCN(
    scale=scale, channels=channels, features=(4, 4), kernel_sizes=(5, 3, 3)
  )
  x = jnp.full((2, 5, 6, channels), 0.5)
  y = model.apply(_init(model, x), x)
  assert y.shape == (2, 5 * scale, 6 * scale, channels)
  assert y.dtype == jnp.float32


def test_subpixel_conv_feeds_pixel_shuffle_in_order():
  # With every kernel zero, the output is the sub-pixel conv's bias, so output
  # pixel (i*r + a, j*r + b) must read bias channel a*r + b.
  r = 3
  model = ESPCN(scale=r, features=(4,), kernel_sizes=(3, 3))
  x = jnp.zeros((1, 2, 2, 1))
  variables = jax.tree.map(jnp.zeros_like, _init(model, x))
  variables["params"]["conv2"]["bias"] = jnp.arange(r * r, dtype=jnp.float32)
  y = np.asarray(model.apply(variables, x))[0, :, :, 0]
  expected = np.tile(np.arange(r * r).reshape(r, r), (2, 2))
  np.testing.assert_array_equal(y, expected)


def test_final_activations():
  x = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 4, 4, 1)))
  base = ESPCN(scale=2, features=(8,), kernel_sizes=(3, 3))
  variables = _init(base, x)
  linear = base.apply(variables, x)
  tanh = base.clone(final_activation="tanh").apply(variables, x)
  relu = base.clone(final_activation="relu").apply(variables, x)
  assert np.any(linear < 0)  # otherwise the ReLU check is vacuous
  np.testing.assert_allclose(tanh, jnp.tanh(linear), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(relu, jnp.maximum(linear, 0), rtol=1e-6)


def test_bfloat16_compute_keeps_float32_params():
  x = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 6, 6, 1)))
  model = ESPCN(scale=3, features=(16, 8), kernel_sizes=(5, 3, 3))
  bf16 = model.clone(dtype=jnp.bfloat16)
  for leaf in jax.tree.leaves(jax.eval_shape(bf16.init, _KEY, x)):
    assert leaf.dtype == jnp.float32
  variables = _init(model, x)
  y32 = model.apply(variables, x)
  y16 = bf16.apply(variables, x)
  assert y16.dtype == jnp.float32
  tol = 0.05 * float(jnp.max(jnp.abs(y32)))
  np.testing.assert_allclose(y16, y32, atol=tol)
  assert not np.array_equal(y16, y32)  # bf16 really was used


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(features=(64, 32)), "kernel_sizes"),
    (dict(final_activation="sigmoid"), "final_activation"),
  ],
)
def test_invalid_configuration_raises(kwargs, match):
  with pytest.raises(ValueError, match=match):
    _abstract_params(ESPCN(scale=3, **kwargs), 1)


def test_wrong_channel_count_raises():
  with pytest.raises(ValueError, match="input channels"):
    _abstract_params(ESPCN(scale=3, channels=1), 3)
