"""The README's table of x3 models on clean and JPEG-degraded LR.

Usage::

  python benchmarks/jpeg_table.py [NAME=]RESULTS_DIR_OR_ZOO_JSON ...

Each argument is a zoo ``.json`` (its ``results`` and ``results_jpeg``) or
an ``eval/`` folder of ``--mode=evaluate`` results (``results_<label>.json``
and ``results_<label>_jpeg<q>.json``; ``..._x8.json``, the x8
self-ensemble, make a ``NAME+`` row). Prints PSNR / SSIM (basicsr) per
dataset, one row per model and LR kind, with the bicubic rows of the same
LR. Nothing is typed in: every cell is read from those files.
"""

import glob
import json
import os
import re
import sys


def _runs(arg: str) -> list[tuple[str, dict[int, dict]]]:
  """``[(name, {quality: results payload}), ...]`` from a zoo JSON or an eval
  folder (``NAME=FOLDER`` names the folder's row). A folder's x8
  self-ensemble results (``*_x8.json``) make a second row, ``NAME+``."""
  name, _, arg = arg.rpartition("=")
  if arg.endswith(".json"):
    meta = json.load(open(arg))
    by_q = {0: meta["results"]}
    for q, payload in meta.get("results_jpeg", {}).items():
      by_q[int(q)] = payload
    return [(meta["name"], by_q)]
  name = name or os.path.basename(os.path.dirname(os.path.abspath(arg)))
  # A training run's folder holds one results file per evaluated step: the
  # table is the last step's (or the pretrained weights' where no step was
  # scored), whichever order the files are listed in.
  files: dict[tuple[str, bool], dict[int, str]] = {}
  for path in glob.glob(os.path.join(arg, "results_*.json")):
    found = re.search(
      r"results_(\d+|pretrained)(?:_jpeg(\d+))?(_x8)?\.json$", path
    )
    if found:
      label, q, x8 = found.group(1), int(found.group(2) or 0), found.group(3)
      files.setdefault((label, bool(x8)), {})[q] = path
  steps = [int(label) for label, _ in files if label.isdigit()]
  label = str(max(steps)) if steps else "pretrained"
  rows = []
  for x8, row in ((False, name), (True, f"{name}+")):
    if (label, x8) in files:
      by_q = {q: json.load(open(p)) for q, p in files[label, x8].items()}
      rows.append((row, by_q))
  if not rows:
    raise SystemExit(f"{arg}: no results_<step>[_jpeg<q>][_x8].json files")
  return rows


def main(args: list[str]) -> None:
  runs = [row for a in args for row in _runs(a)]
  datasets = list(next(iter(runs[0][1].values()))["datasets"])
  print("| LR | method | " + " | ".join(datasets) + " |")
  print("|---|---|" + "---|" * len(datasets))
  qualities = sorted(
    {q for _, by_q in runs for q in by_q}, key=lambda q: -q or -999
  )
  for q in qualities:
    lr = f"JPEG q{q}" if q else "clean"
    first = next(by_q[q] for _, by_q in runs if q in by_q)
    cells = [
      f"{first['datasets'][d]['bicubic_psnr']:.3f} / "
      f"{first['datasets'][d]['bicubic_ssim']:.4f}"
      for d in datasets
    ]
    print(f"| {lr} | bicubic | " + " | ".join(cells) + " |")
    for name, by_q in runs:
      if q not in by_q:
        continue
      r = by_q[q]["datasets"]
      cells = [f"{r[d]['psnr']:.3f} / {r[d]['ssim']:.4f}" for d in datasets]
      print(f"| {lr} | `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main(sys.argv[1:])
