"""Regenerate funcnet/data/digits.npz from scikit-learn's copy of the UCI 8x8 digits.

The file ships inside the package so that ``pip install .`` (without scikit-learn) can train
on the digits. Pixels are 0..16 and labels 0..9, both stored as uint8.

Run: python scripts/make_digits_npz.py   (needs scikit-learn)
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

d = load_digits()
out = Path(__file__).resolve().parents[1] / "funcnet" / "data" / "digits.npz"
np.savez_compressed(out, images=d.data.astype(np.uint8), labels=d.target.astype(np.uint8))
print(f"wrote {out} ({out.stat().st_size} bytes, {len(d.target)} samples)")
