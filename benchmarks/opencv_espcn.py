"""OpenCV's ``dnn_superres`` ESPCN as an sr_jax :class:`ESPCN`, and its pipeline.

OpenCV ships ESPCN graphs trained by TF-ESPCN (``ESPCN_x2/x3/x4.pb``). The x3
graph, read with TensorFlow, is::

  IteratorGetNext [1, H, W, 1]  (Y in [0, 1])
  conv1 5x5 -> 64 (f1), + b1, Relu
  conv2 3x3 -> 32 (f2), + b2, Relu
  conv3 3x3 -> 9  (f3), + b3
  DepthToSpace(block_size=3, NHWC)
  NHWC_output = Tanh
  NCHW_output = Transpose(NHWC_output, perm)   (for OpenCV's NCHW blobs)

All convolutions are stride-1 'SAME' NHWC with HWIO kernels. With one output
channel ``DepthToSpace`` is :func:`sr_jax.models.pixel_shuffle.pixel_shuffle`,
so the network is ``ESPCN(scale=3, channels=1, features=(64, 32),
kernel_sizes=(5, 3, 3), final_activation='tanh')``, with ReLU hidden
activations; the final transpose only changes the layout.

``DnnSuperResImpl::upsample`` wraps the network in a colour pipeline, which
:func:`upscale_bgr` reproduces in JAX (jit-able, no OpenCV needed):

1. ``cvtColor(BGR2YCrCb)`` on uint8 (full range, OpenCV's 14-bit fixed point
   arithmetic), then everything ``/ 255`` as float32;
2. the Y plane through the network;
3. Cr and Cb upscaled with ``cv2.resize``'s default bilinear interpolation
   (half-pixel centres, edge pixels repeated);
4. merge, ``convertTo(CV_8U, 255)`` (round half to even, saturate);
5. ``cvtColor(YCrCb2BGR)`` on uint8, again in fixed point.

The fixed-point constants below reproduce OpenCV's ``cvtColor`` exactly
(checked on all 2^24 colours in ``tests/opencv_espcn_test.py``).

On the CPU, XLA keeps about one core busy per device, so one frame on one
device leaves the other cores idle. :class:`BandParallel` (built for this
pipeline by :func:`parallel_upscale_bgr`) cuts the frame into horizontal
bands, one per device, each with enough rows of context (the receptive
radius) that the kept rows equal the whole-frame result, and runs them as
one batch sharded over the devices.

A benchmark module (``benchmarks/inference.py`` times it against OpenCV),
not part of the ``sr_jax`` package.
"""

import functools
import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from sr_jax.models.espcn import ESPCN

__all__ = [
  "BandParallel",
  "bgr_to_ycrcb",
  "load_opencv_espcn",
  "opencv_espcn",
  "parallel_upscale_bgr",
  "upscale_bgr",
  "upscale_y",
  "ycrcb_to_bgr",
]

# OpenCV's integer YCrCb coefficients (imgproc color_yuv), 14-bit fixed point.
_SHIFT = 14
_R2Y, _G2Y, _B2Y = 4899, 9617, 1868
_CR_FROM_R_Y, _CB_FROM_B_Y = 11682, 9241
_R_FROM_CR, _G_FROM_CR, _G_FROM_CB, _B_FROM_CB = 22987, -11698, -5636, 29049
_HALF = 128


def opencv_espcn(scale: int = 3) -> ESPCN:
  """The module of OpenCV's ESPCN graphs: 5x5/64, 3x3/32, 3x3/r^2, tanh."""
  return ESPCN(
    scale=scale,
    channels=1,
    features=(64, 32),
    kernel_sizes=(5, 3, 3),
    final_activation="tanh",
  )


