"""Exports a model: a run's checkpoint to the zoo, or any model as ONNX or
LiteRT for use outside JAX.

  python -m sr_jax.export --workdir=/work/runs/espcn_rdb_x3 --name=espcn_rdb_x3
  python -m sr_jax.export --model=espcn_rdb_x3_jpeg --format=onnx \
      --output=espcn_rdb_x3_jpeg.onnx
  python -m sr_jax.export --workdir=/work/runs/x3 [--step=N] --format=tflite \
      --output=x3.tflite

The zoo export (``--workdir --name``, ``--format=zoo``) ships the
evaluation params (the EMA when the run kept one) with the run's config, the
step, the compute it took (the run's usage record) and the results of
``--mode=evaluate`` at that step, if present (on clean LR, on JPEG-degraded
LR for each ``--config.eval.lr_jpeg_quality`` evaluated, and on LR of each
other ``--config.eval.lr_kernel``: :func:`shipped_results`).

``--format=onnx`` / ``tflite`` write the whole upscaler (colour split,
network, bicubic skip and chroma) as one file of any image size, from a zoo
model or its file (``--model``) or a run (``--workdir``): RGB float32 in
[0, 1] in, the upscaled RGB in [0, 1] out (:mod:`sr_jax.portable`,
:mod:`sr_jax.onnx_export`, :mod:`sr_jax.tflite_export`; docs/export.md).
They write only ``--output``, never into the zoo.

Nothing existing is replaced without ``--overwrite``; a zoo model it
replaces is kept beside it as ``<name>.replaced-<time>.npz/.json``. Exit status: 0
written; 1 a conversion failed (the message names the operation); 2 a
usage error (flags, weights, an existing output), in one line.
"""

import os
import sys
import tempfile

from absl import flags

from sr_jax import checkpointing, fileio, inference, portable, rundir, zoo

FORMATS = ("zoo", "onnx", "tflite")


class UsageError(ValueError):
  """Bad flags, weights or output: nothing was written."""


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
  info.update(shipped_results(run, weights.step))
  return zoo.export(
    config,
    weights.params,
    name,
    zoo_dir=zoo_dir,
    info=info,
    overwrite=overwrite,
  )


def shipped_results(run: rundir.RunDir, step: int) -> dict:
  """The run's results at ``step``, filed by how their LR was made.

  The protocol's LR (MATLAB bicubic, ``results_<step>.json``) goes under
  ``"results"``; the same kernel saved as JPEG (``..._jpeg<q>.json``) under
  ``"results_jpeg"[str(q)]``; another ``--config.eval.lr_kernel``
  (``..._<kernel>[_jpeg<q>].json``) under
  ``"results_kernels"[kernel][str(q)]`` (q 0: no JPEG). x8 self-ensemble
  results (``..._x8.json``) are filed the same way inside
  ``"results_x8"``, so that none is taken for the plain model's. Per-image
  scores are dropped.
  """
  info: dict = {}
  for label in run.result_labels(str(step)):
    results = run.read_results(label)
    for r in results["datasets"].values():
      r.pop("per_image", None)
    found = results.get("degradation", {})
    # Files written before lr_kernel existed were all MATLAB bicubic.
    kernel = found.get("lr_kernel", "matlab")
    quality = str(found.get("lr_jpeg_quality", 0))
    home = info
    if results.get("self_ensemble", False):
      home = info.setdefault("results_x8", {})
    if kernel != "matlab":
      kernels = home.setdefault("results_kernels", {})
      kernels.setdefault(kernel, {})[quality] = results
    elif quality != "0":
      home.setdefault("results_jpeg", {})[quality] = results
    else:
      home["results"] = results
  return info


def export_portable(weights: inference.Weights, fmt: str, output: str) -> str:
  """Writes ``weights``' upscaler to ``output`` as ``fmt`` (onnx, tflite).

  Raises:
    portable.ConversionError: an operation did not convert.
  """
  fileio.makedirs(os.path.dirname(os.path.abspath(output)))
  if fmt == "onnx":
    from sr_jax import onnx_export

    metadata = {"source": str(weights.source)}
    return onnx_export.export(
      weights.config, weights.params, output, metadata=metadata
    )
  from sr_jax import tflite_export

  return tflite_export.export(weights.config, weights.params, output)


