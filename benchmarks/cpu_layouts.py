"""The default training run in three ways of using a 2-core CPU.

Usage::

  python benchmarks/cpu_layouts.py [--config=configs/x3.py] [--steps=400]
      [--json=FILE]

Runs ``python -m sr_jax.main --config=CONFIG`` for ``--steps`` steps (no
evaluation, no checkpoint before the end), one layout after the other, each
alone on the machine:

* ``1 process, 1 device per core`` (the default of ``sr_jax.main`` on CPU):
  the batch sharded over a ``Mesh`` of one JAX CPU device per core;
* ``1 process, 1 device`` (``--cpu_devices=1``): XLA's single CPU device,
  which may still use both cores through its intra-op thread pool;
* ``1 process per core`` (``launch/local.sh``'s layout): 2 processes joined
  by ``jax.distributed`` over 127.0.0.1, one CPU device each, each pinned to
  its own core with ``os.sched_setaffinity``; the gradient all-reduce then
  crosses processes.

Each layout's rate is read off process 0's own progress lines (steps and the
driver's clock at each line; the first line, which holds the compilation, is
not timed), and "cores busy" is the CPU time of all its processes between
the first and the last timed line divided by that wall time. The driver
checks for other jobs before and after each layout (``machine.LoadMonitor``)
and withholds ratios when it found any, as the other benchmarks do.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import harness, machine  # noqa: E402

_PROGRESS = re.compile(r"step (\d+)/\d+ loss")
_TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _pin(cpu: int):
  def pin():
    os.sched_setaffinity(0, {cpu})

  return pin


def run_layout(name: str, config: str, steps: int, log_every: int) -> dict:
  """Runs one layout to completion; returns its timed rate and busy cores."""
  workdir = tempfile.mkdtemp(prefix=f"cpu_layouts_{name}_")
  base = [
    sys.executable,
    "-m",
    "sr_jax.main",
    f"--config={config}",
    f"--workdir={workdir}",
    f"--config.total_steps={steps}",
    "--config.eval.every_steps=0",
    f"--config.checkpoint_every_steps={steps}",
    f"--config.log_every_steps={log_every}",
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  cpus = sorted(os.sched_getaffinity(0))[:2]
  if name == "processes":
    port = _free_port()
    cmds = [
      base
      + [
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={i}",
      ]
      for i in range(2)
    ]
    pins = [_pin(cpus[0]), _pin(cpus[1 % len(cpus)])]
  else:
    devices = "-1" if name == "devices" else "1"
    cmds = [base + [f"--cpu_devices={devices}"]]
    pins = [None]
  procs = []
  for i, (cmd, pin) in enumerate(zip(cmds, pins, strict=True)):
    procs.append(
      subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if i == 0 else subprocess.DEVNULL,
        text=True,
        preexec_fn=pin,
      )
    )
  pids = [p.pid for p in procs]
  marks = []  # (step, wall time, CPU ticks of all processes)
  tail = []
  for line in procs[0].stderr:
    tail = (tail + [line])[-20:]
    m = _PROGRESS.search(line)
    if m:
      # pylint: disable-next=protected-access
      marks.append((int(m.group(1)), time.time(), machine._process_ticks(pids)))
  codes = [p.wait() for p in procs]
  if any(codes) or len(marks) < 3:
    raise RuntimeError(
      f"layout {name}: exit codes {codes}, {len(marks)} progress lines; "
      "last output:\n" + "".join(tail)
    )
  (s0, t0, c0), (s1, t1, c1) = marks[1], marks[-1]
  wall = t1 - t0
  return {
    "steps_timed": s1 - s0,
    "wall_s": wall,
    "steps_per_s": (s1 - s0) / wall,
    "cores_busy": (c1 - c0) / _TICK / wall,
    "processes": len(procs),
  }


LAYOUTS = {
  "devices": "1 process, 1 device per core (default)",
  "one_device": "1 process, 1 device (--cpu_devices=1)",
  "processes": "1 process per core (jax.distributed, pinned)",
}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="configs/x3.py")
  parser.add_argument("--steps", type=int, default=400)
  parser.add_argument("--log_every", type=int, default=50)
  parser.add_argument("--json", default=None)
  machine.add_flags(parser)
  args = parser.parse_args()
  record = {"machine": machine.start(args.emulate), "config": args.config}
  monitor = machine.LoadMonitor()
  results = {}
  monitor.probe()
  for i, name in enumerate(LAYOUTS):
    results[name] = run_layout(name, args.config, args.steps, args.log_every)
    monitor.probe(after_round=i)
  ref = results["devices"]["steps_per_s"]
  print(monitor.line())
  print(f"\n`{args.config}`, {args.steps} steps per layout")
  print("\n| layout | steps/s | cores busy | vs default |")
  print("|---|---|---|---|")
  for name, label in LAYOUTS.items():
    r = results[name]
    r["vs_default"] = r["steps_per_s"] / ref
    shown = harness.ratio_text(
      r["vs_default"],
      loaded=monitor.loaded,
      show_loaded=args.ratios_under_load,
    )
    print(
      f"| {label} | {r['steps_per_s']:.2f} | {r['cores_busy']:.2f} | {shown} |"
    )
  record["machine"]["load"] = monitor.summary()
  record["results"] = results
  if args.json:
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
  main()
