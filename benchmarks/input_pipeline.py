"""Input pipeline throughput vs what the ESPCN-RDB x3 train step consumes.

Usage::

  python benchmarks/input_pipeline.py [--json=FILE] [--rounds=10] [--quick]

Measures, interleaved in worker processes pinned to the same 2 CPUs (see
``benchmarks/harness.py``):

* ``create_train_dataset``: training pairs/s that
  ``sr_jax.input_pipeline.create_train_dataset`` delivers for
  ``configs/x3.py`` (T91 from ``data/train``, batch 16, 16x16 LR patches,
  augmentation on), read with ``as_numpy_iterator`` as ``train.py`` reads
  it, after warm-up (the decoded images cached, the shuffle buffer full).
  Every round first drains batches untimed for a second (at least 64), so
  that batches prefetched while the other workers ran (tf.data's autotuned
  buffers can hold hundreds) are not counted, then times calls of 50
  batches.
* ``create_train_dataset, degraded``: the same with the LR degradations on
  (``data.jpeg_quality=(30, 95)``, ``data.jpeg_clean_fraction=0.1``,
  ``data.noise_sigma=(0, 5)``): what a JPEG-robust training run gets.
* ``train step``: ``compile_train_step`` of ``configs/x3.py`` on a fixed
  batch (as ``benchmarks/train_step.py``), with glibc's default malloc and
  tuned (``harness.keep_freed_memory(one_arena=True)``); pairs/s consumed =
  16 / median step time.
* ``train step fed by the pipeline``: both in one process, as ``train.py``
  runs them (next batch, ``global_batch``, step): what the pipeline costs the
  step when they share the cores.

Prints the ratio of pipeline pairs/s to consumed pairs/s; it should be at
least 3 so that the pipeline never starves training (the script says if it
is not).
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, train_workloads  # noqa: E402

CONFIG = "espcn_rdb_x3"
# The degradations of the "degraded" contender (config.data overrides).
DEGRADED = {
  "jpeg_quality": (30, 95),
  "jpeg_clean_fraction": 0.1,
  "noise_sigma": (0.0, 5.0),
}
BATCHES_PER_CALL = 50
DRAIN_BATCHES = 64
DRAIN_SECONDS = 1.0
REQUIRED_RATIO = 3.0


def _dataset_iterator(config_name: str, data: dict | None = None):
  import tensorflow as tf

  from sr_jax import input_pipeline

  # tf.data uses its own pool; these only keep TF's op pools at 2 as well.
  tf.config.threading.set_intra_op_parallelism_threads(train_workloads.THREADS)
  tf.config.threading.set_inter_op_parallelism_threads(train_workloads.THREADS)
  config = train_workloads.load_config(config_name)
  config.data.update(data or {})
  ds = input_pipeline.create_train_dataset(config)
  return config, iter(ds.as_numpy_iterator())


def pipeline(
  config_name: str = CONFIG, data: dict | None = None
) -> harness.Workload:
  """One call: ``BATCHES_PER_CALL`` batches from ``create_train_dataset``
  (with ``config.data`` updated by ``data``)."""
  config, batches = _dataset_iterator(config_name, data)
  first = next(batches)
  shapes = {k: list(v.shape) for k, v in first.items()}

  def drain():
    # The buffers empty in microseconds per batch; the rest of the second
    # runs at the pipeline's own pace.
    start = time.perf_counter()
    for i in itertools.count():
      if i >= DRAIN_BATCHES and time.perf_counter() - start > DRAIN_SECONDS:
        break
      next(batches)

  def run():
    for _ in range(BATCHES_PER_CALL):
      next(batches)

  info = {
    "pairs_per_call": BATCHES_PER_CALL * config.batch_size,
    "batch_shapes": shapes,
    "train_sets": config.data.train_sets,
  }
  return harness.Workload(run=run, prepare=drain, info=info)


def fed_step(config_name: str = CONFIG) -> harness.Workload:
  """``train.py``'s loop body: next batches (stacked for a multi-step call),
  ``global_batch``, train step."""
  _, batches = _dataset_iterator(config_name)
  return train_workloads.sr_jax_step(config_name, batches=batches)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--calls_per_round", type=int, default=4)
  parser.add_argument(
    "--quick", action="store_true", help="2 rounds of 2 calls: a smoke run"
  )
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds, args.calls_per_round = 2, 2

  print(harness.machine_line())
  kwargs = {"config_name": CONFIG}
  contenders = [
    harness.Contender("create_train_dataset", pipeline, kwargs),
    harness.Contender(
      "create_train_dataset, degraded",
      pipeline,
      {**kwargs, "data": DEGRADED},
    ),
    harness.Contender("train step", train_workloads.sr_jax_step, kwargs),
    harness.Contender(
      "train step (malloc tuned)",
      train_workloads.sr_jax_step,
      kwargs,
      malloc="no_mmap_one_arena",
    ),
    harness.Contender("train step fed by the pipeline", fed_step, kwargs),
  ]
  t = harness.run_interleaved(
    contenders,
    rounds=args.rounds,
    calls_per_round=args.calls_per_round,
    warmup=15,
    threads=train_workloads.THREADS,
  )
  batch = train_workloads.load_config(CONFIG).batch_size
  pairs_per_call = t["create_train_dataset"].info["pairs_per_call"]
  supply = pairs_per_call / t["create_train_dataset"].median_s
  supply_degraded = (
    pairs_per_call / t["create_train_dataset, degraded"].median_s
  )
  pipelines = ("create_train_dataset", "create_train_dataset, degraded")
  # A train-step call may run several steps (train.steps_per_call).
  consumed = {
    n: batch * t[n].info.get("steps_per_call", 1) / t[n].median_s
    for n in t
    if n not in pipelines
  }
  ratio = supply / consumed["train step"]
  ratio_tuned = supply / consumed["train step (malloc tuned)"]
  ratio_degraded = supply_degraded / consumed["train step"]
  fed_cost = t["train step fed by the pipeline"].median_s / (
    t["train step"].median_s
  )

  rows = []
  for name, timing in t.items():
    q1, q3 = timing.quartiles_ms()
    steps = timing.info.get("steps_per_call", 1)
    per_call = (
      "50 batches"
      if name in pipelines
      else f"{steps} step{'s' if steps > 1 else ''}"
    )
    pairs = {
      "create_train_dataset": supply,
      "create_train_dataset, degraded": supply_degraded,
    }.get(name) or consumed[name]
    rows.append(
      [
        name,
        per_call,
        f"{timing.median_ms:.1f} ({q1:.1f}-{q3:.1f})",
        f"{pairs:,.0f}",
        f"{timing.cores:.2f}",
        f"{supply / pairs:.1f}" if name not in pipelines else "-",
      ]
    )
  print()
  print(
    f"configs/x3.py, T91 (data/train), batch {batch}; {args.rounds} rounds, "
    f"interleaved, {train_workloads.THREADS} CPUs. Supply/demand = pipeline "
    "pairs/s / pairs/s the step consumes."
  )
  print(
    harness.markdown_table(
      (
        "what",
        "one call",
        "ms/call median (IQR)",
        "pairs/s",
        "cores busy",
        "supply / demand",
      ),
      rows,
    )
  )
  verdict = "OK" if min(ratio, ratio_tuned) >= REQUIRED_RATIO else "NOT MET"
  print(
    f"\nPipeline supplies {ratio:.1f}x what the train step consumes "
    f"({ratio_tuned:.1f}x the malloc-tuned step); required >= "
    f"{REQUIRED_RATIO:.0f}x: {verdict}. With the degradations on "
    f"({DEGRADED}) it supplies {ratio_degraded:.1f}x. Feeding the step from "
    f"the pipeline in the same process makes a step {fed_cost:.2f}x as long "
    "as with a fixed batch."
  )
  if args.json:
    harness.write_json(
      args.json,
      {
        CONFIG: {
          "input_pipeline": {
            "pairs_per_s": round(supply, 1),
            "median_ms_per_50_batches": round(
              t["create_train_dataset"].median_ms, 2
            ),
          },
          "input_pipeline_degraded": {
            "data": {
              k: list(v) if isinstance(v, tuple) else v
              for k, v in DEGRADED.items()
            },
            "pairs_per_s": round(supply_degraded, 1),
            "supply_over_demand": round(ratio_degraded, 2),
          },
          "train_step": {
            "pairs_per_s": round(consumed["train step"], 1),
            "median_ms": round(t["train step"].median_ms, 2),
          },
          "train_step_malloc_tuned": {
            "pairs_per_s": round(consumed["train step (malloc tuned)"], 1),
            "median_ms": round(t["train step (malloc tuned)"].median_ms, 2),
          },
          "train_step_fed_by_pipeline": {
            "pairs_per_s": round(consumed["train step fed by the pipeline"], 1),
            "slowdown_vs_fixed_batch": round(fed_cost, 3),
          },
          "supply_over_demand": round(ratio, 2),
          "supply_over_demand_malloc_tuned": round(ratio_tuned, 2),
          "required": REQUIRED_RATIO,
          "met": bool(min(ratio, ratio_tuned) >= REQUIRED_RATIO),
        }
      },
    )


if __name__ == "__main__":
  main()
