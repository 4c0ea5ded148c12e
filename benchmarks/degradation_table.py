"""Zoo models on a fixed grid of LR degradations: kernel x JPEG quality.

Usage::

  python benchmarks/degradation_table.py [--models=espcn_rdb_x3,...]
      [--datasets=Set14,BSD100] [--data_dir=DIR] [--max_images=N]
      [--kernels=matlab,box,bilinear,lanczos] [--qualities=0,75,50]
      [--output=benchmarks/results/degradation_grid.json] [--merge]

A cell ``<kernel>/q<Q>`` of the grid is one way of making the LR input from
a benchmark's mod-cropped HR image (:func:`sr_jax.evaluate.downscale`):
``matlab`` is the protocol's MATLAB bicubic, ``box``, ``bilinear``,
``bicubic`` and ``lanczos`` Pillow's ``Image.resize`` filters; for Q > 0 that
LR is then saved as a JPEG of quality Q (4:2:0) and decoded. The models and
the bicubic baseline (MATLAB ``imresize`` of that LR, x scale) all see that
LR. Every score is :class:`sr_jax.evaluate.Evaluator`'s, as
``--mode=evaluate`` makes it: the model run by
:class:`sr_jax.inference.Predictor`, Y PSNR / SSIM in the ``basicsr``
convention, border = scale, the mean over the images. ``matlab/q0`` is the
protocol: its numbers are the zoo's.

Each LR grid is made once per dataset and cell and shared by every model.
Prints a Markdown table per dataset (rows: cells; columns: bicubic PSNR,
then each model's PSNR with its gain over bicubic) and writes ``--output``::

  {"command", "date", "versions", "scale", "convention", "max_images",
   "models": {name: {"sha256", "command", "date", "seconds"}},
   "datasets": {dataset: {"<kernel>/q<Q>": {
       "images", "bicubic": {"psnr", "ssim"},
       "models": {name: {"psnr", "ssim"}}}}}}

``--merge`` adds to an existing ``--output`` instead of replacing it: the
models computed now join (or replace) the ones there, whose cells are kept
as they are. It refuses a file of another scale, convention or
``--max_images``, and a cell whose bicubic score differs from the stored one
(other images, or another Pillow making other LR).
"""

import argparse
import copy
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("espcn_rdb_x3", "espcn_rdb_x3_jpeg", "espcn_rdb_x3_real")
KERNELS = ("matlab", "box", "bilinear", "lanczos")
QUALITIES = (0, 75, 50)
CONVENTION = "basicsr"
OUTPUT = os.path.join(REPO, "benchmarks", "results", "degradation_grid.json")
# Where datasets are looked for without --data_dir: the shared data (BSD100
# is only there), then the repository's (configs/default.py's eval.data_dir).
SHARED_EVAL = os.path.join(os.path.dirname(REPO), "shared", "data", "eval")


def cell_key(kernel: str, quality: int) -> str:
  return f"{kernel}/q{quality}"


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
    description=__doc__.split("\n")[0],
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    "--models",
    default="",
    help="zoo names or paths of zoo .npz files, comma-separated (default: "
    f"those of {', '.join(MODELS)} in zoo/)",
  )
  parser.add_argument("--datasets", default="Set14,BSD100")
  parser.add_argument(
    "--data_dir",
    default="",
    help=f"folder holding the datasets (default: {SHARED_EVAL} for those "
    "there, else configs/default.py's eval.data_dir)",
  )
  parser.add_argument("--kernels", default=",".join(KERNELS))
  parser.add_argument(
    "--qualities",
    default=",".join(str(q) for q in QUALITIES),
    help="JPEG qualities of the LR, 0 for none",
  )
  parser.add_argument(
    "--max_images", type=int, default=0, help="first N per dataset (0: all)"
  )
  parser.add_argument("--output", default=OUTPUT)
  parser.add_argument(
    "--merge",
    action="store_true",
    help="add these models to --output, keeping the others there",
  )
  return parser.parse_args(argv)


def dataset_folders(names: list[str], data_dir: str) -> dict[str, str]:
  """Dataset name -> the folder that holds it (see ``--data_dir``)."""
  from configs import default
  from sr_jax import evaluate

  roots = [data_dir or SHARED_EVAL]
  if not data_dir:
    roots.append(default.get_config().eval.data_dir)
  folders = {}
  for name in names:
    found = [evaluate.dataset_dir(r, name) for r in roots]
    found = [f for f in found if os.path.isdir(f)]
    if not found:
      raise SystemExit(f"--datasets: no folder {name} in {' or '.join(roots)}")
    folders[name] = found[0]
  return folders


