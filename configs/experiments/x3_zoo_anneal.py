"""Experiment, not shipped: one more annealed cycle from ``espcn_rdb_x3``.

``configs/zoo/espcn_rdb_x3.py``'s network and data (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the
four README showcase photos) and LR patches of 24, from the zoo's
``espcn_rdb_x3``: 60,000 steps, warmup 1,000 to 3e-4, cosine to zero, EMA
0.999. Why: the zoo model's own gain came in the second half of its cosine,
as the rate fell. It needs ``../shared/data`` (checkpoints every 1,000
steps; rerun the same command to resume):

  python -m sr_jax.main --config=configs/experiments/x3_zoo_anneal.py \
    --workdir=/work/runs/x3_zoo_anneal

Result per step and CPU hours: docs/experiments.md.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3"
  config.optim.learning_rate = 3e-4
  config.optim.warmup_steps = 1000
  config.ema_decay = 0.999
  config.total_steps = 60_000
  config.eval.every_steps = 5000
  config.checkpoint_every_steps = 1000
  return config
