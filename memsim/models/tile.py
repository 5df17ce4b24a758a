"""The crossbar tile: an ``out x in`` array of devices on a backend, read by VMMs, trained by pulses.

Conventions (docs/design.md, section 'Definitions'): ``Tile(rows=out, cols=in)``, ``y = W x``; an update requests
``Delta W[j, i] = -lr * d[j] * x[i]`` with ``d = dL/dy``; weights are dimensionless device weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import Backend, TileStatistics, get_backend
from ..backends.base import (cell_parameter_views, expand_cell_parameters, pack_cell_parameters, sequential_forward,
                             sequential_outer_sum)
from ..physics.devices import PulsedDevice
from .. import rng
from ..params import check_bool, check_float, check_int, invalid
from ..physics.periphery import Periphery, quantize
from ..physics.updates import StochasticRounding, UpdateRule

__all__ = ["Tile", "PER_CELL_COUNTERS_MAX"]

#: Largest tile (in cells) that keeps per-cell pulse and truncation counters over its whole life
#: (4 int64 arrays: 32 bytes per cell); a larger tile keeps per-row totals (:class:`TileStatistics`)
#: and reports per-tile totals. 2**20 cells: a 1024 x 1024 tile, 32 MiB of counters.
PER_CELL_COUNTERS_MAX = 2 ** 20


class Tile:
    """An analog crossbar tile trained in place.

    Parameters
    ----------
    rows, cols : int
        Output and input size (``W`` has shape ``(rows, cols)``).
    device : PulsedDevice
        Device model of every cell (per-cell parameters are drawn from it once, from ``seed``).
    update : UpdateRule, optional
        Pulse-count rule; default :class:`~memsim.physics.updates.StochasticRounding`.
    periphery : Periphery, optional
        DAC/ADC and read noise of ``forward`` and ``backward`` (:mod:`memsim.physics.periphery`); default:
        none (exact VMMs).
    backend : str or Backend
        ``"numba"`` (default), ``"numpy"`` (the reference), ``"cupy"`` (NVIDIA GPU) or ``"auto"``.
    dtype : {"float32", "float64"}
        Storage dtype of the weights; update arithmetic is float64.
    seed : int
        Run seed in ``[0, 2**64)``: the Philox key of all of this tile's noise.
    zero_shift : bool
        Program a per-cell reference at each cell's symmetry point ``w_s`` (docs/theory.md, section
        '2d. Up/down asymmetry, device-to-device variation, zero-shifting'): the tile's effective weight
        is ``w - w_s`` (the reference's current is subtracted from every read), so the device's pull
        acts towards 0 instead of towards a random reference vector. ``weights``, ``program`` and
        ``statistics`` then speak effective weights.

    Notes
    -----
    Every programming event (one sample of a per-sample batch, or one accumulated batch) gets the
    next value of :attr:`step`; a cell's random numbers depend only on (seed, step, stream, cell,
    pulse), so results do not depend on thread count or backend.
    """

    def __init__(self, rows: int, cols: int, device: PulsedDevice, update: UpdateRule | None = None,
                 periphery: Any = None, backend: str | Backend = "numba", dtype="float64", seed: int = 0,
                 zero_shift: bool = False):
        self.rows = check_int("Tile", "rows", rows, 1)
        self.cols = check_int("Tile", "cols", cols, 1)
        if not isinstance(device, PulsedDevice):
            raise invalid("Tile", "device", "a PulsedDevice instance (memsim.physics.devices)", device)
        self.update_rule = StochasticRounding() if update is None else update
        if not isinstance(self.update_rule, UpdateRule):
            raise invalid("Tile", "update", "an UpdateRule instance (memsim.physics.updates)", update)
        self.periphery = Periphery() if periphery is None else periphery
        if not isinstance(self.periphery, Periphery):
            raise invalid("Tile", "periphery", "a Periphery instance (memsim.physics.periphery) or None", periphery)
        self.read_step = 0
        self.seed = check_int("Tile", "seed", seed, 0, 2 ** 64 - 1)
        self.device = device
        self.backend = get_backend(backend, dtype)
        self.step = 0
        self.recording = False
        self.recorded_events = 0
        self.events_total = 0  # programming events since the statistics were last reset
        self.zero_shift = check_bool("Tile", "zero_shift", zero_shift)
        # each parameter once, or per cell where it varies (d2d spread, faults), packed in one buffer
        packed = pack_cell_parameters(device.sample_cell_parameters(self.rows, self.cols, self.seed, compact=True))
        params = cell_parameter_views(packed, self.rows, self.cols)  # (1, 1) or (rows, cols) views, no copies
        self._cell_params = self.backend.cell_parameter_array(packed, self.rows, self.cols)
        self._host_packed = packed  # the host copy (the backend's own where it keeps the host's)
        self._uniform_params = all(p.size == 1 for p in params)  # no d2d spread, no faults
        names = device.all_cell_parameters
        self._w_min, self._w_max = params[names.index("w_min")], params[names.index("w_max")]  # host, broadcastable
        stuck = params[names.index("stuck")] != 0.0
        self._stuck = stuck if stuck.any() else None  # the fault mask, only with a stuck cell
        self._reference = None  # the zero reference, only with zero-shifting
        if self.zero_shift:
            ref = device.cell_symmetry_points(dict(zip(names, params)))
            self._reference = np.array(np.broadcast_to(ref, (self.rows, self.cols)), dtype=np.float64, order="C")
        initial = np.clip(self._reference if self.zero_shift else 0.0, self._w_min, self._w_max)
        if device.stuck_at != "initial" and self._stuck is not None:
            initial = np.where(self._stuck, self._w_min if device.stuck_at == "w_min" else self._w_max, initial)
        self._weights = self.backend.asarray(  # a writable array of the weight dtype (no float64 copy first)
            np.array(np.broadcast_to(initial, (self.rows, self.cols)), dtype=self.backend.dtype, order="C"))
        self._stats = self._new_statistics()

    # ------------------------------------------------------------------ state
    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of the weights."""
        return self.backend.dtype

    @property
    def weights(self) -> np.ndarray:
        """A NumPy copy of the present (effective) weights, shape ``(rows, cols)``."""
        w = self.backend.to_numpy(self._weights)
        return w - self.reference if self.zero_shift else w

    @property
    def device_weights(self) -> np.ndarray:
        """The devices' own states (equal to ``weights`` without zero-shifting)."""
        return self.backend.to_numpy(self._weights)

    @property
    def reference(self) -> np.ndarray:
        """The per-cell zero reference ``w_s`` (zeros without zero-shifting; only then is it held)."""
        return self._reference if self._reference is not None else np.zeros((self.rows, self.cols))

    @property
    def cell_parameters(self) -> dict[str, np.ndarray]:
        """Per-cell device parameters (after device-to-device variation), as NumPy arrays of shape
        ``(rows, cols)`` (expanded here where the tile holds one value for every cell)."""
        expanded = expand_cell_parameters(self._host_packed, self.rows, self.cols)  # a new array: writable
        return dict(zip(self.device.all_cell_parameters, expanded))

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this tile holds: weights, cell parameters, statistics, and the zero
        reference and fault mask where it has them (each buffer counted once)."""
        held = self._cell_params if isinstance(self._cell_params, tuple) else (self._cell_params,)
        arrays = [self._weights, *held, *self._host_packed, self._w_min, self._w_max, self._reference, self._stuck,
                  self._stats.n_up, self._stats.n_down, self._stats.sum_abs_grad, self._stats.sum_abs_grad_w,
                  self._stats.sum_w, self._stats.pending_up, self._stats.pending_down, self._stats.events_truncated,
                  self._stats.pulses_lost]
        buffers: dict[int, int] = {}
        for a in arrays:
            if a is None:
                continue
            base = a
            while getattr(base, "base", None) is not None and hasattr(base.base, "nbytes"):
                base = base.base  # a view: count the array that owns the memory
            buffers[id(base)] = int(base.nbytes)
        return sum(buffers.values())

    def program(self, w) -> None:
        """Set the weights (ideal programming, clipped to each cell's bounds; stuck cells stay put).

        ``w``: a real scalar (every cell) or an array of exactly ``(rows, cols)``; other shapes are refused
        rather than broadcast, complex values rather than cut to their real part.

        Parameters
        ----------
        w : float or array_like
            A real scalar (every cell) or an array of exactly ``(rows, cols)``.
        """
        if np.iscomplexobj(w):
            raise invalid("Tile.program", "w", "real numbers", "a complex array")
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 0 and w.shape != (self.rows, self.cols):
            raise invalid("Tile.program", "w", f"a scalar or an array of shape ({self.rows}, {self.cols})",
                          f"shape {w.shape}")
        w = np.broadcast_to(w, (self.rows, self.cols))
        if not np.all(np.isfinite(w)):
            raise invalid("Tile.program", "w", "finite numbers", "an array with non-finite values")
        new = np.clip(w + (self._reference if self.zero_shift else 0.0), self._w_min, self._w_max)
        if self._stuck is not None:
            new = np.where(self._stuck, self.device_weights, new)
        self._weights = self.backend.asarray(new)

    # ------------------------------------------------------------------ reads
    def _batch(self, name: str, v, size: int) -> tuple[np.ndarray, bool]:
        if np.iscomplexobj(v):
            raise invalid("Tile", name, "real numbers", "a complex array")
        v = np.asarray(v, dtype=np.float64)
        single = v.ndim == 1
        v2 = v[None, :] if single else v
        if v2.ndim != 2 or v2.shape[1] != size:
            raise invalid("Tile", name, f"an array of shape ({size},) or (batch, {size})", f"shape {v.shape}")
        if not np.all(np.isfinite(v2)):
            raise invalid("Tile", name, "finite numbers", "an array with non-finite values")
        return np.ascontiguousarray(v2), single

    def exact_forward(self, X) -> np.ndarray:
        """Ideal read ``X W_eff^T`` as sequential float64 dot products (what fused training computes):
        ``w x`` minus, with zero-shifting, the reference's ``r x``.

        Parameters
        ----------
        X : array_like
            Inputs, shape (batch, cols).

        Returns
        -------
        numpy.ndarray
            The ideal outputs, shape (batch, rows).
        """
        X = np.asarray(X, dtype=np.float64)
        y = sequential_forward(self.device_weights, X)
        return y - sequential_forward(self.reference, X) if self.zero_shift else y

    def forward(self, x):
        """``y = W x`` for ``x`` of shape ``(cols,)`` or ``(batch, cols)``, through the periphery.

        Parameters
        ----------
        x : array_like
            Inputs, shape (cols,) or (batch, cols).

        Returns
        -------
        numpy.ndarray
            The outputs, shape (rows,) or (batch, rows).
        """
        xb, single = self._batch("x", x, self.cols)
        y = self._read(xb, transpose=False)
        return y[0] if single else y

    def backward(self, d):
        """``W^T d`` for ``d`` of shape ``(rows,)`` or ``(batch, rows)``, through the periphery
        when ``periphery.backward``.

        Parameters
        ----------
        d : array_like
            Output gradients, shape (rows,) or (batch, rows).

        Returns
        -------
        numpy.ndarray
            ``W^T d``, shape (cols,) or (batch, cols).
        """
        db, single = self._batch("d", d, self.rows)
        z = self._read(db, transpose=True)
        return z[0] if single else z

    def _read(self, v: np.ndarray, transpose: bool) -> np.ndarray:
        """One read (module :mod:`memsim.physics.periphery`); the exact VMM when the periphery is off.

        Every dot product is summed in float64 in index order (``Backend.sequential_mvm``), as the
        fused training kernels sum it, so both training paths agree bit for bit. With zero-shifting the
        reference's current (the same input, after the DAC) is subtracted before the ADC.
        """
        be, p = self.backend, self.periphery
        w = self._weights
        if not p.active or (transpose and not p.backward):
            out = be.to_numpy(be.sequential_mvm(weights=w, v=be.asarray(v, dtype=np.float64), transpose=transpose))
            if self.zero_shift:
                out = out - be.to_numpy(be.sequential_mvm(weights=be.asarray(self.reference, dtype=np.float64),
                                                          v=be.asarray(v, dtype=np.float64), transpose=transpose))
            return out
        step = self.read_step
        self.read_step += 1
        xp = be.xp
        v = quantize(be.asarray(v, dtype=np.float64), p.dac, xp)
        w64 = be.asarray(w, dtype=np.float64)
        if p.weight_noise > 0:
            noise = be.normals(shape=(v.shape[0], self.rows, self.cols), seed=self.seed, step=step,
                               stream=rng.STREAM_WEIGHT_READ)
            noisy = w64[None, :, :] * (1.0 + p.weight_noise * noise)
            out = xp.zeros((v.shape[0], self.cols if transpose else self.rows), dtype=np.float64)
            if transpose:  # summed over j in order
                for j in range(self.rows):
                    out += noisy[:, j, :] * v[:, j:j + 1]
            else:  # summed over i in order
                for i in range(self.cols):
                    out += noisy[:, :, i] * v[:, i:i + 1]
        else:
            out = be.asarray(be.sequential_mvm(weights=w64, v=v, transpose=transpose), dtype=np.float64)
        if p.output_noise > 0:
            out = out + p.output_noise * be.normals(shape=out.shape, seed=self.seed, step=step,
                                                    stream=rng.STREAM_READ)
        out = be.to_numpy(out)
        if self.zero_shift:
            out = out - be.to_numpy(be.sequential_mvm(weights=be.asarray(self.reference, dtype=np.float64), v=v,
                                                      transpose=transpose))
        return be.to_numpy(quantize(be.asarray(out, dtype=np.float64), p.adc, xp))

    # ------------------------------------------------------------------ writes
    def update(self, x, d, lr: float, accumulate: bool = False) -> None:
        """Program the update ``Delta W = -lr * d x^T`` in place.

        Parameters
        ----------
        x : array_like, shape (cols,) or (batch, cols)
            Inputs, one row per sample.
        d : array_like, shape (rows,) or (batch, rows)
            ``dL/dy`` per sample.
        lr : float
            Per-sample learning rate (>= 0).
        accumulate : bool
            ``False`` (hardware-faithful default): the samples are programmed one after the other
            as rank-1 outer products, one programming event each. ``True``: the batch gradient
            ``sum_b d_b x_b^T`` is summed digitally and programmed as one event.
        """
        xb, _ = self._batch("x", x, self.cols)
        db, _ = self._batch("d", d, self.rows)
        if xb.shape[0] != db.shape[0]:
            raise invalid("Tile.update", "d", f"a batch of {xb.shape[0]} rows like x", f"{db.shape[0]} rows")
        lr = check_float("Tile.update", "lr", lr, 0.0)
        check_bool("Tile.update", "accumulate", accumulate)
        if accumulate and self.update_rule.kind == "pulse_coincidence":
            raise invalid("Tile.update", "accumulate", "False with the 'pulse_coincidence' rule (its bit "
                          "streams program rank-1 outer products only)", accumulate)
        stats = self._ensure_statistics() if self.recording else self._stats
        common = dict(device=self.device, rule=self.update_rule, weights=self._weights,
                      cell_params=self._cell_params, lr=lr, step=self.step, seed=self.seed,
                      record=self.recording, stats=stats, uniform_params=self._uniform_params)
        if accumulate:
            grad = sequential_outer_sum(db, xb)  # summed in sample order: reproducible everywhere
            self.backend.pulse_update_dense(grad=self.backend.asarray(grad, dtype=np.float64), **common)
            events = 1
        else:
            self.backend.pulse_update(x=self.backend.asarray(xb, dtype=np.float64),
                                      d=self.backend.asarray(db, dtype=np.float64), **common)
            events = xb.shape[0]
        self.step += events
        self.events_total += events
        if self.recording:
            self.recorded_events += events

    def train_linear_epochs(self, X, Y, order, lrs, batch_size: int = 1, accumulate: bool = False,
                            record_from: int = -1) -> None:
        """Train this tile as a linear model for whole epochs (see ``Backend.train_linear_epochs``).

        Equivalent, bit for bit, to looping over the batches of ``order``: ``d = W x - y`` by
        :func:`~memsim.backends.base.sequential_forward` (with zero-shifting
        ``d = w x - (y + r x)``), then :meth:`update`; recording switches on
        at the first batch whose event index (counted from this call) reaches ``record_from``.

        Parameters
        ----------
        X : array_like
            Inputs, shape (n, cols).
        Y : array_like
            Targets, shape (n, rows) (or (n,) for one output).
        order : array_like of int
            The data order, shape (epochs, n): one permutation per epoch.
        lrs : array_like
            The per-sample learning rate of every epoch, shape (epochs,).
        batch_size : int
            Samples per batch.
        accumulate : bool
            One programming event per batch with the summed gradient (else one per sample).
        record_from : int
            Event index (counted from this call) at which recording starts; -1: never.
        """
        if accumulate and self.update_rule.kind == "pulse_coincidence":
            raise invalid("Tile.train_linear_epochs", "accumulate", "False with the 'pulse_coincidence' rule",
                          accumulate)
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if self.zero_shift:  # d = w x - (y + r x): the reference current, subtracted
            Y = Y + sequential_forward(self.reference, X)
        order = np.asarray(order)
        if order.ndim == 2 and int(batch_size) >= 1 and 0 <= int(record_from) < order.shape[0] * (
                -(-order.shape[1] // int(batch_size)) if accumulate else order.shape[1]):
            self._ensure_statistics()  # the window opens in this call
        events, recorded = self.backend.train_linear_epochs(
            device=self.device, rule=self.update_rule, weights=self._weights, cell_params=self._cell_params,
            X=X, Y=Y, order=order,
            lrs=np.asarray(lrs, dtype=np.float64), batch_size=int(batch_size), accumulate=bool(accumulate),
            step=self.step, seed=self.seed, record_from=int(record_from), stats=self._stats)
        self.step += events
        self.events_total += events
        self.recorded_events += recorded
        if recorded:
            self.recording = True

    # ------------------------------------------------------------------ statistics
    def start_recording(self) -> None:
        """Open the averaging window: from now on every update adds to the recorded sums (allocated
        now, the first time since the last :meth:`reset_statistics`)."""
        self._ensure_statistics()
        self.recording = True

    def stop_recording(self) -> None:
        """Close the averaging window (the sums are kept)."""
        self.recording = False

    def reset_statistics(self) -> None:
        """Zero the recorded sums, the event counts and the pulse and truncation counters (the sums'
        memory is given back unless the window is open)."""
        self._stats = self._new_statistics()
        if self.recording:
            self._ensure_statistics()
        self.recorded_events = 0
        self.events_total = 0

    def _new_statistics(self) -> TileStatistics:
        """Zero counters, per cell up to ``PER_CELL_COUNTERS_MAX`` cells (or where the backend cannot
        count per row), else per row; the window sums not yet allocated."""
        per_cell = self.rows * self.cols <= PER_CELL_COUNTERS_MAX or not self.backend.row_counters
        return TileStatistics.zeros(self.backend, self.rows, self.cols, per_cell=per_cell, window=False)

    def _ensure_statistics(self) -> TileStatistics:
        """The statistics object, with its per-cell window sums allocated (zeros) if they were not.

        Internal: a caller that hands ``_stats`` to a kernel which may open the averaging window
        (the fused training paths) calls this first.
        """
        self._stats.open_window(self.backend.xp, self.rows, self.cols)
        return self._stats

    def statistics(self) -> dict[str, Any]:
        """Recorded per-weight statistics as NumPy arrays.

        Returns
        -------
        dict
            ``events`` (programming events in the window), ``pulses_up``, ``pulses_down`` (all
            updates), ``sum_abs_grad``, ``sum_abs_grad_w``, ``sum_w`` (window sums) and, when
            ``events > 0``, the means ``mean_abs_grad`` (``E|g|``), ``mean_abs_grad_w``
            (``E[|g| w]``) and ``weights_mean``. Always, counted on every update since the last
            :meth:`reset_statistics` (not only in the window), int64 per cell:
            ``events_truncated`` (programming events that requested more than the rule's
            ``max_pulses`` pulses and applied ``max_pulses``) and ``pulses_lost`` (the sum of their
            requested minus applied pulses; a request counts at most ``2**53`` pulses, and the sum
            saturates at the int64 maximum); plus the scalars ``events_total`` (programming events
            over the same span; each is one event of every cell) and ``max_pulses`` (the cap), which
            :func:`memsim.analysis.penalty.truncation_warning` reads.

            A tile of more than ``PER_CELL_COUNTERS_MAX`` cells keeps no per-cell pulse and truncation
            counters (they would cost 32 bytes per cell): its ``pulses_up``, ``pulses_down``,
            ``events_truncated`` and ``pulses_lost`` are the tile's totals as 0-d int64 arrays
            (their sums are the same), and ``events_total`` is given per cell (a read-only
            broadcast array, as a layer assembles it), so that the cell events of
            ``truncation_warning`` stay right. The window sums are zeros until the window first opens.
        """
        s = self._stats
        s.settle()
        be = self.backend
        if s.per_cell:
            counts = {"pulses_up": be.to_numpy(s.n_up), "pulses_down": be.to_numpy(s.n_down),
                      "events_truncated": be.to_numpy(s.events_truncated), "pulses_lost": be.to_numpy(s.pulses_lost)}
        else:
            counts = {key: np.array(value, dtype=np.int64) for key, value in s.totals().items()}

        def window(a):
            return be.to_numpy(a) if s.window else np.zeros((self.rows, self.cols))

        out: dict[str, Any] = {
            "events": self.recorded_events,
            "pulses_up": counts["pulses_up"],
            "pulses_down": counts["pulses_down"],
            "sum_abs_grad": window(s.sum_abs_grad),
            "sum_abs_grad_w": window(s.sum_abs_grad_w),
            "sum_w": window(s.sum_w),
            "events_truncated": counts["events_truncated"],
            "pulses_lost": counts["pulses_lost"],
            "events_total": self.events_total if s.per_cell else  # per cell beside per-tile totals
            np.broadcast_to(np.int64(self.events_total), (self.rows, self.cols)),
            "max_pulses": int(self.update_rule.max_pulses),
        }
        if self.zero_shift:  # effective coordinates w - r
            r = self.reference
            out["sum_abs_grad_w"] = out["sum_abs_grad_w"] - r * out["sum_abs_grad"]
            out["sum_w"] = out["sum_w"] - self.recorded_events * r
        if self.recorded_events:
            n = float(self.recorded_events)
            out["mean_abs_grad"] = out["sum_abs_grad"] / n
            out["mean_abs_grad_w"] = out["sum_abs_grad_w"] / n
            out["weights_mean"] = out["sum_w"] / n
        return out

    def __repr__(self) -> str:
        return (f"Tile({self.rows}x{self.cols}, device={self.device.kind}, update={self.update_rule.kind}, "
                f"backend={self.backend.name}, dtype={self.dtype.name}, seed={self.seed})")
