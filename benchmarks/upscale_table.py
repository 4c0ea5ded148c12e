"""Prints README's upscale table from ``benchmarks/upscale_sizes.py`` JSON.

Usage::

  python benchmarks/upscale_table.py NOW.json [BEFORE.json]

Rows: each LR photo size of NOW; columns: the ``upscale`` mode's median ms
before (if BEFORE is given) and now, the whole-image floor, and now / before.
"""

import json
import sys


def table(now: dict, before: dict | None) -> str:
  """The markdown table of one or two runs."""
  head = ["LR photo (w x h)"]
  if before:
    head.append("`upscale` before")
  head += ["`upscale` now", "whole (`--tile=0`)"]
  if before:
    head.append("now / before")
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for size, entry in now.items():
    if size == "machine":
      continue
    h, w = size.split("x")
    n, floor = entry["upscale"]["median_ms"], entry["whole"]["median_ms"]
    cells = [f"{w}x{h}"]
    if before:
      b = before[size]["upscale"]["median_ms"]
      cells.append(f"{b:,.0f} ms")
    cells += [f"{n:,.0f} ms", f"{floor:,.0f} ms"]
    if before:
      cells.append(f"{b / n:.1f}x faster")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  if len(argv) not in (2, 3):
    sys.exit(__doc__)
  with open(argv[1]) as f:
    now = json.load(f)
  before = None
  if len(argv) == 3:
    with open(argv[2]) as f:
      before = json.load(f)
  print(table(now, before))


if __name__ == "__main__":
  main(sys.argv)
