"""ESPCN-RDB on the 640x360 frame: its convolutions one by one vs the network.

Usage::

  python benchmarks/inference_conv_breakdown.py [--json=FILE] [--rounds=10]
      [--quick]

Where the ESPCN-RDB frame's time goes: in one process on XLA's single CPU
device (both CPUs), each distinct convolution of the network alone on the
whole 640x360 frame (the op the network runs: ``models.conv``'s forward, a
``dot_general`` for 1x1 kernels), the whole network (plain form, whose
convolutions these are) on the same frame, and the matmul peak; the
network's time less the sum of its convolutions' is what the rest
(concatenations, ReLU, bias, pixel shuffle, the bicubic skip) costs. Each
median is over ``max(2 * rounds, 3)`` calls; GFLOP/s = 2 x MACs / time, as
a % of the matmul peak measured in the same run (sampled before and after
the layers). The frame and the workloads are those of ``inference.py``
(``inference_workloads.py``).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import harness, machine, train_workloads  # noqa: E402
from benchmarks.inference_workloads import (  # noqa: E402
  FRAME_SIZE,
  conv_flops,
  jax_matmul,
  load_frame,
)


def conv_breakdown(calls: int) -> tuple[list[list[str]], dict]:
  """Times ESPCN-RDB's convolutions one by one, the network and a matmul.

  Returns:
    Table rows and their JSON record (see the module docstring).
  """
  import collections
  import time

  harness.keep_freed_memory(one_arena=True)
  # Before JAX starts: XLA's single CPU device, as the matmul row uses.
  matmul = jax_matmul()
  import jax
  import jax.numpy as jnp

  from sr_jax import models
  from sr_jax.models import conv

  def times_s(fn, *args) -> list[float]:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(calls):
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times.append(time.perf_counter() - start)
    return times

  def median_s(fn, *args) -> float:
    return float(np.median(times_s(fn, *args)))

  config = train_workloads.load_config("espcn_rdb_x3")
  model = models.create(config)
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  w, h = FRAME_SIZE
  y = jnp.asarray(load_frame()[None, :, :, 1:2].astype(np.float32) / 255.0)
  # The peak is sampled before and after the layers (one median of both),
  # so that a drift of the machine's speed during the run moves it too.
  matmul_times = times_s(matmul.run)
  shapes = collections.Counter(
    tuple(leaf.shape)
    for path, leaf in jax.tree_util.tree_leaves_with_path(params)
    if getattr(path[-1], "key", None) == "kernel"
  )
  forward = jax.jit(lambda x, k: conv.conv2d_same(x, k))
  layers = []  # (shape, count, median seconds)
  for shape, count in sorted(shapes.items()):
    x = jnp.ones((1, h, w, shape[2]), jnp.float32)
    layers.append(
      (shape, count, median_s(forward, x, jnp.full(shape, 0.01, jnp.float32)))
    )
  network = median_s(
    jax.jit(lambda p, x: model.apply({"params": p}, x)), params, y
  )
  matmul_times += times_s(matmul.run)
  peak = matmul.info["flops"] / float(np.median(matmul_times)) / 1e9

  def rate(flops: float, seconds: float) -> str:
    gflops = flops / seconds / 1e9
    return f"{gflops:.0f} ({gflops / peak:.0%})"

  rows, record, conv_total = [], {"layers": []}, 0.0
  for (k, _, cin, cout), count, t in layers:
    layer_flops = 2.0 * k * k * cin * cout * h * w
    conv_total += count * t
    rows.append(
      [
        f"{k}x{k} {cin} -> {cout}",
        str(count),
        f"{1e3 * t:.1f}",
        rate(layer_flops, t),
      ]
    )
    record["layers"].append(
      {
        "kernel": [k, k, cin, cout],
        "count": count,
        "ms": round(1e3 * t, 2),
        "gflop_per_s": round(layer_flops / t / 1e9, 1),
      }
    )
  flops = conv_flops(params, h, w)
  record.update(
    matmul_peak_gflop_per_s=round(peak, 1),
    convolutions_ms=round(1e3 * conv_total, 1),
    network_ms=round(1e3 * network, 1),
    network_gflop_per_s=round(flops / network / 1e9, 1),
    convolutions_gflop_per_s=round(flops / conv_total / 1e9, 1),
  )
  rows += [
    [
      "all convolutions (sum)",
      str(sum(shapes.values())),
      f"{1e3 * conv_total:.0f}",
      rate(flops, conv_total),
    ],
    ["the network", "1", f"{1e3 * network:.0f}", rate(flops, network)],
    [
      "the rest (network - convolutions)",
      "-",
      f"{1e3 * (network - conv_total):.0f}",
      "-",
    ],
  ]
  return rows, record


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the results to this file")
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument(
    "--quick", action="store_true", help="2 rounds of 1 call: a smoke run"
  )
  machine.add_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.rounds = 2
  record = machine.start(args.emulate)
  rows, results = conv_breakdown(max(2 * args.rounds, 3))
  print(
    "ESPCN-RDB x3 (configs/x3.py) on the 640x360 frame, XLA's single CPU "
    "device; median ms per call. GFLOP/s = 2 x MACs / time (% of the jax "
    f"matmul peak measured here, {results['matmul_peak_gflop_per_s']:.0f} "
    "GFLOP/s)."
  )
  print(
    harness.markdown_table(
      ("convolution", "layers", "ms each", "GFLOP/s (% peak)"), rows
    )
  )
  if args.json:
    results["machine"] = record
    harness.write_json(args.json, results)


if __name__ == "__main__":
  main()
