"""Tests for sr_jax/inference.py: loading, the forward convention, packed
canvases that equal whole-image runs, and compiling once."""

import os

import jax
import numpy as np
import pytest
import random_params
from tiny import tiny_config

from configs import default
from sr_jax import (
  imresize,
  inference,
  models,
  platform_tuning,
  rundir,
  train,
  zoo,
)


def _config(name, scale, channels, **model):
  config = default.get_config()
  config.scale = scale
  config.model.name = name
  config.model.channels = channels
  for k, v in model.items():
    setattr(config.model, k, v)
  return config


_SMALL = dict(width=8, num_blocks=1, num_layers=2, growth=4)
_MODELS = {
  "espcn_y_x3": _config("espcn", 3, 1, features=(8, 8), kernel_sizes=(5, 3, 3)),
  "espcn_rdb_y_x3": _config("espcn_rdb", 3, 1, **_SMALL),
  "espcn_rdb_rgb_x2": _config("espcn_rdb", 2, 3, **_SMALL),
  "rdn_rgb_x4": _config("rdn", 4, 3, **_SMALL),
}


def _params(config, seed=0):
  x = np.zeros((1, 8, 8, config.model.channels), np.float32)
  variables = random_params.numpy_init(models.create(config), x, seed=seed)
  return jax.tree.map(np.asarray, variables["params"])


def _images(rng, sizes):
  return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_packed_canvases_equal_whole_images(name):
  config = _MODELS[name]
  params = _params(config)
  rng = np.random.default_rng(1)
  images = _images(rng, [(37, 50), (64, 23), (90, 120), (20, 20), (9, 70)])
  images.append(images[0][..., 1])  # grey
  bicubics = [imresize.imresize(im, config.scale) for im in images]
  whole = inference.Predictor(config, params, tile=0).upscale(images, bicubics)
  packed = inference.Predictor(config, params, tile=32)
  got = packed.upscale(images, bicubics)
  assert packed.canvas == 32 + 2 * packed.margin
  for a, b, im in zip(whole, got, images, strict=True):
    assert (
      a.shape
      == b.shape
      == (
        im.shape[0] * config.scale,
        im.shape[1] * config.scale,
      )
      + im.shape[2:]
    )
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1, name
    assert (diff > 0).mean() < 1e-3
  # Six images of five sizes, tiled and packed: one compiled shape (a
  # batch of canvases, one per device).
  assert packed._masked_forward._cache_size() == 1


def test_lone_small_image_runs_on_one_small_canvas():
  config = _MODELS["espcn_rdb_y_x3"]
  params = _params(config)
  image = _images(np.random.default_rng(3), [(9, 13)])
  bicubic = [imresize.imresize(image[0], 3)]
  whole = inference.Predictor(config, params, tile=0).upscale(image, bicubic)
  packed = inference.Predictor(config, params, tile=32)
  assert len(packed._devices) == 2
  # One window: a canvas of the smallest side that holds it, not the 0.75 x
  # (tile + 2 * margin) floor, computed by one device, not beside an empty
  # canvas on the other.
  side, canvases = packed._pack([(9, 13)])
  assert side == inference.CANVAS_STEP and len(canvases) == 1
  # With two devices a last batch is full or a lone canvas: no padding.
  assert [packed._canvases_run(k) for k in (1, 2, 3, 4)] == [1, 2, 3, 4]
  got = packed.upscale(image, bicubic)
  diff = np.abs(whole[0].astype(int) - got[0].astype(int))
  assert got[0].shape == (27, 39, 3) and diff.max() <= 1
  assert (diff > 0).mean() < 1e-3
  assert packed._masked_forward._cache_size() == 1


@pytest.mark.parametrize("name", ["espcn_rdb_y_x3", "espcn_rdb_rgb_x2"])
def test_whole_image_path_equals_whole_images(name):
  config = _MODELS[name]
  params = _params(config)
  rng = np.random.default_rng(4)
  # (37, 50) and (64, 23) span several 32-pixel tiles but fit 2,000 pixels:
  # whole, on 64x64 canvases; (90, 120) is too large and (20, 20) fits one
  # tile: both packed.
  images = _images(rng, [(37, 50), (90, 120), (64, 23), (20, 20)])
  images.append(images[0][..., 0])  # grey, whole
  bicubics = [imresize.imresize(im, config.scale) for im in images]
  want = inference.Predictor(config, params, tile=0).upscale(images, bicubics)
  mixed = inference.Predictor(config, params, tile=32, whole_max_pixels=2000)
  got = mixed.upscale(images, bicubics)
  for a, b in zip(want, got, strict=True):
    assert a.shape == b.shape
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1, name
    assert (diff > 0).mean() < 1e-3
  # The three whole images alone: one shape (64 x 64 canvases), compiled
  # once for each of the two devices they alternate on.
  alone = inference.Predictor(config, params, tile=32, whole_max_pixels=2000)
  picked = [0, 2, 4]
  alone.upscale([images[i] for i in picked], [bicubics[i] for i in picked])
  assert alone._masked_forward._cache_size() == 2
  with pytest.raises(ValueError, match="whole_max_pixels"):
    inference.Predictor(config, params, whole_max_pixels=-1)


