"""Experiment, not shipped: the non-blind ceiling of the box cell.

``configs/experiments/x3_bilinear_ceiling.py`` (``espcn_rdb_x3``'s network
and data: T91 + BSD200 + General100 + ImageNet800 less the four README
showcase photos; 4,000 steps from the zoo's ``espcn_rdb_x3``, Adam from
2e-4, cosine) on clean LR made by Pillow's box (area) shrink alone
(``data.lr_kernels="box"``): what a model that knows the kernel reaches in
the grid's ``box/q0`` cell. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/experiments/x3_box_ceiling.py \
    --workdir=/work/runs/x3_box_ceiling

Result and CPU hours: docs/experiments.md.
"""

from configs.experiments import x3_bilinear_ceiling


def get_config():
  config = x3_bilinear_ceiling.get_config()
  config.data.lr_kernels = "box"
  return config
