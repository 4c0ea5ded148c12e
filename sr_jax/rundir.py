"""The layout of a run directory (``--workdir``); the only code that knows it.

  <workdir>/lock.json                 held by the training run using it
  <workdir>/log.txt                   the library log of ``sr_jax.main``
                                      (log.<i>.txt: process i > 0)
  <workdir>/config.json               the config that made the checkpoints
  <workdir>/usage.json                cumulative CPU / wall seconds, by step
  <workdir>/checkpoints/<step>/       Orbax checkpoints (sr_jax.checkpointing)
  <workdir>/eval/results_<label>.json evaluation results (label: step or
                                      "pretrained")
  <workdir>/eval/figures_<label>/     comparison figures
  <workdir>/events.out.tfevents.*     TensorBoard (sr_jax.summaries)

Every read and write goes through :mod:`sr_jax.fileio` (atomic writes), so
``path`` may be local or a ``gs://`` URL.
"""

import datetime
import json
import os
import socket
import time

import ml_collections
import numpy as np
from absl import logging

from sr_jax import fileio, image_io

LOCK = "lock.json"
CONFIG = "config.json"
# A lock of another host not refreshed for this long belongs to a dead run.
STALE_LOCK_SECONDS = 3600


class RunLockedError(RuntimeError):
  """Another live training run holds the run directory."""


USAGE = "usage.json"
CHECKPOINTS = "checkpoints"
EVAL = "eval"
LOG = "log.txt"
# ``extra`` for the log records that belong on the console of sr_jax.main as
# well as in LOG (its console filter reads this attribute): the progress
# line, the evaluation table, resume and stop. Other INFO records (Orbax,
# TensorFlow, ...) go to LOG only.
CONSOLE = {"console": True}


