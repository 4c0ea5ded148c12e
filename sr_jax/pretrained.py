"""Loading weights that were not trained by this run: official peers, the zoo."""

import os

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
  raise ValueError(
    f"--config.pretrained={path!r}: loading weights for model "
    f"{config.model.name!r} is not supported; pretrained weights exist for: imdn"
  )
