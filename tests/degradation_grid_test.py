"""Tests for benchmarks/degradation_table.py: the grid, its JSON and --merge."""

import copy
import json
import os
import shutil
import subprocess
import sys

import PIL
import pytest
from conftest import REPO, REPO_DATA

from benchmarks import degradation_table
from sr_jax import evaluate

CELLS = ["matlab/q0", "matlab/q50", "box/q0", "box/q50"]


def _run_table(argv: list[str]) -> subprocess.CompletedProcess:
  """Runs the script as a user would; fails the test if it fails."""
  script = os.path.join(REPO, "benchmarks", "degradation_table.py")
  done = subprocess.run(
    [sys.executable, script, *argv],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  return done


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
  """One real run: zoo espcn_x3 on one Set5 image, two kernels x two
  qualities (a few seconds)."""
  tmp = tmp_path_factory.mktemp("grid")
  output = tmp / "grid.json"
  argv = [
    "--models=espcn_x3",
    "--datasets=Set5",
    f"--data_dir={os.path.join(REPO_DATA, 'eval')}",
    "--max_images=1",
    "--kernels=matlab,box",
    "--qualities=0,50",
    f"--output={output}",
  ]
  done = _run_table(argv)
  return tmp, argv, json.loads(output.read_text()), done.stdout


def test_grid_writes_every_cell_for_every_model(grid):
  _, argv, data, _ = grid
  assert data["command"].endswith(" ".join(argv))
  assert data["scale"] == 3 and data["convention"] == "basicsr"
  assert data["versions"]["Pillow"] == PIL.__version__
  assert set(data["models"]) == {"espcn_x3"}
  cells = data["datasets"]["Set5"]
  assert sorted(cells) == sorted(CELLS)
  for key, cell in cells.items():
    assert cell["images"] == 1, key
    assert set(cell["bicubic"]) == {"psnr", "ssim"}
    assert set(cell["models"]["espcn_x3"]) == {"psnr", "ssim"}
  clean = cells["matlab/q0"]
  assert clean["models"]["espcn_x3"]["psnr"] > clean["bicubic"]["psnr"] + 1
  assert cells["box/q50"]["bicubic"]["psnr"] < clean["bicubic"]["psnr"] - 1


def test_grid_bicubic_is_the_evaluators(grid):
  _, _, data, _ = grid
  for key, cell in data["datasets"]["Set5"].items():
    kernel, quality = key.split("/q")
    ev = evaluate.Evaluator(
      scale=3,
      data_dir=os.path.join(REPO_DATA, "eval"),
      datasets=["Set5"],
      max_images=1,
      lr_kernel=kernel,
      lr_jpeg_quality=int(quality),
    )
    assert cell["bicubic"] == ev.bicubic["Set5"], key


def test_grid_prints_a_table_of_gains(grid):
  _, _, data, stdout = grid
  assert degradation_table.markdown_tables(data) in stdout
  lines = stdout.splitlines()
  header = lines.index("| LR kernel | JPEG | bicubic | espcn_x3 |")
  rows = [line.split(" | ")[:2] for line in lines[header + 2 : header + 6]]
  want = [["matlab", "-"], ["matlab", "q50"], ["box", "-"], ["box", "q50"]]
  assert rows == [[f"| {k}", q] for k, q in want]
  cell = data["datasets"]["Set5"]["box/q0"]
  psnr, base = cell["models"]["espcn_x3"]["psnr"], cell["bicubic"]["psnr"]
  assert f"| box | - | {base:.3f} | {psnr:.3f} ({psnr - base:+.3f}) |" in lines


def test_merge_adds_a_model_and_keeps_the_others(grid):
  _, _, data, _ = grid
  new = copy.deepcopy(data)
  new["models"] = {"other": {"command": "c2"}}
  new["datasets"]["Set5"] = {
    key: {**cell, "models": {"other": {"psnr": 1.0, "ssim": 0.5}}}
    for key, cell in data["datasets"]["Set5"].items()
    if key.startswith("box")
  }
  merged = degradation_table.merge(data, new)
  assert list(merged["models"]) == ["espcn_x3", "other"]
  for key, cell in merged["datasets"]["Set5"].items():
    assert (
      cell["models"]["espcn_x3"]
      == (data["datasets"]["Set5"][key]["models"]["espcn_x3"])
    )
    assert ("other" in cell["models"]) == key.startswith("box")
  assert "espcn_x3" in degradation_table.markdown_tables(merged)
  # Other LR (here: another bicubic score) or settings are refused.
  new["datasets"]["Set5"]["box/q0"]["bicubic"] = {"psnr": 1.0, "ssim": 0.1}
  with pytest.raises(SystemExit, match="box/q0: bicubic"):
    degradation_table.merge(data, new)
  new["max_images"] = 2
  with pytest.raises(SystemExit, match="max_images=1"):
    degradation_table.merge(data, new)


def test_merge_run_adds_a_zoo_file(grid, tmp_path):
  # The same weights under another name, one cell: the merged file has both,
  # equal where they share a cell.
  tmp, argv, data, _ = grid
  output = tmp_path / "grid.json"
  shutil.copy(tmp / "grid.json", output)
  for ext in ("npz", "json"):
    shutil.copy(
      os.path.join(REPO, "zoo", f"espcn_x3.{ext}"), tmp_path / f"twin.{ext}"
    )
  replaced = ("--models=", "--kernels=", "--output=")
  argv = [a for a in argv if not a.startswith(replaced)]
  argv += [
    f"--models={tmp_path / 'twin.npz'}",
    "--kernels=box",
    f"--output={output}",
    "--merge",
  ]
  _run_table(argv)
  merged = json.loads(output.read_text())
  assert list(merged["models"]) == ["espcn_x3", "twin"]
  assert merged["models"]["espcn_x3"] == data["models"]["espcn_x3"]
  cells = merged["datasets"]["Set5"]
  for key in CELLS:
    models = cells[key]["models"]
    if key.startswith("box"):
      assert models["twin"] == models["espcn_x3"], key
    else:
      assert "twin" not in models, key
