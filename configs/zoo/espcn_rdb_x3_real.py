"""The zoo's ``espcn_rdb_x3_real``: one model for photos degraded unknown ways.

The ``espcn_rdb_x3`` network, trained on T91 + BSD200 + General100 +
ImageNet800 (the shared data's ``train/`` folders, 1,191 images less the
four README showcase photos held out) with a random degradation chain per
LR patch (``sr_jax.pipeline.degradations``):

* the downscaling kernel, drawn per patch: MATLAB bicubic (the benchmarks'
  exact LR) 25%, Pillow box (area) 25%, bilinear 25%, bicubic 5%, Lanczos
  20%; a tenth of the non-MATLAB patches are first blurred by a Gaussian of
  sigma 0.2..1.0 HR pixels, half of those anisotropic;
* Gaussian noise of sigma 1..5 (0..255 units) on a tenth of the patches;
* a JPEG round trip (4:2:0) of quality 30..95 on 65% of them.

It starts from the zoo's ``espcn_rdb_x3_jpeg`` (``config.init_from``) and
trains 24,000 steps with LR patches of 24 (72 HR) pixels, Adam from 5e-4,
cosine. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/zoo/espcn_rdb_x3_real.py \
    --workdir=/work/runs/x3_real

docs/zoo.md has its results on the degradation grid, CPU hours and the
export command.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  # espcn_rdb_x3's data, patches and optimizer, on the random chain.
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3_jpeg"
  config.data.lr_kernels = "matlab,box,bilinear,bicubic,lanczos"
  config.data.lr_kernel_weights = (0.25, 0.25, 0.25, 0.05, 0.2)
  config.data.blur_fraction = 0.1
  config.data.blur_sigma = (0.2, 1.0)
  config.data.blur_anisotropic_fraction = 0.5
  config.data.noise_sigma = (1.0, 5.0)
  config.data.noise_clean_fraction = 0.9
  config.data.jpeg_quality = (30, 95)
  config.data.jpeg_clean_fraction = 0.35
  config.total_steps = 24_000
  # Every 4,000-step checkpoint is kept: the curve on each cell of the
  # degradation grid is measured from them afterwards.
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 30
  config.eval.every_steps = 4000
  return config
