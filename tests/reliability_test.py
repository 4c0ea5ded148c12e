"""What happens when things go wrong: every case of the README's section
"What happens when things go wrong", with the message a user sees and a
check that nothing already written was lost."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, REPO_DATA
from PIL import Image
from tiny import tiny_config, tiny_config_file, tiny_run

from sr_jax import checkpointing, export, inference, rundir, train, upscale, zoo

SET5 = os.path.join(REPO_DATA, "eval", "Set5")


def _env() -> dict:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env.pop("XLA_FLAGS", None)
  return env


def _main(*args, timeout=600, wrapper: str = ""):
  """Runs ``python -m sr_jax.main ARGS`` (through ``wrapper`` code, if
  given, which then runs the module itself)."""
  if wrapper:
    cmd = [sys.executable, "-c", wrapper, *args]
  else:
    cmd = [sys.executable, "-m", "sr_jax.main", *args]
  return subprocess.run(
    cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout
  )


def _last_line(text: str) -> str:
  return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny run with checkpoints at steps 2 and 4."""
  tmp = tmp_path_factory.mktemp("reliability")
  config, workdir = tiny_run(tmp, total_steps=4)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]
  return tmp, config, workdir


def _copy_run(trained, tmp_path) -> str:
  dst = str(tmp_path / "run")
  shutil.copytree(trained[2], dst)
  return dst


def _truncate_data_files(step_dir: str) -> None:
  """Cuts every array data file of a checkpoint in half (as an interrupted
  copy would)."""
  for folder, _, names in os.walk(step_dir):
    if os.path.basename(folder) == "d":
      for name in names:
        path = os.path.join(folder, name)
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)


# ----------------------------------------------------------------------------
# Nothing replaced without being asked


def test_export_refuses_an_existing_zoo_name(trained, tmp_path):
  _, _, workdir = trained
  zoo_dir = str(tmp_path / "zoo")
  npz = export.export_run(workdir, "m", zoo_dir=zoo_dir)
  before = open(npz, "rb").read()
  with pytest.raises(FileExistsError, match="--overwrite"):
    export.export_run(workdir, "m", zoo_dir=zoo_dir)
  assert open(npz, "rb").read() == before
  export.export_run(workdir, "m", zoo_dir=zoo_dir, overwrite=True)
  # The shipped zoo is never touched by tests: the default zoo_dir is not
  # used here, and its files are as committed.
  assert "m" not in zoo.names()


# ----------------------------------------------------------------------------
# Damaged checkpoints


@pytest.mark.parametrize("damage", ["truncate", "metadata"])
def test_restore_falls_back_to_an_older_checkpoint(
  trained, tmp_path, damage, caplog
):
  _, config, _ = trained
  workdir = _copy_run(trained, tmp_path)
  newest = os.path.join(workdir, "checkpoints", "4")
  if damage == "truncate":
    _truncate_data_files(newest)
  else:
    os.remove(os.path.join(newest, "default", "_METADATA"))
  weights = inference.load(workdir=workdir)
  assert weights.step == 2
  assert "checkpoints/4 cannot be read" in caplog.text
  assert "trying an older one" in caplog.text
  # Asking for the damaged step names it.
  with pytest.raises(checkpointing.CheckpointError, match=r"step\(s\) 4"):
    inference.load(workdir=workdir, step=4)
  # Training resumes from step 2 and gets to the end; nothing was deleted
  # by the fallback itself.
  state = train.train_and_evaluate(
    tiny_config(tmp_path, total_steps=6), workdir
  )
  assert int(state.step) == 6


def test_no_readable_checkpoint_is_one_line_in_upscale(trained, tmp_path):
  workdir = _copy_run(trained, tmp_path)
  for step in ("2", "4"):
    os.remove(
      os.path.join(workdir, "checkpoints", step, "default", "_METADATA")
    )
  proc = subprocess.run(
    [
      sys.executable, "-m", "sr_jax.upscale", f"--workdir={workdir}",
      f"--output_dir={tmp_path / 'out'}", os.path.join(SET5, "bird.png"),
    ],
    cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert proc.returncode == 2
  assert "Traceback" not in proc.stderr
  last = _last_line(proc.stderr)
  assert last.startswith("upscale: error: --workdir=") and "no readable" in last
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "4"))


# ----------------------------------------------------------------------------
# One run per workdir


