"""Tests for sr_jax/allocator.py."""

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_settings_apply_and_memory_still_works():
  # A fresh process: the setting is process-wide.
  code = (
    "from sr_jax import allocator; import numpy as np;"
    "assert allocator.keep_freed_memory();"
    "a = [np.ones(1 << 22) for _ in range(8)]; del a;"
    "print(np.ones(1 << 22).sum())"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=True
  )
  assert out.stdout.strip() == str(float(1 << 22))
