"""The seeded experiment scripts run, reach their targets and print the same output every run."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run(name: str, *args) -> str:
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_xor_prints_the_truth_table_and_the_same_output_twice():
    out = run("xor.py")
    assert "predictions: [0 1 1 0]" in out
    assert out == run("xor.py")


def test_xor_clusters_separates_the_corners():
    out = run("xor_clusters.py")
    probs = [float(line.rsplit("=", 1)[1]) for line in out.splitlines() if line.startswith("P(class 1")]
    assert len(probs) == 4
    assert max(probs[:2]) < 0.1 and min(probs[2:]) > 0.9  # (+1,+1),(-1,-1) are class 0


@pytest.mark.parametrize("name, marker, target", [
    ("moons.py", "test accuracy:", 0.95),
    ("digits.py", "test accuracy:", 0.96),
    ("spirals.py", "adam 0.01: train accuracy", 0.97),
])
def test_scripts_reach_their_targets(name, marker, target):
    out = run(name)
    line = next(line for line in out.splitlines() if marker in line)
    assert float(line.split()[-1]) >= target


def test_lr_find_suggestion_trains_digits():
    out = run("lr_find.py")
    line = next(line for line in out.splitlines() if line.startswith("trained 30 epochs"))
    assert float(line.split()[-1]) >= 0.96


def test_dropout_narrows_the_overfitting_gap():
    out = run("dropout.py")
    rows = {float(r.split()[0]): float(r.split()[3]) for r in out.splitlines() if r.strip()[:3] in ("0.0", "0.5")}
    assert rows[0.5] < rows[0.0]


def test_depth_shows_vanishing_gradients_with_sigmoid():
    out = run("depth.py")
    ratio = {line.split(":")[0]: float(line.split("=")[1]) for line in out.splitlines() if "first-layer / last-layer" in line}
    assert ratio["sigmoid"] < 1e-3 < 0.1 < ratio["relu"]


def test_optimizers_table_lists_all_five_on_both_problems():
    out = run("optimizers.py")
    for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam"):
        assert sum(line.split()[0] == name for line in out.splitlines() if line.strip()) == 2
    adam_rows = [line.split() for line in out.splitlines() if line.strip().startswith("adam")]
    assert all(float(r[-1]) >= 0.97 for r in adam_rows)


@pytest.mark.parametrize("script, dataset", [("mnist.py", "mnist"), ("fashion_mnist.py", "fashion-mnist")])
def test_image_recipes_print_what_their_funcnet_train_command_reaches(tmp_path, fake_mnist, script, dataset):
    # On small generated IDX files: the script's figures are those of the command it prints.
    out = run(script, "--data-dir", fake_mnist, "--epochs", 3)
    assert out == run(script, "--data-dir", fake_mnist, "--epochs", 3)
    command = next(line for line in out.splitlines() if line.startswith("same run: funcnet train "))
    args = shlex.split(command.removeprefix("same run: funcnet train "))
    proc = subprocess.run([sys.executable, "-m", "funcnet", "train", *args, "--no-plots", "--quiet",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["dataset"], summary["epochs_run"], summary["train_samples"]) == (dataset, 3, 270)
    line = (f"{dataset}: test accuracy {summary['test_accuracy']:.4f} ({summary['test_samples']} samples), "
            f"test loss {summary['test_loss']:.4f}")
    assert line in out.splitlines()
    assert summary["test_accuracy"] >= 0.3  # ten classes: well above chance after nine steps


def test_image_recipes_skip_cleanly_without_the_data(tmp_path):
    for script in ("mnist.py", "fashion_mnist.py"):
        out = run(script, "--data-dir", tmp_path / "absent")
        assert out.startswith("skipped: ") and "train-images-idx3-ubyte.gz is missing" in out


@pytest.mark.parametrize("flag, value", [("--epochs", 0), ("--seed", -1)])
def test_image_recipes_refuse_bad_flags_as_usage_errors(flag, value):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "mnist.py"), flag, str(value)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{flag}: expected an integer >= " in proc.stderr and f"got {value}" in proc.stderr


def test_dask_scripts_skip_cleanly_without_dask(tmp_path):
    # A dask package that cannot be imported stands in for one that is not installed. The
    # scripts' real runs take 10 to 30 s (a cluster of processes starting): README shows them.
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "__init__.py").write_text("raise ImportError('dask hidden by the test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    for script in ("dask_grid.py", "dask_fit.py"):
        proc = subprocess.run([sys.executable, str(SCRIPTS / script)], capture_output=True, text=True, env=env,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout == "skipped: dask is not installed (dask hidden by the test); pip install 'funcnet[dask]'\n"
