"""Experiment, not shipped: ``espcn_rdb_x3`` trained on larger patches.

``configs/zoo/espcn_rdb_x3.py``'s network and data (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the
four README showcase photos), from the zoo's ``espcn_rdb_x3``, 8,000 more
steps on LR patches of 48 (144 HR) pixels, Adam from 2e-4, cosine, EMA
0.999. Why: an output pixel sees 21 LR pixels on each side, so on 24-pixel
patches nearly every output sees the patch's zero padding. Images too small
for a pair are left out, each with a warning. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/experiments/x3_zoo_p48.py \
    --workdir=/work/runs/x3_zoo_p48

Result and CPU hours: docs/experiments.md.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3"
  config.data.lr_patch_size = 48
  config.optim.learning_rate = 2e-4
  config.ema_decay = 0.999
  config.total_steps = 8_000
  config.eval.every_steps = 2000
  config.checkpoint_every_steps = 500
  return config
