"""x3 inference of a 640x360 frame to 1920x1080 on CPU: sr_jax vs OpenCV.

Usage::

  pip install -r benchmarks/requirements.txt   # OpenCV (contrib) for peers
  python benchmarks/inference.py [--json=FILE] [--rounds=10] [--quick]
      [--peers=../shared/peers/opencv]

The frame is Set14 'monarch' (``data/eval/Set14/monarch.png``, 768x512),
cropped to 16:9 (768x432) and resized to 640x360 with PIL's Lanczos. Timed,
each in its own worker process pinned to the same 2 CPUs, interleaved (see
``benchmarks/harness.py``), median of ``2 * rounds`` calls after warm-up:

* ``sr_jax ESPCN``: ``sr_jax.models.opencv_espcn``, i.e. sr_jax's ``ESPCN``
  with the weights of OpenCV's ``ESPCN_x3.pb``, jitted, NumPy in and out:

  - ``Y only``: the network on the float32 Y plane;
  - ``full pipeline``: uint8 BGR in, uint8 BGR out, OpenCV's colour
    handling (``upscale_bgr``), one jitted function;
  - both also with the tuned malloc (``harness.keep_freed_memory(
    one_arena=True)``).
* OpenCV 5 (``opencv-contrib-python-headless``, ``cv2.setNumThreads(2)``):
  ``dnn_superres`` ``upsample`` (full pipeline) with ``ESPCN_x3.pb``,
  ``FSRCNN_x3.pb`` and ``FSRCNN-small_x3.pb``; the ESPCN graph alone through
  ``cv2.dnn`` on the Y blob (what ``upsample`` runs inside); and
  ``cv2.resize(INTER_CUBIC)`` of the BGR frame.
* ``sr_jax ESPCN-RDB``: the ``configs/x3.py`` network (random parameters),
  Y only, for information.
* ``jax matmul``: a 2048^3 float32 product, this CPU's practical peak.

GFLOP/s counts 2 * the convolutions' multiply-adds on the 640x360 input
(``k*k*c_in*c_out`` per pixel per layer). R = the peer's time / sr_jax's
(R > 1: sr_jax faster); full-pipeline peers are compared with sr_jax's full
pipeline, the bare OpenCV network with sr_jax's Y-only network; "R vs
malloc tuned" compares with the malloc-tuned sr_jax row instead.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, train_step  # noqa: E402

FRAME_SOURCE = REPO / "data" / "eval" / "Set14" / "monarch.png"
FRAME_SIZE = (640, 360)  # width, height
SCALE = 3
DEFAULT_PEERS = REPO.parent / "shared" / "peers" / "opencv"
MATMUL_N = 2048


def load_frame() -> np.ndarray:
  """The 640x360 BGR uint8 test frame (a real photograph, see docstring)."""
  from PIL import Image

  image = Image.open(FRAME_SOURCE).convert("RGB")
  w, h = image.size
  crop_h = w * FRAME_SIZE[1] // FRAME_SIZE[0]
  top = (h - crop_h) // 2
  image = image.crop((0, top, w, top + crop_h))
  image = image.resize(FRAME_SIZE, Image.Resampling.LANCZOS)
  return np.ascontiguousarray(np.asarray(image)[..., ::-1])


def conv_flops(params, height: int, width: int) -> float:
  """2 * multiply-adds of every convolution kernel in ``params`` at HxW."""
  import jax

  macs = sum(
    int(np.prod(leaf.shape))
    for path, leaf in jax.tree_util.tree_leaves_with_path(params)
    if getattr(path[-1], "key", None) == "kernel"
  )
  return 2.0 * macs * height * width


def sr_jax_espcn(peers: str, pipeline: bool) -> harness.Workload:
  """OpenCV's ESPCN weights in sr_jax, jitted: Y plane or whole BGR frame."""
  import jax
  import jax.numpy as jnp

  from sr_jax.models import opencv_espcn

  model, params = opencv_espcn.load_opencv_espcn(
    os.path.join(peers, "ESPCN_x3.npz")
  )
  params = jax.device_put(params)
  frame = load_frame()
  if pipeline:
    fn = jax.jit(opencv_espcn.upscale_bgr, static_argnums=0)
    x = frame
  else:
    fn = jax.jit(opencv_espcn.upscale_y, static_argnums=0)
    ycrcb = np.asarray(opencv_espcn.bgr_to_ycrcb(jnp.asarray(frame)))
    x = ycrcb[..., 0].astype(np.float32) / 255.0

  def run():
    return np.asarray(fn(model, params, x))

  info = {
    "flops": conv_flops(params, *frame.shape[:2]),
    "xla_flops": harness.xla_flops(fn, model, params, x),
    "output_shape": list(run().shape),
  }
  return harness.Workload(run=run, info=info)


