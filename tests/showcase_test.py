"""Tests for sr_jax/showcase.py: figures and PSNRs of real-photo results."""

import json
import os

import jax
import numpy as np
from conftest import REPO_DATA

from configs import default
from sr_jax import image_io, imresize, metrics, models, showcase, zoo


def test_figures_and_psnrs(tmp_path):
  config = default.get_config()
  config.model.name = "espcn"
  config.model.features = (4, 4)
  config.model.kernel_sizes = (3, 3, 3)
  params = models.create(config).init(
    jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32)
  )["params"]
  npz = zoo.export(config, params, "tiny", zoo_dir=str(tmp_path / "zoo"))
  photo = os.path.join(REPO_DATA, "eval", "Set5", "bird.png")
  results = showcase.showcase(
    [photo], [npz], quality=50, output_dir=str(tmp_path / "out")
  )
  scores = results["photos"]["bird"]
  assert set(scores) == {"bicubic", npz}
  hr = imresize.modcrop(image_io.read_image(photo), 3)
  lr = image_io.jpeg_round_trip(imresize.imresize(hr, 1 / 3), 50)
  want = metrics.psnr(
    imresize.imresize(lr, 3), hr, crop_border=3, convention="basicsr"
  )
  assert abs(scores["bicubic"] - want) < 1e-9
  figure = image_io.read_image(str(tmp_path / "out" / "bird.png"))
  assert figure.shape[1] > 3 * hr.shape[1]  # bicubic | model | original
  saved = json.load(open(tmp_path / "out" / "results.json"))
  assert saved["jpeg_quality"] == 50 and saved["photos"]["bird"] == scores
