"""The zoo's ``espcn_rdb_x3_jpeg``: ``espcn_rdb_x3`` fine-tuned on JPEG LR.

The ``espcn_rdb_x3`` network, trained on T91 + BSD200 + General100 +
ImageNet800 (the shared data's ``train/`` folders, 1,191 images less the
four README showcase photos held out), where each training LR patch is,
with probability 0.7, saved as a JPEG of a quality drawn from 30..95 (4:2:0)
and decoded (``config.data.jpeg_quality``); the others stay clean. It
starts from the zoo's clean ``espcn_rdb_x3`` (``config.init_from``) and
trains 30,000 steps on LR patches of 24 (72 HR) pixels, Adam from 5e-4,
cosine. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/zoo/espcn_rdb_x3_jpeg.py \
    --workdir=/work/runs/x3_jpeg_ft

docs/zoo.md has its results on clean and JPEG LR, CPU hours and the export
command.
"""

from configs.zoo import espcn_rdb_x3


def get_config():
  # espcn_rdb_x3's data, patches and optimizer, from its result, on JPEG LR.
  config = espcn_rdb_x3.get_config()
  config.init_from = "espcn_rdb_x3"
  config.data.jpeg_quality = (30, 95)
  config.data.jpeg_clean_fraction = 0.3
  config.total_steps = 30_000
  return config
