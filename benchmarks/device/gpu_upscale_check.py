"""A device check: ``inference.Predictor.upscale`` timed on whatever backend.

Usage (run from the repository root, e.g. on a GPU machine)::

  python benchmarks/device/gpu_upscale_check.py PHOTO [--model=espcn_rdb_x3]

Resizes PHOTO to 640x480 and 1920x1080 (LR) and prints, for the
``sr_jax.upscale`` defaults and for ``--tile=0`` (the photo whole at its own
shape), the first call's time (compilation included) and the median of five
more. It prints times only, no ratios: there is no peer on that machine; the
outputs are compared with the CPU's by running ``python -m sr_jax.upscale``
on both machines (README, "From one CPU to a GPU cluster").
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sr_jax import imresize, inference, upscale  # noqa: E402

SIZES = ((480, 640), (1080, 1920))


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("photo")
  parser.add_argument("--model", default="espcn_rdb_x3")
  args = parser.parse_args(argv)
  import jax

  print("jax", jax.__version__, jax.devices())
  weights = inference.load(zoo_name=args.model)
  with Image.open(args.photo) as image:
    rgb = image.convert("RGB")
  modes = {
    "upscale defaults": {"whole_max_pixels": upscale.WHOLE_MAX_PIXELS},
    "whole (--tile=0)": {"tile": 0},
  }
  for h, w in SIZES:
    photo = np.asarray(rgb.resize((w, h), Image.BICUBIC))
    bicubic = imresize.imresize_in_strips(photo, int(weights.config.scale))
    for label, kw in modes.items():
      predictor = inference.Predictor(weights.config, weights.params, **kw)
      start = time.perf_counter()
      predictor.upscale([photo], [bicubic])
      first = time.perf_counter() - start
      times = []
      for _ in range(5):
        start = time.perf_counter()
        predictor.upscale([photo], [bicubic])
        times.append(time.perf_counter() - start)
      print(
        f"{w}x{h} LR, {label}: first call {first * 1e3:.0f} ms, "
        f"median of 5 {sorted(times)[2] * 1e3:.1f} ms",
        flush=True,
      )


if __name__ == "__main__":
  main()
