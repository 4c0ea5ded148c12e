"""TFDS builders for the training images.

* :mod:`sr_jax.datasets.image_folder`: any folder of images (T91, BSD200,
  General100, ...) built offline into TFDS, stored losslessly as PNG.
* :mod:`sr_jax.datasets.imagenet_sr`: the ESPCN paper's ImageNet subset,
  selected deterministically from a prepared ``imagenet2012``.

Importing a module registers its builder with TFDS.
"""
