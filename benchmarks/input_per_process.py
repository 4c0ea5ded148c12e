"""Input work per process at N = 1, 2, 4 processes, and resuming late.

Usage::

  python benchmarks/input_per_process.py [--processes=1,2,4] [--steps=200]
    [--json=FILE]

For each N, runs N worker processes, each building its stream with
``create_train_dataset(config, process_index=i, process_count=N)`` as
``train.py`` does under ``launch/local.sh`` (``configs/x3.py``: T91 from
``data/train``, global batch 16). Each worker counts the pairs its pipeline
actually makes (the ``pair_counter`` variable, incremented by every batch
the pipeline makes, prefetched ones included) and times its steps; the
driver then concatenates the N workers' local batches of each step, in
process order, and checks that the global batches equal N = 1's bit for bit.

The workers run one after another, each pinned to the same 2 CPUs: on this
2-core machine N processes run at once would share the cores, so their wall
time would measure the sharing, not the work one host does; run alone, each
stands for a host of its own. (The pair counts do not depend on this.)

A second table: the time to a first batch for a stream that starts at step
10 and at step 1,000,000, and whether the latter's first batch equals the
third batch of a stream started at 999,998 (resuming generates the stream
at its step; nothing is replayed).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, train_workloads  # noqa: E402

CONFIG = "espcn_rdb_x3"
WARMUP_STEPS = 20
LATE_START = 1_000_000


def worker(args) -> None:
  """One process's stream: counts, times and saves its batches."""
  cpus = sorted(os.sched_getaffinity(0))
  os.sched_setaffinity(0, cpus[: train_workloads.THREADS])
  import tensorflow as tf

  from sr_jax import input_pipeline

  tf.config.threading.set_intra_op_parallelism_threads(train_workloads.THREADS)
  tf.config.threading.set_inter_op_parallelism_threads(train_workloads.THREADS)
  config = train_workloads.load_config(args.config)
  counter = tf.Variable(0, dtype=tf.int64)
  t0 = time.perf_counter()
  ds = input_pipeline.create_train_dataset(
    config,
    process_index=args.process_index,
    process_count=args.process_count,
    start_step=args.start_step,
    pair_counter=counter,
  )
  made_s = time.perf_counter() - t0
  batches = ds.as_numpy_iterator()
  t0 = time.perf_counter()
  kept = [next(batches)]
  first_s = time.perf_counter() - t0
  for _ in range(args.warmup):
    kept.append(next(batches))
  pairs_before = int(counter.numpy())
  t0 = time.perf_counter()
  for _ in range(args.steps):
    kept.append(next(batches))
  step_s = (time.perf_counter() - t0) / max(args.steps, 1)
  pairs = int(counter.numpy()) - pairs_before
  np.savez(
    args.out,
    lr=np.stack([b["lr"] for b in kept]),
    hr=np.stack([b["hr"] for b in kept]),
  )
  print(
    json.dumps(
      {
        "dataset_s": made_s,
        "first_batch_s": first_s,
        "ms_per_step": 1e3 * step_s,
        "pairs_per_step": pairs / max(args.steps, 1),
        "local_batch": int(kept[0]["lr"].shape[0]),
      }
    )
  )


def _run_worker(config, index, count, *, start, warmup, steps, out) -> dict:
  cmd = [
    sys.executable,
    __file__,
    "--worker",
    f"--config={config}",
    f"--process_index={index}",
    f"--process_count={count}",
    f"--start_step={start}",
    f"--warmup={warmup}",
    f"--steps={steps}",
    f"--out={out}",
  ]
  run = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if run.returncode:
    raise RuntimeError(f"worker failed:\n{run.stderr[-3000:]}")
  result = json.loads(run.stdout.strip().splitlines()[-1])
  with np.load(out) as f:
    result["lr"], result["hr"] = f["lr"], f["hr"]
  return result


