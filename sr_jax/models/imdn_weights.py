"""Loads the official IMDN checkpoints into :class:`sr_jax.models.imdn.IMDN`.

The authors' PyTorch checkpoints (Zheng222/IMDN, ``IMDN_x{2,3,4}.pth``) are
read from ``.npz`` copies: one array per state_dict entry, under the PyTorch
name (``IMDB1.c1.weight``, ...), convolution weights in OIHW. This module maps
each name to its Flax path through an explicit table
(:func:`torch_to_flax_names`), turns OIHW into Flax's HWIO, and checks every
array against the shapes of ``IMDN(scale).init``, so that a wrong file fails
here with a message rather than later with a shape error deep inside ``apply``.

Usage::

  params = load_imdn_params("IMDN_x3.npz", scale=3)
  sr = IMDN(scale=3).apply({"params": params}, lr_images)
"""

import functools
import os
import zipfile
from collections.abc import Mapping

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from sr_jax.models.imdn import IMDN

# The architecture of the official checkpoints (IMDN's defaults).
_NUM_BLOCKS = 6
_CHANNELS = 3

# How many names an error message lists before "and N more".
_MAX_LISTED = 8


def torch_to_flax_names(
  *, num_blocks: int = _NUM_BLOCKS
) -> dict[str, tuple[str, ...]]:
  """The name table: PyTorch state_dict key -> Flax parameter path.

  Args:
    num_blocks: number of IMDBs.

  Returns:
    ``{torch_key: (module, ..., "kernel" | "bias")}``, one entry for every
    parameter of ``IMDN(num_blocks=num_blocks)``.
  """
  # PyTorch module name -> Flax module path. Sequential children are numbered
  # in PyTorch; only the convolutions among them carry parameters.
  modules: dict[str, tuple[str, ...]] = {"fea_conv": ("fea_conv",)}
  for k in range(1, num_blocks + 1):
    block = f"IMDB{k}"
    for conv in ("c1", "c2", "c3", "c4", "c5"):
      modules[f"{block}.{conv}"] = (block, conv)
    modules[f"{block}.cca.conv_du.0"] = (block, "cca", "conv_du_0")
    modules[f"{block}.cca.conv_du.2"] = (block, "cca", "conv_du_2")
  modules["c.0"] = ("c",)
  modules["LR_conv"] = ("LR_conv",)
  modules["upsampler.0"] = ("upsampler",)

  table = {}
  for torch_name, flax_path in modules.items():
    table[f"{torch_name}.weight"] = (*flax_path, "kernel")
    table[f"{torch_name}.bias"] = (*flax_path, "bias")
  return table


