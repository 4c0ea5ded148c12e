"""Tests for sr_jax/config_checks.py: a bad config is refused before step 0."""

import glob
import importlib
import os

import pytest
from conftest import REPO
from tiny import tiny_config

from sr_jax import config_checks

_CONFIGS = sorted(
  os.path.relpath(p[: -len(".py")], REPO).replace(os.sep, ".")
  for p in glob.glob(
    os.path.join(REPO, "configs", "**", "*.py"), recursive=True
  )
  if not os.path.basename(p).startswith("_")
)


@pytest.mark.parametrize("name", _CONFIGS)
def test_every_shipped_config_passes_the_value_checks(name):
  config = importlib.import_module(name).get_config()
  config_checks.check_values(config)


@pytest.mark.parametrize(
  "key,value,message",
  [
    ("loss", "foo", "--config.loss='foo' is not one of: l1 | mse"),
    ("total_steps", -3, "--config.total_steps=-3 must be an integer >= 1"),
    ("scale", 0, "--config.scale=0 must be an integer >= 2"),
    ("scale", 1, "--config.scale=1 must be an integer >= 2"),
    ("batch_size", 0, "--config.batch_size=0"),
    ("keep_checkpoints", 0, "--config.keep_checkpoints=0 must be"),
    ("optim.schedule", "linear", "--config.optim.schedule='linear'"),
    ("model.name", "srgan", "--config.model.name='srgan'"),
    ("data.lr_patch_size", 0, "--config.data.lr_patch_size=0"),
    ("eval.lr_jpeg_quality", 101, "--config.eval.lr_jpeg_quality=101"),
    ("eval.lr_kernel", "gauss", "--config.eval.lr_kernel='gauss' is not one"),
    ("optim.learning_rate", -1.0, "--config.optim.learning_rate=-1.0"),
    ("ema_decay", 1.0, "--config.ema_decay=1.0"),
    ("log_every_steps", True, "--config.log_every_steps=True"),
  ],
)
def test_bad_value_names_its_key(tmp_path, key, value, message):
  config = tiny_config(tmp_path)
  node = config
  *parents, leaf = key.split(".")
  for part in parents:
    node = node[part]
  node[leaf] = value
  with pytest.raises(config_checks.ConfigError) as e:
    config_checks.check_values(config)
  assert message in str(e.value)
  assert "\n" not in str(e.value)


def test_lr_kernels_are_the_evaluators(tmp_path):
  from sr_jax import evaluate
  from sr_jax.pipeline import degradations

  assert config_checks.ENUMS["eval.lr_kernel"] == evaluate.LR_KERNELS
  # Evaluation offers the kernels training draws from, by the same names.
  assert evaluate.LR_KERNELS == degradations.LR_KERNELS
  config = tiny_config(tmp_path)
  for kernel in evaluate.LR_KERNELS:
    config.eval.lr_kernel = kernel
    config_checks.check_values(config)


def test_step_schedule_needs_decay_every(tmp_path):
  config = tiny_config(tmp_path)
  config.optim.schedule = "step"
  with pytest.raises(config_checks.ConfigError, match="decay_every"):
    config_checks.check_values(config)
  config.optim.decay_every = 100
  config_checks.check_values(config)


def test_missing_train_dir_and_set_are_refused(tmp_path):
  config = tiny_config(tmp_path)
  config_checks.check_folders(config, evaluates=True)
  config.data.train_sets = "Tiny,Nope"
  with pytest.raises(config_checks.ConfigError, match="no folder 'Nope'"):
    config_checks.check_folders(config, evaluates=False)
  config.data.train_dir = str(tmp_path / "missing")
  with pytest.raises(config_checks.ConfigError, match="train_dir=.*missing"):
    config_checks.check_folders(config, evaluates=False)


def test_missing_eval_folder_is_refused_only_when_evaluating(tmp_path):
  config = tiny_config(tmp_path)
  config.eval.data_dir = "/nonexistent"
  config_checks.check_folders(config, evaluates=False)
  with pytest.raises(config_checks.ConfigError, match="/nonexistent"):
    config_checks.check_folders(config, evaluates=True)


def test_batch_must_divide_over_the_devices(tmp_path):
  config = tiny_config(tmp_path)
  config.batch_size = 15
  config_checks.check_batch(config, 1)
  with pytest.raises(config_checks.ConfigError, match="multiple of 2"):
    config_checks.check_batch(config, 2)
