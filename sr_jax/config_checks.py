"""The whole config checked before the first step, one line per mistake.

A run that would train on the wrong loss, do nothing, crash at step 0 or
evaluate on a folder that is not there is refused here instead, with the
key, its value and what is allowed, in the ``--config.<key>`` form the
user types. Checks that need the data (image sizes, record counts) stay
where the data is read.
"""

import os
from typing import Any

import ml_collections

from sr_jax import fileio

# Allowed values of the enum keys; the code that reads each key says what
# each value means (train.py, train_state.py, models/, datasets/,
# evaluate.py). A key a config lacks is not checked: an old run's config may
# predate it, and its reader then takes the default.
ENUMS = {
  "loss": ("l1", "mse"),
  "optim.schedule": ("constant", "cosine", "step"),
  "model.name": ("espcn", "espcn_rdb", "rdn", "imdn"),
  "model.channels": (1, 3),
  "model.dtype": ("float32", "bfloat16"),
  "data.dataset": ("image_folder", "div2k", "imagenet_sr"),
  "data.host_sharding": ("by_batch", "by_file"),
  "eval.convention": ("basicsr", "matlab"),
  # evaluate.LR_KERNELS (kept here too: this module must not import JAX).
  "eval.lr_kernel": ("matlab", "box", "bilinear", "bicubic", "lanczos"),
}
# Integer keys and their smallest allowed value.
MINIMUMS = {
  "scale": 2,
  "total_steps": 1,
  "batch_size": 1,
  "data.lr_patch_size": 1,
  "data.patches_per_image": 1,
  "keep_checkpoints": 1,
  "log_every_steps": 1,
  "checkpoint_every_steps": 1,
  "eval.every_steps": 0,
  "eval.num_figures": 0,
  "eval.max_images": 0,
  "eval.lr_jpeg_quality": 0,
  "optim.warmup_steps": 0,
  "optim.decay_every": 0,
  "steps_per_call": 0,
}


class ConfigError(ValueError):
  """A config value that cannot make a sensible run; says which and why."""


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  node = config
  for part in key.split("."):
    node = node[part]
  return node


def _has(config: ml_collections.ConfigDict, key: str) -> bool:
  try:
    _get(config, key)
  except (KeyError, AttributeError):
    return False
  return True


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def check_values(config: ml_collections.ConfigDict) -> None:
  """Enums and ranges; raises :class:`ConfigError` on the first bad key."""
  for key, allowed in ENUMS.items():
    if _has(config, key) and _get(config, key) not in allowed:
      choices = " | ".join(str(a) for a in allowed)
      raise ConfigError(
        f"--config.{key}={_get(config, key)!r} is not one of: {choices}"
      )
  for key, low in MINIMUMS.items():
    if not _has(config, key):
      continue
    value = _get(config, key)
    if not _is_int(value) or value < low:
      raise ConfigError(f"--config.{key}={value!r} must be an integer >= {low}")
  if config.eval.lr_jpeg_quality > 100:
    raise ConfigError(
      f"--config.eval.lr_jpeg_quality={config.eval.lr_jpeg_quality} must be "
      "0 (off) or a JPEG quality in 1..100"
    )
  if config.optim.schedule == "step" and config.optim.decay_every < 1:
    raise ConfigError(
      "--config.optim.decay_every must be >= 1 with "
      "--config.optim.schedule=step"
    )
  _check_floats(config)


def _check_floats(config: ml_collections.ConfigDict) -> None:
  lr = config.optim.learning_rate
  # 0 is allowed: it keeps the starting weights (a check of init_from).
  if isinstance(lr, bool) or not isinstance(lr, int | float) or lr < 0:
    raise ConfigError(
      f"--config.optim.learning_rate={lr!r} must be a number >= 0"
    )
  ema = config.ema_decay
  if isinstance(ema, bool) or not isinstance(ema, int | float):
    raise ConfigError(f"--config.ema_decay={ema!r} must be a number in [0, 1)")
  if not 0 <= ema < 1:
    raise ConfigError(f"--config.ema_decay={ema!r} must be in [0, 1)")
  fraction = config.data.jpeg_clean_fraction
  if not 0 <= fraction <= 1:
    raise ConfigError(
      f"--config.data.jpeg_clean_fraction={fraction!r} must be in [0, 1]"
    )


def check_folders(
  config: ml_collections.ConfigDict, *, trains: bool = True, evaluates: bool
) -> None:
  """Every folder the run will read exists; raises :class:`ConfigError`.

  Args:
    config: the run's config.
    trains: whether the run reads training data.
    evaluates: whether the run evaluates (training with
      ``eval.every_steps > 0``, or ``--mode=evaluate``), so that its
      datasets must exist now rather than at the first evaluation.
  """
  if trains and config.data.dataset == "image_folder":
    train_dir = config.data.train_dir
    if not fileio.isdir(train_dir):
      raise ConfigError(f"--config.data.train_dir={train_dir}: no such folder")
    for name in config.data.train_sets.split(","):
      path = fileio.join(train_dir, name.strip())
      if not fileio.isdir(path):
        raise ConfigError(
          f"--config.data.train_sets: no folder {name.strip()!r} in "
          f"--config.data.train_dir={train_dir}"
        )
  if not evaluates:
    return
  # Imported here: evaluate pulls in JAX, which the value checks do not need.
  from sr_jax import evaluate

  for name in config.eval.datasets.split(","):
    folder = evaluate.dataset_dir(config.eval.data_dir, name.strip())
    if name.strip() and not os.path.isdir(folder):
      raise ConfigError(
        f"--config.eval.datasets: {name.strip()!r} has no folder {folder}; set "
        "--config.eval.data_dir to the folder holding it or drop it"
      )


def check_run(config: ml_collections.ConfigDict, *, mode: str) -> None:
  """All checks that need no devices, for ``--mode=train`` or ``evaluate``."""
  check_values(config)
  # Training evaluates at its last step whatever eval.every_steps says.
  check_folders(config, trains=mode == "train", evaluates=True)


def check_batch(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """The global batch splits evenly over the devices."""
  if config.batch_size % num_devices:
    raise ConfigError(
      f"--config.batch_size={config.batch_size} does not divide over the "
      f"{num_devices} devices; use a multiple of {num_devices}"
    )
