"""Convolution gradients on CPU: XLA's own autodiff vs sr_jax.models.conv.

Usage::

  python benchmarks/conv_grad.py [--json=FILE] [--repeats=15] [--no_mmap]
      [--quick]

Prints, for each case, milliseconds of XLA's own version and ours (median of
``--repeats`` runs after two warm-up runs; the two are timed alternately in
the same process so that load from other processes hits both alike) and
``R = xla_ms / ours_ms`` (R > 1: ours is faster).

Sections:

* ``layer``: one 'SAME' convolution, ops ``fwd`` (forward), ``dx`` (input
  gradient only), ``dw`` (kernel gradient only) and ``fwd+bwd`` (output and
  both gradients). Shapes: the 3x3 16x48x48x64 -> 64 reference case, the
  layers of ``net3`` below and of ESPCN-RDB at its training size. A
  ``control`` row times XLA's fwd+bwd against itself (the noise floor).
* ``net``: forward + backward (loss and parameter gradients, as in training)
  of

  - ``net3``: three 3x3 convolutions 1 -> 64 -> 64 -> 1 with ReLU between,
    MSE to the input, on a 16x48x48x1 batch;
  - ``rdb_block``: one residual dense block as ESPCN-RDB trains it (3x3
    convolutions 64, 96, 128, 160 -> 32 with ReLU, 1x1 fusion 192 -> 64,
    residual) on 16x16x16x64, mean output as the loss;
  - ``espcn_rdb``: the whole ``ESPCNRDB(scale=3)`` with default widths, L1
    loss, 16 low-resolution 16x16 Y patches.

  The "ours" models are the same modules with every ``nn.Conv`` replaced by
  ``sr_jax.models.conv.Conv`` (same parameter tree, same parameters).

Other comparisons on the same helpers: ``conv_grad_variants.py`` (other
ways to compute the kernel gradient) and ``conv_grad_malloc.py`` (glibc's
default allocator settings vs :func:`keep_freed_memory`). ``--no_mmap``
applies that setting to this process before anything runs, so that every
section is measured without XLA:CPU's per-step page faults on large
temporaries.
"""

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_jax.models import rdb  # noqa: E402
from sr_jax.models.conv import Conv, conv2d_same  # noqa: E402

NHWC = ("NHWC", "HWIO", "NHWC")

# (batch, size, c_in, c_out, k): the reference case, net3's layers, then
# ESPCN-RDB's at B=16, 16x16 (sfe1, sfe2/gff2, dense layers, lff, gff1,
# sub-pixel for x3 Y).
_LAYERS = (
  (16, 48, 64, 64, 3),
  (16, 48, 1, 64, 3),
  (16, 48, 64, 1, 3),
  (16, 16, 1, 64, 5),
  (16, 16, 64, 64, 3),
  (16, 16, 64, 32, 3),
  (16, 16, 96, 32, 3),
  (16, 16, 128, 32, 3),
  (16, 16, 160, 32, 3),
  (16, 16, 192, 64, 1),
  (16, 16, 256, 64, 1),
  (16, 16, 64, 9, 3),
)


def xla_conv(x: jax.Array, w: jax.Array) -> jax.Array:
  """The plain convolution ``nn.Conv`` runs; differentiated by XLA."""
  return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC)


def normal(shape: tuple[int, ...], seed: int, scale: float = 1.0):
  # NumPy RNG: compiling JAX's RNG for every shape would dominate start-up.
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.standardnormal(shape, dtype=np.float32) * scale)


