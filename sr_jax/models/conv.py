"""A drop-in for ``nn.Conv`` with hand-written gradients for XLA:CPU.

:class:`Conv` has the same fields, parameter names, shapes and initialisers
as ``nn.Conv`` restricted to what the models use (2-D, NHWC, square odd
kernel, stride 1, 'SAME' padding), so checkpoints and converters work with
either. Its convolution, :func:`conv2d_same`, is a ``jax.custom_vjp``:

* forward: ``lax.conv_general_dilated``, exactly as ``nn.Conv`` calls it;
* input gradient: the transposed convolution XLA's own autodiff emits
  (a convolution of ``dy`` with the spatially flipped kernel);
* kernel gradient: a convolution over the batch and spatial axes, with
  ``x`` and ``dy`` swapped where that suits XLA:CPU's convolution better
  (see :func:`_kernel_grad`);
* 1x1 kernels: plain ``dot_general`` in all three directions.

Why (measured with ``benchmarks/conv_grad.py`` on the 2-core AMD EPYC
machines, jaxlib 0.10.2, whose CPU convolutions run through YNNPACK): XLA's
own kernel gradient is a convolution whose batch is ``Cin`` and whose
output features are ``Cout``. That convolution is fast when ``Cout`` is a
multiple of 32 and slow otherwise (2.3-4.3x slower than the swapped layout
for ``64 -> 1`` and ``64 -> 9``, 1.2-1.9x for ``-> 16`` and ``-> 27``); for
1x1 kernels it is about 3.5x slower than the equivalent matrix product. When
``Cout < Cin`` and ``Cout`` is not a multiple of 32 we swap the roles of
``x`` and ``dy``; 1x1 kernels use a matrix product. Otherwise XLA's layout
is the faster one (by up to 1.4x) and is kept, so e.g. the 3x3 64 -> 64
gradient is exactly XLA's. The results agree with XLA's own gradients to
float32 rounding.

Not addressed here: at these sizes a training step's temporaries exceed
glibc's mmap threshold, so by default every step page-faults them in anew
(see ``keep_freed_memory`` in ``benchmarks/conv_grad.py``).
"""

import contextlib
import contextvars
import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from jax import lax

from sr_jax import platform_tuning

__all__ = [
  "Conv",
  "ConvWeights",
  "KernelConv",
  "apply_conv",
  "conv2d_same",
  "one_by_one_as_convolution",
]

_NHWC = ("NHWC", "HWIO", "NHWC")

# XLA:CPU's convolution is fast when its output-feature count is a multiple
# of this (measured on AVX-512 machines; presumably the library's tile width).
_FEATURE_TILE = 32


def _check_kernel(kernel: jax.Array) -> int:
  """Returns the kernel size ``k`` of a ``[k, k, Cin, Cout]`` kernel."""
  if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
    raise ValueError(
      f"conv2d_same: expected a [k, k, Cin, Cout] kernel, got {kernel.shape}"
    )
  k = kernel.shape[0]
  if k % 2 != 1:
    # 'SAME' with an even kernel pads asymmetrically; the gradients below
    # assume k // 2 on every side.
    raise ValueError(f"conv2d_same: kernel size must be odd, got {k}")
  return k


# Whether 1x1 kernels trace as matrix products (see _forward); the ONNX and
# LiteRT exporters turn it off (one_by_one_as_convolution).
_ONE_BY_ONE_AS_DOT = contextvars.ContextVar("one_by_one_as_dot", default=True)


@contextlib.contextmanager
def one_by_one_as_convolution():
  """Within this context, 1x1 kernels trace as convolutions.

  Same result; what changes is the exported graph: jax2onnx writes a matrix
  product as ONNX Einsum, which OpenCV's dnn 5.0 fails to broadcast on
  images of symbolic size, while every runtime takes a 1x1 Conv.
  """
  token = _ONE_BY_ONE_AS_DOT.set(False)
  try:
    yield
  finally:
    _ONE_BY_ONE_AS_DOT.reset(token)


def _forward(x: jax.Array, kernel: jax.Array, precision: Any) -> jax.Array:
  if kernel.shape[0] == 1 and _ONE_BY_ONE_AS_DOT.get():
    # A 1x1 convolution is a matrix product over channels; dot_general
    # reaches the GEMM directly instead of going through the conv kernel.
    return lax.dot_general(
      x, kernel[0, 0], (((3,), (0,)), ((), ())), precision=precision
    )
  return lax.conv_general_dilated(
    x,
    kernel,
    (1, 1),
    "SAME",
    dimension_numbers=_NHWC,
    precision=precision,
  )


