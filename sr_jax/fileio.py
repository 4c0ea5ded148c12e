"""The one path layer for everything sr_jax reads and writes outside ``zoo/``.

Run directories, results, figures and upscaled images all go through these
functions, so that a new storage backend means changing this module only.
Paths are plain local paths today.

Writes are atomic: the bytes go to a temporary file beside the target,
which is then renamed over it, so a reader (or a crash) never sees half a
file, and a failed write (say, a full disk) leaves the previous version in
place.
"""

import os
import uuid


def join(*parts: str) -> str:
  return os.path.join(*parts)


def exists(path: str) -> bool:
  return os.path.exists(path)


def isdir(path: str) -> bool:
  return os.path.isdir(path)


def makedirs(path: str) -> None:
  """Creates ``path`` and its parents; fine if it exists as a folder.

  Raises:
    NotADirectoryError: if ``path`` (or a parent) exists and is a file.
  """
  if os.path.exists(path) and not os.path.isdir(path):
    raise NotADirectoryError(f"{path} exists and is a file, not a folder")
  os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
  return sorted(os.listdir(path))


def rename(src: str, dst: str) -> None:
  os.replace(src, dst)


def read_text(path: str) -> str:
  with open(path, encoding="utf-8") as f:
    return f.read()


def read_bytes(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def write_atomic(path: str, data: bytes | str) -> None:
  """Writes ``data`` to ``path`` through a temporary file and a rename.

  Raises:
    OSError: if the write fails (the temporary file is removed, and an
      existing ``path`` is left as it was).
  """
  if isinstance(data, str):
    data = data.encode("utf-8")
  # Unique per writer, so two processes never share a temporary file.
  tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
