"""Benchmark evaluation: exact LR synthesis, PSNR/SSIM scores and reports.

Every number sr_jax reports comes from :class:`Evaluator`: the HR image is
mod-cropped, its LR input is made with MATLAB-exact bicubic
(:mod:`sr_jax.imresize`), the model's output (run by :mod:`sr_jax.inference`,
clipped and rounded to uint8) is scored with :mod:`sr_jax.metrics` in
``config.eval.convention``. The bicubic baseline (the LR upscaled back with
the same imresize) is scored beside it.

``config.eval.lr_kernel`` and ``config.eval.lr_jpeg_quality`` change how the
LR input is made (another downscaling kernel, then a JPEG round trip), to
measure a model on LR it was not trained for; :func:`degradation` records
which, in every results file.
"""

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence

import numpy as np
import PIL
from absl import logging
from PIL import Image

from sr_jax import figures, image_io, imresize, metrics, rundir

# [(lr uint8 [h, w(, 3)], bicubic uint8 [H, W(, 3)]), ...] -> [sr uint8
# [H, W, 3], ...]: a batch, so that an implementation can spread the images
# over devices (inference.Predictor.sr_many).
SRFunction = Callable[[list[tuple[np.ndarray, np.ndarray]]], list[np.ndarray]]

# --config.eval.lr_kernel values. "matlab" is the protocol's LR (every
# published table's); the others are Pillow's resize filters, as photo tools
# and websites shrink pictures, so that a model trained on MATLAB LR can be
# scored on LR it never saw.
LR_KERNELS = ("matlab", "box", "bilinear", "bicubic", "lanczos")
_PILLOW_FILTERS = {
  "box": Image.Resampling.BOX,
  "bilinear": Image.Resampling.BILINEAR,
  "bicubic": Image.Resampling.BICUBIC,
  "lanczos": Image.Resampling.LANCZOS,
}


@dataclasses.dataclass(frozen=True)
class EvalImage:
  """One benchmark image and the inputs made from it.

  Attributes:
    name: file name without extension.
    hr: mod-cropped ground truth, uint8 ``[H, W]`` (grey) or ``[H, W, 3]``.
    lr: ``downscale(hr, scale, kernel=...)`` (by default ``imresize(hr,
      1/scale)``), after the JPEG round trip if any; uint8, grey or colour
      like ``hr``.
    bicubic: ``imresize(lr, scale)``, uint8, the baseline.
  """

  name: str
  hr: np.ndarray
  lr: np.ndarray
  bicubic: np.ndarray


def dataset_dir(data_dir: str, name: str) -> str:
  """A benchmark's folder: ``name`` itself if it is a directory, else under data_dir."""
  if os.path.isdir(name) and (os.sep in name or data_dir == ""):
    return name
  return os.path.join(data_dir, name)


def check_lr_kernel(kernel: str) -> None:
  """Raises ValueError, naming the flag, unless ``kernel`` is in LR_KERNELS."""
  if kernel not in LR_KERNELS:
    raise ValueError(
      f"--config.eval.lr_kernel={kernel!r} is not one of: "
      + " | ".join(LR_KERNELS)
    )


