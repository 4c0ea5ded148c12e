"""Builds the ImageNet SR subset from the command line; exports a split.

  python -m sr_jax.datasets.prepare_imagenet \
    --imagenet_dir=../shared/data/train/ImageNet800 \
    --tfds_data_dir=/tmp/in800_tfds --export_validation=/tmp/in800_val

builds (or reuses) the subset that ``configs/imagenet_x3.py`` trains on with
the same ``--config.data.imagenet_dir`` and ``--config.data.tfds_data_dir``,
prints its build log (also in ``build_log.json`` next to the TFDS files) and
writes the validation images into a folder, to evaluate on with
``--config.eval.datasets=Set5,Set14,/tmp/in800_val``. Without
``--imagenet_dir`` the subset is drawn from a prepared TFDS ``imagenet2012``.
"""

import argparse
import os
import sys
from collections.abc import Sequence

from absl import logging

from sr_jax.datasets import imagenet_log, imagenet_sr


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m sr_jax.datasets.prepare_imagenet",
    description=__doc__.split("\n\n")[0],
  )
  parser.add_argument(
    "--imagenet_dir",
    default="",
    help="the ILSVRC CLS-LOC folder (or a folder above it) or a flat folder "
    "of JPEGs; empty: TFDS imagenet2012",
  )
  parser.add_argument(
    "--tfds_data_dir", default="", help="TFDS data dir ('': TFDS's default)"
  )
  parser.add_argument(
    "--export_validation",
    default="",
    help="a folder to write the validation images into",
  )
  args = parser.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  b = imagenet_sr.builder(
    imagenet_dir=args.imagenet_dir, data_dir=args.tfds_data_dir
  )
  print(imagenet_log.summary(imagenet_log.build_log(b)))
  print(f"TFDS data and {imagenet_log.LOG_FILE}: {b.data_dir}")
  if args.export_validation:
    out_dir = os.path.abspath(args.export_validation)
    files = imagenet_sr.export_split(b, out_dir=out_dir)
    print(
      f"wrote {len(files)} validation images to {out_dir}; evaluate with "
      f"--config.eval.datasets=Set5,Set14,{out_dir}"
    )
  return 0


if __name__ == "__main__":
  sys.exit(main())