def sr_jax_espcn_rdb() -> harness.Workload:
  """The configs/x3.py ESPCN-RDB, random parameters, on the Y plane."""
  import jax
  import jax.numpy as jnp

  from sr_jax import models

  config = train_step.load_config("espcn_rdb_x3")
  model = models.create(config)
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  w, h = FRAME_SIZE
  x = load_frame()[None, :, :, 1:2].astype(np.float32) / 255.0

  @jax.jit
  def fn(params, x):
    return model.apply({"params": params}, x)

  def run():
    return np.asarray(fn(params, x))

  info = {
    "flops": conv_flops(params, h, w),
    "xla_flops": harness.xla_flops(fn, params, x),
    "params": models.count_params(params),
    "output_shape": list(run().shape),
  }
  return harness.Workload(run=run, info=info)


def jax_matmul() -> harness.Workload:
  """``MATMUL_N``^3 float32 matmul in jax: the practical peak."""
  import jax
  import jax.numpy as jnp

  rng = np.random.default_rng(0)
  a, b = (
    jnp.asarray(rng.standard_normal((MATMUL_N, MATMUL_N), np.float32))
    for _ in range(2)
  )
  fn = jax.jit(jnp.matmul)

  def run():
    jax.block_until_ready(fn(a, b))

  return harness.Workload(run=run, info={"flops": 2.0 * MATMUL_N**3})


def _cv2(threads: int):
  import cv2

  cv2.setNumThreads(threads)
  return cv2


def opencv_superres(
  peers: str, algorithm: str, graph: str, threads: int = 2
) -> harness.Workload:
  """``cv2.dnn_superres`` ``upsample``: OpenCV's whole pipeline."""
  cv2 = _cv2(threads)
  sr = cv2.dnn_superres.DnnSuperResImpl_create()
  sr.readModel(os.path.join(peers, graph))
  sr.setModel(algorithm, SCALE)
  frame = load_frame()

  def run():
    return sr.upsample(frame)

  info = {"output_shape": list(run().shape), "opencv": cv2.__version__}
  return harness.Workload(run=run, info=info)


def opencv_espcn_net(peers: str, threads: int = 2) -> harness.Workload:
  """The ESPCN graph alone through ``cv2.dnn`` on the Y blob."""
  cv2 = _cv2(threads)
  graph = os.path.join(peers, "ESPCN_x3.pb")
  # dnn_superres registers its own DepthToSpace layer when it reads a model;
  # OpenCV 5's importer cannot build the graph's without it.
  cv2.dnn_superres.DnnSuperResImpl_create().readModel(graph)
  net = cv2.dnn.readNetFromTensorflow(graph)
  y = cv2.cvtColor(load_frame(), cv2.COLOR_BGR2YCrCb)[..., 0]
  blob = cv2.dnn.blobFromImage(y.astype(np.float32) / 255.0)

  def run():
    net.setInput(blob)
    return net.forward()

  return harness.Workload(run=run, info={"output_shape": list(run().shape)})


def opencv_resize(threads: int = 2) -> harness.Workload:
  """``cv2.resize`` bicubic of the BGR frame: the no-network baseline."""
  cv2 = _cv2(threads)
  frame = load_frame()
  size = (FRAME_SIZE[0] * SCALE, FRAME_SIZE[1] * SCALE)

  def run():
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)

  return harness.Workload(run=run, info={"output_shape": list(run().shape)})


# Contender names.
Y = "sr_jax ESPCN, Y only"
Y_TUNED = "sr_jax ESPCN, Y only (malloc tuned)"
FULL = "sr_jax ESPCN, full pipeline"
FULL_TUNED = "sr_jax ESPCN, full pipeline (malloc tuned)"
RDB = "sr_jax ESPCN-RDB (configs/x3.py), Y only"
MATMUL = f"jax matmul {MATMUL_N}^3 f32"
CV_ESPCN = "OpenCV dnn_superres ESPCN_x3"
CV_NET = "OpenCV dnn ESPCN_x3 net, Y only"
CV_FSRCNN = "OpenCV dnn_superres FSRCNN_x3"
CV_FSRCNN_SMALL = "OpenCV dnn_superres FSRCNN-small_x3"
CV_RESIZE = "cv2.resize INTER_CUBIC"

