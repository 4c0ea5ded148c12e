"""Kernel gradients of a convolution on CPU: XLA's own vs other formulations.

Usage::

  python benchmarks/conv_grad_variants.py [--json=FILE] [--repeats=15]
      [--no_mmap]

The ``dw_variants`` section of ``conv_grad.py``'s table: other ways to
compute the kernel gradient of the 3x3 64 -> 64 reference case and of the
64 -> 1 case, each timed alternately with XLA's own in this process
(median of ``--repeats`` runs after two warm-up runs; "xla ms" is XLA's,
"ours ms" the variant's, ``R = xla_ms / ours_ms``) and checked against it
(the ``diff`` note). ``--no_mmap`` applies sr_jax's allocator setting
first (``conv_grad.keep_freed_memory``).
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.conv_grad import (  # noqa: E402
  NHWC,
  keep_freed_memory,
  max_rel_diff,
  normal,
  print_header,
  print_row,
  row,
  time_alternately,
  write_rows,
  xla_conv,
)
from sr_jax.models.conv import conv2d_same  # noqa: E402


def _dw_xla(x, dy, k):
  w = jnp.zeros((k, k, x.shape[-1], dy.shape[-1]), x.dtype)
  return jax.vjp(lambda w: xla_conv(x, w), w)[1](dy)[0]


def _dw_taps(x, dy, k):
  """(a) One matmul per tap over shifted (sliced, hence copied) inputs."""
  _, h, w, _ = x.shape
  p = k // 2
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  return jnp.stack(
    [
      jnp.stack(
        [
          jnp.einsum("bhwc,bhwo->co", xp[:, i : i + h, j : j + w], dy)
          for j in range(k)
        ]
      )
      for i in range(k)
    ]
  )


def _dw_flat_rows(x, dy, k):
  """(b) Flattened padded rows: every tap is a contiguous slice + matmul.

  ``dy`` is zero-padded to the padded image size so that a tap's shift is a
  constant offset into the flattened padded input, for all images at once.
  """
  b, h, w, c = x.shape
  p = k // 2
  hp, wp = h + 2 * p, w + 2 * p
  n = b * hp * wp
  xf = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))).reshape(n, c)
  xf = jnp.pad(xf, ((0, (k - 1) * (wp + 1)), (0, 0)))
  dyf = jnp.pad(dy, ((0, 0), (0, 2 * p), (0, 2 * p), (0, 0))).reshape(n, -1)
  dims = (((0,), (0,)), ((), ()))
  return jnp.stack(
    [
      jnp.stack(
        [
          lax.dot_general(
            lax.slice_in_dim(xf, i * wp + j, i * wp + j + n), dyf, dims
          )
          for j in range(k)
        ]
      )
      for i in range(k)
    ]
  )


def _dw_patches(x, dy, k):
  """(c) lax.conv_general_dilated_patches + one contraction."""
  c, o = x.shape[-1], dy.shape[-1]
  patches = lax.conv_general_dilated_patches(
    x, (k, k), (1, 1), "SAME", dimension_numbers=NHWC
  )
  dw = jnp.einsum("bhwp,bhwo->po", patches, dy)
  return dw.reshape(c, k, k, o).transpose(1, 2, 0, 3)


def _dw_split_im2col(x, dy, k):
  """(b') Width taps copied on x, height taps on dy, one k*C x k*O matmul."""
  _, _, w, _ = x.shape
  p = k // 2
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  xs = jnp.stack([xp[:, :, j : j + w] for j in range(k)], axis=3)
  ds = jnp.stack(
    [jnp.pad(dy, ((0, 0), (i, k - 1 - i), (0, 0), (0, 0))) for i in range(k)],
    axis=3,
  )
  return jnp.einsum("bhwjc,bhwio->ijco", xs, ds)


def _dw_nchw(x, dy, k):
  """(f) XLA's own gradient of an NCHW / OIHW convolution."""
  xt, dyt = x.transpose(0, 3, 1, 2), dy.transpose(0, 3, 1, 2)
  w = jnp.zeros((dy.shape[-1], x.shape[-1], k, k), x.dtype)

  def conv(w):
    return lax.conv_general_dilated(
      xt, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
    )

  return jax.vjp(conv, w)[1](dyt)[0].transpose(2, 3, 1, 0)


def _dw_ours(x, dy, k):
  w = jnp.zeros((k, k, x.shape[-1], dy.shape[-1]), x.dtype)
  return jax.vjp(lambda w: conv2d_same(x, w), w)[1](dy)[0]


def _dw_bf16(fn):
  def wrapped(x, dy, k):
    return fn(x.astype(jnp.bfloat16), dy.astype(jnp.bfloat16), k)

  return wrapped


_VARIANTS = {
  "(a) per-tap matmuls": _dw_taps,
  "(b) flattened-row taps": _dw_flat_rows,
  "(b') split im2col, 1 matmul": _dw_split_im2col,
  "(c) patches + dot": _dw_patches,
  "(d) ours (layout swap)": _dw_ours,
  "(f) NCHW": _dw_nchw,
  "(f) bf16 ours": _dw_bf16(_dw_ours),
}


def bench_variants(repeats: int) -> list[dict[str, Any]]:
  """The ``dw_variants`` section; float32 results checked against XLA's."""
  rows = []
  for n, (b, s, cin, cout, k) in enumerate(
    ((16, 48, 64, 64, 3), (16, 48, 64, 1, 3))
  ):
    x = normal((b, s, s, cin), 30 + n)
    dy = normal((b, s, s, cout), 40 + n)
    case = f"{k}x{k} {b}x{s}x{s}x{cin}->{cout}"
    xla = jax.jit(_dw_xla, static_argnums=2)
    ref = xla(x, dy, k)
    for name, fn in _VARIANTS.items():
      jitted = jax.jit(fn, static_argnums=2)
      diff = max_rel_diff(jitted(x, dy, k).astype(jnp.float32), ref)
      t = time_alternately(
        {"xla": (xla, (x, dy, k)), "ours": (jitted, (x, dy, k))},
        repeats,
      )
      rows.append(
        row(
          "dw_variants",
          case,
          name,
          t["xla"],
          t["ours"],
          note=f"diff {diff:.0e}",
        )
      )
      print_row(rows[-1])
  return rows


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", help="also write the rows to this file")
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--no_mmap", action="store_true")
  args = parser.parse_args(argv)
  if args.repeats < 10:
    parser.error("--repeats must be at least 10")
  if args.no_mmap:
    keep_freed_memory()
  print_header(args.no_mmap)
  write_rows(args.json, bench_variants(args.repeats))


if __name__ == "__main__":
  main()
