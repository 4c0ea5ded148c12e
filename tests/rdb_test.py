"""Tests for sr_jax.models.rdb: ResidualDenseBlock, ESPCNRDB and RDN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import random_params

from sr_jax.models import count_params
from sr_jax.models.rdb import ESPCNRDB, RDN, ResidualDenseBlock

# Small enough that apply runs op by op in milliseconds on CPU.
_TINY = dict(width=8, num_blocks=2, num_layers=2, growth=4)

_KEY = random_params.KEY


_abstract_params = random_params.abstract_params
_init = random_params.numpy_init


def _uniform(shape, seed=1):
  return jnp.asarray(np.random.default_rng(seed).uniform(size=shape))


def _conv(k, c_in, c_out):
  return k * k * c_in * c_out + c_out


def _rdb_count(g0, c, g):
  dense = sum(_conv(3, g0 + i * g, g) for i in range(c))
  return dense + _conv(1, g0 + c * g, g0)


def _espcn_rdb_count(channels, scale, g0, d, c, g):
  return (
    _conv(5, channels, g0)  # sfe1
    + _conv(3, g0, g0)  # sfe2
    + d * _rdb_count(g0, c, g)
    + _conv(1, d * g0, g0)  # gff1
    + _conv(3, g0, g0)  # gff2
    + _conv(3, g0, channels * scale**2)  # subpixel
  )


def _rdn_count(channels, scale, g0, d, c, g):
  if scale == 4:
    upnet = 2 * _conv(3, g0, g0 * 4)
  else:
    upnet = _conv(3, g0, g0 * scale**2)
  return (
    _conv(3, channels, g0)
    + _conv(3, g0, g0)
    + d * _rdb_count(g0, c, g)
    + _conv(1, d * g0, g0)
    + _conv(3, g0, g0)
    + upnet
    + _conv(3, g0, channels)
  )


def test_rdb_shape_and_param_count():
  block = ResidualDenseBlock(growth=4, num_layers=3)
  x = _uniform((2, 5, 4, 6))
  variables = _init(block, x)
  assert block.apply(variables, x).shape == (2, 5, 4, 6)
  assert count_params(variables) == _rdb_count(6, 3, 4)
  # Layer c reads the block input and the c previous outputs.
  kernels = [variables["params"][f"conv{c}"]["kernel"] for c in range(3)]
  assert [k.shape[2] for k in kernels] == [6, 10, 14]
  assert variables["params"]["lff"]["kernel"].shape == (1, 1, 18, 6)


def test_rdb_is_identity_when_fusion_is_zero():
  block = ResidualDenseBlock(growth=4, num_layers=3)
  x = _uniform((1, 5, 4, 6)) - 0.5
  variables = _init(block, x)
  lff = variables["params"]["lff"]
  variables["params"]["lff"] = jax.tree.map(jnp.zeros_like, lff)
  np.testing.assert_array_equal(block.apply(variables, x), x)


@pytest.mark.parametrize(
  "kwargs, expected",
  [
    # The x3 Y-channel configurations we train.
    (dict(width=64, num_blocks=4, num_layers=4, growth=32), 663_177),
    (dict(width=64, num_blocks=6, num_layers=6, growth=32), 1_698_185),
  ],
)
def test_espcn_rdb_param_count(kwargs, expected):
  params = _abstract_params(ESPCNRDB(scale=3, channels=1, **kwargs), 1)
  assert count_params(params) == expected
  assert expected == _espcn_rdb_count(
    1,
    3,
    kwargs["width"],
    kwargs["num_blocks"],
    kwargs["num_layers"],
    kwargs["growth"],
  )


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_espcn_rdb_shapes(scale, channels):
  model = ESPCNRDB(scale=scale, channels=channels, **_TINY)
  x = jnp.full((2, 5, 4, channels), 0.5)
  variables = _init(model, x)
  y = model.apply(variables, x)
  assert y.shape == (2, 5 * scale, 4 * scale, channels)
  assert y.dtype == jnp.float32
  assert count_params(variables) == _espcn_rdb_count(
    channels, scale, 8, 2, 2, 4
  )
  params = variables["params"]
  assert params["sfe1"]["kernel"].shape == (5, 5, channels, 8)
  assert params["sfe2"]["kernel"].shape == (3, 3, 8, 8)


def test_espcn_rdb_global_residual_bypasses_blocks():
  # With gff2 zeroed the trunk reduces to F_{-1} (sfe1's output), so the
  # blocks' parameters must not matter.
  model = ESPCNRDB(scale=2, **_TINY)
  x = _uniform((1, 5, 4, 1))
  variables = _init(model, x)
  params = variables["params"]
  params["gff2"] = jax.tree.map(jnp.zeros_like, params["gff2"])
  y = model.apply(variables, x)
  params["rdb0"] = jax.tree.map(lambda p: p + 1.0, params["rdb0"])
  np.testing.assert_array_equal(model.apply(variables, x), y)


def test_rdn_x3_paper_size_param_count():
  params = _abstract_params(RDN(scale=3), 3)
  n = count_params(params)
  assert n == 22_308_035
  assert n == _rdn_count(3, 3, 64, 16, 8, 64)
  assert 22e6 < n < 22.5e6  # the paper's "about 22M"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rdn_shapes_and_upnet(scale):
  model = RDN(scale=scale, **_TINY)
  x = jnp.full((1, 4, 5, 3), 0.5)
  variables = _init(model, x)
  y = model.apply(variables, x)
  assert y.shape == (1, 4 * scale, 5 * scale, 3)
  assert y.dtype == jnp.float32
  assert count_params(variables) == _rdn_count(3, scale, 8, 2, 2, 4)
  expected_up = ["up1", "up2"] if scale == 4 else ["up1"]
  assert sorted(k for k in variables["params"] if k.startswith("up")) == (
    expected_up
  )


def test_rdn_rejects_unsupported_scale():
  with pytest.raises(ValueError, match="scale"):
    _abstract_params(RDN(scale=5, **_TINY), 3)


def test_channel_mismatch_raises():
  with pytest.raises(ValueError, match="expected"):
    _abstract_params(ESPCNRDB(scale=2, channels=1, **_TINY), 3)


@pytest.mark.parametrize("cls", [ESPCNRDB, RDN])
def test_real_init_is_float32_and_finite(cls):
  model = cls(scale=2, channels=3, **_TINY)
  variables = jax.jit(model.init)(_KEY, jnp.zeros((1, 4, 4, 3)))
  for leaf in jax.tree.leaves(variables):
    assert leaf.dtype == jnp.float32
    assert np.all(np.isfinite(leaf))


@pytest.mark.parametrize("cls", [ESPCNRDB, RDN])
def test_bfloat16_compute_keeps_float32_params(cls):
  x = _uniform((1, 6, 5, 3))
  model = cls(scale=2, channels=3, **_TINY)
  bf16 = model.clone(dtype=jnp.bfloat16)
  for leaf in jax.tree.leaves(jax.eval_shape(bf16.init, _KEY, x)):
    assert leaf.dtype == jnp.float32
  variables = _init(model, x)
  y16 = bf16.apply(variables, x)
  y32 = model.apply(variables, x)
  assert y16.dtype == jnp.float32
  tol = 0.05 * float(jnp.max(jnp.abs(y32)))
  np.testing.assert_allclose(y16, y32, atol=tol)
  assert not np.array_equal(y16, y32)  # bf16 really was used


def test_rdb_stacked_and_concatenated_forms_agree():
  # The stacked form convolves each feature map once with the kernel rows
  # of every later layer; it must create the same parameters and compute
  # the same function (and gradients) as the concatenating form.
  x = _uniform((2, 6, 5, 6)) - 0.5
  results = {}
  for stacked in (True, False):
    block = ResidualDenseBlock(growth=4, num_layers=3, stacked=stacked)
    initial = block.init(_KEY, x)
    # Nonzero biases too, the same for both forms.
    variables = _init(block, x)

    def loss(v, x, block=block):
      return jnp.sum(jnp.sin(3.0 * block.apply(v, x)))

    value, grads = jax.value_and_grad(loss, argnums=(0, 1))(variables, x)
    results[stacked] = (initial, block.apply(variables, x), value, grads)
  (v_s, y_s, l_s, g_s), (v_c, y_c, l_c, g_c) = results[True], results[False]
  # Same tree, same initial values, bit for bit.
  assert jax.tree.structure(v_s) == jax.tree.structure(v_c)
  for a, b in zip(jax.tree.leaves(v_s), jax.tree.leaves(v_c), strict=True):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(y_s, y_c, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(l_s, l_c, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g_s), jax.tree.leaves(g_c), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  # Not vacuous: the dense layers matter to the output and its gradient.
  assert float(jnp.max(jnp.abs(g_s[0]["params"]["conv0"]["kernel"]))) > 1e-3


@pytest.mark.parametrize("model_cls", [ESPCNRDB, RDN])
def test_networks_pass_the_stacked_form_to_their_blocks(model_cls):
  x = _uniform((1, 7, 6, 1 if model_cls is ESPCNRDB else 3)) - 0.5
  plain = model_cls(scale=2, channels=x.shape[-1], **_TINY)
  stacked = plain.clone(stacked_dense=True)
  variables = _init(plain, x)
  y_plain = plain.apply(variables, x)
  y_stacked = stacked.apply(variables, x)
  np.testing.assert_allclose(y_stacked, y_plain, rtol=1e-5, atol=1e-6)
  # The two programs differ (else the flag would not reach the blocks).
  hlo = [
    jax.jit(m.apply).lower(variables, x).as_text() for m in (plain, stacked)
  ]
  assert hlo[0] != hlo[1]
