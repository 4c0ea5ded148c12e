"""The 640x360 frame and the inference workloads the inference benchmarks time.

Shared by ``inference.py`` (sr_jax vs OpenCV on the frame) and
``inference_conv_breakdown.py`` (ESPCN-RDB's convolutions one by one): the
test frame (Set14 'monarch', ``data/eval/Set14/monarch.png``, 768x512,
cropped to 16:9 and resized to 640x360 with PIL's Lanczos), sr_jax's ESPCN
with OpenCV's weights (``benchmarks/opencv_espcn.py``), the ``configs/x3.py``
ESPCN-RDB, a jax matmul (this CPU's practical peak) and the OpenCV peers.
Each factory imports its framework itself: harness workers re-import this
module, and JAX must not start before ``_split_devices``.
"""

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import harness, machine, train_workloads  # noqa: E402

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
  from benchmarks import opencv_espcn

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

  from benchmarks import opencv_espcn

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

  config = train_workloads.load_config("espcn_rdb_x3")
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
