"""Save and load a trained net, and checkpoints of a run to go on with later.

A params file holds the architecture, the params and the batch-norm statistics; a checkpoint
(:func:`save_checkpoint`) holds a whole training state for :func:`funcnet.fit` to continue.

The file is a plain NumPy ``.npz`` archive (loadable with ``np.load(path)``, no pickle):

- ``"net"``: the :class:`funcnet.Net` fields as a JSON string (``sizes``, ``activation``, ...);
- ``"0/W"``, ``"0/b"``, ``"1/W"``, ...: each layer's arrays (``gamma``/``beta`` with batch norm);
- ``"stats/0/mean"``, ``"stats/0/var"``, ...: batch-norm running statistics, when used.

Writing is deterministic (fixed order, fixed zip timestamps), so equal params give
byte-identical files, and atomic: the archive is written beside ``path`` and renamed over it,
so a crash never leaves half a file.

>>> import os, tempfile
>>> import funcnet as fn
>>> net = fn.Net((2, 3, 2), dtype="float64")
>>> params = fn.init(fn.random.key(0), net)
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "params.npz")
...     save(path, net, params)
...     net2, params2, stats2 = load(path)
...     with np.load(path) as z:
...         names = sorted(z.files)
>>> net2 == net, bool(np.array_equal(params2[1]["W"], params[1]["W"])), stats2
(True, True, None)
>>> names
['0/W', '0/b', '1/W', '1/b', 'net']
"""

from __future__ import annotations

import dataclasses
import json
import lzma
import math
import os
import tempfile
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from . import checks
from .network import Net, check_net, check_params, check_stats
from .train import FitResult

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "Checkpoint", "net_to_dict", "net_from_dict"]

FORMAT = "funcnet-params/1"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: files do not depend on the clock


def net_to_dict(net: Net) -> dict:
    """The fields of a :class:`funcnet.Net` as JSON-ready plain data.

    Args:
        net: a net of funcnet's standard layers (not one made with ``Net.from_layers``).

    Returns:
        A new dict of the fields ``sizes`` (a list), ``activation``, ``output``, ``init``,
        ``dtype``, ``dropout`` and ``batchnorm``, as the net holds them.

    Raises:
        ValueError: a net of your own layers, which has no file format.

    >>> net_to_dict(Net((2, 3, 1), output="sigmoid"))["sizes"]
    [2, 3, 1]
    """
    checks.instance(net, "net", Net, "a funcnet.Net")
    if net.layers is not None:
        raise ValueError("net: a net of your own layers has no file format; save its params with "
                         "numpy and rebuild the net in code")
    d = {f.name: getattr(net, f.name) for f in dataclasses.fields(Net) if f.name != "layers"}
    d["sizes"] = list(d["sizes"])
    return d


def net_from_dict(d) -> Net:
    """Rebuild a :class:`funcnet.Net` from :func:`net_to_dict`'s output (validated as usual).

    Args:
        d: a dict of Net fields with string keys: ``sizes`` (a list or tuple) is required,
            the others default as in :class:`funcnet.Net`.

    Returns:
        A new :class:`funcnet.Net`.

    Raises:
        ValueError: an unknown field, no ``sizes``, or a value the Net refuses.
        TypeError: ``d`` is not a dict with string keys, or a value of the wrong type.

    >>> net_from_dict({"sizes": [2, 3, 1], "output": "sigmoid"})
    Net(sizes=(2, 3, 1), activation='relu', output='sigmoid', init='auto', dtype='float32', dropout=0.0, batchnorm=False)
    >>> net_from_dict({"sizes": [2, 2], "colour": "red"})
    Traceback (most recent call last):
    ValueError: net: unknown fields ['colour']; expected some of ['activation', 'batchnorm', 'dropout', 'dtype', 'init', 'output', 'sizes']
    """
    checks.instance(d, "net", dict, "a dict of Net fields")
    if not all(isinstance(k, str) for k in d):
        raise TypeError(f"net: expected a dict of Net fields (string keys), got keys {list(d)!r:.100}")
    fields = {f.name for f in dataclasses.fields(Net)} - {"layers"}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise ValueError(f"net: unknown fields {unknown}; expected some of {sorted(fields)}")
    if "sizes" not in d:
        raise ValueError("net: expected a 'sizes' field, got none")
    return Net(**{**d, "sizes": tuple(d["sizes"]) if isinstance(d["sizes"], list) else d["sizes"]})


