"""Checks that the PyTorch and Keras twins compute sr_jax's network.

Usage::

  pip install -r benchmarks/requirements.txt   # torch (CPU), OpenCV
  python benchmarks/train_step_check.py [--configs=espcn_x3,espcn_rdb_x3]

Copies sr_jax's weights into the twins ``train_step.py`` times
(``peers_train.py``) and prints the largest output difference to sr_jax's
on the same input. With ESPCN-RDB's bicubic skip on, the three bicubic
kernels differ; off, the networks agree to float rounding.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.peers_train import (  # noqa: E402
  build_keras_model,
  build_torch_model,
)
from benchmarks.train_workloads import CONFIGS, load_config  # noqa: E402


def _flax_convs(config, params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """sr_jax's conv layers by a path name shared with the twins."""
  flat = {}
  for path, leaf in _flatten(params):
    flat.setdefault("/".join(path[:-1]), {})[path[-1]] = np.asarray(leaf)
  return {k: (v["kernel"], v["bias"]) for k, v in flat.items()}


def _flatten(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict) or hasattr(value, "items"):
      yield from _flatten(value, (*prefix, key))
    else:
      yield (*prefix, key), value


def _twin_layers(config, torch_model, keras_model):
  """Layer path -> (torch conv, keras conv), in sr_jax's naming."""
  m = config.model
  pairs = {}
  if m.name == "espcn":
    for i, (tc, kc) in enumerate(
      zip(torch_model.convs, keras_model.convs, strict=True)
    ):
      pairs[f"conv{i + 1}"] = (tc, kc)
    return pairs
  for name in ("sfe1", "sfe2", "gff1", "gff2", "subpixel"):
    pairs[name] = (getattr(torch_model, name), getattr(keras_model, name))
  for d, (tb, kb) in enumerate(
    zip(torch_model.rdbs, keras_model.rdbs, strict=True)
  ):
    for c, (tc, kc) in enumerate(zip(tb.convs, kb.convs, strict=True)):
      pairs[f"rdb{d}/conv{c}"] = (tc, kc)
    pairs[f"rdb{d}/lff"] = (tb.lff, kb.lff)
  return pairs


def check_twins(config_name: str, *, image_residual: bool | None = None):
  """Max |difference| of the twins' outputs to sr_jax's, same weights.

  Args:
    config_name: a key of :data:`CONFIGS`.
    image_residual: override ``config.model.image_residual`` (ESPCN-RDB).

  Returns:
    ``{"pytorch": max abs diff, "tensorflow": max abs diff}`` on a random
    ``[2, 16, 16, 1]`` batch in [0, 1].
  """
  import jax
  import jax.numpy as jnp
  import tensorflow as tf
  import torch

  from sr_jax import models

  config = load_config(config_name)
  if image_residual is not None:
    config.model.image_residual = image_residual
  model = models.create(config)
  x = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
  params = model.init(jax.random.key(1), jnp.asarray(x))["params"]
  expected = np.asarray(model.apply({"params": params}, jnp.asarray(x)))
  torch_model = build_torch_model(config)
  keras_model = build_keras_model(config)
  keras_model(tf.zeros((1, 8, 8, 1)))
  weights = _flax_convs(config, params)
  layers = _twin_layers(config, torch_model, keras_model)
  if set(weights) != set(layers):
    raise AssertionError(f"layers differ: {sorted(weights)} {sorted(layers)}")
  with torch.no_grad():
    for name, (kernel, bias) in weights.items():
      tconv, kconv = layers[name]
      tconv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
      tconv.bias.copy_(torch.from_numpy(bias))
      kconv.kernel.assign(kernel)
      kconv.bias.assign(bias)
    got_torch = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2)))
  got_torch = got_torch.numpy().transpose(0, 2, 3, 1)
  got_tf = keras_model(tf.constant(x)).numpy()
  return {
    "pytorch": float(np.abs(got_torch - expected).max()),
    "tensorflow": float(np.abs(got_tf - expected).max()),
  }


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", default=",".join(CONFIGS))
  args = parser.parse_args(argv)
  names = [n for n in args.configs.split(",") if n]
  unknown = sorted(set(names) - set(CONFIGS))
  if unknown:
    parser.error(f"unknown --configs {unknown}; choose from {list(CONFIGS)}")
  for name in names:
    variants = [None]
    if load_config(name).model.name == "espcn_rdb":
      variants = [True, False]
    for residual in variants:
      diffs = check_twins(name, image_residual=residual)
      label = "" if residual is None else f" (image_residual={residual})"
      print(
        f"{name}{label}: max |twin - sr_jax| on the same weights: "
        + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
      )


if __name__ == "__main__":
  main()
