"""Every config in configs/ says what it trains on, and that data is there.

Each config's training data is opened through the function the trainer
calls, ``input_pipeline.train_records``, with a fresh TFDS data dir: the
shipped T91 folder must build and read; DIV2K and ImageNet, which cannot be
downloaded, must stop with the message that says how to provide them (and
never fall back to another set).
"""

import glob
import importlib
import os
import re

import pytest
from conftest import REPO, require_shared

from sr_jax import input_pipeline

# Module names under configs/: the user-facing ones at the top, the zoo
# recipes in zoo/, the experiments tried and not shipped in experiments/.
_CONFIGS = sorted(
  os.path.relpath(
    os.path.splitext(p)[0], os.path.join(REPO, "configs")
  ).replace(os.sep, ".")
  for p in glob.glob(
    os.path.join(REPO, "configs", "**", "*.py"), recursive=True
  )
  if not os.path.basename(p).startswith("_")
)

# What each dataset's configs must name in their docstring.
_DOC_NAMES = {"div2k": "DIV2K", "imagenet_sr": "ImageNet"}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
  """One TFDS data dir for the module, so T91 is built once."""
  return str(tmp_path_factory.mktemp("tfds"))


def _load(name: str):
  module = importlib.import_module(f"configs.{name}")
  config = module.get_config()
  return module, config


def test_every_config_is_covered():
  assert "default" in _CONFIGS and "rdn_x3" in _CONFIGS
  assert "zoo.espcn_rdb_x3" in _CONFIGS
  assert "experiments.x3_zoo_anneal" in _CONFIGS
  assert len(_CONFIGS) >= 16


def test_no_config_imports_a_command_module():
  # A training config must not pull in a command (main, upscale, showcase,
  # export, ...): configs are data, and commands define global flags.
  commands = ("main", "upscale", "showcase", "export", "evaluate", "train")
  paths = glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)
  assert any(p.endswith("_original_data.py") for p in paths)
  for name in paths:
    text = open(name).read()
    for command in commands:
      pattern = (
        rf"(from sr_jax import |import sr_jax\.|from sr_jax\.){command}\b"
      )
      assert not re.search(pattern, text), (name, command)


@pytest.mark.parametrize("name", _CONFIGS)
def test_docstring_says_what_it_trains_on(name):
  module, config = _load(name)
  dataset = config.data.dataset
  assert dataset in input_pipeline.DATASETS
  doc = module.__doc__ or ""
  if dataset == "image_folder":
    for folder in config.data.train_sets.split(","):
      assert folder.strip() in doc, f"{name}: docstring never names {folder}"
  else:
    assert _DOC_NAMES[dataset] in doc


@pytest.mark.parametrize("name", _CONFIGS)
def test_training_data_exists_or_says_how_to_get_it(name, tfds_dir):
  _, config = _load(name)
  config.data.tfds_data_dir = tfds_dir
  dataset = config.data.dataset
  if dataset == "image_folder":
    if "shared" in config.data.train_dir.split(os.sep):
      require_shared("data", "train")  # Skips, saying why, in a user's clone.
    records = input_pipeline.train_records(config)
    assert len(list(records.take(1).as_numpy_iterator())) == 1
  elif dataset == "div2k":
    with pytest.raises(FileNotFoundError) as e:
      input_pipeline.train_records(config)
    message = str(e.value)
    assert f"tfds build div2k/bicubic_x{config.scale}" in message
    assert tfds_dir in message and "--config.data.tfds_data_dir" in message
  elif dataset == "imagenet_sr":
    assert config.data.imagenet_dir == ""
    with pytest.raises(FileNotFoundError) as e:
      input_pipeline.train_records(config)
    message = str(e.value)
    assert "--config.data.imagenet_dir=PATH" in message
    assert f"tfds build imagenet2012 --data_dir={tfds_dir}" in message
  else:
    pytest.fail(f"{name}: unknown dataset {dataset!r}")
  # Nothing was downloaded (TFDS makes empty download folders when it
  # builds), and nothing but the shipped folders was built.
  downloaded = [
    f
    for _, _, files in os.walk(os.path.join(tfds_dir, "downloads"))
    for f in files
  ]
  assert not downloaded
  assert set(os.listdir(tfds_dir)) <= {"image_folder", "downloads"}


def test_rdn_trains_on_div2k():
  _, config = _load("rdn_x3")
  assert config.data.dataset == "div2k"


@pytest.mark.parametrize("name", _CONFIGS)
def test_starting_weights_exist_and_fit(name):
  from sr_jax import models, train

  _, config = _load(name)
  if not config.init_from:
    pytest.skip(f"{name} starts from scratch")
  params = train.initial_params(config)
  models.check_fit(config, params, source=config.init_from)
