"""Reusable checks for device models: the battery every registered model must pass.

``check_device_model(device_cls)`` is run by the test suite on every entry of
``memsim.physics.devices.DEVICE_MODELS``; a new model gets the whole battery for free. Needs the ``test``
extra (hypothesis).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .models.tile import Tile
from .physics.devices import C2C_MODES, PulsedDevice
from .physics.updates import Deterministic, StochasticRounding

__all__ = ["check_device_model", "parameter_space"]


def parameter_space(device_cls) -> dict[str, tuple[float, float]]:
    """Float parameter ranges the property tests draw from (common ones plus model extras).

    Parameters
    ----------
    device_cls : type
        A device model class (a :class:`~memsim.physics.devices.base.PulsedDevice` subclass).

    Returns
    -------
    dict of {str: tuple of (float, float)}
        Parameter name -> (low, high) range, for the model's float parameters.
    """
    space = {"dw_min": (1e-4, 0.3), "up_down": (-0.9, 0.9), "dw_min_std": (0.0, 3.0),
             "dw_min_dtod": (0.0, 0.5), "w_max_dtod": (0.0, 0.5), "w_min_dtod": (0.0, 0.5),
             "up_down_dtod": (0.0, 0.3), "w_max": (0.2, 3.0)}
    names = {f.name for f in dataclasses.fields(device_cls)}
    for name in names:
        if name.startswith("gamma_"):
            space[name] = (0.0, 0.5) if name.endswith("dtod") else (0.0, 2.0)
    # exp_step: dw_min is derived from the state count; labels within NeuroSim's table
    if "states_ltp" in names:
        del space["dw_min"]
        space.update(states_ltp=(2.0, 300.0), states_ltd=(2.0, 300.0), nl_ltp=(-9.0, 9.0), nl_ltd=(-9.0, 9.0))
    if "pow_gamma" in names:
        space.update(pow_gamma=(0.0, 3.0), pow_gamma_dtod=(0.0, 0.5), pow_up_down=(-0.9, 0.9),
                     pow_up_down_dtod=(0.0, 0.3))
    return {k: v for k, v in space.items() if k in names}


def _tile(device, rule=None, rows=4, cols=4, backend="numpy", seed=3, w0=None):
    t = Tile(rows, cols, device, update=rule, backend=backend, seed=seed)
    if w0 is not None:
        t.program(w0)
    return t


def check_zero_update(device_cls, backend="numpy") -> None:
    """A zero requested update changes nothing (any noise mode)."""
    for mode in C2C_MODES:
        dev = device_cls(dw_min_std=1.0, c2c_mode=mode, w_max_dtod=0.2, up_down=0.2)
        t = _tile(dev, backend=backend, w0=np.linspace(-0.5, 0.5, 16).reshape(4, 4))
        before = t.weights
        t.update(np.ones(4), np.zeros(4), lr=0.1)
        t.update(np.zeros((2, 4)), np.ones((2, 4)), lr=0.1, accumulate=True)
        np.testing.assert_array_equal(t.weights, before)
        assert t.statistics()["pulses_up"].sum() == 0 and t.statistics()["pulses_down"].sum() == 0


def check_bounds_property(device_cls, backend="numpy", max_examples=40) -> None:
    """Hypothesis property: weights never leave the per-cell bounds, whatever states, requests and parameters."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    space = parameter_space(device_cls)
    params = st.fixed_dictionaries({k: st.floats(lo, hi) for k, (lo, hi) in space.items()})

    @settings(max_examples=max_examples, deadline=None, derandomize=True)
    @given(params=params, mode=st.sampled_from(C2C_MODES),
           rule=st.sampled_from([StochasticRounding(max_pulses=200), Deterministic(max_pulses=200)]),
           state=st.floats(-1.0, 1.0), scale=st.floats(0.0, 5.0), seed=st.integers(0, 2 ** 64 - 1))
    def prop(params, mode, rule, state, scale, seed):
        dev = device_cls(c2c_mode=mode, **params)
        t = _tile(dev, rule=rule, backend=backend, seed=seed)
        cp = t.cell_parameters
        t.program(cp["w_min"] + (state + 1.0) / 2.0 * (cp["w_max"] - cp["w_min"]))
        x = np.linspace(-1.0, 1.0, 4)
        d = np.array([1.0, -1.0, 0.5, -2.0])
        for _ in range(3):
            t.update(x, d, lr=scale)
            t.update(-x, d, lr=scale)
        w = t.weights
        assert np.all(np.isfinite(w))
        assert np.all(w >= cp["w_min"]) and np.all(w <= cp["w_max"])

    prop()


def check_direction(device_cls, backend="numpy") -> None:
    """Noise off: up moves up and down moves down; noise on: the same in expectation."""
    dev = device_cls(dw_min=0.01)
    states = np.linspace(dev.w_min, dev.w_max, 11)[1:-1]
    for sign in (1.0, -1.0):
        t = _tile(dev, rows=1, cols=states.size, backend=backend, w0=states[None, :])
        t.update(np.ones(states.size), np.array([-sign]), lr=0.035)  # Delta = +sign * 0.035
        moved = (t.weights[0] - states) * sign
        assert np.all(moved >= 0.0)
        q = dev.step_up(states) if sign > 0 else dev.step_down(states)
        assert np.all(moved[q > 0] > 0.0)
    noisy = device_cls(dw_min=0.01, dw_min_std=2.0)
    for sign in (1.0, -1.0):
        t = _tile(noisy, rows=64, cols=64, backend=backend, w0=0.5 * (noisy.w_min + noisy.w_max) * np.ones((64, 64)))
        w0 = t.weights
        t.update(np.ones(64), -sign * np.ones(64), lr=0.02)
        delta = (t.weights - w0).ravel() * sign
        assert delta.mean() > 4 * delta.std() / math.sqrt(delta.size)


def check_extreme_inputs(device_cls, backend="numba") -> None:
    """Huge requests (saturating writes) give finite weights within bounds, in every c2c mode."""
    for mode in C2C_MODES:
        dev = device_cls(dw_min_std=0.5, c2c_mode=mode)
        t = _tile(dev, rows=2, cols=2, backend=backend)
        t.update(np.array([1e6, -1e6]), np.array([1e6, -1e-6]), lr=1e3)
        w = t.weights
        assert np.all(np.isfinite(w)) and np.all(w >= dev.w_min) and np.all(w <= dev.w_max)


def check_invalid_parameters(device_cls) -> None:
    """Every invalid value raises ValueError naming the parameter, the allowed range and the value."""
    for name, values in device_cls.invalid_examples().items():
        for value in values:
            try:
                device_cls(**{name: value})
            except ValueError as exc:
                msg = str(exc)
                assert f"'{name}'" in msg and "must be" in msg and repr(value) in msg, msg
            else:
                raise AssertionError(f"{device_cls.__name__}({name}={value!r}) did not raise")


def check_device_model(device_cls, backend="numpy") -> None:
    """Run the whole battery on a device model class (see the individual checks).

    Parameters
    ----------
    device_cls : type
        A device model class (a :class:`~memsim.physics.devices.base.PulsedDevice` subclass).
    backend : str
        The backend the tile checks run on.
    """
    assert issubclass(device_cls, PulsedDevice)
    check_invalid_parameters(device_cls)
    check_zero_update(device_cls, backend)
    check_direction(device_cls, backend)
    check_bounds_property(device_cls, backend)
    check_extreme_inputs(device_cls)
