"""Training-step throughput: sr_jax vs the same network in PyTorch and Keras.

Usage::

  pip install -r benchmarks/requirements.txt   # torch (CPU), OpenCV
  python benchmarks/train_step.py [--json=FILE] [--rounds=10]
      [--steps_per_round=5] [--configs=espcn_x3,espcn_rdb_x3] [--quick]

What is timed, per config (``espcn_x3`` = ``configs/espcn_x3.py``, the
59,657-parameter Keras-example ESPCN; ``espcn_rdb_x3`` = ``configs/x3.py``,
ESPCN-RDB with its bicubic image skip): one optimizer step on a batch of 16
low-resolution 16x16 patches (the config's ``lr_patch_size``) and their
48x48 targets, L1 loss, Adam, Y channel:

* ``sr_jax``: ``sr_jax.train.compile_train_step`` itself, the function
  ``train.py`` runs (uint8 RGB batch in, converted to Y inside the step; the
  step also computes the batch PSNR), set up as ``python -m sr_jax.main``
  sets it up: the CPU backend split into one JAX device per usable core
  (``platform_tuning.split_cpu_devices``), the batch sharded over a ``Mesh``
  of them (``train.global_batch``), glibc malloc tuned
  (``--keep_freed_memory``, on by default), and as many steps per compiled
  call as ``train.py`` takes (``train.steps_per_call``: 4 on CPU); its
  times are per step, i.e. per call divided by that;
* ``sr_jax, 1 step per call``: the same with ``config.steps_per_call=1``;
* ``sr_jax, dense blocks stacked``: ESPCN-RDB with the dense-block form
  the inference layer uses on CPU (``platform_tuning.for_inference``);
* ``sr_jax, 1 device``: the same with ``--cpu_devices=1`` (XLA's single CPU
  device, still with both CPUs), for comparison;
* ``pytorch``: eager PyTorch on CPU (2 threads with OpenMP's default wait
  policy, with ``OMP_WAIT_POLICY=PASSIVE``, and 1 thread: see
  ``IMPLEMENTATIONS``; R is taken against the fastest of the three), NCHW ``nn.Conv2d``, ``F.pixel_shuffle``
  and, for ESPCN-RDB, ``F.interpolate(mode='bicubic', align_corners=False)``
  (Keys a = -0.75, where ``jax.image.resize`` uses a = -0.5: same cost),
  ``torch.optim.Adam``;
* ``tensorflow``: a Keras 3 model in a ``tf.function`` with ``GradientTape``
  and ``keras.optimizers.Adam``, ``tf.nn.depth_to_space`` and
  ``tf.image.resize(method='bicubic')``.

The peers receive the same uint8 RGB batch and convert it to Y in their step
too. Parameter counts are checked equal. Each implementation runs in its own
process pinned to the same 2 CPUs, with 2 intra-op threads (XLA's pool
follows the CPU affinity), and the processes take turns step by step in
rounds (see ``benchmarks/harness.py``). Reported: the median step time,
examples/s = 16 / median, cores busy (process CPU time / wall time), and
R = sr_jax examples/s / peer examples/s (R > 1: sr_jax is faster), also for
the 1-device variant. The header names the CPU and its ISA; ``--emulate=avx2``
caps every worker at AVX2 (``benchmarks/machine.py``). Between rounds the
driver probes the idle machine; if other jobs kept it busy, ratios are
withheld ("machine loaded"; ``--ratios_under_load`` prints them marked).

The peers' models and steps are in ``peers_train.py``, sr_jax's in
``train_workloads.py``. ``train_step_check.py`` checks that the twins
compute sr_jax's function; ``train_step_breakdown.py`` times forward,
backward and optimizer separately.
"""

import importlib.util
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
  load_config,
  parse_args,
  sr_jax_step,
)

# --- Driver -----------------------------------------------------------------

SR_JAX = "sr_jax, 1 device per core (as sr_jax.main runs)"
ONE_STEP = "sr_jax, 1 step per call"
ONE_DEVICE = "sr_jax, 1 device"
STACKED_DENSE = "sr_jax, dense blocks stacked (inference's form)"

