"""The original ESPCN at x3, as the Keras example builds it (59,657 params).

Conv 5x5/64, 3x3/64, 3x3/32, 3x3/9, ReLU, depth_to_space, Y channel. Trains
on the T91 images shipped in ``data/train`` unless told otherwise:

  python -m sr_jax.main --config=configs/espcn_x3.py --workdir=/tmp/espcn_x3

The zoo model ``espcn_x3`` was trained with
``--config.data.train_dir=../shared/data/train
--config.data.train_sets=T91,BSD200,General100 --config.total_steps=30000``,
then resumed in the same workdir with ``--config.total_steps=110000`` (a warm
restart of the cosine schedule; 0.47 CPU hours in all): Set5 33.012 / .9142,
Set14 29.506 / .8255, BSD100 28.511 / .7894 (basicsr convention).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "espcn"
  config.model.features = (64, 64, 32)
  config.model.kernel_sizes = (5, 3, 3, 3)
  config.optim.learning_rate = 1e-3
  return config
