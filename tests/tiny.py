"""A tiny but real training setup, shared by in-process and subprocess tests.

Kept apart from conftest.py, which configures JAX devices for the test
process: subprocesses import this module through a generated config file.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DATA = os.path.join(REPO, "data")


def _copy_data(tmp_path) -> tuple:
  """Copies 3 T91 images and 2 of Set5 under ``tmp_path``, once.

  Returns:
    ``(train_dir, eval_dir)``.
  """
  import pathlib
  import shutil

  train_dir = pathlib.Path(tmp_path) / "train"
  eval_dir = pathlib.Path(tmp_path) / "eval"
  if not train_dir.exists():
    src = os.path.join(REPO_DATA, "train", "T91")
    (train_dir / "Tiny").mkdir(parents=True)
    for name in sorted(os.listdir(src))[:3]:
      shutil.copy(os.path.join(src, name), train_dir / "Tiny" / name)
    (eval_dir / "Set5").mkdir(parents=True)
    for name in ("bird.png", "head.png"):
      shutil.copy(
        os.path.join(REPO_DATA, "eval", "Set5", name), eval_dir / "Set5" / name
      )
  return train_dir, eval_dir


def tiny_config(tmp_path, *, total_steps: int = 2):
  """A small real training config: 3 T91 images, a tiny ESPCN-RDB, 2 images
  of Set5 for evaluation. Runs a step in well under a second on 2 cores."""
  from configs import default

  train_dir, eval_dir = _copy_data(tmp_path)
  config = default.get_config()
  config.scale = 3
  config.model.width = 8
  config.model.num_blocks = 1
  config.model.num_layers = 2
  config.model.growth = 4
  config.data.train_dir = str(train_dir)
  config.data.train_sets = "Tiny"
  config.data.tfds_data_dir = os.path.join(str(tmp_path), "tfds")
  config.data.lr_patch_size = 8
  config.data.patches_per_image = 4
  config.batch_size = 4
  config.total_steps = total_steps
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  config.eval.every_steps = 0
  config.eval.data_dir = str(eval_dir)
  config.eval.datasets = "Set5"
  config.eval.num_figures = 1
  return config


def tiny_run(tmp_path, *, total_steps: int) -> tuple:
  """Trains :func:`tiny_config` for ``total_steps`` in ``tmp_path/run``.

  Returns:
    ``(config, workdir)``.
  """
  from sr_jax import train

  config = tiny_config(tmp_path, total_steps=total_steps)
  workdir = os.path.join(str(tmp_path), "run")
  train.train_and_evaluate(config, workdir)
  return config, workdir


def tiny_config_file(tmp_path, **overrides) -> str:
  """Writes a config file for ``python -m sr_jax.main --config=FILE``.

  Args:
    tmp_path: the test's temporary directory (data is copied there once).
    **overrides: top-level keys or ``section__key`` for nested ones, e.g.
      ``total_steps=12, optim__schedule="constant"``.

  Returns:
    The path of the config file.
  """
  # The data is copied here, once, not when the file is loaded: tests start
  # several processes on one file at once, which would race to copy it.
  _copy_data(tmp_path)
  lines = [
    "import sys",
    f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})",
    "import tiny",
    "",
    "def get_config():",
    f"  config = tiny.tiny_config({str(tmp_path)!r})",
  ]
  for key, value in overrides.items():
    lines.append(f"  config.{key.replace('__', '.')} = {value!r}")
  lines.append("  return config")
  path = os.path.join(str(tmp_path), "tiny_config.py")
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path
