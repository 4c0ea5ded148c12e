"""Experiment, not shipped: a long second cycle from ``espcn_rdb_x3``.

``configs/zoo/espcn_rdb_x3.py``'s network and data (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the
four README showcase photos) and LR patches of 24, from the zoo's
``espcn_rdb_x3``: 120,000 steps, warmup 2,000 to 4e-4, cosine, EMA 0.999.
It needs ``../shared/data`` (checkpoints every 1,000 steps; rerun the same
command to resume):

  python -m sr_jax.main --config=configs/experiments/x3_zoo_long.py \
    --workdir=/work/runs/x3_zoo_long

Stopped at step 30,000; result: docs/experiments.md.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3"
  config.optim.learning_rate = 4e-4
  config.optim.warmup_steps = 2000
  config.ema_decay = 0.999
  config.total_steps = 120_000
  config.eval.every_steps = 10_000
  config.checkpoint_every_steps = 1000
  return config