def save(path, net: Net, params, *, stats=None) -> None:
    """Write ``net``, ``params`` (and batch-norm ``stats``) to ``path`` as an ``.npz`` archive.

    Args:
        path: file to write (replaced atomically if it exists; no suffix is added).
        net: the architecture.
        params: params matching ``net``.
        stats: batch-norm running statistics; required when ``net.batchnorm`` (the
            net cannot be evaluated without them), ignored otherwise.

    Returns:
        None; the file at ``path`` holds the net, the params and (with batch norm) the stats.

    >>> import os, tempfile
    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), batchnorm=True, dtype="float64")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "net.npz")
    ...     save(path, net, fn.init(fn.random.key(0), net), stats=fn.init_stats(net))
    ...     with np.load(path) as z:
    ...         names = sorted(z.files)
    >>> names
    ['0/W', '0/beta', '0/gamma', '1/W', '1/b', 'net', 'stats/0/mean', 'stats/0/var']

    See Also:
        load
    """
    path = checks.path(path)
    meta = {"format": FORMAT, "net": net_to_dict(net)}
    check_params(net, params)
    arrays = {"net": np.array(json.dumps(meta, sort_keys=True)), **_tree_arrays("", params)}
    if net.has_state:
        check_stats(net, stats)
        arrays.update(_tree_arrays("stats/", stats))
    _write_archive(path, arrays)


