"""ESPCN-RDB at x4: Y channel, 4 RDBs of 4 layers, growth 32.

Trains on the T91 images shipped in ``data/train`` and evaluates on the
shipped Set5 and Set14:

  python -m sr_jax.main --config=configs/x4.py --workdir=/tmp/sr_x4

To train on the full T91 + BSD200 + General100 set of the shared data:

  python -m sr_jax.main --config=configs/x4.py --workdir=/tmp/sr_x4_291 \
    --config.data.train_dir=../shared/data/train \
    --config.data.train_sets=T91,BSD200,General100

The zoo model ``espcn_rdb_x4`` is this config trained on the full set with
``--config.total_steps=8000`` (0.32 CPU hours on 2 cores): Set5 31.353 / .8830, Set14
28.074 / .7684, BSD100 27.231 / .7237 (basicsr convention).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 4
  config.model.name = "espcn_rdb"
  return config
