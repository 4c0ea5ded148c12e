"""The zoo's ``espcn_rdb_x3_jpeg``: ``espcn_rdb_x3`` fine-tuned on JPEG LR.

The ``espcn_rdb_x3`` network, trained on T91 + BSD200 + General100 +
ImageNet800 (the shared data's ``train/`` folders, 1,191 images less the
four README showcase photos held out; ImageNet is the original ESPCN
project's data source), where each training LR patch is, with probability
0.7, saved as a JPEG of a quality drawn from 30..95 (4:2:0) and decoded
(``config.data.jpeg_quality``, see sr_jax/input_pipeline.py); the others stay
clean. It starts from the zoo's clean ``espcn_rdb_x3`` (``config.init_from``)
and trains 30,000 steps on LR patches of 24 (72 HR) pixels, Adam from 5e-4,
cosine. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/x3_jpeg_ft.py --workdir=/work/runs/x3_jpeg_ft

Score it on JPEG-degraded LR with ``--config.eval.lr_jpeg_quality=50`` (the
protocol LR saved as a baseline JPEG, Pillow, 4:2:0); README.md, "Results on
real photos", has the table and the commands (1.92 CPU hours on the
2-core CPU). It replaced the model of ``configs/x3_jpeg.py`` (20,000 steps
from scratch, patches of 16, 25% clean; kept as ``espcn_rdb_x3_jpeg_v1``),
which it beats on clean LR and at every JPEG quality scored.
"""

from configs import x3_zoo


def get_config():
  # x3_zoo's data, patches and optimizer, from its result, on JPEG LR.
  config = x3_zoo.get_config()
  config.init_from = "espcn_rdb_x3"
  config.data.jpeg_quality = (30, 95)
  config.data.jpeg_clean_fraction = 0.3
  config.total_steps = 30_000
  return config
