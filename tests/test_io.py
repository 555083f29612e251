"""funcnet.io: a saved net loads back equal, files are deterministic and atomic, bad files are named."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import funcnet as fn
from funcnet import io as fio


def _trained_bn_net():
    X = fn.random.normal(fn.random.key(0), (64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = fn.Net((3, 5, 4, 2), activation="tanh", batchnorm=True, dtype="float32")
    r = fn.fit(net, fn.init(fn.random.key(1), net), X, y, key=fn.random.key(2), epochs=2, batch_size=16)
    return net, r.params, r.stats, X


def test_round_trip_keeps_net_params_stats_and_dtypes(tmp_path):
    net, params, stats, X = _trained_bn_net()
    path = tmp_path / "p.npz"
    fio.save(path, net, params, stats=stats)
    net2, params2, stats2 = fio.load(path)
    assert net2 == net
    assert fn.tree_structure(params2) == fn.tree_structure(params)
    for a, b in zip(fn.tree_leaves(params) + fn.tree_leaves(stats), fn.tree_leaves(params2) + fn.tree_leaves(stats2)):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
    # The loaded net predicts exactly as the saved one.
    np.testing.assert_array_equal(fn.forward(net2, params2, X, stats=stats2), fn.forward(net, params, X, stats=stats))
    # A plain npz, readable without pickle, with the documented names.
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["0/W", "0/beta", "0/gamma", "1/W", "1/beta", "1/gamma", "2/W", "2/b",
                                   "net", "stats/0/mean", "stats/0/var", "stats/1/mean", "stats/1/var"]
        meta = json.loads(str(z["net"]))
    assert meta["format"] == "funcnet-params/1" and meta["net"]["sizes"] == [3, 5, 4, 2]


def test_equal_params_give_byte_identical_files(tmp_path):
    net = fn.Net((2, 3, 2))
    params = fn.init(fn.random.key(0), net)
    fio.save(tmp_path / "a.npz", net, params)
    os.utime(tmp_path / "a.npz", (0, 0))
    fio.save(tmp_path / "b.npz", net, fn.tree_map(np.copy, params))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    net = fn.Net((2, 2))
    path = tmp_path / "p.npz"
    fio.save(path, net, fn.init(fn.random.key(0), net))
    old = path.read_bytes()
    bad = ({"W": np.zeros((2, 2), np.float32)},)  # no bias: refused before anything is written
    with pytest.raises(TypeError, match=r"^params: expected the structure of net.shapes\(\), \(\{'W': \*, 'b': \*\},\), got "):
        fio.save(path, net, bad)
    assert path.read_bytes() == old
    fio.save(path, net, fn.init(fn.random.key(1), net))
    assert path.read_bytes() != old
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]


def test_a_write_that_fails_halfway_leaves_the_old_file(tmp_path, monkeypatch):
    net = fn.Net((2, 3, 2))
    path = tmp_path / "p.npz"
    fio.save(path, net, fn.init(fn.random.key(0), net))
    old = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def failing(fp, array, **kw):
        calls.append(1)
        if len(calls) == 3:  # after two of the five arrays are in the archive
            raise OSError("disk full")
        return real(fp, array, **kw)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        fio.save(path, net, fn.init(fn.random.key(1), net))
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]


def test_batchnorm_needs_stats_to_be_saved(tmp_path):
    net, params, _, _ = _trained_bn_net()
    with pytest.raises(ValueError, match="stats: this net uses batch norm"):
        fio.save(tmp_path / "p.npz", net, params)
    assert list(tmp_path.iterdir()) == []


def test_bad_files_are_named(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"junk.npz: not a readable funcnet params file \(BadZipFile"):
        fio.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match=r"other.npz: not a funcnet params file \(no 'net' entry\)"):
        fio.load(tmp_path / "other.npz")
    np.savez(tmp_path / "old.npz", net=np.array(json.dumps({"format": "something/0"})))
    with pytest.raises(ValueError, match="expected format 'funcnet-params/1', got 'something/0'"):
        fio.load(tmp_path / "old.npz")
    meta = {"format": "funcnet-params/1", "net": {"sizes": [2, 2]}}
    np.savez(tmp_path / "short.npz", net=np.array(json.dumps(meta)), **{"0/W": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"lacks \['0/b'\]"):
        fio.load(tmp_path / "short.npz")
    np.savez(tmp_path / "shape.npz", net=np.array(json.dumps(meta)),
             **{"0/W": np.zeros((3, 2), np.float32), "0/b": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match=r"shape.npz: entry '0/W.npy' has shape \(3, 2\), expected \(2, 2\)"):
        fio.load(tmp_path / "shape.npz")
    with pytest.raises(FileNotFoundError):
        fio.load(tmp_path / "missing.npz")


def test_net_dicts_round_trip_and_reject_unknown_fields():
    net = fn.Net((4, 8, 3), activation="gelu", output="sigmoid", dtype="float64", dropout=0.25)
    d = fio.net_to_dict(net)
    assert json.loads(json.dumps(d)) == d
    assert fio.net_from_dict(d) == net
    with pytest.raises(ValueError, match="net: expected a 'sizes' field"):
        fio.net_from_dict({"activation": "relu"})
    with pytest.raises(ValueError, match="activation: expected one of"):
        fio.net_from_dict({"sizes": [2, 2], "activation": "swish-ish"})
    with pytest.raises(TypeError, match="net: expected a funcnet.Net"):
        fio.net_to_dict({"sizes": [2, 2]})


@pytest.mark.parametrize("name", ["params_v0.1.0_plain.npz", "params_v0.1.0_batchnorm.npz"])
def test_files_saved_by_version_0_1_load_and_predict_the_same(name):
    # Written by funcnet 0.1.0 (digits, 64-16-10, 3 epochs of Adam) with its predictions on
    # the first 20 test images. The same labels; the same probabilities bit for bit without
    # batch norm, and to float32 rounding with it (evaluation-mode batch norm is now the one
    # formula of the layer, ((u - mean) * inv) * gamma + beta).
    data = os.path.join(os.path.dirname(__file__), "data")
    with open(os.path.join(data, "params_v0.1.0_predictions.json")) as f:
        want = json.load(f)[name]
    net, params, stats = fio.load(os.path.join(data, name))
    X = fn.datasets.digits()[1][:20]
    proba = fn.predict_proba(net, params, X, stats=stats)
    assert fn.predict(net, params, X, stats=stats).tolist() == want["labels"]
    if net.batchnorm:
        np.testing.assert_allclose(proba, want["proba"], rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_array_equal(proba, np.array(want["proba"], np.float32))


def _hostile(tmp_path, name, entries, compression=zipfile.ZIP_STORED):
    """A zip of raw entries (name -> bytes), as a hostile or broken writer might make it."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression) as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    return path


