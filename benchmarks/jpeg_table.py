"""The README's table of x3 models on clean and JPEG-degraded LR.

Usage::

  python benchmarks/jpeg_table.py [NAME=]RESULTS_DIR_OR_ZOO_JSON ...

Each argument is a zoo ``.json`` (its ``results`` and ``results_jpeg``) or
an ``eval/`` folder of ``--mode=evaluate`` results (``results_<label>.json``
and ``results_<label>_jpeg<q>.json``). Prints PSNR / SSIM (basicsr) per
dataset, one row per model and LR kind, with the bicubic rows of the same
LR. Nothing is typed in: every cell is read from those files.
"""

import glob
import json
import os
import re
import sys


def _runs(arg: str) -> tuple[str, dict[int, dict]]:
  """``(name, {quality: results payload})`` from a zoo JSON or eval folder
  (``NAME=FOLDER`` names the folder's row)."""
  name, _, arg = arg.rpartition("=")
  if arg.endswith(".json"):
    meta = json.load(open(arg))
    by_q = {0: meta["results"]}
    for q, payload in meta.get("results_jpeg", {}).items():
      by_q[int(q)] = payload
    return meta["name"], by_q
  by_q = {}
  for path in glob.glob(os.path.join(arg, "results_*.json")):
    found = re.search(r"_jpeg(\d+)\.json$", path)
    by_q[int(found.group(1)) if found else 0] = json.load(open(path))
  return name or os.path.basename(os.path.dirname(os.path.abspath(arg))), by_q


def main(args: list[str]) -> None:
  runs = [_runs(a) for a in args]
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
