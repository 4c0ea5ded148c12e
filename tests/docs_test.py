"""The README and docs/ stay true: short front door, live links, commands that parse.

A renamed flag or config key, a moved config or script, a dead link, or a
results table typed in by hand fails here, in CI, not in a reader's shell.
"""

import functools
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPO

README = os.path.join(REPO, "README.md")
DOCS = os.path.join(REPO, "docs")
PAGES = [README] + sorted(
  os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md")
)


def _read(path: str) -> str:
  with open(path) as f:
    return f.read()


def _rel(path: str) -> str:
  return os.path.relpath(path, REPO)


def test_readme_is_a_front_door():
  lines = _read(README).splitlines()
  assert len(lines) <= 250, len(lines)
  top = "\n".join(lines[:40])
  for command in (
    "pip install -r requirements.txt",
    "python -m sr_jax.main --config=configs/x3.py",
    "python -m pytest -q",
  ):
    assert command in top, command


def test_ci_runs_the_readme_test_command():
  ci = _read(os.path.join(REPO, ".ci", "run"))
  assert re.search(r"^python -m pytest -q$", ci, re.M)


def _links(text: str):
  # [text](target) and ![alt](target); external and anchor links excluded.
  for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text):
    if not re.match(r"[a-z]+://|#|mailto:", target):
      yield target.split("#")[0]


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_link_resolves(page):
  missing = [
    t
    for t in _links(_read(page))
    if not os.path.exists(os.path.join(os.path.dirname(page), t))
  ]
  assert not missing, missing


def test_readme_links_every_docs_page():
  text = _read(README)
  for page in PAGES[1:]:
    assert f"docs/{os.path.basename(page)}" in text, page


def _commands(text: str, program: str) -> list[str]:
  """Every ``program ...`` command in fenced blocks and inline code spans."""
  found = []
  for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
    joined = re.sub(r"\\\n\s*", "", block)
    for line in joined.splitlines():
      found += [program + rest for rest in line.split(program)[1:]]
  prose = re.sub(r"```.*?```", "", text, flags=re.S)
  for span in re.findall(r"`([^`]+)`", prose):
    span = " ".join(span.split())
    found += [program + rest for rest in span.split(program)[1:]]
  return found


def _tokens(command: str) -> list[str]:
  # A command ends at a shell operator or a comment.
  command = re.split(r"\s(?:\||;|&&|#|>)\s?", command)[0]
  command = command.replace("[", " ").replace("]", " ")
  try:
    return shlex.split(command)
  except ValueError:
    return command.split()


def _all_commands(program: str):
  return [
    (_rel(page), command)
    for page in PAGES
    for command in _commands(_read(page), program)
  ]


@functools.cache
def _module_flags(module: str) -> frozenset[str]:
  """The absl flags that ``python -m <module>`` accepts."""
  # Commands define absl flags at import, in ``_define_flags`` (showcase),
  # or on a FlagValues of their own (``_flag_values``: upscale); a few use
  # argparse, whose --help lists them.
  script = (
    "import contextlib, importlib, io, re\n"
    "from absl import flags\n"
    f"m = importlib.import_module({module!r})\n"
    "names = set()\n"
    "if hasattr(m, '_define_flags'): m._define_flags()\n"
    "if hasattr(m, '_flag_values'): names |= set(m._flag_values())\n"
    "if hasattr(m, 'argparse'):\n"
    "  out = io.StringIO()\n"
    "  with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
    "    m.main(['--help'])\n"
    "  names |= set(re.findall(r'--([A-Za-z0-9_]+)', out.getvalue()))\n"
    "print('\\n'.join(names | set(flags.FLAGS)))\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", script],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
  ).stdout
  return frozenset(out.split())


def _config(path: str):
  spec = importlib.util.spec_from_file_location("_doc_config", path)
  module = importlib.util.module_from_spec(spec)
  sys.path.insert(0, REPO)
  try:
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(REPO)
  return module.get_config()


def _has_key(config, dotted: str) -> bool:
  node = config
  for part in dotted.split("."):
    try:
      node = node[part]
    except (KeyError, TypeError):
      return False
  return True


