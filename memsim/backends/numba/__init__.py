"""The Numba CPU backend (the default): compiled, parallel kernels, bit-identical to the NumPy reference.

This package is the only place in memsim that imports numba.
"""

from __future__ import annotations

import numpy as np

from ... import rng
from ..base import Backend
from . import threads
from .codegen import kernel_module

__all__ = ["NumbaBackend"]


#: Below this many cell events per call the serial twin of a kernel runs (no thread launch).
SERIAL_BELOW = 16384


def _pick(module, name: str, work: int):
    return getattr(module, f"{name}_serial" if work < SERIAL_BELOW else name)


class NumbaBackend(Backend):
    """Per-device kernels generated from the device formula (see ``memsim/backends/README.md``)."""

    name = "numba"

    @staticmethod
    def _common(device, rule, lr, seed):
        k0, k1 = rng.seed_to_key(seed)
        return (np.uint64(k0), np.uint64(k1), np.int64(rule.code), np.int64(rule.max_pulses),
                np.int64(device.c2c_code), np.float64(device.dw_min_std), np.float64(device.dw_min))

    def pulse_update(self, *, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats,
                     uniform_params=False):
        k0, k1, code, max_p, c2c, sigma, dw = self._common(device, rule, lr, seed)
        module = kernel_module(device)
        if rule.kind == "pulse_coincidence":
            nb, (rows, cols) = x.shape[0], weights.shape
            XW = np.empty((nb, cols, rule.words), dtype=np.uint64)
            DW = np.empty((nb, rows, rule.words), dtype=np.uint64)
            self.last_bl = np.empty(nb, dtype=np.int64)
            work = nb * rows * cols
            _pick(module, "coincidence_bits", work)(x, d, np.float64(lr), dw, np.int64(rule.desired_bl), rule.update_management,
                                    rule.update_bl_management, np.uint64(step), k0, k1, XW, DW, self.last_bl)
            n_chunks = np.int64(4 * threads.get_num_threads())  # row chunks: a few per thread, for balance
            # int32 pulse counters: half the memory traffic of the int64 totals (which they spill into)
            counters = stats.pending_counters(np, nb * rule.desired_bl) or (stats.n_up, stats.n_down)
            _pick(module, "update_coincidence", work)(weights, cell_params, bool(uniform_params), n_chunks, x, d, XW, DW,
                                                      np.uint64(step), k0, k1, c2c, sigma, bool(record), *counters,
                                                      stats.sum_abs_grad, stats.sum_abs_grad_w, stats.sum_w)
            return
        _pick(module, "update_rank1", x.shape[0] * weights.size)(
            weights, cell_params, x, d, np.float64(lr), np.uint64(step), k0, k1, code, max_p, c2c, sigma, dw,
            bool(record), stats.n_up, stats.n_down, stats.sum_abs_grad, stats.sum_abs_grad_w, stats.sum_w,
            stats.events_truncated, stats.pulses_lost)

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats,
                           uniform_params=False):
        if rule.kind == "pulse_coincidence":
            raise ValueError("the 'pulse_coincidence' rule cannot program a dense (accumulated) gradient")
        k0, k1, code, max_p, c2c, sigma, dw = self._common(device, rule, lr, seed)
        _pick(kernel_module(device), "update_dense", weights.size)(
            weights, cell_params, grad, np.float64(lr), np.uint64(step), k0, k1, code, max_p, c2c, sigma, dw,
            bool(record), stats.n_up, stats.n_down, stats.sum_abs_grad, stats.sum_abs_grad_w, stats.sum_w,
            stats.events_truncated, stats.pulses_lost)

    def normals(self, *, shape, seed, step, stream):
        """Compiled version of :meth:`Backend.normals` (same bits)."""
        from .philox import fill_flat_normals

        k0, k1 = rng.seed_to_key(seed)
        out = np.empty(int(np.prod(shape)), dtype=np.float64)
        fill_flat_normals(out, np.uint64(k0), np.uint64(k1), np.uint64(step), np.uint64(stream))
        return out.reshape(shape)

    def train_linear_epochs(self, *, device, rule, weights, cell_params, X, Y, order, lrs, batch_size,
                            accumulate, step, seed, record_from, stats):
        """Fused version of :meth:`Backend.train_linear_epochs` (bit-identical, one compiled call).

        Pulse coincidence runs the generic step-by-step loop (its bit streams are per batch).
        """
        if rule.kind == "pulse_coincidence":
            return super().train_linear_epochs(
                device=device, rule=rule, weights=weights, cell_params=cell_params, X=X, Y=Y, order=order, lrs=lrs,
                batch_size=batch_size, accumulate=accumulate, step=step, seed=seed, record_from=record_from,
                stats=stats)
        k0, k1, code, max_p, c2c, sigma, dw = self._common(device, rule, 0.0, seed)
        rows, cols = weights.shape
        D = np.empty((batch_size, rows), dtype=np.float64)
        G = np.empty((rows, cols), dtype=np.float64)
        events, recorded = kernel_module(device).train_linear_epochs(
            weights, cell_params, np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(Y, dtype=np.float64), np.ascontiguousarray(order, dtype=np.int64),
            np.ascontiguousarray(lrs, dtype=np.float64), np.int64(batch_size), bool(accumulate), np.uint64(step),
            np.int64(record_from), k0, k1, code, max_p, c2c, sigma, dw, stats.n_up, stats.n_down,
            stats.sum_abs_grad, stats.sum_abs_grad_w, stats.sum_w, D, G, stats.events_truncated, stats.pulses_lost)
        return int(events), int(recorded)

    set_num_threads = staticmethod(threads.set_num_threads)
    get_num_threads = staticmethod(threads.get_num_threads)
