"""A candidate successor of the zoo's ``espcn_rdb_x3_jpeg``: told the JPEG grid.

``configs/x3_jpeg_ft.py``'s network, data and degradation (T91 + BSD200 +
General100 + ImageNet800, the shared data's ``train/`` folders less the four
README showcase photos; each LR patch of 24 pixels, with probability 0.7,
saved as a JPEG of a quality drawn from 30..95, 4:2:0, and decoded), plus
``model.block_grid = 8``: a learned table of 8 x 8 phase vectors added to
the first convolution's output (sr_jax/models/rdb.py, ``ESPCNRDB``). The
JPEG of a training patch starts its 8x8 grid at the patch's corner, as a
photo's grid starts at the photo's corner; 24 is a multiple of 8, so the
flips and transposes of augmentation keep blocks on the grid. The network
starts from the zoo's ``espcn_rdb_x3_jpeg`` with the table at zero (exactly
that model's function) and trains 20,000 steps, Adam warmed up over 500
steps to 2e-4, then cosine to zero. It needs ``../shared/data``:

  python -m sr_jax.main --config=configs/x3_jpeg_grid.py --workdir=/work/runs/x3_jpeg_grid

Tried and not shipped. Trained the full 20,000 steps (68 minutes wall,
2.2 CPU hours on the 2-core CPU), then scored with the README's
``--mode=evaluate`` loop at ``--step=20000`` for qualities 0, 30, 50 and 75
and ``python benchmarks/jpeg_table.py zoo/espcn_rdb_x3_jpeg.json
grid=/work/runs/x3_jpeg_grid/eval``: every cell gains 0.01-0.03 dB over the
zoo model (BSD100 at q50: 26.559 against 26.545, with 26.735 needed; clean
Set5 33.704 against 33.681). The learned table stayed near zero and flat
(mean magnitude 0.005, against 0.035 for sfe1's biases; each of the 64
phases' vector norms 0.04-0.08, with no row or column of the block edges
standing out), so the small gain is more training, not the grid: the
network already finds the blocks from the artifacts themselves, within its
21-pixel radius. Not worth a model that must see whole images (no tiling).
Kept, with ``block_grid``, so the experiment is not run again blind.
"""

from configs import x3_jpeg_ft


def get_config():
  config = x3_jpeg_ft.get_config()
  config.init_from = "espcn_rdb_x3_jpeg"
  config.model.block_grid = 8
  config.total_steps = 20_000
  config.optim.learning_rate = 2e-4
  config.optim.warmup_steps = 500
  return config
