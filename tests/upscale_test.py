"""Tests for sr_jax/upscale.py (image policy, command line) with tiny models."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import REPO, REPO_DATA
from PIL import Image

from configs import default
from sr_jax import (
  image_io,
  imresize,
  inference,
  models,
  rundir,
  tiling,
  upscale,
  zoo,
)

SET5 = os.path.join(REPO_DATA, "eval", "Set5")
SET14 = os.path.join(REPO_DATA, "eval", "Set14")


def _tiny_config(channels: int):
  config = default.get_config()
  config.scale = 3
  config.model.channels = channels
  config.model.width = 8
  config.model.num_blocks = 1
  config.model.num_layers = 2
  config.model.growth = 4
  return config


def _random_params(config, seed=0):
  """Random params like the initialiser's, without compiling ``init``."""
  model = models.create(config)
  x = np.zeros((1, 8, 8, config.model.channels), np.float32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x))["params"]
  rng = np.random.default_rng(seed)

  def fill(leaf):
    # U(-b, b) with b = 1 / sqrt(fan_in) for kernels, as the models
    # initialise them; small random biases, so that they matter too.
    bound = 1 / np.sqrt(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else 0.05
    return rng.uniform(-bound, bound, leaf.shape).astype(np.float32)

  return jax.tree.map(fill, shapes)


@pytest.fixture(scope="module")
def zoo_paths(tmp_path_factory):
  """``{"y": path, "rgb": path}`` of tiny models exported to a tmp zoo."""
  zoo_dir = str(tmp_path_factory.mktemp("zoo"))
  paths = {}
  for kind, channels in (("y", 1), ("rgb", 3)):
    config = _tiny_config(channels)
    paths[kind] = zoo.export(
      config, _random_params(config), f"tiny_{kind}", zoo_dir=zoo_dir
    )
  return paths


def _crop(name: str, size: tuple[int, int], folder=SET14) -> np.ndarray:
  image = image_io.read_image(os.path.join(folder, name))
  return image[: size[0], : size[1]]


def _upscale(config, params, image, **predictor_kw) -> np.ndarray:
  """The colour of ``image`` upscaled as the command line does it."""
  predictor = inference.Predictor(config, params, **predictor_kw)
  [(sr, _)] = upscale.upscale_pictures(predictor, [image_io.Picture(image)])
  return sr.color


def _run(*args) -> int:
  return upscale.run(["upscale", *map(str, args)])


def _read(path) -> tuple[str, np.ndarray]:
  with Image.open(path) as img:
    return img.mode, np.asarray(img)


def test_imresize_in_strips_is_imresize_bit_for_bit():
  image = _crop("baboon.png", (61, 47))
  for img in (image, image[..., 1], image.astype(np.float32) / 255.0):
    for scale in (2, 3):
      want = imresize.imresize(img, scale)
      got = imresize.imresize_in_strips(img, scale, strip_rows=10)
      assert got.dtype == want.dtype
      np.testing.assert_array_equal(got, want)


def test_tiles_partition_the_image_with_equal_windows():
  for h, w in ((100, 130), (20, 130), (68, 68), (69, 200)):
    parts = tiling.tiles(h, w, tile=48, margin=10)
    cover = np.zeros((h, w), int)
    shapes = set()
    for p in parts:
      cover[p.keep] += 1
      window = np.zeros((h, w), bool)
      window[p.window] = True
      shapes.add(window[p.window].shape)
      # The kept region has `margin` context on each side, or the border.
      rows, cols = p.window
      for kept, win, size in ((p.keep[0], rows, h), (p.keep[1], cols, w)):
        assert kept.start - win.start >= 10 or win.start == 0
        assert win.stop - kept.stop >= 10 or win.stop == size
    assert (cover == 1).all()
    assert len(shapes) == 1


def test_receptive_radius_of_the_default_model():
  assert models.create(default.get_config()).receptive_radius == 21
  assert models.create(_tiny_config(1)).receptive_radius == 7


@pytest.mark.parametrize("kind", ["y", "rgb"])
def test_tiled_equals_whole_image(zoo_paths, kind):
  config, params = zoo.load(zoo_paths[kind])
  image = _crop("baboon.png", (170, 200))
  whole = _upscale(config, params, image, tile=0)
  margin = models.create(config).receptive_radius
  assert len(tiling.tiles(170, 200, tile=48, margin=margin)) > 9
  tiled = _upscale(config, params, image, tile=48)
  assert tiled.shape == whole.shape == (510, 600, 3)
  diff = np.abs(tiled.astype(int) - whole.astype(int))
  assert diff.max() <= 1
  # The check has teeth: with too small a margin the seams show.
  seams = _upscale(config, params, image, tile=48, margin=1)
  assert np.abs(seams.astype(int) - whole.astype(int)).max() > 1


def test_whole_max_pixels_flag_runs_mid_size_images_whole(zoo_paths, tmp_path):
  image = _crop("baboon.png", (170, 200))
  image_io.write_png(str(tmp_path / "baboon.png"), image)
  outs = {}
  for limit in (0, 170 * 200):
    fv = upscale._flag_values()
    fv([
      "upscale", f"--model={zoo_paths['y']}", "--tile=48",
      f"--whole_max_pixels={limit}", f"--output_dir={tmp_path / str(limit)}",
    ])  # fmt: skip
    # The flag reaches the predictor: 0 tiles the 170 x 200 image, the
    # limit runs it whole.
    assert upscale._predictor(fv).whole_max_pixels == limit
    args = [
      f"--model={zoo_paths['y']}", "--tile=48",
      f"--whole_max_pixels={limit}", "--output_dir", tmp_path / str(limit),
      tmp_path / "baboon.png",
    ]  # fmt: skip
    assert _run(*args) == 0
    outs[limit] = _read(tmp_path / str(limit) / "baboon_x3.png")[1]
  config, params = zoo.load(zoo_paths["y"])
  whole = _upscale(config, params, image, tile=0)
  for got in outs.values():
    assert got.shape == whole.shape == (510, 600, 3)
    assert np.abs(got.astype(int) - whole.astype(int)).max() <= 1


@pytest.mark.parametrize("kind", ["y", "rgb"])
def test_lr_benchmark_image_gives_the_evaluators_pixels_within_one_level(
  zoo_paths, kind, tmp_path
):
  hr = imresize.modcrop(image_io.read_image(os.path.join(SET5, "bird.png")), 3)
  lr = imresize.imresize(hr, 1 / 3)
  image_io.write_png(str(tmp_path / "bird.png"), lr)
  assert (
    _run(
      f"--model={zoo_paths[kind]}",
      "--output_dir",
      tmp_path / "out",
      tmp_path / "bird.png",
    )
    == 0
  )
  mode, got = _read(tmp_path / "out" / "bird_x3.png")
  config, params = zoo.load(zoo_paths[kind])
  predictor = inference.Predictor(config, params)
  want = predictor.sr(lr, imresize.imresize(lr, 3))
  assert mode == "RGB"
  # The evaluator runs the image whole, upscale on a packed canvas: float
  # rounding may flip a rounding step, never more.
  diff = np.abs(got.astype(int) - want.astype(int))
  assert diff.max() <= 1
  assert (diff > 0).mean() < 1e-4


def test_image_kinds(zoo_paths, tmp_path):
  rgb = _crop("bird.png", (40, 60), folder=SET5)
  grey = rgb[..., 1]
  alpha = np.linspace(0, 255, 40 * 60).reshape(40, 60).astype(np.uint8)
  src = tmp_path / "in"
  src.mkdir()
  Image.fromarray(rgb).save(src / "rgb.png")
  Image.fromarray(grey).save(src / "grey.png")
  Image.fromarray(np.dstack([grey, alpha])).save(src / "greya.png")
  Image.fromarray(np.dstack([rgb, alpha])).save(src / "rgba.png")
  Image.fromarray(grey.astype(np.uint16) * 257).save(src / "deep.png")
  Image.fromarray(rgb).quantize(16).save(src / "palette.png")
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotate 90 degrees clockwise to display.
  Image.fromarray(rgb).save(src / "rotated.jpg", exif=exif, quality=95)
  out = tmp_path / "out"
  assert _run(f"--model={zoo_paths['y']}", f"--output_dir={out}", src) == 0

  mode, rgb_sr = _read(out / "rgb_x3.png")
  assert mode == "RGB" and rgb_sr.shape == (120, 180, 3)

  mode, grey_sr = _read(out / "grey_x3.png")
  assert mode == "L" and grey_sr.shape == (120, 180)
  config, params = zoo.load(zoo_paths["y"])
  as_rgb = _upscale(config, params, np.dstack([grey] * 3))
  assert np.abs(grey_sr.astype(int) - as_rgb[..., 0]).max() <= 1

  mode, greya_sr = _read(out / "greya_x3.png")
  assert mode == "LA"
  np.testing.assert_array_equal(greya_sr[..., 0], grey_sr)
  np.testing.assert_array_equal(greya_sr[..., 1], imresize.imresize(alpha, 3))

  mode, rgba_sr = _read(out / "rgba_x3.png")
  assert mode == "RGBA" and rgba_sr.shape == (120, 180, 4)
  np.testing.assert_array_equal(rgba_sr[..., :3], rgb_sr)
  np.testing.assert_array_equal(rgba_sr[..., 3], imresize.imresize(alpha, 3))

  mode, deep_sr = _read(out / "deep_x3.png")
  assert mode.startswith("I;16") and deep_sr.shape == (120, 180)
  deep_sr = deep_sr.astype(np.int64)
  # Really 16 bits, and the same picture as the 8-bit grey.
  assert (deep_sr % 257 != 0).mean() > 0.5
  assert np.abs(deep_sr / 257.0 - grey_sr).max() <= 1.0

  mode, palette_sr = _read(out / "palette_x3.png")
  assert mode == "RGB" and palette_sr.shape == (120, 180, 3)

  mode, rotated_sr = _read(out / "rotated_x3.png")
  assert rotated_sr.shape == (180, 120, 3)  # Landscape in, portrait out.
  upright = image_io.read_picture(str(src / "rotated.jpg")).color
  assert upright.shape == (60, 40, 3)
  want = _upscale(config, params, upright)
  np.testing.assert_array_equal(rotated_sr, want)


def test_never_overwrites_an_input(zoo_paths, tmp_path, capsys):
  folder = tmp_path / "photos"
  folder.mkdir()
  Image.fromarray(_crop("bird.png", (30, 30), SET5)).save(folder / "a.png")
  # An input that is named like the output of another input.
  Image.fromarray(_crop("baby.png", (30, 30), SET5)).save(folder / "a_x3.png")
  before = (folder / "a_x3.png").read_bytes()
  model = f"--model={zoo_paths['rgb']}"
  assert _run(model, f"--output_dir={folder}", "--overwrite", folder) == 0
  assert (folder / "a_x3.png").read_bytes() == before
  assert "a_x3.png is an input" in capsys.readouterr().err
  # a_x3.png itself (not written by sr_jax) was upscaled, to a new name.
  assert _read(folder / "a_x3_x3.png")[1].shape == (90, 90, 3)
  # A rerun into the same folder leaves sr_jax's own outputs out.
  assert _run(model, f"--output_dir={folder}", "--overwrite", folder) == 0
  err = capsys.readouterr().err
  assert "left out 1 earlier output(s)" in err, err
  assert not (folder / "a_x3_x3_x3.png").exists()

  # An existing output is kept without --overwrite, replaced with it.
  out = tmp_path / "out"
  out.mkdir()
  (out / "a_x3.png").write_bytes(b"keep me")
  assert _run(model, f"--output_dir={out}", folder / "a.png") == 0
  assert (out / "a_x3.png").read_bytes() == b"keep me"
  assert "--overwrite" in capsys.readouterr().err
  assert (
    _run(model, f"--output_dir={out}", "--overwrite", folder / "a.png") == 0
  )
  assert _read(out / "a_x3.png")[1].shape == (90, 90, 3)


def test_unreadable_files_are_reported_and_skipped(zoo_paths, tmp_path):
  folder = tmp_path / "in"
  folder.mkdir()
  Image.fromarray(_crop("bird.png", (24, 32), SET5)).save(folder / "good.png")
  data = open(os.path.join(SET5, "bird.png"), "rb").read()
  (folder / "truncated.png").write_bytes(data[: len(data) // 2])
  (folder / "notes.jpg").write_bytes(b"not an image at all")
  out = tmp_path / "out"
  proc = subprocess.run(
    [
      sys.executable, "-m", "sr_jax.upscale", f"--model={zoo_paths['y']}",
      f"--output_dir={out}", str(folder), str(tmp_path / "missing.png"),
    ],
    cwd=REPO, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert proc.returncode == 1, proc.stderr
  assert f"FAILED {folder / 'truncated.png'}: cannot decode" in proc.stderr
  assert f"FAILED {folder / 'notes.jpg'}: cannot decode" in proc.stderr
  assert "missing.png: no such file" in proc.stderr
  assert "1 written, 0 skipped, 3 failed" in proc.stderr
  assert os.listdir(out) == ["good_x3.png"]


def test_compare_writes_the_figure(zoo_paths, tmp_path):
  path = tmp_path / "head.png"
  Image.fromarray(_crop("head.png", (50, 40), SET5)).save(path)
  out = tmp_path / "out"
  assert (
    _run(f"--model={zoo_paths['y']}", f"--output_dir={out}", "--compare", path)
    == 0
  )
  mode, fig = _read(out / "head_x3_compare.png")
  assert mode == "RGB"
  assert fig.shape[0] > 150 and fig.shape[1] > 2 * 120


def test_workdir_checkpoint(tmp_path, capsys):
  from sr_jax import checkpointing, train_state

  config = _tiny_config(1)
  params = _random_params(config, seed=3)
  state = train_state.TrainState(
    step=np.int32(7),
    params=params,
    opt_state=train_state.create_optimizer(config).init(params),
  )
  workdir = str(tmp_path / "run")
  mngr = checkpointing.create_manager(rundir.RunDir(workdir))
  checkpointing.save(mngr, state, force=True)
  mngr.wait_until_finished()
  mngr.close()
  rundir.RunDir(workdir).write_config(config)

  path = tmp_path / "woman.png"
  image = _crop("woman.png", (30, 24), SET5)
  Image.fromarray(image).save(path)
  out = tmp_path / "out"
  assert _run(f"--workdir={workdir}", f"--output_dir={out}", path) == 0
  want = _upscale(config, state.params, image)
  np.testing.assert_array_equal(_read(out / "woman_x3.png")[1], want)

  assert (
    _run(f"--workdir={workdir}", "--step=8", f"--output_dir={out}", path) == 2
  )
  assert "--step=8" in capsys.readouterr().err


def test_usage_errors(zoo_paths, tmp_path, capsys):
  path = os.path.join(SET5, "bird.png")
  out = f"--output_dir={tmp_path}"
  assert _run("--model=no_such_model", out, path) == 2
  assert "no zoo model 'no_such_model'" in capsys.readouterr().err
  assert (
    _run(f"--model={zoo_paths['y']}", f"--workdir={tmp_path}", out, path) == 2
  )
  assert "got both" in capsys.readouterr().err
  assert _run(f"--model={zoo_paths['y']}", "--output_dir=", path) == 2
  assert "--output_dir must name a folder" in capsys.readouterr().err
  assert _run(f"--model={zoo_paths['y']}", out) == 2
  assert "no input files" in capsys.readouterr().err
  assert _run("--bogus_flag", out, path) == 2
  assert os.listdir(tmp_path) == []


def test_a_photo_alone_gets_the_default_model_into_upscaled(tmp_path):
  photo = tmp_path / "photo.jpg"
  Image.fromarray(_crop("baboon.png", (48, 64))).save(photo, quality=80)
  proc = subprocess.run(
    [sys.executable, "-m", "sr_jax.upscale", photo.name],
    cwd=tmp_path, env={**os.environ, "PYTHONPATH": REPO}, capture_output=True,
    text=True, timeout=300,
  )  # fmt: skip
  assert proc.returncode == 0, proc.stderr
  assert f"model {upscale.DEFAULT_MODEL}" in proc.stderr
  assert proc.stderr.strip().endswith(
    "1 written, 0 skipped, 0 failed -> upscaled"
  )
  assert sorted(os.listdir(tmp_path)) == ["photo.jpg", "upscaled"]
  got = _read(tmp_path / "upscaled" / "photo_x3.png")[1]
  # The same pixels as naming the model.
  named = tmp_path / "named"
  assert (
    _run(f"--model={upscale.DEFAULT_MODEL}", f"--output_dir={named}", photo)
    == 0
  )
  np.testing.assert_array_equal(got, _read(named / "photo_x3.png")[1])
  assert got.shape == (144, 192, 3)


def test_help_lists_flags_first_then_the_zoo_read_now(
  tmp_path, monkeypatch, capsys
):
  config = _tiny_config(1)
  zoo.export(
    config, _random_params(config), "added_today", zoo_dir=str(tmp_path)
  )
  monkeypatch.setattr(zoo, "ZOO_DIR", str(tmp_path))
  assert _run("--help") == 0
  lines = capsys.readouterr().out.splitlines()
  first_flag = next(
    i for i, line in enumerate(lines) if line.startswith("  --")
  )
  assert first_flag <= 5, lines[:first_flag]
  assert any(line.startswith("  --model:") for line in lines)
  assert "added_today (x3)" in "\n".join(lines)
  which = next(i for i, x in enumerate(lines) if x.startswith("Which model"))
  assert which > first_flag
  rows = upscale.WHICH_MODEL
  note = lines[which + 1 : which + 2 + len(rows)]
  for line, (kind, _, model) in zip(note, rows, strict=False):
    assert line.split()[0] == model and line.endswith(kind)
  assert "espcn_rdb_x2" in note[-1] and "_x4" in note[-1]
  assert "(the default)" in note[-2]
  assert len(lines) < 60


def test_upscale_does_not_import_tensorflow():
  # TensorFlow is for the tf.data training pipeline; importing it costs
  # about 4 s of every `python -m sr_jax.upscale` start.
  code = (
    "import sys, sr_jax.upscale, sr_jax.evaluate, sr_jax.inference; "
    "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))"
  )
  out = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  )
  assert out.stdout.strip() == "[]", out.stdout
