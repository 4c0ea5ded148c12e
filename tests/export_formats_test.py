"""ONNX and LiteRT export: the files give the pixels ``sr_jax.upscale`` writes.

For a tiny model of every family in the zoo, the ONNX file runs in
onnxruntime and OpenCV's ``cv2.dnn`` and the LiteRT file in the LiteRT
interpreter, on photo crops of several sizes (odd ones, one pixel high),
and each output, rounded, is within one grey level of what the inference
layer writes for ``python -m sr_jax.upscale``. The command line's one-line
errors run in real subprocesses.
"""

import functools
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import REPO
from tiny import tiny_run

from sr_jax import (
  export,
  image_io,
  inference,
  models,
  onnx_export,
  portable,
  runtimes,
  tflite_export,
  upscale,
  zoo,
)

# A tiny member of every model family the zoo ships, at the scale of the
# family's first zoo model (espcn x3, espcn_rdb x2), Y in and out as there;
# a family added to the zoo needs its entry here.
_TINY = {
  "espcn": {"features": [8, 4], "kernel_sizes": [5, 3, 3]},
  "espcn_rdb": {"width": 8, "num_blocks": 1, "num_layers": 2, "growth": 4},
}
# LR sizes: odd, even, one pixel high, wider than high and the reverse.
_SIZES = ((1, 5), (2, 3), (7, 4), (17, 24), (33, 19))
_PHOTO = os.path.join(REPO, "data", "eval", "Set14", "baboon.png")


def _families() -> list[str]:
  return sorted(
    {zoo.read_info(name)["config"]["model"]["name"] for name in zoo.names()}
  )


def test_every_zoo_family_has_a_tiny_model_here():
  assert _families() and set(_families()) <= set(_TINY), _families()


