"""Tests for sr_jax.models.create and count_params."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from sr_jax import models
from sr_jax.models.espcn import ESPCN
from sr_jax.models.rdb import ESPCNRDB, RDN


def _config(name, *, scale=3, channels=1, **model_fields):
  config = ml_collections.ConfigDict()
  config.scale = scale
  config.model = ml_collections.ConfigDict()
  config.model.name = name
  config.model.channels = channels
  config.model.dtype = "float32"
  config.model.update(model_fields)
  return config


def test_create_espcn_defaults_to_keras_layout():
  model = models.create(_config("espcn", width=64, num_blocks=4))
  assert model == ESPCN(scale=3, channels=1)


def test_create_espcn_opencv_layout_from_lists():
  config = _config(
    "espcn",
    scale=2,
    features=[64, 32],
    kernel_sizes=[5, 3, 3],
    final_activation="tanh",
  )
  model = models.create(config)
  assert model.features == (64, 32)
  assert model.kernel_sizes == (5, 3, 3)
  assert model.final_activation == "tanh"
  assert model.scale == 2


def test_create_espcn_rdb_reads_model_fields():
  config = _config(
    "espcn_rdb",
    width=16,
    num_blocks=3,
    num_layers=2,
    growth=8,
    dtype="bfloat16",
  )
  model = models.create(config)
  assert model == ESPCNRDB(
    scale=3,
    channels=1,
    width=16,
    num_blocks=3,
    num_layers=2,
    growth=8,
    dtype=jnp.bfloat16,
  )


def test_create_rdn_rgb():
  model = models.create(
    _config("rdn", scale=4, channels=3, width=8, num_blocks=2)
  )
  assert isinstance(model, RDN)
  assert (model.scale, model.channels, model.width) == (4, 3, 8)
  assert (model.num_blocks, model.num_layers, model.growth) == (2, 8, 64)
  assert model.dtype == jnp.float32


def test_create_imdn():
  imdn = pytest.importorskip("sr_jax.models.imdn")
  config = _config("imdn", channels=3, width=32, num_blocks=2)
  model = models.create(config)
  assert isinstance(model, imdn.IMDN)
  assert (model.features, model.num_blocks, model.channels) == (32, 2, 3)


def test_unknown_name_names_flag_and_choices():
  with pytest.raises(ValueError, match="--config.model.name") as error:
    models.create(_config("srcnn"))
  for name in ("espcn", "espcn_rdb", "rdn", "imdn"):
    assert name in str(error.value)


@pytest.mark.parametrize(
  "fields, flag",
  [
    (dict(dtype="float16"), "--config.model.dtype"),
    (dict(channels=2), "--config.model.channels"),
  ],
)
def test_invalid_fields_name_their_flag(fields, flag):
  config = _config("espcn")
  config.model.update(fields)
  with pytest.raises(ValueError, match=flag):
    models.create(config)


def test_created_model_runs():
  model = models.create(
    _config("espcn_rdb", scale=2, width=8, num_blocks=1, num_layers=2, growth=4)
  )
  x = jnp.zeros((1, 3, 3, 1))
  variables = jax.jit(model.init)(jax.random.key(0, impl="rbg"), x)
  assert model.apply(variables, x).shape == (1, 6, 6, 1)


def test_count_params_arrays_and_abstract():
  tree = {"a": np.zeros((2, 3)), "b": {"c": jnp.zeros((4,))}}
  assert models.count_params(tree) == 10
  abstract = jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree
  )
  assert models.count_params(abstract) == 10
  assert models.count_params({}) == 0
