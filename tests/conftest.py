"""Shared test fixtures: where the repository's and the shared data live."""

import os
import sys

import jax
import pytest

# Two CPU devices for the whole test session, set before JAX starts: the
# training tests then exercise the sharded (data-parallel) code path.
jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Config files import ``configs.default``; main.py does the same.
sys.path.insert(0, REPO)

REPO_DATA = os.path.join(REPO, "data")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
SHARED_PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")


def require_shared(*parts: str) -> str:
  """Returns ``../shared/<parts>`` or skips the test, saying why."""
  path = os.path.join(os.path.dirname(REPO), "shared", *parts)
  if not os.path.exists(path):
    pytest.skip(
      f"{path} not found: this test needs the project's shared data "
      "(present in CI, absent in a user's clone)"
    )
  return path
