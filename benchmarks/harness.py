"""Interleaved timing of competing implementations, one worker process each.

The benchmarks here compare sr_jax with other frameworks on a small shared
machine, where another job may be running. To make the comparison fair:

* every contender runs in its own process, so that thread pools (OpenMP,
  Eigen, oneDNN) and allocator settings do not interact, and glibc's
  ``mallopt`` (process-wide) can differ between two sr_jax variants;
* the workers are pinned to the same CPUs (``threads`` of them) before any
  framework is imported, so all of them use the same number of threads;
* the driver asks the workers in turn for ``calls_per_round`` timed calls,
  reversing the order every round, so that background load hits all of them
  alike; a worker that is not being timed sleeps on its pipe;
* reported times are medians over all the timed calls;
* between rounds, while every worker sleeps, a
  :class:`benchmarks.machine.LoadMonitor` probes how busy the CPUs are:
  other jobs' work shows there, and a loaded run prints no ratios
  (:func:`ratio_text`).

A contender is a module-level factory (picklable, so that the spawned worker
can find it) that builds a :class:`Workload`; heavy imports belong inside the
factory, not at the top of the benchmark script, because every worker
re-imports that script.
"""

import dataclasses
import json
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# sr_jax itself (for its allocator setting); the benchmarks run from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import machine  # noqa: E402
from sr_jax import allocator  # noqa: E402

# Allocator settings a contender can run with (``Contender.malloc``).
MALLOC_SETTINGS = ("no_mmap", "no_mmap_one_arena")


def keep_freed_memory(*, one_arena: bool = False) -> None:
  """sr_jax's allocator setting (:mod:`sr_jax.allocator`), optionally
  without the one-arena part, to measure the two separately."""
  allocator.keep_freed_memory(one_arena=one_arena)


def xla_flops(jitted, *args) -> float | None:
  """XLA's own FLOP count of a jitted function (None if unavailable)."""
  try:
    cost = jitted.lower(*args).compile().cost_analysis()
  except Exception:  # noqa: BLE001 - informational only
    return None
  if isinstance(cost, list):
    cost = cost[0] if cost else {}
  return float(cost.get("flops", 0.0)) or None


@dataclasses.dataclass
class Workload:
  """What a worker times.

  Attributes:
    run: one timed call; must return only when the work is done (block on
      asynchronous results).
    prepare: called, untimed, before each round of timed calls (e.g. to
      drain a prefetch buffer that filled while other workers ran).
    info: anything the driver should know (parameter counts, FLOPs, ...);
      must be picklable.
  """

  run: Callable[[], Any]
  prepare: Callable[[], Any] | None = None
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Contender:
  """One implementation to time.

  Attributes:
    name: its label in tables and JSON.
    factory: a module-level function returning a :class:`Workload`.
    kwargs: keyword arguments for ``factory``.
    malloc: None (glibc's defaults) or one of :data:`MALLOC_SETTINGS`,
      applied with :func:`keep_freed_memory` before anything else.
    threads: CPUs to pin this worker to, instead of ``run_interleaved``'s.
  """

  name: str
  factory: Callable[..., Workload]
  kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  malloc: str | None = None
  threads: int | None = None

  def __post_init__(self):
    if self.malloc is not None and self.malloc not in MALLOC_SETTINGS:
      raise ValueError(f"malloc={self.malloc!r} not in {MALLOC_SETTINGS}")


@dataclasses.dataclass
class Timings:
  """The timed calls of one contender.

  Attributes:
    name: the contender's name.
    wall_s: wall-clock seconds of each call.
    cpu_s: CPU seconds (all threads of the worker) of each call.
    faults: minor page faults of each call.
    info: the workload's ``info``.
    rounds: the round (0-based) of each call.
  """

  name: str
  wall_s: list[float]
  cpu_s: list[float]
  faults: list[int]
  info: dict[str, Any]
  rounds: list[int] = dataclasses.field(default_factory=list)

  def only_rounds(self, keep: set[int]) -> "Timings":
    """The calls of the rounds in ``keep``."""
    idx = [i for i, r in enumerate(self.rounds) if r in keep]
    return dataclasses.replace(
      self,
      wall_s=[self.wall_s[i] for i in idx],
      cpu_s=[self.cpu_s[i] for i in idx],
      faults=[self.faults[i] for i in idx],
      rounds=[self.rounds[i] for i in idx],
    )

  @property
  def median_s(self) -> float:
    return float(np.median(self.wall_s))

  @property
  def median_ms(self) -> float:
    return 1e3 * self.median_s

  def quartiles_ms(self) -> tuple[float, float]:
    q1, q3 = np.percentile(self.wall_s, [25, 75])
    return 1e3 * float(q1), 1e3 * float(q3)

  @property
  def cores(self) -> float:
    """CPU time over wall time: roughly, the cores the worker kept busy.

    A hint only: on the shared VM this was measured on it sometimes reads
    far too low (0.27 for a matmul that ran faster than one core can), so
    the process CPU clock evidently misses time there.
    """
    return float(np.sum(self.cpu_s) / max(np.sum(self.wall_s), 1e-12))

  @property
  def faults_per_call(self) -> float:
    return float(np.median(self.faults))


