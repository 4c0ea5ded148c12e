"""The optional LR degradations: kernel and blur, noise, then JPEG.

Off by default: with the defaults no degradation op is in the graph, so
the pairs are the benchmark-exact ones (:mod:`sr_jax.pipeline.geometry`).
The chain, each step with its own probability and its own seeds (turning
one on changes nothing else about the pairs):

1. the downscaling kernel, drawn per example from ``data.lr_kernels``:
   ``matlab`` (the benchmarks' exact MATLAB bicubic) or one of Pillow's
   ``box``, ``bilinear``, ``bicubic``, ``lanczos``
   (:mod:`sr_jax.pipeline.resampling`), the latter optionally after a
   Gaussian blur of the HR (``data.blur_fraction``, ``blur_sigma``,
   ``blur_anisotropic_fraction``); every kernel's LR crop equals that
   kernel's resize of the whole image;
2. Gaussian noise on the LR crop (``data.noise_sigma``,
   ``noise_clean_fraction``);
3. a JPEG round trip of the LR crop (``data.jpeg_quality``,
   ``jpeg_clean_fraction``); see :func:`degrade`.

A ``matlab`` example is never blurred: it stays exactly a benchmark pair,
so a chain that draws ``matlab`` keeps that share of the benchmark's own
degradation.
"""

import dataclasses

import ml_collections
import tensorflow as tf

from sr_jax.pipeline import geometry, resampling

LR_KERNELS = ("matlab", *resampling.KERNELS)


@dataclasses.dataclass(frozen=True)
class Degradation:
  """The optional LR degradations of ``config.data``; all off by default.

  Attributes:
    lr_kernels: the downscaling kernels drawn from (:data:`LR_KERNELS`);
      ``("matlab",)``, the default, is the benchmarks' exact path alone.
    lr_kernel_weights: their probabilities (normalised), or None: uniform.
    blur_fraction: the probability that a non-``matlab`` example's HR is
      blurred before its downscaling.
    blur_sigma: ``(lo, hi)``: the blur's standard deviations are drawn
      uniformly from ``[lo, hi]``, in HR pixels.
    blur_anisotropic_fraction: the probability that a blur is anisotropic
      (two standard deviations drawn independently, at an angle drawn from
      ``[0, pi)``); the others are isotropic.
    jpeg_quality: ``(lo, hi)``: each degraded example's JPEG quality is drawn
      uniformly from the integers in ``[lo, hi]`` (1 to 100); None: no JPEG.
    jpeg_clean_fraction: the probability that an example skips the JPEG.
    noise_sigma: ``(lo, hi)``: each example gets Gaussian noise with a
      standard deviation drawn uniformly from ``[lo, hi]``, in 0..255 pixel
      units; None: no noise.
    noise_clean_fraction: the probability that an example skips the noise.
  """

  lr_kernels: tuple[str, ...] = ("matlab",)
  lr_kernel_weights: tuple[float, ...] | None = None
  blur_fraction: float = 0.0
  blur_sigma: tuple[float, float] = (0.0, 0.0)
  blur_anisotropic_fraction: float = 0.0
  jpeg_quality: tuple[int, int] | None = None
  jpeg_clean_fraction: float = 0.0
  noise_sigma: tuple[float, float] | None = None
  noise_clean_fraction: float = 0.0

  @classmethod
  def from_config(cls, data: ml_collections.ConfigDict) -> "Degradation":
    """Reads and checks the degradation keys of ``config.data``.

    Each is optional (a config from before it means off); ``()`` or None
    means off for the ranges.

    Raises:
      ValueError: for an unknown kernel or a malformed range or fraction;
        the message names the ``--config.data.*`` flag.
    """
    kernels = _kernels(data)
    weights = tuple(data.get("lr_kernel_weights") or ()) or None
    if weights is not None and (
      len(weights) != len(kernels) or min(weights) < 0 or sum(weights) <= 0
    ):
      raise ValueError(
        f"--config.data.lr_kernel_weights={weights!r}: give one weight >= 0 "
        f"per kernel of --config.data.lr_kernels ({len(kernels)}), not all 0"
      )
    jpeg = data.get("jpeg_quality") or None
    if jpeg is not None:
      if len(jpeg) != 2 or not 1 <= jpeg[0] <= jpeg[1] <= 100:
        raise ValueError(
          f"--config.data.jpeg_quality={tuple(jpeg)!r}: give (lo, hi) with "
          "1 <= lo <= hi <= 100, or () for no JPEG"
        )
      jpeg = (int(jpeg[0]), int(jpeg[1]))
    return cls(
      lr_kernels=kernels,
      lr_kernel_weights=weights,
      blur_fraction=_fraction(data, "blur_fraction"),
      blur_sigma=_range(data, "blur_sigma", "HR pixels") or (0.0, 0.0),
      blur_anisotropic_fraction=_fraction(data, "blur_anisotropic_fraction"),
      jpeg_quality=jpeg,
      jpeg_clean_fraction=_fraction(data, "jpeg_clean_fraction"),
      noise_sigma=_range(data, "noise_sigma", "0..255 pixel units"),
      noise_clean_fraction=_fraction(data, "noise_clean_fraction"),
    )

  @property
  def active(self) -> bool:
    """Whether anything is done to the LR crops after the resize."""
    return self.jpeg_quality is not None or self.noise_sigma is not None

  @property
  def other_kernels(self) -> tuple[str, ...]:
    """The drawn kernels other than ``matlab`` (resized by Pillow's way)."""
    return tuple(k for k in self.lr_kernels if k != "matlab")

  @property
  def blur_radius(self) -> int:
    """The blur kernels' half side in HR pixels; 0 without a blur."""
    if self.blur_fraction == 0 or not self.other_kernels:
      return 0
    return resampling.blur_radius(self.blur_sigma[1])

  def lr_margin(self, scale: int) -> int:
    """LR context that keeps every kernel's crop equal to its full resize.

    At least the MATLAB path's (:func:`geometry.lr_margin`); larger with
    Lanczos or a blur, whose reach is longer.
    """
    margin = geometry.lr_margin(scale)
    if self.other_kernels:
      margin = max(
        margin,
        resampling.lr_margin(self.other_kernels, scale, self.blur_radius),
      )
    return margin