def _check_command(command: str) -> list[str]:
  tokens = _tokens(command)
  module = tokens[2]
  if not os.path.exists(os.path.join(REPO, *module.split(".")) + ".py"):
    return [f"no module {module}"]
  known = _module_flags(module)
  errors, config_path = [], None
  flags = [t for t in tokens[3:] if t.startswith("--")]
  for flag in flags:
    name, _, value = flag[2:].partition("=")
    if name == "config" and value:
      config_path = os.path.join(REPO, value)
      if not os.path.exists(config_path):
        errors.append(f"--config={value}: no such file")
  for flag in flags:
    name, _, _ = flag[2:].partition("=")
    if name.startswith("config."):
      if config_path and os.path.exists(config_path):
        if not _has_key(_config(config_path), name[len("config.") :]):
          errors.append(f"--{name}: not a key of {_rel(config_path)}")
      elif "config" not in known:
        errors.append(f"--{name}: {module} takes no --config")
    elif name not in known and not (
      name.startswith("no") and name[2:] in known
    ):
      errors.append(f"--{name}: not a flag of {module}")
  return errors


_SR_JAX = _all_commands("python -m sr_jax.")


def test_the_docs_hold_sr_jax_commands():
  pages = {page for page, _ in _SR_JAX}
  assert "README.md" in pages and len(_SR_JAX) >= 20


@pytest.mark.parametrize(
  "page,command", _SR_JAX, ids=[f"{p}:{i}" for i, (p, _) in enumerate(_SR_JAX)]
)
def test_sr_jax_command_parses(page, command):
  errors = _check_command(command)
  assert not errors, f"{page}: {command}\n" + "\n".join(errors)


def test_a_renamed_flag_would_be_caught():
  ok = (
    "python -m sr_jax.main --config=configs/x3.py --config.eval.datasets=Set5"
  )
  assert _check_command(ok) == []
  assert _check_command(
    "python -m sr_jax.main --config=configs/x3.py --wrkdir=x"
  )
  assert _check_command(
    "python -m sr_jax.main --config=configs/x3.py --config.eval.datset=Set5"
  )
  assert _check_command("python -m sr_jax.main --config=configs/nope.py")


@pytest.mark.parametrize("page,command", _all_commands("python benchmarks/"))
def test_benchmark_script_exists(page, command):
  script = _tokens(command)[1]
  assert os.path.exists(os.path.join(REPO, script)), f"{page}: {script}"


def _generated_block(text: str, name: str) -> list[str]:
  match = re.search(
    rf"<!-- readme_tables {name} -->\n(.*?)<!-- end -->", text, re.S
  )
  assert match, f"no readme_tables {name} block"
  return match.group(1).strip().splitlines()


def _script_lines(script: str, *args: str) -> list[str]:
  out = subprocess.run(
    [sys.executable, os.path.join(REPO, "benchmarks", script), *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  return out.strip().splitlines()


@pytest.mark.parametrize(
  "page,table",
  [
    (README, "zoo"),
    (README, "showcase"),
    (README, "which"),
    (os.path.join(DOCS, "zoo.md"), "grid"),
    (os.path.join(DOCS, "zoo.md"), "margins"),
  ],
)
def test_readme_tables_are_what_the_script_prints(page, table):
  want = _script_lines("readme_tables.py", table)
  assert _generated_block(_read(page), table) == want


def test_zoo_page_rows_are_what_the_scripts_print():
  text = _read(os.path.join(DOCS, "zoo.md")).splitlines()
  rows = _script_lines("zoo_table.py")[2:]
  rows += _script_lines(
    "jpeg_table.py", "zoo/espcn_rdb_x3.json", "zoo/espcn_rdb_x3_jpeg.json"
  )[2:]
  missing = [r for r in rows if r not in text]
  assert not missing, missing


def test_commands_are_found_in_blocks_and_spans():
  # Guards the regexes above against silently matching nothing.
  text = (
    "```bash\npython -m sr_jax.main --config=a \\\n  --b=1\n```\n"
    "Run `python -m sr_jax.upscale\n--model=m x.jpg` then.\n"
  )
  assert _commands(text, "python -m sr_jax.") == [
    "python -m sr_jax.main --config=a --b=1",
    "python -m sr_jax.upscale --model=m x.jpg",
  ]
