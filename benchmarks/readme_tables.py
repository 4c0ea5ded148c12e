"""The README's result tables, printed from the files that hold the measurements.

Usage::

  python benchmarks/readme_tables.py zoo        # the shipped models
  python benchmarks/readme_tables.py showcase   # the real-photo PSNRs

``zoo``: one row per shipped model (``SHIPPED``; the ``*_v1`` files in
``zoo/`` are the earlier versions, kept so their docs reproduce), then the
bicubic row of each scale, PSNR / SSIM (basicsr) on clean MATLAB-bicubic LR
for Set5, Set14 and BSD100, and BSD100 PSNR on the same LR saved as JPEG
quality 50, all read from the ``zoo/*.json`` that ``sr_jax.export`` wrote.
``showcase``: the PSNRs of ``zoo/showcase/results.json``, written by
``python -m sr_jax.showcase``. Nothing is typed in, and
``tests/docs_test.py`` checks that the README holds exactly these rows.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sr_jax import zoo  # noqa: E402

SHIPPED = (
  "espcn_rdb_x2",
  "espcn_x3",
  "espcn_rdb_x3",
  "espcn_rdb_x3_jpeg",
  "espcn_rdb_x4",
)
DATASETS = ("Set5", "Set14", "BSD100")
SHOWCASE = os.path.join(REPO, "zoo", "showcase", "results.json")


def _cells(scores: dict, prefix: str = "") -> list[str]:
  """``PSNR / SSIM`` per dataset of one results payload."""
  cells = []
  for d in DATASETS:
    r = scores.get(d)
    if r is None:
      cells.append("-")
    else:
      cells.append(f"{r[prefix + 'psnr']:.3f} / {r[prefix + 'ssim']:.4f}")
  return cells


def _q50(meta: dict, key: str) -> str:
  payload = meta.get("results_jpeg", {}).get("50", {})
  r = payload.get("datasets", {}).get("BSD100")
  return "-" if r is None else f"{r[key]:.3f}"


def zoo_table() -> list[str]:
  """Markdown lines: the shipped models, then bicubic per scale."""
  header = ["model", "scale", "params", *DATASETS, "BSD100, JPEG q50 LR"]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  bicubic = {}
  for name in SHIPPED:
    meta = zoo.read_info(name)
    scale = meta["config"]["scale"]
    datasets = meta["results"]["datasets"]
    cells = [f"`{name}`", f"x{scale}", f"{meta['params']:,}"]
    lines.append(
      "| " + " | ".join(cells + _cells(datasets) + [_q50(meta, "psnr")]) + " |"
    )
    # Every model's results carry the bicubic scores of the same LR.
    if scale not in bicubic or "results_jpeg" in meta:
      bicubic[scale] = (datasets, _q50(meta, "bicubic_psnr"))
  for scale in sorted(bicubic):
    datasets, q50 = bicubic[scale]
    cells = ["bicubic", f"x{scale}", "-"]
    lines.append(
      "| " + " | ".join(cells + _cells(datasets, "bicubic_") + [q50]) + " |"
    )
  return lines


def showcase_table() -> list[str]:
  """Markdown lines: per photo, the PSNR of bicubic and of each model."""
  with open(SHOWCASE) as f:
    results = json.load(f)
  photos = results["photos"]
  methods = list(next(iter(photos.values())))
  header = ["photo", *(m if m == "bicubic" else f"`{m}`" for m in methods)]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for photo, scores in photos.items():
    cells = [f"`{photo}`", *(f"{scores[m]:.2f}" for m in methods)]
    lines.append("| " + " | ".join(cells) + " |")
  return lines


TABLES = {"zoo": zoo_table, "showcase": showcase_table}


def main(argv: list[str]) -> None:
  if len(argv) != 1 or argv[0] not in TABLES:
    sys.exit(f"usage: readme_tables.py {{{','.join(TABLES)}}}")
  print("\n".join(TABLES[argv[0]]()))


if __name__ == "__main__":
  main(sys.argv[1:])
