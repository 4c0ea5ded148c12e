"""The README's model-zoo rows, read from ``zoo/*.json``.

Usage::

  python benchmarks/zoo_table.py [NAME ...]   # default: every zoo model

One Markdown row per model: scale, parameters, steps, CPU hours (for a
model trained from another one's weights, ``config.init_from``, the total of
both, as ``total (this run)``), and PSNR / SSIM (basicsr) on clean LR for
Set5, Set14 and BSD100, all read from the files ``sr_jax.export`` wrote.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sr_jax import zoo  # noqa: E402

DATASETS = ("Set5", "Set14", "BSD100")


def row(name: str) -> str:
  """The Markdown row of zoo model ``name``."""
  meta = zoo.read_info(name)
  hours = meta.get("cpu_hours")
  if "cpu_hours_total" in meta:
    hours = f"{meta['cpu_hours_total']} ({meta['cpu_hours']})"
  cells = [
    f"`{name}`",
    f"x{meta['config']['scale']}",
    f"{meta['params']:,}",
    f"{meta['step']:,}"
    + (f" from `{meta['init_from']}`" if "init_from" in meta else ""),
    "-" if hours is None else str(hours),
  ]
  datasets = meta.get("results", {}).get("datasets", {})
  for d in DATASETS:
    r = datasets.get(d)
    cells.append(f"{r['psnr']:.3f} / {r['ssim']:.4f}" if r else "-")
  return "| " + " | ".join(cells) + " |"


def main(argv: list[str]) -> None:
  names = argv or zoo.names()
  header = ["model", "scale", "params", "steps", "CPU h", *DATASETS]
  print("| " + " | ".join(header) + " |")
  print("|---" * len(header) + "|")
  for name in names:
    print(row(name))


if __name__ == "__main__":
  main(sys.argv[1:])
