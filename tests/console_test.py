"""What ``python -m sr_jax.main`` prints: a few lines of its own, then the
progress; library logs in the run's log file; Ctrl-C saves and resumes."""

import logging
import math
import os
import re
import signal
import subprocess
import sys
import time

from conftest import REPO
from tiny import tiny_config_file

from sr_jax import console

PROGRESS = re.compile(
  r"step (\d+)/\d+ loss \S+ psnr \S+ lr \S+ \| (\S+) steps/s \S+ examples/s "
  r"\| ETA (\S+) min"
)


def _env() -> dict:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env.pop("XLA_FLAGS", None)
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # What a user's shell has.
  return env


def _command(cfg: str, workdir: str, *extra: str) -> list[str]:
  return [
    sys.executable, "-m", "sr_jax.main", f"--config={cfg}",
    f"--workdir={workdir}", *extra,
  ]  # fmt: skip


def _progress(lines: list[str]) -> list[tuple[int, float, float]]:
  """``(step, steps/s, ETA)`` of each progress line."""
  return [
    (int(m[1]), float(m[2]), float(m[3]))
    for m in map(PROGRESS.search, lines)
    if m
  ]


def test_a_fresh_run_prints_its_lines_then_progress(tmp_path):
  cfg = tiny_config_file(
    tmp_path, total_steps=4, log_every_steps=2, steps_per_call=1
  )
  workdir = str(tmp_path / "run")
  proc = subprocess.run(
    _command(cfg, workdir), cwd=REPO, env=_env(), timeout=600,
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
  )  # fmt: skip
  assert proc.returncode == 0, proc.stdout[-3000:]
  lines = proc.stdout.splitlines()
  first = next(i for i, line in enumerate(lines) if PROGRESS.search(line))
  assert first <= 15, "\n".join(lines[: first + 1])
  assert lines[0] == (
    f"sr_jax: run directory {workdir} (full log: {workdir}/log.txt; "
    "--verbosity=1 shows it here)"
  )
  # One line per log step: no second, clu-formatted copy of the metrics.
  assert [s for s, _, _ in _progress(lines)] == [2, 4]
  assert not [line for line in lines if "train/loss" in line]
  # Nothing in absl's or TensorFlow's C++ format reaches the console...
  assert not [line for line in lines if re.match(r"[IWE]\d{4} ", line)]
  # ...it is all in the log file.
  log = open(os.path.join(workdir, "log.txt")).read()
  assert "checkpoint_manager.py" in log and "Config:" in log


def _take_sigint() -> None:
  # A test run as a background job inherits an ignored SIGINT, which a
  # child would keep ignoring; a terminal's foreground job does not.
  signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_and_the_same_command_resumes(tmp_path):
  cfg = tiny_config_file(
    tmp_path,
    total_steps=100_000,
    checkpoint_every_steps=100_000,
    steps_per_call=1,
  )
  workdir = str(tmp_path / "run")
  out_path = tmp_path / "out.txt"
  with open(out_path, "w") as out:
    proc = subprocess.Popen(
      _command(cfg, workdir), cwd=REPO, env=_env(), stdout=out,
      stderr=subprocess.STDOUT, preexec_fn=_take_sigint,
    )  # fmt: skip
    try:
      start = time.time()
      while len(_progress(out_path.read_text().splitlines())) < 3:
        assert proc.poll() is None, out_path.read_text()[-3000:]
        assert time.time() - start < 300
        time.sleep(0.1)
      seen = out_path.read_text().splitlines()
      proc.send_signal(signal.SIGINT)
      assert proc.wait(timeout=120) == 0, out_path.read_text()[-3000:]
    finally:
      if proc.poll() is None:
        proc.kill()
  lines = out_path.read_text().splitlines()
  assert "Traceback" not in out_path.read_text()
  after = [line for line in lines[len(seen) :] if not PROGRESS.search(line)]
  assert len(after) == 1, after
  stopped = re.search(
    r"Interrupted at step (\d+): checkpoint saved in (\S+);", after[0]
  )
  assert stopped, after
  step = int(stopped[1])
  assert stopped[2] == os.path.join(workdir, "checkpoints")
  assert os.listdir(os.path.join(workdir, "checkpoints")) == [str(step)]
  assert not os.path.exists(os.path.join(workdir, "lock.json"))

  # The same command (two steps further) resumes there; the first rate
  # after the resume is a real one, its ETA a number.
  again = subprocess.run(
    _command(cfg, workdir, f"--config.total_steps={step + 2}"), cwd=REPO,
    env=_env(), capture_output=True, text=True, timeout=600,
  )  # fmt: skip
  assert again.returncode == 0, again.stderr[-3000:]
  assert f"Resumed from checkpoint at step {step} in {workdir}" in again.stderr
  progress = _progress(again.stderr.splitlines())
  assert [s for s, _, _ in progress] == [step + 1, step + 2]
  for _, rate, eta in progress:
    assert rate > 0 and math.isfinite(eta), again.stderr[-2000:]


def _record(level, message, *, path, **extra):
  record = logging.LogRecord("absl", level, path, 1, message, (), None)
  record.__dict__.update(extra)
  return record


def test_console_and_log_file_split(tmp_path, capsys):
  handlers = list(logging.getLogger().handlers)
  orbax = "/site-packages/orbax/checkpoint/checkpoint_manager.py"
  ours = os.path.join(REPO, "sr_jax", "train.py")
  for verbose in (False, True):
    logs = console.Logs(verbose=verbose)
    try:
      logs.file.open(str(tmp_path / f"log_{verbose}.txt"))
      for record in (
        _record(logging.INFO, "orbax says hello", path=orbax),
        _record(logging.WARNING, "orbax warns", path=orbax),
        _record(logging.INFO, "a plain line of ours", path=ours),
        _record(logging.INFO, "step 1/2", path=ours, console=True),
        _record(logging.WARNING, "a warning of ours", path=ours),
        _record(logging.ERROR, "orbax failed", path=orbax),
      ):
        logging.getLogger("absl").handle(record)
    finally:
      logs.close()
    err = capsys.readouterr().err
    log = (tmp_path / f"log_{verbose}.txt").read_text()
    for text in (
      "orbax says hello",
      "orbax warns",
      "a plain line of ours",
      "orbax failed",
    ):
      assert text in log
      assert (text in err) == verbose, (verbose, err)
    for text in ("step 1/2", "a warning of ours"):
      assert text in log and text in err, (verbose, err)
  assert logging.getLogger().handlers == handlers