def _write_archive(path, arrays: dict) -> None:
    """``.npy`` entries in a zip, in the given order, with fixed timestamps (equal contents give
    equal bytes), written beside ``path`` and renamed over it (a crash never leaves half a file)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, a in arrays.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(a, order="C"), allow_pickle=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _tree_arrays(prefix: str, tree) -> dict:
    """``{f"{prefix}{i}/{k}": array}`` for a tuple of layer dicts, keys sorted."""
    return {f"{prefix}{i}/{k}": np.asarray(d[k]) for i, d in enumerate(tree) for k in sorted(d)}


# The 'net' entry is a few hundred bytes of JSON; anything near this is not a funcnet file.
_MAX_META = 1 << 16


def _member(zf, name: str, path):
    try:
        return zf.getinfo(name + ".npy")
    except KeyError:
        return None


def _read_array(zf, info, path, *, dtype=None, shape=None, limit: int):
    """One ``.npy`` member, read from its header on: the declared dtype and shape are checked
    (against ``dtype``/``shape`` when given, and against ``limit`` bytes) before any data are
    decompressed, and no more than the declared bytes are ever read."""
    name = info.filename
    if info.file_size > limit + 4096:
        raise ValueError(f"{path}: entry {name!r} declares {info.file_size} bytes, more than the "
                         f"{limit} expected")
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            got_shape, fortran, got_dtype = read_header(f)
        except Exception as e:  # an untrusted header: NumPy's parser raises what it meets
            raise ValueError(f"{path}: entry {name!r} is not a .npy array ({type(e).__name__}: {e})") from None
        if got_dtype.hasobject or (dtype is not None and got_dtype != dtype) or \
                (dtype is None and got_dtype.kind != "U"):
            raise ValueError(f"{path}: entry {name!r} has dtype {got_dtype}, expected "
                             f"{np.dtype(dtype) if dtype is not None else 'a string'}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            raise ValueError(f"{path}: entry {name!r} has shape {tuple(got_shape)}, expected {tuple(shape)}")
        nbytes = math.prod(got_shape) * got_dtype.itemsize
        if nbytes > limit:
            raise ValueError(f"{path}: entry {name!r} declares {nbytes} bytes, more than {limit}")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"{path}: entry {name!r} is truncated ({len(data)} of {nbytes} bytes)")
        if f.read(1):
            raise ValueError(f"{path}: entry {name!r} holds more data than its header declares")
    a = np.frombuffer(data, dtype=got_dtype)
    a = a.reshape(got_shape[::-1]).T if fortran else a.reshape(got_shape)
    return np.array(a, order="C")  # our own, writable copy in C order


def load(path, *, max_bytes: int = 1 << 30):
    """Read a file written by :func:`save`: ``(net, params, stats)``.

    The file is untrusted input: it is read as a zip archive of ``.npy`` entries without
    pickle, the architecture first, then each array's header is checked against the shape and
    dtype that architecture implies before its data are decompressed, and never more than the
    declared bytes are read (a small file that would inflate to gigabytes is refused).

    Args:
        path: a ``.npz`` file written by :func:`save`.
        max_bytes: the most bytes of arrays the architecture may imply (default 1 GiB).

    Returns:
        The :class:`funcnet.Net`, its params (a tuple of layer dicts, checked against the
        net) and the batch-norm running statistics (``None`` for a net without batch norm).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the file, when it is not a funcnet params file, is truncated or
            corrupt, or holds arrays that do not match the architecture it records.

    >>> import os, tempfile
    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), dtype="float64")
    >>> params = fn.init(fn.random.key(0), net)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save(os.path.join(folder, "net.npz"), net, params)
    ...     net2, params2, stats2 = load(os.path.join(folder, "net.npz"))
    >>> net2 == net, bool(np.array_equal(params2[0]["W"], params[0]["W"])), stats2
    (True, True, None)
    """
    return _open(path, max_bytes, FORMAT, "params", _load)


def _open(path, max_bytes, fmt: str, what: str, read):
    """Open an archive written by this module and ``read(zf, path, meta, net, max_bytes)`` it;
    every way a file can be broken or hostile becomes a ValueError naming the file."""
    path = checks.path(path)
    max_bytes = checks.integer(max_bytes, "max_bytes", low=0)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            meta, net = _meta(zf, path, fmt, what, max_bytes)
            return read(zf, path, meta, net, max_bytes)
    # RuntimeError: an entry flagged as encrypted; the decompressors' own errors for the rest
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error, lzma.LZMAError,
            NotImplementedError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable funcnet {what} file ({type(e).__name__}: {e})") from None


def _meta(zf, path, fmt: str, what: str, max_bytes: int):
    """The JSON entry (``net``) of an archive: its format checked, the architecture rebuilt and
    its size held against ``max_bytes``."""
    info = _member(zf, "net", path)
    if info is None:
        raise ValueError(f"{path}: not a funcnet {what} file (no 'net' entry)")
    text = str(_read_array(zf, info, path, shape=(), limit=_MAX_META if fmt == FORMAT else max_bytes)[()])
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: unreadable 'net' entry ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path}: expected format {fmt!r}, got {got!r}")
    if "net" not in meta:
        raise ValueError(f"{path}: the 'net' entry has no 'net' field")
    try:
        net = net_from_dict(meta["net"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: the recorded architecture is invalid: {e}") from None
    dt = np.dtype(net.dtype)
    size = sum(math.prod(s) * dt.itemsize for d in (*net.shapes(), *net.stats_shapes()) for s in d.values())
    if size > max_bytes:
        raise ValueError(f"{path}: the recorded architecture {net.sizes} needs {size} bytes, more "
                         f"than max_bytes={max_bytes}; pass a larger max_bytes if the file is trusted")
    return meta, net


def _entries(zf, path, net, expected: set) -> None:
    """The archive holds exactly the ``expected`` entries (and ``net``)."""
    found = {n[:-4] for n in zf.namelist() if n.endswith(".npy")} - {"net"}
    if found - expected or len(zf.namelist()) != len(found) + 1:
        extra = sorted(set(zf.namelist()) - {f"{n}.npy" for n in expected} - {"net.npy"})
        raise ValueError(f"{path}: unexpected entries {extra} for a net of sizes {net.sizes}")
    missing = sorted(expected - found)
    if missing:
        what = "the batch-norm statistics " if all("stats/" in m for m in missing) else ""
        raise ValueError(f"{path}: lacks {what}{missing} for a net of sizes {net.sizes}")


def _names(prefix: str, shapes) -> set:
    return {f"{prefix}{i}/{k}" for i, d in enumerate(shapes) for k in d}


def _tree(zf, path, net, shapes, prefix: str):
    """A tuple of layer dicts read from the entries ``{prefix}{i}/{k}``, each checked against
    the dtype and shape the architecture implies."""
    dt = np.dtype(net.dtype)
    return tuple({k: _read_array(zf, zf.getinfo(f"{prefix}{i}/{k}.npy"), path, dtype=dt, shape=shape,
                                 limit=math.prod(shape) * dt.itemsize)
                  for k, shape in d.items()} for i, d in enumerate(shapes))


def _checked(path, check, *args):
    try:
        return check(*args)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


def _load(zf, path, meta, net, max_bytes):
    expected = _names("", net.shapes()) | (_names("stats/", net.stats_shapes()) if net.has_state else set())
    _entries(zf, path, net, expected)
    params = _checked(path, check_params, net, _tree(zf, path, net, net.shapes(), ""))
    stats = None
    if net.has_state:
        stats = _checked(path, check_stats, net, _tree(zf, path, net, net.stats_shapes(), "stats/"))
    return net, params, stats


# --- checkpoints: a whole training state, to go on with fit ---

CHECKPOINT_FORMAT = "funcnet-checkpoint/1"


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` gives back: the net, the fit result, and the run's settings.

    Attributes:
        net: the :class:`funcnet.Net`.
        result: a :class:`funcnet.FitResult`; pass it to :func:`funcnet.fit` as ``params`` to
            go on with the run.
        config: the ``config`` dict given to :func:`save_checkpoint`, or ``None``.

    >>> import os, tempfile
    >>> import funcnet as fn
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> X, y = fn.datasets.xor()
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(os.path.join(folder, "c.npz"), net, r, config={"lr": 0.1})
    ...     c = load_checkpoint(os.path.join(folder, "c.npz"))
    >>> c.net == net, c.result.history["epoch"], c.config
    (True, [1], {'lr': 0.1})
    """

    net: Net
    result: FitResult
    config: dict | None


