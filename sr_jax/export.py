"""Exports a run's checkpoint to the model zoo (``zoo/<name>.npz|.json``).

  python -m sr_jax.export --workdir=/work/runs/espcn_rdb_x3 --name=espcn_rdb_x3

Ships the evaluation params (the EMA when the run kept one) with the run's
config, the step, the compute it took (the run's usage record) and the
results of ``--mode=evaluate`` at that step, if present (on clean LR, and
on JPEG-degraded LR for each ``--config.eval.lr_jpeg_quality`` evaluated). An existing zoo
model is never replaced without ``--overwrite``.
"""

from absl import app, flags

from sr_jax import fileio, inference, rundir, zoo

_WORKDIR = flags.DEFINE_string("workdir", None, "The run to export.")
_NAME = flags.DEFINE_string("name", None, "Zoo name, e.g. espcn_rdb_x3.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default latest).")
_ZOO_DIR = flags.DEFINE_string("zoo_dir", zoo.ZOO_DIR, "Where to write.")
_OVERWRITE = flags.DEFINE_bool(
  "overwrite", False, "Replace an existing zoo model of that name."
)
flags.mark_flags_as_required(["workdir", "name"])


def _parent(init_from: str) -> tuple[float | None, str | None]:
  """``(CPU hours, SHA-256)`` of ``init_from`` (a zoo model or a run), where
  recorded."""
  if fileio.isdir(init_from):
    seconds = rundir.RunDir(init_from).read_usage().get("cpu_seconds")
    return (seconds / 3600 if seconds else None), None
  try:
    meta = zoo.read_info(init_from)
  except FileNotFoundError:
    return None, None
  return meta.get("cpu_hours_total", meta.get("cpu_hours")), meta.get("sha256")


def export_run(
  workdir: str,
  name: str,
  *,
  step=None,
  zoo_dir=zoo.ZOO_DIR,
  overwrite: bool = False,
) -> str:
  """Writes the run's params, config and summary as zoo model ``name``.

  Raises:
    FileExistsError: if the zoo model exists and not ``overwrite``.
  """
  weights = inference.load(workdir=workdir, step=step)
  run = rundir.RunDir(workdir)
  config = weights.config
  info = {"step": weights.step, "train_sets": config.data.train_sets}
  usage = run.read_usage()
  if usage.get("cpu_seconds"):
    info["cpu_hours"] = round(usage["cpu_seconds"] / 3600, 2)
    info["wall_hours"] = round(usage["wall_seconds"] / 3600, 2)
  if config.get("init_from"):
    # A run started from other weights owes their compute too.
    info["init_from"] = config.init_from
    parent, sha256 = _parent(config.init_from)
    if sha256:
      info["init_from_sha256"] = sha256
    if parent is not None and "cpu_hours" in info:
      info["cpu_hours_total"] = round(info["cpu_hours"] + parent, 2)
  # The results at that step: clean LR under "results", JPEG-degraded LR
  # (results_<step>_jpeg<q>.json) under "results_jpeg" by quality.
  for label in run.result_labels(str(weights.step)):
    results = run.read_results(label)
    for r in results["datasets"].values():
      r.pop("per_image", None)
    quality = results.get("degradation", {}).get("lr_jpeg_quality", 0)
    if quality:
      info.setdefault("results_jpeg", {})[str(quality)] = results
    else:
      info["results"] = results
  return zoo.export(
    config,
    weights.params,
    name,
    zoo_dir=zoo_dir,
    info=info,
    overwrite=overwrite,
  )


def main(argv):
  del argv
  try:
    path = export_run(
      _WORKDIR.value,
      _NAME.value,
      step=_STEP.value,
      zoo_dir=_ZOO_DIR.value,
      overwrite=_OVERWRITE.value,
    )
  except (FileExistsError, FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e)) from e
  print(f"Wrote {path}")


if __name__ == "__main__":
  app.run(main)
