"""The run directory: written in a hidden temporary folder beside ``--out``, then published.

An error, Ctrl-C, SIGTERM or SIGKILL never leaves a half-written run in ``--out``; an existing
``--out`` is replaced only if it is empty or holds a previous run, and on Linux it is replaced
by one atomic exchange of the two directories, so ``--out`` is never missing, not even for an
instant. Two runs racing on one ``--out`` both finish; the last to publish wins. A temporary
folder carries its process id; one left by a process that died (SIGKILL) is removed by the
next run on the same ``--out``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .config import UsageError

__all__ = ["RUN_FILES", "check_out", "make_temporary", "clear_stale", "publish", "write_json"]

RUN_FILES = {"params.npz", "history.json", "config.json", "summary.json", "checkpoint.npz"}


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def clear_stale(out: Path) -> list:
    """Remove the temporary folders beside ``out`` whose process has died; return their names."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(\d+)\..*\.(tmp|old)$")
    removed = []
    if not out.parent.is_dir():
        return removed
    for p in out.parent.iterdir():
        m = pattern.match(p.name)
        if m and p.is_dir() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed


def make_temporary(out: Path, suffix: str = ".tmp") -> Path:
    """A new hidden folder beside ``out``, named after this process, to write the run into."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=suffix, dir=out.parent))


_RENAME_NOREPLACE, _RENAME_EXCHANGE, _AT_FDCWD = 1, 2, -100


def _renameat2():
    try:
        f = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (musl, macOS): the fallback below
        return None
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return f


def _rename(src: Path, dst: Path, flags: int) -> None:
    """renameat2(2); raises OSError with its errno."""
    call = _renameat2()
    if call is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(dst))


def publish(tmp: Path, out: Path) -> None:
    """Move the finished run from ``tmp`` to ``out``, replacing a previous run there.

    With renameat2 the run appears in one step (``RENAME_NOREPLACE`` when ``out`` is new,
    ``RENAME_EXCHANGE`` when it replaces a run), so ``out`` always holds a complete run.
    Elsewhere the old run is first moved aside, which leaves a moment without ``out``.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is not
    for _ in range(10):  # another writer may create or replace `out` between two calls
        try:
            _rename(tmp, out, _RENAME_NOREPLACE)
            return
        except OSError as e:
            if e.errno in (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.ENOTSUP):
                break  # no renameat2 here, or not on this file system
            if e.errno != errno.EEXIST:
                raise
        try:
            _rename(tmp, out, _RENAME_EXCHANGE)
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue  # `out` went away in between: try to create it again
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # now the previous run
        return
    # The fallback: move the old run aside, then the new one in.
    old = None
    if out.exists():
        old = make_temporary(out, ".old")
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