# (name in tables/JSON, framework, factory, extra kwargs, malloc, CPUs).
# sr_jax runs as sr_jax.main runs it (one device per core, tuned malloc) and
# on a single device. PyTorch runs three ways because its OpenMP threads,
# with the default wait policy, stall for milliseconds at every parallel
# region when another job keeps the cores busy: the fastest of the three is
# its figure ("pytorch" in the JSON).
IMPLEMENTATIONS = (
  (SR_JAX, "jax", sr_jax_step, {"devices": -1}, MAIN_MALLOC, None),
  (ONE_DEVICE, "jax", sr_jax_step, {"devices": 1}, MAIN_MALLOC, None),
  (
    ONE_STEP,
    "jax",
    sr_jax_step,
    {"devices": -1, "steps_per_call": 1},
    MAIN_MALLOC,
    None,
  ),
  (
    STACKED_DENSE,
    "jax",
    sr_jax_step,
    {"devices": -1, "stacked_dense": True},
    MAIN_MALLOC,
    None,
  ),
  ("pytorch, 2 threads", "torch", torch_step, {}, None, None),
  (
    "pytorch, 2 threads, OMP_WAIT_POLICY=PASSIVE",
    "torch",
    torch_step,
    {"omp_wait_policy": "PASSIVE"},
    None,
    None,
  ),
  ("pytorch, 1 thread", "torch", torch_step, {"threads": 1}, None, None),
  ("tensorflow", "tensorflow", tf_step, {}, None, None),
)


def benchmark_config(
  config_name: str,
  *,
  rounds: int,
  steps_per_round: int,
  monitor: machine.LoadMonitor | None = None,
) -> dict[str, harness.Timings]:
  """Times every available implementation of one config, interleaved."""
  contenders = []
  for name, module, factory, kwargs, malloc, cpus in IMPLEMENTATIONS:
    if name == STACKED_DENSE and load_config(config_name).model.name not in (
      "espcn_rdb",
      "rdn",
    ):
      continue  # No dense blocks: the same program as SR_JAX.
    if importlib.util.find_spec(module) is None:
      print(f"  {name}: skipped, `{module}` is not installed")
      continue
    kwargs = {"config_name": config_name, **kwargs}
    contenders.append(
      harness.Contender(name, factory, kwargs, malloc=malloc, threads=cpus)
    )
  return harness.run_interleaved(
    contenders,
    rounds=rounds,
    calls_per_round=steps_per_round,
    # A step of PyTorch with stalling threads can take seconds: bound it.
    round_budget_s=2.0,
    warmup=15,
    threads=THREADS,
    monitor=monitor,
  )


