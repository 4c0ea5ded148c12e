"""TFDS builders for the training images, and where they come from.

* :mod:`sr_jax.datasets.image_folder`: any folder of images (T91, BSD200,
  General100, ...) built offline into TFDS, stored losslessly as PNG.
* :mod:`sr_jax.datasets.imagenet_sr`: the ESPCN paper's ImageNet subset,
  selected deterministically from an ImageNet folder or a prepared
  ``imagenet2012``; :mod:`sr_jax.datasets.imagenet_files` reads the folders
  (ILSVRC CLS-LOC tree or flat) and their odd files,
  :mod:`sr_jax.datasets.imagenet_selection` applies the selection rule,
  :mod:`sr_jax.datasets.imagenet_log` records each build, and
  :mod:`sr_jax.datasets.prepare_imagenet` is its command line.
* :mod:`sr_jax.datasets.div2k`: DIV2K from the TFDS catalog, if prepared.

:mod:`sr_jax.datasets.reader` reads the training images of any of them, as
the training input pipeline needs them.

Importing a module registers its builder with TFDS.
"""
