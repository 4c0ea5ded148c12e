"""Tests for sr_jax/evaluate.py: tables, result files and bad input."""

import json
import os
import shutil

import numpy as np
import pytest
from conftest import REPO_DATA, require_shared
from PIL import Image

from configs import imdn_x3
from sr_jax import color, evaluate, image_io

SET5 = os.path.join(REPO_DATA, "eval", "Set5")


def _small_set(tmp_path, n=2):
  folder = tmp_path / "Small"
  folder.mkdir()
  for name in sorted(os.listdir(SET5))[:n]:
    shutil.copy(os.path.join(SET5, name), folder / name)
  return folder


def test_bicubic_as_model_scores_like_bicubic(tmp_path):
  _small_set(tmp_path)
  ev = evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Small"])
  results, figs = ev.run(
    lambda pairs: [color.gray_to_rgb(bic) for _, bic in pairs], num_figures=1
  )
  r = results["Small"]
  assert r["images"] == 2
  assert r["psnr"] == pytest.approx(r["bicubic_psnr"], abs=1e-9)
  assert r["ssim"] == pytest.approx(r["bicubic_ssim"], abs=1e-9)
  assert 25 < r["psnr"] < 40
  (key,) = figs
  fig = figs[key]
  im = ev.datasets["Small"][0]
  assert fig.dtype == np.uint8 and fig.shape[1] > 3 * im.hr.shape[1]


def test_lr_is_exact_imresize_of_modcropped_hr(tmp_path):
  _small_set(tmp_path, n=1)
  ev = evaluate.Evaluator(scale=4, data_dir=str(tmp_path), datasets=["Small"])
  im = ev.datasets["Small"][0]
  assert im.hr.shape[0] % 4 == 0 and im.hr.shape[1] % 4 == 0
  assert im.lr.shape[0] * 4 == im.hr.shape[0]
  assert im.bicubic.shape == im.hr.shape


def test_missing_dataset_folder_names_it_and_the_flag(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"Nope.*--config\.eval"):
    evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Nope"])


def test_corrupt_image_names_the_file(tmp_path):
  folder = _small_set(tmp_path, n=1)
  data = open(os.path.join(SET5, "bird.png"), "rb").read()
  (folder / "zz_truncated.png").write_bytes(data[: len(data) // 2])
  with pytest.raises(image_io.ImageReadError, match="zz_truncated.png"):
    evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Small"])
  (folder / "zz_truncated.png").write_bytes(b"not an image at all")
  with pytest.raises(image_io.ImageReadError, match="zz_truncated.png"):
    evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Small"])


def test_markdown_table_has_bicubic_and_model_rows():
  results = {
    "Set5": {"psnr": 31.0, "ssim": 0.9, "bicubic_psnr": 30.4,
             "bicubic_ssim": 0.87},
  }  # fmt: skip
  table = evaluate.markdown_table(results, model_name="m")
  assert "| bicubic | 30.400 / 0.8700 |" in table
  assert "| m | 31.000 / 0.9000 |" in table


def _imdn_config(scale, tmp_path, datasets="Set5"):
  config = imdn_x3.get_config()
  config.scale = scale
  config.eval.datasets = datasets
  config.eval.num_figures = 1
  config.pretrained = os.path.join(
    require_shared("peers", "imdn"), f"IMDN_x{scale}.npz"
  )
  return config


@pytest.mark.parametrize(
  "scale,datasets,expected",
  [
    (3, "Set5,Set14", {"Set5": 34.36, "Set14": 30.32}),
    (2, "Set5", {"Set5": 38.00}),
    (4, "Set5", {"Set5": 32.21}),
  ],
)
def test_official_imdn_reproduces_published_psnr(
  tmp_path, scale, datasets, expected
):
  config = _imdn_config(scale, tmp_path, datasets)
  evaluate.evaluate(config, str(tmp_path))
  with open(tmp_path / "eval" / "results_pretrained.json") as f:
    payload = json.load(f)
  assert payload["scale"] == scale
  for name, psnr in expected.items():
    r = payload["datasets"][name]
    assert abs(r["psnr"] - psnr) <= 0.01, (name, r["psnr"])
    assert r["psnr"] > r["bicubic_psnr"] + 2
  if scale == 3:
    assert abs(payload["datasets"]["Set5"]["ssim"] - 0.9270) <= 0.0002
    assert abs(payload["datasets"]["Set14"]["ssim"] - 0.8417) <= 0.0002
  figs = os.listdir(tmp_path / "eval" / "figures_pretrained")
  assert "Set5_baby.png" in figs


def test_weights_of_another_scale_fail_cleanly(tmp_path):
  config = _imdn_config(3, tmp_path)
  config.pretrained = config.pretrained.replace("x3", "x2")
  with pytest.raises(ValueError, match="x2"):
    evaluate.evaluate(config, str(tmp_path))
  assert not os.path.exists(tmp_path / "eval" / "results_pretrained.json")


def test_bad_dataset_leaves_no_results_file(tmp_path):
  config = _imdn_config(3, tmp_path, datasets="Set5,DoesNotExist")
  with pytest.raises(FileNotFoundError, match="DoesNotExist"):
    evaluate.evaluate(config, str(tmp_path))
  assert not os.path.exists(tmp_path / "eval" / "results_pretrained.json")


def test_jpeg_degraded_lr_is_the_jpeg_of_the_protocol_lr(tmp_path):
  from sr_jax import imresize, rundir

  _small_set(tmp_path, n=2)
  clean = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"]
  )
  jpeg = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"], lr_jpeg_quality=30
  )
  for a, b in zip(clean.datasets["Small"], jpeg.datasets["Small"], strict=True):
    np.testing.assert_array_equal(a.hr, b.hr)
    np.testing.assert_array_equal(b.lr, image_io.jpeg_round_trip(a.lr, 30))
    assert (b.lr != a.lr).mean() > 0.2
    np.testing.assert_array_equal(b.bicubic, imresize.imresize(b.lr, 3))
  assert jpeg.bicubic["Small"]["psnr"] < clean.bicubic["Small"]["psnr"] - 0.3

  from configs import default

  config = default.get_config()
  config.eval.lr_jpeg_quality = 30
  results, _ = jpeg.run(lambda pairs: [color.gray_to_rgb(b) for _, b in pairs])
  path = evaluate.write_report(
    rundir.RunDir(str(tmp_path / "w")),
    label="7",
    config=config,
    results=results,
    figs={},
  )
  assert path.endswith("results_7_jpeg30.json")
  payload = json.load(open(path))
  assert payload["degradation"]["lr_jpeg_quality"] == 30
  assert payload["degradation"]["chroma_subsampling"] == "4:2:0"


