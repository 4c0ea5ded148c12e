"""A candidate successor of the zoo's ``espcn_rdb_x3_jpeg``: qualities nearer 50.

``configs/x3_jpeg_ft.py``'s network and data (T91 + BSD200 + General100 +
ImageNet800, the shared data's ``train/`` folders less the four README
showcase photos), starting from the zoo's ``espcn_rdb_x3_jpeg`` and trained
15,000 more steps on LR patches of 24 where each patch is, with probability
0.75, saved as a JPEG of quality 30..75 (4:2:0) and decoded; the rest stay
clean. Adam warmed up over 500 steps to 2e-4, then cosine to zero, scored
and exported with an exponential moving average of the weights (decay
0.999). Why: the real-photo issue scores JPEG quality 50, and the zoo model
spends half its JPEG examples on qualities above 62. It needs
``../shared/data``:

  python -m sr_jax.main --config=configs/x3_jpeg_ft2.py --workdir=/work/runs/x3_jpeg_ft2

Tried and not shipped: evaluated like the zoo model (the README's
``--mode=evaluate`` loop, then ``python benchmarks/jpeg_table.py
zoo/espcn_rdb_x3_jpeg.json ft2=/work/runs/x3_jpeg_ft2/eval``), no cell of
the clean / q75 / q50 / q30 table moves by as much as 0.1 dB from the zoo
model's, and BSD100 at q50 stays far below the issue's target; the zoo keeps
``espcn_rdb_x3_jpeg``. Kept so the experiment is not run again blind.
"""

from configs import x3_jpeg_ft


def get_config():
  config = x3_jpeg_ft.get_config()
  config.init_from = "espcn_rdb_x3_jpeg"
  config.data.jpeg_quality = (30, 75)
  config.data.jpeg_clean_fraction = 0.25
  config.optim.learning_rate = 2e-4
  config.optim.warmup_steps = 500
  config.ema_decay = 0.999
  config.total_steps = 15_000
  config.eval.every_steps = 5000
  config.checkpoint_every_steps = 1000
  return config