def _kernels(data: ml_collections.ConfigDict) -> tuple[str, ...]:
  value = data.get("lr_kernels", "matlab") or "matlab"
  names = tuple(n.strip() for n in str(value).split(",") if n.strip())
  unknown = [n for n in names if n not in LR_KERNELS]
  if unknown or len(set(names)) != len(names):
    raise ValueError(
      f"--config.data.lr_kernels={value!r}: give distinct names from "
      f"{', '.join(LR_KERNELS)}, comma-separated"
    )
  return names


def _fraction(data: ml_collections.ConfigDict, key: str) -> float:
  value = float(data.get(key, 0.0))
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"--config.data.{key}={value} is not in [0, 1]")
  return value


def _range(data: ml_collections.ConfigDict, key: str, unit: str):
  value = data.get(key) or None
  if value is None:
    return None
  if len(value) != 2 or not 0 <= value[0] <= value[1]:
    raise ValueError(
      f"--config.data.{key}={tuple(value)!r}: give (lo, hi) with "
      f"0 <= lo <= hi ({unit}), or () for none"
    )
  return (float(value[0]), float(value[1]))


def downscale_regions(
  hr_regions: tf.Tensor,
  draws: dict[str, tf.Tensor],
  degradation: Degradation,
  scale: int,
) -> tf.Tensor:
  """The LR of K HR regions, each by its drawn kernel (and blur).

  Args:
    hr_regions: ``uint8 [K, R*s, R*s, 3]``.
    draws: the batch's draws; ``kernel`` and ``blur`` where drawn.
    degradation: the chain.
    scale: ``s``.

  Returns:
    ``uint8 [K, R, R, 3]``: MATLAB's exact resize for ``matlab`` examples,
    Pillow's (:mod:`resampling`) of the blurred region for the others.
  """
  kernels = degradation.lr_kernels
  if kernels == ("matlab",):
    return geometry.resize_regions(hr_regions, scale)
  others = degradation.other_kernels
  # Index into ``others``; a matlab example's (clipped) row is replaced.
  index = draws["kernel"]
  to_other = [others.index(k) if k in others else 0 for k in kernels]
  other_index = tf.gather(tf.constant(to_other, tf.int32), index)
  x = tf.cast(hr_regions, tf.float32)
  if degradation.blur_radius:
    blur = draws["blur"]
    x = resampling.blur(
      x,
      resampling.gaussian_kernels(
        blur[:, 0], blur[:, 1], blur[:, 2], degradation.blur_radius
      ),
    )
  lr = tf.cast(
    resampling.downscale(x, other_index, names=others, scale=scale), tf.uint8
  )
  if "matlab" not in kernels:
    return lr
  is_matlab = tf.equal(index, kernels.index("matlab"))[:, None, None, None]
  return tf.where(is_matlab, geometry.resize_regions(hr_regions, scale), lr)


