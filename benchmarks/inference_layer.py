"""What the inference layer costs beyond the network's own forward passes.

Usage::

  python benchmarks/inference_layer.py [--json=FILE] [--evals=3]
      [--folder_images=100] [--bsd100=../shared/data/eval/BSD100]

Two measurements, each against its own reference in the same process:

1. **Evaluation during training.** ``configs/x3.py`` (ESPCN-RDB x3, the
   ``espcn_rdb_x3`` zoo weights) scored on Set5 + Set14 (19 image shapes) by
   ``evaluate.Evaluator`` ``--evals`` times, as ``train.Evaluation`` does
   (one :class:`inference.Predictor` for the run, new weights each time),
   and as the code before the inference layer did (a new jitted function at
   every evaluation, i.e. a new Predictor each time). The reference is the
   network's forward passes alone: the compiled forward of each image,
   timed warm, summed.
2. **Upscaling a folder.** ``python -m sr_jax.upscale --model=espcn_rdb_x3``
   (the command line's own code path, in-process) over a folder of
   ``--folder_images`` differently sized LR images: crops of random size
   (48-160 x 48-160 LR pixels) of BSD100's protocol LR inputs
   (``imresize(modcrop(hr, 3), 1/3)``), and over BSD100's 100 LR inputs as
   they are (2 shapes). The reference is the network on one fixed-shape
   input (the canvas the tiles are packed on), in LR pixels per second.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# As `python -m sr_jax.upscale` and `sr_jax.main` run: one CPU device per
# core and the allocator tuning (set before JAX starts).
from sr_jax import platform_tuning  # noqa: E402

platform_tuning.split_cpu_devices(-1)
platform_tuning.apply_process_tunings(keep_freed_memory=True)

import harness  # noqa: E402

from configs import x3  # noqa: E402
from sr_jax import (  # noqa: E402
  evaluate,
  image_io,
  imresize,
  inference,
  upscale,
  zoo,
)


def _median_time(fn, repeats: int = 3) -> float:
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def evaluation(evals: int) -> dict:
  """Evaluation times per call, for the layer and for the old behaviour."""
  config = x3.get_config()
  _, params = zoo.load("espcn_rdb_x3")
  evaluator = evaluate.Evaluator.from_config(config)
  images = [im for ims in evaluator.datasets.values() for im in ims]

  once = inference.Predictor(config, tile=0)
  layer = []
  for _ in range(evals):
    once.set_params(params)
    t = time.perf_counter()
    evaluator.run(once.sr_many)
    layer.append(time.perf_counter() - t)

  before = []
  for _ in range(evals):
    fresh = inference.Predictor(config, params, tile=0)
    t = time.perf_counter()
    evaluator.run(fresh.sr_many)
    before.append(time.perf_counter() - t)

  import jax

  devices = jax.local_devices()
  inputs = [
    jax.device_put(
      (inference.to_float(im.lr)[None], inference.to_float(im.bicubic)[None]),
      devices[i % len(devices)],
    )
    for i, im in enumerate(images)
  ]

  def forwards():
    # The network alone, spread over the devices as sr_many spreads it.
    outs = [
      once._forward(once._replicas[i % len(devices)], lr, bic)
      for i, (lr, bic) in enumerate(inputs)
    ]
    jax.block_until_ready(outs)

  forwards()  # Compiled already; warm.
  forward = _median_time(forwards)
  return {
    "images": len(images),
    "shapes": len({im.lr.shape[:2] for im in images}),
    "forward_s": forward,
    "layer_s": layer,
    "before_s": before,
  }


def _lr_folder(bsd100: str, out: str, *, count: int, crop: bool, seed=0):
  rng = np.random.default_rng(seed)
  files = image_io.list_images(bsd100)
  for i in range(count):
    hr = imresize.modcrop(image_io.read_image(files[i % len(files)]), 3)
    lr = imresize.imresize(hr, 1 / 3)
    if crop:
      h = int(rng.integers(48, min(160, lr.shape[0]) + 1))
      w = int(rng.integers(48, min(160, lr.shape[1]) + 1))
      y = int(rng.integers(0, lr.shape[0] - h + 1))
      x = int(rng.integers(0, lr.shape[1] - w + 1))
      lr = lr[y : y + h, x : x + w]
    image_io.write_png(os.path.join(out, f"{i:03d}.png"), lr)


def folder(bsd100: str, count: int) -> dict:
  """The upscale command over folders vs the network on one shape."""
  import jax
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P

  weights = zoo.load("espcn_rdb_x3")
  predictor = inference.Predictor(*weights)
  c, n = predictor.canvas, len(jax.local_devices())
  rng = np.random.default_rng(0)
  x = rng.random((n, c, c, 3), np.float32)
  bic = rng.random((n, 3 * c, 3 * c, 3), np.float32)

  def one_input():
    predictor._forward(
      predictor._replicas[0], x[:1], bic[:1]
    ).block_until_ready()

  batch = NamedSharding(predictor._mesh, P("data"))
  xs, bics = jax.device_put((x, bic), batch)

  def all_devices():
    predictor._forward(predictor.params, xs, bics).block_until_ready()

  one_input()
  all_devices()
  net_s = _median_time(one_input)
  all_s = _median_time(all_devices)
  out = {
    "canvas": c,
    "devices": n,
    "network_px_per_s": c * c / net_s,
    "network_all_devices_px_per_s": n * c * c / all_s,
    "folders": {},
  }
  for name, crop in (("random sizes", True), ("BSD100 LR as is", False)):
    with tempfile.TemporaryDirectory() as tmp:
      src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
      os.makedirs(src)
      _lr_folder(bsd100, src, count=count, crop=crop)
      files = image_io.list_images(src)
      pixels = sum(image_io.pixel_count(f) for f in files)
      shapes = len({image_io.read_image(f).shape for f in files})
      t = time.perf_counter()
      rc = upscale.run(
        ["upscale", "--model=espcn_rdb_x3", f"--output_dir={dst}", src]
      )
      seconds = time.perf_counter() - t
      assert rc == 0 and len(os.listdir(dst)) == len(files)
    out["folders"][name] = {
      "images": len(files),
      "shapes": shapes,
      "lr_pixels": pixels,
      "seconds": seconds,
      "px_per_s": pixels / seconds,
    }
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", default="")
  parser.add_argument("--evals", type=int, default=3)
  parser.add_argument("--folder_images", type=int, default=100)
  parser.add_argument(
    "--bsd100",
    default=os.path.join(
      os.path.dirname(__file__), "..", "..", "shared", "data", "eval", "BSD100"
    ),
  )
  args = parser.parse_args()
  print(harness.machine_line())

  ev = evaluation(args.evals)
  rows = []
  for label, times in (
    ("one Predictor per run", ev["layer_s"]),
    ("new jit per evaluation (before)", ev["before_s"]),
  ):
    later = float(np.median(times[1:])) if len(times) > 1 else times[0]
    rows.append(
      [
        label,
        f"{times[0]:.2f}",
        f"{later:.2f}",
        f"{ev['forward_s']:.2f}",
        f"{later / ev['forward_s']:.2f}",
      ]
    )
  print(
    f"\nEvaluation, configs/x3.py, Set5 + Set14 ({ev['images']} images, {ev['shapes']} shapes):\n"
  )
  print(
    harness.markdown_table(
      [
        "evaluation",
        "1st (s)",
        "later, median (s)",
        "forward passes alone (s)",
        "later / forward",
      ],
      rows,
    )
  )

  fo = folder(args.bsd100, args.folder_images)
  one, every = fo["network_px_per_s"], fo["network_all_devices_px_per_s"]
  rows = []
  for name, r in fo["folders"].items():
    rate = r["px_per_s"]
    rows.append(
      [name, r["images"], r["shapes"], f"{r['seconds']:.1f}",
       f"{rate / 1e3:.0f}", f"{rate / one:.2f}", f"{rate / every:.2f}"]
    )  # fmt: skip
  c = fo["canvas"]
  print(
    f"\nUpscaling a folder, espcn_rdb_x3, {fo['devices']} CPU device(s). "
    f"The network alone on {c}x{c} inputs: one input {one / 1e3:.0f} kpx/s, "
    f"one input per device at once {every / 1e3:.0f} kpx/s.\n"
  )
  headers = ["folder", "images", "shapes", "seconds", "LR kpx/s"]
  headers += ["vs one input", "vs one input per device"]
  print(harness.markdown_table(headers, rows))
  if args.json:
    harness.write_json(
      args.json,
      {"machine": harness.machine_line(), "evaluation": ev, "folder": fo},
    )


if __name__ == "__main__":
  main()
