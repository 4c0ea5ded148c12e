"""ESPCN-RDB x3 on the original ESPCN project's ImageNet subset.

50,000 training and 15,296 validation images drawn from ImageNet 2012 by the
rule in ``sr_jax/datasets/imagenet_sr.py``. ImageNet must already be prepared
in the TFDS data dir (manual download; nothing downloads here):

  python -m sr_jax.main --config=configs/imagenet_x3.py \
    --workdir=/tmp/imagenet_x3 --config.data.tfds_data_dir=/path/to/tfds

Expected: not measured here (ImageNet is not available on this machine);
the subset rule and pipeline are tested with TFDS mock data
(tests/imagenet_sr_test.py).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.data.dataset = "imagenet_sr"
  config.data.lr_patch_size = 32
  config.data.cache = False  # 50,000 images do not fit in host memory.
  config.data.host_sharding = "by_file"
  config.total_steps = 500_000
  return config
