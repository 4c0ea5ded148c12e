"""The parts of the training input, in the order an example passes them.

:func:`sr_jax.input_pipeline.create_train_dataset` assembles them; the
records come from :mod:`sr_jax.datasets.reader`.

* :mod:`~sr_jax.pipeline.image_store`: the training images in memory,
  decoded or encoded, by number.
* :mod:`~sr_jax.pipeline.sampling`: stateless keys, and the draws (image,
  crop position, symmetry, degradations) of each row of each step.
* :mod:`~sr_jax.pipeline.geometry`: the crop, the HR region around it whose
  resize makes the LR crop benchmark-exact, and the symmetries.
* :mod:`~sr_jax.pipeline.degradations`: the optional chain: a kernel drawn
  per example (and a blur), noise and JPEG on the LR.
* :mod:`~sr_jax.pipeline.resampling`: Pillow's shrinking kernels and the
  blur, batched in TF, one kernel per example.
* :mod:`~sr_jax.pipeline.host_plan`: which rows and images each process
  has, and the checks of the stream's arguments.
"""
