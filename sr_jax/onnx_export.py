"""The upscaler as an ONNX file: ``jax2onnx`` of :mod:`sr_jax.portable`.

The file takes ``input``, ``[N, 3, H, W]`` float32 RGB in [0, 1], and gives
``output``, ``[N, 3, H * s, W * s]`` float32 RGB in [0, 1]; ``N``, ``H`` and
``W`` are symbolic (``dim_param`` ``B``, ``H``, ``W``), so one file serves
every image size and batch. Opset :data:`OPSET`. The graph is Conv (1x1
layers and the luma too: OpenCV 5.0's Einsum fails on symbolic sizes),
Reshape / Transpose (pixel shuffle, NHWC <-> NCHW), Shape / Gather / Slice /
Concat (the mirrored borders of the bicubic chroma), elementwise ops, Floor
and Clip. OpenCV 4.x's importer cannot take the symbolic sizes (it stops at
the first Shape); OpenCV 5 can.

``jax2onnx`` 0.12.3 is the newest release that installs beside
``orbax-checkpoint`` 0.12.8 (later ones cap it below 0.11.37).
"""

import contextlib
import io
import logging
import warnings

from sr_jax import fileio, portable

# Opset 17 (ONNX 1.12, 2022): older runtimes load it than a newer opset, and
# nothing in the graph needs a later one. Tested in onnxruntime and OpenCV 5.
OPSET = 17

# Symbolic sizes of the input, named in the file.
_INPUT_SHAPE = ("B", "H", "W", 3)


@contextlib.contextmanager
def _quiet():
  """Silences jax2onnx 0.12.3: a stray ``print`` in its Conv plugin, import
  warnings of plugins for other libraries (dm_pix) that it skips, float64
  warnings of its own constants and onnx_ir's notes on untyped shapes."""
  loggers = [logging.getLogger(n) for n in ("jax2onnx", "onnx_ir")]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(logging.ERROR)
  try:
    with (
      contextlib.redirect_stdout(io.StringIO()),
      warnings.catch_warnings(),
    ):
      warnings.simplefilter("ignore")
      yield
  finally:
    for logger, level in zip(loggers, levels, strict=True):
      logger.setLevel(level)


def _convert(fn, name: str):
  """``jax2onnx.to_onnx`` of ``fn`` as described in the module docstring.

  Raises:
    portable.ConversionError: naming the operation that did not convert and
      where in sr_jax it was traced.
  """
  with _quiet():
    from jax2onnx import to_onnx

    try:
      return to_onnx(
        fn,
        [_INPUT_SHAPE],
        model_name=name,
        opset=OPSET,
        inputs_as_nchw=[0],
        outputs_as_nchw=[0],
        input_names=[portable.INPUT_NAME],
        output_names=[portable.OUTPUT_NAME],
      )
    except Exception as e:  # noqa: BLE001 - re-raised with its op named
      raise portable.conversion_error("ONNX", e) from e


def export(
  config, params, path: str, *, name: str = "sr_jax", metadata=None
) -> str:
  """Writes the upscaler of ``(config, params)`` to ``path`` as ONNX.

  Args:
    config: the model's config.
    params: its parameters.
    path: the ``.onnx`` file to write (replaced if present: the caller
      decides whether it may be).
    name: the graph's name.
    metadata: extra ``key: value`` strings for the file's metadata.

  Returns:
    ``path``.

  Raises:
    portable.ConversionError: an operation did not convert.
  """
  import onnx

  model = _convert(portable.image_function(config, params), name)
  props = {
    "scale": str(int(config.scale)),
    "layout": "NCHW RGB float32 in [0, 1] -> NCHW RGB float32 in [0, 1]",
    "producer": "sr_jax.export",
    **(metadata or {}),
  }
  onnx.helper.set_model_props(model, props)
  model.doc_string = (
    f"x{int(config.scale)} super-resolution: {portable.INPUT_NAME} "
    f"[N, 3, H, W] RGB in [0, 1] -> {portable.OUTPUT_NAME} "
    f"[N, 3, {int(config.scale)}H, {int(config.scale)}W] RGB in [0, 1]"
  )
  onnx.checker.check_model(model)
  fileio.write_atomic(path, model.SerializeToString())
  return path