def _minor_faults() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _pin_cpus(threads: int) -> None:
  cpus = sorted(os.sched_getaffinity(0))
  os.sched_setaffinity(0, cpus[:threads])


def _worker(
  conn, contender: Contender, threads: int, warmup: tuple[int, float]
) -> None:  # pragma: no cover - runs in a child process
  try:
    _pin_cpus(contender.threads or threads)
    if contender.malloc is not None:
      keep_freed_memory(one_arena=contender.malloc == "no_mmap_one_arena")
    workload = contender.factory(**contender.kwargs)
    calls, budget_s = warmup
    start = time.perf_counter()
    for i in range(calls):
      if i >= 2 and time.perf_counter() - start > budget_s:
        break
      workload.run()
  except BaseException:  # noqa: BLE001 - reported to the driver
    conn.send(("error", traceback.format_exc()))
    return
  conn.send(("ready", workload.info))
  while True:
    request = conn.recv()
    if request is None:
      break
    calls, budget_s = request
    if workload.prepare is not None:
      workload.prepare()
    samples = []
    start = time.perf_counter()
    for _ in range(calls):
      if samples and time.perf_counter() - start > budget_s:
        break
      faults, cpu, wall = (
        _minor_faults(),
        time.process_time(),
        time.perf_counter(),
      )
      workload.run()
      samples.append(
        (
          time.perf_counter() - wall,
          time.process_time() - cpu,
          _minor_faults() - faults,
        )
      )
    conn.send(("samples", samples))


def run_interleaved(
  contenders: Sequence[Contender],
  *,
  rounds: int,
  calls_per_round: int,
  round_budget_s: float = float("inf"),
  warmup: int = 10,
  warmup_budget_s: float = 5.0,
  threads: int = 2,
  log: Callable[[str], Any] = print,
  monitor: machine.LoadMonitor | None = None,
) -> dict[str, Timings]:
  """Times the contenders in worker processes, alternating between them.

  Args:
    contenders: what to time; names must be unique.
    rounds: rounds of timed calls; the order of the contenders is reversed
      every round.
    calls_per_round: timed calls per contender and round...
    round_budget_s: ...but a contender stops its round after the call that
      takes it past this many seconds (at least one call per round), so
      that a very slow one does not dominate the run time.
    warmup: untimed calls right after each workload is built (XLA's
      allocations take several steps to settle with the tuned malloc)...
    warmup_budget_s: ...or fewer, stopping (after at least two) once
      warming up took this many seconds.
    threads: CPUs every worker is pinned to (the first ``threads`` of this
      process's CPUs).
    log: progress messages.
    monitor: probes the machine before the workers start and after every
      round (all workers idle then).

  Returns:
    name -> :class:`Timings`.

  Raises:
    RuntimeError: a worker failed (its traceback is in the message).
  """
  names = [c.name for c in contenders]
  if len(set(names)) != len(names):
    raise ValueError(f"duplicate contender names: {names}")
  ctx = multiprocessing.get_context("spawn")
  workers = {}
  if monitor is not None:
    p = monitor.probe()
    log(
      f"  idle probe before starting: others busy {p['busy_cores']:.2f} cores"
    )
  try:
    # Set up one at a time: compiling in parallel would only slow each one.
    for c in contenders:
      log(f"  starting {c.name} ...")
      parent, child = ctx.Pipe()
      proc = ctx.Process(
        target=_worker,
        args=(child, c, threads, (warmup, warmup_budget_s)),
        daemon=True,
      )
      proc.start()
      kind, payload = parent.recv()
      if kind == "error":
        raise RuntimeError(f"worker {c.name!r} failed:\n{payload}")
      workers[c.name] = (proc, parent, payload)
    samples = {name: [] for name in names}
    order = list(names)
    for r in range(rounds):
      for name in order:
        _, conn, _ = workers[name]
        conn.send((calls_per_round, round_budget_s))
        kind, payload = conn.recv()
        samples[name].extend((*sample, r) for sample in payload)
      probe = ""
      if monitor is not None:
        pids = [proc.pid for proc, _, _ in workers.values()]
        busy = monitor.probe(own_pids=pids, after_round=r)["busy_cores"]
        probe = f" [others busy {busy:.2f} cores]"
      log(
        f"  round {r + 1}/{rounds}: "
        + ", ".join(
          f"{n} {1e3 * np.median([s[0] for s in samples[n]]):.1f} ms"
          for n in names
        )
        + probe
      )
      order.reverse()
  finally:
    for proc, conn, _ in workers.values():
      try:
        conn.send(None)
      except OSError:
        pass
      proc.join(timeout=30)
      if proc.is_alive():
        proc.terminate()
  return {
    name: Timings(
      name=name,
      wall_s=[s[0] for s in samples[name]],
      cpu_s=[s[1] for s in samples[name]],
      faults=[s[2] for s in samples[name]],
      rounds=[s[3] for s in samples[name]],
      info=workers[name][2],
    )
    for name in names
  }


