"""The three residual-learning studies of experiments/ at smoke size (their full runs: the scripts)."""

from __future__ import annotations

import json
import math
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _study(name: str) -> dict:
    return runpy.run_path(str(ROOT / "experiments" / name / "run.py"), run_name="study")


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


@pytest.mark.parametrize("name, figure", [("analog_sgd_vs_range", "analog_sgd_vs_range.png"),
                                          ("tiki_taka_symmetry_shift", "tiki_taka_symmetry_shift.png"),
                                          ("reference_offset", "reference_offset.png")])
def test_study_smoke(tmp_path, name, figure):
    study = _study(name)
    docs_figure = ROOT / "docs" / "figures" / figure
    before = docs_figure.stat().st_mtime_ns if docs_figure.exists() else None
    assert study["main"](["--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["smoke"] is True
    assert (tmp_path / figure).stat().st_size > 10_000
    after = docs_figure.stat().st_mtime_ns if docs_figure.exists() else None
    assert before == after  # a smoke run never replaces the published figure
    if name == "analog_sgd_vs_range":
        rows = result["rows"]
        assert len(rows) == 2 and all(_finite([r[m] for m in study["METHODS"]]) for r in rows)
        assert all(r["digital_sgd"] >= -1e-12 for r in rows)  # L(w) >= L(w_OLS) for every weight vector
    elif name == "tiki_taka_symmetry_shift":
        assert len(result["rows"]) == 2 * len(study["CURVES"])
        assert _finite([r["error"] for r in result["rows"]])
        assert result["symmetry_points"]["0"] == pytest.approx(0.0, abs=1e-9)
        assert result["symmetry_points"]["0.3"] > 0.1  # the fast device's symmetry point has moved
    else:
        assert set(result["final_error"]) == {f"{k}_{o}" for k in study["KINDS"] for o in ("offset", "symmetry")}
        assert _finite(result["final_error"].values())
        assert all(c["transfer_writes"] > 0 for c in result["curves"])
