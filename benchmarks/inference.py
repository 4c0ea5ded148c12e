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

``--conv_breakdown`` instead asks where the ESPCN-RDB frame's time goes: in
one process on XLA's single CPU device (both CPUs), each distinct
convolution of the network alone on the whole 640x360 frame (the op the
network runs: ``models.conv``'s forward, a ``dot_general`` for 1x1
kernels), the whole network (plain form, whose convolutions these are) on
the same frame, and the matmul peak; the
network's time less the sum of its convolutions' is what the rest
(concatenations, ReLU, bias, pixel shuffle, the bicubic skip) costs.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine, train_step  # noqa: E402

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


def _split_devices(parallel: bool) -> None:
  """One CPU device per core (as ``sr_jax.main``) or XLA's one; before JAX
  starts."""
  from sr_jax import platform_tuning

  platform_tuning.split_cpu_devices(-1 if parallel else 1)


def _splitter(split: str):
  """``bands`` -> ``opencv_espcn.BandParallel``, ``rows`` -> ``RowSharded``.

  Imported on call: JAX must not start before ``_split_devices``.
  """
  from sr_jax.models import opencv_espcn

  splitters = {
    "bands": opencv_espcn.BandParallel,
    "rows": opencv_espcn.RowSharded,
  }
  return splitters[split]


def sr_jax_espcn(
  peers: str, pipeline: bool, parallel: bool, split: str = "bands"
) -> harness.Workload:
  """OpenCV's ESPCN weights in sr_jax: Y plane or whole BGR frame.

  Args:
    peers: the folder with ``ESPCN_x3.npz``.
    pipeline: uint8 BGR in and out (``upscale_bgr``), else the Y plane.
    parallel: one device per core, a band of the frame on each; else XLA's
      single device, the whole frame.
    split: with ``parallel``, ``bands`` (``opencv_espcn.BandParallel``) or
      ``rows`` (``opencv_espcn.RowSharded``).
  """
  _split_devices(parallel)
  import functools

  import jax
  import jax.numpy as jnp

  from sr_jax.models import opencv_espcn

  model, params = opencv_espcn.load_opencv_espcn(
    os.path.join(peers, "ESPCN_x3.npz")
  )
  frame = load_frame()
  if pipeline:
    upscale = opencv_espcn.upscale_bgr
    x = frame
  else:
    upscale = opencv_espcn.upscale_y
    ycrcb = np.asarray(opencv_espcn.bgr_to_ycrcb(jnp.asarray(frame)))
    x = ycrcb[..., 0].astype(np.float32) / 255.0
  whole = jax.jit(upscale, static_argnums=0)
  if parallel:
    fn = _splitter(split)(
      functools.partial(upscale, model),
      params,
      halo=max(model.receptive_radius, 1),
      scale=model.scale,
    )
  else:
    device_params = jax.device_put(params)
    fn = functools.partial(whole, model, device_params)

  def run():
    return np.asarray(fn(x))

  out = run()
  expected = np.asarray(whole(model, params, x))
  info = {
    "flops": conv_flops(params, *frame.shape[:2]),
    "xla_flops": harness.xla_flops(whole, model, params, x),
    "output_shape": list(out.shape),
    "devices": jax.local_device_count(),
    "max_diff_to_whole_frame": float(
      np.abs(out.astype(np.float32) - expected.astype(np.float32)).max()
    ),
    "isa": machine.framework_isa("jax"),
  }
  return harness.Workload(run=run, info=info)


def sr_jax_espcn_rdb(
  *, concatenated_dense: bool = False, split: str = "rows"
) -> harness.Workload:
  """The configs/x3.py ESPCN-RDB, random parameters, on the Y plane.

  Args:
    concatenated_dense: its dense blocks in the plain form training uses;
      else as the inference layer runs it (``platform_tuning.for_inference``:
      stacked).
    split: ``rows``: the frame's rows sharded over one device per core,
      XLA exchanging each convolution's boundary rows
      (``opencv_espcn.RowSharded``); ``bands``: one overlapping band per
      device (``opencv_espcn.BandParallel``).
  """
  _split_devices(True)
  import jax
  import jax.numpy as jnp

  from sr_jax import models, platform_tuning

  config = train_step.load_config("espcn_rdb_x3")
  model = models.create(config)
  if not concatenated_dense:
    model = platform_tuning.for_inference(model)
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  w, h = FRAME_SIZE
  y = load_frame()[:, :, 1].astype(np.float32) / 255.0

  def apply(params, y):
    return model.apply({"params": params}, y[None, :, :, None])[0, :, :, 0]

  fn = _splitter(split)(
    apply,
    params,
    # The bicubic image skip reads 2 LR pixels on each side.
    halo=max(model.receptive_radius, 2),
    scale=config.scale,
  )

  def run():
    return fn(y)

  info = {
    "flops": conv_flops(params, h, w),
    "xla_flops": harness.xla_flops(jax.jit(apply), params, y),
    "params": models.count_params(params),
    "output_shape": list(run().shape),
    "devices": jax.local_device_count(),
    "isa": machine.framework_isa("jax"),
  }
  return harness.Workload(run=run, info=info)


def jax_matmul() -> harness.Workload:
  """``MATMUL_N``^3 float32 matmul in jax: the practical peak."""
  _split_devices(False)
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


