"""The training step under XLA:CPU's backend flags: does any beat the default?

Usage::

  python benchmarks/xla_cpu_flags.py [--json=FILE] [--rounds=8]
      [--steps_per_round=5] [--configs=espcn_rdb_x3,espcn_x3]

The ESPCN-RDB step trails TensorFlow's (``benchmarks/train_step.py``), so
this times the same step, ``benchmarks/train_step.py``'s ``sr_jax`` row (the
real ``train.compile_train_step``, one CPU device per core, 4 steps per call,
malloc tuned), once per set of ``XLA_FLAGS`` in :data:`VARIANTS`: which
library runs the convolutions and matrix products (YNNPACK, XLA's default on
this jaxlib; Eigen; oneDNN), whether Eigen's kernels use the thread pool, and
the scheduler. Each variant runs in its own process (the flags are read when
JAX starts), pinned to the same CPUs, in interleaved rounds
(``benchmarks/harness.py``). Reported: median ms per optimizer step, cores
busy, and R = variant examples/s / default examples/s (R > 1: the flag
helps); ratios are withheld when other jobs kept the machine busy.
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine, train_workloads  # noqa: E402

_YNN = "--xla_cpu_experimental_ynn_fusion_type"
# (label, XLA_FLAGS added to the environment's).
VARIANTS = (
  ("default", ""),
  ("YNNPACK off (Eigen)", f"{_YNN}="),
  ("YNNPACK convolutions off", f"{_YNN}=-individual_convolution"),
  ("YNNPACK dots off", f"{_YNN}=-individual_dot"),
  ("YNNPACK elementwise + reduce fusions off", f"{_YNN}=-eltwise,-reduce"),
  ("oneDNN on", "--xla_cpu_use_onednn=true"),
  ("Eigen single-threaded", "--xla_cpu_multi_thread_eigen=false"),
  (
    "concurrency-optimized scheduler",
    "--xla_cpu_enable_concurrency_optimized_scheduler=true",
  ),
)
BATCH = 16
THREADS = 2


def flagged_step(xla_flags: str, config_name: str) -> harness.Workload:
  """``train_workloads.sr_jax_step`` with ``xla_flags`` set before JAX starts."""
  if xla_flags:
    os.environ["XLA_FLAGS"] = (
      os.environ.get("XLA_FLAGS", "") + " " + xla_flags
    ).strip()
  # train_workloads imports no JAX; sr_jax_step starts it, after this.
  workload = train_workloads.sr_jax_step(config_name)
  workload.info["xla_flags"] = os.environ.get("XLA_FLAGS", "")
  return workload


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=8)
  parser.add_argument("--steps_per_round", type=int, default=5)
  parser.add_argument("--configs", default="espcn_rdb_x3,espcn_x3")
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  record = machine.start(args.emulate)
  results, rows, notes = {}, [], []
  for config_name in [n for n in args.configs.split(",") if n]:
    print(f"{config_name}:")
    monitor = machine.LoadMonitor()
    timings = harness.run_interleaved(
      [
        harness.Contender(
          label,
          flagged_step,
          {"xla_flags": flags, "config_name": config_name},
          malloc=train_workloads.MAIN_MALLOC,
        )
        for label, flags in VARIANTS
      ],
      rounds=args.rounds,
      calls_per_round=args.steps_per_round,
      round_budget_s=2.0,
      warmup=15,
      threads=THREADS,
      monitor=monitor,
    )
    loaded = monitor.loaded
    step_ms = {
      n: t.median_ms / t.info["steps_per_call"] for n, t in timings.items()
    }
    entry = {}
    for label, flags in VARIANTS:
      t = timings[label]
      ratio = step_ms["default"] / step_ms[label]
      entry[label] = {
        "xla_flags": flags,
        "median_ms_per_step": round(step_ms[label], 2),
        "examples_per_s": round(BATCH / step_ms[label] * 1e3, 1),
        "cores_busy": round(t.cores, 2),
        "ratio_vs_default": None if loaded else round(ratio, 3),
      }
      rows.append(
        [
          config_name,
          label,
          f"`{flags}`" if flags else "-",
          f"{step_ms[label]:.2f}",
          f"{t.cores:.2f}",
          "-"
          if label == "default"
          else harness.ratio_text(
            ratio, loaded=loaded, show_loaded=False, unit=" x default"
          ),
        ]
      )
    results[config_name] = entry
    record.setdefault("load", {})[config_name] = monitor.summary()
    notes.append(f"{config_name}: {monitor.line()}")
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  for note in notes:
    print(note)
  print(
    "Train step (batch 16, as sr_jax.main runs it) per set of XLA_FLAGS; "
    "median ms per optimizer step; R = variant examples/s / default's."
  )
  print(
    harness.markdown_table(
      ("config", "variant", "XLA_FLAGS", "ms / step", "cores busy", "R"),
      rows,
    )
  )
  if args.json:
    results["machine"] = record
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
