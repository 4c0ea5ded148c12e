"""Parameters for model tests, drawn with NumPy instead of ``model.init``.

Compiling JAX's RNG takes seconds per parameter shape on a small CPU, which
would dominate the suite; the structure still comes from ``model.init``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

# Only traced (eval_shape) or used by real-init tests, whose RBG generator
# compiles much faster on CPU than the default threefry.
KEY = jax.random.key(0, impl="rbg")


def abstract_params(model, channels):
  """The params' shapes for a ``[1, 8, 8, channels]`` input."""
  x = jax.ShapeDtypeStruct((1, 8, 8, channels), jnp.float32)
  return jax.eval_shape(model.init, KEY, x)["params"]


def numpy_init(model, x, *, seed=0):
  """Random float32 variables for ``model`` (PyTorch-like uniform ranges)."""
  abstract = jax.eval_shape(model.init, KEY, x)
  rng = np.random.default_rng(seed)

  def fill(leaf):
    if len(leaf.shape) == 1:  # bias
      return jnp.asarray(rng.uniform(-0.1, 0.1, leaf.shape), leaf.dtype)
    bound = 1.0 / math.sqrt(math.prod(leaf.shape[:-1]))
    return jnp.asarray(rng.uniform(-bound, bound, leaf.shape), leaf.dtype)

  return jax.tree.map(fill, abstract)
