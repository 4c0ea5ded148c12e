"""Do the exported ONNX and LiteRT files write what sr_jax.upscale writes?

Usage::

  python benchmarks/export_parity.py [--models=espcn_rdb_x3_jpeg,espcn_x3]
      [--photos=10] [--json=FILE]

For each zoo model it runs the real commands: ``python -m sr_jax.export
--format=onnx`` and ``--format=tflite``, and ``python -m sr_jax.upscale`` on
two folders of LR images:

* photos: ``--photos`` ImageNet photos (``../shared/data/train/ImageNet800``,
  every 80th file by name: varied sizes and subjects), mod-cropped,
  downscaled x3 with the MATLAB bicubic and saved as JPEG quality 75, as a
  photo from the web would be;
* Set14 (``data/eval/Set14``): the evaluator's LR images
  (``evaluate.load_benchmark``), saved as PNG; ``bridge`` is grey.

Then the ONNX file in onnxruntime and OpenCV's dnn and the LiteRT file in
the LiteRT interpreter upscale the same files (:mod:`sr_jax.runtimes`, which
feeds grey as three equal channels and writes the luma back, as upscale
does). The table gives, per model and runtime, the largest difference from
upscale's PNGs in grey levels over every output value of the photos, the
fractions of values off by 1 and by more than 1, and the Set14 PSNR (Y,
``basicsr`` convention, 3-pixel border: ``sr_jax.metrics``) of each output
against the HR images, with its difference from upscale's.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import harness  # noqa: E402
from sr_jax import evaluate, image_io, imresize, metrics, runtimes, zoo  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "train" / "ImageNet800"
SET14 = REPO / "data" / "eval" / "Set14"
JPEG_QUALITY = 75
# Which file each runtime runs.
_FILES = {"onnxruntime": "onnx", "opencv": "onnx", "litert": "tflite"}


def _sr_jax(*args: str) -> None:
  """``python -m sr_jax.<args>``, failing loudly."""
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
  result = subprocess.run(
    [sys.executable, "-m", *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    env=env,
    check=False,
  )
  if result.returncode:
    raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")


def make_photos(folder: Path, count: int, scale: int) -> list[Path]:
  """``count`` ImageNet photos at 1/scale, as JPEG q75 files in folder."""
  names = sorted(os.listdir(PHOTOS))
  step = max(len(names) // count, 1)
  paths = []
  for name in names[::step][:count]:
    hr = imresize.modcrop(image_io.read_image(str(PHOTOS / name)), scale)
    lr = imresize.imresize(hr, 1.0 / scale)
    path = folder / (Path(name).stem + ".jpg")
    # As image_io.jpeg_round_trip encodes: baseline, 4:2:0.
    Image.fromarray(lr).save(path, quality=JPEG_QUALITY, subsampling=2)
    paths.append(path)
  return paths


def make_set14(folder: Path, scale: int) -> dict[str, np.ndarray]:
  """Set14's LR images as PNGs in folder; returns name -> HR."""
  hrs = {}
  for image in evaluate.load_benchmark(str(SET14), scale=scale):
    image_io.write_png(str(folder / f"{image.name}.png"), image.lr)
    hrs[image.name] = image.hr
  return hrs


def _psnr(outputs: dict[str, np.ndarray], hrs, scale: int) -> float:
  return float(
    np.mean(
      [
        metrics.psnr(outputs[n], hr, crop_border=scale, convention="basicsr")
        for n, hr in hrs.items()
      ]
    )
  )


def _upscaled(folder: Path, paths, scale: int) -> dict[str, np.ndarray]:
  return {
    p.stem: image_io.read_image(str(folder / f"{p.stem}_x{scale}.png"))
    for p in paths
  }


