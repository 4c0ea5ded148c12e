"""ESPCN-RDB at x2: Y channel, 4 RDBs of 4 layers, growth 32.

Trains on the T91 images shipped in ``data/train`` and evaluates on the
shipped Set5 and Set14:

  python -m sr_jax.main --config=configs/x2.py --workdir=/tmp/sr_x2

To train on the full T91 + BSD200 + General100 set of the shared data:

  python -m sr_jax.main --config=configs/x2.py --workdir=/tmp/sr_x2_291 \
    --config.data.train_dir=../shared/data/train \
    --config.data.train_sets=T91,BSD200,General100

The zoo model ``espcn_rdb_x2`` is this config trained on the full set with
``--config.total_steps=10000`` (0.38 CPU hours on 2 cores): Set5 37.502 / .9586, Set14
33.031 / .9126, BSD100 31.806 / .8947 (basicsr convention).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 2
  config.model.name = "espcn_rdb"
  return config