def load_opencv_espcn(path_npz: str | os.PathLike) -> tuple[ESPCN, dict]:
  """Builds sr_jax's ESPCN with the weights of an OpenCV ESPCN graph.

  Args:
    path_npz: a ``.npz`` of the graph's constants ``f1, b1, f2, b2, f3, b3``
      (kernels HWIO, as in the graph), e.g.
      ``../shared/peers/opencv/ESPCN_x3.npz``.

  Returns:
    ``(model, params)``: the module (its scale read from the last kernel's
    ``r^2`` outputs) and its ``params`` tree, float32 NumPy arrays.

  Raises:
    KeyError: a missing weight.
    ValueError: weights that are not the 3-layer, 1-channel ESPCN.
  """
  with np.load(path_npz) as data:
    arrays = {k: np.asarray(data[k], np.float32) for k in data.files}
  params = {}
  for i in (1, 2, 3):
    kernel, bias = arrays[f"f{i}"], arrays[f"b{i}"]
    if kernel.ndim != 4 or bias.shape != kernel.shape[-1:]:
      raise ValueError(
        f"{path_npz}: f{i} {kernel.shape} / b{i} {bias.shape} are not an "
        "HWIO kernel and its bias"
      )
    params[f"conv{i}"] = {"kernel": kernel, "bias": bias}
  out = params["conv3"]["kernel"].shape[-1]
  scale = math.isqrt(out)
  if scale * scale != out or params["conv1"]["kernel"].shape[2] != 1:
    raise ValueError(
      f"{path_npz}: expected 1 input channel and r^2 outputs, got kernels "
      f"{[p['kernel'].shape for p in params.values()]}"
    )
  model = opencv_espcn(scale)
  expected = jax.eval_shape(
    model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1), jnp.float32)
  )["params"]
  got = jax.tree.map(lambda a: a.shape, params)
  if jax.tree.map(lambda a: a.shape, expected) != got:
    raise ValueError(f"{path_npz}: weight shapes {got} do not fit the model")
  return model, params


def _descale(x: jax.Array) -> jax.Array:
  """OpenCV's ``CV_DESCALE(x, 14)``: round the fixed-point value to integer."""
  return (x + (1 << (_SHIFT - 1))) >> _SHIFT


def bgr_to_ycrcb(bgr: jax.Array) -> jax.Array:
  """``cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)`` for uint8, bit for bit.

  Args:
    bgr: ``uint8 [..., 3]`` in OpenCV's B, G, R order.

  Returns:
    ``uint8 [..., 3]``: Y, Cr, Cb (full range, chroma centred at 128).
  """
  x = bgr.astype(jnp.int32)
  b, g, r = x[..., 0], x[..., 1], x[..., 2]
  y = _descale(r * _R2Y + g * _G2Y + b * _B2Y)
  cr = _descale((r - y) * _CR_FROM_R_Y + (_HALF << _SHIFT))
  cb = _descale((b - y) * _CB_FROM_B_Y + (_HALF << _SHIFT))
  return jnp.clip(jnp.stack([y, cr, cb], axis=-1), 0, 255).astype(jnp.uint8)


def ycrcb_to_bgr(ycrcb: jax.Array) -> jax.Array:
  """``cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)`` for uint8, bit for bit.

  Args:
    ycrcb: ``uint8 [..., 3]``: Y, Cr, Cb.

  Returns:
    ``uint8 [..., 3]`` in B, G, R order.
  """
  x = ycrcb.astype(jnp.int32)
  y, cr, cb = x[..., 0], x[..., 1] - _HALF, x[..., 2] - _HALF
  b = y + _descale(cb * _B_FROM_CB)
  g = y + _descale(cb * _G_FROM_CB + cr * _G_FROM_CR)
  r = y + _descale(cr * _R_FROM_CR)
  return jnp.clip(jnp.stack([b, g, r], axis=-1), 0, 255).astype(jnp.uint8)


def _upsample_axis(x: jax.Array, scale: int, axis: int) -> jax.Array:
  """Linear upsampling by an integer factor along one axis, edges repeated.

  Output ``scale * i + k`` samples the input at ``i + d_k`` with ``d_k =
  (k + 0.5) / scale - 0.5`` in (-0.5, 0.5): a two-tap blend of pixel ``i``
  and its neighbour on the side of ``d_k``. Written as ``scale`` blends of
  shifted copies, interleaved: linear in the output size, where
  ``jax.image.resize`` contracts with a dense ``[out, in]`` weight matrix
  (about 10x slower for a 640x360 plane at x3).
  """
  n = x.shape[axis]
  padded = jnp.concatenate(
    [
      lax.slice_in_dim(x, 0, 1, axis=axis),
      x,
      lax.slice_in_dim(x, n - 1, n, axis=axis),
    ],
    axis=axis,
  )
  before = lax.slice_in_dim(padded, 0, n, axis=axis)
  after = lax.slice_in_dim(padded, 2, n + 2, axis=axis)
  phases = []
  for k in range(scale):
    d = (k + 0.5) / scale - 0.5
    neighbour = before if d < 0 else after
    phases.append((1.0 - abs(d)) * x + abs(d) * neighbour)
  out = jnp.stack(phases, axis=axis + 1)
  shape = list(x.shape)
  shape[axis] *= scale
  return out.reshape(shape)


