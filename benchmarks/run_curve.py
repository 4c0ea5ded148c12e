"""A run's PSNR along training, per degradation cell, from its eval files.

Usage::

  python benchmarks/run_curve.py /work/runs/x3_real [--dataset=BSD100]

Reads every ``<workdir>/eval/results_<step>[_<kernel>][_jpeg<q>].json``
(written by training's evaluations and by ``--mode=evaluate --step=N``
with ``--config.eval.lr_kernel`` / ``lr_jpeg_quality``) and prints a
Markdown table: one row per cell ``<kernel>/q<q>``, one column per step
that has any result for the dataset, ``-`` where that cell was not
evaluated at that step. x8 (self-ensemble) files are left out.
"""

import argparse
import glob
import json
import os


def curve(workdir: str, dataset: str) -> dict[str, dict[int, float]]:
  """``{cell: {step: psnr}}`` for ``dataset``."""
  out = {}
  for path in glob.glob(os.path.join(workdir, "eval", "results_*.json")):
    if path.endswith("_x8.json"):
      continue
    with open(path) as f:
      results = json.load(f)
    scores = results.get("datasets", {}).get(dataset)
    step = os.path.basename(path)[len("results_") :].split("_")[0]
    if scores is None or not step.removesuffix(".json").isdigit():
      continue
    d = results.get("degradation", {})
    cell = f"{d.get('lr_kernel', 'matlab')}/q{d.get('lr_jpeg_quality', 0)}"
    out.setdefault(cell, {})[int(step.removesuffix(".json"))] = scores["psnr"]
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--dataset", default="BSD100")
  args = parser.parse_args()
  table = curve(args.workdir, args.dataset)
  steps = sorted({s for cells in table.values() for s in cells})
  print(f"{args.dataset} PSNR (dB) along the run {args.workdir}\n")
  print("| cell | " + " | ".join(f"{s:,}" for s in steps) + " |")
  print("|---" * (len(steps) + 1) + "|")
  for cell in sorted(table):
    row = [f"{table[cell][s]:.3f}" if s in table[cell] else "-" for s in steps]
    print(f"| {cell} | " + " | ".join(row) + " |")


if __name__ == "__main__":
  main()