def test_masking_has_teeth():
  # Without the mask, windows on a shared canvas see each other and the
  # zero padding differs from the whole-image run.
  config = _MODELS["espcn_rdb_y_x3"]
  params = _params(config)
  rng = np.random.default_rng(2)
  images = _images(rng, [(30, 30), (30, 30)])
  bicubics = [imresize.imresize(im, 3) for im in images]
  want = inference.Predictor(config, params, tile=0).upscale(images, bicubics)
  predictor = inference.Predictor(config, params, tile=32)
  predictor._masked_forward = jax.jit(
    lambda p, lr, bic, mask: inference.forward(
      predictor.model, p, lr, bic, channels=1
    )
  )
  got = predictor.upscale(images, bicubics)
  assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(
    want, got, strict=True
  )) > 1  # fmt: skip


def test_sr_compiles_once_per_shape_across_weights():
  config = _MODELS["espcn_rdb_y_x3"]
  predictor = inference.Predictor(config, _params(config), tile=0)
  lr = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
  bic = imresize.imresize(lr, 3)
  first = predictor.sr(lr, bic)
  predictor.set_params(_params(config, seed=5))
  second = predictor.sr(lr, bic)
  assert predictor._forward._cache_size() == 1
  # Spread over the two test devices: the same pixels, one compilation each.
  both = predictor.sr_many([(lr, bic), (lr, bic)])
  np.testing.assert_array_equal(both[0], second)
  np.testing.assert_array_equal(both[1], second)
  assert predictor._forward._cache_size() == 2
  assert first.shape == (60, 72, 3) and (first != second).any()


def test_model_declarations():
  assert models.create(default.get_config()).receptive_radius == 21
  rdn = models.create(_MODELS["rdn_rgb_x4"])
  assert rdn.receptive_radius == 2 + 2 + 1 + 2 + 1
  assert not rdn.sees_whole_image
  imdn = _config("imdn", 3, 3)
  assert models.create(imdn).sees_whole_image
  # A model that sees the whole image is never packed.
  assert inference.Predictor(imdn, tile=64).canvas == 0
  assert "pools statistics" in inference.Predictor(imdn, tile=64).warning


def test_quantize_rounds_and_clips():
  x = np.array([[-0.1, 0.0, 0.5 / 255, 1.5 / 255, 1.2]])
  np.testing.assert_array_equal(
    inference.quantize(x, np.uint8), [[0, 0, 1, 2, 255]]
  )
  assert inference.quantize(x, np.uint16)[0, -1] == 65535
  grey = inference.quantize(np.full((2, 2, 3), 0.6), np.uint8, grey=True)
  assert grey.shape == (2, 2) and (grey == 153).all()


def test_load_from_run_zoo_and_refusals(tmp_path):
  config = tiny_config(tmp_path, total_steps=2)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  from_run = inference.load(workdir=workdir)
  assert from_run.step == 2
  assert from_run.config.model.width == config.model.width
  path = zoo.export(
    from_run.config, from_run.params, "t", zoo_dir=str(tmp_path / "zoo")
  )
  from_zoo = inference.load(zoo_name=path)
  from_file = inference.load(weights_file=path, config=config)
  for a, b, c in zip(
    jax.tree.leaves(from_run.params),
    jax.tree.leaves(from_zoo.params),
    jax.tree.leaves(from_file.params),
    strict=True,
  ):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
  other = tiny_config(tmp_path)
  other.model.image_residual = False  # Same shapes, another function.
  with pytest.raises(ValueError, match="model.image_residual"):
    inference.load(workdir=workdir, config=other)
  with pytest.raises(ValueError, match="model.image_residual"):
    inference.load(weights_file=path, config=other)
  with pytest.raises(ValueError, match="exactly one"):
    inference.load(workdir=workdir, zoo_name=path)
  with pytest.raises(FileNotFoundError, match="config.json"):
    inference.load(workdir=str(tmp_path / "zoo"))