def conv_breakdown(calls: int) -> tuple[list[list[str]], dict]:
  """Times ESPCN-RDB's convolutions one by one, the network and a matmul.

  Returns:
    Table rows and their JSON record (see the module docstring).
  """
  import collections
  import time

  harness.keep_freed_memory(one_arena=True)
  # Before JAX starts: XLA's single CPU device, as the matmul row uses.
  matmul = jax_matmul()
  import jax
  import jax.numpy as jnp

  from sr_jax import models
  from sr_jax.models import conv

  def times_s(fn, *args) -> list[float]:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(calls):
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times.append(time.perf_counter() - start)
    return times

  def median_s(fn, *args) -> float:
    return float(np.median(times_s(fn, *args)))

  config = train_step.load_config("espcn_rdb_x3")
  model = models.create(config)
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  w, h = FRAME_SIZE
  y = jnp.asarray(load_frame()[None, :, :, 1:2].astype(np.float32) / 255.0)
  # The peak is sampled before and after the layers (one median of both),
  # so that a drift of the machine's speed during the run moves it too.
  matmul_times = times_s(matmul.run)
  shapes = collections.Counter(
    tuple(leaf.shape)
    for path, leaf in jax.tree_util.tree_leaves_with_path(params)
    if getattr(path[-1], "key", None) == "kernel"
  )
  forward = jax.jit(lambda x, k: conv.conv2d_same(x, k))
  layers = []  # (shape, count, median seconds)
  for shape, count in sorted(shapes.items()):
    x = jnp.ones((1, h, w, shape[2]), jnp.float32)
    layers.append(
      (shape, count, median_s(forward, x, jnp.full(shape, 0.01, jnp.float32)))
    )
  network = median_s(
    jax.jit(lambda p, x: model.apply({"params": p}, x)), params, y
  )
  matmul_times += times_s(matmul.run)
  peak = matmul.info["flops"] / float(np.median(matmul_times)) / 1e9

  def rate(flops: float, seconds: float) -> str:
    gflops = flops / seconds / 1e9
    return f"{gflops:.0f} ({gflops / peak:.0%})"

  rows, record, conv_total = [], {"layers": []}, 0.0
  for (k, _, cin, cout), count, t in layers:
    layer_flops = 2.0 * k * k * cin * cout * h * w
    conv_total += count * t
    rows.append(
      [
        f"{k}x{k} {cin} -> {cout}",
        str(count),
        f"{1e3 * t:.1f}",
        rate(layer_flops, t),
      ]
    )
    record["layers"].append(
      {
        "kernel": [k, k, cin, cout],
        "count": count,
        "ms": round(1e3 * t, 2),
        "gflop_per_s": round(layer_flops / t / 1e9, 1),
      }
    )
  flops = conv_flops(params, h, w)
  record.update(
    matmul_peak_gflop_per_s=round(peak, 1),
    convolutions_ms=round(1e3 * conv_total, 1),
    network_ms=round(1e3 * network, 1),
    network_gflop_per_s=round(flops / network / 1e9, 1),
    convolutions_gflop_per_s=round(flops / conv_total / 1e9, 1),
  )
  rows += [
    [
      "all convolutions (sum)",
      str(sum(shapes.values())),
      f"{1e3 * conv_total:.0f}",
      rate(flops, conv_total),
    ],
    ["the network", "1", f"{1e3 * network:.0f}", rate(flops, network)],
    [
      "the rest (network - convolutions)",
      "-",
      f"{1e3 * (network - conv_total):.0f}",
      "-",
    ],
  ]
  return rows, record


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

  info = {
    "output_shape": list(run().shape),
    "opencv": cv2.__version__,
    "isa": machine.framework_isa("cv2"),
  }
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

  info = {
    "output_shape": list(run().shape),
    "isa": machine.framework_isa("cv2"),
  }
  return harness.Workload(run=run, info=info)


def opencv_resize(threads: int = 2) -> harness.Workload:
  """``cv2.resize`` bicubic of the BGR frame: the no-network baseline."""
  cv2 = _cv2(threads)
  frame = load_frame()
  size = (FRAME_SIZE[0] * SCALE, FRAME_SIZE[1] * SCALE)

  def run():
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)

  return harness.Workload(run=run, info={"output_shape": list(run().shape)})


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
# sr_jax.main's malloc setting on CPU.
MAIN_MALLOC = "no_mmap_one_arena"


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
  parser.add_argument(
    "--conv_breakdown",
    action="store_true",
    help="instead: ESPCN-RDB's convolutions one by one vs the network",
  )
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.calls_per_round = 2, 1
  if args.conv_breakdown:
    record = machine.start(args.emulate)
    rows, results = conv_breakdown(max(2 * args.rounds, 3))
    print(
      "ESPCN-RDB x3 (configs/x3.py) on the 640x360 frame, XLA's single CPU "
      "device; median ms per call. GFLOP/s = 2 x MACs / time (% of the jax "
      f"matmul peak measured here, {results['matmul_peak_gflop_per_s']:.0f} "
      "GFLOP/s)."
    )
    print(
      harness.markdown_table(
        ("convolution", "layers", "ms each", "GFLOP/s (% peak)"), rows
      )
    )
    if args.json:
      results["machine"] = record
      harness.write_json(args.json, results)
    return
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
    threads=train_step.THREADS,
    monitor=monitor,
  )
  loaded, note = monitor.loaded, ""
  if loaded:
    quiet = harness.quiet_rounds_only(t, monitor)
    if quiet is None:
      note = "; too few quiet rounds: ratios withheld"
    else:
      t, how = quiet
      note = f"; {how}"
      loaded = False
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
    f"{train_step.THREADS} CPUs; median of {args.rounds} rounds x "
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