def model_label(name: str) -> str:
  """A model's name in the table: a zoo name, or a zoo file's stem."""
  if name.endswith((".npz", ".json")):
    return os.path.splitext(os.path.basename(name))[0]
  return name


def load_predictors(names: list[str]) -> tuple[int, dict, dict]:
  """``(scale, {label: Predictor}, {label: sha256})`` of the zoo models."""
  from sr_jax import inference, zoo

  predictors, digests, scales = {}, {}, {}
  for name in names:
    weights = inference.load(zoo_name=name)
    label = model_label(name)
    scales[label] = int(weights.config.scale)
    predictors[label] = inference.Predictor(weights.config, weights.params)
    digests[label] = zoo.read_info(name)["sha256"]
  if len(set(scales.values())) != 1:
    raise SystemExit(f"--models: one scale per grid, got {scales}")
  return next(iter(scales.values())), predictors, digests


def evaluate_grid(
  predictors: dict,
  folders: dict[str, str],
  *,
  scale: int,
  kernels: list[str],
  qualities: list[int],
  max_images: int,
) -> tuple[dict, dict[str, float]]:
  """Every model on every cell of every dataset.

  Returns:
    ``(datasets, seconds)``: the output's ``"datasets"`` entry, and each
    model's evaluation time over all cells.
  """
  from sr_jax import evaluate

  out, seconds = {}, dict.fromkeys(predictors, 0.0)
  for name, folder in folders.items():
    cells = out.setdefault(name, {})
    for kernel in kernels:
      for quality in qualities:
        start = time.perf_counter()
        evaluator = evaluate.Evaluator(
          scale=scale,
          data_dir=os.path.dirname(folder),
          datasets=[os.path.basename(folder)],
          convention=CONVENTION,
          max_images=max_images,
          lr_jpeg_quality=quality,
          lr_kernel=kernel,
        )
        (images,) = evaluator.datasets.values()
        (bicubic,) = evaluator.bicubic.values()
        times = [f"LR {time.perf_counter() - start:.1f} s"]
        cell = {"images": len(images), "bicubic": bicubic, "models": {}}
        for label, predictor in predictors.items():
          start = time.perf_counter()
          results, _ = evaluator.run(predictor.sr_many)
          (r,) = results.values()
          cell["models"][label] = {"psnr": r["psnr"], "ssim": r["ssim"]}
          seconds[label] += time.perf_counter() - start
          times.append(f"{label} {time.perf_counter() - start:.1f} s")
        cells[cell_key(kernel, quality)] = cell
        print(
          f"{name} {cell_key(kernel, quality)}, {len(images)} images: "
          + ", ".join(times),
          file=sys.stderr,
          flush=True,
        )
  return out, seconds


