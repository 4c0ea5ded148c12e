"""Experiment, not shipped: the non-blind ceiling of the bilinear cell.

``configs/zoo/espcn_rdb_x3.py``'s network and data (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the
four README showcase photos), from the zoo's ``espcn_rdb_x3``, 4,000 steps
on clean LR made by Pillow's bilinear shrink alone
(``data.lr_kernels="bilinear"``), Adam from 2e-4, cosine. Why: a model that
knows the kernel bounds what ``espcn_rdb_x3_real``, which has to guess it,
can reach in the grid's ``bilinear/q0`` cell (issue 34's target: 0.4 dB
over the better earlier model). It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/experiments/x3_bilinear_ceiling.py \
    --workdir=/work/runs/x3_bilinear_ceiling

Result and CPU hours: docs/experiments.md.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3"
  config.data.lr_kernels = "bilinear"
  config.optim.learning_rate = 2e-4
  config.total_steps = 4_000
  config.eval.every_steps = 0
  config.checkpoint_every_steps = 1000
  return config
