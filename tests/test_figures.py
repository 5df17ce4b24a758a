"""Every figure kind memsim writes, at smoke size: format, overlapping text, legends over data, print size.

Each figure is inspected when it is saved (:func:`memsim.plotting.style.on_save`): the file's first
bytes must show the format its suffix names; no two texts (tick labels included) may overlap in the
renderer's extents; no legend may cover a data point (line vertices and the line between them,
markers, error bars, bars); every text must print at 7 pt or more when the figure is 3.5 in wide, and
stay inside the canvas. The overlap, legend and canvas checks are tested on figures built to fail
(negative controls).
"""

import math
from pathlib import Path

import numpy as np
import pytest

from memsim.cli import main
from memsim.errors import ConfigError
from memsim.plotting.checks import (file_format, layout_problems, legend_covered_points, small_fonts,
                                    text_overlaps, texts_outside)
from memsim.plotting.style import on_save, pyplot, save_figure, styled, subplots
from memsim.workflows.report import write_report

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:xarray")

LINEAR = """\
seed = 1
backend = "numba"
[task]
kind = "linear_regression"
n_train = 40
n_test = 60
n_features = 5
[device]
kind = "soft_bounds"
dw_min = 0.01
dw_min_std = 0.3
[train]
lr = 0.01
epochs = 6
"""

NETWORK = """\
seed = 3
backend = "numba"
[task]
kind = "teacher_classification"
n_train = 60
n_test = 40
n_features = 4
n_classes = 3
[device]
kind = "soft_bounds"
dw_min = 0.002
w_max = 1.0
[model]
kind = "mlp"
hidden = [5]
[train]
lr = 0.05
epochs = 4
batch_size = 5
"""

SWEEP = LINEAR + """\
[sweep]
seeds = 2
[sweep.grid]
"device.dw_min_std" = [0.0, 1.0]
[sweep.zip.range]
"device.w_max" = [0.5, 1.0, 2.0]
"device.w_min" = [-0.5, -1.0, -2.0]
"""

#: Every figure kind memsim writes (file name -> the command that writes it).
KINDS = {"run/curves", "run/weights", "run/ridge", "network/curves", "network/lambda",
         "demo/hardware_vs_ridge", "demo/lambda_fit_vs_pred", "demo/noise",
         "report/lambda_fit_vs_lambda_pred", "report/test_loss_vs_range", "report/test_loss_vs_device_dw_min_std",
         "report/hardware_vs_ridge", "attribute/attribution", "devices/device"}


def _sweep_dataset(text: str):
    """The results of a sweep run point by point in this process (no worker pool): the report's input."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from memsim.workflows.results import build_dataset
    from memsim.workflows.sweeps import parse_sweep, run_point

    sweep = parse_sweep(tomllib.loads(text))
    return build_dataset(sweep.manifest(), [run_point(p.config.to_dict()) for p in sweep.points])


class Inspector:
    """Records the layout problems of every saved figure."""

    def __init__(self):
        self.seen: dict[str, list[str]] = {}
        self.command = ""

    def __call__(self, fig, path: Path) -> None:
        kind = f"{self.command}/{path.stem}"
        problems = layout_problems(fig)
        fmt = file_format(path)
        if fmt != path.suffix.lstrip("."):
            problems.append(f"the file holds {fmt} bytes, its suffix says {path.suffix}")
        self.seen[kind] = problems


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Write every figure kind once (smoke sizes), in PNG, PDF or SVG; return the inspector."""
    tmp = tmp_path_factory.mktemp("figures")
    seen = Inspector()
    (tmp / "linear.toml").write_text(LINEAR)
    (tmp / "network.toml").write_text(NETWORK)
    (tmp / "sweep.toml").write_text(SWEEP)
    attribution = LINEAR.replace('dw_min_std = 0.3', 'dw_min_std = 0.3\nup_down = 0.2') + \
        "[periphery]\noutput_noise = 0.05\n"
    (tmp / "attr.toml").write_text(attribution)
    with on_save(seen):
        seen.command = "run"
        assert main(["run", str(tmp / "linear.toml"), "--out", str(tmp / "run"), "--quiet"]) == 0
        seen.command = "network"
        assert main(["run", str(tmp / "network.toml"), "--out", str(tmp / "network"), "--quiet",
                     "--format", "pdf"]) == 0
        seen.command = "demo"
        assert main(["demo", "--smoke", "--out", str(tmp / "demo"), "--format", "svg"]) == 0
        seen.command = "report"
        write_report(_sweep_dataset(SWEEP), tmp / "report")
        seen.command = "attribute"
        assert main(["attribute", str(tmp / "attr.toml"), "--out", str(tmp / "attribute"), "--quiet",
                     "--format", "pdf"]) == 0
        seen.command = "devices"
        assert main(["devices", "plot", "ag_a_si", "--out", str(tmp / "devices" / "device.svg"),
                     "--cycles", "1"]) == 0
    return seen, tmp


