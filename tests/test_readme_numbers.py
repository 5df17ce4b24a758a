"""Every measured number README.md quotes equals ``docs/readme_numbers.json`` at the README's precision.

``docs/make_figures.py`` regenerates the JSON (and every figure) from real runs. :data:`CLAIMS` maps
each README sentence that quotes a measured number to the JSON key it comes from; a number is
compared at the precision the README writes it with:

* ``0.7338`` (decimals): the JSON value formatted with as many decimals must read the same;
* ``300`` (an integer with trailing zeros): rounded to that power of ten; ``7``: to the integer;
* ``under 2 %`` (a bound): the smallest integer above the value, so a looser bound fails too;
* ``sevenfold``: the rounded value; "does not regularise at all": exactly zero.

A sentence that is not found, or found twice, fails. The smoke-size run of the script is the last test.
"""

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NUMBERS = ROOT / "docs" / "readme_numbers.json"
SCRIPT = ROOT / "docs" / "make_figures.py"

_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
          "eleven": 11, "twelve": 12}

#: (regular expression with one group per number, the JSON key of each group, how each is compared:
#: "round", "neg" (the README says "lowers by" a negative change), "under" (a bound), "word" (sevenfold),
#: "zero" (a claim of no effect)).
CLAIMS = [
    (r"`lambda_fit = ([\d.]+)`", ["readme_example.lambda_fit"], ["round"]),
    (r"`lambda_pred = ([\d.]+)`", ["readme_example.lambda_pred"], ["round"]),
    (r"`lambda_plugin = ([\d.]+)`", ["readme_example.lambda_plugin"], ["round"]),
    (r"`ridge_path_distance = ([\d.]+)`", ["readme_example.ridge_path_distance"], ["round"]),
    (r"`tikhonov_pred_distance = ([\d.]+)`", ["readme_example.tikhonov_pred_distance"], ["round"]),
    (r"open circles, within (\d+)–(\d+) %", ["demo.lambda_pred_vs_fit_pct_min", "demo.lambda_pred_vs_fit_pct_max"],
     ["round", "round"]),
    (r"noise up to `dw_min_std = (\d+)` moves λ_fit by at most ([\d.]+) %", ["demo.noise_max_dw_min_std",
                                                                            "demo.noise_lambda_fit_change_pct_max"],
     ["round", "round"]),
    (r"jitter grows (\w+)fold", ["demo.noise_jitter_growth"], ["word"]),
    (r"constant-step device \(no state dependence\) (does not regularise at all)", ["demo.control_lambda_fit"],
     ["zero"]),
    (r"lowers the test loss by\s+([\d.]+) % \(from ([\d.]+), seed (\d+)\)",
     ["attribution.asymmetry_test_loss_change_pct", "attribution.baseline_test_loss", "attribution.seed"],
     ["neg", "round", "round"]),
    (r"gains ([\d.]+) accuracy\s+points", ["attribution.asymmetry_accuracy_change_points"], ["round"]),
    (r"each move\s+accuracy by ([\d.]+) points or less", ["attribution.other_sources_accuracy_change_points_max"],
     ["round"]),
    (r"over seeds 0–2 it lowers the test loss by ([\d.]+) ± ([\d.]+) %",
     ["attribution.asymmetry_test_loss_change_pct_mean_over_seeds",
      "attribution.asymmetry_test_loss_change_pct_sd_over_seeds"], ["neg", "round"]),
    (r"Spearman ρ = ([\d.]+), (\d+) seeds", ["neurosim.spearman_rho", "neurosim.seeds"], ["round", "round"]),
    (r"the one clear outlier \((\d)th here", ["neurosim.alox_rank_here"], ["round"]),
    (r"is (\d+)–(\d+) times that of", ["neurosim.penalty_ratio_to_fefet_min", "neurosim.penalty_ratio_to_fefet_max"],
     ["round", "round"]),
]


def agrees(text: str, value: float, how: str) -> bool:
    """Whether the README's ``text`` is ``value`` written at the README's precision (module docstring)."""
    if value is None or not math.isfinite(value):
        return False
    if how == "zero":  # a claim of no effect at all: exactly zero
        return value == 0.0
    if how == "word":
        return text.lower() in _WORDS and round(value) == _WORDS[text.lower()]
    if how == "neg":
        value = -value
    if how == "under":
        return value < float(text) and math.floor(value) + 1 == int(text)
    if "." in text:
        return f"{value:.{len(text.split('.')[1])}f}" == text
    zeros = len(text) - len(text.rstrip("0")) if text != "0" else 0
    zeros = min(zeros, len(text) - 1)
    return int(round(value, -zeros)) == int(text)


