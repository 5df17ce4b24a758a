"""The NumPy reference backend: slow, obvious, vectorised over cells; every kernel is tested against it.

It shares nothing with the compiled kernels but the device's ``mean_step`` formula (the physics)
and :mod:`memsim.rng` (the random-number specification).
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from .base import Backend

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Reference implementation of the pulsed update (module docstring)."""

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
            self._event(device, weights, cell_params, grad, n, up, step + b, seed, record, stats)

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats,
                           uniform_params=False):
        n, up = self._pulse_counts(rule, device, grad, lr, step, seed)
        self._event(device, weights, cell_params, grad, n, up, step, seed, record, stats)

    @staticmethod
    def _pulse_counts(rule, device, grad, lr, step, seed):
        """Pulse counts and directions of the requests ``-lr * grad`` (:mod:`memsim.physics.updates`)."""
        cells = np.arange(grad.size).reshape(grad.shape)
        delta = -lr * grad
        a = np.abs(delta) / device.dw_min
        if rule.kind == "stochastic_rounding":
            base = np.floor(a)
            u = rng.uniforms(seed, step, rng.STREAM_ROUNDING, cells, 0)
            n = base.astype(np.int64) + ((a - base > 0.0) & (u < a - base))
        elif rule.kind == "deterministic":
            n = np.floor(a + 0.5).astype(np.int64)
        else:
            raise ValueError(f"the {rule.kind!r} rule cannot program a dense (accumulated) gradient")
        return np.minimum(n, rule.max_pulses), delta > 0.0

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

        params = dict(zip(device.all_cell_parameters, cell_params))
        w_lo, w_hi, dw, beta = params["w_min"], params["w_max"], params["dw_min"], params["up_down"]
        formula_args = [params[name] for name in device.cell_parameters]
        formula = np.vectorize(device.mean_step, otypes=[np.float64])
        spread = np.vectorize(device.step_spread, otypes=[np.float64]) if device.has_step_spread else None
        scale = np.where(up, 1.0 + beta, 1.0 - beta)
        sigma, mode = device.dw_min_std, device.c2c_mode

        moving = np.where(params["stuck"] != 0.0, 0, n)  # stuck cells get pulses but do not move
        for p in range(int(moving.max(initial=0))):
            idx = np.nonzero(moving > p)
            u_, wv = up[idx], w[idx]
            args = [arg[idx] for arg in formula_args]
            q = formula(wv, u_, *args) * scale[idx]
            if sigma > 0.0 and mode in ("multiplicative", "additive"):
                z = rng.normals(seed, step, rng.STREAM_C2C, cells[idx], p)
                s = sigma * spread(wv, u_, *args) if spread is not None else sigma  # sigma * 1.0 == sigma
            if sigma > 0.0 and mode == "multiplicative":
                step_w = q * (1.0 + s * z)
                new = np.where(u_, wv + step_w, wv - step_w)
            elif sigma > 0.0 and mode == "additive":
                new = np.where(u_, wv + q, wv - q) + dw[idx] * s * z
            else:
                new = np.where(u_, wv + q, wv - q)
            w[idx] = np.minimum(np.maximum(new, w_lo[idx]), w_hi[idx])
        if sigma > 0.0 and mode == "neurosim":
            idx = np.nonzero(moving > 0)
            z = rng.normals(seed, step, rng.STREAM_C2C, cells[idx], 0)
            new = w[idx] + sigma * (w_hi[idx] - w_lo[idx]) * np.sqrt(n[idx].astype(np.float64)) * z
            w[idx] = np.minimum(np.maximum(new, w_lo[idx]), w_hi[idx])

        stats.n_up += np.where(up, n, 0)
        stats.n_down += np.where(up, 0, n)
        weights[...] = w
        if record:
            stats.sum_w += weights.astype(np.float64)
