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

Tried and not shipped: stopped at step 10,000 of 20,000 (40 minutes wall
on the 2-core CPU) and evaluated with the README's ``--mode=evaluate``
loop at ``--step=10000`` for qualities 0 and 50, then ``python
benchmarks/jpeg_table.py zoo/espcn_rdb_x3_jpeg.json
grid10k=/work/runs/x3_jpeg_grid/eval``. No cell moved by as much as 0.02 dB
from the zoo model's (BSD100 at q50: 26.546 against 26.545), and the
learned table stayed near zero without block-edge structure (mean
magnitude 0.005, against 0.03 for sfe1's biases): the network already finds
the blocks from the artifacts themselves, within its 21-pixel radius.
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
