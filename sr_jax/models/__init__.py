"""Model zoo: builds the network named by ``config.model.name``.

Every choice is spelled out in :func:`create`; there is no string registry.
Fields under ``config.model`` that a model does not use are ignored, and
fields that are absent fall back to the module's defaults.
"""

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from sr_jax.models.espcn import ESPCN
from sr_jax.models.rdb import ESPCNRDB, RDN, ResidualDenseBlock

__all__ = [
  "ESPCN",
  "ESPCNRDB",
  "MODEL_NAMES",
  "RDN",
  "ResidualDenseBlock",
  "count_params",
  "create",
]

MODEL_NAMES = ("espcn", "espcn_rdb", "rdn", "imdn")

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _fields(model_config: Any, names: tuple[str, ...]) -> dict[str, Any]:
  """The entries of ``model_config`` among ``names`` that are set."""
  kwargs = {}
  for name in names:
    value = model_config.get(name, None)
    if value is None:
      continue
    # Flax module fields must be hashable; configs often carry lists.
    kwargs[name] = tuple(value) if isinstance(value, list) else value
  return kwargs


def create(config: Any) -> nn.Module:
  """Builds the (uninitialised) model described by ``config``.

  Args:
    config: an ``ml_collections.ConfigDict`` with ``scale`` and a ``model``
      section holding ``name`` (one of :data:`MODEL_NAMES`), ``channels`` (1
      or 3), optionally ``dtype`` ('float32' or 'bfloat16', the compute
      dtype; parameters stay float32), and the model's own fields:
      ``features``, ``kernel_sizes``, ``final_activation`` (espcn);
      ``width``, ``num_blocks``, ``num_layers``, ``growth`` (espcn_rdb,
      rdn); ``width`` (IMDN's ``features``), ``num_blocks`` (imdn).

  Returns:
    The flax module.

  Raises:
    ValueError: on an unknown model name, dtype or channel count.
  """
  model_config = config.model
  name = model_config.name
  channels = model_config.get("channels", None)
  if channels not in (1, 3):
    raise ValueError(
      f"--config.model.channels must be 1 (Y) or 3 (RGB), got {channels!r}"
    )
  dtype_name = model_config.get("dtype", None) or "float32"
  if dtype_name not in _DTYPES:
    raise ValueError(
      f"--config.model.dtype must be one of {sorted(_DTYPES)}, "
      f"got {dtype_name!r}"
    )
  dtype = _DTYPES[dtype_name]
  scale = config.scale

  if name == "espcn":
    return ESPCN(
      scale=scale,
      channels=channels,
      dtype=dtype,
      **_fields(model_config, ("features", "kernel_sizes", "final_activation")),
    )
  if name == "espcn_rdb":
    return ESPCNRDB(
      scale=scale,
      channels=channels,
      dtype=dtype,
      **_fields(
        model_config,
        ("width", "num_blocks", "num_layers", "growth", "image_residual"),
      ),
    )
  if name == "rdn":
    return RDN(
      scale=scale,
      channels=channels,
      dtype=dtype,
      **_fields(model_config, ("width", "num_blocks", "num_layers", "growth")),
    )
  if name == "imdn":
    # Imported here so that the other models do not depend on this module.
    from sr_jax.models.imdn import IMDN

    kwargs = {}
    if model_config.get("width", None) is not None:
      # The trunk width is ``width`` for every model; IMDN calls it features.
      kwargs["features"] = model_config.width
    if model_config.get("num_blocks", None) is not None:
      kwargs["num_blocks"] = model_config.num_blocks
    if "dtype" in {f.name for f in dataclasses.fields(IMDN)}:
      kwargs["dtype"] = dtype
    elif dtype != jnp.float32:
      raise ValueError(
        "--config.model.dtype: imdn computes in float32 only, got "
        f"{dtype_name!r}"
      )
    return IMDN(scale=scale, channels=channels, **kwargs)
  raise ValueError(
    f"Unknown --config.model.name={name!r}; choose one of "
    f"{', '.join(MODEL_NAMES)}"
  )


def count_params(params: Any) -> int:
  """Total number of scalars in a pytree of arrays.

  Args:
    params: a parameter pytree; leaves may be arrays or
      ``jax.ShapeDtypeStruct`` (e.g. from ``jax.eval_shape``), so large
      models can be counted without allocating them.

  Returns:
    The number of parameters.
  """
  return sum(
    math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)
  )