def _tiny(family: str, channels: int = 1):
  """``(config, params)``: the zoo's config of ``family``, shrunk, with
  random parameters like the initialiser's."""
  name = next(
    n
    for n in zoo.names()
    if zoo.read_info(n)["config"]["model"]["name"] == family
  )
  config, _ = zoo.load(name)
  config.model.update(_TINY[family])
  config.model.channels = channels
  model = models.create(config)
  x = np.zeros((1, 8, 8, channels), np.float32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x))["params"]
  rng = np.random.default_rng(0)

  def fill(leaf):
    bound = 1 / np.sqrt(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else 0.05
    return rng.uniform(-bound, bound, leaf.shape).astype(np.float32)

  return config, jax.tree.map(fill, shapes)


def _photo_crops() -> list[np.ndarray]:
  image = image_io.read_image(_PHOTO)
  return [
    image[40 * i : 40 * i + h, 30 * i : 30 * i + w]
    for i, (h, w) in enumerate(_SIZES)
  ]


def _as_upscale_writes(config, params, images) -> list[np.ndarray]:
  """uint8 outputs, as ``python -m sr_jax.upscale`` computes them."""
  predictor = inference.Predictor(
    config, params, whole_max_pixels=upscale.WHOLE_MAX_PIXELS
  )
  pictures = [image_io.Picture(image) for image in images]
  return [sr.color for sr, _ in upscale.upscale_pictures(predictor, pictures)]


@functools.cache
def _exported(family: str, channels: int, folder: str):
  config, params = _tiny(family, channels)
  onnx = onnx_export.export(config, params, os.path.join(folder, "m.onnx"))
  tflite = tflite_export.export(
    config, params, os.path.join(folder, "m.tflite")
  )
  images = _photo_crops()
  return onnx, tflite, images, _as_upscale_writes(config, params, images)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return str(tmp_path_factory.mktemp("export_formats"))


def _check_within_one_level(run, images, want) -> None:
  for image, expected in zip(images, want, strict=True):
    got = runtimes.upscale_uint8(run, image)
    assert got.shape == expected.shape
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1, (image.shape, diff.max(), (diff > 1).mean())


@pytest.mark.parametrize("family", sorted(_TINY))
@pytest.mark.parametrize("runtime", sorted(runtimes.RUNNERS))
def test_exported_files_write_what_upscale_writes(family, runtime, folder):
  sub = os.path.join(folder, family)
  os.makedirs(sub, exist_ok=True)
  onnx, tflite, images, want = _exported(family, 1, sub)
  path = tflite if runtime == "litert" else onnx
  _check_within_one_level(runtimes.RUNNERS[runtime](path), images, want)


def test_rgb_model_and_a_batch_in_onnxruntime(folder):
  # An RGB model skips the colour split; batches share one size.
  sub = os.path.join(folder, "rgb")
  os.makedirs(sub, exist_ok=True)
  onnx, _, images, want = _exported("espcn", 3, sub)
  run = runtimes.onnxruntime_runner(onnx)
  batch = np.stack([images[3], images[3][::-1]]).astype(np.float32) / 255.0
  out = run(batch)
  assert out.shape == (2, 3 * 17, 3 * 24, 3)
  got = inference.quantize(out[0], np.uint8)
  assert np.abs(got.astype(int) - want[3].astype(int)).max() <= 1


def test_onnx_file_declares_its_convention(folder):
  import onnx

  sub = os.path.join(folder, "espcn_rdb")
  os.makedirs(sub, exist_ok=True)
  path, *_ = _exported("espcn_rdb", 1, sub)
  model = onnx.load(path)
  assert [o.version for o in model.opset_import if not o.domain] == [
    onnx_export.OPSET
  ]
  (inp,), (out,) = model.graph.input, model.graph.output
  assert (inp.name, out.name) == (portable.INPUT_NAME, portable.OUTPUT_NAME)
  dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
  assert dims == ["B", 3, "H", "W"]
  assert {p.key: p.value for p in model.metadata_props}["scale"] == "2"


def test_litert_signature_resizes_by_itself(folder):
  sub = os.path.join(folder, "espcn")
  os.makedirs(sub, exist_ok=True)
  _, path, images, want = _exported("espcn", 1, sub)
  runner = Interpreter(model_path=path).get_signature_runner()
  x = images[2][None].astype(np.float32) / 255.0
  out = runner(**{portable.INPUT_NAME: x})[portable.OUTPUT_NAME]
  got = inference.quantize(out[0], np.uint8)
  assert np.abs(got.astype(int) - want[2].astype(int)).max() <= 1


def test_a_failed_conversion_names_the_operation(monkeypatch, tmp_path):
  # A host callback has no ONNX or LiteRT equivalent.
  def callback_skip(self, x):
    b, h, w, c = x.shape
    s = self.scale
    shape = jax.ShapeDtypeStruct((b, h * s, w * s, c), x.dtype)
    return jax.pure_callback(lambda a: a.repeat(s, 1).repeat(s, 2), shape, x)

  monkeypatch.setattr(models.ESPCNRDB, "bicubic_skip", callback_skip)
  config, params = _tiny("espcn_rdb")
  with pytest.raises(portable.ConversionError, match="ONNX") as e:
    onnx_export.export(config, params, str(tmp_path / "m.onnx"))
  # The test's callback is traced from ESPCNRDB.__call__'s skip line.
  assert "'pure_callback'" in str(e.value) and "rdb.py" in str(e.value)
  with pytest.raises(portable.ConversionError, match="LiteRT") as e:
    tflite_export.export(config, params, str(tmp_path / "m.tflite"))
  assert "'pure_callback'" in str(e.value) and "rdb.py" in str(e.value)
  assert not os.listdir(tmp_path)


def _export_cli(*args, cwd=REPO) -> subprocess.CompletedProcess:
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
  return subprocess.run(
    [sys.executable, "-m", "sr_jax.export", *map(str, args)],
    cwd=cwd,
    capture_output=True,
    text=True,
    env=env,
    check=False,
  )


def _error_lines(result) -> list[str]:
  return [
    line for line in result.stderr.splitlines() if line.startswith("export:")
  ]


@pytest.mark.parametrize(
  "args,says",
  [
    (
      ["--model=no_such_model", "--format=onnx"],
      "no zoo model 'no_such_model'",
    ),
    (["--model=espcn_x3", "--format=pth"], "unsupported --format=pth"),
    (["--model=espcn_x3", "--format=tflite"], "exists (pass --overwrite"),
  ],
  ids=["unknown model", "unsupported format", "existing output"],
)
def test_cli_errors_are_one_line_and_exit_2(args, says, tmp_path):
  output = tmp_path / "out.bin"
  if "exists" in says:
    output.write_bytes(b"keep me")
  result = _export_cli(*args, f"--output={output}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(_error_lines(result)) == 1, result.stderr[-2000:]
  assert says in _error_lines(result)[0]
  assert result.stdout == ""
  if "exists" in says:
    assert output.read_bytes() == b"keep me"
  else:
    assert not output.exists()


def test_a_fresh_run_exports_from_its_workdir(tmp_path, capsys):
  # The command line's code in-process (its errors above run as
  # subprocesses): both formats from a run's latest checkpoint.
  _, workdir = tiny_run(tmp_path, total_steps=2)
  weights = inference.load(workdir=workdir)
  images = _photo_crops()[2:4]
  want = _as_upscale_writes(weights.config, weights.params, images)
  capsys.readouterr()
  for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert")):
    path = tmp_path / f"run.{fmt}"
    argv = ["export", f"--workdir={workdir}", f"--output={path}"]
    assert export.run(argv) == 0
    assert capsys.readouterr().out.strip() == f"Wrote {path}"
    _check_within_one_level(runtimes.RUNNERS[runtime](str(path)), images, want)
