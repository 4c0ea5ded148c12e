"""The ImageNet subset's build log: what was kept, filtered, converted, skipped.

Every build writes :data:`LOG_FILE` next to the TFDS files (:func:`write`)
and logs its :func:`summary`; :func:`build_log` reads it back.
"""

import hashlib
import json
import os

import tensorflow_datasets as tfds
from absl import logging

from sr_jax.datasets import imagenet_files, imagenet_selection

LOG_FILE = "build_log.json"


def fingerprint(source: imagenet_files.Source) -> str:
  """SHA-256 of the pools' file lists (paths relative to the root)."""
  h = hashlib.sha256()
  for pool, paths in sorted(source.pools.items()):
    for path in paths:
      h.update(f"{pool}/{os.path.relpath(path, source.root)}\n".encode())
  return h.hexdigest()


def make(
  dataset: str,
  config,
  source_info: dict,
  pools: dict[str, imagenet_selection.Pool],
  chosen: dict[str, list[imagenet_files.Verdict]],
) -> dict:
  """The log of one build.

  Args:
    dataset: the builder's ``name/config:version``.
    config: the builder config: ``min_side``, ``num_train`` and
      ``num_validation``.
    source_info: where the images came from.
    pools: the walked pools (:mod:`sr_jax.datasets.imagenet_selection`).
    chosen: the images of each split.
  """
  split_of = {v.path: s for s, vs in chosen.items() for v in vs}

  def entries(verdicts, pool):
    return [
      {
        "name": v.name,
        "pool": pool,
        "reason": v.reason,
        "split": split_of.get(v.path),
      }
      for v in verdicts
    ]

  return {
    "dataset": dataset,
    "source": source_info,
    "rule": {
      "order": "ascending SHA-256 of the file name",
      "min_side": config.min_side,
      "num_train": config.num_train,
      "num_validation": config.num_validation,
      "split": (
        "train from pool train, validation from pool validation"
        if "validation" in pools
        else "one pool: first to train, next to validation"
      ),
    },
    "pools": {name: pool.summary() for name, pool in pools.items()},
    "splits": {
      split: {
        "images": len(verdicts),
        "converted": sum(v.converted for v in verdicts),
      }
      for split, verdicts in chosen.items()
    },
    "converted": [
      e
      for name, pool in pools.items()
      for e in entries([v for v in pool.kept if v.converted], name)
    ],
    "skipped": [
      e for name, pool in pools.items() for e in entries(pool.skipped, name)
    ],
    "filtered": [
      e for name, pool in pools.items() for e in entries(pool.filtered, name)
    ],
  }


def write(data_dir: str, log: dict) -> None:
  """Writes the log into the (temporary) dataset folder, and logs it.

  During the build the builder's ``data_dir`` is TFDS's temporary folder,
  renamed to the final one only when the build succeeds, so the log is
  there exactly when the data is.
  """
  path = os.path.join(data_dir, LOG_FILE)
  with open(path, "w") as f:
    json.dump(log, f, indent=1)
  logging.info("%s", summary(log))
  for e in log["converted"]:
    logging.info("imagenet_sr: converted %s (%s)", e["name"], e["reason"])
  for e in log["skipped"]:
    logging.warning("imagenet_sr: skipped %s (%s)", e["name"], e["reason"])


def summary(log: dict) -> str:
  """A build log as a few lines of text."""
  lines = [
    f"imagenet_sr build from {log['source']['kind']} {log['source']['path']}"
    f" (shorter side >= {log['rule']['min_side']}, split "
    f"{log['rule']['split']}):"
  ]
  for name, pool in log["pools"].items():
    reasons = "; ".join(f"{k}: {v}" for k, v in pool["reasons"].items())
    lines.append(
      f"  pool {name}: {pool['files']} files, {pool['examined']} examined, "
      f"{pool['kept']} kept ({pool['converted']} converted), "
      f"{pool['filtered']} filtered, {pool['skipped']} skipped"
      + (f" [{reasons}]" if reasons else "")
    )
  splits = ", ".join(
    f"{k} {v['images']} ({v['converted']} converted)"
    for k, v in log["splits"].items()
  )
  lines.append(f"  splits: {splits}")
  return "\n".join(lines)


def build_log(b: tfds.core.DatasetBuilder) -> dict:
  """The :data:`LOG_FILE` of a prepared ``imagenet_sr`` builder."""
  with open(os.path.join(os.fspath(b.data_dir), LOG_FILE)) as f:
    return json.load(f)
