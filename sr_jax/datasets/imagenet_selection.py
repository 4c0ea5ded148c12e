"""Which ImageNet images the subset takes: the rule, walked over a source.

The rule is :mod:`sr_jax.datasets.imagenet_sr`'s (ascending
:func:`selection_key`, shorter side at least :data:`MIN_SIDE`, split by
:func:`split_sizes`). It is walked over files (:func:`walk_files`,
:func:`walk_folder`) or over the ``(file_name, height, width, channels)``
records of a TFDS split (:func:`walk_records`); :func:`choose` then splits
the pools' kept images into ``train`` and ``validation``.
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import heapq
import os
from collections.abc import Iterable, Sequence

from sr_jax.datasets import imagenet_files

NUM_TRAIN = 50_000
NUM_VALIDATION = 15_296
MIN_SIDE = 256

# The flags that choose the source, quoted in error messages.
_FLAGS = f"{imagenet_files.FLAG} or --config.data.tfds_data_dir"


def selection_key(file_name: str) -> bytes:
  """The order of the selection: SHA-256 of the UTF-8 file name."""
  return hashlib.sha256(file_name.encode("utf-8")).digest()


def split_sizes(
  *, train: int, validation: int | None, num_train: int, num_validation: int
) -> tuple[int, int]:
  """How many images the train and validation splits get.

  Args:
    train: eligible images of the train pool (counting up to what is needed:
      ``num_train``, or ``num_train + num_validation`` for one pool).
    validation: eligible images of the validation pool (up to
      ``num_validation``), or None when one pool feeds both splits.
    num_train: the train split's size when there are enough images.
    num_validation: the validation split's size when there are enough.

  Returns:
    ``(n_train, n_validation)``: the full sizes when there are enough images,
    else in the ratio ``num_train : num_validation`` (rounded), using every
    eligible image of the scarcer pool.

  Raises:
    ValueError: too few images for one in each split.
  """
  total = num_train + num_validation
  if validation is None:
    if train >= total:
      return num_train, num_validation
    n_val = max(1, round(train * num_validation / total))
    n_train = train - n_val
  else:
    f = min(1.0, train / num_train, validation / num_validation)
    n_train = min(train, round(num_train * f))
    n_val = min(validation, max(1, round(num_validation * f)))
  if n_train < 1 or n_val < 1:
    pools = (
      f"{train} eligible images"
      if validation is None
      else f"{train} eligible train and {validation} eligible validation images"
    )
    raise ValueError(
      f"only {pools}: each split needs at least one (set by {_FLAGS})"
    )
  return n_train, n_val


@dataclasses.dataclass
class Pool:
  """One source pool walked in selection order.

  Attributes:
    files: images in the pool.
    kept: eligible ones, in selection order, as many as a split may use.
    filtered: examined ones that fail the size rule.
    skipped: examined ones that cannot be decoded.
    more_kept: eligible ones seen beyond ``kept`` (a whole TFDS split is
      read, but only the first ones in selection order are held).
    more_converted: how many of those would need a conversion.
  """

  files: int
  kept: list[imagenet_files.Verdict]
  filtered: list[imagenet_files.Verdict]
  skipped: list[imagenet_files.Verdict]
  more_kept: int = 0
  more_converted: int = 0

  def summary(self) -> dict:
    converted = [v for v in self.kept if v.converted]
    kept = len(self.kept) + self.more_kept
    return {
      "files": self.files,
      "examined": kept + len(self.filtered) + len(self.skipped),
      "kept": kept,
      "filtered": len(self.filtered),
      "converted": len(converted) + self.more_converted,
      "skipped": len(self.skipped),
      "reasons": imagenet_files.count_reasons(
        self.filtered + converted + self.skipped
      ),
    }


def walk_files(paths: Sequence[str], *, want: int, min_side: int) -> Pool:
  """Probes files in selection order until ``want`` are kept (or all seen).

  Files are probed in parallel chunks (PIL decodes without the GIL); the
  outcome is in selection order whatever the threads do.
  """
  order = sorted(paths, key=lambda p: selection_key(os.path.basename(p)))
  pool = Pool(files=len(order), kept=[], filtered=[], skipped=[])
  workers = min(8, os.cpu_count() or 1)
  chunk = 32 * workers
  probe = functools.partial(imagenet_files.probe, min_side=min_side)
  with concurrent.futures.ThreadPoolExecutor(workers) as executor:
    for start in range(0, len(order), chunk):
      for verdict in executor.map(probe, order[start : start + chunk]):
        if len(pool.kept) >= want:
          return pool
        getattr(pool, verdict.status).append(verdict)
  return pool


def walk_records(
  records: Iterable[tuple[str, int, int, int]], *, want: int, min_side: int
) -> Pool:
  """The rule over ``(file_name, height, width, channels)`` of a whole split.

  TFDS stores ``imagenet2012`` as JPEGs with CMYK and PNG files already
  converted to RGB JPEG; greyscale JPEGs remain, and are converted here.
  """
  files = 0
  eligible_grey = 0
  filtered = []

  def eligible():
    nonlocal files, eligible_grey
    for name, height, width, channels in records:
      files += 1
      if min(height, width) >= min_side:
        eligible_grey += channels == 1
        yield name, height, width, channels
      else:
        filtered.append(
          imagenet_files.Verdict(
            name,
            "filtered",
            f"shorter side {min(height, width)} px < {min_side}",
            height,
            width,
          )
        )

  # A bounded heap: only ``want`` of the 1.28M names are held in order.
  chosen = heapq.nsmallest(want, eligible(), key=lambda r: selection_key(r[0]))
  kept = [
    imagenet_files.Verdict(
      name, "kept", imagenet_files.GREYSCALE if c == 1 else "", h, w
    )
    for name, h, w, c in chosen
  ]
  num_eligible = files - len(filtered)
  converted = sum(v.converted for v in kept)
  return Pool(
    files=files,
    kept=kept,
    filtered=filtered,
    skipped=[],
    more_kept=num_eligible - len(kept),
    more_converted=eligible_grey - converted,
  )


def select(
  records: Iterable[tuple[str, int, int]], *, num: int, min_side: int
) -> list[str]:
  """The rule's first ``num`` eligible names of ``(file_name, h, w)`` records.

  Returns:
    Up to ``num`` file names, in selection order (ascending
    :func:`selection_key`); fewer when fewer are eligible.
  """
  pool = walk_records(
    ((n, h, w, 3) for n, h, w in records), want=num, min_side=min_side
  )
  return [v.path for v in pool.kept]


def walk_folder(source: imagenet_files.Source, config) -> dict[str, Pool]:
  """Walks a folder source's pools, each as far as its splits need.

  Args:
    source: the folders (:func:`imagenet_files.find`).
    config: the builder config: ``num_train``, ``num_validation`` and
      ``min_side``.
  """
  if "validation" in source.pools:
    wants = {"train": config.num_train, "validation": config.num_validation}
  else:
    (name,) = source.pools
    wants = {name: config.num_train + config.num_validation}
  return {
    name: walk_files(source.pools[name], want=want, min_side=config.min_side)
    for name, want in wants.items()
  }


def choose(
  pools: dict[str, Pool], config
) -> dict[str, list[imagenet_files.Verdict]]:
  """The images of each split: ``{"train": [...], "validation": [...]}``.

  Args:
    pools: a ``train`` and a ``validation`` pool, or one pool feeding both
      (its first images in selection order go to train, the next to
      validation).
    config: the builder config: ``num_train`` and ``num_validation``.
  """
  if "validation" in pools:
    n_train, n_val = split_sizes(
      train=len(pools["train"].kept),
      validation=len(pools["validation"].kept),
      num_train=config.num_train,
      num_validation=config.num_validation,
    )
    return {
      "train": pools["train"].kept[:n_train],
      "validation": pools["validation"].kept[:n_val],
    }
  (pool,) = pools.values()
  kept = pool.kept
  n_train, n_val = split_sizes(
    train=len(kept),
    validation=None,
    num_train=config.num_train,
    num_validation=config.num_validation,
  )
  return {
    "train": kept[:n_train],
    "validation": kept[n_train : n_train + n_val],
  }
