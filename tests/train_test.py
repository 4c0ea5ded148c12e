"""Tests for sr_jax/train.py: the real loop on tiny models and tiny images."""

import glob
import logging
import math
import os
import re

import jax
import numpy as np
import pytest
import tensorflow as tf
from tiny import tiny_config

from sr_jax import checkpointing, models, train, train_state


def _params(workdir, config, step=None):
  params, got_step = checkpointing.restore_params(
    config, str(workdir), step=step
  )
  return params, got_step


def _scalars(workdir, tag):
  """``[(step, value)]`` of a scalar summary, in step order."""
  out = []
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == tag:
          value = (
            float(tf.make_ndarray(v.tensor))
            if v.HasField("tensor")
            else v.simple_value
          )
          out.append((event.step, value))
  return sorted(out)


def _event_tags(workdir):
  scalars, images = set(), set()
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        kind = v.metadata.plugin_data.plugin_name
        (images if kind == "images" else scalars).add(v.tag)
  return scalars, images


def test_train_writes_checkpoints_summaries_and_results(tmp_path):
  config = tiny_config(tmp_path, total_steps=2)
  workdir = str(tmp_path / "run")
  state = train.train_and_evaluate(config, workdir)
  assert int(state.step) == 2
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["2"]
  assert os.path.exists(os.path.join(workdir, "eval", "results_2.json"))
  scalars, images = _event_tags(workdir)
  for tag in (
    "train/loss",
    "train/learning_rate",
    "train/steps_per_sec",
    "train/examples_per_sec",
    "eval/Set5/psnr",
    "eval/Set5/ssim",
    "eval/Set5/bicubic_psnr",
  ):
    assert tag in scalars, (tag, scalars)
  assert any(t.startswith("eval/Set5/") for t in images), images


def test_restart_resumes_and_equals_uninterrupted(tmp_path, caplog):
  # A constant rate, so that the 2-step run is the first half of the 4-step
  # one (a cosine schedule depends on total_steps).
  config = tiny_config(tmp_path, total_steps=2)
  config.optim.schedule = "constant"
  interrupted = str(tmp_path / "interrupted")
  train.train_and_evaluate(config, interrupted)
  config4 = tiny_config(tmp_path, total_steps=4)
  config4.optim.schedule = "constant"
  caplog.clear()
  caplog.set_level(logging.INFO, logger="absl")
  state = train.train_and_evaluate(config4, interrupted)  # resumes at 2
  assert int(state.step) == 4
  # Step 3, logged right after the resume's first (compiling) call, has a
  # rate (with the compilation in it) and an ETA, not 0.00 and nan.
  rates = re.findall(
    r"step (\d+)/4 .* ([\d.]+) steps/s .* ETA (\S+) min", caplog.text
  )
  assert [int(s) for s, _, _ in rates] == [3, 4], caplog.text
  for _, rate, eta in rates:
    assert float(rate) > 0 and math.isfinite(float(eta)), caplog.text
  assert sorted(os.listdir(os.path.join(interrupted, "checkpoints"))) == [
    "2",
    "4",
  ]
  straight = str(tmp_path / "straight")
  train.train_and_evaluate(config4, straight)
  a, _ = _params(interrupted, config4)
  b, _ = _params(straight, config4)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)  # bitwise on CPU


def test_steps_per_call_takes_the_same_steps_to_float_rounding(tmp_path):
  # 10 steps: with 4 per call and hooks at 5 and 10, the run mixes 4-step
  # and 1-step calls; params and logged losses must equal those of one step
  # per call up to float32 rounding (XLA fuses across the unrolled steps, so
  # the last bit can differ).
  params, losses = [], []
  for k in (1, 4):
    config = tiny_config(tmp_path, total_steps=10)
    config.steps_per_call = k
    config.checkpoint_every_steps = 5
    config.log_every_steps = 5
    workdir = str(tmp_path / f"k{k}")
    train.train_and_evaluate(config, workdir)
    params.append(_params(workdir, config)[0])
    losses.append(_scalars(workdir, "train/loss"))
  for x, y in zip(
    jax.tree.leaves(params[0]), jax.tree.leaves(params[1]), strict=True
  ):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-8)
  assert [s for s, _ in losses[0]] == [s for s, _ in losses[1]] == [5, 10]
  np.testing.assert_allclose(
    [v for _, v in losses[0]], [v for _, v in losses[1]], rtol=1e-6
  )


def test_incompatible_checkpoint_is_refused(tmp_path):
  config = tiny_config(tmp_path, total_steps=2)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  other = tiny_config(tmp_path, total_steps=4)
  other.model.width = 16
  with pytest.raises(ValueError, match="model.width"):
    train.train_and_evaluate(other, workdir)
  with pytest.raises(ValueError, match="another model"):
    checkpointing.restore_params(other, workdir)


def test_one_and_two_devices_give_the_same_step(tmp_path):
  assert jax.device_count() == 2, "conftest sets two CPU devices"
  config = tiny_config(tmp_path)
  model = models.create(config)
  tx = train_state.create_optimizer(config)
  rng = np.random.default_rng(0)
  p, s = config.data.lr_patch_size, config.scale
  batch = {
    "lr": rng.integers(0, 256, (4, p, p, 3), dtype=np.uint8),
    "hr": rng.integers(0, 256, (4, p * s, p * s, 3), dtype=np.uint8),
  }
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = train.make_mesh(devices)
    state = train_state.create_train_state(jax.random.key(0), config, model, tx)
    step = train.compile_train_step(config, model, tx, mesh)
    state, metrics = step(state, train.global_batch(batch, mesh))
    assert len(state.params["sfe1"]["kernel"].sharding.device_set) == len(
      devices
    )
    results.append((jax.device_get(state.params), float(metrics["loss"])))
  (p1, l1), (p2, l2) = results
  assert l1 == pytest.approx(l2, rel=1e-6)
  for x, y in zip(jax.tree.leaves(p1), jax.tree.leaves(p2), strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = tiny_config(tmp_path, total_steps=2)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  config6 = tiny_config(tmp_path, total_steps=6)
  config6.optim.learning_rate = float("nan")
  with pytest.raises(train.NonFiniteLossError, match="step 2"):
    train.train_and_evaluate(config6, workdir)
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["2"]


def test_bfloat16_compute_keeps_float32_params(tmp_path):
  config = tiny_config(tmp_path, total_steps=2)
  config.model.dtype = "bfloat16"
  config.eval.every_steps = 0
  state = train.train_and_evaluate(config, str(tmp_path / "bf16"))
  dtypes = {x.dtype for x in jax.tree.leaves(state.params)}
  assert dtypes == {np.dtype("float32")}
  assert np.isfinite(float(jax.tree.leaves(state.params)[0].sum()))


def test_a_relative_workdir_works(tmp_path, monkeypatch):
  config = tiny_config(tmp_path, total_steps=2)
  monkeypatch.chdir(tmp_path)
  state = train.train_and_evaluate(config, os.path.join("runs", "tiny"))
  assert int(state.step) == 2
  assert os.listdir(tmp_path / "runs" / "tiny" / "checkpoints") == ["2"]
