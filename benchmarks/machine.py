"""The machine a benchmark runs on: its CPU, its load, and an older ISA to
emulate.

A speed claim holds for the CPU class it was measured on (see
``../shared/PERF_NOTES.md``): XLA, PyTorch, TensorFlow and OpenCV each pick
different kernels on an AVX2 CPU and an AVX-512 one. So every benchmark
records :func:`cpu_info`, can rerun its workers with the vector ISA capped
at AVX2 (:func:`emulation_env`), and checks that nothing else was running
while it timed (:class:`LoadMonitor`): on the shared 2-core machine another
job can halve a contender's speed, and a ratio measured then is not one.
"""

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# /proc/cpuinfo flags that decide which kernels the frameworks choose.
ISA_FLAGS = (
  "avx",
  "avx2",
  "fma",
  "avx512f",
  "avx512bw",
  "avx512vl",
  "avx512_vnni",
  "avx512_bf16",
  "avx_vnni",
  "amx_tile",
  "amx_bf16",
  "amx_int8",
)

# Environment that caps each framework at AVX2 on a newer CPU. What each
# variable reaches (each worker records what took, :func:`framework_isa`):
# XLA's generated code (--xla_cpu_max_isa); ATen's kernels; oneDNN, which
# runs PyTorch's and TensorFlow's convolutions; MKL (PyTorch's matmuls);
# OpenCV's dispatched kernels (dnn included); OpenBLAS (NumPy).
# TensorFlow's Eigen kernels are compiled for a fixed ISA (AVX2 at most in
# the pip build) and need no cap. What no variable reaches is in
# EMULATION_GAPS, printed and recorded with every emulated run.
# (OpenCV's names; KNL/KNM left out: OpenCV warns about them elsewhere.)
_OPENCV_AVX512 = (
  "AVX512F",
  "AVX512-COMMON",
  "AVX512-SKX",
  "AVX512-CNL",
  "AVX512-CLX",
  "AVX512-ICL",
)
EMULATIONS = {
  "avx2": {
    "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENCV_CPU_DISABLE": ",".join(_OPENCV_AVX512),
    "OPENBLAS_CORETYPE": "Haswell",
  },
}


EMULATION_GAPS = {
  "avx2": (
    "XLA:CPU (jax 0.10) runs convolutions and dots in YNNPACK, which picks "
    "its kernels from CPUID: --xla_cpu_max_isa caps only XLA's generated "
    "code (elementwise fusions, reductions), so sr_jax's conv/dot kernels "
    "stay AVX-512 (a 3x3 64->32 conv timed the same with and without the "
    "cap): the emulated sr_jax rows are optimistic for sr_jax"
  ),
}


def cpu_info() -> dict[str, Any]:
  """Model name, family, ISA flags and cores of this machine's CPU.

  Returns:
    ``{"model", "family", "model_number", "isa" (the :data:`ISA_FLAGS`
    present), "isa_class" ("AMX", "AVX-512", "AVX2" or "older"), "cpus"
    (online), "usable_cores" (this process's affinity)}``.
  """
  fields: dict[str, str] = {}
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if not line.strip():
        break  # The first processor describes them all.
      key, _, value = line.partition(":")
      fields[key.strip()] = value.strip()
  except OSError:
    pass
  flags = set(fields.get("flags", "").split())
  isa = [f for f in ISA_FLAGS if f in flags]
  if "amx_tile" in flags:
    isa_class = "AMX"
  elif "avx512f" in flags:
    isa_class = "AVX-512"
  elif "avx2" in flags:
    isa_class = "AVX2"
  else:
    isa_class = "older"
  return {
    "model": fields.get("model name", "unknown CPU"),
    "family": fields.get("cpu family"),
    "model_number": fields.get("model"),
    "isa": isa,
    "isa_class": isa_class,
    "cpus": os.cpu_count(),
    "usable_cores": len(os.sched_getaffinity(0)),
  }


def emulation_env(emulate: str | None) -> dict[str, str]:
  """The environment that caps the workers' ISA (empty: run natively).

  Raises:
    ValueError: an unknown emulation name.
  """
  if not emulate or emulate == "native":
    return {}
  if emulate not in EMULATIONS:
    raise ValueError(f"--emulate={emulate!r}: choose from {list(EMULATIONS)}")
  return dict(EMULATIONS[emulate])


def apply_emulation(emulate: str | None) -> dict[str, str]:
  """Sets :func:`emulation_env` in ``os.environ`` for the workers to inherit.

  Call before any framework is imported. ``XLA_FLAGS`` is appended to, not
  replaced.

  Returns:
    The variables set.
  """
  env = emulation_env(emulate)
  for key, value in env.items():
    if key == "XLA_FLAGS" and os.environ.get(key):
      value = f"{os.environ[key]} {value}"
    os.environ[key] = value
  return env


