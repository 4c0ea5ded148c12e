"""Command-line entry point: flags only; the work is in train.py and evaluate.py.

  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3
  python -m sr_jax.main --config=configs/x3.py --workdir=/tmp/sr_x3 \
      --mode=evaluate [--step=N]
  python -m sr_jax.main --config=configs/imdn_x3.py --workdir=/tmp/imdn \
      --mode=evaluate --config.pretrained=../shared/peers/imdn/IMDN_x3.npz
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

# Config files import ``configs.default``; make that work from any cwd.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Training configuration file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Directory for checkpoints, summaries and results."
)
_MODE = flags.DEFINE_enum(
  "mode", "train", ["train", "evaluate"], "Train (and evaluate) or evaluate."
)
_STEP = flags.DEFINE_integer(
  "step", None, "--mode=evaluate: checkpoint step (default: the latest)."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # Keep TensorFlow (tf.data only) off any accelerator JAX wants.
  import tensorflow as tf

  tf.config.set_visible_devices([], "GPU")

  config = _CONFIG.value
  workdir = _WORKDIR.value
  if _MODE.value == "train":
    from sr_jax import train

    train.train_and_evaluate(config, workdir)
  else:
    from sr_jax import evaluate

    evaluate.evaluate(config, workdir, step=_STEP.value)
  logging.info("Done.")


if __name__ == "__main__":
  app.run(main)
