"""Shared test fixtures: where the repository's and the shared data live."""

import os
import sys

import jax
import pytest

# Two CPU devices for the whole test session, set before JAX starts: the
# training tests then exercise the sharded (data-parallel) code path.
jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Config files import ``configs.default``; main.py does the same.
sys.path.insert(0, REPO)

REPO_DATA = os.path.join(REPO, "data")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
SHARED_PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")


def require_shared(*parts: str) -> str:
  """Returns ``../shared/<parts>`` or skips the test, saying why."""
  path = os.path.join(os.path.dirname(REPO), "shared", *parts)
  if not os.path.exists(path):
    pytest.skip(
      f"{path} not found: this test needs the project's shared data "
      "(present in CI, absent in a user's clone)"
    )
  return path


def tiny_config(tmp_path, *, total_steps: int = 2):
  """A small real training config: 3 T91 images, a tiny ESPCN-RDB, 2 images
  of Set5 for evaluation. Runs a step in well under a second on 2 cores."""
  import shutil

  from configs import default

  train_dir = tmp_path / "train"
  eval_dir = tmp_path / "eval"
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
  config = default.get_config()
  config.scale = 3
  config.model.width = 8
  config.model.num_blocks = 1
  config.model.num_layers = 2
  config.model.growth = 4
  config.data.train_dir = str(train_dir)
  config.data.train_sets = "Tiny"
  config.data.tfds_data_dir = str(tmp_path / "tfds")
  config.data.lr_patch_size = 8
  config.data.patches_per_image = 4
  config.data.shuffle_buffer = 16
  config.batch_size = 4
  config.total_steps = total_steps
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  config.eval.every_steps = 0
  config.eval.data_dir = str(eval_dir)
  config.eval.datasets = "Set5"
  config.eval.num_figures = 1
  return config