def test_a_second_run_on_a_live_workdir_is_refused(tmp_path):
  cfg = tiny_config_file(
    tmp_path, total_steps=100000, checkpoint_every_steps=1000
  )
  workdir = str(tmp_path / "run")
  first = subprocess.Popen(
    [sys.executable, "-m", "sr_jax.main", f"--config={cfg}",
     f"--workdir={workdir}"],
    cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
  )  # fmt: skip
  try:
    lock = os.path.join(workdir, rundir.LOCK)
    start = time.time()
    while not os.path.exists(lock):
      assert first.poll() is None, "the first run ended early"
      assert time.time() - start < 300
      time.sleep(0.2)
    second = _main(f"--config={cfg}", f"--workdir={workdir}")
    assert second.returncode == 2, second.stderr[-2000:]
    last = _last_line(second.stderr)
    assert "in use by another training run" in last
    assert f"pid {first.pid}" in last
    assert first.poll() is None  # The first run goes on.
  finally:
    first.terminate()
    first.wait(timeout=120)


def test_a_stale_lock_is_taken_over(tmp_path, caplog):
  run = rundir.RunDir(str(tmp_path / "run"))
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True).stdout.strip()  # fmt: skip
  run.create()
  with open(run.lock_path, "w") as f:
    json.dump({"host": os.uname().nodename, "pid": int(dead)}, f)
  run.acquire_lock()
  assert json.load(open(run.lock_path))["pid"] == os.getpid()
  assert f"its process {dead} is gone" in caplog.text
  run.release_lock()
  assert not os.path.exists(run.lock_path)


# ----------------------------------------------------------------------------
# Full disk

# Runs sr_jax.main with checkpoint saves failing as on a full disk from the
# second save on (a patched filesystem call, not a test path in sr_jax).
_FULL_DISK = """
import errno, runpy, sys
from sr_jax import checkpointing
real, calls = checkpointing.save, []
def save(*args, **kwargs):
  calls.append(1)
  if len(calls) >= 2:
    raise OSError(errno.ENOSPC, "No space left on device")
  return real(*args, **kwargs)
checkpointing.save = save
sys.argv = ["sr_jax.main"] + sys.argv[1:]
runpy.run_module("sr_jax.main", run_name="__main__")
"""


def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
  cfg = tiny_config_file(tmp_path, total_steps=6)
  workdir = str(tmp_path / "run")
  proc = _main(f"--config={cfg}", f"--workdir={workdir}", wrapper=_FULL_DISK)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  last = _last_line(proc.stderr)
  assert last.startswith("sr_jax: error: no space left")
  assert "the last saved checkpoint is step 2" in last
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["2"]
  usage = json.load(open(os.path.join(workdir, "usage.json")))
  assert usage["step"] == 2  # Never the step whose save failed.
  # The run resumes from it once there is space again.
  again = _main(f"--config={cfg}", f"--workdir={workdir}")
  assert again.returncode == 0, again.stderr[-3000:]
  assert "Resumed from checkpoint at step 2" in again.stderr


# ----------------------------------------------------------------------------
# Paths and flags