def downscale(
  hr: np.ndarray, scale: int, *, kernel: str = "matlab"
) -> np.ndarray:
  """The LR image made from a mod-cropped HR image with ``kernel``.

  ``"matlab"`` is ``imresize(hr, 1/scale)``, MATLAB's antialiased bicubic
  bit for bit (:mod:`sr_jax.imresize`). The others are Pillow's
  ``Image.resize((w // scale, h // scale), resample=...)`` with ``BOX``,
  ``BILINEAR``, ``BICUBIC`` or ``LANCZOS``, on the uint8 image as it is
  stored (no gamma decoding). Pillow widens each filter by the factor when
  it shrinks (antialiased), filters each channel of an RGB image alone (the
  same as each channel as a grey image), and works in fixed point in two
  passes (horizontal, then vertical), each rounded to uint8.

  Args:
    hr: uint8 ``[H, W]`` or ``[H, W, 3]``, ``H`` and ``W`` multiples of
      ``scale``.
    scale: the downscaling factor.
    kernel: one of :data:`LR_KERNELS`.

  Returns:
    uint8 ``[H / scale, W / scale(, 3)]``.
  """
  check_lr_kernel(kernel)
  if kernel == "matlab":
    return imresize.imresize(hr, 1.0 / scale)
  height, width = hr.shape[:2]
  image = Image.fromarray(np.ascontiguousarray(hr))
  small = image.resize(
    (width // scale, height // scale), resample=_PILLOW_FILTERS[kernel]
  )
  return np.asarray(small).copy()


def degradation(kernel: str, quality: int) -> dict:
  """What made the LR inputs, for results files: kernel, then JPEG."""
  out = {"lr_kernel": kernel}
  if kernel != "matlab":
    out["resize"] = f"Pillow {PIL.__version__} Image.resize"
    out["resample"] = f"Image.Resampling.{_PILLOW_FILTERS[kernel].name}"
  if quality:
    out.update(image_io.jpeg_settings(quality))
  else:
    out["lr_jpeg_quality"] = 0
  return out


def load_benchmark(
  folder: str,
  *,
  scale: int,
  max_images: int = 0,
  lr_jpeg_quality: int = 0,
  lr_kernel: str = "matlab",
):
  """Reads a folder of HR images and makes their LR and bicubic versions.

  Args:
    folder: directory of HR images.
    scale: 2, 3 or 4 (any integer >= 2 works).
    max_images: keep only the first N images (sorted by name) when > 0.
    lr_jpeg_quality: when > 0, each LR image is saved as a JPEG of this
      quality and decoded (:func:`image_io.jpeg_round_trip`), as a photo
      from the web would be; the bicubic baseline is made from that LR.
    lr_kernel: how the LR image is made from the HR (:func:`downscale`),
      before any JPEG.

  Returns:
    A list of :class:`EvalImage`.

  Raises:
    ValueError: for an unknown ``lr_kernel`` (before anything is read).
    FileNotFoundError: for a missing or empty folder.
    image_io.ImageReadError: for an unreadable image (the message names it).
  """
  check_lr_kernel(lr_kernel)
  files = image_io.list_images(folder, flag="--config.eval.data_dir/datasets")
  if max_images > 0:
    files = files[:max_images]
  out = []
  for path in files:
    hr = imresize.modcrop(image_io.read_image(path), scale)
    if min(hr.shape[:2]) < 2 * scale + 11:
      raise ValueError(f"{path}: {hr.shape[:2]} is too small to score")
    lr = downscale(hr, scale, kernel=lr_kernel)
    if lr_jpeg_quality:
      lr = image_io.jpeg_round_trip(lr, lr_jpeg_quality)
    bicubic = imresize.imresize(lr, scale)
    name = os.path.splitext(os.path.basename(path))[0]
    out.append(EvalImage(name=name, hr=hr, lr=lr, bicubic=bicubic))
  return out


class Evaluator:
  """Scores SR functions on fixed benchmarks; LR inputs are made once.

  Attributes:
    scale: the upscaling factor.
    convention: ``"basicsr"`` or ``"matlab"``.
    lr_jpeg_quality: JPEG quality of the LR inputs (0: none).
    lr_kernel: how the LR inputs were downscaled (:func:`downscale`).
    datasets: name -> list of :class:`EvalImage`.
    bicubic: name -> ``{"psnr", "ssim"}`` means of the bicubic baseline.
  """

  def __init__(
    self,
    *,
    scale: int,
    data_dir: str,
    datasets: Sequence[str],
    convention: str = "basicsr",
    max_images: int = 0,
    lr_jpeg_quality: int = 0,
    lr_kernel: str = "matlab",
  ):
    if convention not in metrics.CONVENTIONS:
      raise ValueError(
        f"--config.eval.convention={convention!r}; use one of "
        f"{metrics.CONVENTIONS}"
      )
    check_lr_kernel(lr_kernel)
    self.scale = scale
    self.convention = convention
    self.lr_jpeg_quality = lr_jpeg_quality
    self.lr_kernel = lr_kernel
    self.datasets = {}
    self.bicubic = {}
    for name in datasets:
      folder = dataset_dir(data_dir, name)
      if not os.path.isdir(folder):
        raise FileNotFoundError(
          f"evaluation set {name!r}: folder {folder!r} does not exist; set "
          "--config.eval.data_dir to the folder holding it or drop it from "
          "--config.eval.datasets"
        )
      images = load_benchmark(
        folder,
        scale=scale,
        max_images=max_images,
        lr_jpeg_quality=lr_jpeg_quality,
        lr_kernel=lr_kernel,
      )
      self.datasets[name] = images
      scores = [self._score(im.bicubic, im.hr) for im in images]
      self.bicubic[name] = {
        "psnr": float(np.mean([s[0] for s in scores])),
        "ssim": float(np.mean([s[1] for s in scores])),
      }

  @classmethod
  def from_config(cls, config) -> "Evaluator":
    """Builds the evaluator described by ``config.eval`` and ``config.scale``."""
    names = [n.strip() for n in config.eval.datasets.split(",") if n.strip()]
    return cls(
      scale=config.scale,
      data_dir=config.eval.data_dir,
      datasets=names,
      convention=config.eval.convention,
      max_images=config.eval.get("max_images", 0),
      lr_jpeg_quality=config.eval.get("lr_jpeg_quality", 0),
      lr_kernel=config.eval.get("lr_kernel", "matlab"),
    )

  def _score(self, sr: np.ndarray, hr: np.ndarray) -> tuple[float, float]:
    kw = dict(crop_border=self.scale, convention=self.convention)
    return metrics.psnr(sr, hr, **kw), metrics.ssim(sr, hr, **kw)

  def run(self, sr_many: SRFunction, *, num_figures: int = 0):
    """Scores ``sr_many`` on every benchmark image.

    Args:
      sr_many: ``[(lr, bicubic), ...] -> [sr, ...]`` on uint8 images, called
        once per dataset.
      num_figures: comparison figures to draw per dataset (first N images).

    Returns:
      ``(results, figs)``: ``results`` maps dataset name to
      ``{"psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "images",
      "per_image"}``; ``figs`` maps ``"<dataset>/<image>"`` to a uint8 figure.
    """
    results, figs = {}, {}
    for name, images in self.datasets.items():
      per_image = {}
      outputs = sr_many([(im.lr, im.bicubic) for im in images])
      for i, (im, sr) in enumerate(zip(images, outputs, strict=True)):
        if sr.shape[:2] != im.hr.shape[:2]:
          raise ValueError(
            f"model output {sr.shape} does not match HR {im.hr.shape} for "
            f"{name}/{im.name}: is the model's scale {self.scale}?"
          )
        p, s = self._score(sr, im.hr)
        per_image[im.name] = {"psnr": p, "ssim": s}
        if i < num_figures:
          figs[f"{name}/{im.name}"] = figures.comparison(
            [("bicubic", im.bicubic), ("SR", sr), ("HR", im.hr)]
          )
      results[name] = {
        "psnr": float(np.mean([v["psnr"] for v in per_image.values()])),
        "ssim": float(np.mean([v["ssim"] for v in per_image.values()])),
        "bicubic_psnr": self.bicubic[name]["psnr"],
        "bicubic_ssim": self.bicubic[name]["ssim"],
        "images": len(images),
        "per_image": per_image,
      }
    return results, figs


def markdown_table(results: dict, *, model_name: str) -> str:
  """The results as a markdown table, bicubic row first (PSNR dB / SSIM)."""
  names = list(results)
  lines = [
    "| method | " + " | ".join(names) + " |",
    "|---|" + "---|" * len(names),
  ]
  for label, p, s in (
    ("bicubic", "bicubic_psnr", "bicubic_ssim"),
    (model_name, "psnr", "ssim"),
  ):
    cells = [f"{results[n][p]:.3f} / {results[n][s]:.4f}" for n in names]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def write_report(
  run: rundir.RunDir, *, label: str, config, results: dict, figs: dict
) -> str:
  """Writes ``results_<label>.json`` and the figures into the run directory.

  Results on other LR go beside (never over) the protocol's: the name is
  ``results_<label>[_<kernel>][_jpeg<q>][_x8].json``, with the kernel for an
  ``config.eval.lr_kernel`` other than ``matlab``, ``_jpeg<q>`` for JPEG LR
  and ``_x8`` for ``config.eval.self_ensemble``. The payload's
  ``"degradation"`` (:func:`degradation`) says which.

  Returns:
    The path of the JSON file.
  """
  ensemble = bool(config.eval.get("self_ensemble", False))
  kernel = config.eval.get("lr_kernel", "matlab")
  q = config.eval.get("lr_jpeg_quality", 0)
  if kernel != "matlab":
    label = f"{label}_{kernel}"
  if q:
    label = f"{label}_jpeg{q}"
  if ensemble:
    label = f"{label}_x8"
  payload = {
    "scale": config.scale,
    "convention": config.eval.convention,
    "self_ensemble": ensemble,
    "degradation": degradation(kernel, q),
    "datasets": results,
  }
  run.write_figures(label, figs)
  path = run.write_results(label, payload)
  logging.info("Wrote %s", path)
  return path


def evaluate(config, workdir: str, *, step: int | None = None) -> dict:
  """``--mode=evaluate``: scores pretrained weights or a run's checkpoint.

  With ``config.pretrained`` set, the weights file is loaded and the results
  go to ``workdir/eval/results_pretrained.json``; otherwise the checkpoint at
  ``step`` (default: the newest readable one) of ``workdir`` is restored and
  the results go to ``results_<step>.json``.

  Returns:
    The results dict as written.
  """
  # Imported here: loading weights pulls in Orbax, which a notebook using only
  # the Evaluator does not need.
  from sr_jax import inference

  if config.pretrained:
    weights = inference.load(weights_file=config.pretrained, config=config)
    label = "pretrained"
  else:
    weights = inference.load(workdir=workdir, step=step, config=config)
    label = str(weights.step)
  evaluator = Evaluator.from_config(config)
  predictor = inference.Predictor(config, weights.params)
  ensemble = bool(config.eval.get("self_ensemble", False))
  results, figs = evaluator.run(
    functools.partial(predictor.sr_many, self_ensemble=ensemble),
    num_figures=config.eval.num_figures,
  )
  plus = "+" if ensemble else ""
  table = markdown_table(
    results, model_name=f"{config.model.name}{plus} ({label})"
  )
  q = config.eval.get("lr_jpeg_quality", 0)
  kernel = config.eval.get("lr_kernel", "matlab")
  lr_kind = f", LR by Pillow {kernel}" if kernel != "matlab" else ""
  lr_kind += f", LR saved as JPEG q{q} (4:2:0)" if q else ""
  lr_kind += ", x8 self-ensemble" if ensemble else ""
  print(
    f"x{config.scale}, {config.eval.convention} convention{lr_kind}:\n{table}"
  )
  write_report(
    rundir.RunDir(workdir),
    label=label,
    config=config,
    results=results,
    figs=figs,
  )
  return results
