"""The Numba CPU backend (the default): compiled, parallel kernels, bit-identical to the NumPy reference.

This package is the only place in memsim that imports numba.
"""

from __future__ import annotations

import numba
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
    """Per-device kernels generated from the device formula (see ``memsim/backends/README.md``).

    Parameters
    ----------
    dtype : str or numpy.dtype
        Storage dtype of the weights (``float64`` or ``float32``).
    """

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
            uniform = bool(uniform_params) or not cell_params[1][1].any()  # every parameter held once
            _pick(module, "update_coincidence", work)(weights, cell_params, uniform, n_chunks, x, d, XW, DW,
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

    def sequential_mvm(self, *, weights, v, transpose=False):
        """Compiled version of :meth:`Backend.sequential_mvm` (same bits).

        Parameters
        ----------
        weights : numpy.ndarray
            The weights, shape (rows, cols).
        v : array_like
            The vectors, shape (batch, cols), or (batch, rows) with ``transpose``.
        transpose : bool
            Compute ``v W`` instead of ``v W^T``.

        Returns
        -------
        numpy.ndarray
            The products, float64, shape (batch, rows), or (batch, cols) with ``transpose``.
        """
        from .dense import sequential_mvm

        v = np.ascontiguousarray(v, dtype=np.float64)
        out = np.empty((v.shape[0], weights.shape[1] if transpose else weights.shape[0]), dtype=np.float64)
        sequential_mvm(weights, v, bool(transpose), out)
        return out

    def normals(self, *, shape, seed, step, stream):
        """Compiled version of :meth:`Backend.normals` (same bits).

        Parameters
        ----------
        shape : tuple of int
            Shape of the result.
        seed : int
            The run seed (the Philox key).
        step : int
            Event counter of the first programming event.
        stream : int
            The Philox stream (one of the ``STREAM_*`` constants of :mod:`memsim.rng`).

        Returns
        -------
        array
            Standard normals, float64.
        """
        from .philox import fill_flat_normals

        k0, k1 = rng.seed_to_key(seed)
        out = np.empty(int(np.prod(shape)), dtype=np.float64)
        fill_flat_normals(out, np.uint64(k0), np.uint64(k1), np.uint64(step), np.uint64(stream))
        return out.reshape(shape)

    def train_linear_epochs(self, *, device, rule, weights, cell_params, X, Y, order, lrs, batch_size,
                            accumulate, step, seed, record_from, stats):
        """Fused version of :meth:`Backend.train_linear_epochs` (bit-identical, one compiled call).

        Pulse coincidence runs the generic step-by-step loop (its bit streams are per batch).

        Parameters
        ----------
        device : memsim.physics.devices.base.PulsedDevice
            The device model (its formulas and scalar settings).
        rule : memsim.physics.updates.UpdateRule
            The pulse-count rule.
        weights : array
            The tile's weights on this backend, shape (rows, cols); updated in place.
        cell_params : tuple or array
            The device parameters as :meth:`Backend.cell_parameter_array` returns them (packed ``(values,
            index)``, each parameter once or per cell).
        X : array
            Inputs, float64, shape (n, cols).
        Y : array
            Targets, float64, shape (n, rows).
        order : array
            Int64, shape (epochs, n): the sample order of each epoch.
        lrs : array
            Float64, shape (epochs,): the per-sample learning rate of each epoch.
        batch_size : int
            Samples per batch: the forward pass of a batch uses the weights at its start.
        accumulate : bool
            One event per batch with the summed gradient instead of one per sample.
        step : int
            Event counter of the first programming event.
        seed : int
            The run seed (the Philox key).
        record_from : int
            Recording is on for batches whose first event index (from 0 in this call) is at least this; -1:
            never.
        stats : TileStatistics
            The recording arrays, updated in place.

        Returns
        -------
        events : int
            Programming events applied.
        recorded_events : int
            Events applied while recording.
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

    def train_networks_epoch(self, *, device, periphery, sizes, bias, activation, loss, replicas, read_streams):
        """One epoch of R networks of one shape (replicas) in one compiled call, threads over replicas
        (``network_template``); each replica bit-identical to
        :meth:`memsim.models.mlp.AnalogMLP.train_batch` batch by batch.

        Parameters
        ----------
        device : PulsedDevice
            Any replica's device (the kernel module is the device model's; per-replica scalars are read
            from each replica's own ``device``).
        periphery : Periphery
            Shared by every tile of every replica.
        sizes : sequence of int
            Layer sizes.
        bias : bool
            Whether every layer has a bias column.
        activation, loss : int
            Codes (:data:`memsim.network_math.ACTIVATION_CODES`, ``LOSS_CODES``).
        replicas : list of dict
            Per replica: ``tiles`` (per tile, in layer order with row blocks outer: ``weights``,
            ``cell_params``, ``reference`` (None without zero-shifting), ``stats``
            (:class:`~memsim.backends.base.TileStatistics`), ``layer``, ``rows`` and ``cols`` (slices of the
            layer's weight matrix), ``seed``, ``step``, ``read_step``), ``device``, ``rule``, ``X``, ``T``
            (float targets (n, K); labels in column 0 for softmax / logistic), ``order``, ``lr``,
            ``batch_size``, ``accumulate`` and ``record_from`` (recording is on for batches whose first
            event index, from 0 in this call, is at least this).
        read_streams : tuple of int
            Philox streams of the output and the weight read noise.

        Returns
        -------
        list of tuple
            Per replica ``(events, recorded, status, steps, read_steps)``: status 1 when a non-finite
            value reached a tile (nothing of that batch was programmed).
        """
        from numba.typed import List

        module = kernel_module(device)
        lists = [List() for _ in range(10)]
        dummy = np.zeros((1, 1))
        n_rep, n_tiles = len(replicas), len(replicas[0]["tiles"])
        meta = np.zeros((n_tiles, 7), dtype=np.int64)
        keys = np.zeros((n_rep * n_tiles, 2), dtype=np.uint64)
        steps = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        read_steps = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        XS, TS = List(), List()
        scalars = {k: [] for k in ("lr", "batch", "acc", "rec", "rule", "maxp", "bl", "um", "blm", "words", "c2c",
                                   "sigma", "dw")}
        for r, rep in enumerate(replicas):
            for t, spec in enumerate(rep["tiles"]):
                st = spec["stats"]
                ref = spec["reference"]
                for lst, arr in zip(lists, (spec["weights"], spec["cell_params"],
                                            dummy if ref is None else np.ascontiguousarray(ref, dtype=np.float64),
                                            st.n_up, st.n_down, st.sum_abs_grad, st.sum_abs_grad_w, st.sum_w,
                                            st.events_truncated, st.pulses_lost)):
                    lst.append(arr)
                meta[t] = (spec["layer"], spec["rows"].start, spec["rows"].stop, spec["cols"].start,
                           spec["cols"].stop, int(ref is not None),
                           int(bool(spec["uniform_params"]) or not spec["cell_params"][1][1].any()))
                keys[r * n_tiles + t] = rng.seed_to_key(spec["seed"])
                steps[r * n_tiles + t] = spec["step"]
                read_steps[r * n_tiles + t] = spec["read_step"]
            XS.append(np.ascontiguousarray(rep["X"], dtype=np.float64))
            TS.append(np.ascontiguousarray(rep["T"], dtype=np.float64))
            rule, dev = rep["rule"], rep["device"]
            pc = rule.kind == "pulse_coincidence"
            for key, value in (("lr", rep["lr"]), ("batch", rep["batch_size"]), ("acc", rep["accumulate"]),
                               ("rec", rep["record_from"]), ("rule", rule.code), ("maxp", rule.max_pulses),
                               ("bl", rule.desired_bl if pc else 0), ("um", pc and rule.update_management),
                               ("blm", pc and rule.update_bl_management), ("words", rule.words if pc else 0),
                               ("c2c", dev.c2c_code), ("sigma", dev.dw_min_std), ("dw", dev.dw_min)):
                scalars[key].append(value)
        ints = {k: np.asarray(scalars[k], dtype=np.int64)
                for k in ("batch", "rec", "rule", "maxp", "bl", "words", "c2c")}
        bools = {k: np.asarray(scalars[k], dtype=np.bool_) for k in ("acc", "um", "blm")}
        floats = {k: np.asarray(scalars[k], dtype=np.float64) for k in ("lr", "sigma", "dw")}
        orders = np.ascontiguousarray(np.stack([rep["order"] for rep in replicas]), dtype=np.int64)
        dac, adc = periphery.dac, periphery.adc
        qp = np.array([dac.bits or 0, -1.0 if dac.bound is None else dac.bound, dac.step or 0.0,
                       adc.bits or 0, -1.0 if adc.bound is None else adc.bound, adc.step or 0.0], dtype=np.float64)
        noise = np.array([periphery.output_noise, periphery.weight_noise], dtype=np.float64)
        out = np.zeros((n_rep, 3), dtype=np.int64)
        kernel = module.train_network_epoch if n_rep == 1 else module.train_networks_epoch
        # replicas one at a time to whichever thread is free: their work differs (seeds, settings)
        with numba.parallel_chunksize(1 if n_rep > 1 else 0):
            kernel(
                *lists, meta, keys, steps, read_steps, np.asarray(sizes, dtype=np.int64), bool(bias),
                np.int64(activation), np.int64(loss), XS, TS, orders, floats["lr"], ints["batch"], bools["acc"],
                ints["rec"], ints["rule"], ints["maxp"], ints["bl"], bools["um"], bools["blm"], ints["words"],
                ints["c2c"], floats["sigma"], floats["dw"], bool(periphery.active),
                bool(periphery.active and periphery.backward), qp, noise,
                np.uint64(read_streams[0]), np.uint64(read_streams[1]), np.int64(SERIAL_BELOW),
                np.int64(4 * threads.get_num_threads()), out)
        return [(int(out[r, 0]), int(out[r, 1]), int(out[r, 2]), steps[r * n_tiles:(r + 1) * n_tiles],
                 read_steps[r * n_tiles:(r + 1) * n_tiles]) for r in range(n_rep)]

    set_num_threads = staticmethod(threads.set_num_threads)
    get_num_threads = staticmethod(threads.get_num_threads)
