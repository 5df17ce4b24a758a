"""The ``memsim devices`` command: list the presets, and draw a device's pulse response.

``memsim devices`` lists the presets (:mod:`memsim.physics.presets`) with their kind and parameters;
``memsim devices plot NAME --out FILE.png`` draws the weight of one cell against the pulse number
(full up and down sweeps, a few cycles, with the preset's cycle-to-cycle noise) next to the mean
step of one pulse as a function of the weight.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..models.tile import Tile
from ..params import check_int
from ..physics.devices import PulsedDevice
from ..physics.presets import PRESET_FOLDER, list_presets, load_preset, preset_listing, read_preset_table, resolve_name
from ..physics.updates import Deterministic

__all__ = ["plot_preset", "devices_main", "add_devices_arguments"]


def _sweep_lengths(device: PulsedDevice) -> tuple[int, int]:
    """Pulses of one full up and one full down sweep.

    ``states_ltp``/``states_ltd`` for a model that has them; otherwise at least
    ``(w_max - w_min)/dw_min`` and as many as the nominal device needs to cover 95 % of its range
    (soft bounds approach their bound only exponentially), at most 5 times that.
    """
    if hasattr(device, "states_ltp"):
        return int(round(device.states_ltp)), int(round(device.states_ltd))
    span = device.w_max - device.w_min
    n_lin = int(math.ceil(span / device.dw_min - 1e-9))
    args = device._cell_args()
    out = []
    for up, start, scale in ((1, device.w_min, 1.0 + device.up_down), (0, device.w_max, 1.0 - device.up_down)):
        w, n = start, 0
        while n < 5 * n_lin and abs(w - start) < 0.95 * span:
            q = scale * device.mean_step(w, up, *args)
            w = min(max(w + q if up else w - q, device.w_min), device.w_max)
            n += 1
        out.append(max(n, n_lin))
    return out[0], out[1]


def _quiet(device: PulsedDevice) -> PulsedDevice:
    """The nominal device: no cycle-to-cycle noise, no device-to-device variation, no faults."""
    changes = {f.name: 0.0 for f in dataclasses.fields(device) if f.name.endswith("_dtod")}
    return dataclasses.replace(device, dw_min_std=0.0, stuck_prob=0.0, **changes)


def _trace(device, n_up, n_down, cycles, stride, backend, seed):
    """Weight after every event of ``stride`` pulses on a one-cell tile starting at ``w_min``."""
    tile = Tile(1, 1, device, update=Deterministic(max_pulses=max(stride, 1)), backend=backend, seed=seed)
    tile.program(tile.cell_parameters["w_min"])
    pulses, weights = [0], [float(tile.weights[0, 0])]
    one = np.ones(1)
    for _ in range(cycles):
        for n_total, sign in ((n_up, -1.0), (n_down, 1.0)):
            done = 0
            while done < n_total:
                k = min(stride, n_total - done)
                tile.update(one, sign * one, lr=k * device.dw_min)  # Delta = -lr d x = -sign k dw_min: k pulses
                done += k
                pulses.append(pulses[-1] + k)
                weights.append(float(tile.weights[0, 0]))
    return np.asarray(pulses), np.asarray(weights)


def plot_preset(name_or_device: str | PulsedDevice, out: str | Path, cycles: int = 3, backend: str = "numpy",
                seed: int = 0, title: str | None = None) -> Path:
    """Draw a device's pulse response and write it atomically (``.png`` at 300 dpi, ``.pdf`` or ``.svg``, by suffix).

    Top: the weight of one cell (with its device-to-device draw and cycle-to-cycle noise from
    ``seed``) and of the nominal noise-free device against the pulse number, through ``cycles``
    full up (LTP) and down (LTD) sweeps from ``w_min``; the right axis is the normalised
    conductance ``G = (w - w_min)/(w_max - w_min)``. Bottom: the mean step of one pulse against the
    weight, in units of the nominal step ``dw_min``, with the symmetry point. Pulses are applied one
    per programming event unless a sweep has more than 300 pulses, then in events of up to
    ``ceil(sweep / 300)`` pulses (for ``c2c_mode = "neurosim"`` the noise is drawn per event,
    NeuroSim's rule, with the same variance as per pulse).

    Parameters
    ----------
    name_or_device : str or memsim.physics.devices.base.PulsedDevice
        A preset name or a device.
    out : str or pathlib.Path
        The output file; its suffix names the format.
    cycles : int
        Full up/down sweeps, in [1, 50].
    backend : str
        Backend of the one-cell tile (``numpy`` or ``numba``).
    seed : int
        Seed of the cell's device-to-device draw and cycle-to-cycle noise.
    title : str or None
        The figure title; ``None``: the preset's or model's name.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from ..plotting.style import figure_format

    cycles = check_int("plot_preset", "cycles", cycles, 1, 50)
    figure_format(out, "plot_preset", "out")  # the suffix names the format: checked before any work
    if isinstance(name_or_device, PulsedDevice):
        device, src, src_physical, label = name_or_device, {}, {}, name_or_device.kind
    else:
        key = resolve_name(name_or_device)
        device, label = load_preset(key), key
        src, src_physical = read_preset_table(key).get("source", {}), read_preset_table(key).get("physical", {})
    out = Path(out)
    n_up, n_down = _sweep_lengths(device)
    stride = max(1, math.ceil(max(n_up, n_down) / 300))
    nominal = _quiet(device)
    p_nom, w_nom = _trace(nominal, n_up, n_down, cycles, stride, backend, seed)
    p_noisy = w_noisy = None
    if nominal != device:  # otherwise nothing is random: the cell is the nominal device
        p_noisy, w_noisy = _trace(device, n_up, n_down, cycles, stride, backend, seed)
    return _draw_preset(device, nominal, src, src_physical, label, title, out, cycles, n_up, n_down,
                        p_nom, w_nom, p_noisy, w_noisy, seed)


def _ticker():
    """``matplotlib.ticker`` (imported lazily)."""
    import matplotlib.ticker

    return matplotlib.ticker


def _draw_preset(device, nominal, src, src_physical, label, title, out, cycles, n_up, n_down, p_nom, w_nom,
                 p_noisy, w_noisy, seed) -> Path:
    """The two panels of :func:`plot_preset`, stacked, one journal column wide."""
    from ..plotting.style import OKABE_ITO, save_figure, styled, subplots

    @styled
    def draw() -> Path:
        lo, hi = float(device.w_min), float(device.w_max)
        up_c, down_c = OKABE_ITO["vermillion"], OKABE_ITO["blue"]
        fig, (ax, ax2) = subplots(2, 1, width=3.5, height=6.0, gridspec_kw={"height_ratios": [1.15, 1]})
        period = n_up + n_down
        for c in range(cycles):
            ax.axvspan(c * period, c * period + n_up, color=up_c, alpha=0.08, lw=0)
            ax.axvspan(c * period + n_up, (c + 1) * period, color=down_c, alpha=0.08, lw=0)
        if p_noisy is not None:
            words = _noise_words(device).replace("its d2d draw", "d2d").replace("c2c noise", "c2c")
            ax.plot(p_noisy, w_noisy, color="k", lw=0.7, label=f"one cell{words}, seed {seed}")
        ax.plot(p_nom, w_nom, color=OKABE_ITO["orange"], lw=1.3, ls="--" if p_noisy is not None else "-",
                label="nominal, no noise")
        ax.fill_between([], [], color=up_c, alpha=0.2, lw=0, label=f"LTP (up), {n_up} pulses")
        ax.fill_between([], [], color=down_c, alpha=0.2, lw=0, label=f"LTD (down), {n_down} pulses")
        ax.set(xlabel="pulse number", ylabel="weight w (device units)", xlim=(0, p_nom[-1]))
        pad = 0.04 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
        ax.axhline(lo, color="0.6", lw=0.6, ls=":")
        ax.axhline(hi, color="0.6", lw=0.6, ls=":")
        sec = ax.secondary_yaxis("right", functions=(lambda w: (w - lo) / (hi - lo), lambda g: lo + g * (hi - lo)))
        sec.set_ylabel("normalised conductance G")
        phys = _physical_words(src_physical)
        if phys:
            ax.set_title("\n".join(textwrap.wrap(phys, 44)), color="0.3")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, columnspacing=1.0)

        w = np.linspace(lo, hi, 401)
        up, down = nominal.step_up(w) / nominal.dw_min, nominal.step_down(w) / nominal.dw_min
        ax2.plot(w, up, color=up_c, label="up (LTP)")
        ax2.plot(w, down, color=down_c, ls=(0, (5, 2)), label="down (LTD)")
        w_s = nominal.symmetry_point()
        if np.isfinite(w_s):
            ax2.axvline(w_s, color="0.3", lw=0.8, ls=":", label=f"symmetry point w_s = {w_s:.3g}")
        ax2.set(xlabel="weight w (device units)", ylabel="mean step / dw_min", xlim=(lo, hi))
        ax2.xaxis.set_major_locator(_ticker().MaxNLocator(6))
        ax2.set_ylim(bottom=0.0, top=1.08 * max(float(np.max(up)), float(np.max(down)), 1e-12))
        ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, columnspacing=1.0)
        ax2.set_title(f"nominal device (no noise), dw_min = {nominal.dw_min:.3g}", color="0.3")

        name = src.get("name", label)
        head = title or f"{name}  ({device.kind}{_summary(device)})"
        fig.suptitle("\n".join(textwrap.wrap(head, 48)))
        if src.get("citation"):
            cite = textwrap.wrap("Source: " + src["citation"], 58)
            fig.supxlabel("\n".join(cite[:3]) + (" ..." if len(cite) > 3 else ""), fontsize=7, color="0.35",
                          ha="left", x=0.02)
        return save_figure(fig, out)

    return draw()


