"""Tests for sr_jax/image_io.py and fileio's temporary files: nothing lost."""

import os
import subprocess

import numpy as np
from PIL import Image, ImageCms

from sr_jax import fileio, image_io


def _srgb_profile() -> bytes:
  return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_icc_profile_is_carried_from_a_jpeg_into_the_png(tmp_path):
  profile = _srgb_profile()
  src = tmp_path / "phone.jpg"
  rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)
  Image.fromarray(rgb).save(src, quality=95, icc_profile=profile)
  picture = image_io.read_picture(str(src))
  assert picture.icc_profile == profile
  out = tmp_path / "out.png"
  image_io.write_picture(str(out), picture)
  with Image.open(out) as img:
    assert img.info.get("icc_profile") == profile
    assert img.info.get("Software") == image_io.SOFTWARE


def test_a_cmyk_profile_is_not_put_on_rgb_pixels(tmp_path):
  src = tmp_path / "print.jpg"
  cmyk = Image.new("CMYK", (8, 8), (10, 20, 30, 40))
  cmyk.save(src, icc_profile=b"not an RGB profile")
  picture = image_io.read_picture(str(src))
  assert picture.color.shape == (8, 8, 3)
  assert picture.icc_profile is None


def test_no_profile_writes_none(tmp_path):
  out = tmp_path / "plain.png"
  image_io.write_picture(str(out), image_io.Picture(np.zeros((4, 4), np.uint8)))
  with Image.open(out) as img:
    assert "icc_profile" not in img.info


def test_remove_orphans_takes_dead_writers_files_only(tmp_path):
  dead = subprocess.Popen(["true"])
  dead.wait()
  orphan = tmp_path / f"a_x3.png{fileio.TMP_MARK}{dead.pid}-0123456789ab"
  live = tmp_path / f"b_x3.png{fileio.TMP_MARK}{os.getpid()}-0123456789ab"
  user = tmp_path / "notes.tmp-later.txt"
  for path in (orphan, live, user):
    path.write_bytes(b"x")
  assert fileio.remove_orphans(str(tmp_path)) == [str(orphan)]
  assert not orphan.exists() and live.exists() and user.exists()


def test_write_atomic_names_its_temporary_file_by_pid(tmp_path, monkeypatch):
  seen = []
  real_replace = os.replace

  def replace(src, dst):
    seen.append(os.path.basename(src))
    real_replace(src, dst)

  monkeypatch.setattr(os, "replace", replace)
  fileio.write_atomic(str(tmp_path / "f.png"), b"data")
  assert seen[0].startswith(f"f.png{fileio.TMP_MARK}{os.getpid()}-")
