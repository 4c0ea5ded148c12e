"""ESPCN-RDB x3 on the original ESPCN project's ImageNet subset.

Trains on ImageNet: 50,000 training and 15,296 validation images (fewer, in
the same ratio, from a smaller copy) drawn by the rule in
``sr_jax/datasets/imagenet_sr.py``. ImageNet is given one of two ways
(nothing downloads here; without either, training stops saying so):

1. ``--config.data.imagenet_dir=PATH``: the ILSVRC ``CLS-LOC`` folder
   (``ILSVRC/Data/CLS-LOC``, or any folder above it) or a flat folder of
   JPEGs, built once into the TFDS data dir:

     python -m sr_jax.main --config=configs/imagenet_x3.py \
       --workdir=/tmp/imagenet_x3 --config.data.imagenet_dir=/data/ILSVRC \
       --config.data.tfds_data_dir=/tmp/tfds

2. a TFDS ``imagenet2012`` prepared in ``--config.data.tfds_data_dir``
   (manual download of the ILSVRC2012 tar files).

The validation images, as a folder to evaluate on (``--config.eval.datasets=
Set5,Set14,/tmp/imagenet_val``): ``python -m sr_jax.datasets.prepare_imagenet
--imagenet_dir=... --tfds_data_dir=... --export_validation=/tmp/imagenet_val``.

Expected: not measured on full ImageNet (not on this machine). A short run on
the 800 ImageNet images of ``../shared/data/train/ImageNet800`` (719 of them
have a shorter side >= 256: 551 train / 168 validation images):

  python -m sr_jax.datasets.prepare_imagenet \
    --imagenet_dir=../shared/data/train/ImageNet800 \
    --tfds_data_dir=/tmp/in800_tfds --export_validation=/tmp/in800_val
  python -m sr_jax.main --config=configs/imagenet_x3.py --workdir=/tmp/in800_x3 \
    --config.data.imagenet_dir=../shared/data/train/ImageNet800 \
    --config.data.tfds_data_dir=/tmp/in800_tfds --config.total_steps=2000 \
    --config.eval.every_steps=1000 --config.eval.datasets=Set5 \
    --config.checkpoint_every_steps=500
  python -m sr_jax.main --config=configs/imagenet_x3.py --workdir=/tmp/in800_x3 \
    --mode=evaluate --config.data.imagenet_dir=../shared/data/train/ImageNet800 \
    --config.data.tfds_data_dir=/tmp/in800_tfds \
    --config.eval.datasets=Set5,Set14,/tmp/in800_val

took 19.9 minutes on 2 loaded CPU cores and gives (basicsr convention, PSNR
/ SSIM) Set5 33.144 / .9151, Set14 29.561 / .8267, ImageNet800 validation
28.489 / .8032, against bicubic 30.403 / .8689, 27.631 / .7759 and
27.136 / .7585.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.scale = 3
  config.data.dataset = "imagenet_sr"
  # An ImageNet folder (CLS-LOC tree or flat); "" for TFDS imagenet2012.
  config.data.imagenet_dir = ""
  config.data.lr_patch_size = 32
  config.data.cache = False  # 50,000 images do not fit in host memory.
  config.data.host_sharding = "by_file"
  config.total_steps = 500_000
  return config
