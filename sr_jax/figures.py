"""Side-by-side comparison figures with a zoomed inset, for reports and TensorBoard.

The original ESPCN write-ups showed low-resolution, super-resolved and original
crops with a magnified patch; :func:`comparison` draws the same picture: one
panel per image, a box around the patch where the images differ most, and that
patch enlarged in the panel's lower-right corner.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sr_jax import color

_BOX_COLOR = (255, 40, 40)


def pick_patch(
  reference: np.ndarray, other: np.ndarray, *, size: int
) -> tuple[int, int]:
  """Top-left corner of the ``size`` square where ``other`` errs most.

  Args:
    reference: uint8 ``[H, W, 3]`` (e.g. the HR image).
    other: uint8, same shape (e.g. the bicubic upscale).
    size: patch side in pixels.

  Returns:
    ``(row, col)`` of the patch with the largest summed absolute error,
    searched on a coarse grid so it is cheap for large images.
  """
  err = np.abs(reference.astype(np.float32) - other.astype(np.float32))
  err = err.mean(axis=2)
  h, w = err.shape
  size = min(size, h, w)
  integral = np.pad(err.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
  step = max(1, size // 4)
  best, best_rc = -1.0, (0, 0)
  for r in range(0, h - size + 1, step):
    for c in range(0, w - size + 1, step):
      s = (
        integral[r + size, c + size]
        - integral[r, c + size]
        - integral[r + size, c]
        + integral[r, c]
      )
      if s > best:
        best, best_rc = s, (r, c)
  return best_rc


def comparison(
  panels: list[tuple[str, np.ndarray]],
  *,
  patch: tuple[int, int] | None = None,
  patch_size: int | None = None,
  zoom: int = 3,
) -> np.ndarray:
  """Draws labelled panels side by side, each with the same zoomed inset.

  Args:
    panels: ``(label, uint8 image)`` pairs, all the same height and width
      (e.g. bicubic, SR, HR). Grey images are drawn as RGB.
    patch: top-left of the inset's source square; picked where the first
      panel differs most from the last when None.
    patch_size: side of the source square; an eighth of the smaller image side
      (at least 16 pixels) when None.
    zoom: magnification of the inset (nearest neighbour, so pixels stay
      visible).

  Returns:
    uint8 ``[H + label height, n * W + gaps, 3]``.
  """
  images = [color.gray_to_rgb(np.asarray(img))[..., :3] for _, img in panels]
  h, w = images[0].shape[:2]
  if any(img.shape[:2] != (h, w) for img in images):
    raise ValueError("all panels must have the same size")
  if patch_size is None:
    patch_size = max(16, min(h, w) // 8)
  patch_size = min(patch_size, h, w)
  # Keep the enlarged inset within half of the panel.
  zoom = max(1, min(zoom, (min(h, w) // 2) // patch_size))
  if patch is None:
    patch = pick_patch(images[-1], images[0], size=patch_size)
  r, c = patch
  label_h, gap = 14, 4
  canvas = Image.new(
    "RGB", (len(images) * w + (len(images) - 1) * gap, h + label_h), "white"
  )
  draw = ImageDraw.Draw(canvas)
  font = ImageFont.load_default()
  inset = patch_size * zoom
  for i, ((label, _), img) in enumerate(zip(panels, images, strict=True)):
    x0 = i * (w + gap)
    canvas.paste(Image.fromarray(img), (x0, label_h))
    crop = Image.fromarray(img[r : r + patch_size, c : c + patch_size])
    crop = crop.resize((inset, inset), Image.Resampling.NEAREST)
    ix, iy = x0 + w - inset, label_h + h - inset
    canvas.paste(crop, (ix, iy))
    draw.rectangle((ix, iy, ix + inset - 1, iy + inset - 1), outline=_BOX_COLOR)
    draw.rectangle(
      (
        x0 + c,
        label_h + r,
        x0 + c + patch_size - 1,
        label_h + r + patch_size - 1,
      ),
      outline=_BOX_COLOR,
    )
    draw.text((x0 + 2, 1), label, fill=(0, 0, 0), font=font)
  return np.asarray(canvas)