def _state_types() -> dict:
    from . import optim

    return {cls.__name__: cls for cls in (optim.CountState, optim.ChainState, optim.TraceState,
                                           optim.RMSState, optim.AdamState)}


def _describe(tree, arrays: dict, name: str):
    """A JSON description of an optimizer state; its arrays go into ``arrays`` as ``opt/N``."""
    types = _state_types()
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        if type(tree).__name__ not in types or types[type(tree).__name__] is not type(tree):
            raise TypeError(f"{name}: a {type(tree).__name__} cannot be written to a checkpoint; "
                            f"funcnet's own optimizer states and trees of arrays and numbers can")
        return {"state": type(tree).__name__,
                "fields": [_describe(v, arrays, f"{name}.{f}") for f, v in zip(tree._fields, tree)]}
    if isinstance(tree, (tuple, list)):
        return {type(tree).__name__: [_describe(v, arrays, f"{name}[{i}]") for i, v in enumerate(tree)]}
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError(f"{name}: expected string keys, got {sorted(map(repr, tree))}")
        return {"dict": {k: _describe(tree[k], arrays, f"{name}[{k!r}]") for k in sorted(tree)}}
    if isinstance(tree, np.ndarray):
        entry = f"opt/{len(arrays)}"
        arrays[entry] = tree
        return {"array": entry}
    if isinstance(tree, (bool, np.bool_)):
        return {"bool": bool(tree)}
    if isinstance(tree, (int, np.integer)):
        return {"int": int(tree)}
    if isinstance(tree, (float, np.floating)):
        return {"float": float(tree)}
    if tree is None:
        return {"none": None}
    raise TypeError(f"{name}: {checks.show(tree)} cannot be written to a checkpoint")