def _input_grad(dy: jax.Array, kernel: jax.Array, precision: Any) -> jax.Array:
  """``d loss / d x``: the transposed convolution, as XLA's autodiff does.

  Args:
    dy: ``[B, H, W, Cout]`` output cotangent.
    kernel: ``[k, k, Cin, Cout]``.
    precision: passed to the underlying op.

  Returns:
    ``[B, H, W, Cin]``.
  """
  k = kernel.shape[0]
  if k == 1:
    return lax.dot_general(
      dy, kernel[0, 0], (((3,), (1,)), ((), ())), precision=precision
    )
  p = k // 2
  # Correlating dy with the flipped kernel, read with its in/out axes
  # swapped ('HWOI'), is the adjoint of a stride-1 'SAME' correlation.
  return lax.conv_general_dilated(
    dy,
    lax.rev(kernel, (0, 1)),
    (1, 1),
    ((p, p), (p, p)),
    dimension_numbers=("NHWC", "HWOI", "NHWC"),
    precision=precision,
  )


def _kernel_grad(
  x: jax.Array, dy: jax.Array, k: int, precision: Any
) -> jax.Array:
  """``d loss / d kernel`` of a stride-1 'SAME' convolution.

  ``dW[i, j, c, o] = sum_{b, h, w} x_pad[b, h + i, w + j, c] dy[b, h, w, o]``
  is itself a correlation whose window is the whole ``H x W`` image, whose
  contracted "feature" axis is the batch, and whose output is ``k x k``.
  Either channel axis can play the convolution's batch, the other its output
  features. XLA's autodiff always makes ``Cin`` the batch and ``Cout`` the
  features; XLA:CPU's convolution (YNNPACK) is slow unless the feature count
  is a multiple of ``_FEATURE_TILE``. So when ``Cout`` is the smaller one and
  not such a multiple (sub-pixel and output layers: 1, 3, 9, 16, 27), we
  swap: ``dy`` becomes the image (batch ``Cout``) and ``x`` the window,
  which produces the kernel gradient flipped in space.

  Args:
    x: ``[B, H, W, Cin]`` layer input.
    dy: ``[B, H, W, Cout]`` output cotangent.
    k: kernel size (odd).
    precision: passed to the underlying op.

  Returns:
    ``[k, k, Cin, Cout]``, in the dtype of ``x``.
  """
  cin, cout = x.shape[-1], dy.shape[-1]
  if k == 1:
    # One GEMM over all B * H * W pixels; XLA's convolution path for this is
    # about 3.5x slower than the matrix product it amounts to.
    dw = lax.dot_general(
      x, dy, (((0, 1, 2), (0, 1, 2)), ((), ())), precision=precision
    )
    return dw.reshape(1, 1, cin, cout)
  p = k // 2
  pad = ((p, p), (p, p))
  if cout < cin and cout % _FEATURE_TILE:
    # out[t] = sum_q dy_pad[t + q] x[q] = dW[2p - t]: flip to get dW.
    flipped = lax.conv_general_dilated(
      dy,
      x,
      (1, 1),
      pad,
      dimension_numbers=("CHWN", "IHWO", "HWCN"),
      precision=precision,
    )
    return lax.rev(flipped, (0, 1))
  # XLA's own layout: x is the image with Cin as batch, dy the window.
  return lax.conv_general_dilated(
    x,
    dy,
    (1, 1),
    pad,
    dimension_numbers=("CHWN", "IHWO", "HWNC"),
    precision=precision,
  )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d_same(
  x: jax.Array, kernel: jax.Array, precision: Any = None
) -> jax.Array:
  """Stride-1 'SAME' 2-D convolution (cross-correlation), NHWC / HWIO.

  Numerically ``lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))``, with a custom VJP that is
  faster on XLA:CPU (see the module docstring).

  Args:
    x: ``[B, H, W, Cin]``.
    kernel: ``[k, k, Cin, Cout]`` with odd ``k``, same dtype as ``x``.
    precision: ``lax.Precision`` (or ``None``) for every op, forward and
      backward.

  Returns:
    ``[B, H, W, Cout]`` in the dtype of ``x``.

  Raises:
    ValueError: on a non-square or even kernel, or mismatched shapes.
  """
  return _conv2d_same_fwd(x, kernel, precision)[0]


