"""Loading weights that were not trained by this run: official peers, the zoo."""

import json
import os

from sr_jax import zoo
from sr_jax.models import imdn_weights


def load_params(path: str, *, config):
  """Loads ``path`` as parameters of the model ``config`` describes.

  Args:
    path: a weights file (``--config.pretrained``).
    config: the run's config (model name and scale).

  Returns:
    The params pytree for ``models.create(config).apply({"params": ...})``.

  Raises:
    FileNotFoundError: if ``path`` does not exist.
    ValueError: if the file does not fit the configured model or scale.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--config.pretrained={path!r}: no such file")
  if config.model.name == "imdn":
    return imdn_weights.load_imdn_params(path, scale=config.scale)
  if path.endswith(".npz") and os.path.exists(path[: -len(".npz")] + ".json"):
    zoo_config, params = zoo.load(path)
    # Compare through JSON, where tuples and lists are the same thing.
    want = json.loads(config.to_json_best_effort())["model"]
    have = json.loads(zoo_config.to_json_best_effort())["model"]
    if zoo_config.scale != config.scale or any(
      have.get(k) != v for k, v in want.items() if k != "dtype"
    ):
      raise ValueError(
        f"--config.pretrained={path!r} was trained as {zoo_config.model.name} "
        f"x{zoo_config.scale} with model settings {dict(zoo_config.model)}, "
        "which differ from the --config given; use the config it names"
      )
    return params
  raise ValueError(
    f"--config.pretrained={path!r}: not IMDN weights and not a zoo .npz "
    "(with its .json beside it)"
  )
