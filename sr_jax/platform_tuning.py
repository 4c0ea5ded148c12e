"""Speed tricks that were measured on one platform, applied only there.

Both were measured on XLA:CPU (see README, Performance), and neither on a
GPU or TPU, so on those backends the stock paths run:

* the glibc allocator settings of :mod:`sr_jax.allocator` (1.28x on the
  ESPCN-RDB x3 CPU train step), process-wide, applied by
  :func:`apply_process_tunings` once the backend is known;
* the custom-VJP convolution of :mod:`sr_jax.models.conv` (1.11x on that
  step), chosen per trace by :func:`custom_conv_vjp`.
"""

import jax
from absl import logging


def on_cpu() -> bool:
  """True when JAX computes on the CPU backend."""
  return jax.default_backend() == "cpu"


def custom_conv_vjp() -> bool:
  """Whether ``models.conv.Conv`` uses its custom weight gradient."""
  return on_cpu()


def apply_process_tunings(*, keep_freed_memory: bool) -> list[str]:
  """Applies the process-wide tunings that fit this backend.

  Call after ``jax.distributed.initialize`` (it asks for the backend) and
  before the large allocations.

  Args:
    keep_freed_memory: the ``--keep_freed_memory`` flag.

  Returns:
    The names of the tunings applied.
  """
  applied = []
  if keep_freed_memory and on_cpu():
    from sr_jax import allocator

    if allocator.keep_freed_memory():
      applied.append("keep_freed_memory")
  logging.info(
    "Backend %s; platform tunings: %s",
    jax.default_backend(),
    ", ".join(applied) or "none",
  )
  return applied
