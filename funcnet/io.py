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
import os
import tempfile
import zipfile

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


def load(path):
    """Read a file written by :func:`save`: ``(net, params, stats)``.

    Returns:
        The :class:`funcnet.Net`, its params (a tuple of layer dicts, checked against the
        net) and the batch-norm running statistics (``None`` for a net without batch norm).

    Raises:
        ValueError: when ``path`` is not a funcnet params file or its arrays do not match the
            architecture it records.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"path: {path!r} is not a .npz archive ({e})") from None
    with archive as z:
        if not hasattr(z, "files") or "net" not in z.files:
            raise ValueError(f"path: {path!r} is not a funcnet params file (no 'net' entry)")
        try:
            meta = json.loads(str(z["net"].item()))
        except json.JSONDecodeError as e:
            raise ValueError(f"path: {path!r} has an unreadable 'net' entry ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"path: {path!r}: expected format {FORMAT!r}, got {meta.get('format') if isinstance(meta, dict) else meta!r}")
        net = net_from_dict(meta["net"])
        params = []
        for i, shapes in enumerate(net.shapes()):
            missing = [f"{i}/{k}" for k in shapes if f"{i}/{k}" not in z.files]
            if missing:
                raise ValueError(f"path: {path!r} lacks {missing} for a net of sizes {net.sizes}")
            params.append({k: z[f"{i}/{k}"] for k in shapes})
        params = tuple(params)
        check_params(net, params)
        stats = None
        if net.has_state:
            stats = []
            for i, s in enumerate(init_stats(net)):
                names = [f"stats/{i}/{k}" for k in s]
                if any(name not in z.files for name in names):
                    raise ValueError(f"path: {path!r} lacks the batch-norm statistics {names}")
                stats.append({k: z[name] for k, name in zip(s, names)})
            stats = check_stats(net, tuple(stats))
    return net, params, stats