def summarize(
  config_name: str,
  timings: dict[str, harness.Timings],
  batch_size: int,
  *,
  loaded: bool = False,
  show_loaded: bool = False,
) -> tuple[list[list[str]], dict]:
  """Table rows and the JSON entry of one config.

  The JSON entry has ``sr_jax`` (as ``sr_jax.main`` runs it),
  ``sr_jax_1_device``, one entry per peer framework (its fastest variant,
  named in ``setting``; ``ratio`` = sr_jax examples/s / the peer's,
  ``ratio_1_device`` the same for the 1-device sr_jax; both None when the
  machine was loaded, see ``ratio_under_load``) and ``all``, every variant
  by its table name.
  """
  # Per optimizer step: sr_jax's calls may take several (steps_per_call).
  per_call = {n: t.info.get("steps_per_call", 1) for n, t in timings.items()}
  step_s = {n: t.median_s / per_call[n] for n, t in timings.items()}
  rate = {n: batch_size / step_s[n] for n in timings}
  params = {n: t.info.get("params") for n, t in timings.items()}
  if len(set(params.values())) != 1:
    raise AssertionError(f"{config_name}: parameter counts differ: {params}")
  base = rate[SR_JAX]
  one = rate.get(ONE_DEVICE, float("nan"))
  # The same network, batch and optimizer: one FLOP count for every row.
  flops = timings[SR_JAX].info.get("xla_flops")
  framework = {row[0]: row[1] for row in IMPLEMENTATIONS}
  best = {}
  for name in timings:
    fw = framework[name]
    if fw != "jax" and (fw not in best or rate[name] > rate[best[fw]]):
      best[fw] = name
  every, rows = {}, []
  for name, t in timings.items():
    k = per_call[name]
    q1, q3 = (q / k for q in t.quartiles_ms())
    e = {
      "examples_per_s": round(rate[name], 2),
      "median_ms": round(step_s[name] * 1e3, 2),
      "iqr_ms": [round(q1, 2), round(q3, 2)],
      "cores_busy": round(t.cores, 2),
      "page_faults_per_step": t.faults_per_call / k,
      "steps_per_call": k,
      "steps": len(t.wall_s),
      "isa": t.info.get("isa"),
    }
    if "devices" in t.info:
      e["devices"] = t.info["devices"]
    if flops:
      e["gflop_per_s"] = round(flops / step_s[name] / 1e9, 1)
    r_base = r_one = "-"
    if framework[name] == "jax":
      if name != SR_JAX:
        ratio = rate[name] / base
        e["speedup_vs_sr_jax"] = None if loaded else round(ratio, 3)
        r_base = harness.ratio_text(
          ratio, loaded=loaded, show_loaded=show_loaded, unit=" x sr_jax"
        )
    else:
      ratio, ratio_one = base / rate[name], one / rate[name]
      e["ratio"] = None if loaded else round(ratio, 3)
      e["ratio_1_device"] = None if loaded else round(ratio_one, 3)
      if loaded:
        e["ratio_under_load"] = round(ratio, 3)
        e["ratio_1_device_under_load"] = round(ratio_one, 3)
      r_base = harness.ratio_text(ratio, loaded=loaded, show_loaded=show_loaded)
      r_one = harness.ratio_text(
        ratio_one, loaded=loaded, show_loaded=show_loaded
      )
    every[name] = e
    label = name + (
      " **(fastest)**" if best.get(framework[name]) == name else ""
    )
    rows.append(
      [
        config_name,
        f"{params[name]:,}",
        label,
        f"{step_s[name] * 1e3:.1f} ({q1:.0f}-{q3:.0f})",
        f"{rate[name]:.1f}",
        f"{flops / step_s[name] / 1e9:.1f}" if flops else "-",
        f"{t.cores:.2f}",
        f"{t.faults_per_call / k:,.0f}",
        r_base,
        r_one,
      ]
    )
  entry = {"sr_jax": every[SR_JAX]}
  if ONE_DEVICE in every:
    entry["sr_jax_1_device"] = every[ONE_DEVICE]
  peer_keys = {"torch": "pytorch", "tensorflow": "tensorflow"}
  for fw, name in best.items():
    entry[peer_keys[fw]] = {**every[name], "setting": name}
  entry["all"] = every
  return rows, entry


HEADERS = (
  "config",
  "params",
  "implementation",
  "ms/step median (IQR)",
  "examples/s",
  "GFLOP/s",
  "cores busy",
  "page faults/step",
  "R = sr_jax / this",
  "R = sr_jax 1 device / this",
)


def main(argv: list[str] | None = None) -> None:
  args, names = parse_args(__doc__.split("\n")[0], argv)

  record = machine.start(args.emulate)
  results, rows = {}, []
  timings, notes = {}, []
  for name in names:
    print(f"{name}:")
    # One monitor per config: its rounds are numbered from 1 again.
    monitor = machine.LoadMonitor()
    timings[name] = benchmark_config(
      name,
      rounds=args.rounds,
      steps_per_round=args.steps_per_round,
      monitor=monitor,
    )
    record.setdefault("load", {})[name] = monitor.summary()
    timings[name], loaded, how = harness.settle_load(timings[name], monitor)
    notes.append(f"{name}: {monitor.line()}{how}")
    config_rows, results[name] = summarize(
      name,
      timings[name],
      load_config(name).batch_size,
      loaded=loaded,
      show_loaded=args.ratios_under_load,
    )
    results[name]["ratios_from_quiet_rounds_only"] = (
      monitor.loaded and not loaded
    )
    rows += config_rows
  print()
  print(machine.header(machine.cpu_info(), args.emulate))
  for note in notes:
    print(note)
  print(
    f"Train step, batch 16, LR patch 16 (x3), L1 + Adam, {THREADS} CPUs; "
    f"{args.rounds} rounds x {args.steps_per_round} steps, interleaved. "
    "R = sr_jax examples/s / peer examples/s (R > 1: sr_jax faster), "
    "the peer's fastest setting marked; cores busy = process CPU time / "
    "wall time. sr_jax rows run as sr_jax.main does (tuned malloc, one CPU "
    "device per core unless '1 device'); peers with glibc defaults. "
    "GFLOP/s = XLA's FLOP count of sr_jax's compiled step / median step "
    "time (the same count for all)."
  )
  print(harness.markdown_table(HEADERS, rows))
  if args.json:
    results["machine"] = record
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