def readme_mismatches(readme: str, numbers: dict) -> list[str]:
    """Every claim of :data:`CLAIMS` that is missing, ambiguous or disagrees with ``numbers``."""
    problems = []
    flat = " ".join(readme.split())  # sentences wrap across lines
    for pattern, keys, hows in CLAIMS:
        found = re.findall(pattern.replace(r"\s+", " "), flat)
        if len(found) != 1:
            problems.append(f"{pattern!r}: found {len(found)} times in README.md (expected once)")
            continue
        groups = found[0] if isinstance(found[0], tuple) else (found[0],)
        for text, key, how in zip(groups, keys, hows):
            if key not in numbers:
                problems.append(f"{key}: not in readme_numbers.json")
            elif not agrees(text, numbers[key], how):
                problems.append(f"{key}: README says {text!r} ({how}), readme_numbers.json has {numbers[key]!r}")
    return problems


@pytest.fixture(scope="module")
def numbers():
    doc = json.loads(NUMBERS.read_text())
    assert doc["smoke"] is False, "docs/readme_numbers.json must come from a full run of docs/make_figures.py"
    return doc["numbers"]


def test_every_quoted_number_matches_the_regenerated_json(numbers):
    problems = readme_mismatches(README.read_text(), numbers)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("old, new, key", [("`lambda_fit = ", "`lambda_fit = 1", "readme_example.lambda_fit"),
                                           ("open circles, within ", "open circles, within 1",
                                            "demo.lambda_pred_vs_fit_pct_min"),
                                           ("lowers the test loss by\n22.5", "lowers the test loss by\n22.6",
                                            "attribution.asymmetry_test_loss_change_pct"),
                                           ("Spearman ρ = ", "Spearman ρ = 9", "neurosim.spearman_rho")])
def test_a_changed_readme_number_fails(numbers, old, new, key):
    text = README.read_text()
    assert old in text
    before = readme_mismatches(text, numbers)
    after = readme_mismatches(text.replace(old, new, 1), numbers)
    assert not any(p.startswith(key + ":") for p in before)
    assert any(p.startswith(key + ":") for p in after), after


def test_precision_rules():
    assert agrees("0.7338", 0.73384, "round") and not agrees("0.7338", 0.73374, "round")
    assert agrees("0.073", 0.07304, "round") and not agrees("0.073", 0.0736, "round")
    assert agrees("300", 349.0, "round") and not agrees("300", 351.0, "round") and agrees("4", 4.4, "round")
    assert agrees("2", 1.4, "under") and not agrees("3", 1.4, "under") and not agrees("2", 2.0, "under")
    assert agrees("seven", 6.8, "word") and not agrees("seven", 7.6, "word")
    assert agrees("22.5", -22.46, "neg") and not agrees("22.5", 22.46, "neg")
    assert not agrees("1", math.nan, "round")
    assert agrees("does not regularise at all", 0.0, "zero") and not agrees("does not", 1e-9, "zero")


def test_smoke_run_of_the_figures_script(tmp_path):
    """``docs/make_figures.py --smoke`` into a temporary folder: every figure, the gallery, the numbers."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("memsim_make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["memsim_make_figures"] = module
    spec.loader.exec_module(module)
    doc = module.make(tmp_path, smoke=True, skip=("neurosim",), quiet=True)  # the experiment has its own smoke test
    from memsim.plotting.checks import file_format

    stems = [stem for _, items in module.GALLERY for stem, _ in items if stem not in module.EXTERNAL]
    gallery = (tmp_path / "gallery.md").read_text()
    for stem in stems:
        path = tmp_path / "figures" / f"{stem}.png"
        assert file_format(path) == "png", stem
        assert f"![{stem}](figures/{stem}.png)" in gallery
    assert doc["smoke"] is True and json.loads((tmp_path / "readme_numbers.json").read_text()) == json.loads(
        json.dumps(doc))
    needed = {k for _, keys, _ in CLAIMS for k in keys if not k.startswith("neurosim.")}
    assert needed <= set(doc["numbers"]), sorted(needed - set(doc["numbers"]))
    assert all(v is None or math.isfinite(v) for v in doc["numbers"].values())
