"""The zoo's ``espcn_rdb_x3``: ESPCN-RDB x3 trained on the original data.

``configs/x3.py``'s network, trained further on T91 + BSD200 + General100 +
ImageNet800 (the shared data's ``train/`` folders, 1,191 images less the
four README showcase photos held out; ImageNet is the original ESPCN
project's data source), starting from the earlier 20,000-step T91 + BSD200
+ General100 model kept in the zoo as ``espcn_rdb_x3_v1``: 40,000 more
steps with LR patches of 24 (72 HR) pixels and Adam from 5e-4, cosine. It
needs ``../shared/data``:

  python -m sr_jax.main --config=configs/zoo/espcn_rdb_x3.py \
    --workdir=/work/runs/x3_zoo

docs/zoo.md has its results, CPU hours and the export command.
"""

from configs import _original_data, default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "espcn_rdb"
  config.init_from = "espcn_rdb_x3_v1"
  _original_data.use_original_data(config)
  config.data.lr_patch_size = 24
  config.optim.learning_rate = 5e-4
  config.total_steps = 40_000
  config.eval.every_steps = 5000
  config.checkpoint_every_steps = 1000
  return config
