"""Speed tricks that were measured on one platform, applied only there.

All were measured on XLA:CPU (see README, Performance), and none on a GPU
or TPU, so on those backends the stock paths run:

* one CPU device per core (:func:`split_cpu_devices`): XLA:CPU keeps about
  one core busy per device, so a single device leaves the others idle; with
  one device per core the training batch, the packed canvases of upscaling
  and the images of an evaluation are spread over all of them;
* the glibc allocator settings of :mod:`sr_jax.allocator` (1.28x on the
  ESPCN-RDB x3 CPU train step), process-wide, applied by
  :func:`apply_process_tunings` once the backend is known;
* the custom-VJP convolution of :mod:`sr_jax.models.conv` (1.11x on that
  step), chosen per trace by :func:`custom_conv_vjp`;
* for inference only, residual dense blocks that convolve each feature map
  once, with the stacked kernel rows of every later layer that reads it,
  instead of re-concatenating the inputs at each layer
  (:func:`for_inference`: 1.12x on the ESPCN-RDB x3 640x360 frame; in the
  training step no difference beyond the noise, so it keeps the plain form).
"""

import os
from typing import Any

import jax
from absl import logging

_DEVICE_COUNT_FLAG = "xla_force_host_platform_device_count"


def usable_cores() -> int:
  """The cores this process may run on (its affinity mask, e.g. taskset)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not Linux.
    return os.cpu_count() or 1


def split_cpu_devices(requested: int, *, batch_size: int = 0) -> int | None:
  """Makes the CPU backend one device per core; call before JAX starts.

  Args:
    requested: devices wanted; negative for one per usable core, 0 or 1 for
      XLA's single CPU device.
    batch_size: a global batch the device count must divide (0: none).

  Returns:
    The device count set, or None when ``XLA_FLAGS`` already sets it (an
    explicit choice, e.g. by launch/local.sh) or JAX already started.
  """
  if _DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", ""):
    return None
  wanted = usable_cores() if requested < 0 else max(requested, 1)
  n = wanted
  if batch_size:
    n = max(d for d in range(1, n + 1) if batch_size % d == 0)
  if n < wanted:
    # Said where the user sees it: a run on fewer cores is slower.
    logging.warning(
      "--config.batch_size=%d does not divide over %d CPU devices: training "
      "on %d; a multiple of %d uses them all",
      batch_size,
      wanted,
      n,
      wanted,
    )
  try:
    jax.config.update("jax_num_cpu_devices", n)
  except RuntimeError:  # Backends already initialized: keep what is there.
    return None
  return n


def on_cpu() -> bool:
  """True when JAX computes on the CPU backend."""
  return jax.default_backend() == "cpu"


def custom_conv_vjp() -> bool:
  """Whether ``models.conv.Conv`` uses its custom weight gradient."""
  return on_cpu()


def for_inference(model: Any) -> Any:
  """The model as the inference layer runs it on this backend.

  Args:
    model: a flax module from ``models.create``.

  Returns:
    On the CPU backend, a residual-dense network (a module with a
    ``stacked_dense`` field) with its dense blocks in the stacked form;
    otherwise ``model`` itself. Same parameters either way.
  """
  if on_cpu() and hasattr(model, "stacked_dense"):
    return model.clone(stacked_dense=True)
  return model


def inference_precision() -> str | None:
  """The matmul / convolution precision the inference layer traces with.

  None (the backend's default) on the CPU backend, which computes float32
  in float32 anyway; elsewhere ``"highest"``: GPUs otherwise run float32
  convolutions in TF32. On an H200, ``python -m sr_jax.upscale
  --model=espcn_rdb_x3`` of two photos wrote 2.6% and 3.7% of its output
  values one grey level off the CPU's with the default, and 8e-6 and 1.1e-5
  of them with ``"highest"`` (README, "From one CPU to a GPU cluster").
  Evaluation must follow the protocol to the pixel; upscaling loses little.
  """
  return None if on_cpu() else "highest"


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
