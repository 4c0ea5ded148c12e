"""Tests for sr_jax/zoo.py and sr_jax/export.py."""

import json
import os

import jax
import numpy as np
import pytest
from tiny import tiny_config, tiny_run

from sr_jax import export, models, zoo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("zoo")
  config, workdir = tiny_run(tmp, total_steps=2)
  return tmp, config, workdir


def test_export_then_load_round_trips(trained):
  tmp, config, workdir = trained
  zoo_dir = str(tmp / "zoo")
  export.export_run(workdir, "tiny_x3", zoo_dir=zoo_dir)
  assert zoo.names(zoo_dir) == ["tiny_x3"]
  with open(os.path.join(zoo_dir, "tiny_x3.json")) as f:
    meta = json.load(f)
  assert meta["step"] == 2 and meta["cpu_hours"] >= 0
  assert meta["results"]["datasets"]["Set5"]["images"] == 2
  loaded_config, params = zoo.load("tiny_x3", zoo_dir=zoo_dir)
  assert loaded_config.model.width == config.model.width
  assert meta["params"] == models.count_params(params)
  x = np.random.default_rng(0).random((1, 10, 12, 1), np.float32)
  y = models.create(loaded_config).apply({"params": params}, x)
  assert y.shape == (1, 30, 36, 1)
  # Same numbers as the checkpoint.
  from sr_jax import checkpointing

  ckpt, _ = checkpointing.restore_params(config, workdir)
  for a, b in zip(jax.tree.leaves(ckpt), jax.tree.leaves(params), strict=True):
    np.testing.assert_array_equal(a, b)


def test_corrupt_or_unknown_models_are_refused(trained):
  tmp, _, workdir = trained
  zoo_dir = str(tmp / "zoo2")
  npz = export.export_run(workdir, "m", zoo_dir=zoo_dir)
  with pytest.raises(FileNotFoundError, match="available: m"):
    zoo.load("nope", zoo_dir=zoo_dir)
  meta_path = os.path.join(zoo_dir, "m.json")
  meta = json.load(open(meta_path))
  meta["config"]["model"]["width"] = 16
  json.dump(meta, open(meta_path, "w"))
  with pytest.raises(ValueError, match="do not fit"):
    zoo.load("m", zoo_dir=zoo_dir)
  with open(npz, "r+b") as f:
    f.seek(100)
    f.write(b"\0\0\0\0")
  with pytest.raises(ValueError, match="SHA-256"):
    zoo.load(npz)


def test_zoo_weights_evaluate_like_their_checkpoint(trained, tmp_path):
  from sr_jax import evaluate

  _, config, workdir = trained
  zoo_dir = str(tmp_path / "zoo")
  npz = export.export_run(workdir, "m", zoo_dir=zoo_dir)
  from_ckpt = evaluate.evaluate(config, workdir)
  config = tiny_config(trained[0], total_steps=2)
  config.pretrained = npz
  from_zoo = evaluate.evaluate(config, str(tmp_path / "ev"))
  assert from_zoo["Set5"]["psnr"] == from_ckpt["Set5"]["psnr"]
  config.model.width = 16
  with pytest.raises(ValueError, match="another model .*model.width"):
    evaluate.evaluate(config, str(tmp_path / "ev2"))


def test_export_ships_clean_and_jpeg_results(trained, tmp_path):
  from sr_jax import evaluate

  tmp, _, workdir = trained
  for q in (0, 50):
    config = tiny_config(tmp, total_steps=2)
    config.eval.lr_jpeg_quality = q
    evaluate.evaluate(config, workdir)
  npz = export.export_run(workdir, "j", zoo_dir=str(tmp_path / "zoo"))
  meta = json.load(open(npz[: -len(".npz")] + ".json"))
  assert meta["results"]["degradation"]["lr_jpeg_quality"] == 0
  jpeg = meta["results_jpeg"]["50"]
  assert jpeg["degradation"]["chroma_subsampling"] == "4:2:0"
  assert (
    jpeg["datasets"]["Set5"]["bicubic_psnr"]
    < (meta["results"]["datasets"]["Set5"]["bicubic_psnr"])
  )


