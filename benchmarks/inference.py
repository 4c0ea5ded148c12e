"""x3 inference of a 640x360 frame to 1920x1080 on CPU: sr_jax vs OpenCV.

Usage::

  pip install -r benchmarks/requirements.txt   # OpenCV (contrib) for peers
  python benchmarks/inference.py [--json=FILE] [--rounds=10] [--quick]
      [--peers=../shared/peers/opencv]

The frame is Set14 'monarch' (``data/eval/Set14/monarch.png``, 768x512),
cropped to 16:9 (768x432) and resized to 640x360 with PIL's Lanczos. Timed,
each in its own worker process pinned to the same 2 CPUs, interleaved (see
``benchmarks/harness.py``), median of ``2 * rounds`` calls after warm-up:

* ``sr_jax ESPCN``: ``benchmarks/opencv_espcn.py``, i.e. sr_jax's ``ESPCN``
  with the weights of OpenCV's ``ESPCN_x3.pb``, jitted, NumPy in and out:

  - ``full pipeline``: uint8 BGR in, uint8 BGR out, OpenCV's colour
    handling (``upscale_bgr``), on the CPU backend split into one JAX device
    per core (as ``sr_jax.main`` splits it): the frame cut into horizontal
    bands with the receptive radius as overlap, one band per device
    (``opencv_espcn.parallel_upscale_bgr``, exact);
  - ``Y only``: the network on the float32 Y plane, banded the same way;
  - both also on XLA's single CPU device (``1 device``), whole frame;
  - every sr_jax row with the malloc tuning ``sr_jax.main`` applies on CPU
    (``harness.keep_freed_memory(one_arena=True)``).
* OpenCV 5 (``opencv-contrib-python-headless``, ``cv2.setNumThreads(2)``):
  ``dnn_superres`` ``upsample`` (full pipeline) with ``ESPCN_x3.pb``,
  ``FSRCNN_x3.pb`` and ``FSRCNN-small_x3.pb``; the ESPCN graph alone through
  ``cv2.dnn`` on the Y blob (what ``upsample`` runs inside); and
  ``cv2.resize(INTER_CUBIC)`` of the BGR frame.
* ``sr_jax ESPCN-RDB``: the ``configs/x3.py`` network (random parameters),
  Y only, as the inference layer runs it (``platform_tuning.for_inference``:
  dense blocks stacked), the frame's rows sharded over one device per core
  with XLA exchanging each convolution's boundary rows
  (``opencv_espcn.RowSharded``: a band per device would recompute 2 x 21
  halo rows each); also in overlapping bands like ESPCN, and with its dense
  blocks concatenating (the plain form), for comparison. ESPCN's full
  pipeline is also timed with its rows sharded (``rows sharded``; it stays
  in bands by default: its halo is 5 rows).
* ``jax matmul``: a 2048^3 float32 product on XLA's single CPU device (its
  Eigen matmul uses every core): this CPU's practical peak.

GFLOP/s counts 2 * the convolutions' multiply-adds on the 640x360 input
(``k*k*c_in*c_out`` per pixel per layer). R = the peer's time / sr_jax's
(R > 1: sr_jax faster); full-pipeline peers are compared with sr_jax's full
pipeline, the bare OpenCV network with sr_jax's Y-only network; "R vs 1
device" compares with the single-device sr_jax row instead. Cores busy =
process CPU time / wall time. The header names the CPU and its ISA;
``--emulate=avx2`` caps every worker at AVX2 (``benchmarks/machine.py``);
ratios are withheld when the idle probes between rounds find other jobs
running (``--ratios_under_load`` prints them, marked).

The workloads are in ``inference_workloads.py``;
``inference_conv_breakdown.py`` times ESPCN-RDB's convolutions one by one.
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine  # noqa: E402
from benchmarks.inference_workloads import (  # noqa: E402
  DEFAULT_PEERS,
  FRAME_SOURCE,
  MATMUL_N,
  jax_matmul,
  opencv_espcn_net,
  opencv_resize,
  opencv_superres,
  sr_jax_espcn,
  sr_jax_espcn_rdb,
)
from benchmarks.train_workloads import MAIN_MALLOC, THREADS  # noqa: E402

# Contender names.
FULL = "sr_jax ESPCN, full pipeline, 1 device per core"
FULL_1 = "sr_jax ESPCN, full pipeline, 1 device"
FULL_ROWS = "sr_jax ESPCN, full pipeline, rows sharded over 1 device per core"
Y = "sr_jax ESPCN, Y only, 1 device per core"
Y_1 = "sr_jax ESPCN, Y only, 1 device"
RDB = "sr_jax ESPCN-RDB (configs/x3.py), Y only, rows over 1 device per core"
RDB_BANDS = "sr_jax ESPCN-RDB, same, in overlapping bands (before)"
RDB_CONCAT = "sr_jax ESPCN-RDB, same, dense blocks concatenating (before)"
MATMUL = f"jax matmul {MATMUL_N}^3 f32"
CV_ESPCN = "OpenCV dnn_superres ESPCN_x3"
CV_NET = "OpenCV dnn ESPCN_x3 net, Y only"
CV_FSRCNN = "OpenCV dnn_superres FSRCNN_x3"
CV_FSRCNN_SMALL = "OpenCV dnn_superres FSRCNN-small_x3"
CV_RESIZE = "cv2.resize INTER_CUBIC"

# name -> (what it computes, the sr_jax row it is compared with, JSON key)
_ROWS = {
  FULL: ("BGR uint8 -> BGR uint8", None, "sr_jax"),
  FULL_1: ("BGR uint8 -> BGR uint8", None, "sr_jax_1_device"),
  FULL_ROWS: ("BGR uint8 -> BGR uint8", FULL, "sr_jax_rows_sharded"),
  CV_ESPCN: ("BGR uint8 -> BGR uint8", FULL, "opencv_espcn"),
  CV_FSRCNN: ("BGR uint8 -> BGR uint8", FULL, "opencv_fsrcnn"),
  CV_FSRCNN_SMALL: ("BGR uint8 -> BGR uint8", FULL, "opencv_fsrcnn_small"),
  CV_RESIZE: ("BGR uint8 -> BGR uint8", FULL, "cv2_resize_cubic"),
  Y: ("Y float32 -> Y float32", None, "sr_jax"),
  Y_1: ("Y float32 -> Y float32", None, "sr_jax_1_device"),
  CV_NET: ("Y float32 -> Y float32", Y, "opencv_dnn_net"),
  RDB: ("Y float32 -> Y float32", None, "sr_jax"),
  RDB_BANDS: ("Y float32 -> Y float32", RDB, "sr_jax_bands"),
  RDB_CONCAT: ("Y float32 -> Y float32", RDB, "sr_jax_concatenated_dense"),
  MATMUL: ("2048x2048 @ 2048x2048", None, "jax"),
}
# The single-device twin of each sr_jax row that peers are compared with.
_ONE_DEVICE = {FULL: FULL_1, Y: Y_1}
_JSON_GROUP = {
  FULL: "espcn_x3_640x360",
  FULL_1: "espcn_x3_640x360",
  FULL_ROWS: "espcn_x3_640x360",
  CV_ESPCN: "espcn_x3_640x360",
  CV_FSRCNN: "espcn_x3_640x360",
  CV_FSRCNN_SMALL: "espcn_x3_640x360",
  CV_RESIZE: "espcn_x3_640x360",
  Y: "espcn_x3_640x360_y_only",
  Y_1: "espcn_x3_640x360_y_only",
  CV_NET: "espcn_x3_640x360_y_only",
  RDB: "espcn_rdb_x3_640x360_y_only",
  RDB_BANDS: "espcn_rdb_x3_640x360_y_only",
  RDB_CONCAT: "espcn_rdb_x3_640x360_y_only",
  MATMUL: "matmul_2048_f32",
}


def contenders(peers: str, with_opencv: bool) -> list[harness.Contender]:
  """Everything to time; the OpenCV rows only when cv2 is importable."""
  C = harness.Contender
  out = [
    C(name, sr_jax_espcn, {"peers": peers, **kw}, MAIN_MALLOC)
    for name, kw in (
      (FULL, {"pipeline": True, "parallel": True}),
      (FULL_1, {"pipeline": True, "parallel": False}),
      (FULL_ROWS, {"pipeline": True, "parallel": True, "split": "rows"}),
      (Y, {"pipeline": False, "parallel": True}),
      (Y_1, {"pipeline": False, "parallel": False}),
    )
  ]
  if with_opencv:
    out += [
      C(
        CV_ESPCN,
        opencv_superres,
        {"peers": peers, "algorithm": "espcn", "graph": "ESPCN_x3.pb"},
      ),
      C(CV_NET, opencv_espcn_net, {"peers": peers}),
      C(
        CV_FSRCNN,
        opencv_superres,
        {"peers": peers, "algorithm": "fsrcnn", "graph": "FSRCNN_x3.pb"},
      ),
      C(
        CV_FSRCNN_SMALL,
        opencv_superres,
        {"peers": peers, "algorithm": "fsrcnn", "graph": "FSRCNN-small_x3.pb"},
      ),
      C(CV_RESIZE, opencv_resize),
    ]
  out += [
    C(RDB, sr_jax_espcn_rdb, malloc=MAIN_MALLOC),
    C(RDB_BANDS, sr_jax_espcn_rdb, {"split": "bands"}, malloc=MAIN_MALLOC),
    C(
      RDB_CONCAT,
      sr_jax_espcn_rdb,
      {"concatenated_dense": True},
      malloc=MAIN_MALLOC,
    ),
    C(MATMUL, jax_matmul),
  ]
  return out


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--calls_per_round", type=int, default=2)
  parser.add_argument("--peers", default=str(DEFAULT_PEERS))
  parser.add_argument(
    "--quick", action="store_true", help="2 rounds of 1 call: a smoke run"
  )
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.calls_per_round = 2, 1
  if not os.path.exists(os.path.join(args.peers, "ESPCN_x3.npz")):
    parser.error(f"--peers={args.peers} has no ESPCN_x3.npz")
  import importlib.util

  with_opencv = importlib.util.find_spec("cv2") is not None
  if not with_opencv:
    print("cv2 is not installed: timing sr_jax only")

  record = machine.start(args.emulate)
  monitor = machine.LoadMonitor()
  t = harness.run_interleaved(
    contenders(args.peers, with_opencv),
    rounds=args.rounds,
    calls_per_round=args.calls_per_round,
    warmup=5,
    warmup_budget_s=15.0,
    threads=THREADS,
    monitor=monitor,
  )
  t, loaded, note = harness.settle_load(t, monitor)
  peak = t[MATMUL].info["flops"] / t[MATMUL].median_s / 1e9

  def shown(ratio):
    return harness.ratio_text(
      ratio, loaded=loaded, show_loaded=args.ratios_under_load
    )

  rows, results = [], {}
  for name, timing in t.items():
    what, base, key = _ROWS[name]
    q1, q3 = timing.quartiles_ms()
    flops = timing.info.get("flops")
    if name != MATMUL and flops is None and base is not None:
      # The same network as the sr_jax row it is compared with.
      flops = t[base].info.get("flops") if name in (CV_ESPCN, CV_NET) else None
    gflops = flops / timing.median_s / 1e9 if flops else None
    ratio = timing.median_s / t[base].median_s if base else None
    one = _ONE_DEVICE.get(base)
    ratio_one = timing.median_s / t[one].median_s if one else None
    entry = {
      "ms": round(timing.median_ms, 2),
      "iqr_ms": [round(q1, 2), round(q3, 2)],
      "frames_per_s": round(1.0 / timing.median_s, 3),
      "cores_busy": round(timing.cores, 2),
      "calls": len(timing.wall_s),
      "isa": timing.info.get("isa"),
    }
    for k in ("devices", "max_diff_to_whole_frame"):
      if k in timing.info:
        entry[k] = timing.info[k]
    if gflops:
      entry["gflop_per_s"] = round(gflops, 1)
      entry["fraction_of_matmul_peak"] = round(gflops / peak, 3)
    if timing.info.get("xla_flops"):
      entry["xla_cost_analysis_gflop"] = round(
        timing.info["xla_flops"] / 1e9, 2
      )
    if flops and name != MATMUL:
      entry["conv_gflop"] = round(flops / 1e9, 2)
    for k, r in (("ratio", ratio), ("ratio_1_device", ratio_one)):
      if r is not None:
        entry[k] = None if loaded else round(r, 3)
        if loaded:
          entry[f"{k}_under_load"] = round(r, 3)
    results.setdefault(_JSON_GROUP[name], {})[key] = entry
    rows.append(
      [
        name,
        what,
        f"{timing.median_ms:.1f} ({q1:.1f}-{q3:.1f})",
        f"{1.0 / timing.median_s:.2f}",
        f"{gflops:.1f} ({gflops / peak:.0%})" if gflops else "-",
        f"{timing.cores:.2f}",
        f"{shown(ratio)} vs {base.removeprefix('sr_jax ESPCN, ')}"
        if ratio
        else "-",
        shown(ratio_one) if ratio_one else "-",
      ]
    )
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  print(monitor.line() + note)
  print(
    f"x3, 640x360 -> 1920x1080 ({FRAME_SOURCE.name} crop), CPU, "
    f"{THREADS} CPUs; median of {args.rounds} rounds x "
    f"{args.calls_per_round} calls, interleaved. GFLOP/s = 2 x conv MACs / "
    f"time (% of the measured jax matmul peak, {peak:.0f} GFLOP/s). "
    "R = this time / the sr_jax row's (R > 1: sr_jax faster); cores busy = "
    "process CPU time / wall time."
  )
  print(
    harness.markdown_table(
      (
        "implementation",
        "in -> out",
        "ms median (IQR)",
        "frames/s",
        "GFLOP/s (% peak)",
        "cores busy",
        "R",
        "R vs sr_jax 1 device",
      ),
      rows,
    )
  )
  fastest = min(t[MATMUL].wall_s)
  print(
    f"\nMatmul peak: median {t[MATMUL].median_ms:.1f} ms ({peak:.0f} GFLOP/s, "
    f"used above); fastest call {1e3 * fastest:.1f} ms "
    f"({t[MATMUL].info['flops'] / fastest / 1e9:.0f} GFLOP/s)."
  )
  if args.json:
    results["matmul_2048_f32"]["jax"]["fastest_gflop_per_s"] = round(
      t[MATMUL].info["flops"] / fastest / 1e9, 1
    )
    results["machine"] = {
      **record,
      "load": monitor.summary(),
      "ratios_from_quiet_rounds_only": monitor.loaded and not loaded,
    }
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
