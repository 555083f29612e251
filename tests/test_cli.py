"""The command line, driven as a user would: ``python -m funcnet ...`` in a subprocess.

Runs are tiny (few epochs, small generated data) so the whole module takes seconds; the one
full default run (digits, 30 epochs) checks the README's promise of >= 0.96 test accuracy.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pytest

import funcnet as fn
from funcnet import cli
from funcnet import io as fio
from funcnet.cli.data import run_keys

RUN_FILES = {"params.npz", "history.json", "config.json", "summary.json"}


def _env(block=(), tmp_path=None):
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    if block:
        # A module on PYTHONPATH that refuses to import stands in for one not installed.
        folder = tmp_path / "blocked"
        folder.mkdir(exist_ok=True)
        for name in block:
            (folder / f"{name}.py").write_text(f"raise ImportError('{name} is blocked for this test')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(folder), env.get("PYTHONPATH", "")])
    return env


def run(*args, cwd, block=(), timeout=180):
    return subprocess.run([sys.executable, "-m", "funcnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=_env(block, cwd))


def run_tty(*args, cwd, block=()):
    """Run with stderr on a pseudo-terminal (as in an interactive shell): (rc, stdout, tty text)."""
    master, slave = pty.openpty()
    # A fresh pseudo-terminal is 0 columns wide; give it a real terminal's size.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "funcnet", *map(str, args)], cwd=cwd,
                         stdout=subprocess.PIPE, stderr=slave, env=_env(block, cwd))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = p.stdout.read().decode()
    p.stdout.close()
    rc = p.wait(timeout=60)
    os.close(master)
    return rc, out, b"".join(chunks).decode(errors="replace")


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _read(path):
    return json.loads(path.read_text())


TINY = ["--dataset", "moons", "--n-samples", 200, "--epochs", 3, "--hidden", 8, "--no-plots"]


# --- train ---


def test_train_writes_params_history_config_summary_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("train", "--dataset", "xor-clusters", "--n-samples", 120, "--epochs", 4, "--hidden", 6,
            "--seed", 3, "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run"
    plots = {"loss.png", "grad_norms.png", "grad_norm_bars.png", "decision_boundary.png", "hidden.png"}
    assert {p.name for p in out.iterdir()} == RUN_FILES | plots
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary leftovers
    for name in plots:
        w, h = _png_size(out / name)
        assert w >= 300 and h >= 300
    assert _png_size(out / "loss.png") == (900, 350)  # 9 x 3.5 inches at 100 dpi

    history, config, summary = (_read(out / f) for f in ("history.json", "config.json", "summary.json"))
    assert history["epoch"] == [1, 2, 3, 4] and len(history["val_loss"]) == 4
    assert all(len(norms) == 2 for norms in history["grad_norm"])
    assert config["dataset"] == "xor-clusters" and config["hidden"] == [6]
    assert config["seed"] == 3 and config["n_samples"] == 120 and config["activation"] == "tanh"
    assert config["funcnet_version"] == fn.__version__

    # The saved params give the reported test accuracy on the run's own test split.
    net, params, stats = fio.load(out / "params.npz")
    assert net.sizes == (2, 6, 2) and stats is None
    data = cli.load_data(cli.resolve_config({}, config))
    Xte, yte = data.X_test, data.y_test
    acc = fn.accuracy(net, params, Xte, yte)
    assert summary["test_accuracy"] == acc and summary["test_samples"] == len(Xte) == 24
    assert f"test accuracy {acc:.4f} (24 samples), 4 epochs in" in r.stdout
    assert "plots: loss.png" in r.stdout


def test_config_file_repeats_the_run_bit_for_bit_and_flags_override_it(tmp_path):
    first = run("train", *TINY, "--optimizer", "adam", "--lr", 0.01, "--out", "a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run("train", "--config", "a/config.json", "--out", "b", "--no-plots", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for name in ("params.npz", "history.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    changed = run("train", "--config", "a/config.json", "--epochs", 2, "--out", "c", "--no-plots",
                  cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    config_a, config_c = _read(tmp_path / "a" / "config.json"), _read(tmp_path / "c" / "config.json")
    assert config_c["epochs"] == 2 and _read(tmp_path / "c" / "history.json")["epoch"] == [1, 2]
    assert {k: v for k, v in config_c.items() if k != "epochs"} == {k: v for k, v in config_a.items() if k != "epochs"}
    assert config_a["optimizer"] == "adam" and config_a["lr"] == 0.01


def test_default_command_trains_digits_to_96_percent(tmp_path):
    # No subcommand means train; the default dataset is digits with 64-128-10 relu, sgd 0.1.
    r = run("--out", "d", "--no-plots", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    config, summary = _read(tmp_path / "d" / "config.json"), _read(tmp_path / "d" / "summary.json")
    assert (config["dataset"], config["hidden"], config["activation"]) == ("digits", [128], "relu")
    assert (config["optimizer"], config["lr"], config["batch_size"], config["epochs"]) == ("sgd", 0.1, 32, 30)
    assert summary["test_accuracy"] >= 0.96
    assert "train_seconds" not in summary  # the same bytes on every repeat: time is printed only
    assert r.stdout.startswith("digits: test accuracy") and r.stdout.count("\n") == 1


def test_an_existing_run_is_replaced_but_other_folders_are_refused(tmp_path):
    assert run("train", *TINY, "--epochs", 1, "--out", "r", cwd=tmp_path).returncode == 0
    (tmp_path / "r" / "loss.png").write_bytes(b"old plot")  # a previous run's file
    assert run("train", *TINY, "--epochs", 2, "--out", "r", cwd=tmp_path).returncode == 0
    assert _read(tmp_path / "r" / "history.json")["epoch"] == [1, 2]
    assert not (tmp_path / "r" / "loss.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    r = run("train", *TINY, "--out", "mine", cwd=tmp_path)
    assert r.returncode == 2 and "is not a funcnet run directory" in r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args,message", [
    # Values the core takes are checked by the core, which names them as the flags do.
    (["--lr", "-1"], "lr: expected a finite number > 0, got -1.0 (float)"),
    (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
    (["--hidden", "0"], "argument --hidden: expected a positive integer, got '0'"),
    (["--dropout", "1.5"], "dropout: expected a finite number in [0, 1), got 1.5 (float)"),
    (["--epochs", "2.5"], "argument --epochs: expected a positive integer, got '2.5'"),
    (["--dataset", "mnist"], "pass --data-dir DIR"),
    (["--dataset", "mnist", "--data-dir", "nowhere"], "data_dir: nowhere/train-images-idx3-ubyte.gz is missing"),
    (["--dataset", "digits", "--n-samples", "50"], "n_samples: only generated datasets"),
    (["--patience", "3", "--val-fraction", "0"], "patience: early stopping needs validation data"),
    (["--config", "missing.json"], "config: no such file: missing.json"),
    (["--epochs", "3", "--config", "c.json"], "config: no such file: c.json"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--quiet", "--verbose"], "not allowed with argument"),
])
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, args, message):
    r = run("train", *args, "--out", "x", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "usage:" in r.stderr and "error:" in r.stderr
    assert not (tmp_path / "x").exists() and not [p for p in tmp_path.iterdir() if p.name != "blocked"]


def test_bad_config_files_exit_2(tmp_path):
    (tmp_path / "c1.json").write_text('{"dataset": "moons", "colour": "red"}')
    (tmp_path / "c2.json").write_text("{not json")
    (tmp_path / "c3.json").write_text('{"hidden": "wide"}')
    (tmp_path / "c4.json").write_text('{"dataset": "moons", "epochs": "ten"}')
    (tmp_path / "c5.json").write_text('{"dataset": "moons", "threads": "many"}')
    for name, message in [("c1.json", "config: unknown settings ['colour']"),
                          ("c2.json", "config: cannot read c2.json as JSON"),
                          ("c3.json", "hidden: expected a list of layer widths, got 'wide'"),
                          # checked by fit, after the data are read, named as the setting
                          ("c4.json", "epochs: expected an integer >= 1, got 'ten'"),
                          ("c5.json", "threads: expected 'auto', a number of threads >= 1 or None, got 'many'")]:
        r = run("train", "--config", name, "--out", "x", cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr, (name, r.stderr)
    assert not (tmp_path / "x").exists()


def test_diverging_training_exits_1_and_leaves_nothing(tmp_path):
    r = run("train", *TINY, "--lr", 1e6, "--out", "x", cwd=tmp_path)
    assert r.returncode == 1
    assert "funcnet train: error: training diverged" in r.stderr
    assert list(tmp_path.iterdir()) == []


def _default_sigint():
    # A suite started in the background of a non-interactive shell runs with SIGINT ignored,
    # children inherit that, and Python then leaves it ignored: Ctrl-C would never arrive.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _long_run(tmp_path, out, sig, *extra, lines=1):
    """Start a long digits run into ``out``; once it has printed ``lines`` epoch lines, send
    ``sig``; return (returncode, stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "funcnet", "train", "--dataset", "digits",
                          "--epochs", "100000", "--out", out, "--verbose", *extra], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=_default_sigint)
    timer = threading.Timer(60, p.kill)  # never leave a 100000-epoch run behind
    timer.start()
    try:
        for _ in range(lines):
            line = p.stdout.readline()  # "epoch 1/100000 ...": training is under way
            assert line.startswith("epoch"), line
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, err


