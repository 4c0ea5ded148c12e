"""Multi-process and fault tests: real processes running ``sr_jax.main``.

Two processes on 127.0.0.1 (``launch/local.sh``) against one process with two
CPU devices; SIGTERM, ``kill -9`` and interrupted-equals-uninterrupted.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from tiny import tiny_config, tiny_config_file

from sr_jax import checkpointing, evaluate


def _env(devices: int) -> dict:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


def _main(config_file, workdir, *extra):
  return [
    sys.executable,
    "-m",
    "sr_jax.main",
    f"--config={config_file}",
    f"--workdir={workdir}",
    *extra,
  ]


def _losses(workdir) -> dict:
  out = {}
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == "train/loss":
          out[event.step] = float(tf.make_ndarray(v.tensor))
  return out


def _params(tmp_path, workdir, **overrides):
  config = tiny_config(tmp_path)
  for k, v in overrides.items():
    setattr(config, k, v)
  params, step = checkpointing.restore_params(config, str(workdir))
  return jax.tree.leaves(params), step


def test_two_processes_equal_one_process_with_two_devices(tmp_path):
  tiny_config(tmp_path)  # copies the data once, before the processes start
  cfg = tiny_config_file(tmp_path, total_steps=3)
  two = str(tmp_path / "two_processes")
  one = str(tmp_path / "one_process")
  run = subprocess.run(
    ["bash", os.path.join(REPO, "launch", "local.sh"), "2"]
    + _main(cfg, two)[3:],
    cwd=REPO,
    env={**_env(1), "FOLLOW": ""},
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  log = open(os.path.join(two, "logs", "process_0.log")).read()
  assert "process 0 of 2" in log
  subprocess.run(
    _main(cfg, one), cwd=REPO, env=_env(2), check=True, timeout=600,
    capture_output=True,
  )  # fmt: skip
  l2, l1 = _losses(two), _losses(one)
  assert sorted(l2) == sorted(l1) == [1, 2, 3]
  for step in l1:
    assert l2[step] == pytest.approx(l1[step], rel=1e-6)
  p2, s2 = _params(tmp_path, two, total_steps=3)
  p1, s1 = _params(tmp_path, one, total_steps=3)
  assert s1 == s2 == 3
  for a, b in zip(p2, p1, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

  # The 2-process checkpoint restores in a 1-process --mode=evaluate.
  config = tiny_config(tmp_path, total_steps=3)
  results = evaluate.evaluate(config, two)
  assert results["Set5"]["images"] == 2
  with open(os.path.join(two, "eval", "results_3.json")) as f:
    assert json.load(f)["datasets"]["Set5"]["psnr"] > 0


def _has_checkpoint(ckpts: str) -> bool:
  return os.path.isdir(ckpts) and any(d.isdigit() for d in os.listdir(ckpts))


def _wait_for(predicate, proc, timeout=300):
  start = time.time()
  while not predicate():
    if proc.poll() is not None:
      raise AssertionError(f"process ended early: rc={proc.returncode}")
    if time.time() - start > timeout:
      proc.kill()
      raise AssertionError("timed out")
    time.sleep(0.1)


def test_sigterm_and_kill9_resume_to_the_uninterrupted_result(tmp_path):
  tiny_config(tmp_path)
  total = 200
  cfg = tiny_config_file(
    tmp_path,
    total_steps=total,
    checkpoint_every_steps=20,
    log_every_steps=10,
    eval__every_steps=0,
  )
  straight = str(tmp_path / "straight")
  subprocess.run(
    _main(cfg, straight), cwd=REPO, env=_env(1), check=True, timeout=600,
    capture_output=True,
  )  # fmt: skip
  expected, step = _params(tmp_path, straight, total_steps=total)
  assert step == total

  for how in ("sigterm", "kill9"):
    workdir = str(tmp_path / how)
    ckpts = os.path.join(workdir, "checkpoints")
    log_path = os.path.join(str(tmp_path), f"{how}.log")
    with open(log_path, "w") as log:
      proc = subprocess.Popen(
        _main(cfg, workdir), cwd=REPO, env=_env(1), stdout=log,
        stderr=subprocess.STDOUT,
      )  # fmt: skip
      # Wait for a first finished checkpoint (Orbax renames a step dir into
      # place only when it is complete).
      _wait_for(lambda c=ckpts: _has_checkpoint(c), proc)
      if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
      else:
        proc.kill()  # SIGKILL
        proc.wait(timeout=60)
    saved = sorted(int(d) for d in os.listdir(ckpts) if d.isdigit())
    assert saved and saved[-1] < total, (how, saved)
    if how == "sigterm":
      text = open(log_path).read()
      assert "SIGTERM received" in text
    again = subprocess.run(
      _main(cfg, workdir), cwd=REPO, env=_env(1), capture_output=True,
      text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Resumed from checkpoint at step {saved[-1]}" in again.stderr
    got, step = _params(tmp_path, workdir, total_steps=total)
    assert step == total
    for a, b in zip(got, expected, strict=True):
      np.testing.assert_array_equal(a, b)  # bitwise on CPU


def test_sigterm_on_one_of_two_processes_saves_one_agreed_step(tmp_path):
  tiny_config(tmp_path)
  total = 100000
  cfg = tiny_config_file(
    tmp_path, total_steps=total, checkpoint_every_steps=20, log_every_steps=10
  )
  workdir = str(tmp_path / "run")
  port = subprocess.run(
    [sys.executable, "-c", "import socket; s = socket.socket(); "
     "s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"],
    capture_output=True, text=True, check=True,
  ).stdout.strip()  # fmt: skip
  procs, logs = [], []
  for i in range(2):
    logs.append(str(tmp_path / f"process_{i}.log"))
    with open(logs[-1], "w") as log:
      procs.append(
        subprocess.Popen(
          _main(cfg, workdir)
          + [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
             f"--process_id={i}"],
          cwd=REPO, env=_env(1), stdout=log, stderr=subprocess.STDOUT,
        )
      )  # fmt: skip
  ckpts = os.path.join(workdir, "checkpoints")
  try:
    _wait_for(lambda: _has_checkpoint(ckpts), procs[0])
    procs[1].send_signal(signal.SIGTERM)  # Only the second process.
    codes = [p.wait(timeout=300) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  assert codes == [0, 0], [open(f).read()[-2000:] for f in logs]
  saved = sorted(int(d) for d in os.listdir(ckpts) if d.isdigit())
  assert saved[-1] < total
  for f in logs:
    text = open(f).read()
    assert "SIGTERM received by a process of the run" in text, text[-2000:]
    assert f"all save step {saved[-1]}" in text
  _, step = _params(tmp_path, workdir, total_steps=total)
  assert step == saved[-1]