# name -> (what it computes, the sr_jax row it is compared with, JSON key)
_ROWS = {
  FULL: ("BGR uint8 -> BGR uint8", None, "sr_jax"),
  FULL_TUNED: ("BGR uint8 -> BGR uint8", None, "sr_jax_malloc_tuned"),
  CV_ESPCN: ("BGR uint8 -> BGR uint8", FULL, "opencv_espcn"),
  CV_FSRCNN: ("BGR uint8 -> BGR uint8", FULL, "opencv_fsrcnn"),
  CV_FSRCNN_SMALL: ("BGR uint8 -> BGR uint8", FULL, "opencv_fsrcnn_small"),
  CV_RESIZE: ("BGR uint8 -> BGR uint8", FULL, "cv2_resize_cubic"),
  Y: ("Y float32 -> Y float32", None, "sr_jax"),
  Y_TUNED: ("Y float32 -> Y float32", None, "sr_jax_malloc_tuned"),
  CV_NET: ("Y float32 -> Y float32", Y, "opencv_dnn_net"),
  RDB: ("Y float32 -> Y float32", None, "sr_jax"),
  MATMUL: ("2048x2048 @ 2048x2048", None, "jax"),
}
# The malloc-tuned twin of each sr_jax row that peers are compared with.
_TUNED = {FULL: FULL_TUNED, Y: Y_TUNED}
_JSON_GROUP = {
  FULL: "espcn_x3_640x360",
  FULL_TUNED: "espcn_x3_640x360",
  CV_ESPCN: "espcn_x3_640x360",
  CV_FSRCNN: "espcn_x3_640x360",
  CV_FSRCNN_SMALL: "espcn_x3_640x360",
  CV_RESIZE: "espcn_x3_640x360",
  Y: "espcn_x3_640x360_y_only",
  Y_TUNED: "espcn_x3_640x360_y_only",
  CV_NET: "espcn_x3_640x360_y_only",
  RDB: "espcn_rdb_x3_640x360_y_only",
  MATMUL: "matmul_2048_f32",
}


def contenders(peers: str, with_opencv: bool) -> list[harness.Contender]:
  """Everything to time; the OpenCV rows only when cv2 is importable."""
  C = harness.Contender
  out = [
    C(Y, sr_jax_espcn, {"peers": peers, "pipeline": False}),
    C(
      Y_TUNED,
      sr_jax_espcn,
      {"peers": peers, "pipeline": False},
      "no_mmap_one_arena",
    ),
    C(FULL, sr_jax_espcn, {"peers": peers, "pipeline": True}),
    C(
      FULL_TUNED,
      sr_jax_espcn,
      {"peers": peers, "pipeline": True},
      "no_mmap_one_arena",
    ),
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
  out += [C(RDB, sr_jax_espcn_rdb), C(MATMUL, jax_matmul)]
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
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.calls_per_round = 2, 1
  if not os.path.exists(os.path.join(args.peers, "ESPCN_x3.npz")):
    parser.error(f"--peers={args.peers} has no ESPCN_x3.npz")
  import importlib.util

  with_opencv = importlib.util.find_spec("cv2") is not None
  if not with_opencv:
    print("cv2 is not installed: timing sr_jax only")

  print(harness.machine_line())
  t = harness.run_interleaved(
    contenders(args.peers, with_opencv),
    rounds=args.rounds,
    calls_per_round=args.calls_per_round,
    warmup=5,
    warmup_budget_s=15.0,
    threads=train_step.THREADS,
  )
  peak = t[MATMUL].info["flops"] / t[MATMUL].median_s / 1e9

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
    tuned = _TUNED.get(base)
    ratio_tuned = timing.median_s / t[tuned].median_s if tuned else None
    entry = {
      "ms": round(timing.median_ms, 2),
      "iqr_ms": [round(q1, 2), round(q3, 2)],
      "frames_per_s": round(1.0 / timing.median_s, 3),
      "cores_busy": round(timing.cores, 2),
      "calls": len(timing.wall_s),
    }
    if gflops:
      entry["gflop_per_s"] = round(gflops, 1)
      entry["fraction_of_matmul_peak"] = round(gflops / peak, 3)
    if timing.info.get("xla_flops"):
      entry["xla_cost_analysis_gflop"] = round(
        timing.info["xla_flops"] / 1e9, 2
      )
    if flops and name != MATMUL:
      entry["conv_gflop"] = round(flops / 1e9, 2)
    if ratio is not None:
      entry["ratio"] = round(ratio, 3)
    if ratio_tuned is not None:
      entry["ratio_malloc_tuned"] = round(ratio_tuned, 3)
    results.setdefault(_JSON_GROUP[name], {})[key] = entry
    rows.append(
      [
        name,
        what,
        f"{timing.median_ms:.1f} ({q1:.1f}-{q3:.1f})",
        f"{1.0 / timing.median_s:.2f}",
        f"{gflops:.1f} ({gflops / peak:.0%})" if gflops else "-",
        f"{timing.cores:.2f}",
        f"{ratio:.2f} vs {base.removeprefix('sr_jax ESPCN, ')}"
        if ratio
        else "-",
        f"{ratio_tuned:.2f}" if ratio_tuned else "-",
      ]
    )
  print()
  print(
    f"x3, 640x360 -> 1920x1080 ({FRAME_SOURCE.name} crop), CPU, "
    f"{train_step.THREADS} threads; median of {args.rounds} rounds x "
    f"{args.calls_per_round} calls, interleaved. GFLOP/s = 2 x conv MACs / "
    f"time (% of the measured jax matmul peak, {peak:.0f} GFLOP/s). "
    "R = this time / the sr_jax row's (R > 1: sr_jax faster)."
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
        "R vs malloc tuned",
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
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
