"""The upscaler as a LiteRT (TFLite) file: ``jax2tf`` + TF's converter.

:mod:`sr_jax.portable`'s function goes through ``jax2tf`` (StableHLO with
symbolic ``B``, ``H`` and ``W``) into a SavedModel whose serving signature
takes ``input`` and returns ``output``, and TensorFlow's
``TFLiteConverter`` turns that into LiteRT builtin ops only (no TensorFlow
"select" ops, so the plain LiteRT interpreter runs it).

The file takes ``[N, H, W, 3]`` float32 RGB in [0, 1] (NHWC) and gives
``[N, H * s, W * s, 3]`` float32 RGB in [0, 1]. It is stored with a
``[1, 1, 1, 3]`` input; set the real size with
``interpreter.resize_tensor_input(input_index, [1, H, W, 3])`` and
``allocate_tensors()`` before ``invoke()`` (or call the ``serving_default``
signature runner, which resizes for you).
"""

import re
import tempfile

from sr_jax import fileio, portable

# The first error of TF's MLIR converter, e.g. "error: 'vhlo.xxx' op is not
# part of the vhlo support yet", and where in sr_jax the op came from.
_MLIR_ERROR = re.compile(r"error: (.+)")
_SR_JAX_LOCATION = re.compile(r'(sr_jax/(?:models/)?\w+\.py)"?:(\d+)')


def _failure(e: Exception) -> portable.ConversionError:
  """The converter's error as one line naming the op and its sr_jax line.

  TF's MLIR converter reports an op it cannot take as ``error: '<op>' op
  ...`` with the op's source location inside its message, not as a Python
  frame.
  """
  text = str(e)
  first = _MLIR_ERROR.search(text)
  error = portable.conversion_error("LiteRT", e, first and first.group(1))
  location = _SR_JAX_LOCATION.search(text)
  if location and "traced at" not in str(error):
    where = f"{location.group(1)}:{location.group(2)}"
    head, _, tail = str(error).partition(": ")
    error = portable.ConversionError(f"{head} (traced at {where}): {tail}")
  return error


def _saved_model(fn, directory: str) -> None:
  """Writes ``fn`` (NHWC, symbolic sizes) as a SavedModel in ``directory``."""
  import tensorflow as tf
  from jax.experimental import jax2tf

  converted = jax2tf.convert(
    fn, polymorphic_shapes=["(b, h, w, 3)"], with_gradient=False
  )
  spec = tf.TensorSpec([None, None, None, 3], tf.float32, portable.INPUT_NAME)

  @tf.function(autograph=False, input_signature=[spec])
  def serve(x):
    return {portable.OUTPUT_NAME: converted(x)}

  module = tf.Module()
  module.serve = serve
  tf.saved_model.save(module, directory, signatures={"serving_default": serve})


def convert(fn) -> bytes:
  """The LiteRT flatbuffer of ``fn``.

  Raises:
    portable.ConversionError: an operation did not convert.
  """
  import tensorflow as tf

  with tempfile.TemporaryDirectory(prefix="sr_jax_tflite_") as tmp:
    try:
      _saved_model(fn, tmp)
      converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
      converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
      return converter.convert()
    except Exception as e:  # noqa: BLE001 - re-raised with its op named
      raise _failure(e) from e


def export(config, params, path: str) -> str:
  """Writes the upscaler of ``(config, params)`` to ``path`` as LiteRT.

  Args:
    config: the model's config.
    params: its parameters.
    path: the ``.tflite`` file to write (replaced if present: the caller
      decides whether it may be).

  Returns:
    ``path``.

  Raises:
    portable.ConversionError: an operation did not convert.
  """
  data = convert(portable.image_function(config, params))
  fileio.write_atomic(path, data)
  return path
