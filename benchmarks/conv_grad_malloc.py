"""Convolution networks on CPU: glibc's default malloc vs sr_jax's setting.

Usage::

  python benchmarks/conv_grad_malloc.py [--json=FILE] [--repeats=15]

The ``malloc`` section of ``conv_grad.py``'s table: its networks (``net``
section) with glibc's default allocator settings ("xla ms" column) vs.
``mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB)`` ("ours ms",
``conv_grad.keep_freed_memory``), each in child processes
(``conv_grad.py --nets_only``), alternately, twice, with minor page faults
per step, for XLA's own gradients and sr_jax's ``Conv`` each.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.conv_grad import (  # noqa: E402
  print_header,
  print_row,
  write_rows,
)

CONV_GRAD = Path(__file__).resolve().with_name("conv_grad.py")


def bench_malloc(repeats: int, rounds: int = 2) -> list[dict[str, Any]]:
  """The ``malloc`` section: glibc defaults vs. :func:`keep_freed_memory`.

  Each setting runs in its own child process (``--nets_only``), alternately,
  ``rounds`` times; a case's time is the median over the rounds.
  """
  results = {False: [], True: []}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(rounds):
      for keep in (False, True):
        out = Path(tmp) / f"{r}_{int(keep)}.json"
        cmd = [sys.executable, str(CONV_GRAD), "--nets_only", f"--json={out}"]
        cmd += [f"--repeats={repeats}"] + (["--no_mmap"] if keep else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        results[keep].append(json.loads(out.read_text()))
  rows = []
  for i, row in enumerate(results[False][0]):
    for impl in ("xla", "ours"):

      def med(keep, key, i=i, impl=impl):
        return float(
          np.median([run[i][f"{impl}_{key}"] for run in results[keep]])
        )

      rows.append(
        row(
          "malloc",
          f"{row['case']} [{impl}]",
          "fwd+bwd",
          med(False, "ms"),
          med(True, "ms"),
          note=(
            f"page faults/step {med(False, 'faults'):.0f} -> "
            f"{med(True, 'faults'):.0f}"
          ),
        )
      )
      print_row(rows[-1])
  return rows


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the rows to this file")
  parser.add_argument("--repeats", type=int, default=15)
  args = parser.parse_args(argv)
  if args.repeats < 10:
    parser.error("--repeats must be at least 10")
  print_header(False)
  print("malloc: 'xla ms' = glibc defaults, 'ours ms' = M_MMAP_MAX=0")
  write_rows(args.json, bench_malloc(args.repeats))


if __name__ == "__main__":
  main()