def _minor_faults() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_alternately(
  calls: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]],
  repeats: int,
  warmup: int = 2,
  faults: dict[str, float] | None = None,
) -> dict[str, float]:
  """Median milliseconds of each ``fn(*args)`` in ``calls``, run round-robin.

  Args:
    calls: name -> (function, arguments).
    repeats: timed runs of each.
    warmup: untimed runs of each first (compilation, allocator warm-up).
    faults: if given, receives name -> minor page faults per run.

  Returns:
    name -> median milliseconds.
  """
  for fn, args in calls.values():
    for _ in range(warmup):
      jax.block_until_ready(fn(*args))
  times = {name: [] for name in calls}
  counts = dict.fromkeys(calls, 0)
  order = list(calls.items())
  for _ in range(repeats):
    # Alternate the order (ABBA...) so that neither always runs right after
    # the other (e.g. into memory the other just freed).
    order.reverse()
    for name, (fn, args) in order:
      before = _minor_faults()
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - start)
      counts[name] += _minor_faults() - before
  if faults is not None:
    faults.update({name: n / repeats for name, n in counts.items()})
  return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def _layer_ops(conv: Callable[[jax.Array, jax.Array], jax.Array]):
  """Jitted fwd / dx / dw / fwd+bwd of ``conv``, all taking (x, w, dy)."""

  def dx(x, w, dy):
    return jax.vjp(lambda x: conv(x, w), x)[1](dy)[0]

  def dw(x, w, dy):
    return jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]

  def fwd_bwd(x, w, dy):
    y, vjp = jax.vjp(conv, x, w)
    return y, vjp(dy)

  return {
    "fwd": jax.jit(lambda x, w, dy: conv(x, w)),
    "dx": jax.jit(dx),
    "dw": jax.jit(dw),
    "fwd+bwd": jax.jit(fwd_bwd),
  }


def row(section, case, op, xla_ms, ours_ms, **extra):
  return dict(
    section=section,
    case=case,
    op=op,
    xla_ms=round(xla_ms, 3),
    ours_ms=round(ours_ms, 3),
    ratio=round(xla_ms / ours_ms, 3),
    **extra,
  )


def print_row(row: dict[str, Any]) -> None:
  print(
    f"{row['section']:<11} {row['case']:<26} {row['op']:<9} "
    f"{row['xla_ms']:9.2f} {row['ours_ms']:9.2f} {row['ratio']:6.2f}"
    + (f"  {row['note']}" if row.get("note") else ""),
    flush=True,
  )


def bench_layers(repeats: int, layers=_LAYERS) -> list[dict[str, Any]]:
  """The ``layer`` section."""
  xla_ops = _layer_ops(xla_conv)
  ours_ops = _layer_ops(conv2d_same)
  rows = []
  for i, (b, s, cin, cout, k) in enumerate(layers):
    x = normal((b, s, s, cin), 3 * i)
    w = normal((k, k, cin, cout), 3 * i + 1, (k * k * cin) ** -0.5)
    dy = normal((b, s, s, cout), 3 * i + 2)
    case = f"{k}x{k} {b}x{s}x{s}x{cin}->{cout}"
    for op in xla_ops:
      t = time_alternately(
        {"xla": (xla_ops[op], (x, w, dy)), "ours": (ours_ops[op], (x, w, dy))},
        repeats,
      )
      rows.append(row("layer", case, op, t["xla"], t["ours"]))
      print_row(rows[-1])
    if i == 0:
      # A/A control: XLA's fwd+bwd against a second compilation of itself;
      # its R shows how far from 1 noise alone moves a ratio.
      twin = _layer_ops(xla_conv)["fwd+bwd"]
      t = time_alternately(
        {"xla": (xla_ops["fwd+bwd"], (x, w, dy)), "ours": (twin, (x, w, dy))},
        repeats,
      )
      rows.append(
        row("control", case, "fwd+bwd", t["xla"], t["ours"], note="xla vs xla")
      )
      print_row(rows[-1])
  return rows


def _ours_conv(features: int, kernel: int, *, dtype: Any, name: str) -> Conv:
  """``rdb._conv`` with sr_jax's Conv: same arguments, same parameters."""
  return Conv(
    features,
    (kernel, kernel),
    padding="SAME",
    use_bias=True,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=rdb._KERNEL_INIT,  # pylint: disable=protected-access
    name=name,
  )


def _net3_params():
  shapes = ((1, 64), (64, 64), (64, 1))
  return [
    (normal((3, 3, i, o), 10 + n, (9 * i) ** -0.5), jnp.zeros((o,)))
    for n, (i, o) in enumerate(shapes)
  ]


def _net3_loss(conv):
  def loss(params, x):
    h = x
    for n, (w, b) in enumerate(params):
      h = conv(h, w) + b
      if n < len(params) - 1:
        h = jax.nn.relu(h)
    return jnp.mean((h - x) ** 2)

  return loss


