"""The networks: builds the one named by ``config.model.name``.

Every choice is spelled out in :func:`create`; there is no string registry.
Fields under ``config.model`` that a model does not use are ignored, and
fields that are absent fall back to the module's defaults.

What inference (sr_jax/inference.py) needs from a model class is declared on
the class, so adding a model touches this package only:

* ``channels``: image channels in and out (1: Y, 3: RGB), a field;
* ``receptive_radius``: how many LR pixels an output pixel sees on each
  side (a property computed from the fields), the margin tiles need;
* ``sees_whole_image``: True if some output depends on the whole input (a
  global pooling); such a model is run on whole images, never on tiles or
  packed canvases. Otherwise every spatial operation must be a ``Conv``
  (sr_jax.models.conv or flax's) or the model's ``bicubic_skip`` method, so
  that inference can mask padding exactly.

:func:`check_fit` is the one answer to "do these weights fit this config".
"""

import dataclasses
import json
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
  "WeightsMismatchError",
  "check_fit",
  "count_params",
  "create",
  "load_official_weights",
  "param_shapes",
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

  common = dict(scale=scale, channels=channels, dtype=dtype)
  if name == "espcn":
    fields = ("features", "kernel_sizes", "final_activation")
    return ESPCN(**common, **_fields(model_config, fields))
  if name == "espcn_rdb":
    fields = ("width", "num_blocks", "num_layers", "growth", "image_residual")
    return ESPCNRDB(**common, **_fields(model_config, fields))
  if name == "rdn":
    fields = ("width", "num_blocks", "num_layers", "growth")
    return RDN(**common, **_fields(model_config, fields))
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


def _flat_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  return {
    "/".join(str(getattr(p, "key", p)) for p in path): tuple(leaf.shape)
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
  }


def param_shapes(config: Any) -> dict[str, tuple[int, ...]]:
  """``"layer/param" -> shape`` of ``config``'s model, without allocating."""
  model = create(config)
  dummy = jnp.zeros((1, 8, 8, config.model.channels), jnp.float32)
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), dummy))
  return _flat_shapes(abstract["params"])


def _model_settings(config: Any) -> dict[str, Any]:
  """Scale and model fields, through JSON (where tuples equal lists)."""
  settings = json.loads(config.to_json_best_effort())
  model = settings.get("model", {})
  model.pop("dtype", None)  # The compute dtype does not change the weights.
  return {"scale": settings.get("scale")} | {
    f"model.{k}": v for k, v in model.items()
  }


class WeightsMismatchError(ValueError):
  """Weights made for another model or config (not damaged weights)."""


def check_fit(
  config: Any,
  params: Any,
  *,
  source: str,
  saved_config: Any = None,
) -> None:
  """Raises ValueError unless ``params`` (made with ``saved_config``) fit
  ``config``'s model.

  Compares the model settings of the two configs (when the weights come with
  one: scale and every ``model.*`` field but the compute dtype, since some,
  like ``image_residual``, change the function without changing any shape),
  then every parameter's shape.

  Args:
    config: the config the weights are to be used with.
    params: a params pytree (arrays or ``jax.ShapeDtypeStruct``).
    source: names the weights in the message (a file, a workdir).
    saved_config: the config that made the weights, if known.

  Raises:
    WeightsMismatchError: naming the differing settings or parameters.
  """
  if saved_config is not None:
    want, have = _model_settings(config), _model_settings(saved_config)
    diffs = [
      f"{k}: weights {have.get(k)!r}, config {want.get(k)!r}"
      for k in sorted(set(want) | set(have))
      if want.get(k) != have.get(k)
    ]
    if diffs:
      raise WeightsMismatchError(
        f"{source} holds weights of another model ({'; '.join(diffs)}); use "
        "the config that made them, or a new --workdir"
      )
  want = param_shapes(config)
  have = _flat_shapes(params)
  if want != have:
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    parts = []
    if missing:
      parts.append(f"missing {missing[:3]}")
    if extra:
      parts.append(f"unexpected {extra[:3]}")
    for k in wrong[:3]:
      parts.append(f"{k} has shape {have[k]}, the model needs {want[k]}")
    raise WeightsMismatchError(
      f"{source}: parameters do not fit {config.model.name} "
      f"x{config.scale} ({'; '.join(parts)}); check --config.scale and "
      "--config.model.*"
    )


def load_official_weights(path: str, config: Any) -> Any:
  """Params converted from the authors' released checkpoint at ``path``.

  Raises:
    ValueError: for a model without a converter, or a file that does not
      fit (the converter names the file and the problem).
  """
  if config.model.name == "imdn":
    from sr_jax.models import imdn_weights

    return imdn_weights.load_imdn_params(path, scale=config.scale)
  raise ValueError(
    f"{path}: sr_jax converts official checkpoints of imdn only, not of "
    f"{config.model.name!r}; give a zoo .npz (with its .json) instead"
  )
