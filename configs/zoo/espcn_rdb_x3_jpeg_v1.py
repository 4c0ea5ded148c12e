"""The zoo's ``espcn_rdb_x3_jpeg_v1``: ESPCN-RDB x3 from scratch on JPEG LR.

The ``espcn_rdb_x3`` network and recipe, trained on T91 + BSD200 +
General100 + ImageNet800 (the shared data's ``train/`` folders, less the
four README showcase photos), where each training LR patch is, with
probability 0.75, saved as a JPEG of a quality drawn from 30..95 (4:2:0)
and decoded; the others stay clean. 20,000 steps from scratch on LR patches
of 16. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/zoo/espcn_rdb_x3_jpeg_v1.py \
    --workdir=/work/runs/x3_jpeg

Superseded by ``configs/zoo/espcn_rdb_x3_jpeg.py`` (docs/zoo.md).
"""

from configs import _original_data, default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "espcn_rdb"
  _original_data.use_original_data(config)
  config.data.jpeg_quality = (30, 95)
  config.data.jpeg_clean_fraction = 0.25
  config.total_steps = 20_000
  config.eval.every_steps = 2500
  config.checkpoint_every_steps = 1000
  return config
