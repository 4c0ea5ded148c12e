"""The README's real photos, held out of every training set that could see them.

A module of its own (data, no command) so that training configs and the
``showcase`` command share one list without configs importing a command.
"""

import os

# A bird, a sign, an animal, a person, from ImageNet800.
PHOTOS = (
  "n01531178_goldfinch.JPEG",
  "n06794110_street_sign.JPEG",
  "n02510455_giant_panda.JPEG",
  "n10148035_groom.JPEG",
)
IMAGENET800 = os.path.normpath(
  os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "train",
               "ImageNet800")
)  # fmt: skip