def class_label(info: dict[str, Any], emulate: str | None) -> str:
  """``'AVX-512 (native)'`` or ``'AVX2 (emulated on AVX-512)'``."""
  if not emulate or emulate == "native":
    return f"{info['isa_class']} (native)"
  return f"{emulate.upper()} (emulated on {info['isa_class']})"


def header(info: dict[str, Any], emulate: str | None) -> str:
  """One line for a table: CPU, ISA, cores, the class measured, the load."""
  load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
  return (
    f"CPU: {info['model']} (family {info['family']}, model "
    f"{info['model_number']}), {info['usable_cores']} cores usable; ISA "
    f"{' '.join(info['isa'])}; measured as {class_label(info, emulate)}; "
    f"load average {load}"
  )


def _cpu_ticks() -> tuple[int, int, int]:
  """(busy, steal, total) jiffies of all CPUs since boot, from /proc/stat."""
  with open("/proc/stat") as f:
    values = [int(v) for v in f.readline().split()[1:]]
  # user nice system idle iowait irq softirq steal [guest guest_nice]
  idle = values[3] + values[4]
  steal = values[7] if len(values) > 7 else 0
  # guest time is already counted in user and nice.
  total = sum(values[:8])
  return total - idle - steal, steal, total


def _process_ticks(pids: Sequence[int]) -> int:
  """User + system jiffies of these processes (all their threads)."""
  ticks = 0
  for pid in pids:
    try:
      with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name, which may hold spaces.
        fields = f.read().rsplit(")", 1)[1].split()
      ticks += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
      pass
  return ticks


def idle_probe(
  seconds: float = 0.5, *, own_pids: Sequence[int] = ()
) -> dict[str, float]:
  """How busy other jobs keep the CPUs while this process sleeps.

  Args:
    seconds: how long to watch.
    own_pids: the benchmark's workers, whose time (e.g. threads still
      spinning after their round) is not counted as other jobs'.

  Returns:
    ``{"busy_cores": CPUs' worth of time others ran, "steal": the fraction
    of time the hypervisor gave to other guests}``.
  """
  own0 = _process_ticks(own_pids)
  busy0, steal0, total0 = _cpu_ticks()
  time.sleep(seconds)
  busy1, steal1, total1 = _cpu_ticks()
  own = _process_ticks(own_pids) - own0
  total = max(total1 - total0, 1)
  ncpu = os.cpu_count() or 1
  return {
    "busy_cores": max(ncpu * (busy1 - busy0 - own) / total, 0.0),
    "steal": (steal1 - steal0) / total,
  }