def jpeg_round_trip(image: tf.Tensor, quality: tf.Tensor) -> tf.Tensor:
  """JPEG-encodes ``image`` at ``quality`` and decodes it.

  Encodes with 4:2:0 chroma subsampling, as ``tf.io.encode_jpeg(...,
  chroma_downsampling=True)`` and most cameras and web images do (that op
  takes the quality as a fixed attribute; this one, a tensor, so it can vary
  per example); decodes with the accurate integer DCT, libjpeg's and PIL's
  default.

  Args:
    image: ``uint8 [H, W, 3]``.
    quality: ``int32`` scalar in ``[1, 100]``.

  Returns:
    ``uint8 [H, W, 3]``.
  """
  encoded = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=quality)
  decoded = tf.io.decode_jpeg(
    encoded, channels=3, dct_method="INTEGER_ACCURATE"
  )
  return tf.reshape(decoded, tf.shape(image))


def degrade(
  lr: tf.Tensor,
  draws: dict[str, tf.Tensor],
  degradation: Degradation,
) -> tf.Tensor:
  """Noise, then a JPEG round trip, on each clean LR crop.

  The JPEG encodes the LR crop itself, not its region: only the crop is
  exact (the region's margin is the resize of a cut-out, padded at its
  edges), so this keeps every degraded LR exactly ``JPEG(LR crop)``, the
  crop of the kernel's resize of the whole image. The 8x8 block grid then starts at the crop's corner, as a whole
  JPEG image's grid starts at the image's corner, where the network's input
  starts at inference; inside the patch the grid meets the convolutions'
  windows at every phase. Chroma is subsampled 4:2:0
  (:func:`jpeg_round_trip`), so an odd-sized crop's last chroma sample
  covers a partial 2x2 block, as at an image's edge.

  Args:
    lr: ``uint8 [K, p, p, 3]``.
    draws: the batch's draws (:meth:`sr_jax.pipeline.sampling.Sampler.draw`).
    degradation: what to apply.

  Returns:
    ``uint8 [K, p, p, 3]``.
  """
  names = [
    n for n in ("jpeg_quality", "noise_sigma", "noise_key") if n in draws
  ]

  def one(args):
    patch, d = args[0], dict(zip(names, args[1:], strict=True))
    if degradation.noise_sigma is not None:
      noise = d["noise_sigma"] * tf.random.stateless_normal(
        tf.shape(patch), seed=d["noise_key"]
      )
      noisy = tf.round(tf.cast(patch, tf.float32) + noise)
      patch = tf.cast(tf.clip_by_value(noisy, 0.0, 255.0), tf.uint8)
    if degradation.jpeg_quality is not None:
      quality = d["jpeg_quality"]
      patch = tf.cond(
        quality > 0,
        lambda: jpeg_round_trip(patch, quality),
        lambda: patch,
      )
    return patch

  return tf.map_fn(
    one,
    (lr, *(draws[n] for n in names)),
    fn_output_signature=tf.TensorSpec(lr.shape[1:], tf.uint8),
  )