def test_self_ensemble_results_go_beside_the_plain_ones(tmp_path):
  from configs import default
  from sr_jax import rundir

  _small_set(tmp_path, n=1)
  ev = evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Small"])
  results, _ = ev.run(lambda pairs: [color.gray_to_rgb(b) for _, b in pairs])
  config = default.get_config()
  run = rundir.RunDir(str(tmp_path / "w"))
  plain = evaluate.write_report(
    run, label="7", config=config, results=results, figs={}
  )
  config.eval.self_ensemble = True
  config.eval.lr_jpeg_quality = 50
  ens = evaluate.write_report(
    run, label="7", config=config, results=results, figs={}
  )
  assert plain.endswith("results_7.json")
  assert ens.endswith("results_7_jpeg50_x8.json")
  assert json.load(open(plain))["self_ensemble"] is False
  assert json.load(open(ens))["self_ensemble"] is True


def _pillow_lr(hr, scale, resample):
  h, w = hr.shape[:2]
  small = Image.fromarray(hr).resize((w // scale, h // scale), resample)
  return np.asarray(small)


@pytest.mark.parametrize(
  "kernel,resample",
  [
    ("box", Image.Resampling.BOX),
    ("bilinear", Image.Resampling.BILINEAR),
    ("bicubic", Image.Resampling.BICUBIC),
    ("lanczos", Image.Resampling.LANCZOS),
  ],
)
def test_each_lr_kernel_is_pillows_resize(tmp_path, kernel, resample):
  from sr_jax import imresize

  folder = _small_set(tmp_path, n=1)
  # A grey image too: Pillow resizes it as mode "L".
  Image.open(os.path.join(SET5, "bird.png")).convert("L").save(
    folder / "grey.png"
  )
  ev = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"], lr_kernel=kernel
  )
  assert ev.lr_kernel == kernel
  matlab = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"]
  )
  images = ev.datasets["Small"]
  assert [im.hr.ndim for im in images] == [3, 2]
  for im, protocol in zip(images, matlab.datasets["Small"], strict=True):
    np.testing.assert_array_equal(im.hr, protocol.hr)
    want = _pillow_lr(np.ascontiguousarray(im.hr), 3, resample)
    assert im.lr.dtype == np.uint8 and im.lr.shape == want.shape
    np.testing.assert_array_equal(im.lr, want)
    np.testing.assert_array_equal(im.bicubic, imresize.imresize(im.lr, 3))
    # Another kernel: the LR really differs from the protocol's.
    assert (im.lr != protocol.lr).mean() > 0.05
  if kernel == "box":
    # Pillow's box filter shrinking by 3 is the mean of each 3x3 block, up
    # to its rounding after each of its two passes.
    hr = images[0].hr.astype(np.float64)
    h, w = hr.shape[:2]
    means = hr.reshape(h // 3, 3, w // 3, 3, 3).mean(axis=(1, 3))
    assert np.abs(images[0].lr - means).max() <= 1


def test_matlab_kernel_is_the_protocol_lr_bit_for_bit(tmp_path):
  from sr_jax import imresize

  _small_set(tmp_path, n=2)
  default = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"]
  )
  named = evaluate.Evaluator(
    scale=3, data_dir=str(tmp_path), datasets=["Small"], lr_kernel="matlab"
  )
  pairs = zip(default.datasets["Small"], named.datasets["Small"], strict=True)
  for a, b in pairs:
    np.testing.assert_array_equal(a.lr, b.lr)
    np.testing.assert_array_equal(a.lr, imresize.imresize(a.hr, 1 / 3))
    np.testing.assert_array_equal(a.bicubic, b.bicubic)
  assert default.bicubic == named.bicubic


