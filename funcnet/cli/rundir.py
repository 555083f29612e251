"""The run directory: written in a hidden temporary folder beside ``--out``, then published.

An error or Ctrl-C never leaves a half-written run. An existing ``--out`` is replaced only if
it is empty or holds a previous run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .config import UsageError

__all__ = ["RUN_FILES", "check_out", "make_temporary", "publish", "write_json"]

RUN_FILES = {"params.npz", "history.json", "config.json", "summary.json"}


def check_out(out: Path) -> None:
    """``out`` may be created, or replaced if it is empty or a previous run's directory."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"out: {str(out)!r} exists and is not a directory")
    names = {p.name for p in out.iterdir()}
    if names and not ("config.json" in names and all(n in RUN_FILES or n.endswith(".png") for n in names)):
        raise UsageError(f"out: {str(out)!r} exists and is not a funcnet run directory "
                         f"(it holds other files); choose another --out")


def make_temporary(out: Path) -> Path:
    """A new hidden folder beside ``out`` to write the run into."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def publish(tmp: Path, out: Path) -> None:
    """Move the finished run from ``tmp`` to ``out``, replacing a previous run there."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is not
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old)


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