def _restore(desc, zf, path, dt, shapes: set, depth: int = 0):
    """The optimizer state a :func:`_describe` description names, read and bounded: every array
    has the net's dtype and the shape of one of its params."""
    if depth > 64 or not isinstance(desc, dict) or len(desc) not in (1, 2):
        raise ValueError(f"{path}: the optimizer state's description is malformed")
    kind = next(iter(desc))
    if kind == "state":
        cls = _state_types().get(desc["state"])
        fields = desc.get("fields")
        if cls is None or not isinstance(fields, list) or len(fields) != len(cls._fields):
            raise ValueError(f"{path}: unknown optimizer state {desc.get('state')!r}")
        return cls(*[_restore(f, zf, path, dt, shapes, depth + 1) for f in fields])
    value = desc[kind]
    if kind in ("tuple", "list") and isinstance(value, list):
        out = [_restore(v, zf, path, dt, shapes, depth + 1) for v in value]
        return tuple(out) if kind == "tuple" else out
    if kind == "dict" and isinstance(value, dict):
        return {k: _restore(v, zf, path, dt, shapes, depth + 1) for k, v in value.items()}
    if kind == "array" and isinstance(value, str) and value.startswith("opt/"):
        info = _member(zf, value, path)
        if info is None:
            raise ValueError(f"{path}: lacks the optimizer state's entry {value!r}")
        a = _read_array(zf, info, path, dtype=dt, limit=max(math.prod(s) for s in shapes) * dt.itemsize)
        if a.shape not in shapes:
            raise ValueError(f"{path}: entry {value!r} has shape {a.shape}, which no param has")
        return a
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and type(value) is int:
        return value
    if kind == "float" and isinstance(value, (int, float)):
        return float(value)
    if kind == "none" and value is None:
        return None
    raise ValueError(f"{path}: the optimizer state's description is malformed at {kind!r}")


def save_checkpoint(path, net: Net, result, *, config: dict | None = None) -> None:
    """Write everything needed to go on with a run: ``fit(net, load_checkpoint(path).result, ...)``.

    The file holds the architecture, the training state after the last epoch (params,
    optimizer state with its step count, batch-norm statistics), early stopping's best params
    and bookkeeping, the history, and ``config`` (any JSON-ready dict, e.g. the command line's
    settings). It is a plain ``.npz`` (no pickle) with a JSON entry and a format version,
    written deterministically (equal states give equal bytes) and atomically.

    Args:
        path: file to write (replaced atomically if it exists).
        net: the architecture (a net of funcnet's layers).
        result: a :class:`funcnet.FitResult`.
        config: settings to keep with the checkpoint, or None.

    >>> import os, tempfile
    >>> import funcnet as fn
    >>> net = fn.Net((2, 4, 2), dtype="float64")
    >>> X, y = fn.datasets.xor()
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...            optimizer=fn.optim.adam(0.05), epochs=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(os.path.join(folder, "c.npz"), net, r)
    ...     c = load_checkpoint(os.path.join(folder, "c.npz"))
    >>> later = fn.fit(net, c.result, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(0.05), epochs=4)
    >>> later.history["epoch"], type(c.result.opt_state.states[0]).__name__
    ([1, 2, 3, 4], 'AdamState')
    """
    path = checks.path(path)
    check_net(net)
    checks.instance(result, "result", FitResult, "a funcnet.FitResult (from fit)")
    state = result.state
    check_params(net, state.train.params, "result.state.train.params")
    check_stats(net, state.train.stats, "result.state.train.stats")
    if config is not None:
        checks.instance(config, "config", dict, "a dict of settings or None")
    arrays = {}
    opt = _describe(state.train.opt_state, arrays, "result.opt_state")
    best = None
    if state.best is not None:
        check_params(net, state.best.params, "result.state.best.params")
        best = {"value": float(state.best.value), "epoch": int(state.best.epoch), "monitor": state.best.monitor}
    meta = {"format": CHECKPOINT_FORMAT, "net": net_to_dict(net), "epoch": int(state.epoch),
            "waited": int(state.waited), "stopped": bool(state.stopped), "best": best,
            "history": result.history, "opt_state": opt, "config": config}
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"result: its history or config cannot be written as JSON ({e})") from None
    entries = {"net": np.array(text), **_tree_arrays("train/params/", state.train.params),
               **_tree_arrays("train/stats/", state.train.stats), **arrays}
    if state.best is not None:
        entries.update(_tree_arrays("best/params/", state.best.params))
        entries.update(_tree_arrays("best/stats/", state.best.stats))
    _write_archive(path, entries)