def test_init_from_a_zoo_model_starts_from_its_weights(trained, tmp_path):
  from sr_jax import train

  _, _, workdir = trained
  zoo_dir = str(tmp_path / "zoo")
  npz = export.export_run(workdir, "parent", zoo_dir=zoo_dir)
  parent_meta = zoo.read_info(npz)
  config = tiny_config(trained[0], total_steps=2)
  config.init_from = npz
  config.optim.learning_rate = 0.0  # so the weights after training are the
  # starting ones: same as the parent, not a fresh initialisation.
  child = str(tmp_path / "child")
  train.train_and_evaluate(config, child)
  out = export.export_run(child, "child", zoo_dir=zoo_dir)
  _, parent = zoo.load(npz)
  _, params = zoo.load(out)
  for a, b in zip(
    jax.tree.leaves(parent), jax.tree.leaves(params), strict=True
  ):
    np.testing.assert_array_equal(a, b)
  meta = zoo.read_info(out)
  assert meta["init_from"] == npz
  assert meta["init_from_sha256"] == parent_meta["sha256"]
  assert meta["cpu_hours_total"] == pytest.approx(
    meta["cpu_hours"] + parent_meta["cpu_hours"], abs=0.011
  )
  # Weights that do not fit the model are refused by name.
  config.model.width = 16
  with pytest.raises(ValueError, match="model.width"):
    train.train_and_evaluate(config, str(tmp_path / "misfit"))


def test_export_files_each_lr_kind_apart(tmp_path):
  # Results of every LR kernel, JPEG quality and the x8 ensemble, written as
  # --mode=evaluate writes them: each lands in its own place, none as clean.
  from configs import default
  from sr_jax import evaluate, rundir

  run = rundir.RunDir(str(tmp_path / "run"))
  config = default.get_config()
  cells = [
    ("matlab", 0, False),
    ("matlab", 50, False),
    ("box", 0, False),
    ("box", 50, False),
    ("lanczos", 75, False),
    ("matlab", 0, True),
    ("bilinear", 50, True),
  ]
  for i, (kernel, q, x8) in enumerate(cells):
    config.eval.lr_kernel = kernel
    config.eval.lr_jpeg_quality = q
    config.eval.self_ensemble = x8
    results = {"Set5": {"psnr": 30.0 + i, "per_image": {"a": {}}}}
    evaluate.write_report(
      run, label="7", config=config, results=results, figs={}
    )
  # Another step's results are not this export's.
  config.eval.lr_kernel = "box"
  evaluate.write_report(run, label="70", config=config, results={}, figs={})
  info = export.shipped_results(run, 7)

  def psnr(payload):
    assert "per_image" not in payload["datasets"]["Set5"]
    return payload["datasets"]["Set5"]["psnr"]

  assert psnr(info["results"]) == 30.0
  assert {q: psnr(p) for q, p in info["results_jpeg"].items()} == {"50": 31.0}
  kernels = {
    k: {q: psnr(p) for q, p in by_q.items()}
    for k, by_q in info["results_kernels"].items()
  }
  assert kernels == {"box": {"0": 32.0, "50": 33.0}, "lanczos": {"75": 34.0}}
  x8 = info["results_x8"]
  assert psnr(x8["results"]) == 35.0
  assert psnr(x8["results_kernels"]["bilinear"]["50"]) == 36.0
  assert set(info) == {
    "results",
    "results_jpeg",
    "results_kernels",
    "results_x8",
  }
  assert set(x8) == {"results", "results_kernels"}
  # Files from before lr_kernel existed are the protocol's LR.
  old = json.load(open(run.results_path("7_jpeg50")))
  del old["degradation"]["lr_kernel"]
  run.write_results("7_jpeg50", old)
  assert psnr(export.shipped_results(run, 7)["results_jpeg"]["50"]) == 31.0
