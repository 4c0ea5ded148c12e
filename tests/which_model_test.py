"""The models ``sr_jax.upscale`` recommends are the ones measured best."""

import json
import os

import pytest
from conftest import REPO

from sr_jax import upscale, zoo

GRID = os.path.join(REPO, "benchmarks", "results", "degradation_grid.json")


def _grid():
  with open(GRID) as f:
    return json.load(f)


def _mean(grid, cells, model):
  """Mean PSNR over the cells, Set14 and BSD100 weighing alike."""
  per_set = []
  for table in grid["datasets"].values():
    per_set.append(
      sum(table[c]["models"][model]["psnr"] for c in cells) / len(cells)
    )
  return sum(per_set) / len(per_set)


def test_grid_covers_every_cell_named_and_both_datasets():
  grid = _grid()
  assert set(grid["datasets"]) == {"Set14", "BSD100"}
  cells = {c for _, cs, _ in upscale.WHICH_MODEL for c in cs}
  for table in grid["datasets"].values():
    assert cells <= set(table)
    for cell in cells:
      assert set(table[cell]["models"]) == set(grid["models"])
  assert grid["max_images"] == 0  # whole datasets, not a smoke run


@pytest.mark.parametrize(
  "kind,cells,model", upscale.WHICH_MODEL, ids=[k for k, _, _ in
                                                upscale.WHICH_MODEL]
)  # fmt: skip
def test_each_recommended_model_is_the_best_measured_on_its_inputs(
  kind, cells, model
):
  grid = _grid()
  scores = {m: _mean(grid, cells, m) for m in grid["models"]}
  assert max(scores, key=scores.get) == model, (kind, scores)


def test_default_is_the_best_over_the_whole_grid_and_ships_in_the_zoo():
  grid = _grid()
  every = sorted(grid["datasets"]["BSD100"])
  scores = {m: _mean(grid, every, m) for m in grid["models"]}
  assert max(scores, key=scores.get) == upscale.DEFAULT_MODEL
  assert upscale.DEFAULT_MODEL in zoo.names()
  # The grid scored the weights that ship, not an earlier export.
  info = zoo.read_info(upscale.DEFAULT_MODEL)
  assert grid["models"][upscale.DEFAULT_MODEL]["sha256"] == info["sha256"]