def test_rundir_owns_the_layout(tmp_path):
  run = rundir.RunDir(str(tmp_path / "r"))
  config = tiny_config(tmp_path)
  assert run.read_config() is None
  run.write_config(config)
  assert run.read_config().model.width == config.model.width
  assert run.read_usage() == {"cpu_seconds": 0.0, "wall_seconds": 0.0}
  run.write_usage({"step": 3, "cpu_seconds": 1.0, "wall_seconds": 2.0})
  assert run.read_usage()["step"] == 3
  run.write_results("3", {"datasets": {}})
  assert run.read_results("3") == {"datasets": {}}
  assert run.read_results("4") is None
  # Atomic writes leave no temporary files behind.
  assert sorted(p.name for p in (tmp_path / "r").rglob("*")) == [
    "config.json",
    "eval",
    "results_3.json",
    "usage.json",
  ]
  (tmp_path / "file").write_text("x")
  with pytest.raises(NotADirectoryError, match="file"):
    rundir.RunDir(str(tmp_path / "file")).write_config(config)


def test_fileio_locally(tmp_path):
  from sr_jax import fileio

  path = fileio.join(str(tmp_path), "lock")
  assert not fileio.is_url(path) and fileio.is_url("gs://bucket/run")
  assert fileio.join("gs://bucket", "run", "x") == "gs://bucket/run/x"
  fileio.create_exclusive(path, "me")
  with pytest.raises(FileExistsError):
    fileio.create_exclusive(path, "another")
  assert fileio.read_text(path) == "me"
  old = fileio.mtime(path) - 100
  os.utime(path, (old, old))
  fileio.touch(path)
  assert fileio.mtime(path) > old + 50
  fileio.append(fileio.join(str(tmp_path), "log"), b"ab")
  fileio.append(fileio.join(str(tmp_path), "log"), b"cd")
  assert fileio.read_bytes(fileio.join(str(tmp_path), "log")) == b"abcd"
  fileio.rename(path, path + ".old")
  fileio.remove(path + ".old")
  assert fileio.listdir(str(tmp_path)) == ["log"]
  with pytest.raises(FileNotFoundError):
    fileio.remove(path)


def test_precision_is_the_backends_and_reaches_the_trace():
  # The CPU computes float32 in float32: no precision is forced there.
  assert platform_tuning.inference_precision() is None

  def precision_at_trace():
    return jax.config.jax_default_matmul_precision

  assert inference._traced_with("highest", precision_at_trace)() == "highest"
  assert inference._traced_with(None, precision_at_trace) is precision_at_trace


@pytest.mark.parametrize("name", ["espcn_y_x3", "espcn_rdb_rgb_x2"])
def test_self_ensemble_is_the_mean_of_the_eight_views(name):
  config = _MODELS[name]
  params = _params(config)
  predictor = inference.Predictor(config, params, tile=0)
  rng = np.random.default_rng(3)
  image = _images(rng, [(13, 21)])[0]
  bicubic = imresize.imresize(image, config.scale)
  plain = predictor.sr_many([(image, bicubic)])[0]
  ens = predictor.sr_many([(image, bicubic)], self_ensemble=True)[0]
  assert ens.shape == plain.shape
  # Random weights are not rotation-equivariant: the ensemble differs.
  assert (ens != plain).mean() > 0.1

  # The same mean computed here from the model's forward pass, one view at a
  # time (mirror columns, then rotate; turn back in reverse order).
  forward = jax.jit(
    lambda lr, bic: inference.forward(
      predictor.model, predictor.params, lr, bic, channels=config.model.channels
    )
  )
  lr, bic = inference.to_float(image), inference.to_float(bicubic)
  outs = []
  for mirror in (False, True):
    for k in range(4):
      x = np.rot90(lr[:, ::-1] if mirror else lr, k)
      b = np.rot90(bic[:, ::-1] if mirror else bic, k)
      y_bic = b[None] if config.model.channels == 1 else None
      y = np.asarray(forward(x[None], y_bic))[0]
      y = np.rot90(y, -k)
      outs.append(y[:, ::-1] if mirror else y)
  want = inference.quantize(np.mean(outs, axis=0), np.uint8)
  # Pixel for pixel but for float rounding in the mean (at most one level).
  assert np.abs(ens.astype(int) - want).max() <= 1
  assert (ens == want).mean() > 0.99

  # An ensembled output turns with its input: rotating the LR rotates it.
  turned = predictor.sr_many(
    [(np.rot90(image), np.rot90(bicubic))], self_ensemble=True
  )[0]
  assert np.abs(turned.astype(int) - np.rot90(ens)).max() <= 1