@functools.cache
def _expected_torch_shapes(scale: int) -> dict[str, tuple[int, ...]]:
  """The shape each PyTorch key must have for ``IMDN(scale=scale)``."""
  model = IMDN(scale=scale, num_blocks=_NUM_BLOCKS, channels=_CHANNELS)
  # eval_shape: only the shapes are needed, not the initial values.
  variables = jax.eval_shape(
    model.init,
    jax.random.key(0),
    jax.ShapeDtypeStruct((1, 8, 8, _CHANNELS), jnp.float32),
  )
  flat = flax.traverse_util.flatten_dict(variables["params"])
  shapes = {}
  for torch_key, flax_path in torch_to_flax_names().items():
    shape = flat[flax_path].shape
    # A Flax kernel is HWIO; the checkpoint stores OIHW.
    shapes[torch_key] = (
      (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape
    )
  return shapes


def _listing(names: list[str]) -> str:
  shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
  more = len(names) - _MAX_LISTED
  return f"{shown} and {more} more" if more > 0 else shown


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads every array of an ``.npz`` file, or raises a ValueError."""
  prefix = f"Cannot read IMDN weights from {path}"
  if not os.path.isfile(path):
    raise ValueError(f"{prefix}: no such file")
  # np.load guesses the format from the first bytes and, for anything that is
  # not zip or .npy, blames pickling; these checks give a plainer reason.
  if not zipfile.is_zipfile(path):
    with open(path, "rb") as f:
      is_npy = f.read(6) == b"\x93NUMPY"
    raise ValueError(
      f"{prefix}: it holds a single array (.npy), not an .npz archive of "
      "named arrays"
      if is_npy
      else f"{prefix}: not an .npz archive (not a zip file, or a truncated one)"
    )
  errors = (OSError, ValueError, EOFError, zipfile.BadZipFile)
  try:
    with np.load(path, allow_pickle=False) as npz:
      # Read everything now: a corrupt member only fails when it is read.
      return {name: np.asarray(npz[name]) for name in npz.files}
  except errors as err:
    raise ValueError(
      f"{prefix}: not a readable .npz archive ({type(err).__name__}: {err})"
    ) from err


def _scale_of(arrays: Mapping[str, np.ndarray]) -> int | None:
  """The scale a checkpoint was trained for, from its upsampler's width."""
  up = arrays.get("upsampler.0.weight")
  if up is None or up.ndim != 4 or up.shape[0] % _CHANNELS:
    return None
  r = round((up.shape[0] // _CHANNELS) ** 0.5)
  return r if r * r * _CHANNELS == up.shape[0] else None


def _check(
  arrays: Mapping[str, np.ndarray], *, path: str | os.PathLike, scale: int
) -> None:
  """Raises a ValueError saying what is wrong with ``arrays``, if anything."""
  expected = _expected_torch_shapes(scale)
  present = set(arrays)
  missing = sorted(set(expected) - present)
  extra = sorted(present - set(expected))

  if not present & set(expected):
    hint = ""
    if any(name.startswith("module.") for name in present):
      hint = (
        " The names start with 'module.' (a DataParallel state_dict); strip "
        "that prefix when exporting."
      )
    raise ValueError(
      f"{path} is not an IMDN checkpoint: none of its {len(present)} arrays "
      f"({_listing(sorted(present))}) has an IMDN parameter name such as "
      f"'fea_conv.weight' or 'IMDB1.c1.weight'.{hint}"
    )

  # The most likely mistake gets the most specific message.
  file_scale = _scale_of(arrays)
  if file_scale is not None and file_scale != scale:
    raise ValueError(
      f"{path}: this looks like an x{file_scale} checkpoint (upsampler.0.weight "
      f"has {arrays['upsampler.0.weight'].shape[0]} = {_CHANNELS}*"
      f"{file_scale}^2 output channels), but the model is x{scale}; pass "
      f"--config.scale={file_scale} or the x{scale} file."
    )

  problems = []
  if missing:
    problems.append(f"missing arrays ({len(missing)}): {_listing(missing)}")
  if extra:
    problems.append(f"unexpected arrays ({len(extra)}): {_listing(extra)}")
  for name in sorted(present & set(expected)):
    array = arrays[name]
    if array.shape != expected[name]:
      problems.append(
        f"{name} has shape {array.shape}, expected {expected[name]}"
      )
    elif not np.issubdtype(array.dtype, np.floating):
      problems.append(f"{name} has dtype {array.dtype}, expected a float")
  if problems:
    raise ValueError(
      f"{path} does not match IMDN(scale={scale}): " + "; ".join(problems)
    )


def load_imdn_params(path: str | os.PathLike, *, scale: int) -> dict:
  """Loads an official IMDN checkpoint (``.npz``) as Flax parameters.

  Args:
    path: ``IMDN_x{scale}.npz``: PyTorch state_dict names, OIHW weights.
    scale: the upscaling factor of the model the parameters are for.

  Returns:
    The ``params`` collection only (a nested dict of float32 arrays), to be
    used as ``IMDN(scale=scale).apply({"params": params}, x)``.

  Raises:
    ValueError: if the file cannot be read as ``.npz``, is not an IMDN
      checkpoint, was trained for another scale, or has missing, extra or
      wrongly shaped arrays. The message names the file and the problem.
  """
  arrays = _read_npz(path)
  _check(arrays, path=path, scale=scale)

  flat = {}
  for torch_key, flax_path in torch_to_flax_names().items():
    array = arrays[torch_key].astype(np.float32)
    if array.ndim == 4:
      array = array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    flat[flax_path] = jnp.asarray(array)
  return flax.traverse_util.unflatten_dict(flat)
