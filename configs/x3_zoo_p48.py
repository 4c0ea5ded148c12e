"""A candidate successor of the zoo's ``espcn_rdb_x3``: larger patches.

``configs/x3_zoo.py``'s network and data (T91 + BSD200 + General100 +
ImageNet800, the shared data's ``train/`` folders less the four README
showcase photos), starting from the zoo's ``espcn_rdb_x3`` (40,000 steps on
LR patches of 24) and trained 8,000 more steps on LR patches of 48 (144 HR)
pixels, Adam from 2e-4, cosine, scored and exported with an exponential
moving average of the weights (decay 0.999). Why larger patches: an output pixel of this
network sees 21 LR pixels on each side, so on 24-pixel patches nearly every
output sees the patch's zero padding, which test images never show it; a
48-pixel patch gives the network the context it has at test time, at four
times the cost of a step. The 48 images too small for such a pair (25 of
T91, 5 of General100, 18 of ImageNet800; a pair needs 156 x 156 pixels) are
left out, each with a warning. It needs ``../shared/data``, and took 2.66
CPU hours (1.8 hours wall on the 2-core CPU; checkpoints every 500 steps,
rerun the same command to resume):

  python -m sr_jax.main --config=configs/x3_zoo_p48.py --workdir=/work/runs/x3_zoo_p48

Result (2026-12-04): Set5 / Set14 / BSD100 33.884 / 29.944 / 28.874, i.e.
0.001 / 0.014 / 0.006 dB above ``espcn_rdb_x3``: larger patches buy
nothing measurable here, so the zoo keeps ``espcn_rdb_x3`` (README.md,
"Model zoo").
"""

from configs import x3_zoo


def get_config():
  config = x3_zoo.get_config()
  config.init_from = "espcn_rdb_x3"
  config.data.lr_patch_size = 48
  config.optim.learning_rate = 2e-4
  config.ema_decay = 0.999
  config.total_steps = 8_000
  config.eval.every_steps = 2000
  config.checkpoint_every_steps = 500
  return config
