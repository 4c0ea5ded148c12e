"""Where a training step's time goes: sr_jax vs PyTorch and Keras, by part.

Usage::

  pip install -r benchmarks/requirements.txt   # torch (CPU), OpenCV
  python benchmarks/train_step_breakdown.py [--json=FILE] [--rounds=10]
      [--steps_per_round=5] [--configs=espcn_x3,espcn_rdb_x3] [--quick]

The step of ``train_step.py`` (same configs, batch, loss and optimizer),
timed as three parts, each jitted (traced) on its own: the forward (the L1
loss), forward + backward (loss and parameter gradients, no optimizer) and
the whole step, for sr_jax (one device per core and one device), PyTorch
on 1 and 2 threads and TensorFlow; backward and optimizer are differences
of medians. Times are per optimizer step: sr_jax's whole-step calls run
``train.steps_per_call`` steps and are divided by it, so its "+ optimizer"
difference can come out below zero (the saved per-call overhead outweighs
Adam). Contenders run interleaved in their own processes
(``benchmarks/harness.py``); ``--emulate=avx2`` caps every worker at AVX2
(``benchmarks/machine.py``).
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import harness, machine  # noqa: E402
from benchmarks.peers_train import tf_step, torch_step  # noqa: E402
from benchmarks.train_workloads import (  # noqa: E402
  MAIN_MALLOC,
  THREADS,
  parse_args,
  sr_jax_step,
)

ONE_DEVICE = "sr_jax, 1 device"

# The contenders: (label, factory, extra kwargs, malloc).
BREAKDOWN = (
  ("sr_jax", sr_jax_step, {"devices": -1}, MAIN_MALLOC),
  (ONE_DEVICE, sr_jax_step, {"devices": 1}, MAIN_MALLOC),
  ("pytorch, 1 thread", torch_step, {"threads": 1}, None),
  ("pytorch, 2 threads", torch_step, {}, None),
  ("tensorflow", tf_step, {}, None),
)
PARTS = ("forward", "grad", "step")


def breakdown(
  config_name: str,
  *,
  rounds: int,
  steps_per_round: int,
  monitor: machine.LoadMonitor | None = None,
) -> tuple[list[list[str]], dict]:
  """Forward, forward + backward and whole step of each framework.

  Returns:
    Table rows and a JSON entry: framework -> part -> median ms.
  """
  contenders = []
  for label, factory, kwargs, malloc in BREAKDOWN:
    for part in PARTS:
      kw = {"config_name": config_name, "part": part, **kwargs}
      contenders.append(
        harness.Contender(f"{label} {part}", factory, kw, malloc=malloc)
      )
  t = harness.run_interleaved(
    contenders,
    rounds=rounds,
    calls_per_round=steps_per_round,
    round_budget_s=2.0,
    warmup=15,
    threads=THREADS,
    monitor=monitor,
  )
  # Per optimizer step: a "step" call of sr_jax runs several
  # (info["steps_per_call"]); forward and grad calls run one.
  ms = {
    label: {
      part: t[f"{label} {part}"].median_ms
      / t[f"{label} {part}"].info.get("steps_per_call", 1)
      for part in PARTS
    }
    for label, *_ in BREAKDOWN
  }
  cores = {
    label: {part: t[f"{label} {part}"].cores for part in PARTS}
    for label, *_ in BREAKDOWN
  }
  flops = t["sr_jax step"].info.get("xla_flops")
  base = ms["sr_jax"]
  rows = []
  for label, m in ms.items():
    backward = m["grad"] - m["forward"]
    optimizer = m["step"] - m["grad"]
    rows.append(
      [
        config_name,
        label,
        f"{m['forward']:.1f}",
        f"{backward:.1f}",
        f"{optimizer:.1f}",
        f"{m['step']:.1f}",
        f"{cores[label]['step']:.2f}",
        f"{flops / m['step'] * 1e-6:.0f}" if flops else "-",
        "-"
        if label == "sr_jax"
        else " / ".join(f"{m[p] / base[p]:.2f}" for p in PARTS),
      ]
    )
  return rows, {
    "median_ms": ms,
    "cores_busy": cores,
    "xla_flops_per_step": flops,
  }


BREAKDOWN_HEADERS = (
  "config",
  "implementation",
  "forward ms",
  "+ backward ms",
  "+ optimizer ms",
  "step ms",
  "step cores busy",
  "GFLOP/s (XLA count)",
  "R fwd / fwd+bwd / step",
)


def main(argv: list[str] | None = None) -> None:
  args, names = parse_args(__doc__.split("\n")[0], argv)

  record = machine.start(args.emulate)
  results, rows = {}, []
  monitor = machine.LoadMonitor()
  for name in names:
    print(f"{name} (breakdown):")
    config_rows, results[name] = breakdown(
      name,
      rounds=args.rounds,
      steps_per_round=args.steps_per_round,
      monitor=monitor,
    )
    rows += config_rows
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  print(monitor.line())
  print(
    "Where the step time goes: medians of forward (loss), forward + "
    "backward (loss and gradients) and the whole step, each jitted / "
    "traced on its own; backward and optimizer are differences of "
    "medians. GFLOP/s = XLA's FLOP count of sr_jax's step / step time. "
    "R = this / sr_jax's time (R > 1: sr_jax faster)."
  )
  print(harness.markdown_table(BREAKDOWN_HEADERS, rows))
  if args.json:
    results["machine"] = {**record, "load": monitor.summary()}
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