def _network_cases():
  """(name, xla step, ours step, args) for the ``net`` section."""
  cases = []
  x3 = jnp.abs(normal((16, 48, 48, 1), 20)) * 0.3
  cases.append(
    (
      "net3 16x48x48x1",
      jax.jit(jax.value_and_grad(_net3_loss(xla_conv))),
      jax.jit(jax.value_and_grad(_net3_loss(conv2d_same))),
      (_net3_params(), x3),
    )
  )

  block = rdb.ResidualDenseBlock(growth=32, num_layers=4)
  xb = normal((16, 16, 16, 64), 21)
  pb = block.init(jax.random.key(0, impl="rbg"), xb)

  def block_loss(params, x):
    return jnp.mean(block.apply(params, x))

  model = rdb.ESPCNRDB(scale=3)
  xm = jnp.abs(normal((16, 16, 16, 1), 22)) * 0.3
  ym = jnp.abs(normal((16, 48, 48, 1), 23)) * 0.3
  pm = model.init(jax.random.key(0, impl="rbg"), xm)

  def model_loss(params, x, y):
    return jnp.mean(jnp.abs(model.apply(params, x) - y))

  for name, loss, args in (
    ("rdb_block 16x16x16x64", block_loss, (pb, xb)),
    ("espcn_rdb x3 16x16x16x1", model_loss, (pm, xm, ym)),
  ):
    xla_step = jax.jit(jax.value_and_grad(loss))
    ours_step = jax.jit(jax.value_and_grad(loss))
    # Tracing happens on the first call: compile "ours" with the patch on.
    jax.block_until_ready(xla_step(*args))
    with mock.patch.object(rdb, "_conv", _ours_conv):
      jax.block_until_ready(ours_step(*args))
    cases.append((name, xla_step, ours_step, args))
  return cases


def max_rel_diff(a: Any, b: Any) -> float:
  diffs = jax.tree.map(
    lambda u, v: float(jnp.max(jnp.abs(u - v)) / (jnp.max(jnp.abs(v)) + 1e-30)),
    a,
    b,
  )
  return max(jax.tree.leaves(diffs))


def bench_networks(repeats: int, cases) -> list[dict[str, Any]]:
  """The ``net`` section (also checks the two give the same gradients)."""
  rows = []
  for name, xla_step, ours_step, args in cases:
    diff = max_rel_diff(ours_step(*args)[1], xla_step(*args)[1])
    faults = {}
    t = time_alternately(
      {"xla": (xla_step, args), "ours": (ours_step, args)},
      repeats,
      faults=faults,
    )
    rows.append(
      row(
        "net",
        name,
        "fwd+bwd",
        t["xla"],
        t["ours"],
        xla_faults=faults["xla"],
        ours_faults=faults["ours"],
        note=(
          f"max rel grad diff {diff:.1e}; page faults/step "
          f"{faults['xla']:.0f} / {faults['ours']:.0f}"
        ),
      )
    )
    print_row(rows[-1])
  return rows


def keep_freed_memory() -> None:
  """sr_jax's allocator setting without its one-arena part (as measured here
  first; see :mod:`sr_jax.allocator`)."""
  from sr_jax import allocator

  allocator.keep_freed_memory(one_arena=False)


def print_header(no_mmap: bool) -> None:
  """The versions, the CPU, the malloc setting and the column names."""
  print(
    f"jax {jax.__version__}, {jax.devices()[0].device_kind}, "
    f"{platform.processor() or platform.machine()}, "
    f"malloc {'M_MMAP_MAX=0' if no_mmap else 'default'}"
  )
  print(
    f"{'section':<11} {'case':<26} {'op':<9} {'xla ms':>9} {'ours ms':>9} "
    f"{'R':>6}"
  )


def write_rows(path: str | None, rows: list[dict[str, Any]]) -> None:
  """The rows as indented JSON, if a path is given."""
  if path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the rows to this file")
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--no_mmap", action="store_true")
  parser.add_argument(
    "--quick", action="store_true", help="reference layer and net3 only"
  )
  parser.add_argument(
    "--nets_only", action="store_true", help=argparse.SUPPRESS
  )
  args = parser.parse_args(argv)
  if args.repeats < 10:
    parser.error("--repeats must be at least 10")
  if args.no_mmap:
    keep_freed_memory()

  if not args.nets_only:
    print_header(args.no_mmap)
  rows = []
  if not args.nets_only:
    rows += bench_layers(args.repeats, _LAYERS[:1] if args.quick else _LAYERS)
  cases = _network_cases()
  rows += bench_networks(args.repeats, cases[:1] if args.quick else cases)
  write_rows(args.json, rows)


if __name__ == "__main__":
  main()