def _npy(a):
    import io as _io

    f = _io.BytesIO()
    np.lib.format.write_array(f, a, allow_pickle=True)
    return f.getvalue()


META = {"format": "funcnet-params/1", "net": {"sizes": [2, 2], "dtype": "float64"}}


def _meta(m=META):
    return _npy(np.array(json.dumps(m)))


def test_hostile_params_files_are_refused_by_name_without_inflating_them(tmp_path):
    ok = {"net.npy": _meta(), "0/W.npy": _npy(np.zeros((2, 2))), "0/b.npy": _npy(np.zeros(2))}
    assert fio.load(_hostile(tmp_path, "ok.npz", ok))[0] == fn.Net((2, 2), dtype="float64")
    # A header that declares a huge shape in a tiny file: refused before any allocation.
    big = _npy(np.zeros(2)).replace(b"'shape': (2,)", b"'shape': (200000000,)")
    cases = {
        "huge.npz": ({**ok, "0/b.npy": big}, r"entry '0/b.npy' has shape \(200000000,\), expected \(2,\)"),
        # 64 MiB of zeros, deflated to ~64 KiB, behind a header that declares 2 float64s.
        "bomb.npz": ({**ok, "0/b.npy": _npy(np.zeros(2)) + bytes(64 << 20)},
                     r"entry '0/b.npy' declares \d+ bytes, more than the 16 expected"),
        "pickle.npz": ({**ok, "0/b.npy": _npy(np.array([None, None], dtype=object))},
                       r"entry '0/b.npy' has dtype object, expected float64"),
        "dtype.npz": ({**ok, "0/b.npy": _npy(np.zeros(2, np.float32))}, r"has dtype float32, expected float64"),
        "cut.npz": ({**ok, "0/b.npy": _npy(np.zeros(2))[:-3]}, r"entry '0/b.npy' is truncated"),
        "extra.npz": ({**ok, "evil.npy": _npy(np.zeros(1))}, r"unexpected entries \['evil.npy'\]"),
        "nofield.npz": ({**ok, "net.npy": _meta({"format": "funcnet-params/1"})}, r"'net' entry has no 'net' field"),
        "nosizes.npz": ({**ok, "net.npy": _meta({"format": "funcnet-params/1", "net": {}})},
                        r"recorded architecture is invalid: net: expected a 'sizes' field"),
        "deep.npz": ({**ok, "net.npy": _npy(np.array("[" * 100000 + "]" * 100000))},
                     r"entry 'net.npy' declares \d+ bytes|unreadable 'net' entry"),
        "deep2.npz": ({**ok, "net.npy": _npy(np.array("[" * 3000 + "]" * 3000))}, r"unreadable 'net' entry"),
        "notnpy.npz": ({**ok, "0/b.npy": b"garbage"}, r"entry '0/b.npy' is not a .npy array"),
        "nan.npz": ({**ok, "0/b.npy": _npy(np.array([0.0, np.nan]))}, r"params\[0\]\['b'\]: expected finite values"),
    }
    for name, (entries, match) in cases.items():
        path = _hostile(tmp_path, name, entries, zipfile.ZIP_DEFLATED)
        with pytest.raises(ValueError, match=match):
            fio.load(path)
    # A file cut anywhere is refused with a ValueError, never a zipfile or EOF traceback.
    good = (tmp_path / "ok.npz").read_bytes()
    for cut in range(0, len(good), max(1, len(good) // 40)):
        (tmp_path / "trunc.npz").write_bytes(good[:cut])
        with pytest.raises(ValueError, match="trunc.npz"):
            fio.load(tmp_path / "trunc.npz")


def test_batch_norm_statistics_are_checked_on_load(tmp_path):
    net = fn.Net((2, 3, 2), batchnorm=True, dtype="float64")
    params, stats = fn.init(fn.random.key(0), net), fn.init_stats(net)
    bad = (dict(stats[0], var=np.array([1.0, -1.0, 1.0])), stats[1])
    path = tmp_path / "bn.npz"
    with pytest.raises(ValueError, match=r"stats\[0\]\['var'\]: expected variances >= 0"):
        fio.save(path, net, params, stats=bad)
    fio.save(path, net, params, stats=stats)
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["stats/0/var.npy"] = _npy(np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"bn2.npz: stats\[0\]\['var'\]: expected variances >= 0"):
        fio.load(_hostile(tmp_path, "bn2.npz", entries))


# --- checkpoints ---


def _run(epochs, net=None, opt=None, prev=None, **kw):
    X = fn.random.normal(fn.random.key(0), (48, 3)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    net = net or fn.Net((3, 6, 2), batchnorm=True, dropout=0.1)
    opt = opt or fn.optim.adamw(fn.schedules.cosine(0.02, 40), weight_decay=0.01)
    start = prev if prev is not None else fn.init(fn.random.key(1), net)
    return net, fn.fit(net, start, X, y, key=fn.random.key(2), optimizer=opt, epochs=epochs, batch_size=16,
                       validation=(X[:16], y[:16]), patience=50, **kw)


def test_a_checkpoint_holds_the_whole_state_and_fit_goes_on_from_it_bit_for_bit(tmp_path):
    net, whole = _run(4)
    _, half = _run(2)
    fio.save_checkpoint(tmp_path / "c.npz", net, half, config={"dataset": "toy", "epochs": 4})
    c = fio.load_checkpoint(tmp_path / "c.npz")
    assert c.net == net and c.config == {"dataset": "toy", "epochs": 4}
    assert c.result.history == half.history and c.result.best_epoch == half.best_epoch
    assert type(c.result.opt_state.states[0]).__name__ == "AdamState"
    assert fn.tree_structure(c.result.state) == fn.tree_structure(half.state)
    for a, b in zip(fn.tree_leaves(c.result.state), fn.tree_leaves(half.state)):
        assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
    _, again = _run(4, net=net, prev=c.result)
    for a, b in zip(fn.tree_leaves((again.params, again.state)), fn.tree_leaves((whole.params, whole.state))):
        assert np.array_equal(a, b)
    assert again.history == whole.history
    # Deterministic bytes: the same state written twice gives the same file.
    fio.save_checkpoint(tmp_path / "d.npz", net, c.result, config=c.config)
    assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "d.npz").read_bytes()


def test_checkpoints_of_other_versions_or_broken_ones_are_refused(tmp_path):
    net, r = _run(2, net=fn.Net((3, 4, 2), dtype="float64"), opt=fn.optim.momentum(0.1))
    fio.save_checkpoint(tmp_path / "c.npz", net, r)
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        entries = {n: z.read(n) for n in z.namelist()}
        meta = json.loads(str(np.lib.format.read_array(z.open("net.npy"))))

    def with_meta(**changes):
        return {**entries, "net.npy": _npy(np.array(json.dumps({**meta, **changes})))}

    opt_entry = next(n for n in entries if n.startswith("opt/"))
    cases = {
        "v2.npz": (with_meta(format="funcnet-checkpoint/2"), r"expected format 'funcnet-checkpoint/1', got 'funcnet-checkpoint/2'"),
        "params.npz": (None, r"expected format 'funcnet-checkpoint/1', got 'funcnet-params/1'"),
        "epoch.npz": (with_meta(epoch=0), r"epoch: expected an integer >= 1, got 0"),
        "state.npz": (with_meta(opt_state={"state": "EvilState", "fields": []}), r"unknown optimizer state 'EvilState'"),
        "deep.npz": (with_meta(opt_state=json.loads("[" * 200 + "]" * 200)), r"description is malformed"),
        "shape.npz": ({**entries, opt_entry: _npy(np.zeros((2, 6)))}, r"has shape \(2, 6\), which no param has"),
        "size.npz": ({**entries, opt_entry: _npy(np.zeros((7, 7)))}, r"entry .opt/0.npy. declares 392 bytes, more than 96"),
        "dtype.npz": ({**entries, opt_entry: _npy(np.zeros((3, 4), np.float32))}, r"has dtype float32, expected float64"),
        "missing.npz": ({k: v for k, v in entries.items() if k != opt_entry}, r"lacks the optimizer state's entry"),
    }
    fio.save(tmp_path / "params.npz", net, r.params)
    for name, (content, match) in cases.items():
        path = tmp_path / name if content is None else _hostile(tmp_path, name, content)
        with pytest.raises(ValueError, match=match):
            fio.load_checkpoint(path)
    with pytest.raises(TypeError, match=r"result.opt_state: a Foreign cannot be written"):
        from typing import NamedTuple

        class Foreign(NamedTuple):
            count: int

        fio.save_checkpoint(tmp_path / "x.npz", net, r._replace(state=r.state._replace(
            train=r.state.train._replace(opt_state=Foreign(1)))))