def _noise_words(device: PulsedDevice) -> str:
    d2d = any(getattr(device, f.name) > 0 for f in dataclasses.fields(device) if f.name.endswith("_dtod"))
    words = (["its d2d draw"] if d2d else []) + (["c2c noise"] if device.dw_min_std > 0 else [])
    return (" (" + " + ".join(words) + ")") if words else ""


def _physical_words(phys: dict[str, Any]) -> str:
    """``Gmin - Gmax`` from a preset's reported on-resistance and on/off ratio, if it has them."""
    if "r_on_ohm" not in phys or "on_off_ratio" not in phys:
        return ""
    g_max = 1.0 / float(phys["r_on_ohm"])
    g_min = g_max / float(phys["on_off_ratio"])
    scale, unit = min(((1e-9, "nS"), (1e-6, "µS"), (1e-3, "mS")), key=lambda su: abs(math.log10(g_max / su[0]) - 1.5))
    return (f"G = 0 ... 1 is Gmin = {g_min / scale:.3g} {unit} ... Gmax = {g_max / scale:.3g} {unit} "
            f"(R_on = {_ohm(float(phys['r_on_ohm']))}, on/off {float(phys['on_off_ratio']):g})")


def _ohm(r: float) -> str:
    for scale, unit in ((1e6, "MΩ"), (1e3, "kΩ")):
        if r >= scale:
            return f"{r / scale:.3g} {unit}"
    return f"{r:.3g} Ω"


