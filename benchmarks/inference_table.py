"""The README's inference table, read from ``benchmarks/inference.py``'s JSON.

Usage::

  python benchmarks/inference_table.py benchmarks/results/amd_epyc_avx512/inference_avx512.json

Prints the rows the README shows (sr_jax's ESPCN full pipeline against
OpenCV's ``dnn_superres``, and the ESPCN-RDB frame in its current and
earlier forms) and the matmul peak of the same run, so the README's
numbers are copied by code, not by hand.
"""

import json
import sys

# (JSON group, key, label): the rows shown, in order.
ROWS = (
  (
    "espcn_x3_640x360",
    "sr_jax",
    "sr_jax ESPCN (OpenCV's ESPCN_x3 weights), uint8 BGR in/out, banded "
    "over 1 device per core",
  ),
  ("espcn_x3_640x360", "sr_jax_1_device", "sr_jax, same, 1 device"),
  (
    "espcn_x3_640x360",
    "sr_jax_rows_sharded",
    "sr_jax, same, rows sharded over 1 device per core",
  ),
  ("espcn_x3_640x360", "opencv_espcn", "OpenCV `dnn_superres` ESPCN_x3"),
  (
    "espcn_x3_640x360",
    "opencv_fsrcnn_small",
    "OpenCV `dnn_superres` FSRCNN-small_x3",
  ),
  (
    "espcn_rdb_x3_640x360_y_only",
    "sr_jax",
    "sr_jax ESPCN-RDB x3, Y, rows sharded over 1 device per core, dense "
    "blocks stacked (as now)",
  ),
  (
    "espcn_rdb_x3_640x360_y_only",
    "sr_jax_bands",
    "the same in overlapping bands, one per device (before)",
  ),
  (
    "espcn_rdb_x3_640x360_y_only",
    "sr_jax_concatenated_dense",
    "rows sharded, dense blocks concatenating (before)",
  ),
)


def table(results: dict) -> str:
  """Markdown table and a line on the matmul peak."""
  lines = [
    "| implementation | ms | cores busy | R |",
    "|---|---|---|---|",
  ]
  for group, key, label in ROWS:
    e = results.get(group, {}).get(key)
    if e is None:
      continue
    if key.startswith("opencv"):
      # The peer's time over sr_jax's banded pipeline: R > 1, sr_jax faster.
      r = f"{e['ratio']:.2f} (OpenCV ms / sr_jax ms)"
    elif "ratio" in e:
      r = f"{e['ratio']:.2f} (this ms / the default's above)"
    else:
      r = "-"
    if "gflop_per_s" in e and group.startswith("espcn_rdb"):
      flops = f"{e['gflop_per_s']:.0f} GFLOP/s"
      r = flops if r == "-" else f"{r}; {flops}"
    lines.append(f"| {label} | {e['ms']:,.1f} | {e['cores_busy']:.2f} | {r} |")
  peak = results["matmul_2048_f32"]["jax"]
  rdb = results["espcn_rdb_x3_640x360_y_only"]["sr_jax"]["gflop_per_s"]
  fastest = peak.get("fastest_gflop_per_s")
  lines.append("")
  lines.append(
    f"jax matmul 2048^3 f32, same run: median {peak['gflop_per_s']:.0f} "
    f"GFLOP/s"
    + (f", fastest call {fastest:.0f}" if fastest else "")
    + f"; the ESPCN-RDB frame reaches {rdb / peak['gflop_per_s']:.0%} of the "
    "median" + (f" and {rdb / fastest:.0%} of the fastest." if fastest else ".")
  )
  return "\n".join(lines)


def main() -> None:
  if len(sys.argv) != 2:
    sys.exit("usage: python benchmarks/inference_table.py RESULTS.json")
  with open(sys.argv[1]) as f:
    print(table(json.load(f)))


if __name__ == "__main__":
  main()