def markdown_table(
  headers: Sequence[str], rows: Sequence[Sequence[Any]]
) -> str:
  """A GitHub markdown table; numbers are printed as given (format first)."""
  lines = [
    "| " + " | ".join(headers) + " |",
    "|" + "|".join("---" for _ in headers) + "|",
  ]
  lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def write_json(path: str | os.PathLike, results: dict[str, Any]) -> None:
  """Writes ``results`` as indented JSON, creating the folder."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(results, indent=1) + "\n")


def machine_line(emulate: str | None = None) -> str:
  """CPU model, ISA, cores, the class measured and the load: the context
  every table needs."""
  return machine.header(machine.cpu_info(), emulate)


LOADED = "machine loaded"


def quiet_rounds_only(
  timings: dict[str, Timings],
  monitor: machine.LoadMonitor,
  *,
  min_rounds: int = 3,
) -> tuple[dict[str, Timings], str] | None:
  """Every contender's calls from the rounds the machine was quiet in.

  Returns:
    ``(timings, note)``, or None when fewer than ``min_rounds`` rounds had
    a quiet probe on both sides.
  """
  quiet = monitor.quiet_rounds()
  if len(quiet) < min_rounds:
    return None
  note = (
    f"times and ratios from the {len(quiet)} of {monitor.rounds} rounds "
    f"with quiet idle probes before and after (rounds "
    f"{', '.join(str(r + 1) for r in sorted(quiet))})"
  )
  return {n: t.only_rounds(quiet) for n, t in timings.items()}, note


def settle_load(
  timings: dict[str, Timings], monitor: machine.LoadMonitor
) -> tuple[dict[str, Timings], bool, str]:
  """What a run's ratios may rest on: ``(timings, loaded, note)``.

  On a quiet machine, the timings as they are. On a loaded one, only the
  quiet rounds' calls when there are enough of them (no longer loaded), else
  the timings with ``loaded`` set, so that the ratios are withheld.
  """
  if not monitor.loaded:
    return timings, False, ""
  quiet = quiet_rounds_only(timings, monitor)
  if quiet is None:
    return timings, True, "; too few quiet rounds: ratios withheld"
  quiet_timings, how = quiet
  return quiet_timings, False, f"; {how}"


def ratio_text(
  ratio: float, *, loaded: bool, show_loaded: bool, unit: str = ""
) -> str:
  """A ratio for a table, or :data:`LOADED` when the run was loaded.

  Args:
    ratio: the ratio.
    loaded: the run's :class:`machine.LoadMonitor` verdict.
    show_loaded: print it anyway, marked, for a look under load.
    unit: text after the number.
  """
  if not loaded:
    return f"{ratio:.2f}{unit}"
  if show_loaded:
    return f"{ratio:.2f}{unit} (loaded)"
  return LOADED
