"""``sr_jax.upscale``'s packed canvases against whole images, by photo size.

Usage::

  python benchmarks/upscale_sizes.py [--json=FILE] [--rounds=6]
      [--model=espcn_rdb_x3] [--sizes=48x64,125x166,480x640]

What is timed: ``inference.Predictor.upscale`` of one RGB photo of each
size (a General100 image resized to it), with the zoo model, on one CPU
device per core as ``python -m sr_jax.upscale`` runs it:

* ``upscale``: the command's defaults (``--tile=256``,
  ``--whole_max_pixels``): a photo that fits one tile is packed on a square
  canvas of a few fixed sides; a larger one of at most ``whole_max_pixels``
  runs whole, padded to multiples of 64 (``sr_jax/inference.py``);
* ``tiled``: ``--tile=256 --whole_max_pixels=0``: every photo as tiles with
  the model's receptive margin, packed on square canvases (one compiled
  shape for photos of any size);
* ``whole``: ``--tile=0``: the photo run whole at its own shape, one
  compilation per distinct size: the fastest a photo can go, for reference.

Each (size, mode) runs in its own process, pinned to the same CPUs, in
interleaved rounds (``benchmarks/harness.py``), after compiling. Reported:
median ms per photo, cores busy, and R = whole ms / mode ms (R < 1: the mode
costs that much more than the whole-image run); the outputs are checked to
agree with the whole-image run within one grey level (for outputs of up to
400,000 values). Ratios are withheld when other jobs kept the machine busy.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine  # noqa: E402

SOURCE = REPO.parent / "shared" / "data" / "train" / "General100"
MODES = ("upscale", "tiled", "whole")


def _photo(height: int, width: int) -> np.ndarray:
  from PIL import Image

  first = sorted(SOURCE.iterdir())[0]
  with Image.open(first) as image:
    rgb = image.convert("RGB").resize((width, height), Image.BICUBIC)
  return np.asarray(rgb)


def upscale_workload(model: str, size: str, mode: str) -> harness.Workload:
  """One photo of ``size`` (``HxW``) upscaled by ``model`` in ``mode``."""
  from sr_jax import platform_tuning

  # As sr_jax.upscale does, before JAX starts.
  platform_tuning.split_cpu_devices(-1)
  import jax

  from sr_jax import imresize, inference, upscale

  height, width = (int(v) for v in size.split("x"))
  weights = inference.load(zoo_name=model)
  kw = {"tile": 0 if mode == "whole" else inference.DEFAULT_TILE}
  if mode == "upscale" and hasattr(upscale, "WHOLE_MAX_PIXELS"):
    # (Before the whole-image path existed, the command tiled every photo.)
    kw["whole_max_pixels"] = upscale.WHOLE_MAX_PIXELS
  predictor = inference.Predictor(weights.config, weights.params, **kw)
  photo = _photo(height, width)
  bicubic = imresize.imresize_in_strips(photo, predictor.scale)
  out = predictor.upscale([photo], [bicubic])[0]

  def run():
    predictor.upscale([photo], [bicubic])

  return harness.Workload(
    run=run,
    info={
      "devices": jax.local_device_count(),
      "shape": list(out.shape),
      # Kept whole for the agreement check in the driver.
      "pixels": out.tolist() if out.size <= 400_000 else None,
    },
  )


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--calls_per_round", type=int, default=3)
  parser.add_argument("--model", default="espcn_rdb_x3")
  parser.add_argument("--sizes", default="48x64,125x166,480x640")
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  if not SOURCE.is_dir():
    parser.error(f"needs {SOURCE} (../shared/data beside the repo)")
  record = machine.start(args.emulate)
  sizes = [s for s in args.sizes.split(",") if s]
  monitor = machine.LoadMonitor()
  timings = harness.run_interleaved(
    [
      harness.Contender(
        f"{size} {mode}",
        upscale_workload,
        {"model": args.model, "size": size, "mode": mode},
        malloc="no_mmap_one_arena",
      )
      for size in sizes
      for mode in MODES
    ],
    rounds=args.rounds,
    calls_per_round=args.calls_per_round,
    round_budget_s=10.0,
    warmup=2,
    monitor=monitor,
  )
  loaded = monitor.loaded
  rows, results = [], {}
  for size in sizes:
    whole = timings[f"{size} whole"]
    entry = {}
    for mode in MODES:
      t = timings[f"{size} {mode}"]
      a, b = t.info["pixels"], whole.info["pixels"]
      agree = None
      if a is not None and b is not None:
        agree = int(np.abs(np.asarray(a) - np.asarray(b)).max())
      ratio = whole.median_ms / t.median_ms
      entry[mode] = {
        "median_ms": round(t.median_ms, 1),
        "cores_busy": round(t.cores, 2),
        "ratio_whole_over_this": None if loaded else round(ratio, 3),
        "max_abs_diff_vs_whole": agree,
      }
      rows.append(
        [
          size,
          mode,
          f"{t.median_ms:.0f}",
          f"{t.cores:.2f}",
          "-"
          if mode == "whole"
          else harness.ratio_text(ratio, loaded=loaded, show_loaded=False),
          "-" if agree is None else str(agree),
        ]
      )
    results[size] = entry
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  print(monitor.line())
  print(
    f"{args.model}, one photo per call, {whole.info['devices']} CPU "
    "devices; median ms per photo; R = whole ms / this ms."
  )
  print(
    harness.markdown_table(
      (
        "LR size",
        "mode",
        "ms / photo",
        "cores busy",
        "R",
        "max diff vs whole (grey levels)",
      ),
      rows,
    )
  )
  if args.json:
    results["machine"] = {**record, "load": monitor.summary()}
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