def test_interrupt_removes_the_half_written_run(tmp_path):
    rc, err = _long_run(tmp_path, "x", signal.SIGINT)
    assert rc == 130, err
    assert "interrupted; nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_ends_a_run_like_ctrl_c(tmp_path):
    rc, err = _long_run(tmp_path, "x", signal.SIGTERM)
    assert rc == 130 and "interrupted; nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_keeps_the_previous_one_and_litter_of_dead_runs_goes_with_the_next(tmp_path):
    assert run("train", *TINY, "--out", "r", cwd=tmp_path).returncode == 0
    before = (tmp_path / "r" / "history.json").read_bytes()
    for extra in ((), ("--checkpoint-every", "1")):
        rc, _ = _long_run(tmp_path, "r", signal.SIGKILL, *extra)
        assert rc == -signal.SIGKILL
        if not extra:  # a run writes its folder only at the end: the previous run is untouched
            assert (tmp_path / "r" / "history.json").read_bytes() == before
    # What SIGKILL can leave: a temporary folder named after a process that is now dead.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    litter = tmp_path / f".r.{int(dead.stdout)}.abc.tmp"
    litter.mkdir()
    (litter / "config.json").write_text("{}")
    mine = tmp_path / f".r.{os.getpid()}.abc.tmp"  # a live process's: left alone
    mine.mkdir()
    assert run("train", *TINY, "--epochs", 2, "--out", "r", cwd=tmp_path).returncode == 0
    assert sorted(q.name for q in tmp_path.iterdir()) == [mine.name, "r"]
    assert _read(tmp_path / "r" / "history.json")["epoch"] == [1, 2]


