"""Tests for sr_jax/platform_tuning.py: CPU tricks on CPU only."""

import jax
import numpy as np

from sr_jax import platform_tuning
from sr_jax.models.conv import Conv


def test_cpu_tunings_apply_on_cpu_only(monkeypatch):
  def conv_jaxpr():
    conv = Conv(4, 3)
    x = np.zeros((1, 6, 6, 2), np.float32)
    params = conv.init(jax.random.key(0), x)
    return str(jax.make_jaxpr(lambda p: conv.apply(p, x))(params))

  assert platform_tuning.on_cpu()
  assert "custom_vjp" in conv_jaxpr()
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert not platform_tuning.custom_conv_vjp()
  assert "custom_vjp" not in conv_jaxpr()
  assert platform_tuning.apply_process_tunings(keep_freed_memory=True) == []


def test_inference_runs_dense_networks_stacked_on_cpu_only(
  tmp_path, monkeypatch
):
  import tiny

  from sr_jax import inference, models

  config = tiny.tiny_config(tmp_path)
  # Training builds the plain form; the inference layer the stacked one.
  assert not models.create(config).stacked_dense
  assert inference.Predictor(config).model.stacked_dense
  espcn = config.copy_and_resolve_references()
  espcn.model.name = "espcn"
  plain = models.create(espcn)
  assert platform_tuning.for_inference(plain) is plain
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert not inference.Predictor(config).model.stacked_dense
