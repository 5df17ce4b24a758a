"""The NumPy reference backend: slow, obvious, vectorised over cells; every kernel is tested against it.

It shares nothing with the compiled kernels but the physics -- the device's formulas (``mean_step``,
``step_spread``) and the generic pulse law of :mod:`memsim.physics.pulse_law` (pulse counts, one
pulse, event noise, stuck cells), run here element by element with ``numpy.vectorize`` -- and
:mod:`memsim.rng` (the random-number specification). What this module adds is which random numbers
each cell draws, and the loops.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from ..physics import pulse_law as law
from .base import Backend, cell_parameter_views

__all__ = ["NumpyBackend"]


def _vectorized(func, otype=np.float64):
    """A pulse-law function applied element by element (exactly the scalar float64 arithmetic)."""
    return np.vectorize(func, otypes=[otype])


_magnitude = _vectorized(law.pulse_magnitude)
_direction = _vectorized(law.pulse_direction, np.bool_)
_count_stochastic = _vectorized(law.pulse_count_stochastic)
_count_deterministic = _vectorized(law.pulse_count_deterministic)
_moves = _vectorized(law.cell_moves, np.bool_)
_up_down_factor = _vectorized(law.up_down_factor)
_one_pulse = _vectorized(law.one_pulse)
_event_noise = _vectorized(law.event_noise)


def _count(counter, values) -> None:
    """Add per-cell integer ``values`` to a counter of ``TileStatistics``: per cell, or per row
    (shape ``(rows, 1)``: the row sums)."""
    counter += values if counter.shape == values.shape else values.sum(axis=1, keepdims=True)


class NumpyBackend(Backend):
    """Reference implementation of the pulsed update (module docstring).

    Parameters
    ----------
    dtype : str or numpy.dtype
        Storage dtype of the weights (``float64`` or ``float32``).
    """

    name = "numpy"

    def pulse_update(self, *, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats,
                     uniform_params=False):
        self.last_bl = np.zeros(x.shape[0], dtype=np.int64)
        for b in range(x.shape[0]):
            grad = np.outer(d[b], x[b])
            if rule.kind == "pulse_coincidence":
                n, up, self.last_bl[b] = self._coincidences(rule, device, x[b], d[b], grad, lr, step + b, seed)
            else:
                n, up = self._pulse_counts(rule, device, grad, lr, step + b, seed)
                n = self._cap(n, rule.max_pulses, stats)
            self._event(device, weights, cell_params, grad, n, up, step + b, seed, record, stats)

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats,
                           uniform_params=False):
        n, up = self._pulse_counts(rule, device, grad, lr, step, seed)
        self._event(device, weights, cell_params, grad, self._cap(n, rule.max_pulses, stats), up, step, seed,
                    record, stats)

    @staticmethod
    def _pulse_counts(rule, device, grad, lr, step, seed):
        """Requested pulse counts (before the cap; at most ``2**53``: ``pulse_magnitude`` bounds the
        request) and directions of the requests ``-lr * grad`` (:mod:`memsim.physics.updates`)."""
        cells = np.arange(grad.size).reshape(grad.shape)
        a = _magnitude(grad, lr, device.dw_min)
        if rule.kind == "stochastic_rounding":
            u = rng.uniforms(seed, step, rng.STREAM_ROUNDING, cells, 0)  # drawn for every cell: used where a has a fraction
            n = _count_stochastic(a, u)
        elif rule.kind == "deterministic":
            n = _count_deterministic(a)
        else:
            raise ValueError(f"the {rule.kind!r} rule cannot program a dense (accumulated) gradient")
        return n.astype(np.int64), _direction(grad, lr)

    @staticmethod
    def _cap(n, max_pulses, stats):
        """The cap: a request of ``n > max_pulses`` pulses gets ``max_pulses``; such events are counted in
        ``stats.events_truncated`` and their ``n - max_pulses`` in ``stats.pulses_lost`` (saturating)."""
        over = n > max_pulses
        if over.any():
            _count(stats.events_truncated, over.astype(np.int64))
            lost = np.where(over, n - max_pulses, 0)
            if stats.pulses_lost.shape == lost.shape:
                stats.pulses_lost += np.minimum(lost, np.iinfo(np.int64).max - stats.pulses_lost)
            else:  # per-row totals: the cells' saturating additions in order are min(total + sum, max)
                for j, row in enumerate(lost):
                    total = int(stats.pulses_lost[j, 0]) + sum(row.tolist())
                    stats.pulses_lost[j, 0] = min(total, int(np.iinfo(np.int64).max))
        return np.minimum(n, max_pulses)

    @staticmethod
    def _coincidences(rule, device, x, d, grad, lr, step, seed):
        """Pulse counts of stochastic pulse coincidence for one sample (:mod:`memsim.physics.updates`)."""
        rows, cols = grad.shape
        x_max, d_max = float(np.max(np.abs(x))), float(np.max(np.abs(d)))
        if x_max == 0.0 or d_max == 0.0 or lr == 0.0:
            return np.zeros(grad.shape, dtype=np.int64), grad < 0.0, 0
        bl = rule.desired_bl
        if rule.update_bl_management:
            bl = min(max(int(math.ceil(lr * x_max * d_max / device.dw_min)), 1), rule.desired_bl)
        base = math.sqrt(lr / (bl * device.dw_min))
        a_x = base * math.sqrt(d_max / x_max) if rule.update_management else base
        a_d = base * math.sqrt(x_max / d_max) if rule.update_management else base
        slots = np.arange(bl)[None, :]
        bits_x = rng.uniforms(seed, step, rng.STREAM_COINCIDENCE, np.arange(cols)[:, None], slots) \
            < np.minimum(a_x * np.abs(x), 1.0)[:, None]
        bits_d = rng.uniforms(seed, step, rng.STREAM_COINCIDENCE, cols + np.arange(rows)[:, None], slots) \
            < np.minimum(a_d * np.abs(d), 1.0)[:, None]
        n = (bits_d[:, None, :] & bits_x[None, :, :]).sum(axis=2).astype(np.int64)
        return n, grad < 0.0, bl

    @staticmethod
    def _event(device, weights, cell_params, grad, n, up, step, seed, record, stats):
        """Apply ``n`` pulses in direction ``up`` to every cell (:mod:`memsim.physics.devices.base`)."""
        cells = np.arange(grad.size).reshape(grad.shape)
        w = weights.astype(np.float64)
        if record:
            stats.sum_abs_grad += np.abs(grad)
            stats.sum_abs_grad_w += np.abs(grad) * w

        views = cell_parameter_views(cell_params, *grad.shape)  # each (1, 1) (one value) or per cell
        params = dict(zip(device.all_cell_parameters, (np.broadcast_to(v, grad.shape) for v in views)))
        w_lo, w_hi, dw, beta = params["w_min"], params["w_max"], params["dw_min"], params["up_down"]
        formula_args = [params[name] for name in device.cell_parameters]
        formula = np.vectorize(device.mean_step, otypes=[np.float64])
        spread = np.vectorize(device.step_spread, otypes=[np.float64]) if device.has_step_spread else None
        scale = _up_down_factor(up, beta)
        sigma, mode = device.dw_min_std, device.c2c_mode
        multiplicative = sigma > 0.0 and mode == "multiplicative"
        additive = sigma > 0.0 and mode == "additive"

        moving = np.where(_moves(params["stuck"]), n, 0)  # stuck cells get pulses but do not move
        for p in range(int(moving.max(initial=0))):
            idx = np.nonzero(moving > p)
            u_, wv = up[idx], w[idx]
            args = [arg[idx] for arg in formula_args]
            q = formula(wv, u_, *args) * scale[idx]
            z = s = 0.0  # read only by the noisy modes
            if multiplicative or additive:  # normal number p of the cell's c2c stream
                z = rng.normals(seed, step, rng.STREAM_C2C, cells[idx], p)
                s = sigma * spread(wv, u_, *args) if spread is not None else sigma  # sigma * 1.0 == sigma
            w[idx] = _one_pulse(wv, u_, q, s, z, dw[idx], multiplicative, additive, w_lo[idx], w_hi[idx])
        if sigma > 0.0 and mode == "neurosim":
            idx = np.nonzero(moving > 0)
            z = rng.normals(seed, step, rng.STREAM_C2C, cells[idx], 0)
            w[idx] = _event_noise(w[idx], n[idx], sigma, w_lo[idx], w_hi[idx], z)

        _count(stats.n_up, np.where(up, n, 0))
        _count(stats.n_down, np.where(up, 0, n))
        weights[...] = w
        if record:
            stats.sum_w += weights.astype(np.float64)