def test_kernel_then_jpeg_then_bicubic(tmp_path):
  from sr_jax import imresize

  _small_set(tmp_path, n=1)
  ev = evaluate.Evaluator(
    scale=3,
    data_dir=str(tmp_path),
    datasets=["Small"],
    lr_kernel="lanczos",
    lr_jpeg_quality=50,
  )
  (im,) = ev.datasets["Small"]
  lanczos = evaluate.downscale(im.hr, 3, kernel="lanczos")
  np.testing.assert_array_equal(im.lr, image_io.jpeg_round_trip(lanczos, 50))
  np.testing.assert_array_equal(im.bicubic, imresize.imresize(im.lr, 3))


def test_unknown_lr_kernel_names_the_flag(tmp_path):
  from configs import default

  _small_set(tmp_path, n=1)
  message = r"--config\.eval\.lr_kernel='gauss' is not one of: matlab \| box"
  with pytest.raises(ValueError, match=message):
    evaluate.Evaluator(
      scale=3, data_dir=str(tmp_path), datasets=["Small"], lr_kernel="gauss"
    )
  config = default.get_config()
  config.eval.data_dir = str(tmp_path)
  config.eval.datasets = "Small"
  config.eval.lr_kernel = "gauss"
  with pytest.raises(ValueError, match=message):
    evaluate.Evaluator.from_config(config)
  config.eval.lr_kernel = "bilinear"
  assert evaluate.Evaluator.from_config(config).lr_kernel == "bilinear"


def test_kernel_results_are_labelled_and_record_the_kernel(tmp_path):
  import PIL

  from configs import default
  from sr_jax import rundir

  _small_set(tmp_path, n=1)
  ev = evaluate.Evaluator(scale=3, data_dir=str(tmp_path), datasets=["Small"])
  results, _ = ev.run(lambda pairs: [color.gray_to_rgb(b) for _, b in pairs])
  run = rundir.RunDir(str(tmp_path / "w"))
  config = default.get_config()
  paths = {}
  for kernel, q, x8 in (
    ("matlab", 0, False),
    ("matlab", 50, False),
    ("box", 0, False),
    ("lanczos", 75, True),
  ):
    config.eval.lr_kernel = kernel
    config.eval.lr_jpeg_quality = q
    config.eval.self_ensemble = x8
    path = evaluate.write_report(
      run, label="7", config=config, results=results, figs={}
    )
    paths[kernel, q] = os.path.basename(path)
    degradation = json.load(open(path))["degradation"]
    assert degradation["lr_kernel"] == kernel
    assert degradation["lr_jpeg_quality"] == q
    if kernel == "matlab":
      assert "resample" not in degradation
    else:
      assert degradation["resize"] == f"Pillow {PIL.__version__} Image.resize"
      want = {"box": "BOX", "lanczos": "LANCZOS"}[kernel]
      assert degradation["resample"] == f"Image.Resampling.{want}"
    assert ("chroma_subsampling" in degradation) == bool(q)
  assert paths == {
    ("matlab", 0): "results_7.json",
    ("matlab", 50): "results_7_jpeg50.json",
    ("box", 0): "results_7_box.json",
    ("lanczos", 75): "results_7_lanczos_jpeg75_x8.json",
  }
