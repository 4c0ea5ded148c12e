"""The README's result tables, printed from the files that hold the measurements.

Usage::

  python benchmarks/readme_tables.py zoo        # the shipped models
  python benchmarks/readme_tables.py showcase   # the real-photo PSNRs
  python benchmarks/readme_tables.py which      # which x3 model for what
  python benchmarks/readme_tables.py grid       # BSD100, cell by cell
  python benchmarks/readme_tables.py margins    # espcn_rdb_x3_real's gains

``zoo``: one row per shipped model (``SHIPPED``; the ``*_v1`` files in
``zoo/`` are the earlier versions, kept so their docs reproduce), then the
bicubic row of each scale, PSNR / SSIM (basicsr) on clean MATLAB-bicubic LR
for Set5, Set14 and BSD100, and BSD100 PSNR on the same LR saved as JPEG
quality 50, all read from the ``zoo/*.json`` that ``sr_jax.export`` wrote.
``showcase``: the PSNRs of ``zoo/showcase/results.json``, written by
``python -m sr_jax.showcase``. ``which``: per kind of input of
``sr_jax.upscale.WHICH_MODEL``, the model it names and every model's mean
BSD100 PSNR over that kind's cells of the degradation grid; ``grid``: those
cells one by one; both from ``benchmarks/results/degradation_grid.json``,
written by ``benchmarks/degradation_table.py``. Nothing is typed in, and
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
  "espcn_rdb_x3_real",
  "espcn_rdb_x4",
)
DATASETS = ("Set5", "Set14", "BSD100")
SHOWCASE = os.path.join(REPO, "zoo", "showcase", "results.json")
GRID = os.path.join(REPO, "benchmarks", "results", "degradation_grid.json")


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


def read_grid(path: str = GRID) -> dict:
  with open(path) as f:
    return json.load(f)


def _mean(grid: dict, dataset: str, cells, model: str | None) -> float:
  """Mean PSNR of ``model`` (None: bicubic) over ``cells`` of ``dataset``."""
  table = grid["datasets"][dataset]
  scores = [
    table[c]["bicubic"] if model is None else table[c]["models"][model]
    for c in cells
  ]
  return sum(s["psnr"] for s in scores) / len(scores)


def best_model(grid: dict, cells) -> str:
  """The model with the best mean PSNR over ``cells``, Set14 and BSD100
  weighing alike (the rule behind ``sr_jax.upscale.WHICH_MODEL``)."""
  models = list(grid["models"])
  return max(
    models,
    key=lambda m: sum(_mean(grid, d, cells, m) for d in grid["datasets"]),
  )


def which_table() -> list[str]:
  """Markdown lines: per kind of x3 input, the model to use and the mean
  BSD100 PSNR of bicubic and of every model over that kind's cells."""
  from sr_jax import upscale

  grid = read_grid()
  models = list(grid["models"])
  header = ["your x3 input", "use", "bicubic", *(f"`{m}`" for m in models)]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for kind, cells, model in upscale.WHICH_MODEL:
    best = best_model(grid, cells)
    if best != model:
      sys.exit(
        f"sr_jax.upscale.WHICH_MODEL names {model} for {kind!r}, but "
        f"{best} measures best: update it"
      )
    scores = [_mean(grid, "BSD100", cells, m) for m in models]
    top = max(scores)
    row = [kind, f"`{model}`", f"{_mean(grid, 'BSD100', cells, None):.2f}"]
    row += [f"**{v:.2f}**" if v == top else f"{v:.2f}" for v in scores]
    lines.append("| " + " | ".join(row) + " |")
  return lines


def grid_table() -> list[str]:
  """Markdown lines: BSD100 PSNR per cell, bicubic and each model."""
  grid = read_grid()
  models = list(grid["models"])
  header = ["LR made by", "JPEG", "bicubic", *(f"`{m}`" for m in models)]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for cell, r in grid["datasets"]["BSD100"].items():
    kernel, q = cell.split("/q")
    scores = [r["models"][m]["psnr"] for m in models]
    row = [kernel, "-" if q == "0" else f"q{q}", f"{r['bicubic']['psnr']:.2f}"]
    row += [f"**{v:.2f}**" if v == max(scores) else f"{v:.2f}" for v in scores]
    lines.append("| " + " | ".join(row) + " |")
  return lines


def margins_table(new: str = "espcn_rdb_x3_real") -> list[str]:
  """Markdown lines: per cell and dataset, ``new`` against the better of the
  other models there (issue 34's targets are read from this)."""
  grid = read_grid()
  others = [m for m in grid["models"] if m != new]
  header = ["cell", "dataset", "better other", "its PSNR", f"`{new}`", "diff"]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for dataset in ("BSD100", "Set14"):
    for cell, r in grid["datasets"][dataset].items():
      best = max(others, key=lambda m: r["models"][m]["psnr"])
      theirs, ours = r["models"][best]["psnr"], r["models"][new]["psnr"]
      row = [cell, dataset, f"`{best}`", f"{theirs:.3f}", f"{ours:.3f}"]
      lines.append("| " + " | ".join(row + [f"{ours - theirs:+.3f}"]) + " |")
  return lines


TABLES = {
  "margins": margins_table,
  "zoo": zoo_table,
  "showcase": showcase_table,
  "which": which_table,
  "grid": grid_table,
}


def main(argv: list[str]) -> None:
  if len(argv) != 1 or argv[0] not in TABLES:
    sys.exit(f"usage: readme_tables.py {{{','.join(TABLES)}}}")
  print("\n".join(TABLES[argv[0]]()))


if __name__ == "__main__":
  main(sys.argv[1:])
