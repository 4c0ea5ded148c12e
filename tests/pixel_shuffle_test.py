"""Tests for sr_jax/models/pixel_shuffle.py."""

import numpy as np
import pytest

from sr_jax.models.pixel_shuffle import pixel_shuffle, pixel_unshuffle


def _reference_shuffle(x: np.ndarray, r: int) -> np.ndarray:
  """PyTorch PixelShuffle in NHWC, one element at a time.

  out[b, h*r + i, w*r + j, c] = in[b, h, w, c*r*r + i*r + j].
  """
  b, h, w, cin = x.shape
  c_out = cin // (r * r)
  out = np.zeros((b, h * r, w * r, c_out), x.dtype)
  for hh in range(h):
    for ww in range(w):
      for c in range(c_out):
        for i in range(r):
          for j in range(r):
            out[:, hh * r + i, ww * r + j, c] = x[
              :, hh, ww, c * r * r + i * r + j
            ]
  return out


@pytest.mark.parametrize("r", [2, 3])
@pytest.mark.parametrize("out_channels", [1, 3, 4])
def test_matches_pytorch_channel_order(r, out_channels):
  rng = np.random.default_rng(r * 10 + out_channels)
  # Non-square and batch > 1, so that a swapped axis cannot pass unnoticed.
  x = rng.standard_normal((2, 3, 5, out_channels * r * r)).astype(np.float32)
  got = np.asarray(pixel_shuffle(x, r))
  assert got.shape == (2, 3 * r, 5 * r, out_channels)
  np.testing.assert_array_equal(got, _reference_shuffle(x, r))


@pytest.mark.parametrize("r", [2, 3])
def test_unshuffle_inverts_shuffle(r):
  rng = np.random.default_rng(r)
  lr = rng.standard_normal((2, 4, 3, 3 * r * r)).astype(np.float32)
  hr = rng.standard_normal((2, 4 * r, 3 * r, 3)).astype(np.float32)
  np.testing.assert_array_equal(
    np.asarray(pixel_unshuffle(pixel_shuffle(lr, r), r)), lr
  )
  np.testing.assert_array_equal(
    np.asarray(pixel_shuffle(pixel_unshuffle(hr, r), r)), hr
  )


def test_shuffle_rejects_channels_not_multiple_of_r_squared():
  with pytest.raises(ValueError, match="not a multiple of upscale"):
    pixel_shuffle(np.zeros((1, 2, 2, 10), np.float32), 3)


def test_unshuffle_rejects_indivisible_size():
  with pytest.raises(ValueError, match="not divisible"):
    pixel_unshuffle(np.zeros((1, 7, 6, 3), np.float32), 2)
