"""DIV2K (Agustsson & Timofte, 2017) from the TFDS catalog, never downloaded.

Training reads the 800 HR training images of ``div2k/bicubic_x<s>``; every
scale's config holds the same HR images, so a prepared config of any scale
serves every scale (the matching one is preferred). DIV2K is about 4 GB to
download, so training never starts a download: :func:`builder` raises a
message saying how to prepare it instead (and never falls back to another
set).
"""

import tensorflow_datasets as tfds

# Scales with a ``div2k/bicubic_x<s>`` config in the TFDS catalog.
SCALES = (2, 3, 4, 8)


def _how_to_prepare(scale: int, root: str) -> str:
  return (
    f"DIV2K is not prepared in the TFDS data dir {root} "
    "(--config.data.tfds_data_dir), and training does not download it. "
    "Prepare it once, on a machine with internet access: `tfds build "
    f"div2k/bicubic_x{scale} --data_dir={root}` (downloads about 4 GB from "
    "https://data.vision.ee.ethz.ch/cvl/DIV2K/: DIV2K_train_HR.zip, "
    f"DIV2K_valid_HR.zip and the x{scale} LR zips); or copy a data dir where "
    "div2k/bicubic_x<s> is prepared (any of "
    f"{', '.join(f'x{s}' for s in SCALES)}) and pass it as "
    "--config.data.tfds_data_dir"
  )


def builder(*, scale: int, data_dir: str | None) -> tfds.core.DatasetBuilder:
  """The prepared ``div2k/bicubic_x*`` builder whose ``hr`` to train on.

  Args:
    scale: the run's SR factor; its config is preferred, then the others.
    data_dir: the TFDS data dir; ``None`` for TFDS's default.

  Raises:
    FileNotFoundError: no DIV2K config is prepared in ``data_dir``; the
      message says how to prepare one.
  """
  preferred = scale if scale in SCALES else 2
  first = None
  for s in (preferred, *(s for s in SCALES if s != preferred)):
    b = tfds.builder(f"div2k/bicubic_x{s}", data_dir=data_dir)
    first = first or b
    if b.is_prepared():
      return b
  raise FileNotFoundError(_how_to_prepare(preferred, str(first.data_dir_root)))
