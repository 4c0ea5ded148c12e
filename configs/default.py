"""Defaults shared by every sr_jax config; the other files override a few keys.

The default run trains ESPCN-RDB at x3 on the T91 images shipped in ``data/``
and evaluates on the shipped Set5 and Set14, so a fresh clone runs with no
download:

  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3

Any key can be overridden on the command line, e.g.
``--config.total_steps=200 --config.eval.datasets=Set5``.
"""

import os

import ml_collections

# The data shipped with the repository (Set5, Set14, T91).
REPO_DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")


def get_config() -> ml_collections.ConfigDict:
  """The default configuration (ESPCN-RDB, x3, Y channel, T91)."""
  config = ml_collections.ConfigDict()
  config.scale = 3
  config.seed = 0
  # Weights to evaluate instead of a checkpoint (--mode=evaluate), e.g. the
  # official IMDN .npz files or a model-zoo file.
  config.pretrained = ""
  # Weights to start training from (a zoo name, a weights file or a run
  # directory); the optimizer and the learning-rate schedule start anew.
  config.init_from = ""

  config.model = ml_collections.ConfigDict()
  config.model.name = "espcn_rdb"  # espcn | espcn_rdb | rdn | imdn
  config.model.channels = 1  # 1: Y (BT.601 luma), 3: RGB
  config.model.width = 64
  config.model.num_blocks = 4
  config.model.num_layers = 4
  config.model.growth = 32
  # espcn_rdb: predict the residual over a bicubic upsampling of the input.
  config.model.image_residual = True
  config.model.dtype = "float32"  # compute dtype; params stay float32

  config.data = ml_collections.ConfigDict()
  # Comma-separated folders of HR images under train_dir, built into TFDS.
  config.data.train_sets = "T91"
  config.data.train_dir = os.path.join(REPO_DATA, "train")
  config.data.tfds_data_dir = ""  # '' = ~/tensorflow_datasets
  config.data.dataset = "image_folder"  # image_folder | div2k | imagenet_sr
  # Comma-separated file names never trained on (held-out showcase images).
  config.data.exclude = ""
  config.data.lr_patch_size = 16
  # Pairs per image per epoch: an epoch is (images x this) pairs, each image
  # giving exactly this many, spread over the epoch.
  config.data.patches_per_image = 16
  config.data.augment = True
  # True: hold the decoded images in memory (small sets); False: hold only
  # the encoded files and decode each pair's region (large JPEG sets).
  config.data.cache = True
  # by_batch: every process holds all images and makes its rows of the
  # global batch, so batches do not depend on the process count; by_file:
  # each process holds only its share of the images (for very large sets),
  # and its rows draw from them.
  config.data.host_sharding = "by_batch"
  # LR degradations (sr_jax/pipeline/degradations.py), before the flips;
  # all off by default, so the pairs stay benchmark-exact. Kernel: drawn
  # per example from the comma-separated lr_kernels (matlab, box,
  # bilinear, bicubic, lanczos; the last four as Pillow resizes), with
  # lr_kernel_weights (() = uniform); a blur_fraction of the non-matlab
  # examples are first blurred by a Gaussian, sigma from blur_sigma in HR
  # pixels, anisotropic for a blur_anisotropic_fraction of them. Noise:
  # Gaussian, its sigma drawn per example from [lo, hi] in 0..255 units,
  # for all but a noise_clean_fraction. JPEG: a quality drawn per example
  # from [lo, hi], e.g. (30, 95), for all but a jpeg_clean_fraction.
  config.data.lr_kernels = "matlab"
  config.data.lr_kernel_weights = ()
  config.data.blur_fraction = 0.0
  config.data.blur_sigma = (0.2, 1.0)
  config.data.blur_anisotropic_fraction = 0.0
  config.data.noise_sigma = ()
  config.data.noise_clean_fraction = 0.0
  config.data.jpeg_quality = ()
  config.data.jpeg_clean_fraction = 0.0

  config.batch_size = 16  # global batch, split over all devices
  config.total_steps = 20_000
  config.loss = "l1"  # l1 | mse
  config.ema_decay = 0.0  # 0 disables the EMA of the params

  config.optim = ml_collections.ConfigDict()
  config.optim.learning_rate = 1e-3
  config.optim.schedule = "cosine"  # constant | cosine | step
  config.optim.warmup_steps = 0
  config.optim.decay_every = 0  # for "step": halve the rate every N steps
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999

  # Optimizer steps per compiled call; 0 picks per backend (4 on CPU, where
  # it was measured faster, else 1). Hooks still run at their exact steps.
  config.steps_per_call = 0
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 3

  config.eval = ml_collections.ConfigDict()
  config.eval.datasets = "Set5,Set14"  # folders under data_dir, or paths
  config.eval.data_dir = os.path.join(REPO_DATA, "eval")
  config.eval.convention = "basicsr"  # basicsr | matlab
  config.eval.every_steps = 500
  config.eval.num_figures = 2  # comparison figures per dataset
  config.eval.max_images = 0  # 0 = all
  # > 0: each protocol LR image is saved as a JPEG of this quality (4:2:0,
  # Pillow) and decoded before the model and bicubic see it.
  config.eval.lr_jpeg_quality = 0
  # How the LR is made from the modcropped HR: matlab (the protocol's
  # bicubic) or Pillow's box, bilinear, bicubic or lanczos resize; before
  # the JPEG above. Results of another kernel go to
  # results_<step>_<kernel>[_jpeg<q>].json.
  config.eval.lr_kernel = "matlab"
  # True: --mode=evaluate scores the x8 geometric self-ensemble (the "+" rows
  # of published tables) into results_<step>[_jpeg<q>]_x8.json. Training
  # evaluations ignore it.
  config.eval.self_ensemble = False
  return config
