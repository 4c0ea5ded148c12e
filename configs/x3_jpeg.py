"""The zoo's ``espcn_rdb_x3_jpeg_v1``: ESPCN-RDB x3 trained on JPEG LR.

The ``espcn_rdb_x3`` network and recipe, trained on T91 + BSD200 + General100
+ ImageNet800 (the shared data's ``train/`` folders, 1,191 images less the
four README showcase photos held out; ImageNet is the original ESPCN
project's data source), where each training LR patch
is, with probability 0.75, saved as a JPEG of a quality drawn from 30..95
(4:2:0) and decoded (``config.data.jpeg_quality``, see
sr_jax/input_pipeline.py); the others stay clean. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/x3_jpeg.py --workdir=/work/runs/x3_jpeg

Score it on JPEG-degraded LR with ``--config.eval.lr_jpeg_quality=50`` (the
protocol LR saved as a baseline JPEG, Pillow, 4:2:0); README.md, "Real
photos", has the table and the commands. The zoo's current
``espcn_rdb_x3_jpeg`` comes from ``configs/x3_jpeg_ft.py`` instead (fine-tuned
from the clean ``espcn_rdb_x3``), which beats this recipe's 20,000 steps
from scratch on clean and on JPEG LR.
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
