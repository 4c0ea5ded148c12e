"""TensorBoard event files written through :mod:`sr_jax.fileio`.

clu's ``SummaryWriter`` writes with ``tf.summary``, i.e. TensorFlow's own
filesystem, which cannot be pointed at another endpoint and bypasses the
path layer. :class:`EventWriter` is a clu ``MetricWriter`` that builds the
same records (TensorBoard's protos, TF2 tensor summaries, TFRecord framing)
and hands the bytes to fileio, so events land wherever the run directory is.

Records are buffered and written on :meth:`EventWriter.flush`. Cloud Storage
objects cannot be appended to (fileio rewrites them whole), so once a file
holds ROLL_BYTES the next flush starts a new one: no rewrite costs more than
that, and TensorBoard reads a folder of event files in name order.
"""

import os
import socket
import struct
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from clu import metric_writers
from clu.metric_writers import interface
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.histogram import summary_v2 as histogram_summary
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.util import tensor_util

from sr_jax import fileio

ROLL_BYTES = 4 << 20
VERSION = "brain.Event:2"


def record(data: bytes) -> bytes:
  """``data`` framed as one TFRecord (length, data, masked CRC32Cs)."""
  header = struct.pack("<Q", len(data))
  return b"".join(
    (
      header,
      struct.pack("<I", masked_crc32c(header)),
      data,
      struct.pack("<I", masked_crc32c(data)),
    )
  )


def _image_summary(tag: str, images: np.ndarray) -> summary_pb2.Summary:
  """A TF2 image summary of ``images``: [N, H, W, C], uint8 or [0, 1]."""
  from sr_jax import image_io

  images = np.asarray(images)
  if images.ndim == 3:
    images = images[None]
  if images.dtype != np.uint8:
    images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
  height, width = images.shape[1:3]
  blobs = [str(width).encode(), str(height).encode()]
  blobs += [image_io.encode_png(im) for im in images]
  summary = summary_pb2.Summary()
  summary.value.add(
    tag=tag,
    metadata=image_metadata.create_summary_metadata(
      display_name=None, description=None
    ),
    tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)),
  )
  return summary


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (hparams are flat)."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


class EventWriter(interface.MetricWriter):
  """Writes TensorBoard event files into ``logdir`` (local or a URL)."""

  def __init__(self, logdir: str):
    super().__init__()
    self._logdir = logdir
    fileio.makedirs(logdir)
    self._index = 0
    self._path = ""
    self._written = 0  # Bytes of the current file already written.
    self._pending: list[bytes] = []
    self._start_file()

  @property
  def path(self) -> str:
    """The event file being written."""
    return self._path

  def _start_file(self) -> None:
    name = (
      f"events.out.tfevents.{int(time.time()):010d}."
      f"{socket.gethostname()}.{os.getpid()}.{self._index}"
    )
    self._index += 1
    self._path = fileio.join(self._logdir, name)
    self._written = 0

  def _add(self, step: int, summary: summary_pb2.Summary) -> None:
    event = event_pb2.Event(wall_time=time.time(), step=int(step))
    event.summary.CopyFrom(summary)
    self._pending.append(record(event.SerializeToString()))

  def write_summaries(
    self,
    step: int,
    values: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
  ):
    for key, value in values.items():
      summary = summary_pb2.Summary()
      md = (metadata or {}).get(key)
      summary.value.add(
        tag=key,
        tensor=tensor_util.make_tensor_proto(np.asarray(value)),
        metadata=md if md is not None else summary_pb2.SummaryMetadata(),
      )
      self._add(step, summary)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]):
    for key, value in scalars.items():
      self._add(step, scalar_summary.scalar_pb(key, np.asarray(value)))

  def write_images(self, step: int, images: Mapping[str, Any]):
    for key, value in images.items():
      self._add(step, _image_summary(key, value))

  def write_videos(self, step: int, videos: Mapping[str, Any]):
    del step, videos  # TensorBoard has no video dashboard (nor has clu's).

  def write_audios(
    self, step: int, audios: Mapping[str, Any], *, sample_rate: int
  ):
    del step, audios, sample_rate  # Nothing in sr_jax writes audio.

  def write_texts(self, step: int, texts: Mapping[str, str]):
    for key, value in texts.items():
      self._add(step, text_summary.text_pb(key, value))

  def write_histograms(self, step, arrays, num_buckets=None):
    """Histograms of ``arrays`` (name -> array), ``num_buckets`` per name."""
    buckets = num_buckets or {}
    for key, value in arrays.items():
      pb = histogram_summary.histogram_pb(
        key, np.asarray(value), buckets=buckets.get(key)
      )
      self._add(step, pb)

  def write_hparams(self, hparams: Mapping[str, Any]):
    self._add(0, hparams_summary.hparams_pb(_flatten(hparams)))

  def flush(self):
    """Writes the buffered events (rolling to a new file past ROLL_BYTES)."""
    if not self._pending:
      return
    if self._written >= ROLL_BYTES:
      self._start_file()
    if not self._written:
      version = event_pb2.Event(wall_time=time.time(), file_version=VERSION)
      self._pending.insert(0, record(version.SerializeToString()))
    data = b"".join(self._pending)
    fileio.append(self._path, data)
    self._written += len(data)
    self._pending = []

  def close(self):
    self.flush()


def create_writer(logdir: str, *, chief: bool):
  """The run's metric writer: :class:`EventWriter` behind clu's async writer.

  No clu ``LoggingWriter``: the training loop's progress line and evaluation
  table already show these numbers, and a second line per log step (in clu's
  format) only doubled the console.

  Args:
    logdir: the run directory (local or a URL).
    chief: whether this process writes the run's event files; the others
      get a writer that drops everything.

  Returns:
    A clu ``MetricWriter``.
  """
  if not chief:
    return metric_writers.MultiWriter([])
  return metric_writers.AsyncMultiWriter([EventWriter(logdir)])
