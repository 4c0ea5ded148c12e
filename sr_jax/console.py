"""Where a run's log records go: a few to the console, all to the log file.

At the default verbosity the console shows the run directory, the config,
progress and evaluation lines, warnings and errors; every record, the
libraries' INFO lines included, goes to ``<workdir>/log.txt``.
"""

import contextlib
import logging as std_logging
import os
import sys
import tempfile
import time

from absl import logging

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CONFIGS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "configs")


def _ours(record: std_logging.LogRecord) -> bool:
  """A record logged by sr_jax or a config file, or by JAX."""
  path = os.path.abspath(record.pathname)
  return (
    path.startswith((_PACKAGE_DIR + os.sep, _CONFIGS_DIR + os.sep))
    or record.name.split(".")[0] == "jax"
  )


class ConsoleFormatter(std_logging.Formatter):
  """``HH:MM:SS message``, with ``warning:`` or ``error:`` when it is one."""

  def format(self, record: std_logging.LogRecord) -> str:
    text = record.getMessage()
    if not _ours(record):
      # A library's error (Orbax's background saver, say) in one line; its
      # traceback is in the log file, and the run reports the failure.
      text = (text.strip().splitlines() or [""])[0]
    elif record.exc_info:
      text += "\n" + self.formatException(record.exc_info)
    if record.levelno >= std_logging.WARNING:
      text = f"{record.levelname.lower()}: {text}"
    return time.strftime("%H:%M:%S ", time.localtime(record.created)) + text


# Where the console is: stderr, or its copy once Logs.take_native_stderr has
# pointed file descriptor 2 at the log file.
_console_fd = 2


def console_fd() -> int:
  """The file descriptor of the console (for os.write from signal paths)."""
  return _console_fd


def write(text: str) -> None:
  """Prints ``text`` (a line) on the console, wherever stderr now goes."""
  sys.stderr.flush()
  os.write(_console_fd, (text + "\n").encode())


class LogFile(std_logging.Handler):
  """The run's log file; holds the records until :meth:`open` names it.

  A run directory on an object store cannot be appended to line by line:
  the log is then written to a local file and copied there by
  :meth:`close`.
  """

  _MAX_HELD = 10_000

  def __init__(self):
    super().__init__()
    self.setFormatter(logging.PythonFormatter())
    self._held: list[std_logging.LogRecord] = []
    self._file = None
    self._copy_to = None
    self.path = None

  def open(self, path: str) -> None:
    from sr_jax import fileio

    if fileio.is_url(path):
      self._copy_to = path
      fd, path = tempfile.mkstemp(prefix="sr_jax_log_", suffix=".txt")
      os.close(fd)
    self.path = path
    self._file = open(path, "a", encoding="utf-8")
    for record in self._held:
      self._write(record)
    self._held = []

  def fileno(self) -> int | None:
    """The open log file's descriptor, or None."""
    return None if self._file is None else self._file.fileno()

  def _write(self, record: std_logging.LogRecord) -> None:
    self._file.write(self.format(record) + "\n")
    self._file.flush()

  def emit(self, record: std_logging.LogRecord) -> None:
    try:
      if self._file is not None:
        self._write(record)
      elif len(self._held) < self._MAX_HELD:
        self._held.append(record)
    except OSError:
      # A full disk: the run reports that itself, in one line. A traceback
      # per record here (logging's handleError) would bury it.
      self._stop_writing()
    except Exception:  # A log that cannot be written must not stop a run.
      self.handleError(record)

  def _stop_writing(self) -> None:
    if self._file is not None:
      with contextlib.suppress(OSError):
        self._file.close()
    self._file = None
    self._held = []
    self._MAX_HELD = 0  # Nothing more is held for a file that cannot grow.

  def close(self) -> None:
    if self._file is not None:
      with contextlib.suppress(OSError):
        self._file.close()
      self._file = None
      if self._copy_to:
        from sr_jax import fileio

        with contextlib.suppress(OSError):
          with open(self.path, "rb") as f:
            fileio.append(self._copy_to, f.read())
          os.remove(self.path)
    super().close()


class Logs:
  """Sends log records to the console (a few) and the log file (all).

  At the default verbosity the console shows the records logged with
  ``extra=rundir.CONSOLE`` (progress, evaluation, resume, stop) on the chief
  process, and the warnings and errors of sr_jax, the config files and JAX;
  with ``--verbosity=1`` or more it shows every record, in absl's
  format, as it used to.
  """

  def __init__(self, *, verbose: bool):
    self.verbose = verbose
    self.chief = True
    self.file = LogFile()
    self.console = std_logging.StreamHandler(sys.stderr)
    if verbose:
      self.console.setFormatter(logging.PythonFormatter())
    else:
      self.console.setFormatter(ConsoleFormatter())
      self.console.addFilter(self._for_console)
    root = std_logging.getLogger()
    self._absl_handler = logging.get_absl_handler()
    self._had_absl_handler = self._absl_handler in root.handlers
    root.removeHandler(self._absl_handler)
    root.addHandler(self.console)
    root.addHandler(self.file)

  def take_native_stderr(self) -> None:
    """Sends file descriptor 2 to the log file; the console keeps a copy.

    Libraries print to it directly, past logging: tensorstore's callbacks
    print "Event loop is closed" tracebacks by the dozen after a failed
    save, TensorFlow's C++ its notes. At the default verbosity they belong
    in the log file, like every other library line.
    """
    global _console_fd
    if self.verbose or self.file.fileno() is None or _console_fd != 2:
      return
    sys.stderr.flush()
    _console_fd = os.dup(2)
    self.console.setStream(os.fdopen(os.dup(_console_fd), "w", buffering=1))
    os.dup2(self.file.fileno(), 2)

  def _for_console(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      # A library's warnings and errors go to the log file only: a failure
      # that matters reaches sr_jax as an exception and is reported in one
      # line (Orbax alone logs three errors for one failed save).
      return _ours(record)
    return self.chief and getattr(record, "console", False)

  def close(self) -> None:
    """Closes the log file; the absl handler is back as it was."""
    root = std_logging.getLogger()
    for handler in (self.console, self.file):
      root.removeHandler(handler)
      handler.close()
    if self._had_absl_handler:
      root.addHandler(self._absl_handler)


@contextlib.contextmanager
def native_stderr_to_log(enabled: bool):
  """Sends what native code writes to stderr meanwhile to the log file.

  Importing TensorFlow prints C++ log lines (oneDNN, CPU features) before
  TF_CPP_MIN_LOG_LEVEL applies; they are kept, in the log file.
  """
  try:
    saved = os.dup(2) if enabled else None
  except OSError:  # No stderr to take over (a daemon): nothing to hide.
    saved = None
  if saved is None:
    yield
    return
  sys.stderr.flush()
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read().decode(errors="replace").strip()
      if text:
        logging.info("Native stderr while importing TensorFlow:\n%s", text)
