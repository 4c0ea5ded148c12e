"""Experiment, not shipped: ``espcn_rdb_x3_jpeg`` tuned on qualities near 50.

``configs/zoo/espcn_rdb_x3_jpeg.py``'s network and data (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the
four README showcase photos), from the zoo's ``espcn_rdb_x3_jpeg``: 15,000
more steps on LR patches of 24, each saved as a JPEG of quality 30..75
(4:2:0) with probability 0.75, Adam warmed up over 500 steps to 2e-4, then
cosine, EMA 0.999. Why: the issue scored quality 50, and the zoo model
spends half its JPEG examples above 62. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/experiments/x3_jpeg_ft2.py \
    --workdir=/work/runs/x3_jpeg_ft2

Result: docs/experiments.md.
"""

from configs.zoo import espcn_rdb_x3_jpeg


def get_config():
  config = espcn_rdb_x3_jpeg.get_config()
  config.init_from = "espcn_rdb_x3_jpeg"
  config.data.jpeg_quality = (30, 75)
  config.data.jpeg_clean_fraction = 0.25
  config.optim.learning_rate = 2e-4
  config.optim.warmup_steps = 500
  config.ema_decay = 0.999
  config.total_steps = 15_000
  config.eval.every_steps = 5000
  config.checkpoint_every_steps = 1000
  return config
