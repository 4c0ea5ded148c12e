"""The layout of a run directory (``--workdir``); the only code that knows it.

  <workdir>/config.json               the config that made the checkpoints
  <workdir>/usage.json                cumulative CPU / wall seconds, by step
  <workdir>/checkpoints/<step>/       Orbax checkpoints (sr_jax.checkpointing)
  <workdir>/eval/results_<label>.json evaluation results (label: step or
                                      "pretrained")
  <workdir>/eval/figures_<label>/     comparison figures
  <workdir>/events.out.tfevents.*     TensorBoard (clu's writer)

Every read and write goes through :mod:`sr_jax.fileio` (atomic writes).
"""

import json

import ml_collections
import numpy as np

from sr_jax import fileio, image_io

CONFIG = "config.json"
USAGE = "usage.json"
CHECKPOINTS = "checkpoints"
EVAL = "eval"


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

  def create(self) -> None:
    """Makes the directory (an error names it if it is a file)."""
    try:
      fileio.makedirs(self.path)
    except NotADirectoryError as e:
      raise NotADirectoryError(
        f"--workdir={self.path}: exists and is not a directory"
      ) from e

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
