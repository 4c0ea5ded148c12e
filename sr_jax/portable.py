"""The whole upscaler as one JAX function of an RGB image, for export.

What ``python -m sr_jax.upscale`` computes for an 8-bit RGB image (see
:func:`sr_jax.inference.forward` and :func:`sr_jax.upscale.bicubic`),
written so that ONNX and LiteRT converters take it with the image size
unknown until run time:

* input: ``[B, H, W, 3]`` float32 RGB in [0, 1];
* Y models see the BT.601 luma (``color.rgb_to_y_unit``); their output Y is
  joined with the chroma of MATLAB's bicubic ``imresize(lr, scale)`` of the
  8-bit image, rounded to 8 bits after each pass as MATLAB does for
  ``uint8`` (:func:`upsample.matlab_upsample` with ``quantize``); RGB models
  see the RGB image;
* output: ``[B, H * s, W * s, 3]`` float32 RGB, clipped to [0, 1].

Some things differ in form from the inference layer, not in value (float
rounding apart), so that the graph holds only ops every runtime has: the
luma is a 1x1 convolution instead of channel slices (LiteRT's converter
cannot slice the channels of a tensor of symbolic size); the Y output is
joined with the chroma as ``bicubic + (y - luma(bicubic)) * k``, which is
``ycbcr_to_rgb`` of the joined YCbCr because the conversion is linear; 1x1
layers trace as convolutions (``conv.one_by_one_as_convolution``); residual
dense blocks keep their plain form.

Inputs not on the 8-bit grid (16-bit images) get 8-bit chroma here, where
``sr_jax.upscale`` keeps their chroma unrounded: at most 0.5 / 255 apart.
A grey image goes in as three equal channels; any channel of the output is
its grey upscale (Cb and Cr of grey are exactly neutral).
"""

import os
import traceback
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sr_jax import color, models
from sr_jax.models import conv, upsample

INPUT_NAME = "input"
OUTPUT_NAME = "output"

# From sr_jax.color's own conversions, in float64: the YCbCr of black (the
# offsets), the BT.601 luma weights on [0, 1] RGB, and what one unit of Y
# adds to R, G and B.
_BLACK = color.rgb_to_ycbcr(np.zeros(3))
_LUMA_OFFSET = np.float32(_BLACK[0])
_LUMA = (color.rgb_to_y_unit(np.eye(3))[:, 0] - _BLACK[0]).astype(np.float32)
_Y_TO_RGB = color.ycbcr_to_rgb(_BLACK + [1.0, 0.0, 0.0]).astype(np.float32)


class ConversionError(RuntimeError):
  """A converter could not take an operation of the function."""


def luma(rgb: jax.Array) -> jax.Array:
  """``[B, H, W, 3]`` RGB -> ``[B, H, W, 1]`` BT.601 Y in [16, 235] / 255.

  :func:`color.rgb_to_y_unit` as a 1x1 convolution (a Conv in ONNX, not an
  Einsum: see ``conv.one_by_one_as_convolution``).
  """
  weights = jnp.asarray(_LUMA.reshape(1, 1, 3, 1))
  y = lax.conv_general_dilated(
    rgb, weights, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return y + _LUMA_OFFSET


def _export_model(config) -> Any:
  """The config's module in float32, dense blocks in their plain form.

  The stacked form the inference layer picks on CPU slices channels of
  tensors of symbolic size, which LiteRT's converter refuses; both forms
  are the same function.
  """
  model = models.create(config)
  fields = {"dtype": jnp.float32} if hasattr(model, "dtype") else {}
  return model.clone(**fields)


def image_function(config, params) -> Callable[[jax.Array], jax.Array]:
  """The upscaler of ``(config, params)`` as ``rgb -> rgb`` (NHWC).

  Args:
    config: the model's config (``scale``, ``model.channels``, ...).
    params: its parameters.

  Returns:
    A function of ``[B, H, W, 3]`` float32 RGB in [0, 1], returning
    ``[B, H * scale, W * scale, 3]`` float32 RGB clipped to [0, 1]; it
    traces with symbolic ``B``, ``H`` and ``W``.
  """
  model = _export_model(config)
  scale = int(config.scale)
  channels = int(config.model.channels)
  params = jax.tree.map(jnp.asarray, params)

  def network(x: jax.Array) -> jax.Array:
    with conv.one_by_one_as_convolution():
      return model.apply({"params": params}, x)

  def upscale_rgb(rgb: jax.Array) -> jax.Array:
    if channels == 3:
      return jnp.clip(network(rgb), 0.0, 1.0)
    bicubic = upsample.matlab_upsample(rgb, scale, quantize=True)
    out = bicubic + (network(luma(rgb)) - luma(bicubic)) * _Y_TO_RGB
    return jnp.clip(out, 0.0, 1.0)

  return upscale_rgb


def _in_sr_jax(filename: str) -> str | None:
  """``filename`` relative to the repository if it is an sr_jax module
  other than the exporters (which only call the converters), else None."""
  package = os.path.dirname(os.path.abspath(__file__))
  path = os.path.abspath(filename)
  if not path.startswith(package + os.sep) or path.endswith("export.py"):
    return None
  return os.path.relpath(path, os.path.dirname(package))


def _failed_equation(tb) -> tuple[str | None, str | None]:
  """``(primitive, "path:line (function)")`` of a failed conversion.

  Converters (jax2onnx's loop, JAX's lowering under jax2tf) fail inside a
  frame that holds the JAX equation being converted as ``eqn``; its source
  info says where sr_jax traced it. An error while tracing has no equation:
  then the innermost sr_jax frame of ``tb`` is where.
  """
  op, where = None, None
  for frame, _ in reversed(list(traceback.walk_tb(tb))):
    eqn = frame.f_locals.get("eqn")
    if hasattr(eqn, "primitive"):
      op = str(eqn.primitive)
      frames = getattr(eqn.source_info.traceback, "frames", None) or []
      for f in frames:  # innermost first
        rel = _in_sr_jax(f.file_name)
        if rel:
          where = f"{rel}:{f.line_num} ({f.function_name})"
          break
      break
  if where is None:
    for f in reversed(traceback.extract_tb(tb)):
      rel = _in_sr_jax(f.filename)
      if rel:
        where = f"{rel}:{f.lineno} ({f.name})"
        break
  return op, where


def conversion_error(
  target: str, error: BaseException, detail: str | None = None
) -> ConversionError:
  """``error`` of a ``target`` (ONNX, LiteRT) converter as one line that
  names the operation and where sr_jax traced it, as far as known."""
  op, where = _failed_equation(error.__traceback__)
  if detail is None:
    detail = (str(error).strip().splitlines() or [""])[0]
  message = f"{target} conversion failed"
  if op:
    message += f" at operation {op!r}"
  if where:
    message += f" (traced at {where})"
  return ConversionError(f"{message}: {detail or type(error).__name__}")
