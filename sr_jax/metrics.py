"""PSNR and SSIM exactly as the published SR tables compute them.

See ``docs/protocol.md`` for the full protocol. In
short, both images are uint8, converted to the BT.601 luma Y on the 0-255 scale,
``crop_border`` pixels are shaved from every side, and

* PSNR = 10 log10(255^2 / MSE) per image (tables average over images);
* SSIM is Wang et al.'s index with an 11x11 Gaussian window (sigma 1.5),
  C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, "valid" filtering, mean of the map.

Two conventions coexist in the literature and differ in two details:

``basicsr`` (BasicSR, SwinIR, IMDN, HAT; our default)
  Y is a float and is not rounded; a single-channel image is read as three
  equal channels, so its Y is ``16 + 219/255 * v``.
``matlab`` (RDN, RCAN, EDSR's MATLAB scripts)
  ``rgb2ycbcr`` on uint8 rounds Y to integers; a single-channel image is kept
  as it is (Y = v) when both images are single-channel. When one image is
  single-channel and the other RGB, the grey one is expanded to three channels
  first so both go through ``rgb2ycbcr`` (comparing Y = v against a rounded
  BT.601 Y would measure the colour conversion, not the SR).
"""

from typing import Literal

import jax.numpy as jnp
import numpy as np

from sr_jax import color

Convention = Literal["basicsr", "matlab"]
CONVENTIONS = ("basicsr", "matlab")


