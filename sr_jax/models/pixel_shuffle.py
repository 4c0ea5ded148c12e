"""Sub-pixel convolution's rearrangement (Shi et al. 2016), in NHWC.

The channel order follows PyTorch's ``nn.PixelShuffle`` (and therefore the
official checkpoints we load): for an upscale factor ``r``, input channel
``c * r * r + i * r + j`` becomes output channel ``c`` at sub-pixel offset
``(i, j)``, where ``i`` is the row offset and ``j`` the column offset.

TensorFlow's ``tf.nn.depth_to_space`` in NHWC uses a different order
(``(i * r + j) * C + c``); the two agree only when ``C == 1``, which is why the
single-channel ESPCN graphs of OpenCV load without a permutation.
"""

import jax.numpy as jnp


def pixel_shuffle(x: jnp.ndarray, upscale: int) -> jnp.ndarray:
  """Rearranges ``[B, H, W, C * r * r]`` into ``[B, H * r, W * r, C]``.

  Args:
    x: features, ``[B, H, W, C * r * r]``.
    upscale: the factor ``r``.

  Returns:
    ``[B, H * r, W * r, C]`` with PyTorch ``PixelShuffle`` channel order.

  Raises:
    ValueError: if the channel count is not a multiple of ``r * r``.
  """
  b, h, w, c = x.shape
  r = upscale
  if c % (r * r):
    raise ValueError(
      f"pixel_shuffle: {c} channels is not a multiple of upscale**2 = {r * r}"
    )
  out_c = c // (r * r)
  x = x.reshape(b, h, w, out_c, r, r)
  # [B, H, i, W, j, C]: rows interleave with i, columns with j.
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * r, w * r, out_c)


def pixel_unshuffle(x: jnp.ndarray, downscale: int) -> jnp.ndarray:
  """The inverse of :func:`pixel_shuffle`: ``[B, H*r, W*r, C] -> [B, H, W, C*r*r]``."""
  b, hr, wr, c = x.shape
  r = downscale
  if hr % r or wr % r:
    raise ValueError(
      f"pixel_unshuffle: spatial size {hr}x{wr} not divisible by {r}"
    )
  x = x.reshape(b, hr // r, r, wr // r, r, c)
  x = x.transpose(0, 1, 3, 5, 2, 4)
  return x.reshape(b, hr // r, wr // r, c * r * r)
