"""The core stays readable: module and function sizes in ``sr_jax/``.

Issue 31 set the limits: no module over 650 lines, no function over 80.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 650
MAX_FUNCTION_LINES = 80


def _modules():
  return sorted((ROOT / "sr_jax").rglob("*.py"))


def _long_functions(path: pathlib.Path):
  tree = ast.parse(path.read_text(), filename=str(path))
  for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
      # Decorators are not part of the body a reader has to hold in mind.
      length = node.end_lineno - node.lineno + 1
      if length > MAX_FUNCTION_LINES:
        yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})"


@pytest.mark.parametrize(
  "path", _modules(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_module_is_at_most_650_lines(path):
  lines = len(path.read_text().splitlines())
  assert lines <= MAX_MODULE_LINES, f"{path}: {lines} lines"


def test_no_function_in_sr_jax_is_over_80_lines():
  found = [f for path in _modules() for f in _long_functions(path)]
  assert not found, "\n".join(found)


def test_no_sr_jax_module_mentions_the_block_grid_experiment():
  hits = [
    str(p.relative_to(ROOT))
    for p in _modules()
    if "block_grid" in p.read_text()
  ]
  assert not hits, hits
