"""ESPCN-RDB x3 trained on DIV2K's 800 HR training images (TFDS catalog).

DIV2K must be prepared in the TFDS data dir: training never downloads it
(about 4 GB) and, when it is absent, stops with a message saying how to
prepare it (``tfds build div2k/bicubic_x3``) rather than train on another set:

  python -m sr_jax.main --config=configs/div2k_x3.py --workdir=/tmp/div2k_x3 \
    --config.data.tfds_data_dir=/path/to/tensorflow_datasets

LR inputs are made from the HR images with the MATLAB-exact bicubic (we do
not use TFDS's own LR images, so training and benchmark degradations agree).

Expected: not measured here (DIV2K cannot be downloaded on this machine);
the pipeline is tested with TFDS mock data (tests/input_pipeline_test.py).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.data.dataset = "div2k"
  config.data.lr_patch_size = 32
  config.total_steps = 300_000
  return config