def load_checkpoint(path, *, max_bytes: int = 1 << 30) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`: ``(net, result, config)``.

    The file is checked and bounded as :func:`load` does; an unknown format version is refused,
    and optimizer states come back as their own named tuples.

    Args:
        path: a ``.npz`` file written by :func:`save_checkpoint`.
        max_bytes: the most bytes of arrays the architecture may imply (default 1 GiB).

    Returns:
        A :class:`Checkpoint` ``(net, result, config)``: the net, a :class:`funcnet.FitResult`
        whose ``state`` continues the run (params, optimizer state, statistics, early
        stopping's best epoch, the history), and the saved ``config`` or ``None``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the file, when it is not a funcnet checkpoint (or of another
            version), is truncated or corrupt, or does not hold together.

    >>> import os, tempfile
    >>> import funcnet as fn
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> X, y = fn.datasets.xor()
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...            optimizer=fn.optim.momentum(0.1), epochs=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(os.path.join(folder, "c.npz"), net, r)
    ...     c = load_checkpoint(os.path.join(folder, "c.npz"))
    >>> c.result.state.epoch, c.result.opt_state.count, c.config
    (2, 2, None)
    >>> bool(np.array_equal(c.result.params[0]["W"], r.params[0]["W"]))
    True
    """
    return _open(path, max_bytes, CHECKPOINT_FORMAT, "checkpoint", _load_checkpoint)


def _load_checkpoint(zf, path, meta, net, max_bytes):
    from .train import Best, FitState, TrainState

    try:
        epoch = checks.integer(meta.get("epoch"), "epoch", low=1)
        waited = checks.integer(meta.get("waited"), "waited", low=0, high=epoch)
        stopped = checks.boolean(meta.get("stopped"), "stopped")
        history = checks.instance(meta.get("history"), "history", dict, "a dict of lists")
        config = meta.get("config")
        if config is not None:
            checks.instance(config, "config", dict, "a dict or null")
        best = meta.get("best")
        if best is not None:
            checks.instance(best, "best", dict, "a dict or null")
            best = (checks.real(best.get("value"), "best.value"),
                    checks.integer(best.get("epoch"), "best.epoch", low=1, high=epoch),
                    checks.choice(best.get("monitor"), "best.monitor", ["val_loss", "val_accuracy"]))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
    shapes = {tuple(s) for d in net.shapes() for s in d.values()}
    with_stats = net.has_state
    names = _names("train/params/", net.shapes()) | (_names("train/stats/", net.stats_shapes()) if with_stats else set())
    if best is not None:
        names |= _names("best/params/", net.shapes()) | (_names("best/stats/", net.stats_shapes()) if with_stats else set())
    opt_names = {n[:-4] for n in zf.namelist() if n.startswith("opt/") and n.endswith(".npy")}
    if len(opt_names) > 8 * len(shapes) * len(net.stack) + 8:
        raise ValueError(f"{path}: holds {len(opt_names)} optimizer arrays, more than any optimizer keeps")
    _entries(zf, path, net, names | opt_names)
    dt = np.dtype(net.dtype)
    params = _checked(path, check_params, net, _tree(zf, path, net, net.shapes(), "train/params/"))
    stats = _tree(zf, path, net, net.stats_shapes(), "train/stats/") if with_stats else tuple({} for _ in params)
    stats = _checked(path, check_stats, net, stats)
    opt_state = _restore(meta.get("opt_state"), zf, path, dt, shapes)
    if best is not None:
        bparams = _checked(path, check_params, net, _tree(zf, path, net, net.shapes(), "best/params/"))
        bstats = _tree(zf, path, net, net.stats_shapes(), "best/stats/") if with_stats else tuple({} for _ in params)
        best = Best(best[0], best[1], bparams, _checked(path, check_stats, net, bstats), best[2])
    train = TrainState(params, opt_state, stats)
    state = FitState(train, epoch, best, waited, stopped)
    if best is not None:
        result = FitResult(best.params, history, best.stats, opt_state, best.epoch, state)
    else:
        result = FitResult(params, history, stats, opt_state, None, state)
    return Checkpoint(net, result, config)