def test_every_figure_kind_is_written(figures):
    seen, _ = figures
    assert sorted(seen.seen) == sorted(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_figure_layout_and_format(figures, kind):
    seen, _ = figures
    assert seen.seen[kind] == [], "\n".join(seen.seen[kind])


def test_format_follows_the_suffix(figures):
    _, tmp = figures
    assert file_format(tmp / "run" / "curves.png") == "png"
    assert file_format(tmp / "network" / "curves.pdf") == "pdf"
    assert file_format(tmp / "demo" / "noise.svg") == "svg"
    assert file_format(tmp / "attribute" / "attribution.pdf") == "pdf"
    assert not (tmp / "network" / "curves.png").exists()


def test_png_is_written_at_300_dpi(figures):
    _, tmp = figures
    pytest.importorskip("PIL")
    from PIL import Image

    with Image.open(tmp / "run" / "curves.png") as im:
        dpi = im.info.get("dpi")
        assert dpi is not None and round(dpi[0]) == 300
        assert im.size[0] >= 3.0 * 300  # a 3.5 in wide figure (tight bounding box) at 300 dpi


def test_network_lambda_figure_says_how_many_zero_penalties_were_left_out(tmp_path):
    from memsim.plotting.figures import network_figures

    summary = {"curves": {k: [1.0, 0.5] for k in ("epoch", "train_loss", "test_loss", "test_loss_digital",
                                                   "train_accuracy", "test_accuracy", "test_accuracy_digital")},
               "loss": "softmax", "provenance": {"config": {"model": {"bias": False},
                                                            "train": {"average_from": 0.5}}}}
    summary["curves"]["epoch"] = [1, 2]
    lam = [np.array([[0.0, 0.1, 0.2], [0.3, 0.0, 0.05]]), np.array([[0.01, 0.02]])]
    seen = {}

    def grab(fig, path):
        seen[path.stem] = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]

    with on_save(grab):
        network_figures(summary, {"lambda_plugin": lam}, tmp_path)
    texts = " ".join(seen["lambda"])
    assert "layer 0: 4 weights (2 with λ_i = 0 not shown)" in texts and "number of weights" in texts
    assert "layer 1: 2 weights" in texts and "layer 1: 2 weights (" not in texts


# --- bad formats: a clear error before any compute ---------------------------------------------------

def test_unknown_suffix_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import memsim.workflows.devices as devices

    monkeypatch.setattr(devices, "_trace", lambda *a, **k: pytest.fail("computed before the check"))
    assert main(["devices", "plot", "ag_a_si", "--out", str(tmp_path / "ag.jpg")]) == 2
    err = capsys.readouterr().err
    assert "'out'" in err and ".png, .pdf, .svg" in err and "ag.jpg" in err
    assert not any(tmp_path.iterdir())


def test_unknown_format_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--smoke", "--out", str(tmp_path / "d"), "--format", "jpg"])
    assert exc.value.code == 2 and "invalid choice: 'jpg'" in capsys.readouterr().err
    from memsim.workflows.config import resolve_config
    from memsim.workflows.run import run

    with pytest.raises(ConfigError, match=r"'figure_format' parameter of run must be one of 'png', 'pdf', 'svg'"):
        run(resolve_config({"backend": "numpy"}), tmp_path / "r", figure_format="tiff")
    assert not (tmp_path / "r").exists()


def test_save_figure_refuses_an_unknown_suffix_and_writes_nothing(tmp_path):
    plt = pyplot()
    fig = plt.figure()
    with pytest.raises(ConfigError, match=r"'path' parameter of figure must be a file name ending in"):
        save_figure(fig, tmp_path / "x.eps")
    assert not any(tmp_path.iterdir())


# --- the checks themselves: negative controls ----------------------------------------------------

@styled
def _figure(builder):
    fig, ax = subplots(width=3.5, height=2.6)
    builder(fig, ax)
    return fig


