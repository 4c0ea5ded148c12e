"""The multi-host plan: each process's rows and images, and their checks.

Each of N processes makes only its own ``B / N`` rows of each global batch
of ``B`` (:mod:`sr_jax.pipeline.sampling`). ``data.host_sharding`` says
which images a process holds:

* ``by_batch`` (default): all of them; every process can make every row, and
  runs do not depend on the process count.
* ``by_file``: only its share (the records of its process index),
  for sets too large to hold on every host even encoded. Its rows draw from
  its own images (same permutation scheme over the local images), so the
  batches depend on the process count; still stateless, so resuming is as
  cheap.
"""

from absl import logging

# Pairs per image per epoch; used when the config has no
# ``data.patches_per_image``.
PATCHES_PER_IMAGE = 16


def check_stream(config, process_index, process_count, start_step):
  """Validates the stream's arguments.

  Returns:
    ``(local_batch, lr_patch_size, pairs_per_image)``.
  """
  scale = config.scale
  if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
    raise ValueError(
      f"--config.scale must be a positive integer, got {scale!r}"
    )
  if config.batch_size % process_count:
    raise ValueError(
      f"--config.batch_size={config.batch_size} is not divisible by the "
      f"{process_count} processes"
    )
  if not 0 <= process_index < process_count:
    raise ValueError(
      f"process_index={process_index} is not in [0, {process_count})"
    )
  if start_step < 0:
    raise ValueError(f"start_step={start_step} is negative")
  local_batch = config.batch_size // process_count
  p = config.data.lr_patch_size
  if p < 1 or local_batch < 1:
    raise ValueError(
      f"--config.data.lr_patch_size={p} and the per-process batch "
      f"{local_batch} must be positive"
    )
  pairs_per_image = config.data.get("patches_per_image", PATCHES_PER_IMAGE)
  if pairs_per_image < 1:
    raise ValueError(
      f"--config.data.patches_per_image={pairs_per_image} must be positive"
    )
  if config.data.cache and config.data.dataset == "imagenet_sr":
    logging.warning(
      "--config.data.cache=True keeps the 50,000 decoded ImageNet images in "
      "memory (tens of GB); set it to False for imagenet_sr"
    )
  return local_batch, p, pairs_per_image


def sharding_plan(config, process_index: int, process_count: int):
  """Which images this process holds, and how its rows pick among them.

  Returns:
    ``(read, order)``: ``read`` are the ``process_index`` /
    ``process_count`` to read the images with; ``order`` the batch, first
    row and salt of the per-epoch image order.
  """
  local_batch = config.batch_size // process_count
  host_sharding = config.data.get("host_sharding", "by_batch")
  if host_sharding == "by_batch":
    # Every process holds every image and can make any row: the batches (and
    # so the training run) do not depend on the process count.
    read = {"process_index": 0, "process_count": 1}
    order = {"batch": config.batch_size, "row0": 0, "salt": 0}
  elif host_sharding == "by_file":
    # Each process holds only its share of the images: for large sets.
    read = {"process_index": process_index, "process_count": process_count}
    order = {
      "batch": local_batch,
      "row0": process_index * local_batch,
      "salt": 1 + process_index,
    }
  else:
    raise ValueError(
      f"--config.data.host_sharding={host_sharding!r}: use by_batch or by_file"
    )
  return read, order
