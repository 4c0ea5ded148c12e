"""Tests for sr_jax.models.conv: Conv equals nn.Conv, values and gradients."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from sr_jax.models.conv import Conv, conv2d_same

# Only traced, or used where real RNG values matter; RBG compiles much faster
# on CPU than the default threefry.
_KEY = jax.random.key(0, impl="rbg")

# (k, Cin, Cout, (H, W)). Every kernel-gradient path is covered: 1x1 as a
# matrix product; XLA's layout (Cout >= Cin, or Cout a multiple of 32:
# 1->64, 64->64, 1->1, 64->32); the swapped layout (Cout < Cin and not a
# multiple of 32: 64->1, 40->9). The last case pads more than the image.
_CASES = (
  (1, 1, 64, (7, 9)),
  (1, 64, 1, (5, 3)),
  (1, 64, 64, (7, 5)),
  (3, 1, 64, (7, 9)),
  (3, 64, 1, (9, 7)),
  (3, 64, 64, (5, 7)),
  (3, 1, 1, (7, 5)),
  (3, 64, 32, (5, 5)),
  (3, 40, 9, (7, 9)),
  (5, 1, 64, (9, 7)),
  (5, 64, 1, (7, 5)),
  (5, 64, 64, (5, 3)),
  (5, 12, 3, (3, 3)),
)


def _uniform(shape, seed, low=-1.0, high=1.0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(low, high, shape), jnp.float32)


def _params(k, c_in, c_out, seed=0):
  """nn.Conv-shaped float32 parameters drawn with NumPy (no RNG compiles)."""
  bound = 1.0 / math.sqrt(k * k * c_in)
  return {
    "params": {
      "kernel": _uniform((k, k, c_in, c_out), seed, -bound, bound),
      "bias": _uniform((c_out,), seed + 1, -0.1, 0.1),
    }
  }


def _loss(module, target):
  # Nonlinear in the output so that dy differs from pixel to pixel.
  def loss(params, x):
    y = module.apply(params, x).astype(jnp.float32)
    return jnp.sum(jnp.sin(y) * target)

  return loss


def _assert_close(actual, desired, rtol=1e-5, atol_scale=1e-6):
  """assert_allclose with atol a fraction of the reference's largest value."""
  desired = np.asarray(desired, np.float64)
  atol = atol_scale * float(np.max(np.abs(desired)))
  np.testing.assert_allclose(
    np.asarray(actual, np.float64), desired, rtol=rtol, atol=atol
  )


@pytest.mark.parametrize("k,c_in,c_out,hw", _CASES)
def test_forward_and_gradients_match_nn_conv(k, c_in, c_out, hw):
  ours = Conv(c_out, (k, k))
  ref = nn.Conv(c_out, (k, k), padding="SAME")
  params = _params(k, c_in, c_out)
  x = _uniform((2, *hw, c_in), 2)
  target = _uniform((2, *hw, c_out), 3)

  _assert_close(jax.jit(ours.apply)(params, x), ref.apply(params, x))

  grad_ours = jax.jit(jax.grad(_loss(ours, target), argnums=(0, 1)))
  grad_ref = jax.grad(_loss(ref, target), argnums=(0, 1))
  (gp_ours, gx_ours), (gp_ref, gx_ref) = (
    grad_ours(params, x),
    grad_ref(params, x),
  )
  _assert_close(gx_ours, gx_ref)
  for name in ("kernel", "bias"):
    _assert_close(gp_ours["params"][name], gp_ref["params"][name])


@pytest.mark.parametrize("k,c_in,c_out", [(1, 8, 4), (3, 8, 4), (3, 4, 8)])
def test_conv2d_same_matches_lax_gradients(k, c_in, c_out):
  # The functional form against jax.grad of the plain convolution, with an
  # explicit precision threaded through the custom VJP.
  x = _uniform((2, 5, 7, c_in), 4)
  w = _uniform((k, k, c_in, c_out), 5)
  target = _uniform((2, 5, 7, c_out), 6)
  hi = lax.Precision.HIGHEST

  def plain(x, w):
    return lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )

  def loss(conv):
    return lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) * target)

  got = jax.jit(jax.grad(loss(lambda x, w: conv2d_same(x, w, hi)), (0, 1)))
  want = jax.grad(loss(plain), (0, 1))
  for a, b in zip(got(x, w), want(x, w), strict=True):
    _assert_close(a, b)


def test_same_parameters_as_nn_conv():
  x = jnp.zeros((1, 5, 5, 3))
  ours = Conv(7, (3, 3), name="conv").init(_KEY, x)
  ref = nn.Conv(7, (3, 3), padding="SAME", name="conv").init(_KEY, x)
  assert jax.tree.structure(ours) == jax.tree.structure(ref)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
    assert a.dtype == b.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)


def test_no_bias_and_custom_initialisers():
  x = jnp.zeros((1, 4, 4, 2))
  init = nn.initializers.constant(0.5)
  params = jax.eval_shape(
    Conv(3, 3, use_bias=False, kernel_init=init).init, _KEY, x
  )
  assert list(params["params"]) == ["kernel"]
  assert params["params"]["kernel"].shape == (3, 3, 2, 3)
  values = Conv(3, 1, kernel_init=init, bias_init=init).init(_KEY, x)
  np.testing.assert_array_equal(values["params"]["kernel"], 0.5)
  np.testing.assert_array_equal(values["params"]["bias"], 0.5)


def test_batch_axes_like_nn_conv():
  params = _params(3, 3, 4)
  ours, ref = Conv(4, (3, 3)), nn.Conv(4, (3, 3), padding="SAME")
  for shape in [(5, 7, 3), (2, 3, 5, 7, 3)]:
    x = _uniform(shape, 7)
    y = ours.apply(params, x)
    assert y.shape == shape[:-1] + (4,)
    _assert_close(y, ref.apply(params, x))


def test_bfloat16_compute_with_float32_params():
  k, c_in, c_out = 3, 16, 9
  params = _params(k, c_in, c_out)
  x = _uniform((2, 7, 9, c_in), 8)
  target = _uniform((2, 7, 9, c_out), 9)
  ours = Conv(c_out, (k, k), dtype=jnp.bfloat16)
  ref = nn.Conv(c_out, (k, k), padding="SAME", dtype=jnp.bfloat16)

  y = jax.jit(ours.apply)(params, x)
  assert y.dtype == jnp.bfloat16
  grads = jax.jit(jax.grad(_loss(ours, target)))(params, x)
  grads_ref = jax.grad(_loss(ref, target))(params, x)
  for name in ("kernel", "bias"):
    got = grads["params"][name]
    assert got.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(got)))
    # Both sides round to bfloat16 (8 bits of mantissa) at every op.
    _assert_close(got, grads_ref["params"][name], rtol=5e-2, atol_scale=5e-2)


@pytest.mark.parametrize(
  "kwargs",
  [
    dict(kernel_size=(2, 2)),
    dict(kernel_size=(3, 1)),
    dict(kernel_size=(3, 3, 3)),
    dict(kernel_size=(3, 3), padding="VALID"),
  ],
)
def test_rejects_unsupported_configurations(kwargs):
  with pytest.raises(ValueError):
    jax.eval_shape(Conv(4, **kwargs).init, _KEY, jnp.zeros((1, 5, 5, 2)))


def test_conv2d_same_rejects_even_kernel():
  with pytest.raises(ValueError, match="odd"):
    conv2d_same(jnp.zeros((1, 4, 4, 2)), jnp.zeros((2, 2, 2, 3)))