def test_overlap_check_flags_overlapping_texts_and_tick_labels():
    fig = _figure(lambda fig, ax: (ax.text(0.5, 0.5, "first label"), ax.text(0.52, 0.5, "second label")))
    assert ("first label", "second label") in text_overlaps(fig)
    crowded = _figure(lambda fig, ax: (ax.plot([0, 1], [0, 1]),
                                       ax.set_xticks(np.linspace(0, 1, 40), [f"{v:.3f}" for v in
                                                                             np.linspace(0, 1, 40)])))
    assert len(text_overlaps(crowded)) > 10
    clean = _figure(lambda fig, ax: (ax.plot([0, 1], [0, 1]), ax.set(xlabel="x", ylabel="y")))
    assert text_overlaps(clean) == []
    # rotated labels: judged by their rotated boxes, not by the axis-aligned extents
    names = ["EpiRAM Ag:SiGe", "TaOx/HfOx", "Ag:a-Si", "PCMO"]
    spaced = _figure(lambda fig, ax: ax.set_xticks(range(4), names, rotation=35, ha="right"))
    assert text_overlaps(spaced) == []
    dense = _figure(lambda fig, ax: ax.set_xticks(np.arange(4) * 0.02, names, rotation=35, ha="right"))
    assert len(text_overlaps(dense)) >= 3
    arrow = _figure(lambda fig, ax: (ax.annotate("label", (0.9, 0.9), xytext=(0.1, 0.1), arrowprops={}),
                                     ax.text(0.5, 0.5, "on the arrow's path")))
    assert text_overlaps(arrow) == []  # an annotation's box is its text, not its arrow
    pyplot().close("all")


def test_outside_check_flags_text_beyond_the_canvas():
    long = "a legend entry that is far too long to fit"
    wide = _figure(lambda fig, ax: fig.legend([ax.plot([0, 1])[0]] * 2, [long] * 2, loc="outside upper center",
                                              ncol=2))
    assert texts_outside(wide) == [long] * 2
    fits = _figure(lambda fig, ax: fig.legend([ax.plot([0, 1])[0]], ["short"], loc="outside upper center"))
    assert texts_outside(fits) == []
    pyplot().close("all")


def test_legend_check_flags_a_legend_over_data():
    def over(fig, ax):
        x = np.linspace(0, 1, 50)
        ax.plot(x, np.full_like(x, 0.97), label="top line")
        ax.plot(x, x, label="diagonal")
        ax.scatter([0.05], [0.9], label="corner point")
        ax.set_ylim(0, 1.0)
        ax.legend(loc="upper left")

    covered = legend_covered_points(_figure(over))
    assert {what for _, what, _ in covered} == {"top line", "corner point"}

    def outside(fig, ax):
        ax.plot([0, 1], [0.9, 0.9], label="top line")
        fig.legend(loc="outside upper center")

    assert legend_covered_points(_figure(outside)) == []

    def bars(fig, ax):
        ax.barh([0, 1, 2], [1.0, 0.5, 0.2], label="bars")
        ax.legend(loc="lower right")

    assert legend_covered_points(_figure(bars))  # the legend sits on the longest bar
    pyplot().close("all")


def test_font_check_scales_with_the_figure_width():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    ax.set_xlabel("ten point label", fontsize=10)
    small = dict(small_fonts(fig))
    assert small["ten point label"] == pytest.approx(5.0)  # 10 pt on a 7 in figure prints at 5 pt
    fig.set_size_inches(3.5, 3.0)
    assert "ten point label" not in dict(small_fonts(fig))
    plt.close("all")


@styled
def _wide():
    fig, ax = subplots(width=7.0, height=3.0)
    ax.set(xlabel="x label", title="a title")
    ax.plot([0, 1], [0, 1])
    return fig, ax


def test_wide_figures_get_scaled_text():
    fig, ax = _wide()
    assert small_fonts(fig) == []
    assert math.isclose(ax.xaxis.label.get_fontsize(), 16.0)
    pyplot().close(fig)


def test_style_is_restored_after_a_figure():
    plt = pyplot()
    before = plt.rcParams["font.size"], plt.rcParams["axes.prop_cycle"]
    _wide()
    assert (plt.rcParams["font.size"], plt.rcParams["axes.prop_cycle"]) == before
    plt.close("all")
    with pytest.raises(RuntimeError, match="inside a @styled"):
        subplots()


def test_style_sheet_ships_with_the_package():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from memsim.plotting.style import STYLE_PATH

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["memsim"]
    assert STYLE_PATH.is_file() and STYLE_PATH.relative_to(root / "memsim").as_posix() == "plotting/memsim.mplstyle"
    assert "plotting/*.mplstyle" in data
    text = STYLE_PATH.read_text()
    for colour in ("0072B2", "D55E00", "009E73", "E69F00", "CC79A7", "56B4E9", "F0E442"):  # Okabe-Ito
        assert colour in text


@pytest.mark.parametrize("name", ["alox_hfo2", "reram_sb"])  # the longest title and citation
def test_device_figures_of_presets_with_long_texts(tmp_path, name):
    from memsim.workflows.devices import plot_preset

    seen = Inspector()
    seen.command = "devices"
    with on_save(seen):
        plot_preset(name, tmp_path / f"{name}.png", cycles=1)
    assert seen.seen == {f"devices/{name}": []}