def test_replacing_a_run_never_leaves_out_missing(tmp_path):
    # A writer replaces the run in `out` over and over while this process looks at `out`
    # as often as it can; then the writer is killed at whatever point it has reached.
    writer = subprocess.Popen([sys.executable, "-c", """
import sys
from pathlib import Path
from funcnet.cli.rundir import make_temporary, publish
out = Path(sys.argv[1])
for i in range(100000):
    tmp = make_temporary(out)
    (tmp / "config.json").write_text(str(i))
    publish(tmp, out)
""", str(tmp_path / "r")], env=_env())
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "r").exists():
            assert time.monotonic() < deadline
        looks, missing = 0, 0
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            looks += 1
            missing += not (tmp_path / "r" / "config.json").exists()
        writer.kill()
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert looks > 1000 and missing == 0
    assert int((tmp_path / "r" / "config.json").read_text()) > 10  # it did replace, many times


def test_two_runs_racing_on_one_out_both_finish_and_one_run_is_there(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "funcnet", "train", *map(str, TINY), "--seed", str(seed),
                               "--out", "r", "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env()) for seed in (1, 2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert sorted(q.name for q in tmp_path.iterdir()) == ["r"]
    assert _read(tmp_path / "r" / "config.json")["seed"] in (1, 2)
    assert {q.name for q in (tmp_path / "r").iterdir()} == RUN_FILES


# --- progress output ---


def test_verbose_prints_one_line_per_epoch_and_quiet_only_the_result(tmp_path):
    r = run("train", *TINY, "--verbose", "--out", "v", cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    history = _read(tmp_path / "v" / "history.json")
    assert f"loss {history['loss'][1]:.4f}" in lines[1] and f"val_acc {history['val_accuracy'][1]:.4f}" in lines[1]
    assert lines[3] == "plots: off (--no-plots)" and lines[4].startswith("moons: test accuracy")
    q = run("train", *TINY, "--quiet", "--out", "q", cwd=tmp_path)
    assert q.stdout.count("\n") == 1 and q.stderr == ""
    # Not a terminal and not verbose: no progress at all, just the two result lines.
    plain = run("train", *TINY, "--out", "p", cwd=tmp_path)
    assert plain.stdout.count("\n") == 2 and plain.stderr == ""


def test_progress_bar_on_a_terminal(tmp_path):
    pytest.importorskip("tqdm")
    rc, out, tty = run_tty("train", *TINY, "--out", "t", cwd=tmp_path)
    assert rc == 0
    assert "3/3" in tty and "epoch" in tty and "loss=" in tty  # the tqdm bar with live loss
    assert "epoch 1/3" not in out


def test_without_tqdm_a_terminal_gets_plain_epoch_lines(tmp_path):
    rc, out, tty = run_tty("train", *TINY, "--out", "t", cwd=tmp_path, block=["tqdm"])
    assert rc == 0
    assert [line.split()[1] for line in out.splitlines()[:3]] == ["1/3", "2/3", "3/3"]
    assert "loss=" not in tty


def test_without_matplotlib_the_run_says_plots_were_skipped(tmp_path):
    r = run("train", "--dataset", "moons", "--n-samples", 100, "--epochs", 1, "--out", "m",
            cwd=tmp_path, block=["matplotlib"])
    assert r.returncode == 0, r.stderr
    assert "plots: skipped, matplotlib is not installed (pip install 'funcnet[plot]')" in r.stdout
    assert {p.name for p in (tmp_path / "m").iterdir()} == RUN_FILES


# --- evaluate ---


def test_evaluate_reports_the_runs_test_accuracy(tmp_path):
    assert run("train", *TINY, "--batchnorm", "--out", "e", cwd=tmp_path).returncode == 0
    summary = _read(tmp_path / "e" / "summary.json")
    r = run("evaluate", "--params", "e/params.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # Naming another dataset drops the run's sample count (digits takes none) and checks shapes.
    other = run("evaluate", "--params", "e/params.npz", "--dataset", "digits", cwd=tmp_path)
    assert other.returncode == 2 and "digits has 64 inputs" in other.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "moons: net 2-8-2 relu"
    # The run's own splits: what it fit on, what it held out, and the test split.
    assert lines[1].startswith("train accuracy      ") and "(144 samples the run trained on)" in lines[1]
    assert lines[2].startswith("validation accuracy ") and "(16 samples of the training set" in lines[2]
    assert lines[3] == (f"test accuracy       {summary['test_accuracy']:.4f} (40 samples), "
                        f"test loss {summary['test_loss']:.4f}")
    # Without the config beside it, the dataset must be named; a mismatched one is refused.
    (tmp_path / "e" / "params.npz").rename(tmp_path / "p.npz")
    r = run("evaluate", "--params", "p.npz", cwd=tmp_path)
    assert r.returncode == 2 and "pass --dataset" in r.stderr
    r = run("evaluate", "--params", "p.npz", "--dataset", "digits", cwd=tmp_path)
    assert r.returncode == 2 and "the params are for a 2-8-2 net, but digits has 64 inputs" in r.stderr
    r = run("evaluate", "--params", "nothing.npz", cwd=tmp_path)
    assert r.returncode == 2 and "params: no such file: nothing.npz" in r.stderr
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    r = run("evaluate", "--params", "junk.npz", "--dataset", "moons", cwd=tmp_path)
    assert r.returncode == 2 and "junk.npz: not a readable funcnet params file" in r.stderr


# --- gradcheck ---


def test_gradcheck_prints_the_worst_error_per_layer(tmp_path):
    r = run("gradcheck", "--inputs", 4, "--hidden", 5, 3, "--outputs", 3, "--activation", "gelu",
            "--batchnorm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("gradcheck 4-5-3-3 gelu/softmax, batchnorm, 8 samples")
    assert lines[1].split() == ["layer", "shape", "W", "b", "gamma", "beta", "worst"]
    rows = [line.split() for line in lines[2:5]]
    assert [row[:2] for row in rows] == [["1", "4x5"], ["2", "5x3"], ["3", "3x3"]]
    worst = [float(row[-1]) for row in rows]
    assert max(worst) < 1e-6 and lines[5].endswith(": ok")
    # The same numbers as the library's own gradcheck_tree on the same random problem.
    assert rows[0][3] == "-" and rows[2][4:6] == ["-", "-"]
    strict = run("gradcheck", "--tol", 1e-30, cwd=tmp_path)
    assert strict.returncode == 1 and strict.stdout.rstrip().endswith("FAILED")
    bad = run("gradcheck", "--outputs", 1, cwd=tmp_path)
    assert bad.returncode == 2 and "a softmax output needs at least 2 units" in bad.stderr


# --- lr-find ---


def test_lr_find_suggests_a_rate_and_draws_the_curve(tmp_path):
    pytest.importorskip("matplotlib")
    args = ["lr-find", *TINY[:4], "--hidden", 8, "--steps", 40, "--start", 1e-4, "--stop", 10]
    r = run(*args, "--plot", "lr.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("lr-find moons: net 2-8-2 relu, sgd, batch 32,")
    table = [tuple(map(float, line.split())) for line in lines[2:-2]]
    assert table[0][0] == pytest.approx(1e-4) and all(a[0] < b[0] for a, b in zip(table, table[1:]))
    assert lines[-2] == "wrote lr.png" and _png_size(tmp_path / "lr.png") == (550, 350)
    suggestion = float(lines[-1].split(":")[1].split()[0])
    assert 1e-4 <= suggestion <= 10
    # The same seed gives the same curve and suggestion.
    again = run(*args, cwd=tmp_path)
    assert again.stdout.splitlines()[-1] == lines[-1] and again.stdout.splitlines()[2:-1] == lines[2:-2]
    bad = run("lr-find", "--start", 1, "--stop", 0.1, cwd=tmp_path)
    assert bad.returncode == 2 and "stop: expected a rate greater than start=1.0, got 0.1" in bad.stderr


# --- checkpoints and resume ---

RESUMABLE_RUN = ["--dataset", "digits", "--hidden", "32", "--optimizer", "adam", "--lr", "0.01",
                 "--dropout", "0.1", "--patience", "20", "--checkpoint-every", "1", "--no-plots"]
FINAL_FILES = ("params.npz", "history.json", "summary.json", "config.json", "checkpoint.npz")


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """The 12-epoch run, never interrupted, that the resumed runs must end as."""
    folder = tmp_path_factory.mktemp("whole")
    assert run("train", *RESUMABLE_RUN, "--epochs", 12, "--out", "whole", "--quiet", cwd=folder).returncode == 0
    return folder / "whole"


def test_resume_goes_on_to_more_epochs_as_one_run_would(tmp_path, whole_run):
    assert run("train", *RESUMABLE_RUN, "--epochs", 3, "--out", "part", "--quiet", cwd=tmp_path).returncode == 0
    r = run("train", "--resume", "part", "--epochs", 12, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in FINAL_FILES:
        assert (tmp_path / "part" / name).read_bytes() == (whole_run / name).read_bytes(), name
    bad = run("train", "--resume", "part", "--epochs", 2, cwd=tmp_path)
    assert bad.returncode == 2 and "epochs: expected at least the 12 epochs the run has done, got 2" in bad.stderr
    bad = run("train", "--resume", "part", "--lr", "0.5", cwd=tmp_path)
    assert bad.returncode == 2 and "only --epochs may be given, got ['lr']" in bad.stderr


@pytest.mark.parametrize("kill_after", [2, 5])
def test_a_run_killed_at_any_moment_and_resumed_ends_as_the_uninterrupted_run(tmp_path, whole_run, kill_after):
    # Killed with SIGKILL after `kill_after` epoch lines (it may have gone on a little since),
    # then resumed: the same params, history, summary and checkpoint bytes as a run never killed.
    p = subprocess.Popen([sys.executable, "-m", "funcnet", "train", *RESUMABLE_RUN, "--epochs", "12",
                          "--out", "killed", "--verbose"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
    try:
        for _ in range(kill_after):
            assert p.stdout.readline().startswith("epoch")
        p.kill()
        p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert (tmp_path / "killed" / "checkpoint.npz").is_file()
    r = run("train", "--resume", "killed", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in FINAL_FILES:
        assert (tmp_path / "killed" / name).read_bytes() == (whole_run / name).read_bytes(), name
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]


def test_an_interrupted_run_with_checkpoints_says_how_to_go_on(tmp_path):
    # The checkpoint of epoch 1 is published before epoch 2 starts.
    rc, err = _long_run(tmp_path, "x", signal.SIGINT, "--checkpoint-every", "1", lines=2)
    assert rc == 130
    assert "interrupted; x holds the checkpoint after epoch" in err and "funcnet train --resume x" in err
    assert (tmp_path / "x" / "checkpoint.npz").is_file() and (tmp_path / "x" / "config.json").is_file()


# --- training features: each flag reaches fit as a user of the library would pass it ---


def test_training_flags_give_the_params_of_the_equivalent_library_call(tmp_path, monkeypatch):
    # In-process: the flags are parsed, the data split, the schedule counted in epochs; the
    # same fit written by hand with the library must give the same params, bit for bit.
    monkeypatch.chdir(tmp_path)
    flags = ["--dataset", "digits", "--hidden", 16, "--epochs", 3, "--batch-size", 64, "--lr", 0.003,
             "--optimizer", "adamw", "--weight-decay", 0.05, "--schedule", "cosine", "--warmup-epochs", 1,
             "--label-smoothing", 0.1, "--shift", 1, "--flip", "--seed", 4, "--no-plots", "--quiet"]
    assert cli.main(["train", *map(str, flags), "--out", "r"]) == 0
    config = _read(tmp_path / "r" / "config.json")
    assert (config["schedule"], config["warmup_epochs"], config["weight_decay"]) == ("cosine", 1, 0.05)
    assert (config["label_smoothing"], config["shift"], config["flip"]) == (0.1, 1, True)
    assert config["threads"] == "auto"

    data, keys = cli.load_data(cli.resolve_config({}, config)), run_keys(4)
    per_epoch = fn.steps_per_epoch(len(data.X), 64)
    assert (len(data.X), per_epoch) == (1366, 22)  # digits less its test and validation splits
    lr = fn.schedules.linear_warmup(fn.schedules.cosine(0.003, 2 * per_epoch), per_epoch)
    net = fn.Net((64, 16, 10), activation="relu")
    expected = fn.fit(net, fn.init(keys["init"], net), data.X, data.y, key=keys["fit"],
                      optimizer=fn.optim.adamw(lr, weight_decay=0.05), epochs=3, batch_size=64,
                      validation=data.validation, label_smoothing=0.1,
                      augment=fn.augment.chain(fn.augment.shifts((8, 8), 1), fn.augment.flips((8, 8))))
    _, params, _ = fio.load(tmp_path / "r" / "params.npz")
    fn.testing.assert_trees_close(params, expected.params, rtol=0)

    # Any one feature left out changes the result: the flags are not ignored.
    for drop in (["--flip"], ["--label-smoothing", "0.1"], ["--weight-decay", "0.05"]):
        rest = [str(f) for f in flags]
        i = rest.index(drop[0])
        del rest[i:i + len(drop)]
        assert cli.main(["train", *rest, "--out", "o"]) == 0
        _, other, _ = fio.load(tmp_path / "o" / "params.npz")
        assert not np.array_equal(other[0]["W"], params[0]["W"]), drop


def test_early_stopping_watches_validation_accuracy_with_min_delta_and_keeps_the_best(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--dataset", "moons", "--n-samples", "400", "--hidden", "8", "--epochs", "20",
            "--no-plots", "--quiet", "--monitor", "val_accuracy", "--patience", "2"]
    # No gain of 0.5 in accuracy is possible after the first epoch: stop after two more, keep epoch 1.
    assert cli.main([*base, "--min-delta", "0.5", "--out", "a"]) == 0
    history, summary = _read(tmp_path / "a" / "history.json"), _read(tmp_path / "a" / "summary.json")
    assert history["epoch"] == [1, 2, 3] and summary["best_epoch"] == 1
    config = _read(tmp_path / "a" / "config.json")
    data = cli.load_data(cli.resolve_config({}, config))
    net, params, _ = fio.load(tmp_path / "a" / "params.npz")
    # The params kept are epoch 1's: their validation accuracy is the one recorded for epoch 1.
    assert fn.accuracy(net, params, *data.validation) == history["val_accuracy"][0]
    assert cli.main([*base, "--out", "b"]) == 0
    history = _read(tmp_path / "b" / "history.json")
    best = _read(tmp_path / "b" / "summary.json")["best_epoch"]
    assert history["val_accuracy"][best - 1] == max(history["val_accuracy"])
    assert len(history["epoch"]) < 20 and len(history["epoch"]) - best == 2


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "sgd", "--weight-decay", "0.1"], "weight_decay: only adamw takes a weight decay"),
    (["--shift", "2"], "shift: augmentation moves images; moons holds points, not images"),
    (["--warmup-epochs", "9"], "warmup_epochs: expected an integer in [0, 3], got 9"),
    (["--label-smoothing", "1"], "label_smoothing: expected a finite number in [0, 1)"),
    (["--monitor", "train_loss"], "argument --monitor: invalid choice: 'train_loss'"),
    (["--schedule", "step"], "argument --schedule: invalid choice: 'step'"),
    (["--min-delta", "-0.1"], "min_delta: expected a finite number >= 0"),
    (["--threads", "0"], "argument --threads: expected 'auto' or a positive integer, got '0'"),
    (["--threads", "many"], "argument --threads: expected 'auto' or a positive integer, got 'many'"),
])
def test_bad_training_flags_exit_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli.main(["train", *map(str, TINY), *args, "--out", "x"])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
