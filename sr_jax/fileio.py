"""The one path layer for everything sr_jax reads and writes outside ``zoo/``.

Run directories, results, figures, TensorBoard events and upscaled images all
go through these functions. A path is either local or a URL that fsspec
understands (``gs://bucket/run``: Google Cloud Storage through gcsfs, whose
import waits until such a path is used). Orbax, which writes the checkpoints,
is pointed at the same backend by :func:`for_orbax`.

Writes are atomic: locally the bytes go to a temporary file beside the
target, which is then renamed over it; an object store replaces an object
whole in one upload. So a reader (or a crash) never sees half a file, and a
failed write (say, a full disk) leaves the previous version in place.

With ``STORAGE_EMULATOR_HOST`` set, gcsfs talks to that server instead of
Google's; tensorstore (under Orbax) reads ``TENSORSTORE_GCS_HTTP_URL``.
"""

import contextlib
import os
import posixpath
import uuid

# Between a target's name and its writer's pid in a temporary file's name.
TMP_MARK = ".tmp-"


def is_url(path: str) -> bool:
  """Whether ``path`` names a remote location (``scheme://...``)."""
  return "://" in path


def _fs(path: str):
  """The fsspec filesystem for the URL ``path`` (imported on first use)."""
  import fsspec

  for_orbax(path)
  protocol = path.split("://", 1)[0]
  # No listings cache: other writers (Orbax, tensorstore, other hosts) change
  # the same folders, and a stale listing would hide their files.
  return fsspec.filesystem(protocol, use_listings_cache=False)


def for_orbax(path: str) -> str:
  """Returns ``path``, first making Orbax reach it as this module does.

  Orbax handles folders through ``etils.epath``, which sends ``gs://`` to
  TensorFlow's filesystem when TensorFlow is installed; that one has no
  endpoint setting (so no emulator) and differs from gcsfs used here.
  ``EPATH_USE_TF=false`` (epath's own switch, read when it first resolves a
  remote path) makes it use fsspec as well. Set it to ``true`` beforehand
  to keep TensorFlow's. A local path is made absolute, as Orbax requires.
  """
  if is_url(path):
    os.environ.setdefault("EPATH_USE_TF", "false")
    return path
  return os.path.abspath(path)


def join(*parts: str) -> str:
  if is_url(parts[0]):
    return posixpath.join(*parts)
  return os.path.join(*parts)


def exists(path: str) -> bool:
  if is_url(path):
    return _fs(path).exists(path)
  return os.path.exists(path)


def isdir(path: str) -> bool:
  """Whether ``path`` is a folder; on an object store, holds any object."""
  if is_url(path):
    return _fs(path).isdir(path)
  return os.path.isdir(path)


def makedirs(path: str) -> None:
  """Creates ``path`` and its parents; fine if it exists as a folder.

  An object store has no empty folders: there this only checks ``path``.

  Raises:
    NotADirectoryError: if ``path`` (or a parent) exists and is a file.
  """
  if exists(path) and not isdir(path):
    raise NotADirectoryError(f"{path} exists and is a file, not a folder")
  if is_url(path):
    _fs(path).makedirs(path, exist_ok=True)
  else:
    os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
  """The names in folder ``path``, sorted.

  Raises:
    FileNotFoundError: if there is no such folder.
  """
  if is_url(path):
    fs = _fs(path)
    if not fs.isdir(path):
      raise FileNotFoundError(path)
    return sorted(
      posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False)
    )
  return sorted(os.listdir(path))


def rename(src: str, dst: str) -> None:
  """Moves a file or folder (on an object store: copies, then deletes).

  Not atomic on an object store; sr_jax renames only to set aside folders.
  """
  if is_url(src):
    fs = _fs(src)
    # Copy and delete by hand: gcsfs's mv first tries the object move API,
    # and retries for a long while on a server that lacks it.
    fs.copy(src, dst, recursive=fs.isdir(src))
    fs.rm(src, recursive=True)
  else:
    os.replace(src, dst)


def remove(path: str) -> None:
  """Deletes the file ``path``.

  Raises:
    FileNotFoundError: if it does not exist.
  """
  if is_url(path):
    _fs(path).rm_file(path)
  else:
    os.remove(path)


