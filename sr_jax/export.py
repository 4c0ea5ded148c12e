"""Exports a run's checkpoint to the model zoo (``zoo/<name>.npz|.json``).

  python -m sr_jax.export --workdir=/work/runs/espcn_rdb_x3 --name=espcn_rdb_x3

Ships the evaluation params (the EMA when the run kept one) with the run's
config, the step, the compute it took (``workdir/usage.json``) and the
results of ``--mode=evaluate`` at that step, if present.
"""

import json
import os

import ml_collections
from absl import app, flags

from sr_jax import checkpointing, zoo

_WORKDIR = flags.DEFINE_string("workdir", None, "The run to export.")
_NAME = flags.DEFINE_string("name", None, "Zoo name, e.g. espcn_rdb_x3.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default latest).")
_ZOO_DIR = flags.DEFINE_string("zoo_dir", zoo.ZOO_DIR, "Where to write.")
flags.mark_flags_as_required(["workdir", "name"])


def export_run(workdir: str, name: str, *, step=None, zoo_dir=zoo.ZOO_DIR):
  """Writes the run's params, config and summary as zoo model ``name``."""
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"--workdir={workdir!r} has no config.json")
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  params, step = checkpointing.restore_params(config, workdir, step=step)
  info = {"step": step, "train_sets": config.data.train_sets}
  usage_path = os.path.join(workdir, "usage.json")
  if os.path.exists(usage_path):
    with open(usage_path) as f:
      usage = json.load(f)
    info["cpu_hours"] = round(usage["cpu_seconds"] / 3600, 2)
    info["wall_hours"] = round(usage["wall_seconds"] / 3600, 2)
  results_path = os.path.join(workdir, "eval", f"results_{step}.json")
  if os.path.exists(results_path):
    with open(results_path) as f:
      results = json.load(f)
    for r in results["datasets"].values():
      r.pop("per_image", None)
    info["results"] = results
  return zoo.export(config, params, name, zoo_dir=zoo_dir, info=info)


def main(argv):
  del argv
  path = export_run(
    _WORKDIR.value, _NAME.value, step=_STEP.value, zoo_dir=_ZOO_DIR.value
  )
  print(f"Wrote {path}")


if __name__ == "__main__":
  app.run(main)