class RunDir:
  """A training run's directory.

  Attributes:
    path: the directory, as given (local or a URL understood by fileio).
  """

  def __init__(self, path: str):
    if not path:
      raise ValueError("--workdir must name a directory")
    self.path = path

  def __repr__(self) -> str:
    return f"RunDir({self.path!r})"

  @property
  def checkpoints(self) -> str:
    return fileio.join(self.path, CHECKPOINTS)

  def has_checkpoints(self) -> bool:
    return fileio.isdir(self.checkpoints)

  def log_path(self, process_index: int = 0) -> str:
    """The log file of one process: ``log.txt``, or ``log.<i>.txt``."""
    name = LOG if process_index == 0 else f"log.{process_index}.txt"
    return fileio.join(self.path, name)

  def create(self) -> None:
    """Makes the directory (an error names it if it is a file)."""
    try:
      fileio.makedirs(self.path)
    except NotADirectoryError as e:
      raise NotADirectoryError(
        f"--workdir={self.path}: exists and is not a directory"
      ) from e

  # One training run at a time.

  @property
  def lock_path(self) -> str:
    return fileio.join(self.path, LOCK)

  def acquire_lock(self) -> None:
    """Takes the run's lock, or raises RunLockedError naming its holder.

    The lock is a file created only if absent (:func:`fileio.create_exclusive`:
    ``O_EXCL`` locally, an upload on condition that no object has the name on
    Cloud Storage) holding host, pid and start time. A lock whose process is
    gone (same host) or that has not been refreshed (:meth:`refresh_lock`)
    for STALE_LOCK_SECONDS (another host) is stale: it is reported and taken
    over.
    """
    self.create()
    me = {
      "host": socket.gethostname(),
      "pid": os.getpid(),
      "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    for _ in range(2):
      try:
        fileio.create_exclusive(self.lock_path, json.dumps(me))
      except FileExistsError:
        holder = self._read_lock()
        why = self._stale(holder)
        if why is None:
          raise RunLockedError(
            f"--workdir={self.path} is in use by another training run (pid "
            f"{holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started')}); wait for it, stop it, or use another "
            f"--workdir. If that run is gone, delete {self.lock_path}"
          ) from None
        logging.warning(
          "Taking over the stale lock %s: %s", self.lock_path, why
        )
        try:
          fileio.remove(self.lock_path)
        except FileNotFoundError:
          pass  # Another run took it over first; the next try tells.
        continue
      return
    raise RunLockedError(f"could not take {self.lock_path}")

  def _read_lock(self) -> dict:
    try:
      return json.loads(fileio.read_text(self.lock_path))
    except (OSError, json.JSONDecodeError):
      return {}  # Not a lock a live run wrote: stale (see _stale).

  def _stale(self, holder: dict) -> str | None:
    """Why the lock ``holder`` is stale, or None if its run may be alive."""
    if not holder:
      # Locks are written whole (fileio.create_exclusive), so an empty or
      # unreadable one is left from a failed write, never a live run's.
      return "it is empty or unreadable"
    if holder.get("host") == socket.gethostname() and "pid" in holder:
      try:
        os.kill(int(holder["pid"]), 0)
      except ProcessLookupError:
        return f"its process {holder['pid']} is gone"
      except PermissionError:
        pass  # Alive, another user's.
      return None
    try:
      age = time.time() - fileio.mtime(self.lock_path)
    except OSError:
      return "it vanished"
    if age > STALE_LOCK_SECONDS:
      return f"not refreshed for {age / 60:.0f} minutes"
    return None

  def refresh_lock(self) -> None:
    """Marks the lock as alive (its holder calls this now and then)."""
    try:
      fileio.touch(self.lock_path)
    except OSError:
      pass

  def release_lock(self) -> None:
    try:
      if self._read_lock().get("pid") == os.getpid():
        fileio.remove(self.lock_path)
    except OSError:
      pass

  # The config that made the checkpoints.

  def write_config(self, config: ml_collections.ConfigDict) -> None:
    self.create()
    fileio.write_atomic(
      fileio.join(self.path, CONFIG), config.to_json_best_effort(indent=2)
    )

  def read_config(self) -> ml_collections.ConfigDict | None:
    """The saved config, or None if the run has not written one."""
    path = fileio.join(self.path, CONFIG)
    if not fileio.exists(path):
      return None
    return ml_collections.ConfigDict(json.loads(fileio.read_text(path)))

  # Compute used, over restarts (for the zoo's CPU hours).

  def read_usage(self) -> dict:
    path = fileio.join(self.path, USAGE)
    try:
      return json.loads(fileio.read_text(path))
    except (FileNotFoundError, json.JSONDecodeError):
      return {"cpu_seconds": 0.0, "wall_seconds": 0.0}

  def write_usage(self, usage: dict) -> None:
    fileio.write_atomic(fileio.join(self.path, USAGE), json.dumps(usage))

  # Evaluation results and figures.

  def results_path(self, label: str) -> str:
    return fileio.join(self.path, EVAL, f"results_{label}.json")

  def write_results(self, label: str, payload: dict) -> str:
    """Writes ``eval/results_<label>.json``; returns its path."""
    fileio.makedirs(fileio.join(self.path, EVAL))
    path = self.results_path(label)
    fileio.write_atomic(path, json.dumps(payload, indent=2))
    return path

  def read_results(self, label: str) -> dict | None:
    path = self.results_path(label)
    if not fileio.exists(path):
      return None
    return json.loads(fileio.read_text(path))

  def result_labels(self, prefix: str) -> list[str]:
    """The labels of ``eval/results_<prefix>*.json`` (e.g. ``"7"``,
    ``"7_jpeg50"`` for prefix ``"7"``), sorted."""
    folder = fileio.join(self.path, EVAL)
    if not fileio.isdir(folder):
      return []
    labels = []
    for name in fileio.listdir(folder):
      if name.startswith("results_") and name.endswith(".json"):
        label = name[len("results_") : -len(".json")]
        if label == prefix or label.startswith(prefix + "_"):
          labels.append(label)
    return sorted(labels)

  def figures_dir(self, label: str) -> str:
    return fileio.join(self.path, EVAL, f"figures_{label}")

  def write_figures(self, label: str, figs: dict[str, np.ndarray]) -> None:
    """Writes ``figs`` (``"<dataset>/<image>"`` -> uint8) as PNGs."""
    if not figs:
      return
    folder = self.figures_dir(label)
    fileio.makedirs(folder)
    for key, fig in figs.items():
      name = key.replace("/", "_") + ".png"
      image_io.write_png(fileio.join(folder, name), fig)
