"""Before/after figures of real photos, as the original ESPCN work showed them.

  python -m sr_jax.showcase --output_dir=zoo/showcase

For each photo (default: the four ImageNet800 photos of
``sr_jax/showcase_photos.py``, held out of every config that trains on
ImageNet800: a bird, a sign, an animal, a person) the original is
mod-cropped, downscaled x3 with the protocol's MATLAB bicubic and saved as
a JPEG of ``--jpeg_quality`` (4:2:0, as a website or a phone would;
:func:`sr_jax.image_io.jpeg_round_trip`). That JPEG is what the methods
see. The figure shows, left to right: its bicubic upscale, each
``--models`` zoo model, and the original, every panel labelled with its PSNR
against the original (Y, ``basicsr`` convention, border 3), with one zoomed
inset where bicubic errs most. ``--output_dir`` gets ``<stem>.png`` per
photo and ``results.json`` with every PSNR.
"""

import json
import os
import sys

from absl import app, flags

from sr_jax import (
  figures,
  fileio,
  image_io,
  imresize,
  inference,
  metrics,
  showcase_photos,
)

PHOTOS = showcase_photos.PHOTOS
IMAGENET800 = showcase_photos.IMAGENET800

SCALE = 3


def _psnr(sr, hr) -> float:
  return metrics.psnr(sr, hr, crop_border=SCALE, convention="basicsr")


def showcase(photos, models, *, quality: int, output_dir: str) -> dict:
  """Writes one figure per photo and ``results.json``; returns the PSNRs."""
  predictors = {}
  for name in models:
    weights = inference.load(zoo_name=name)
    if weights.config.scale != SCALE:
      raise ValueError(f"--models: {name} is x{weights.config.scale}, not x3")
    predictors[name] = inference.Predictor(weights.config, weights.params)
  fileio.makedirs(output_dir)
  results = {"jpeg_quality": quality, "photos": {}}
  for path in photos:
    hr = imresize.modcrop(image_io.read_image(path), SCALE)
    lr = image_io.jpeg_round_trip(imresize.imresize(hr, 1 / SCALE), quality)
    bicubic = imresize.imresize(lr, SCALE)
    panels = [("bicubic", bicubic)]
    for name, predictor in predictors.items():
      panels.append((name, predictor.sr(lr, bicubic)))
    scores = {label: _psnr(image, hr) for label, image in panels}
    labelled = [(f"{k} {scores[k]:.2f} dB", v) for k, v in panels]
    labelled.append(("original", hr))
    stem = os.path.splitext(os.path.basename(path))[0]
    image_io.write_png(
      fileio.join(output_dir, f"{stem}.png"), figures.comparison(labelled)
    )
    results["photos"][stem] = scores
  fileio.write_atomic(
    fileio.join(output_dir, "results.json"), json.dumps(results, indent=2)
  )
  return results


def _define_flags() -> None:
  # Defined only when run as a program: a module that imports this one
  # (tests, benchmarks) must not gain global flags.
  flags.DEFINE_list(
    "photos", [os.path.join(IMAGENET800, n) for n in PHOTOS], "Originals."
  )
  flags.DEFINE_list(
    "models",
    ["espcn_rdb_x3", "espcn_rdb_x3_jpeg", "espcn_rdb_x3_real"],
    "Zoo models (x3).",
  )
  flags.DEFINE_integer("jpeg_quality", 75, "JPEG quality of the LR.")
  flags.DEFINE_string("output_dir", None, "Where to write.")
  flags.mark_flags_as_required(["output_dir"])


def main(argv):
  del argv
  fv = flags.FLAGS
  results = showcase(
    fv.photos, fv.models, quality=fv.jpeg_quality, output_dir=fv.output_dir
  )
  for stem, scores in results["photos"].items():
    cells = ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
    print(f"{stem}: {cells}", file=sys.stderr)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
