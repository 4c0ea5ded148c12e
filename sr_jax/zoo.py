"""The model zoo: trained weights shipped in ``zoo/``, loadable by name.

Each model is two files: ``zoo/<name>.npz`` holds the parameters (float32,
one array per ``"layer/param"`` path, nothing else) and ``zoo/<name>.json``
holds the config that made them, the npz's SHA-256, the training summary and
the evaluation results. :func:`load` checks the checksum and every shape
before it returns anything.
"""

import hashlib
import io
import json
import os
import re
import shutil
import time

import jax
import ml_collections
import numpy as np

from sr_jax import fileio, models

ZOO_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "zoo")


# Where ``export(..., overwrite=True)`` keeps the files it replaced.
REPLACED = ".replaced-"
# A zoo name: a file name in zoo_dir, never a path.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def names(zoo_dir: str = ZOO_DIR) -> list[str]:
  """The models available in ``zoo_dir`` (not the replaced copies)."""
  if not os.path.isdir(zoo_dir):
    return []
  return sorted(
    f[:-5]
    for f in os.listdir(zoo_dir)
    if f.endswith(".json") and REPLACED not in f
  )


def check_name(name: str) -> None:
  """Raises ValueError unless ``name`` is a plain zoo name (not a path)."""
  if not _NAME.fullmatch(name or "") or ".." in name or REPLACED in name:
    raise ValueError(
      f"--name={name!r} is not a zoo name: use letters, digits, '_', '-' and "
      "'.', no path (the zoo is one folder)"
    )


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def _flatten(params) -> dict[str, np.ndarray]:
  flat = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    key = "/".join(str(getattr(p, "key", p)) for p in path)
    flat[key] = np.asarray(leaf, np.float32)
  return flat


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
  tree: dict = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


def is_zoo_file(path: str | None) -> bool:
  """True for a zoo ``.npz`` or ``.json`` with its partner beside it."""
  if not path or not path.endswith((".npz", ".json")):
    return False
  stem = os.path.splitext(path)[0]
  return os.path.exists(stem + ".npz") and os.path.exists(stem + ".json")


def export(
  config,
  params,
  name: str,
  *,
  zoo_dir: str = ZOO_DIR,
  info: dict | None = None,
  overwrite: bool = False,
) -> str:
  """Writes ``params`` and ``config`` as zoo model ``name``.

  Args:
    config: the config that trained the model.
    params: the (EMA, if any) parameters to ship.
    name: the zoo name, e.g. ``espcn_rdb_x3``.
    zoo_dir: where to write.
    info: extra JSON-able facts (steps, CPU hours, results).
    overwrite: replace an existing model of that name.

  Returns:
    The path of the ``.npz`` file.

  Raises:
    FileExistsError: if ``name`` exists in ``zoo_dir`` and not ``overwrite``.
  """
  check_name(name)
  npz = os.path.join(zoo_dir, f"{name}.npz")
  meta_path = os.path.join(zoo_dir, f"{name}.json")
  existing = [p for p in (npz, meta_path) if os.path.exists(p)]
  if existing and not overwrite:
    raise FileExistsError(
      f"zoo model {name!r} exists ({existing[0]}); pass --overwrite to "
      "replace it, or choose another --name"
    )
  fileio.makedirs(zoo_dir)
  if existing:
    # Replaced, never lost: <name>.replaced-<time>.npz/.json stay beside it
    # (copied first, so a failed write below still leaves the old model).
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in existing:
      stem, ext = os.path.splitext(path)
      shutil.copy2(path, f"{stem}{REPLACED}{stamp}{ext}")
  buf = io.BytesIO()
  np.savez_compressed(buf, **_flatten(params))
  data = buf.getvalue()
  meta = {
    "name": name,
    "sha256": hashlib.sha256(data).hexdigest(),
    "params": models.count_params(params),
    "config": json.loads(config.to_json_best_effort()),
    **(info or {}),
  }
  fileio.write_atomic(npz, data)
  fileio.write_atomic(meta_path, json.dumps(meta, indent=2))
  return npz


def _paths(name: str, zoo_dir: str) -> tuple[str, str]:
  """``(json, npz)`` paths of zoo model ``name`` (or of its file's path)."""
  if name.endswith((".npz", ".json")):
    zoo_dir, name = os.path.split(os.path.splitext(name)[0])
  meta_path = os.path.join(zoo_dir, f"{name}.json")
  npz_path = os.path.join(zoo_dir, f"{name}.npz")
  if not os.path.exists(meta_path) or not os.path.exists(npz_path):
    raise FileNotFoundError(
      f"no zoo model {name!r} in {zoo_dir} (available: "
      f"{', '.join(names(zoo_dir)) or 'none'})"
    )
  return meta_path, npz_path


def read_info(name: str, *, zoo_dir: str = ZOO_DIR) -> dict:
  """The ``.json`` record of zoo model ``name`` (config, results, compute)."""
  meta_path, _ = _paths(name, zoo_dir)
  with open(meta_path) as f:
    return json.load(f)


def load(name: str, *, zoo_dir: str = ZOO_DIR):
  """Loads zoo model ``name`` (or a path to its ``.npz``/``.json``).

  Returns:
    ``(config, params)``: the training config (``ml_collections``) and the
    params pytree for ``models.create(config)``.

  Raises:
    FileNotFoundError: unknown name (the message lists the available ones).
    ValueError: a checksum or shape mismatch (a corrupt or edited file).
  """
  meta_path, npz_path = _paths(name, zoo_dir)
  with open(meta_path) as f:
    meta = json.load(f)
  digest = _sha256(npz_path)
  if digest != meta["sha256"]:
    raise ValueError(
      f"{npz_path}: SHA-256 {digest[:12]}... does not match {meta_path} "
      f"({meta['sha256'][:12]}...): the file is corrupt or was replaced"
    )
  config = ml_collections.ConfigDict(meta["config"])
  with np.load(npz_path) as data:
    params = _unflatten({k: data[k] for k in data.files})
  models.check_fit(config, params, source=npz_path)
  return config, params
