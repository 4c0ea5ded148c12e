"""IMDN (Hui et al., ACM MM 2019) at x3, for evaluating the official weights.

Trained with this config (not the official recipe, which used DIV2K), it
would train on the default data: the T91 images shipped in ``data/train``.

  python -m sr_jax.main --config=configs/imdn_x3.py --workdir=/tmp/imdn_x3 \
    --mode=evaluate --config.pretrained=../shared/peers/imdn/IMDN_x3.npz

Expected (basicsr convention): Set5 34.36 / .9270, Set14 30.32 / .8417; with
``--config.eval.data_dir=../shared/data/eval
--config.eval.datasets=Set5,Set14,BSD100``, BSD100 29.09 / .8046. For x2/x4
pass ``--config.scale=2`` (or 4) and the matching weights file.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "imdn"
  config.model.channels = 3
  config.model.width = 64
  config.model.num_blocks = 6
  config.eval.num_figures = 1
  return config
