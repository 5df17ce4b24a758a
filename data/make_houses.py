"""Regenerate ``data/houses.csv``: a small synthetic regression data set for the "your own data" examples.

    python data/make_houses.py            # rewrites data/houses.csv (byte-identical for this seed)

120 rows, columns ``rooms`` (integer 1-6), ``area`` (square metres), ``age`` (years) and the target
``price`` (thousands): a linear function of the three features plus Gaussian noise, seed 2024.
SYNTHETIC: no real houses.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "houses.csv"
SEED = 2024
ROWS = 120


def houses_csv(seed: int = SEED, rows: int = ROWS) -> str:
    """The CSV text of the data set (header row, then one house per line)."""
    rng = np.random.default_rng(seed)
    rooms = rng.integers(1, 7, rows)
    area = np.round(25.0 * rooms + rng.normal(0.0, 12.0, rows) + 20.0, 1)
    age = rng.integers(0, 80, rows)
    price = np.round(40.0 + 1.8 * area + 12.0 * rooms - 0.9 * age + rng.normal(0.0, 20.0, rows), 1)
    lines = ["rooms,area,age,price"] + [f"{r},{a:.1f},{g},{p:.1f}" for r, a, g, p in zip(rooms, area, age, price)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write ``houses.csv`` next to this script, atomically."""
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text(houses_csv(), encoding="utf-8")
    os.replace(tmp, OUT)


if __name__ == "__main__":
    main()
