"""ESPCN-RDB at x3 (the main model): Y channel, 4 RDBs of 4 layers, growth 32.

The embedded default: trains on the T91 images shipped in ``data/train`` and
evaluates on the shipped Set5 and Set14, with no download:

  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3

On a 2-core CPU it passes the bicubic baseline on Set5 (30.40 dB, basicsr convention) within the
first 10 minutes; README.md has the measured curve. To train on the full
T91 + BSD200 + General100 set of the shared data:

  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3_291 \
    --config.data.train_dir=../shared/data/train \
    --config.data.train_sets=T91,BSD200,General100

The zoo model ``espcn_rdb_x3_v1`` is this config trained on the full set with
``--config.total_steps=20000`` (0.76 CPU hours on 2 cores): Set5 33.768 / .9222, Set14
29.874 / .8328, BSD100 28.801 / .7970 (basicsr convention). The current
``espcn_rdb_x3`` continues from it on more data: ``configs/x3_zoo.py``.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "espcn_rdb"
  return config