def _flag_values() -> flags.FlagValues:
  # Private flags, as sr_jax.upscale has: importing this module defines
  # nothing globally.
  fv = flags.FlagValues()
  for name, default, text in (
    ("workdir", None, "A training run's directory."),
    ("name", None, "Zoo name to export the run as, e.g. espcn_rdb_x3."),
    ("model", None, "Zoo model name, or the path of its .npz/.json."),
    ("format", None, f"One of {', '.join(FORMATS)} (default zoo)."),
    ("output", None, "The .onnx / .tflite file to write."),
    ("zoo_dir", zoo.ZOO_DIR, "Where --format=zoo writes."),
  ):
    flags.DEFINE_string(name, default, text, flag_values=fv)
  flags.DEFINE_integer(
    "step", None, "Checkpoint step (default latest).", flag_values=fv
  )
  flags.DEFINE_bool(
    "overwrite", False, "Replace an existing output.", flag_values=fv
  )
  flags.DEFINE_bool("help", False, "Show this help.", flag_values=fv)
  return fv


def _check(fv: flags.FlagValues) -> str:
  """The format to write; raises UsageError for flags that do not fit.

  Without ``--format``: the one ``--output``'s extension names, else zoo.
  """
  suffix = os.path.splitext(fv.output or "")[1].lstrip(".").lower()
  fmt = fv.format or (suffix if suffix in FORMATS[1:] else "zoo")
  if fmt not in FORMATS:
    raise UsageError(
      f"unsupported --format={fmt} (choose {', '.join(FORMATS)})"
    )
  if fmt == "zoo":
    if fv.model or fv.output:
      raise UsageError(
        "--model and --output are for --format=onnx|tflite; the zoo takes "
        "--workdir and --name"
      )
    if not (fv.workdir and fv.name):
      raise UsageError("--format=zoo needs --workdir and --name")
    try:
      zoo.check_name(fv.name)
    except ValueError as e:
      raise UsageError(str(e)) from e
    return fmt
  if fv.name:
    raise UsageError(f"--name is for --format=zoo, not --format={fmt}")
  if not fv.output:
    raise UsageError(f"--format={fmt} needs --output=FILE")
  if not (fv.model or fv.workdir):
    raise UsageError(f"--format={fmt} needs --model=NAME or --workdir=RUN")
  if os.path.lexists(fv.output) and not fv.overwrite:
    raise UsageError(f"{fv.output} exists (pass --overwrite to replace it)")
  return fmt


def _export(fv: flags.FlagValues, fmt: str) -> str:
  """Writes what the flags ask for; returns the path written."""
  if fmt == "zoo":
    try:
      return export_run(
        fv.workdir,
        fv.name,
        step=fv.step,
        zoo_dir=fv.zoo_dir,
        overwrite=fv.overwrite,
      )
    except (OSError, ValueError, checkpointing.CheckpointError) as e:
      # No or only damaged checkpoints, a missing run: one line.
      message = str(e)
      if "--workdir" not in message:
        message = f"--workdir={fv.workdir}: {message}"
      raise UsageError(message) from e
  # Imported here: upscale's weight loading says which flag is wrong.
  from sr_jax import upscale

  try:
    weights = upscale.load_weights(
      model=fv.model, workdir=fv.workdir, step=fv.step
    )
  except upscale.UsageError as e:
    raise UsageError(str(e)) from e
  return export_portable(weights, fmt, fv.output)


def run(argv: list[str], *, err=None, log_path: str = "") -> int:
  """The command line: ``argv[0]`` is the program name.

  Args:
    argv: the arguments.
    err: where the one-line error goes (default: sys.stderr).
    log_path: a file holding the libraries' messages, named with an error.

  Returns:
    The exit status: 0 written, 1 a conversion failed, 2 usage error.
  """
  fv = _flag_values()
  err = err or sys.stderr

  def fail(message: str, status: int) -> int:
    line = (str(message).strip().splitlines() or ["failed"])[0]
    hint = f" (details: {log_path})" if log_path and status == 1 else ""
    print(f"export: error: {line}{hint}", file=err, flush=True)
    return status

  try:
    extra = fv(argv)[1:]
  except flags.Error as e:
    return fail(str(e), 2)
  if fv.help:
    print(__doc__ + "\n" + fv.get_help())
    return 0
  try:
    if extra:
      raise UsageError(f"unexpected argument {extra[0]!r}")
    path = _export(fv, _check(fv))
  except UsageError as e:
    return fail(str(e), 2)
  except portable.ConversionError as e:
    return fail(str(e), 1)
  print(f"Wrote {path}")
  return 0


def main() -> None:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # Orbax, TensorFlow and tensorstore print warnings and, after a failed
  # restore, tracebacks from their own threads, some at exit. All of it goes
  # to a log file (fd 2 stays there until the process ends); the user sees
  # only this command's own lines.
  fd, log_path = tempfile.mkstemp(prefix="sr_jax_export_", suffix=".log")
  err = os.fdopen(os.dup(2), "w")
  os.dup2(fd, 2)
  os.close(fd)
  status = run(sys.argv, err=err, log_path=log_path)
  if status != 1:
    os.remove(log_path)  # Only a failed conversion's details are named.
  err.flush()
  sys.exit(status)


if __name__ == "__main__":
  main()
