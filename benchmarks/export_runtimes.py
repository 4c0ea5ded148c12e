"""One x3 frame (640x360 -> 1920x1080) in sr_jax, onnxruntime and LiteRT.

Usage::

  python benchmarks/export_runtimes.py [--json=FILE] [--rounds=5]
      [--calls_per_round=2] [--models=espcn_rdb_x3_jpeg,espcn_x3]
      [--ratios_under_load]

The frame is the inference benchmarks' (Set14 'monarch' cropped to 16:9 and
resized to 640x360, ``inference_workloads.load_frame``). Every contender
takes it as uint8 RGB and returns the uint8 RGB 1920x1080 frame that
``python -m sr_jax.upscale`` writes (Y models: luma through the network,
chroma from the MATLAB bicubic):

* ``sr_jax``: ``upscale.upscale_pictures`` with the
  :class:`inference.Predictor` the command line builds (``--tile=256``,
  ``--whole_max_pixels`` default: this frame runs whole), one JAX CPU
  device per core and sr_jax's allocator setting, as ``sr_jax.upscale``
  runs;
* ``onnxruntime``: the file of ``python -m sr_jax.export --format=onnx``,
  CPU provider, with 1 and with 2 intra-op threads;
* ``LiteRT``: the file of ``--format=tflite`` in ``ai_edge_litert``'s
  interpreter (XNNPACK), 2 threads.

The portable rows go through :func:`sr_jax.runtimes.upscale_uint8` (uint8
-> float -> the file -> rounded uint8). Each contender runs in its own worker
process pinned to the same 2 CPUs, interleaved with the others
(``benchmarks/harness.py``); times are medians of ``rounds *
calls_per_round`` calls after warm-up. R = this time / the same model's
sr_jax time (R < 1: faster than sr_jax). Ratios are withheld when the idle
probes between rounds find other jobs running (``--ratios_under_load``
prints them, marked).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine  # noqa: E402
from benchmarks.inference_workloads import (  # noqa: E402
  FRAME_SIZE,
  FRAME_SOURCE,
  load_frame,
)
from benchmarks.train_workloads import MAIN_MALLOC, THREADS  # noqa: E402

MODELS = ("espcn_rdb_x3_jpeg", "espcn_x3")
# Runtime label -> (factory name, its keyword arguments, file format).
RUNTIMES = {
  "sr_jax (upscale's Predictor)": ("sr_jax_frame", {}, None),
  "onnxruntime, 1 thread": ("onnxruntime_frame", {"threads": 1}, "onnx"),
  "onnxruntime, 2 threads": ("onnxruntime_frame", {"threads": 2}, "onnx"),
  "LiteRT (XNNPACK), 2 threads": ("litert_frame", {"threads": 2}, "tflite"),
}
SR_JAX = "sr_jax (upscale's Predictor)"


def _rgb_frame() -> np.ndarray:
  return np.ascontiguousarray(load_frame()[..., ::-1])


def _info(out: np.ndarray) -> dict:
  # The frames the contenders write should agree: their means show it.
  return {"output_shape": list(out.shape), "output_mean": float(out.mean())}


def sr_jax_frame(model: str) -> harness.Workload:
  """The frame as ``python -m sr_jax.upscale --model=<model>`` computes it."""
  from sr_jax import platform_tuning

  platform_tuning.split_cpu_devices(-1)
  from sr_jax import image_io, inference, upscale

  weights = inference.load(zoo_name=model)
  predictor = inference.Predictor(
    weights.config,
    weights.params,
    tile=256,
    whole_max_pixels=upscale.WHOLE_MAX_PIXELS,
  )
  picture = image_io.Picture(_rgb_frame())

  def run():
    [(sr, _)] = upscale.upscale_pictures(predictor, [picture])
    return sr.color

  out = run()
  info = {**_info(out), "isa": machine.framework_isa("jax")}
  return harness.Workload(run=run, info=info)


def _portable(runner) -> harness.Workload:
  from sr_jax import runtimes

  frame = _rgb_frame()

  def run():
    return runtimes.upscale_uint8(runner, frame)

  out = run()
  return harness.Workload(run=run, info=_info(out))


def onnxruntime_frame(path: str, threads: int) -> harness.Workload:
  """The ONNX file in onnxruntime's CPU provider, ``threads`` threads."""
  from sr_jax import runtimes

  return _portable(runtimes.onnxruntime_runner(path, threads=threads))


def litert_frame(path: str, threads: int) -> harness.Workload:
  """The LiteRT file in ai_edge_litert's interpreter."""
  from sr_jax import runtimes

  return _portable(runtimes.litert_runner(path, threads=threads))