def _global_batches(parts: list[dict]) -> dict[str, np.ndarray]:
  """Concatenates the processes' local batches of each step, in order."""
  return {
    k: np.concatenate([p[k] for p in parts], axis=1) for k in ("lr", "hr")
  }


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--config", default=CONFIG)
  parser.add_argument("--processes", default="1,2,4")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--warmup", type=int, default=WARMUP_STEPS)
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--process_index", type=int, default=0)
  parser.add_argument("--process_count", type=int, default=1)
  parser.add_argument("--start_step", type=int, default=0)
  parser.add_argument("--out", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker:
    worker(args)
    return

  print(harness.machine_line())
  counts = [int(n) for n in args.processes.split(",")]
  batch = train_workloads.load_config(args.config).batch_size
  rows, results, reference = [], {}, None
  with tempfile.TemporaryDirectory() as tmp:
    run = lambda i, n, **kw: _run_worker(  # noqa: E731
      args.config, i, n, out=os.path.join(tmp, f"{n}_{i}.npz"), **kw
    )
    for n in counts:
      parts = [
        run(i, n, start=0, warmup=args.warmup, steps=args.steps)
        for i in range(n)
      ]
      joined = _global_batches(parts)
      if reference is None:
        reference = joined
      equal = all(np.array_equal(joined[k], reference[k]) for k in joined)
      pairs = [p["pairs_per_step"] for p in parts]
      ms = [p["ms_per_step"] for p in parts]
      results[str(n)] = {
        "rows_per_process": parts[0]["local_batch"],
        "pairs_made_per_process_per_step": [round(v, 3) for v in pairs],
        "ms_per_step_per_process": [round(v, 3) for v in ms],
        "global_batches_equal_to_first": equal,
      }
      rows.append(
        [
          n,
          parts[0]["local_batch"],
          " / ".join(f"{v:.2f}" for v in pairs),
          " / ".join(f"{v:.2f}" for v in ms),
          f"{np.mean([b / (m / 1e3) for b, m in zip(pairs, ms, strict=True)]):,.0f}",
          "yes" if equal else "NO",
        ]
      )
    steps_checked = 1 + args.warmup + args.steps
    late = {
      s: run(0, 1, start=s, warmup=w, steps=0)
      for s, w in ((10, 0), (LATE_START - 2, 2), (LATE_START, 0))
    }
  resumed_equal = all(
    np.array_equal(late[LATE_START][k][0], late[LATE_START - 2][k][2])
    for k in ("lr", "hr")
  )

  print(
    f"\nconfigs/x3.py, T91, global batch {batch}; each process run alone on "
    f"{train_workloads.THREADS} CPUs, {args.steps} timed steps after "
    f"{args.warmup} warm-up steps. Pairs made per process per step: the "
    "pipeline's own counter. Global batches: the processes' batches of each "
    f"of the {steps_checked} steps concatenated in process order, compared "
    f"bit for bit with N = {counts[0]}'s."
  )
  print(
    harness.markdown_table(
      (
        "processes N",
        "rows per process",
        "pairs made per process per step (each process)",
        "ms per step (each process)",
        "pairs/s per process",
        f"global batches equal to N = {counts[0]}",
      ),
      rows,
    )
  )
  print(
    "\nResuming: one process, a fresh stream that starts at the given step "
    "(dataset made = reading the images into memory; first batch = from "
    "the iterator's creation)."
  )
  print(
    harness.markdown_table(
      ("start step", "dataset made (s)", "first batch (s)"),
      [
        [f"{s:,}", f"{r['dataset_s']:.2f}", f"{r['first_batch_s']:.3f}"]
        for s, r in late.items()
        if s != LATE_START - 2
      ],
    )
  )
  print(
    f"First batch of the stream started at {LATE_START:,} == third batch of "
    f"the one started at {LATE_START - 2:,}: "
    f"{'yes' if resumed_equal else 'NO'}"
  )
  if args.json:
    harness.write_json(
      args.json,
      {
        args.config: {
          "per_process": results,
          "resume": {
            str(s): {
              "dataset_s": round(r["dataset_s"], 3),
              "first_batch_s": round(r["first_batch_s"], 4),
            }
            for s, r in late.items()
          },
          "late_start_equals_replayed_stream": resumed_equal,
        }
      },
    )


if __name__ == "__main__":
  main()
