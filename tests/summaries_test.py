"""Tests for sr_jax/summaries.py: event files that TensorFlow and TensorBoard
read back, rolled to new files past a size."""

import glob
import logging
import os

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from sr_jax import summaries


def _events(logdir):
  out = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    out.extend(tf.compat.v1.train.summary_iterator(path))
  return out


def _write_some(writer, steps):
  for step in steps:
    writer.write_scalars(step, {"train/loss": 1.0 / step, "train/n": step})
  writer.write_images(
    steps[-1], {"eval/fig": np.full((1, 5, 7, 3), 200, np.uint8)}
  )
  writer.write_texts(steps[-1], {"note": "hello"})
  writer.write_histograms(steps[-1], {"w": np.arange(10.0)})
  writer.flush()


def test_events_read_back_by_tensorflow_and_tensorboard(tmp_path):
  logdir = str(tmp_path / "run")
  writer = summaries.EventWriter(logdir)
  writer.write_hparams({"lr": 0.1, "model": {"name": "espcn"}})
  _write_some(writer, [1, 2])
  _write_some(writer, [3])  # A second flush appends to the same file.
  writer.close()
  assert len(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))) == 1
  events = _events(logdir)
  assert events[0].file_version == "brain.Event:2"
  losses = {
    e.step: float(tf.make_ndarray(v.tensor))
    for e in events
    for v in e.summary.value
    if v.tag == "train/loss"
  }
  assert losses == {1: 1.0, 2: 0.5, 3: np.float32(1 / 3)}

  acc = event_accumulator.EventAccumulator(
    logdir, size_guidance={event_accumulator.TENSORS: 0}
  )
  acc.Reload()
  tags = acc.Tags()
  assert {"train/loss", "train/n", "eval/fig", "note", "w"} <= set(
    tags["tensors"]
  )
  fig = acc.Tensors("eval/fig")[-1]
  width, height, png = tf.make_ndarray(fig.tensor_proto)
  assert (int(width), int(height)) == (7, 5)
  image = tf.io.decode_png(png).numpy()
  assert image.shape == (5, 7, 3) and (image == 200).all()
  plugins = acc.PluginTagToContent("hparams")
  assert plugins, "the hparams summary is missing"


def test_files_roll_past_roll_bytes(tmp_path, monkeypatch):
  monkeypatch.setattr(summaries, "ROLL_BYTES", 1)
  logdir = str(tmp_path / "run")
  writer = summaries.EventWriter(logdir)
  for step in (1, 2, 3):
    _write_some(writer, [step])
  writer.close()
  files = sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))
  assert len(files) == 3
  for path in files:  # Each file stands alone, version record first.
    first = next(iter(tf.compat.v1.train.summary_iterator(path)))
    assert first.file_version == "brain.Event:2"
  steps = sorted(
    e.step
    for e in _events(logdir)
    for v in e.summary.value
    if v.tag == "train/loss"
  )
  assert steps == [1, 2, 3]


def test_the_run_writer_logs_nothing(tmp_path, caplog):
  # The progress line already shows the metrics: no second, clu-formatted
  # log line per step (clu's LoggingWriter). The other processes write
  # nothing at all.
  caplog.set_level(logging.DEBUG)
  for chief in (True, False):
    logdir = str(tmp_path / f"chief_{chief}")
    writer = summaries.create_writer(logdir, chief=chief)
    _write_some(writer, [1, 2])
    writer.close()
    if chief:
      assert {v.tag for e in _events(logdir) for v in e.summary.value} >= {
        "train/loss",
        "eval/fig",
      }
    else:
      assert not os.path.exists(logdir)
  assert "train/loss" not in caplog.text and "Got images" not in caplog.text
