"""benchmarks/run_curve.py reads a run's eval files into a per-cell curve."""

import json
import os
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import run_curve  # noqa: E402


def _write(folder, name, dataset, psnr, degradation):
  payload = {"datasets": {dataset: {"psnr": psnr}}}
  if degradation is not None:
    payload["degradation"] = degradation
  (folder / name).write_text(json.dumps(payload))


def test_cells_and_steps_come_from_the_files(tmp_path):
  ev = tmp_path / "eval"
  ev.mkdir()
  _write(ev, "results_100.json", "BSD100", 28.0, None)  # before kernels
  _write(ev, "results_200.json", "BSD100", 28.5, {"lr_jpeg_quality": 0})
  _write(
    ev, "results_200_box_jpeg75.json", "BSD100", 27.0,
    {"lr_kernel": "box", "lr_jpeg_quality": 75},
  )  # fmt: skip
  _write(ev, "results_200_x8.json", "BSD100", 99.0, None)
  _write(ev, "results_300.json", "Set5", 33.0, None)
  table = run_curve.curve(str(tmp_path), "BSD100")
  assert table == {"matlab/q0": {100: 28.0, 200: 28.5}, "box/q75": {200: 27.0}}
  out = subprocess.run(
    [sys.executable, os.path.join(REPO, "benchmarks", "run_curve.py"),
     str(tmp_path)],
    capture_output=True, text=True, check=True,
  ).stdout  # fmt: skip
  assert "| box/q75 | - | 27.000 |" in out
  assert "| matlab/q0 | 28.000 | 28.500 |" in out
