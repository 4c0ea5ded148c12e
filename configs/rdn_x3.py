"""RDN (Zhang et al. 2018) at x3 with the paper's configuration, for accelerators.

D=16 RDBs, C=8 layers, G=64, G0=64, RGB; 22.3M parameters. The paper's recipe:
LR patch 32, batch 16, Adam 1e-4 halved every 200k steps, L1, and it trains
on DIV2K's 800 HR training images (TFDS ``div2k``, as configs/div2k_x3.py).
DIV2K must be prepared in the TFDS data dir; when it is not, training stops
with a message saying how to prepare it (it never falls back to T91):

  python -m sr_jax.main --config=configs/rdn_x3.py --workdir=/tmp/rdn_x3 \
    --config.data.tfds_data_dir=/path/to/tensorflow_datasets

On CPU use it only with tiny overrides (it is ~35x the default model).

Expected: the paper reports Set5 34.71 / Set14 30.57 / BSD100 29.26 at x3
(DIV2K, ~1M steps); not trained here (no accelerator, no DIV2K).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.model.name = "rdn"
  config.model.channels = 3
  config.model.width = 64
  config.model.num_blocks = 16
  config.model.num_layers = 8
  config.model.growth = 64
  config.data.dataset = "div2k"
  config.data.lr_patch_size = 32
  config.batch_size = 16
  config.total_steps = 1_000_000
  config.optim.learning_rate = 1e-4
  config.optim.schedule = "step"
  config.optim.decay_every = 200_000
  config.optim.warmup_steps = 0
  config.checkpoint_every_steps = 5000
  config.eval.every_steps = 20_000
  return config