def _resize_bilinear(plane: jax.Array, scale: int) -> jax.Array:
  """``cv2.resize(plane, None, fx=scale, fy=scale)`` (INTER_LINEAR), float.

  Upscaling samples the input at ``(x + 0.5) / scale - 0.5``; outside the
  image OpenCV repeats the edge pixel. Same values as ``jax.image.resize(
  plane, ..., 'linear')`` up to float rounding, much faster.
  """
  return _upsample_axis(_upsample_axis(plane, scale, 1), scale, 0)


def upscale_y(model: ESPCN, params: dict, y: jax.Array) -> jax.Array:
  """The network alone: ``float32 [H, W]`` Y in [0, 1] -> ``[rH, rW]``.

  The output is the network's (tanh, so in [-1, 1]; not clipped).
  """
  out = model.apply({"params": params}, y[None, :, :, None])
  return out[0, :, :, 0]


def upscale_bgr(model: ESPCN, params: dict, bgr: jax.Array) -> jax.Array:
  """OpenCV ``DnnSuperResImpl::upsample`` with this network, in JAX.

  ``jax.jit(upscale_bgr, static_argnums=0)`` compiles the whole pipeline.

  Args:
    model: the module from :func:`load_opencv_espcn`.
    params: its parameters.
    bgr: ``uint8 [H, W, 3]``, B, G, R (as ``cv2.imread`` gives).

  Returns:
    ``uint8 [rH, rW, 3]`` B, G, R; agrees with OpenCV's output to within one
    grey level (the network's float arithmetic is ordered differently).
  """
  ycrcb = bgr_to_ycrcb(bgr).astype(jnp.float32) / 255.0
  y = upscale_y(model, params, ycrcb[..., 0])
  r = model.scale
  cr = _resize_bilinear(ycrcb[..., 1], r)
  cb = _resize_bilinear(ycrcb[..., 2], r)
  merged = jnp.stack([y, cr, cb], axis=-1) * 255.0
  # convertTo(CV_8U): cvRound (half to even) and saturation.
  merged = jnp.clip(jnp.round(merged), 0, 255).astype(jnp.uint8)
  return ycrcb_to_bgr(merged)


