"""Runs an exported upscaler in the runtimes people use, on uint8 images.

Each ``*_runner(path)`` loads a file written by ``python -m sr_jax.export``
and returns a function of ``[N, H, W, 3]`` float32 RGB in [0, 1] (NHWC, one
size per call) to the float32 output in the same layout, whatever the
file's own layout: ONNX files are NCHW, LiteRT ones NHWC. The runtime's
library is imported on call; none of them is needed to train or to upscale
with sr_jax.

:func:`upscale_uint8` turns such a function into what ``python -m
sr_jax.upscale`` writes for an 8-bit image: grey goes in as three equal
channels and comes out as the luma of the output; colour is clipped and
rounded as the inference layer rounds (:func:`inference.quantize`).
"""

from collections.abc import Callable

import numpy as np

from sr_jax import color, inference, portable

Runner = Callable[[np.ndarray], np.ndarray]


def _nchw(run_nchw) -> Runner:
  def run(nhwc: np.ndarray) -> np.ndarray:
    out = run_nchw(np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)))
    return out.transpose(0, 2, 3, 1)

  return run


def onnxruntime_runner(path: str, *, threads: int = 0) -> Runner:
  """onnxruntime's CPU provider; ``threads`` intra-op threads (0: its
  default, one per core)."""
  import onnxruntime

  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  session = onnxruntime.InferenceSession(
    path, options, providers=["CPUExecutionProvider"]
  )
  names = [portable.OUTPUT_NAME]
  return _nchw(lambda x: session.run(names, {portable.INPUT_NAME: x})[0])


def opencv_runner(path: str) -> Runner:
  """OpenCV's dnn module (``cv2.dnn.readNetFromONNX``)."""
  import cv2

  net = cv2.dnn.readNetFromONNX(path)

  def run(x):
    net.setInput(x)
    return net.forward()

  return _nchw(run)


def litert_runner(path: str, *, threads: int | None = None) -> Runner:
  """The LiteRT interpreter (``ai_edge_litert``), resized to each input.

  ``threads``: its ``num_threads`` (None: its default).
  """
  from ai_edge_litert.interpreter import Interpreter

  interpreter = Interpreter(model_path=path, num_threads=threads)
  index = interpreter.get_input_details()[0]["index"]
  shape = None

  def run(x):
    nonlocal shape
    if x.shape != shape:
      interpreter.resize_tensor_input(index, x.shape)
      interpreter.allocate_tensors()
      shape = x.shape
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

  return run


RUNNERS = {
  "onnxruntime": onnxruntime_runner,
  "opencv": opencv_runner,
  "litert": litert_runner,
}


def upscale_uint8(run: Runner, image: np.ndarray) -> np.ndarray:
  """``image`` (uint8 ``[H, W]`` or ``[H, W, 3]``) upscaled by ``run``, as
  ``python -m sr_jax.upscale`` writes it."""
  x = color.gray_to_rgb(image)[None].astype(np.float32) / 255.0
  out = run(np.ascontiguousarray(x))[0]
  return inference.quantize(out, np.uint8, grey=image.ndim == 2)
