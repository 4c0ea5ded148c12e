"""Tests for sr_jax/metrics.py, including the published bicubic rows."""

import os

import numpy as np
import pytest
from conftest import REPO_DATA, require_shared

from sr_jax import image_io, imresize, metrics


def _reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
  """Direct 2-D summation with MATLAB's fspecial('gaussian', 11, 1.5)."""
  x = np.arange(11) - 5.0
  k = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
  k /= k.sum()
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  h, w = a.shape
  vals = []
  for i in range(h - 10):
    for j in range(w - 10):
      pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
      ma, mb = (k * pa).sum(), (k * pb).sum()
      va = (k * pa * pa).sum() - ma**2
      vb = (k * pb * pb).sum() - mb**2
      cov = (k * pa * pb).sum() - ma * mb
      vals.append(
        ((2 * ma * mb + c1) * (2 * cov + c2))
        / ((ma**2 + mb**2 + c1) * (va + vb + c2))
      )
  return float(np.mean(vals))


def test_psnr_of_known_error():
  hr = np.full((20, 20), 100, np.uint8)
  sr = hr.copy()
  sr[5:15, 5:15] = 110  # grey, matlab convention: Y = v, error 10 on 100 px
  mse = 100 * 10**2 / (14 * 14)  # crop_border 3 leaves 14x14
  expected = 10 * np.log10(255**2 / mse)
  got = metrics.psnr(sr, hr, crop_border=3, convention="matlab")
  assert got == pytest.approx(expected, abs=1e-9)
  # basicsr reads grey as three equal channels: Y error is 219/255 of it.
  got_b = metrics.psnr(sr, hr, crop_border=3, convention="basicsr")
  assert got_b == pytest.approx(expected + 20 * np.log10(255 / 219), abs=1e-9)


def test_identical_images():
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
  assert metrics.psnr(img, img, crop_border=2) == float("inf")
  assert metrics.ssim(img, img, crop_border=2) == pytest.approx(1.0)


def test_matlab_rounds_y():
  rng = np.random.default_rng(1)
  hr = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
  sr = np.clip(hr.astype(int) + rng.integers(-3, 4, hr.shape), 0, 255)
  sr = sr.astype(np.uint8)
  y_sr, y_hr = metrics.to_y_pair(sr, hr, convention="matlab")
  np.testing.assert_array_equal(y_sr, np.round(y_sr))
  yb_sr, _ = metrics.to_y_pair(sr, hr, convention="basicsr")
  assert np.any(yb_sr != np.round(yb_sr))
  np.testing.assert_allclose(y_sr, np.floor(yb_sr + 0.5))


def test_ssim_matches_direct_summation():
  rng = np.random.default_rng(2)
  hr = rng.integers(0, 256, (30, 28, 3), dtype=np.uint8)
  noise = rng.integers(-20, 21, hr.shape)
  sr = np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8)
  for conv in metrics.CONVENTIONS:
    y_sr, y_hr = metrics.to_y_pair(sr, hr, convention=conv)
    expected = _reference_ssim(y_sr[2:-2, 2:-2], y_hr[2:-2, 2:-2])
    got = metrics.ssim(sr, hr, crop_border=2, convention=conv)
    assert got == pytest.approx(expected, abs=1e-12)
    assert got < 0.99


def test_bad_input():
  img = np.zeros((20, 20, 3), np.uint8)
  with pytest.raises(TypeError, match="uint8"):
    metrics.psnr(img.astype(np.float32), img, crop_border=2)
  with pytest.raises(ValueError, match="differ in size"):
    metrics.psnr(img[:10], img, crop_border=2)
  with pytest.raises(ValueError, match="convention"):
    metrics.psnr(img, img, crop_border=2, convention="opencv")


def test_to_uint8_clips_and_rounds():
  x = np.array([-0.1, 0.0, 0.5 / 255, 1.49 / 255, 1.0, 1.2])
  np.testing.assert_array_equal(metrics.to_uint8(x), [0, 0, 1, 1, 255, 255])


def test_psnr_jax_agrees_with_float_psnr():
  rng = np.random.default_rng(3)
  hr = rng.random((2, 16, 16, 3)).astype(np.float32)
  sr = np.clip(hr + rng.normal(0, 0.02, hr.shape), 0, 1).astype(np.float32)
  got = np.asarray(metrics.psnr_jax(sr, hr, crop_border=2))
  for b in range(2):
    y_sr = 16 + sr[b] @ np.array([65.481, 128.553, 24.966])
    y_hr = 16 + hr[b] @ np.array([65.481, 128.553, 24.966])
    mse = np.mean((y_sr - y_hr)[2:-2, 2:-2] ** 2)
    assert got[b] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-3)


# Bicubic x3 rows measured by an independent implementation (docs/protocol.md).
_BICUBIC_X3 = {
  "basicsr": {
    "Set5": (30.403, 0.8689),
    "Set14": (27.631, 0.7759),
    "BSD100": (27.209, 0.7391),
  },
  "matlab": {
    "Set5": (30.385, 0.8678),
    "Set14": (27.530, 0.7737),
    "BSD100": (27.202, 0.7382),
  },
}


def _bicubic_scores(folder: str, scale: int):
  scores = {c: [] for c in metrics.CONVENTIONS}
  for path in image_io.list_images(folder):
    hr = imresize.modcrop(image_io.read_image(path), scale)
    bic = imresize.imresize(imresize.imresize(hr, 1 / scale), scale)
    for c in metrics.CONVENTIONS:
      kw = dict(crop_border=scale, convention=c)
      scores[c].append(
        (metrics.psnr(bic, hr, **kw), metrics.ssim(bic, hr, **kw))
      )
  return {c: np.mean(v, axis=0) for c, v in scores.items()}


@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100"])
def test_bicubic_x3_matches_published_protocol(name):
  if name == "BSD100":
    folder = os.path.join(require_shared("data", "eval"), name)
  else:
    folder = os.path.join(REPO_DATA, "eval", name)
  scores = _bicubic_scores(folder, 3)
  for conv, table in _BICUBIC_X3.items():
    psnr, ssim = scores[conv]
    exp_psnr, exp_ssim = table[name]
    assert abs(psnr - exp_psnr) <= 0.002, (conv, name, psnr)
    # The table gives SSIM to 4 decimals: within 0.0002 of it.
    assert abs(ssim - exp_ssim) <= 0.0002, (conv, name, ssim)
