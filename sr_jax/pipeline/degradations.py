"""The optional LR degradations: Gaussian noise, then a JPEG round trip.

Off by default: with the defaults no degradation op is in the graph, so
the pairs are the benchmark-exact ones (:mod:`sr_jax.pipeline.geometry`).
After the exact resize and before the symmetry, the LR crop optionally gets
Gaussian noise (``data.noise_sigma``) and then a JPEG round trip
(``data.jpeg_quality``, ``data.jpeg_clean_fraction``); see :func:`degrade`.
Each draws from its own seeds, so turning one on changes nothing else about
the pairs, and a degraded LR is exactly the degradation of the clean,
benchmark-exact LR crop. A blur before the downsampling is not offered: the
blur's reach would add to the bicubic kernel's, widening the LR margin (and
the smallest usable image) that keeps the resize exact.
"""

import dataclasses

import ml_collections
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Degradation:
  """The optional LR degradations of ``config.data``; all off by default.

  Attributes:
    jpeg_quality: ``(lo, hi)``: each degraded example's JPEG quality is drawn
      uniformly from the integers in ``[lo, hi]`` (1 to 100); None: no JPEG.
    jpeg_clean_fraction: the probability that an example skips the JPEG.
    noise_sigma: ``(lo, hi)``: each example gets Gaussian noise with a
      standard deviation drawn uniformly from ``[lo, hi]``, in 0..255 pixel
      units; None: no noise.
  """

  jpeg_quality: tuple[int, int] | None = None
  jpeg_clean_fraction: float = 0.0
  noise_sigma: tuple[float, float] | None = None

  @classmethod
  def from_config(cls, data: ml_collections.ConfigDict) -> "Degradation":
    """Reads and checks ``data.jpeg_quality``, ``jpeg_clean_fraction`` and
    ``noise_sigma`` (each optional; ``()`` or None means off).

    Raises:
      ValueError: for a malformed range or fraction.
    """
    jpeg = data.get("jpeg_quality") or None
    if jpeg is not None:
      if len(jpeg) != 2 or not 1 <= jpeg[0] <= jpeg[1] <= 100:
        raise ValueError(
          f"--config.data.jpeg_quality={tuple(jpeg)!r}: give (lo, hi) with "
          "1 <= lo <= hi <= 100, or () for no JPEG"
        )
      jpeg = (int(jpeg[0]), int(jpeg[1]))
    clean = float(data.get("jpeg_clean_fraction", 0.0))
    if not 0.0 <= clean <= 1.0:
      raise ValueError(
        f"--config.data.jpeg_clean_fraction={clean} is not in [0, 1]"
      )
    noise = data.get("noise_sigma") or None
    if noise is not None:
      if len(noise) != 2 or not 0 <= noise[0] <= noise[1]:
        raise ValueError(
          f"--config.data.noise_sigma={tuple(noise)!r}: give (lo, hi) with "
          "0 <= lo <= hi (0..255 pixel units), or () for no noise"
        )
      noise = (float(noise[0]), float(noise[1]))
    return cls(jpeg_quality=jpeg, jpeg_clean_fraction=clean, noise_sigma=noise)

  @property
  def active(self) -> bool:
    return self.jpeg_quality is not None or self.noise_sigma is not None


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
  exact (the region's margin is the resize of a cut-out, mirror-padded at
  its edges), so this keeps every degraded LR exactly ``JPEG(benchmark LR
  crop)``. The 8x8 block grid then starts at the crop's corner, as a whole
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