class BandParallel:
  """Runs a row-local upscaler on horizontal bands, one band per device.

  ``fn(params, image)`` maps ``[h, w, ...]`` to ``[s*h, s*w, ...]`` and an
  output row depends only on input rows within ``halo`` of it (edges
  handled by ``fn`` as if the band's first and last rows were the image's).
  Band ``k`` keeps rows ``[k*rows, (k+1)*rows)`` of a frame of height ``h``
  (``rows = ceil(h / n)``; the last band is shifted up to end at ``h``) and
  reads ``halo`` more rows on each side, fewer at the frame's edges, where
  the band starts or ends with the frame itself: so every kept row sees
  exactly what it sees in the whole frame. The ``n`` bands, all of one
  shape, run as one batch sharded on a ``'data'`` mesh of the devices, one
  per device; the result is the whole-frame result (up to the float
  rounding of a convolution computed in different blocks).
  """

  def __init__(
    self,
    fn: Callable,
    params,
    *,
    halo: int,
    scale: int,
    devices: Sequence[jax.Device] | None = None,
  ):
    """Compiles lazily, once per frame shape.

    Args:
      fn: the upscaler, jit-able, ``(params, image) -> upscaled``.
      params: its first argument (replicated on every device).
      halo: input rows an output row depends on, on each side.
      scale: the upscaling factor.
      devices: where the bands run; by default every local device.
    """
    self.fn = fn
    self.halo = int(halo)
    self.scale = int(scale)
    self.devices = list(devices or jax.local_devices())
    self._params = {}
    self._host_params = params
    self._compiled = {}

  def bands(self, height: int) -> list[tuple[int, int, int]]:
    """``(band_start, keep_start, rows)`` of each band of a frame.

    ``keep_start`` is the first kept frame row, ``band_start`` the first
    row the band reads; every band reads ``min(rows + 2 * halo, height)``
    rows and keeps ``rows``.
    """
    # At least as many kept rows as context rows, so that a band does not
    # spend more on its context than on its own rows.
    n = max(1, min(len(self.devices), height // max(2 * self.halo, 1)))
    rows = -(-height // n)
    span = min(rows + 2 * self.halo, height)
    out = []
    for k in range(n):
      keep = min(k * rows, height - rows)
      start = min(max(keep - self.halo, 0), height - span)
      out.append((start, keep, rows))
    return out

  def _function(self, n: int, rows: int):
    key = (n, rows)
    if key not in self._compiled:
      mesh = Mesh(np.asarray(self.devices[:n]), ("data",))
      batch, replicated = (
        NamedSharding(mesh, P("data")),
        NamedSharding(mesh, P()),
      )
      s = self.scale

      def one(params, band, offset):
        out = self.fn(params, band)
        return lax.dynamic_slice_in_dim(out, offset * s, rows * s, axis=0)

      fn = jax.jit(
        jax.vmap(one, in_axes=(None, 0, 0)),
        in_shardings=(replicated, batch, batch),
        out_shardings=batch,
      )
      self._params[n] = jax.device_put(self._host_params, replicated)
      self._compiled[key] = (fn, batch)
    return self._compiled[key]

  def __call__(self, image: np.ndarray) -> np.ndarray:
    """Upscales one frame: ``[h, w, ...]`` -> ``[s*h, s*w, ...]``, NumPy."""
    image = np.asarray(image)
    height = image.shape[0]
    bands = self.bands(height)
    n, rows = len(bands), bands[0][2]
    span = min(rows + 2 * self.halo, height)
    fn, sharding = self._function(n, rows)
    stacked = np.stack([image[b : b + span] for b, _, _ in bands])
    offsets = np.asarray([k - b for b, k, _ in bands], np.int32)
    out = np.asarray(
      fn(
        self._params[n],
        jax.device_put(stacked, sharding),
        jax.device_put(offsets, sharding),
      )
    )
    s = self.scale
    if n * rows == height:
      return out.reshape((height * s, *out.shape[2:]))
    # The last band was shifted up: drop the rows the one before it kept.
    overlap = (n * rows - height) * s
    return np.concatenate(
      [out[:-1].reshape((-1, *out.shape[2:])), out[-1, overlap:]]
    )


class RowSharded(BandParallel):
  """Runs an upscaler on one frame with its rows split over the devices by XLA.

  The frame goes into ``jax.jit`` sharded along its rows (``P('data')`` on a
  mesh of the devices) and XLA's SPMD partitioner splits every op: per-pixel
  ops need nothing, and each convolution first swaps the rows within its
  kernel radius with the neighbouring device (a halo exchange). So no row is
  computed twice, where :class:`BandParallel` computes ``2 * halo`` more
  rows per band (23% more work for ESPCN-RDB x3 on a 360-row frame over two
  devices). Frames whose height the device count does not divide run as
  bands (``jax`` shards only evenly), which is what ``halo`` is for. Results
  equal the whole-frame ones up to the float rounding of differently
  blocked convolutions. Same constructor as :class:`BandParallel`.
  """

  @functools.cached_property
  def _sharded(self):
    """The row-sharded jitted ``fn``, its replicated params, the sharding."""
    mesh = Mesh(np.asarray(self.devices), ("data",))
    rows, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    fn = jax.jit(self.fn, in_shardings=(replicated, rows), out_shardings=rows)
    return fn, jax.device_put(self._host_params, replicated), rows

  def __call__(self, image: np.ndarray) -> np.ndarray:
    """Upscales one frame: ``[h, w, ...]`` -> ``[s*h, s*w, ...]``, NumPy."""
    image = np.asarray(image)
    if image.shape[0] % len(self.devices):
      return super().__call__(image)
    fn, params, rows = self._sharded
    return np.asarray(fn(params, jax.device_put(image, rows)))


def parallel_upscale_bgr(
  model: ESPCN, params: dict, *, devices: Sequence[jax.Device] | None = None
) -> BandParallel:
  """:func:`upscale_bgr` on every device: uint8 BGR frame in, out (NumPy).

  The halo is the network's receptive radius (at least the one row that
  the bilinear chroma upscale reads); colour conversions are per pixel.
  """
  return BandParallel(
    functools.partial(upscale_bgr, model),
    params,
    halo=max(model.receptive_radius, 1),
    scale=model.scale,
    devices=devices,
  )
