"""glibc allocator settings that stop XLA:CPU from page-faulting every step.

XLA:CPU allocates a program's temporaries as one block per execution, above
glibc's mmap threshold, so by default every training step maps fresh pages
and faults them in (16,089 minor faults per ESPCN-RDB x3 step, ~25 ms of a
~130 ms step; ``benchmarks/train_step_breakdown.py``). Serving every block
from the heap and never returning it to the OS removes them: 1.28x on that
step, 2x on ESPCN inference. The price is that freed memory stays with the
process, which suits a training or batch-inference process.
"""

import ctypes
import ctypes.util
import sys

from absl import logging

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory(*, one_arena: bool = True) -> bool:
  """Makes glibc serve every block from its heap and never give it back.

  Same as ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.
  trim_threshold=1073741824[:glibc.malloc.arena_max=1]``. Process-wide; call
  before the big allocations.

  Args:
    one_arena: also ``M_ARENA_MAX=1``. Without it the blocks that XLA's worker
      threads allocate come from per-thread arenas, and the faults came back
      on some runs and not others; with one arena they stopped after warm-up
      in every run measured.

  Returns:
    True if the settings were applied (Linux with glibc), else False.
  """
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    if one_arena:
      ok &= libc.mallopt(_M_ARENA_MAX, 1) == 1
  except (OSError, AttributeError):  # musl or another libc: no mallopt.
    return False
  if not ok:
    logging.warning("mallopt refused an allocator setting")
  return bool(ok)