class LoadMonitor:
  """Decides whether the machine was quiet enough for ratios to mean much.

  The driver probes the machine before the workers start and between rounds
  (when every worker sleeps on its pipe); the work of other jobs shows up as
  busy CPUs there. A mean above ``max_busy_cores`` (or hypervisor steal above
  ``max_steal``) marks the run as loaded.
  """

  def __init__(
    self,
    *,
    max_busy_cores: float = 0.25,
    max_steal: float = 0.05,
    settle_s: float = 0.2,
    probe_s: float = 0.5,
  ):
    self.max_busy_cores = max_busy_cores
    self.max_steal = max_steal
    self.settle_s = settle_s
    self.probe_s = probe_s
    self.probes: list[dict[str, float]] = []
    # Round r's probes (0-based): before it (the one after round r - 1, or
    # the first probe) and after it.
    self._before: dict[int, dict[str, float]] = {}
    self._after: dict[int, dict[str, float]] = {}
    self.loadavg_start = os.getloadavg()

  def probe(
    self, own_pids: Sequence[int] = (), *, after_round: int | None = None
  ) -> dict[str, float]:
    """One probe; waits ``settle_s`` first for spinning threads to sleep.

    Args:
      own_pids: the benchmark's workers (not counted as other jobs).
      after_round: the round that just ended (None: before the first).
    """
    time.sleep(self.settle_s)
    p = idle_probe(self.probe_s, own_pids=own_pids)
    self.probes.append(p)
    if after_round is None:
      self._before[0] = p
    else:
      self._after[after_round] = p
      self._before[after_round + 1] = p
    return p

  def quiet(self, p: dict[str, float]) -> bool:
    """Whether one probe found the machine quiet."""
    return (
      p["busy_cores"] <= self.max_busy_cores and p["steal"] <= self.max_steal
    )

  @property
  def rounds(self) -> int:
    return len(self._after)

  def quiet_rounds(self) -> set[int]:
    """Rounds whose probes before and after both found the machine quiet."""
    return {
      r
      for r, p in self._after.items()
      if self.quiet(p) and r in self._before and self.quiet(self._before[r])
    }

  @property
  def busy_cores(self) -> float:
    if not self.probes:
      return 0.0
    return sum(p["busy_cores"] for p in self.probes) / len(self.probes)

  @property
  def steal(self) -> float:
    if not self.probes:
      return 0.0
    return sum(p["steal"] for p in self.probes) / len(self.probes)

  @property
  def loaded(self) -> bool:
    return self.busy_cores > self.max_busy_cores or self.steal > self.max_steal

  def summary(self) -> dict[str, Any]:
    """For the JSON: the verdict and what it rests on."""
    return {
      "loaded": self.loaded,
      "other_jobs_busy_cores_mean": round(self.busy_cores, 3),
      "other_jobs_busy_cores_max": round(
        max((p["busy_cores"] for p in self.probes), default=0.0), 3
      ),
      "steal_mean": round(self.steal, 3),
      "probes": len(self.probes),
      "quiet_rounds": sorted(r + 1 for r in self.quiet_rounds()),
      "rounds": self.rounds,
      "threshold_busy_cores": self.max_busy_cores,
      "loadavg_start": [round(v, 2) for v in self.loadavg_start],
      "loadavg_end": [round(v, 2) for v in os.getloadavg()],
    }

  def line(self) -> str:
    """The verdict, for the output."""
    s = self.summary()
    verdict = (
      "MACHINE LOADED: other jobs ran while timing"
      if self.loaded
      else "machine quiet"
    )
    return (
      f"{verdict} (idle probes: others kept {s['other_jobs_busy_cores_mean']:.2f}"
      f" cores busy on average, max {s['other_jobs_busy_cores_max']:.2f}; "
      f"steal {s['steal_mean']:.1%}; {s['probes']} probes, quiet on both "
      f"sides of {len(s['quiet_rounds'])} of {s['rounds']} rounds; threshold "
      f"{self.max_busy_cores} cores; load average at start "
      f"{', '.join(f'{v:.2f}' for v in s['loadavg_start'])}, at end "
      f"{', '.join(f'{v:.2f}' for v in s['loadavg_end'])})"
    )


def framework_isa(framework: str) -> str:
  """The vector ISA a framework in this process says it uses (for the JSON).

  Args:
    framework: ``jax``, ``torch``, ``tensorflow`` or ``cv2`` (imported here,
      so call it where the framework is already in use).
  """
  if framework == "jax":
    flags = os.environ.get("XLA_FLAGS", "")
    capped = [f for f in flags.split() if f.startswith("--xla_cpu_max_isa")]
    return capped[-1].split("=", 1)[1] if capped else "native"
  if framework == "torch":
    import torch

    return torch.backends.cpu.get_cpu_capability()
  if framework == "cv2":
    import cv2

    # cv::CPU_AVX_512F = 13, cv::CPU_AVX2 = 11.
    if cv2.checkHardwareSupport(13):
      return "AVX512"
    return "AVX2" if cv2.checkHardwareSupport(11) else "older"
  if framework == "tensorflow":
    return "oneDNN " + os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
  raise ValueError(f"unknown framework {framework!r}")


def add_flags(parser) -> None:
  """``--emulate`` and ``--ratios_under_load``, for every benchmark script."""
  parser.add_argument(
    "--emulate",
    default="native",
    choices=["native", *EMULATIONS],
    help="cap every worker's vector ISA (XLA, ATen, oneDNN, MKL, OpenCV, "
    "OpenBLAS) to emulate an older CPU class on this one",
  )
  parser.add_argument(
    "--ratios_under_load",
    action="store_true",
    help="print ratios even when the idle probes found other jobs running "
    "(marked '(loaded)'); by default they are withheld",
  )


def start(emulate: str | None) -> dict[str, Any]:
  """Sets the emulation for the workers and prints the header.

  Returns:
    The JSON's ``machine`` entry (CPU, class measured, environment set);
    add each :class:`LoadMonitor`'s ``summary()`` as its ``load``.
  """
  env = apply_emulation(emulate)
  info = cpu_info()
  print(header(info, emulate))
  gap = EMULATION_GAPS.get(emulate or "native")
  if env:
    print(
      "Emulation: every worker runs with "
      + " ".join(f"{k}={v}" for k, v in env.items())
    )
  if gap:
    print(f"Emulation gap: {gap}")
  record = {
    "cpu": info,
    "measured_as": class_label(info, emulate),
    "emulate": emulate or "native",
    "emulation_env": env,
    "emulation_gap": gap,
  }
  return record