_FACTORIES = {
  "sr_jax_frame": sr_jax_frame,
  "onnxruntime_frame": onnxruntime_frame,
  "litert_frame": litert_frame,
}


def export_files(models, folder: str) -> dict[tuple[str, str], str]:
  """``(model, format) -> path``, written by the real export command."""
  paths = {}
  for model in models:
    for fmt in ("onnx", "tflite"):
      path = os.path.join(folder, f"{model}.{fmt}")
      subprocess.run(
        [sys.executable, "-m", "sr_jax.export", f"--model={model}",
         f"--format={fmt}", f"--output={path}"],
        cwd=REPO, check=True, capture_output=True,
      )  # fmt: skip
      paths[model, fmt] = path
  return paths


def contenders(models, paths) -> list[harness.Contender]:
  out = []
  for model in models:
    for label, (factory, kwargs, fmt) in RUNTIMES.items():
      if fmt is None:
        kw, malloc = {"model": model}, MAIN_MALLOC
      else:
        kw, malloc = {"path": paths[model, fmt], **kwargs}, None
      out.append(
        harness.Contender(
          f"{model}: {label}", _FACTORIES[factory], kw, malloc=malloc
        )
      )
  return out


def _rows(models, t, loaded: bool, show_loaded: bool):
  """Table rows and JSON entries from the timings."""
  rows, results = [], {}
  for model in models:
    base = t[f"{model}: {SR_JAX}"].median_s
    onnx = [f"{model}: onnxruntime, {n}" for n in ("1 thread", "2 threads")]
    best_onnx = min(onnx, key=lambda n: t[n].median_s)
    for label in RUNTIMES:
      timing = t[f"{model}: {label}"]
      q1, q3 = timing.quartiles_ms()
      ratio = timing.median_s / base
      shown = harness.ratio_text(ratio, loaded=loaded, show_loaded=show_loaded)
      best = " (best onnxruntime)" if f"{model}: {label}" == best_onnx else ""
      rows.append(
        [
          model,
          label + best,
          f"{timing.median_ms:.0f} ({q1:.0f}-{q3:.0f})",
          f"{1.0 / timing.median_s:.2f}",
          f"{timing.cores:.2f}",
          "1.00 (reference)" if label == SR_JAX else shown,
        ]
      )
      results.setdefault(model, {})[label] = {
        "ms": round(timing.median_ms, 1),
        "iqr_ms": [round(q1, 1), round(q3, 1)],
        "frames_per_s": round(1.0 / timing.median_s, 3),
        "cores_busy": round(timing.cores, 2),
        "calls": len(timing.wall_s),
        "ratio_to_sr_jax": None if loaded else round(ratio, 3),
        "ratio_to_sr_jax_under_load": round(ratio, 3),
        **timing.info,
      }
  return rows, results


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--calls_per_round", type=int, default=2)
  parser.add_argument("--models", default=",".join(MODELS))
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  models = [m for m in args.models.split(",") if m]
  record = machine.start(args.emulate)
  monitor = machine.LoadMonitor()
  with tempfile.TemporaryDirectory(prefix="export_runtimes_") as tmp:
    paths = export_files(models, tmp)
    t = harness.run_interleaved(
      contenders(models, paths),
      rounds=args.rounds,
      calls_per_round=args.calls_per_round,
      warmup=3,
      warmup_budget_s=20.0,
      threads=THREADS,
      monitor=monitor,
    )
  t, loaded, note = harness.settle_load(t, monitor)
  rows, results = _rows(models, t, loaded, args.ratios_under_load)
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  print(monitor.line() + note)
  w, h = FRAME_SIZE
  print(
    f"x3, {w}x{h} -> {3 * w}x{3 * h} ({FRAME_SOURCE.name} crop), uint8 RGB "
    f"in and out, {THREADS} CPUs; median of {args.rounds} rounds x "
    f"{args.calls_per_round} calls, interleaved. R = this time / the same "
    "model's sr_jax time (R < 1: faster than sr_jax); cores busy = process "
    "CPU time / wall time."
  )
  print(
    harness.markdown_table(
      (
        "model",
        "runtime",
        "ms per frame, median (IQR)",
        "frames/s",
        "cores busy",
        "R",
      ),
      rows,
    )  # fmt: skip
  )
  if args.json:
    results["machine"] = {
      **record,
      "load": monitor.summary(),
      "ratios_from_quiet_rounds_only": monitor.loaded and not loaded,
    }
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
