"""Save and load a trained net: architecture, params and batch-norm statistics in one ``.npz``.

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

import numpy as np

from . import checks
from .network import Net, check_params, check_stats, init_stats

__all__ = ["save", "load", "net_to_dict", "net_from_dict"]

FORMAT = "funcnet-params/1"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: files do not depend on the clock


def net_to_dict(net: Net) -> dict:
    """The fields of a :class:`funcnet.Net` as JSON-ready plain data.

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

    See Also:
        load
    """
    path = checks.path(path)
    meta = {"format": FORMAT, "net": net_to_dict(net)}
    check_params(net, params)
    arrays = {"net": np.array(json.dumps(meta, sort_keys=True))}
    for i, layer in enumerate(params):
        for k in sorted(layer):
            arrays[f"{i}/{k}"] = layer[k]
    if net.has_state:
        check_stats(net, stats)
        for i, s in enumerate(stats):
            for k in sorted(s):
                arrays[f"stats/{i}/{k}"] = np.asarray(s[k])
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
    """
    path = checks.path(path)
    max_bytes = checks.integer(max_bytes, "max_bytes", low=0)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            return _load(zf, path, max_bytes)
    # RuntimeError: an entry flagged as encrypted; the decompressors' own errors for the rest
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error, lzma.LZMAError,
            NotImplementedError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable funcnet params file ({type(e).__name__}: {e})") from None


def _load(zf, path, max_bytes):
    info = _member(zf, "net", path)
    if info is None:
        raise ValueError(f"{path}: not a funcnet params file (no 'net' entry)")
    text = str(_read_array(zf, info, path, shape=(), limit=_MAX_META)[()])
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: unreadable 'net' entry ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {got!r}")
    if "net" not in meta:
        raise ValueError(f"{path}: the 'net' entry has no 'net' field")
    try:
        net = net_from_dict(meta["net"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: the recorded architecture is invalid: {e}") from None
    dt = np.dtype(net.dtype)
    sizes = [math.prod(s) * dt.itemsize for d in (*net.shapes(), *net.stats_shapes()) for s in d.values()]
    if sum(sizes) > max_bytes:
        raise ValueError(f"{path}: the recorded architecture {net.sizes} needs {sum(sizes)} bytes, more "
                         f"than max_bytes={max_bytes}; pass a larger max_bytes if the file is trusted")
    expected = {f"{i}/{k}" for i, d in enumerate(net.shapes()) for k in d}
    if net.has_state:
        expected |= {f"stats/{i}/{k}" for i, d in enumerate(net.stats_shapes()) for k in d}
    found = {n[:-4] for n in zf.namelist() if n.endswith(".npy")} - {"net"}
    if found - expected or len(zf.namelist()) != len(found) + 1:
        extra = sorted(set(zf.namelist()) - {f"{n}.npy" for n in expected} - {"net.npy"})
        raise ValueError(f"{path}: unexpected entries {extra} for a net of sizes {net.sizes}")
    missing = sorted(expected - found)
    if missing:
        what = "the batch-norm statistics " if all(m.startswith("stats/") for m in missing) else ""
        raise ValueError(f"{path}: lacks {what}{missing} for a net of sizes {net.sizes}")

    def tree(shapes, prefix):
        return tuple({k: _read_array(zf, zf.getinfo(f"{prefix}{i}/{k}.npy"), path, dtype=dt, shape=shape,
                                     limit=math.prod(shape) * dt.itemsize)
                      for k, shape in d.items()} for i, d in enumerate(shapes))

    params = tree(net.shapes(), "")
    try:
        check_params(net, params)
        stats = check_stats(net, tree(net.stats_shapes(), "stats/")) if net.has_state else None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
    return net, params, stats
