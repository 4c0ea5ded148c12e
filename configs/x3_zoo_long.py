"""A candidate successor of the zoo's ``espcn_rdb_x3``: a longer schedule.

``configs/x3_zoo.py``'s network and data (T91 + BSD200 + General100 +
ImageNet800, the shared data's ``train/`` folders less the four README
showcase photos), starting from the zoo's ``espcn_rdb_x3`` (20,000 + 40,000
steps) and trained 120,000 more steps on LR patches of 24 pixels: Adam
warmed up over 2,000 steps to 4e-4, then cosine to zero, scored and exported
with an exponential moving average of the weights (decay 0.999). Why this
and not larger patches: ``configs/x3_zoo_p48.py`` showed that 48-pixel
patches buy nothing measurable at four times the cost of a step, while the
last 40,000 steps on 24-pixel patches gained 0.115 dB on Set5, so the CPU
goes into steps. It needs ``../shared/data`` and about 9 CPU hours (about 6
hours wall on the 2-core CPU, more than one session: checkpoints every 1,000
steps; rerun the same command to resume):

  python -m sr_jax.main --config=configs/x3_zoo_long.py --workdir=/work/runs/x3_zoo_long

Tried and stopped at step 30,000 (2026-12): Set5 / Set14 of the EMA weights
33.886 / 29.952 at 10k, 33.878 / 29.950 at 20k and 33.872 / 29.953 at 30k,
against the zoo model's 33.883 / 29.930: flat while the learning rate is
near its peak, so the CPU went elsewhere; not shipped.
"""

from configs import x3_zoo


def get_config():
  config = x3_zoo.get_config()
  config.init_from = "espcn_rdb_x3"
  config.optim.learning_rate = 4e-4
  config.optim.warmup_steps = 2000
  config.ema_decay = 0.999
  config.total_steps = 120_000
  config.eval.every_steps = 10_000
  config.checkpoint_every_steps = 1000
  return config
