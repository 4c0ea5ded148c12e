"""Stateless keys, and the draws that decide each training example.

Stateless, row by row: row ``r`` of the global batch of step ``t`` is a
pure function of ``(config.seed, t, r)``: its image, crop position, symmetry
and degradations come from stateless TF random ops whose seeds are folded
from those three integers (:func:`_example_key`). Hence:

* each of N processes makes only its own ``B / N`` rows of each global batch
  of ``B``, and (with ``host_sharding=by_batch``,
  :mod:`sr_jax.pipeline.host_plan`) the global batch is the same bit for bit
  for any N;
* a stream that starts at step S is generated directly at S: resuming costs
  the same at step 10**6 as at step 10, with no batch replayed and no
  iterator state saved;
* there is no shuffle buffer (it would be state): the draws already
  mix the images within every batch.

Which image: with ``n`` images and ``K = data.patches_per_image``, an
epoch is ``n * K`` pairs. Pair ``g = t * B + r`` is slot ``g mod nK`` of
epoch ``g div nK``; a stateless permutation of the epoch's slots, seeded by
``(seed, epoch)`` (``tf.random.experimental.index_shuffle``: O(1) per pair,
nothing materialised, so it works for ImageNet's 50,000 images as for T91's
91), maps the slot to image ``slot div K``. So every image gives exactly K
pairs per epoch, as with the classic "K crops per image visit", but the K
pairs are spread over the epoch. A plain uniform draw per pair would be as
cheap, but within an epoch it leaves some images out and repeats others.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from sr_jax.pipeline import degradations, geometry

# Purposes of the per-example draws. Each folds its own constant into the
# example's key, so a new kind of draw (a degradation) changes no other.
_DRAW_CROP = 1
_DRAW_SYMMETRY = 2
_DRAW_JPEG_CLEAN = 3
_DRAW_JPEG_QUALITY = 4
_DRAW_NOISE_SIGMA = 5
_DRAW_NOISE = 6
_DRAW_KERNEL = 7
_DRAW_BLUR = 8
_DRAW_NOISE_CLEAN = 9


def root_key(seed: int, *words: int) -> tuple[int, int]:
  """An ``int64 [2]`` key from ``config.seed``; ``words`` name a stream.

  The examples' keys (:func:`_example_key`) grow from ``root_key(seed)``,
  the image order's from ``root_key(seed, 1, salt)``, so the two never
  share a seed.
  """
  state = np.random.SeedSequence([int(seed) % 2**32, *words])
  return tuple(int(v) for v in state.generate_state(2, dtype=np.uint32))


def _example_key(base: tf.Tensor, step: tf.Tensor, row: tf.Tensor):
  """The seed of every draw for row ``row`` of the global batch of ``step``.

  Args:
    base: ``int64 [2]``, ``root_key(config.seed)``.
    step: ``int64`` scalar.
    row: ``int64`` scalar in ``[0, config.batch_size)``.

  Returns:
    ``int64 [2]``, a seed for the stateless random ops.
  """
  fold = tf.random.experimental.stateless_fold_in
  return fold(fold(base, step), row)


def _draw_key(key: tf.Tensor, purpose: int) -> tf.Tensor:
  """The seed of one kind of draw (``_DRAW_*``) of an example."""
  return tf.random.experimental.stateless_fold_in(
    key, tf.constant(purpose, tf.int64)
  )


@dataclasses.dataclass(frozen=True)
class Sampler:
  """Draws all that decides one example, statelessly; fixed for a run.

  Attributes:
    base: the examples' root key, ``root_key(config.seed)``.
    order_base: the image order's, ``root_key(config.seed, 1, salt)``
      with salt 0 (by_batch) or 1 + the process index (by_file, where each
      process orders its own images).
    num_images: ``n``, the images rows draw from.
    pairs_per_image: ``K``; an epoch is ``n * K`` pairs.
    order_batch: pairs per step in the numbering of the image order: the
      global batch (by_batch) or the local one (by_file, own images).
    order_row0: the global row numbered 0 in that numbering.
    augment: draw a symmetry of the square.
    degradation: what else to draw.
  """

  base: tuple[int, int]
  order_base: tuple[int, int]
  num_images: int
  pairs_per_image: int
  order_batch: int
  order_row0: int
  augment: bool
  degradation: degradations.Degradation

  def image(self, pair: tf.Tensor) -> tf.Tensor:
    """The image of pair number ``pair`` (``int64``): see the module doc."""
    per_epoch = self.num_images * self.pairs_per_image
    epoch_key = tf.random.experimental.stateless_fold_in(
      tf.constant(self.order_base, tf.int64), pair // per_epoch
    )
    slot = tf.random.experimental.index_shuffle(
      pair % per_epoch,
      seed=epoch_key,
      max_index=tf.constant(per_epoch - 1, tf.int64),
    )
    return slot // self.pairs_per_image

  def draw(self, step: tf.Tensor, row: tf.Tensor) -> dict[str, tf.Tensor]:
    """Everything random about row ``row`` of step ``step``'s global batch.

    Returns:
      ``image`` (``int64``), ``bits`` (``int64 [2]``, the crop position as
      31-bit fractions of the image's range), and where enabled
      ``symmetry`` (``int32`` in ``[0, 8)``), ``kernel`` (``int32``, an
      index into ``degradation.lr_kernels``), ``blur`` (``float32 [3]``:
      the two standard deviations, 0 for no blur, and the angle),
      ``jpeg_quality`` (``int32``; 0 keeps the example clean),
      ``noise_sigma`` (``float32``; 0 for none) and ``noise_key``
      (``int64 [2]``).
    """
    key = _example_key(tf.constant(self.base, tf.int64), step, row)
    pair = step * self.order_batch + (row - self.order_row0)
    out = {
      "image": self.image(pair),
      "bits": tf.random.stateless_uniform(
        [2],
        seed=_draw_key(key, _DRAW_CROP),
        minval=0,
        maxval=2**geometry.POSITION_BITS,
        dtype=tf.int64,
      ),
    }
    if self.augment:
      out["symmetry"] = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_SYMMETRY), minval=0, maxval=8,
        dtype=tf.int32,
      )  # fmt: skip
    d = self.degradation
    out.update(_kernel_draws(key, d))
    if d.jpeg_quality is not None:
      lo, hi = d.jpeg_quality
      quality = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_JPEG_QUALITY), minval=lo,
        maxval=hi + 1, dtype=tf.int32,
      )  # fmt: skip
      clean = (
        tf.random.stateless_uniform([], seed=_draw_key(key, _DRAW_JPEG_CLEAN))
        < d.jpeg_clean_fraction
      )
      out["jpeg_quality"] = tf.where(clean, 0, quality)
    if d.noise_sigma is not None:
      lo, hi = d.noise_sigma
      sigma = tf.random.stateless_uniform(
        [], seed=_draw_key(key, _DRAW_NOISE_SIGMA), minval=lo, maxval=hi
      )
      if d.noise_clean_fraction > 0:
        clean = (
          tf.random.stateless_uniform(
            [], seed=_draw_key(key, _DRAW_NOISE_CLEAN)
          )
          < d.noise_clean_fraction
        )
        sigma = tf.where(clean, 0.0, sigma)
      out["noise_sigma"] = sigma
      out["noise_key"] = _draw_key(key, _DRAW_NOISE)
    return out


def _kernel_draws(
  key: tf.Tensor, d: degradations.Degradation
) -> dict[str, tf.Tensor]:
  """The example's downscaling kernel and blur; nothing for MATLAB alone."""
  if d.lr_kernels == ("matlab",):
    return {}
  out = {}
  weights = d.lr_kernel_weights or (1.0,) * len(d.lr_kernels)
  logits = tf.math.log(tf.constant([weights], tf.float32))
  out["kernel"] = tf.cast(
    tf.random.stateless_categorical(
      logits, 1, seed=_draw_key(key, _DRAW_KERNEL)
    )[0, 0],
    tf.int32,
  )
  if d.blur_radius:
    # [blurred?, anisotropic?, sigma 1, sigma 2, angle], all from one key.
    u = tf.random.stateless_uniform([5], seed=_draw_key(key, _DRAW_BLUR))
    lo, hi = d.blur_sigma
    s1 = lo + (hi - lo) * u[2]
    s2 = tf.where(u[1] < d.blur_anisotropic_fraction, lo + (hi - lo) * u[3], s1)
    on = u[0] < d.blur_fraction
    out["blur"] = tf.stack(
      [tf.where(on, s1, 0.0), tf.where(on, s2, 0.0), u[4] * np.pi]
    )
  return out