def _conv2d_same_fwd(
  x: jax.Array, kernel: jax.Array, precision: Any
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
  _check_kernel(kernel)
  if x.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(
      f"conv2d_same: input {x.shape} does not match kernel {kernel.shape}"
    )
  return _forward(x, kernel, precision), (x, kernel)


def _conv2d_same_bwd(
  precision: Any, residuals: tuple[jax.Array, jax.Array], dy: jax.Array
) -> tuple[jax.Array, jax.Array]:
  x, kernel = residuals
  dx = _input_grad(dy, kernel, precision)
  dw = _kernel_grad(x, dy, kernel.shape[0], precision)
  return dx.astype(x.dtype), dw.astype(kernel.dtype)


conv2d_same.defvjp(_conv2d_same_fwd, _conv2d_same_bwd)


def apply_conv(
  x: jax.Array, kernel: jax.Array, precision: Any = None
) -> jax.Array:
  """A stride-1 'SAME' convolution, with the gradients that suit the backend.

  :func:`conv2d_same` (custom VJP) on the CPU backend, where it was
  measured; XLA's own convolution and gradients elsewhere. 1x1 kernels are
  matrix products on every backend.

  Args:
    x: ``[B, H, W, Cin]``.
    kernel: ``[k, k, Cin, Cout]`` with odd ``k``, same dtype as ``x``.
    precision: ``lax.Precision`` (or ``None``).

  Returns:
    ``[B, H, W, Cout]``.
  """
  if platform_tuning.custom_conv_vjp():
    return conv2d_same(x, kernel, precision)
  return _forward(x, kernel, precision)


class ConvWeights(nn.Module):
  """The parameters of a :class:`Conv`, for a caller that applies them itself.

  Creates ``kernel`` ``[k, k, in_features, features]`` and ``bias``
  ``[features]`` exactly as :class:`Conv` does (names, order, initialisers),
  so a module built from these has :class:`Conv`'s parameter tree and, for
  equal RNGs, its values; the caller may then slice or stack kernels (see
  ``models.rdb.ResidualDenseBlock``).

  Attributes:
    features: output channels.
    kernel_size: ``k`` (odd).
    param_dtype: parameter dtype.
    kernel_init: kernel initialiser.
    bias_init: bias initialiser.
  """

  features: int
  kernel_size: int
  param_dtype: Any = jnp.float32
  kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
  bias_init: Callable[..., jax.Array] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array]:
    """Returns ``(kernel, bias)`` for ``in_features`` input channels."""
    k = self.kernel_size
    kernel = self.param(
      "kernel",
      self.kernel_init,
      (k, k, in_features, self.features),
      self.param_dtype,
    )
    bias = self.param(
      "bias", self.bias_init, (self.features,), self.param_dtype
    )
    return kernel, bias


class KernelConv(nn.Module):
  """:func:`apply_conv` with a kernel the caller passes: no parameters.

  A module rather than a function so that method interceptors see every
  spatial convolution of a model, as they see :class:`Conv`'s (the
  inference layer masks the input of each; ``sr_jax.inference``).

  Attributes:
    kernel_size: ``k`` of the ``[k, k, Cin, Cout]`` kernels it is given.
  """

  kernel_size: int

  def __call__(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Convolves ``x`` ``[B, H, W, Cin]`` with ``kernel`` ('SAME')."""
    if kernel.shape[:2] != (self.kernel_size, self.kernel_size):
      raise ValueError(
        f"KernelConv: kernel_size {self.kernel_size}, got kernel {kernel.shape}"
      )
    return apply_conv(x, kernel)


class Conv(nn.Module):
  """``nn.Conv`` for square odd kernels, stride 1, 'SAME' padding, NHWC.

  Same parameters as ``nn.Conv`` (``kernel`` ``[k, k, Cin, features]`` and
  ``bias`` ``[features]``, created in the same order with the same
  initialisers, so equal RNGs give equal values), same dtype promotion and
  the same forward result; only the backward pass differs (it is faster,
  see :func:`conv2d_same`).

  Unlike ``nn.Conv``, an integer ``kernel_size`` means a square 2-D kernel
  (``nn.Conv`` would read it as a 1-D one).

  Attributes:
    features: output channels.
    kernel_size: ``k`` or ``(k, k)`` with odd ``k``.
    padding: only ``'SAME'``, accepted for signature compatibility.
    use_bias: whether to add a bias.
    dtype: compute dtype (``None``: promote inputs and parameters).
    param_dtype: parameter dtype.
    precision: ``lax.Precision`` for the convolution and its gradients.
    kernel_init: kernel initialiser (``nn.Conv``'s default).
    bias_init: bias initialiser (``nn.Conv``'s default).
  """

  features: int
  kernel_size: int | Sequence[int]
  padding: str = "SAME"
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  precision: Any = None
  kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
  bias_init: Callable[..., jax.Array] = nn.initializers.zeros_init()

  def _square_kernel_size(self) -> int:
    size = self.kernel_size
    if isinstance(size, int):
      size = (size, size)
    size = tuple(size)
    if len(size) != 2 or size[0] != size[1] or size[0] % 2 != 1:
      raise ValueError(
        f"Conv: kernel_size must be a square odd 2-D size, got "
        f"{self.kernel_size!r}"
      )
    return size[0]

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """Applies the convolution.

    Args:
      inputs: ``[*batch, H, W, Cin]``; no batch axis or several are
        allowed, as with ``nn.Conv``.

    Returns:
      ``[*batch, H, W, features]``.

    Raises:
      ValueError: on an unsupported ``kernel_size`` or ``padding``, or an
        input with fewer than three axes.
    """
    k = self._square_kernel_size()
    if self.padding != "SAME":
      raise ValueError(f"Conv: only 'SAME' padding, got {self.padding!r}")
    if inputs.ndim < 3:
      raise ValueError(f"Conv: expected [*batch, H, W, C], got {inputs.shape}")
    batch_shape = inputs.shape[:-3]
    x = inputs.reshape((-1,) + inputs.shape[-3:])

    kernel = self.param(
      "kernel",
      self.kernel_init,
      (k, k, x.shape[-1], self.features),
      self.param_dtype,
    )
    bias = (
      self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      if self.use_bias
      else None
    )
    x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = apply_conv(x, kernel, self.precision)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])