def _check_pair(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> None:
  for name, img in (("sr", sr), ("hr", hr)):
    if img.dtype != np.uint8:
      raise TypeError(f"{name} must be uint8, got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
      raise ValueError(f"{name} must be HxW or HxWx{{1,3}}, got {img.shape}")
  if sr.shape[:2] != hr.shape[:2]:
    raise ValueError(f"sr {sr.shape} and hr {hr.shape} differ in size")
  if crop_border < 0 or 2 * crop_border >= min(hr.shape[:2]):
    raise ValueError(f"crop_border={crop_border} too large for {hr.shape}")


def _is_gray(img: np.ndarray) -> bool:
  return img.ndim == 2 or img.shape[2] == 1


def to_y_pair(
  sr: np.ndarray, hr: np.ndarray, *, convention: Convention = "basicsr"
) -> tuple[np.ndarray, np.ndarray]:
  """Converts a uint8 (sr, hr) pair to float64 Y on the 0-255 scale.

  Args:
    sr: uint8 ``[H, W]`` or ``[H, W, C]``, C in {1, 3}.
    hr: same size as ``sr``.
    convention: ``"basicsr"`` or ``"matlab"`` (see the module docstring).

  Returns:
    ``(y_sr, y_hr)``, float64 ``[H, W]``.
  """
  if convention not in CONVENTIONS:
    raise ValueError(
      f"convention must be one of {CONVENTIONS}, got {convention!r} "
      "(set --config.eval.convention)"
    )
  if convention == "matlab" and _is_gray(sr) and _is_gray(hr):
    return (
      sr.reshape(sr.shape[:2]).astype(np.float64),
      hr.reshape(hr.shape[:2]).astype(np.float64),
    )
  ys = []
  for img in (sr, hr):
    y = color.rgb_to_y(color.gray_to_rgb(img).astype(np.float64) / 255.0)
    if convention == "matlab":
      # MATLAB's rgb2ycbcr on uint8 returns uint8: Y is rounded (half away
      # from zero; Y is positive so floor(y + 0.5) is the same).
      y = np.floor(y + 0.5)
    ys.append(y)
  return ys[0], ys[1]


def _shave(img: np.ndarray, border: int) -> np.ndarray:
  return img[border : img.shape[0] - border, border : img.shape[1] - border]


def psnr(
  sr: np.ndarray,
  hr: np.ndarray,
  *,
  crop_border: int,
  convention: Convention = "basicsr",
) -> float:
  """Y-channel PSNR in dB of two uint8 images, per the SR protocol.

  Args:
    sr: the super-resolved image, uint8 ``[H, W]`` or ``[H, W, C]``; callers
      clip and round the network output to uint8 first (that is part of the
      protocol).
    hr: the ground truth, uint8, same height and width.
    crop_border: pixels shaved from every side (the scale, by convention).
    convention: ``"basicsr"`` (default) or ``"matlab"``.

  Returns:
    PSNR in dB (``inf`` for identical images).
  """
  _check_pair(sr, hr, crop_border)
  y_sr, y_hr = to_y_pair(sr, hr, convention=convention)
  diff = _shave(y_sr, crop_border) - _shave(y_hr, crop_border)
  mse = np.mean(diff**2)
  if mse == 0:
    return float("inf")
  return float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  g = np.exp(-(x**2) / (2.0 * sigma**2))
  return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
  """Separable 'valid' correlation with the 1-D kernel ``g`` on both axes."""
  k = len(g)
  rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ g
  return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g


def _ssim_y(a: np.ndarray, b: np.ndarray) -> float:
  c1 = (0.01 * 255) ** 2
  c2 = (0.03 * 255) ** 2
  g = _gaussian_window()
  mu_a = _filter_valid(a, g)
  mu_b = _filter_valid(b, g)
  var_a = _filter_valid(a * a, g) - mu_a**2
  var_b = _filter_valid(b * b, g) - mu_b**2
  cov = _filter_valid(a * b, g) - mu_a * mu_b
  ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
    (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
  )
  return float(ssim_map.mean())


def ssim(sr, hr, *, crop_border: int, convention: Convention = "basicsr"):
  """Y-channel SSIM (a float) of two uint8 images, as MATLAB's ``ssim_index``.

  Args:
    sr: uint8 ``[H, W]`` or ``[H, W, C]`` array.
    hr: uint8 array, same height and width.
    crop_border: pixels shaved from every side before the 11x11 valid window.
    convention: ``"basicsr"`` (default) or ``"matlab"``.

  Returns:
    The mean of the SSIM map.
  """
  _check_pair(sr, hr, crop_border)
  y_sr, y_hr = to_y_pair(sr, hr, convention=convention)
  a = _shave(y_sr, crop_border)
  b = _shave(y_hr, crop_border)
  if min(a.shape) < 11:
    raise ValueError(f"image {a.shape} after crop is smaller than the window")
  return _ssim_y(a, b)


def to_uint8(images) -> np.ndarray:
  """Clips float images in [0, 1] and rounds them to uint8, as the protocol says."""
  return np.asarray(
    np.floor(np.clip(np.asarray(images, np.float64), 0.0, 1.0) * 255.0 + 0.5),
    dtype=np.uint8,
  )


def psnr_jax(sr: jnp.ndarray, hr: jnp.ndarray, *, crop_border: int = 0):
  """A jit-able PSNR for training summaries (not the reported metric).

  It skips the uint8 rounding and, for RGB input, scores the BT.601 Y; use
  :func:`psnr` for any number that goes into a table.

  Args:
    sr: ``[B, H, W, C]`` float in [0, 1] (clipped here), C in {1, 3}.
    hr: ``[B, H, W, C]`` float in [0, 1].
    crop_border: pixels shaved from every side.

  Returns:
    ``[B]`` PSNR in dB on the 0-255 scale of Y (C=3) or of the channel (C=1).
  """
  sr = jnp.clip(sr, 0.0, 1.0)
  if sr.shape[-1] == 3:
    sr = color.rgb_to_y(sr)
    hr = color.rgb_to_y(hr)
  else:
    sr = sr[..., 0] * 255.0
    hr = hr[..., 0] * 255.0
  if crop_border:
    sr = sr[:, crop_border:-crop_border, crop_border:-crop_border]
    hr = hr[:, crop_border:-crop_border, crop_border:-crop_border]
  mse = jnp.mean((sr - hr) ** 2, axis=(1, 2))
  return 10.0 * jnp.log10(255.0**2 / jnp.maximum(mse, 1e-10))
