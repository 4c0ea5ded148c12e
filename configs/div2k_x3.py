"""ESPCN-RDB x3 trained on DIV2K's 800 HR training images (TFDS catalog).

DIV2K must be present in the TFDS data dir (it cannot download here):

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