def test_bad_paths_and_flags_are_one_line(tmp_path):
  cfg = tiny_config_file(tmp_path, total_steps=1)
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  cases = [
    (
      [f"--config={cfg}", f"--workdir={a_file}"],
      f"--workdir={a_file}: exists and is not a directory",
    ),
    (
      [f"--config={cfg}", f"--workdir={tmp_path / 'w'}", "--config.nope=1"],
      "--config.nope=1: ",
    ),
    (
      [
        f"--config={cfg}",
        f"--workdir={tmp_path / 'w'}",
        "--config.eval.datset=x",
      ],
      "did you mean --config.eval.datasets?",
    ),
    (
      ["--config=configs/no_such_config.py"],
      "--config=configs/no_such_config.py: no such file",
    ),
  ]
  for args, message in cases:
    proc = _main(*args, timeout=300)
    assert proc.returncode == 2, (args, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, args
    last = _last_line(proc.stderr)
    assert last.startswith("sr_jax: error: ") and message in last, (args, last)
  assert a_file.read_text() == "x"
  assert not os.path.exists(os.path.join(REPO, "runs", "no_such_config"))


def _tiny_zoo(tmp_path) -> str:
  from configs import default
  from sr_jax import models

  config = default.get_config()
  config.model.name = "espcn"
  config.model.features = (4, 4)
  config.model.kernel_sizes = (3, 3, 3)
  params = models.create(config).init(
    __import__("jax").random.key(0), np.zeros((1, 8, 8, 1), np.float32)
  )["params"]
  return zoo.export(config, params, "tiny", zoo_dir=str(tmp_path / "zoo"))


def test_upscale_output_dir_that_is_a_file(tmp_path, capsys):
  model = _tiny_zoo(tmp_path)
  a_file = tmp_path / "out.png"
  a_file.write_bytes(b"mine")
  rc = upscale.run(
    ["upscale", f"--model={model}", f"--output_dir={a_file}",
     os.path.join(SET5, "bird.png")]
  )  # fmt: skip
  assert rc == 2
  assert (
    f"--output_dir={a_file} exists and is a file" in capsys.readouterr().err
  )
  assert a_file.read_bytes() == b"mine"


# ----------------------------------------------------------------------------
# Inputs


def test_tiny_tiles_are_raised_and_said(tmp_path, capsys):
  model = _tiny_zoo(tmp_path)
  path = tmp_path / "a.png"
  Image.fromarray(np.full((100, 100, 3), 128, np.uint8)).save(path)
  out = tmp_path / "out"
  rc = upscale.run(
    [
      "upscale",
      f"--model={model}",
      f"--output_dir={out}",
      "--tile=1",
      str(path),
    ]
  )
  assert rc == 0
  assert f"--tile=1 raised to {upscale.MIN_TILE}" in capsys.readouterr().err
  assert (out / "a_x3.png").exists()


def test_animated_and_oversized_images(tmp_path, capsys):
  model = _tiny_zoo(tmp_path)
  src = tmp_path / "in"
  src.mkdir()
  frames = [
    Image.fromarray(np.full((20, 20, 3), v, np.uint8)) for v in (0, 255)
  ]
  frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
  Image.fromarray(np.zeros((60, 50, 3), np.uint8)).save(src / "big.png")
  out = tmp_path / "out"
  args = ["upscale", f"--model={model}", f"--output_dir={out}"]
  assert upscale.run(args + ["--max_pixels=2000", str(src)]) == 1
  err = capsys.readouterr().err.replace("\n", " ")
  assert "anim.gif: animated image with 2 frames" in err
  assert "big.png: 50x60 = 3,000 pixels is more than the limit of 2,000" in err
  assert "--max_pixels" in err
  assert not out.exists() or os.listdir(out) == []
  assert upscale.run(args + ["--max_pixels=4000", str(src / "big.png")]) == 0
  assert (out / "big_x3.png").exists()


_BAD_CONFIGS = {
  "--config.loss=foo": "--config.loss='foo' is not one of: l1 | mse",
  "--config.total_steps=-3": "--config.total_steps=-3 must be an integer >= 1",
  "--config.scale=0": "--config.scale=0 must be an integer >= 2",
  "--config.keep_checkpoints=0": "--config.keep_checkpoints=0 must be",
  "--config.data.train_dir=/nonexistent": "train_dir=/nonexistent: no such",
  "--config.eval.data_dir=/nonexistent --config.eval.every_steps=10": (
    "'Set5' has no folder /nonexistent/Set5"
  ),
}


def test_bad_config_values_are_refused_before_the_first_step(tmp_path):
  # Today's failures these replace: loss=foo trained MSE, total_steps=-3 and
  # keep_checkpoints=0 exited 0 (the latter deleting every checkpoint),
  # scale=0 was a traceback, a missing train_dir trained on a cached build,
  # a missing eval folder failed only at the first evaluation.
  cfg = tiny_config_file(tmp_path)
  procs = {}
  for i, flags in enumerate(_BAD_CONFIGS):
    workdir = str(tmp_path / f"run{i}")
    cmd = [sys.executable, "-m", "sr_jax.main", f"--config={cfg}"]
    cmd += [f"--workdir={workdir}", *flags.split()]
    procs[flags] = (
      workdir,
      subprocess.Popen(
        cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
      ),
    )  # fmt: skip
  for flags, (workdir, proc) in procs.items():
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, (flags, err[-2000:])
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1, (flags, lines)
    assert lines[0].startswith("sr_jax: error: "), lines
    assert _BAD_CONFIGS[flags] in lines[0], lines
    assert not os.path.exists(workdir), flags  # Nothing made, nothing lost.


def test_a_batch_that_does_not_split_over_the_cores_is_said(tmp_path):
  cfg = tiny_config_file(tmp_path, batch_size=3, total_steps=1)
  r = _main(
    f"--config={cfg}", f"--workdir={tmp_path / 'run'}", "--cpu_devices=2"
  )
  assert r.returncode == 0, r.stderr[-2000:]
  assert (
    "--config.batch_size=3 does not divide over 2 CPU devices: training on 1"
    in r.stderr
  )


# Runs sr_jax.main with every write to the run's lock failing as on a full
# disk (a patched OS call, not a test path in sr_jax).
_FULL_DISK_AT_START = """
import errno, os, runpy, sys
real = os.write
def write(fd, data):
  if "lock.json" in os.readlink(f"/proc/self/fd/{fd}"):
    raise OSError(errno.ENOSPC, "No space left on device")
  return real(fd, data)
os.write = write
sys.argv = ["sr_jax.main"] + sys.argv[1:]
runpy.run_module("sr_jax.main", run_name="__main__")
"""


def test_a_full_disk_at_start_leaves_no_lock_behind(tmp_path):
  # Before: an empty lock.json stayed, and the same command was refused
  # for an hour ("pid None on None").
  cfg = tiny_config_file(tmp_path, total_steps=1)
  workdir = tmp_path / "run"
  args = (f"--config={cfg}", f"--workdir={workdir}")
  full = _main(*args, wrapper=_FULL_DISK_AT_START)
  assert full.returncode == 1, full.stderr[-2000:]
  assert "Traceback" not in full.stderr
  assert _last_line(full.stderr).startswith("sr_jax: error: no space left")
  assert sorted(os.listdir(workdir)) == ["log.txt"]  # No lock, no orphan.
  again = _main(*args)
  assert again.returncode == 0, again.stderr[-2000:]


def test_an_empty_lock_is_stale(tmp_path, caplog):
  run = rundir.RunDir(str(tmp_path / "run"))
  run.create()
  open(run.lock_path, "w").close()  # What a write that failed used to leave.
  run.acquire_lock()
  assert "it is empty or unreadable" in caplog.text
  assert json.load(open(run.lock_path))["pid"] == os.getpid()
  run.release_lock()


# Runs sr_jax.main with the evaluation failing (as a broken benchmark image
# or a bug would), right after a checkpoint save started at the same step.
_EVAL_FAILS = """
import runpy, sys
from sr_jax import train
def fail(self, step, state):
  raise RuntimeError(f"evaluation failed at step {step}")
train.Evaluation.__call__ = fail
sys.argv = ["sr_jax.main"] + sys.argv[1:]
runpy.run_module("sr_jax.main", run_name="__main__")
"""


def test_an_error_in_evaluation_keeps_the_checkpoint_being_saved(tmp_path):
  # Before: only checkpoints/4.orbax-checkpoint-tmp was left, and 448 lines.
  cfg = tiny_config_file(
    tmp_path, total_steps=8, checkpoint_every_steps=4, eval__every_steps=4
  )
  workdir = tmp_path / "run"
  args = (f"--config={cfg}", f"--workdir={workdir}")
  r = _main(*args, wrapper=_EVAL_FAILS)
  assert r.returncode != 0
  assert "Traceback" not in r.stderr, r.stderr[-3000:]
  assert "evaluation failed at step 4" in r.stderr
  assert os.listdir(workdir / "checkpoints") == ["4"]
  assert json.load(open(workdir / "usage.json"))["step"] == 4
  again = _main(*args)
  assert again.returncode == 0, again.stderr[-2000:]
  assert "Resumed from checkpoint at step 4" in again.stderr


def _events_with(workdir, tag: bytes) -> bool:
  return any(
    tag in (workdir / name).read_bytes()
    for name in os.listdir(workdir)
    if name.startswith("events.out.tfevents")
  )


# Kills the run (as kill -9 would) when its evaluation at the last step
# starts: after its checkpoint, before its results.
_KILLED_IN_FINAL_EVAL = """
import os, runpy, signal, sys
from sr_jax import train
def killed(self, step, state):
  os.kill(os.getpid(), signal.SIGKILL)
train.Evaluation.__call__ = killed
sys.argv = ["sr_jax.main"] + sys.argv[1:]
runpy.run_module("sr_jax.main", run_name="__main__")
"""


def test_curves_survive_a_kill_and_a_lost_final_evaluation_is_redone(
  tmp_path,
):
  cfg = tiny_config_file(tmp_path, total_steps=4, checkpoint_every_steps=4)
  workdir = tmp_path / "run"
  args = (f"--config={cfg}", f"--workdir={workdir}")
  killed = _main(*args, wrapper=_KILLED_IN_FINAL_EVAL)
  assert killed.returncode == -9
  # Before: events stayed in memory until an evaluation, so none were here.
  assert _events_with(workdir, b"train/loss")
  assert not os.path.exists(workdir / "eval" / "results_4.json")
  again = _main(*args)
  assert again.returncode == 0, again.stderr[-2000:]
  assert os.path.exists(workdir / "eval" / "results_4.json")


# ----------------------------------------------------------------------------
# upscale: orphans, metadata, damaged weights


def test_upscale_clears_a_killed_writers_temporary_files(tmp_path, capsys):
  model = _tiny_zoo(tmp_path)
  out = tmp_path / "out"
  out.mkdir()
  dead = subprocess.Popen(["true"])
  dead.wait()
  # What kill -9 between write and rename used to leave forever.
  orphan = out / f"bird_x3.png.tmp-{dead.pid}-0123456789ab"
  orphan.write_bytes(b"half a png")
  rc = upscale.run(
    ["upscale", f"--model={model}", f"--output_dir={out}",
     os.path.join(SET5, "bird.png")]
  )  # fmt: skip
  assert rc == 0
  assert "removed 1 temporary file(s)" in capsys.readouterr().err
  assert sorted(os.listdir(out)) == ["bird_x3.png"]


def test_upscale_keeps_the_icc_profile_and_says_so(tmp_path, capsys):
  from PIL import ImageCms

  model = _tiny_zoo(tmp_path)
  profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
  photo = tmp_path / "phone.jpg"
  rgb = np.random.default_rng(1).integers(0, 256, (20, 16, 3), np.uint8)
  Image.fromarray(rgb).save(photo, quality=90, icc_profile=profile)
  rc = upscale.run(
    [
      "upscale",
      f"--model={model}",
      f"--output_dir={tmp_path / 'o'}",
      str(photo),
    ]
  )
  assert rc == 0
  with Image.open(tmp_path / "o" / "phone_x3.png") as img:
    assert img.info.get("icc_profile") == profile
  capsys.readouterr()
  assert upscale.run(["upscale", "--help"]) == 0
  assert "ICC colour profile is kept" in capsys.readouterr().out


def test_damaged_weights_are_one_line_in_upscale(tmp_path, capsys):
  model = _tiny_zoo(tmp_path)
  broken = tmp_path / "broken"
  broken.mkdir()
  bad_zip = broken / "bad.npz"
  bad_zip.write_bytes(b"PK\x03\x04 not a zip")
  meta = json.load(open(model[: -len(".npz")] + ".json"))
  # Its checksum matches: the archive itself is what is broken.
  sha = __import__("hashlib").sha256(bad_zip.read_bytes()).hexdigest()
  json.dump({**meta, "sha256": sha}, open(broken / "bad.json", "w"))
  no_key = broken / "nokey.npz"
  shutil.copy(model, no_key)
  del meta["config"]
  json.dump(meta, open(broken / "nokey.json", "w"))
  for weights, why in ((bad_zip, "not a readable weights archive"),
                       (no_key, "has no key 'config'")):  # fmt: skip
    rc = upscale.run(
      ["upscale", f"--model={weights}", f"--output_dir={tmp_path / 'o'}",
       os.path.join(SET5, "bird.png")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("upscale: error: "), lines
    assert why in lines[0] and str(weights) in lines[0], lines


def test_checkpoints_deleted_by_hand_restart_visibly_and_count_anew(tmp_path):
  cfg = tiny_config_file(tmp_path, total_steps=2)
  workdir = tmp_path / "run"
  args = (f"--config={cfg}", f"--workdir={workdir}")
  assert _main(*args).returncode == 0
  # The lost run's record, made large so that adding it would show.
  usage = json.load(open(workdir / "usage.json"))
  json.dump({**usage, "cpu_seconds": 1e6}, open(workdir / "usage.json", "w"))
  shutil.rmtree(workdir / "checkpoints")
  again = _main(*args)
  assert again.returncode == 0, again.stderr[-2000:]
  # Before: a silent restart whose usage.json added the old CPU time.
  assert "records 2 trained steps, but no checkpoint is left" in again.stderr
  usage = json.load(open(workdir / "usage.json"))
  assert usage["step"] == 2 and usage["cpu_seconds"] < 1e5


# ----------------------------------------------------------------------------
# export: names not paths, nothing lost, one line


def _export(*args):
  return subprocess.run(
    [sys.executable, "-m", "sr_jax.export", *args], cwd=REPO, env=_env(),
    capture_output=True, text=True, timeout=600,
  )  # fmt: skip


def test_export_overwrite_keeps_the_replaced_model(trained, tmp_path):
  _, _, workdir = trained
  zoo_dir = tmp_path / "zoo"
  npz = export.export_run(workdir, "m", zoo_dir=str(zoo_dir))
  before = open(npz, "rb").read()
  export.export_run(workdir, "m", zoo_dir=str(zoo_dir), overwrite=True, step=2)
  kept = sorted(p for p in os.listdir(zoo_dir) if ".replaced-" in p)
  assert [os.path.splitext(p)[1] for p in kept] == [".json", ".npz"]
  assert open(zoo_dir / kept[1], "rb").read() == before
  assert open(npz, "rb").read() != before  # The step-2 weights replaced it.
  assert zoo.names(str(zoo_dir)) == ["m"]


def test_export_names_are_not_paths_and_failures_are_one_line(
  trained, tmp_path
):
  _, _, workdir = trained
  zoo_dir = tmp_path / "zoo"
  for name in ("../../x", str(tmp_path / "abs")):
    r = _export(
      f"--workdir={workdir}", f"--name={name}", f"--zoo_dir={zoo_dir}"
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a zoo name" in lines[0], lines
  assert not zoo_dir.exists() and not (tmp_path / "abs.npz").exists()
  # Before: 23-60 lines (flag help, a CheckpointError traceback).
  empty, damaged = tmp_path / "empty_run", tmp_path / "damaged_run"
  shutil.copytree(workdir, empty)
  shutil.rmtree(empty / "checkpoints")
  shutil.copytree(workdir, damaged)
  for step in ("2", "4"):
    _truncate_data_files(str(damaged / "checkpoints" / step))
  for run, why in ((empty, "holds no checkpoints"),
                   (damaged, "no readable checkpoint")):  # fmt: skip
    r = _export(f"--workdir={run}", "--name=m", f"--zoo_dir={zoo_dir}")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0], lines
    assert lines[0].count("--workdir") == 1, lines


@pytest.fixture
def small_tmpfs(tmp_path):
  """A real 16 MB tmpfs (needs the right to mount, as root in CI has)."""
  mnt = tmp_path / "small"
  mnt.mkdir()
  r = subprocess.run(
    ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
    capture_output=True,
    text=True,
  )
  if r.returncode:
    pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()})")
  yield mnt
  subprocess.run(["umount", str(mnt)], check=False)


def test_a_disk_filling_during_an_async_save_is_one_error_line(
  tmp_path, small_tmpfs
):
  # Before: 597 lines (26 tracebacks, the right line at 421), and
  # usage.json recorded a step that was never committed.
  cfg = tiny_config_file(
    tmp_path, total_steps=100_000, checkpoint_every_steps=5,
    log_every_steps=100_000,
  )  # fmt: skip
  workdir = small_tmpfs / "run"
  cmd = [sys.executable, "-m", "sr_jax.main", f"--config={cfg}"]
  proc = subprocess.Popen(
    [*cmd, f"--workdir={workdir}"], cwd=REPO, env=_env(),
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
  )  # fmt: skip
  try:
    start = time.time()
    while not (workdir / "checkpoints" / "10").exists():
      assert proc.poll() is None and time.time() - start < 300
      time.sleep(0.05)
    # The disk fills up (another program's file), as the run goes on.
    with contextlib.suppress(OSError), open(small_tmpfs / "filler", "wb") as f:
      while True:
        f.write(b"\0" * 65536)
        f.flush()
    _, err = proc.communicate(timeout=300)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 1, err[-2000:]
  ours = [x for x in err.splitlines() if x.startswith("sr_jax: error")]
  assert len(ours) == 1 and "no space left" in ours[0], err[-2000:]
  assert "Traceback" not in err and "error" not in err.replace(ours[0], "")
  committed = sorted(
    int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()
  )
  assert f"the last saved checkpoint is step {committed[-1]}" in ours[0]
  # Never a step that was not committed (it may lag one save behind when the
  # disk filled as usage.json itself was being written).
  usage_step = json.load(open(workdir / "usage.json"))["step"]
  assert usage_step <= committed[-1] and usage_step % 5 == 0