def _summary(device: PulsedDevice) -> str:
    parts = []
    if device.kind == "exp_step":
        nl = device.nl
        parts.append(f"NL {nl[0]:g} / {nl[1]:g}")
    if device.dw_min_std > 0:
        parts.append(f"c2c {device.dw_min_std:g} ({device.c2c_mode})")
    return (": " + ", ".join(parts)) if parts else ""


# ---------------------------------------------------------------------------------------------- CLI
def add_devices_arguments(parser) -> None:
    """Arguments of ``memsim devices [list | plot NAME --out FILE.png]``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, which receives the arguments.
    """
    sub = parser.add_subparsers(dest="devices_command", metavar="{list,plot}")
    sub.add_parser("list", help="list the presets (the default)")
    p = sub.add_parser("plot", help="weight vs pulse number of one preset, and its step vs weight")
    p.add_argument("name", help="preset name (see 'memsim devices')")
    p.add_argument("--out", required=True, help="output file: .png (300 dpi), .pdf or .svg")
    p.add_argument("--cycles", type=int, default=3, help="up/down cycles (default 3)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "numba"),
                   help="backend of the one-cell tile (default numpy)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cell's d2d draw and c2c noise (default 0)")


def devices_main(args) -> int:
    """Entry point of ``memsim devices``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command-line arguments.

    Returns
    -------
    int
        The exit status (0 on success).
    """
    if getattr(args, "devices_command", None) == "plot":
        path = plot_preset(args.name, args.out, cycles=args.cycles, backend=args.backend, seed=args.seed)
        print(f"wrote {path}")
        return 0
    print(preset_listing())
    print(f"\n{len(list_presets())} presets in memsim/{PRESET_FOLDER}; "
          "'memsim devices plot NAME --out FILE.png' draws one.")
    return 0