def versions() -> dict[str, str]:
  """What the numbers depend on: the libraries and sr_jax's commit."""
  import flax
  import jax
  import jaxlib
  import numpy as np
  import PIL

  try:
    commit = subprocess.run(
      ["git", "describe", "--always", "--dirty"],
      cwd=REPO,
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    commit = "unknown"
  return {
    "python": sys.version.split()[0],
    "jax": jax.__version__,
    "jaxlib": jaxlib.__version__,
    "flax": flax.__version__,
    "numpy": np.__version__,
    "Pillow": PIL.__version__,
    "sr_jax": commit,
  }


def merge(old: dict, new: dict) -> dict:
  """``new``'s models added to ``old`` (see the module's ``--merge``)."""
  for key in ("scale", "convention", "max_images"):
    if old.get(key) != new[key]:
      raise SystemExit(
        f"--merge: the output has {key}={old.get(key)!r}, this run "
        f"{new[key]!r}; its numbers would not compare (drop --merge to "
        "replace it)"
      )
  out = copy.deepcopy(old)
  for key in ("command", "date", "versions"):
    out[key] = new[key]
  out["models"].update(new["models"])
  out.setdefault("folders", {}).update(new["folders"])
  for name, cells in new["datasets"].items():
    stored = out["datasets"].setdefault(name, {})
    for key, cell in cells.items():
      if key not in stored:
        stored[key] = copy.deepcopy(cell)
        continue
      was, now = stored[key], cell
      same = was["images"] == now["images"] and all(
        abs(was["bicubic"][k] - now["bicubic"][k]) <= 1e-9
        for k in now["bicubic"]
      )
      if not same:
        raise SystemExit(
          f"--merge: {name} {key}: bicubic {now['bicubic']} on "
          f"{now['images']} images, the output has {was['bicubic']} on "
          f"{was['images']}: other images or other LR (versions then: "
          f"{old.get('versions')}); rerun every model without --merge"
        )
      was["models"].update(now["models"])
  return out


def _row_order(key: str) -> tuple[int, int]:
  # The protocol's kernel first, then Pillow's in LR_KERNELS' order; within
  # a kernel, no JPEG first, then falling quality.
  from sr_jax import evaluate

  kernel, quality = key.split("/q")
  q = int(quality)
  return evaluate.LR_KERNELS.index(kernel), -101 if q == 0 else -q


def markdown_tables(data: dict) -> str:
  """One table per dataset: PSNR (dB) per cell, gains over bicubic."""
  blocks = []
  for name, cells in data["datasets"].items():
    models = [
      m for m in data["models"] if any(m in c["models"] for c in cells.values())
    ]
    images = sorted({c["images"] for c in cells.values()})
    lines = [
      f"{name}, x{data['scale']}: Y PSNR dB ({data['convention']}, border "
      f"{data['scale']}), {'/'.join(map(str, images))} images; in brackets "
      "the gain over bicubic",
      "",
      "| LR kernel | JPEG | bicubic | " + " | ".join(models) + " |",
      "|---|---|---|" + "---|" * len(models),
    ]
    for key in sorted(cells, key=_row_order):
      cell = cells[key]
      kernel, quality = key.split("/q")
      base = cell["bicubic"]["psnr"]
      row = [kernel, f"q{quality}" if quality != "0" else "-", f"{base:.3f}"]
      for m in models:
        r = cell["models"].get(m)
        row.append(f"{r['psnr']:.3f} ({r['psnr'] - base:+.3f})" if r else "-")
      lines.append("| " + " | ".join(row) + " |")
    blocks.append("\n".join(lines))
  return "\n\n".join(blocks)


def main(argv: list[str]) -> dict:
  args = parse_args(argv)
  # As sr_jax.main runs: one CPU device per core and its allocator setting,
  # before JAX starts.
  from sr_jax import platform_tuning

  platform_tuning.split_cpu_devices(-1)
  platform_tuning.apply_process_tunings(keep_freed_memory=True)
  from sr_jax import evaluate, zoo

  kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
  for kernel in kernels:
    evaluate.check_lr_kernel(kernel)
  qualities = [int(q) for q in args.qualities.split(",") if q.strip()]
  names = [m.strip() for m in args.models.split(",") if m.strip()]
  names = names or [m for m in MODELS if m in zoo.names()]
  if not names:
    raise SystemExit(f"--models: none given and none of {MODELS} in the zoo")
  datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
  folders = dataset_folders(datasets, args.data_dir)
  scale, predictors, digests = load_predictors(names)
  grid, seconds = evaluate_grid(
    predictors,
    folders,
    scale=scale,
    kernels=kernels,
    qualities=qualities,
    max_images=args.max_images,
  )
  command = shlex.join(["python", "benchmarks/degradation_table.py", *argv])
  date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
  data = {
    "command": command,
    "date": date,
    "versions": versions(),
    "scale": scale,
    "convention": CONVENTION,
    "max_images": args.max_images,
    # Relative to the repository, as a reader's checkout lays them out.
    "folders": {d: os.path.relpath(f, REPO) for d, f in folders.items()},
    "models": {
      m: {
        "sha256": digests[m],
        "command": command,
        "date": date,
        "seconds": round(seconds[m], 1),
      }
      for m in predictors
    },
    "datasets": grid,
  }
  if args.merge and os.path.exists(args.output):
    with open(args.output) as f:
      data = merge(json.load(f), data)
  print(markdown_tables(data))
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  with open(args.output, "w") as f:
    f.write(json.dumps(data, indent=1) + "\n")
  print(f"Wrote {args.output}", file=sys.stderr)
  return data


if __name__ == "__main__":
  main(sys.argv[1:])