def mtime(path: str) -> float:
  """When ``path`` was last written (or touched), in seconds since the epoch.

  Raises:
    FileNotFoundError: if it does not exist.
  """
  if is_url(path):
    info = _fs(path).info(path)
    stamp = info.get("mtime") or info.get("updated") or info.get("LastModified")
    if hasattr(stamp, "timestamp"):
      return stamp.timestamp()
    if isinstance(stamp, str):
      import datetime

      return datetime.datetime.fromisoformat(stamp).timestamp()
    return float(stamp)
  return os.path.getmtime(path)


def touch(path: str) -> None:
  """Sets the modification time of the existing file ``path`` to now."""
  if is_url(path):
    fs = _fs(path)
    fs.pipe_file(path, fs.cat_file(path))  # Objects change only by upload.
  else:
    os.utime(path)


def read_text(path: str) -> str:
  return read_bytes(path).decode("utf-8")


def read_bytes(path: str) -> bytes:
  if is_url(path):
    return _fs(path).cat_file(path)
  with open(path, "rb") as f:
    return f.read()


def _as_bytes(data: bytes | str) -> bytes:
  return data.encode("utf-8") if isinstance(data, str) else data


def write_atomic(path: str, data: bytes | str) -> None:
  """Writes ``data`` to ``path`` through a temporary file and a rename.

  On an object store, one upload (which is atomic by itself).

  Raises:
    OSError: if the write fails (the temporary file is removed, and an
      existing ``path`` is left as it was).
  """
  data = _as_bytes(data)
  if is_url(path):
    _fs(path).pipe_file(path, data)
    return
  # Unique per writer, so two processes never share a temporary file; the
  # pid lets remove_orphans tell a dead writer's file from a live one's.
  tmp = f"{path}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}"
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def remove_orphans(folder: str) -> list[str]:
  """Removes the temporary files of :func:`write_atomic` writers that died.

  A writer killed between writing and renaming (``kill -9``, power loss)
  leaves ``<name>.tmp-<pid>-<hex>`` behind; one whose pid no longer runs on
  this machine is removed. Local folders only (an object store has no
  temporary files).

  Returns:
    The removed paths.
  """
  if is_url(folder) or not os.path.isdir(folder):
    return []
  removed = []
  for name in os.listdir(folder):
    _, mark, rest = name.rpartition(TMP_MARK)
    pid = rest.split("-")[0]
    if not mark or not pid.isdigit() or _pid_alive(int(pid)):
      continue
    path = os.path.join(folder, name)
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)
      removed.append(path)
  return removed


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, someone else's.
    return True
  return True


def create_exclusive(path: str, data: bytes | str) -> None:
  """Creates the file ``path`` holding ``data``, unless it exists.

  Locally a hard link to a fully written temporary file; on Cloud Storage
  an upload on condition that no object has the name
  (``ifGenerationMatch=0``). Either way, of two writers racing for the name
  exactly one wins, and the name never holds a partial file.

  Raises:
    FileExistsError: if ``path`` exists.
  """
  data = _as_bytes(data)
  if is_url(path):
    fs = _fs(path)
    # The check makes the common case plain (and works on a server that
    # ignores preconditions); the condition settles a race.
    if fs.exists(path):
      raise FileExistsError(path)
    fs.pipe_file(path, data, mode="create")
    return
  # Written whole beside the target, then linked to its name (which fails
  # if the name exists): a crash or a full disk never leaves a half-written
  # or empty file under the name, only a temporary one (remove_orphans).
  tmp = f"{path}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}"
  try:
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
      view = memoryview(data)
      while view:
        view = view[os.write(fd, view) :]
    finally:
      os.close(fd)
    os.link(tmp, path)
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)


def append(path: str, data: bytes) -> None:
  """Adds ``data`` at the end of ``path`` (created if absent).

  Objects cannot grow: on an object store the object is read and uploaded
  again whole, so a caller appending often should start new files (as
  :mod:`sr_jax.summaries` does) to keep each small.
  """
  if is_url(path):
    fs = _fs(path)
    old = fs.cat_file(path) if fs.exists(path) else b""
    fs.pipe_file(path, old + data)
    return
  with open(path, "ab") as f:
    f.write(data)
