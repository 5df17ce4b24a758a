"""Draw the pulse-response figure of every registered device model into ``docs/figures/devices/``.

    python docs/device_figures.py            # writes docs/figures/devices/<kind>.png

One figure per model of :data:`memsim.physics.devices.DEVICE_MODELS`, drawn by the function behind
``memsim devices plot`` (:func:`memsim.workflows.devices.plot_preset`) for the device of
:data:`FIGURE_DEVICES`: a literature preset where the model has one, else the parameters given there.
The device pages (``docs/devices/<kind>.md``) show them; ``tests/test_docs.py`` checks that every
registered model has its page and its figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "figures" / "devices"

#: The device drawn for each model: a preset name, or the keyword arguments of ``device_from_dict``.
FIGURE_DEVICES: dict[str, str | dict] = {
    "constant_step": {"kind": "constant_step", "dw_min": 0.02, "dw_min_std": 0.3},
    "linear_step": {"kind": "linear_step", "dw_min": 0.02, "gamma_up": 0.5, "gamma_down": 0.8, "dw_min_std": 0.3},
    "soft_bounds": "reram_sb",
    "exp_step": "ag_a_si",
    "pow_step": {"kind": "pow_step", "dw_min": 0.02, "pow_gamma": 2.0, "pow_up_down": 0.2, "dw_min_std": 0.3},
    "table": "example_reram.csv",
}


def device_for(kind: str):
    """The preset name or device object drawn for model ``kind``."""
    from memsim.physics.devices import TableDevice, device_from_dict
    from memsim.physics.devices.table import EXAMPLE_TABLE

    spec = FIGURE_DEVICES[kind]
    if kind == "table":
        return TableDevice.from_csv(EXAMPLE_TABLE)
    return spec if isinstance(spec, str) else device_from_dict(dict(spec))


def shrink(path: Path, colors: int = 64) -> Path:
    """Rewrite a PNG with a palette of ``colors`` colours (about a third of the size), atomically."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    tmp = path.with_name(path.name + ".tmp")
    small.save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
    return path


def main(kinds: list[str]) -> int:
    """Draw the figures of ``kinds`` (default: every registered model); returns the exit code."""
    from memsim.physics.devices import DEVICE_MODELS
    from memsim.workflows.devices import plot_preset

    missing = sorted(set(DEVICE_MODELS) - set(FIGURE_DEVICES))
    if missing:
        raise SystemExit(f"no figure device for the models {missing}: add them to FIGURE_DEVICES")
    FOLDER.mkdir(parents=True, exist_ok=True)
    for kind in kinds or sorted(DEVICE_MODELS):
        out = shrink(plot_preset(device_for(kind), FOLDER / f"{kind}.png", cycles=2, seed=0))
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