def check_model(name: str, work: Path, photos, set14, hrs) -> list[dict]:
  """The rows of one model: upscale's, then one per runtime."""
  scale = int(zoo.read_info(name)["config"]["scale"])
  files = {fmt: work / f"{name}.{fmt}" for fmt in ("onnx", "tflite")}
  for fmt, path in files.items():
    _sr_jax("sr_jax.export", f"--model={name}", f"--format={fmt}",
            f"--output={path}")  # fmt: skip
  out_dir = work / f"upscaled_{name}"
  _sr_jax("sr_jax.upscale", f"--model={name}", f"--output_dir={out_dir}",
          str(photos[0].parent), str(set14[0].parent))  # fmt: skip
  want = _upscaled(out_dir, photos + set14, scale)
  reference = _psnr(want, hrs, scale)
  rows = [{"model": name, "runtime": "sr_jax.upscale", "psnr": reference}]
  for runtime, fmt in _FILES.items():
    run = runtimes.RUNNERS[runtime](str(files[fmt]))
    got = {
      p.stem: runtimes.upscale_uint8(run, image_io.read_image(str(p)))
      for p in photos + set14
    }
    diffs = np.concatenate(
      [
        np.abs(got[p.stem].astype(int) - want[p.stem].astype(int)).ravel()
        for p in photos
      ]
    )
    psnr = _psnr(got, hrs, scale)
    rows.append(
      {
        "model": name,
        "runtime": runtime,
        "file": files[fmt].suffix,
        "max_diff": int(diffs.max()),
        "frac_off_by_1": float(np.mean(diffs == 1)),
        "frac_off_by_more_than_1": float(np.mean(diffs > 1)),
        "psnr": psnr,
        "psnr_diff": psnr - reference,
      }
    )
  return rows


def table(rows: list[dict], photo_count: int) -> str:
  body = []
  for r in rows:
    if r["runtime"] == "sr_jax.upscale":
      body.append([r["model"], "`sr_jax.upscale` (reference)", "-", "-", "-",
                   f"{r['psnr']:.2f}", "-"])  # fmt: skip
      continue
    body.append(
      [
        r["model"],
        f"{r['runtime']} ({r['file']})",
        r["max_diff"],
        f"{100 * r['frac_off_by_1']:.4f}%",
        f"{100 * r['frac_off_by_more_than_1']:.4f}%",
        f"{r['psnr']:.2f}",
        f"{round(r['psnr_diff'], 4) + 0.0:+.4f}",
      ]
    )
  headers = [
    "model",
    "runtime (file)",
    f"max diff, {photo_count} photos (levels)",
    "values off by 1",
    "values off by >1",
    "Set14 PSNR (dB)",
    "vs upscale (dB)",
  ]
  return harness.markdown_table(headers, body)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="espcn_rdb_x3_jpeg,espcn_x3")
  parser.add_argument("--photos", type=int, default=10)
  parser.add_argument("--json", default="")
  args = parser.parse_args(argv)
  names = [n for n in args.models.split(",") if n]
  scales = {int(zoo.read_info(n)["config"]["scale"]) for n in names}
  if len(scales) != 1:
    parser.error(f"--models must share one scale, got {sorted(scales)}")
  (scale,) = scales
  with tempfile.TemporaryDirectory(prefix="export_parity_") as tmp:
    work = Path(tmp)
    (work / "photos").mkdir()
    (work / "set14").mkdir()
    photos = make_photos(work / "photos", args.photos, scale)
    hrs = make_set14(work / "set14", scale)
    set14 = sorted((work / "set14").glob("*.png"))
    rows = [r for n in names for r in check_model(n, work, photos, set14, hrs)]
    sizes = [image_io.read_image(str(p)).shape[:2] for p in photos]
  print(
    f"{len(photos)} photos (x{scale} LR, JPEG q{JPEG_QUALITY}), LR "
    f"{', '.join(f'{w}x{h}' for h, w in sizes)}; Set14 x{scale}, "
    f"{len(hrs)} images (bridge grey)"
  )
  print(table(rows, len(photos)))
  if args.json:
    harness.write_json(args.json, {"rows": rows, "photos": len(photos)})
    print(f"wrote {args.json}")


if __name__ == "__main__":
  main()
