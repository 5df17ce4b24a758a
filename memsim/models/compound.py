r"""A compound (residual-learning) tile: a fast array ``A`` and a slow array ``C`` built from :class:`Tile` s.

:class:`CompoundTile` runs a scheme of :mod:`memsim.physics.schemes` (Tiki-Taka, TTv2, c-TTv2, AGAD,
mixed precision) by COMPOSING ordinary tiles and digital NumPy state (buffers, choppers, the
mixed-precision accumulator); every analog operation is a public :class:`Tile` operation, so the
NumPy reference and the compiled backends agree whenever the tiles do. The model weight is
:math:`W = \gamma (A - r) + C` (module docstring of :mod:`memsim.physics.schemes`).

Seeds: ``C`` uses :func:`array_seed` ``(seed, 1)``, ``A`` ``array_seed(seed, 0)``, the digital
random numbers (choppers, noisy transfer reads) ``array_seed(seed, 2)`` and an offset reference
``array_seed(seed, 3)``: every array has its own Philox streams.

Recording: while the averaging window is open every programming event (one sample, or one
accumulated batch) is processed on its own, and the compound keeps its own sums over events: the
model weight after the event (``weights_mean``), ``|g|`` (``mean_abs_grad``), ``|g| W`` before the
event (``mean_abs_grad_w``), A's effective weight ``A - r`` and ``|A - r|`` after the event, and the
magnitude ``|Delta_C|`` of every write to ``C`` (per event: ``slow_mean_abs_delta``). Outside the
window, events between two transfers are written in one call (identical results).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backends.base import sequential_forward, sequential_outer_sum
from ..params import check_bool, check_float, check_int, invalid
from ..physics.devices import PulsedDevice
from ..physics.periphery import quantize
from ..physics.schemes import (BufferedTransfer, ChoppedTransfer, DynamicTransfer, MixedPrecision, Scheme,
                               TikiTaka)
from ..physics.updates import Deterministic, StochasticRounding
from .tile import Tile

__all__ = ["CompoundTile", "array_seed"]


def array_seed(seed: int, index: int) -> int:
    """Philox key of array ``index`` of a compound tile with seed ``seed``.

    Parameters
    ----------
    seed : int
        The compound tile's seed.
    index : int
        0: ``A``, 1: ``C``, 2: the digital random numbers, 3: an offset reference.

    Returns
    -------
    int
        ``SeedSequence(seed, spawn_key=(0xC0, index))``, first 64-bit word.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(0xC0, int(index)))
    return int(ss.generate_state(1, dtype=np.uint64)[0])


class CompoundTile:
    """A fast array ``A`` and a slow array ``C`` trained by a compound scheme (module docstring).

    Parameters
    ----------
    rows : int
        Output size.
    cols : int
        Input size.
    device : PulsedDevice
        Device of ``C`` (the run's device).
    scheme : memsim.physics.schemes.Scheme
        The compound scheme.
    update : UpdateRule or None
        Rule of every gradient write (and of TTv1's transfer writes unless the scheme sets
        ``transfer_update``); default stochastic rounding.
    periphery : Periphery or None
        Periphery of every read (as for :class:`~memsim.models.tile.Tile`).
    backend : str or Backend
        As for :class:`~memsim.models.tile.Tile`.
    dtype : str
        Storage dtype of the weights.
    seed : int
        Seed of the compound (each array's key: :func:`array_seed`).
    zero_shift : bool
        Reference ``C``'s cells at their symmetry points (``Tile(zero_shift=True)``).
    """

    def __init__(self, rows: int, cols: int, device: PulsedDevice, scheme: Scheme, update=None, periphery=None,
                 backend="numba", dtype="float64", seed: int = 0, zero_shift: bool = False):
        if not isinstance(scheme, Scheme):
            raise invalid("CompoundTile", "scheme", "a Scheme instance (memsim.physics.schemes)", scheme)
        self.scheme = scheme
        self.seed = check_int("CompoundTile", "seed", seed, 0, 2 ** 64 - 1)
        rule = StochasticRounding() if update is None else update
        self.update_rule = rule
        self.transfer = not isinstance(scheme, MixedPrecision)
        if isinstance(scheme, MixedPrecision):
            slow_rule = Deterministic(max_pulses=rule.max_pulses)
        elif isinstance(scheme, TikiTaka):
            slow_rule = scheme.transfer_update if scheme.transfer_update is not None else rule
        else:
            slow_rule = Deterministic(max_pulses=scheme.transfer_desired_bl)
        self.slow = Tile(rows, cols, device, slow_rule, periphery, backend, dtype, array_seed(self.seed, 1),
                         zero_shift)
        self.rows, self.cols = self.slow.rows, self.slow.cols
        self._rng = np.random.Generator(np.random.Philox(array_seed(self.seed, 2)))
        self._dw_slow = float(device.dw_min)
        shape = (self.rows, self.cols)
        self.fast: Tile | None = None
        self.reference = np.zeros(shape)
        if self.transfer:
            fast_device = scheme.fast_device if scheme.fast_device is not None else device
            self.fast = Tile(rows, cols, fast_device, rule, periphery, backend, dtype, array_seed(self.seed, 0))
            if scheme.reference == "symmetry":
                self.reference = np.asarray(fast_device.cell_symmetry_points(self.fast.cell_parameters), float)
            elif scheme.reference == "offset":
                g = np.random.Generator(np.random.Philox(array_seed(self.seed, 3)))
                self.reference = scheme.reference_mean + scheme.reference_std * g.standard_normal(shape)
            self.fast.program(self.reference)
            self.n_lines = self.cols if scheme.transfer_columns else self.rows
            self.in_chop = np.ones(self.cols)
            self.out_chop = np.ones(self.rows)
        self.step = 0
        self.events_total = 0
        self.recording = False
        self._acc = 0.0  # units since the last transfer
        self._next = 0  # next line to transfer
        self.sweeps = 0  # completed sweeps over the lines
        self.transfer_reads = 0
        self.transfer_writes = 0
        self._reset_buffers()
        self._zero_sums()

    # ------------------------------------------------------------------ state
    def _reset_buffers(self) -> None:
        shape = (self.rows, self.cols)
        self.buffer = np.zeros(shape)  # H (TTv2 family) or chi (mixed precision)
        self.running_mean = np.zeros(shape)
        self.past_mean = np.zeros(shape)
        self.switched = np.zeros(self.cols, dtype=bool)

    def _zero_sums(self) -> None:
        shape = (self.rows, self.cols)
        self.recorded_events = 0
        self._sums = {k: np.zeros(shape) for k in ("sum_w", "sum_abs_grad", "sum_abs_grad_w", "sum_fast",
                                                    "sum_abs_fast", "sum_slow", "sum_abs_delta_slow")}
        self._reads_rec = 0
        self._writes_rec = 0

    @property
    def device(self) -> PulsedDevice:
        """Device of ``C``."""
        return self.slow.device

    @property
    def backend(self):
        """The tiles' backend object."""
        return self.slow.backend

    @property
    def periphery(self):
        """The tiles' periphery."""
        return self.slow.periphery

    @property
    def zero_shift(self) -> bool:
        """Whether ``C`` is referenced at its cells' symmetry points."""
        return self.slow.zero_shift

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of the weights."""
        return self.slow.dtype

    @property
    def cell_parameters(self) -> dict[str, np.ndarray]:
        """Per-cell parameters of ``C`` (the run's device)."""
        return self.slow.cell_parameters

    @property
    def fast_effective(self) -> np.ndarray:
        """``A - r`` (zeros for mixed precision)."""
        return self.fast.weights - self.reference if self.fast is not None else np.zeros((self.rows, self.cols))

    @property
    def weights(self) -> np.ndarray:
        """The model weight ``gamma * (A - r) + C`` (NumPy copy)."""
        w = self.slow.weights
        gamma = getattr(self.scheme, "gamma", 0.0)
        return w + gamma * self.fast_effective if gamma != 0.0 else w

    def program(self, w) -> None:
        """Program ``C`` to ``w``, ``A`` to its reference (``A - r = 0`` up to clipping); empty the buffers.

        Parameters
        ----------
        w : float or numpy.ndarray
            A scalar or an array of shape ``(rows, cols)`` (:meth:`Tile.program`).
        """
        self.slow.program(w)
        if self.fast is not None:
            self.fast.program(self.reference)
        self._reset_buffers()

    # ------------------------------------------------------------------ reads
    def forward(self, x):
        """``W x`` through the periphery (``C``'s read plus, with ``gamma``, A's read minus the reference).

        Parameters
        ----------
        x : numpy.ndarray
            Shape ``(cols,)`` or ``(batch, cols)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(rows,)`` or ``(batch, rows)``.
        """
        y = self.slow.forward(x)
        gamma = getattr(self.scheme, "gamma", 0.0)
        if gamma != 0.0:
            y = y + gamma * (self.fast.forward(x) - np.asarray(x, dtype=np.float64) @ self.reference.T)
        return y

    def backward(self, d):
        """``W^T d`` through the periphery.

        Parameters
        ----------
        d : numpy.ndarray
            Shape ``(rows,)`` or ``(batch, rows)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(cols,)`` or ``(batch, cols)``.
        """
        z = self.slow.backward(d)
        gamma = getattr(self.scheme, "gamma", 0.0)
        if gamma != 0.0:
            z = z + gamma * (self.fast.backward(d) - np.asarray(d, dtype=np.float64) @ self.reference)
        return z

    def exact_forward(self, X) -> np.ndarray:
        """Ideal read ``X W^T`` (sequential float64 dot products).

        Parameters
        ----------
        X : numpy.ndarray
            Shape ``(batch, cols)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(batch, rows)``.
        """
        return sequential_forward(self.weights, np.asarray(X, dtype=np.float64))

    # ------------------------------------------------------------------ writes
    def _check(self, name: str, v, size: int) -> np.ndarray:
        if np.iscomplexobj(v):
            raise invalid("CompoundTile", name, "real numbers", "a complex array")
        v = np.asarray(v, dtype=np.float64)
        v2 = v[None, :] if v.ndim == 1 else v
        if v2.ndim != 2 or v2.shape[1] != size:
            raise invalid("CompoundTile", name, f"an array of shape ({size},) or (batch, {size})", f"shape {v.shape}")
        if not np.all(np.isfinite(v2)):
            raise invalid("CompoundTile", name, "finite numbers", "an array with non-finite values")
        return np.ascontiguousarray(v2)

    def update(self, x, d, lr: float, accumulate: bool = False) -> None:
        """One mini-batch of the scheme: the gradient writes, then every transfer that falls due.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs, shape ``(cols,)`` or ``(batch, cols)``.
        d : numpy.ndarray
            ``dL/dy`` per sample, shape ``(rows,)`` or ``(batch, rows)``.
        lr : float
            The run's per-sample learning rate (>= 0).
        accumulate : bool
            Program the summed batch gradient as one event (as :meth:`Tile.update`).
        """
        xb, db = self._check("x", x, self.cols), self._check("d", d, self.rows)
        if xb.shape[0] != db.shape[0]:
            raise invalid("CompoundTile.update", "d", f"a batch of {xb.shape[0]} rows like x", f"{db.shape[0]} rows")
        lr = check_float("CompoundTile.update", "lr", lr, 0.0)
        check_bool("CompoundTile.update", "accumulate", accumulate)
        if accumulate and self.update_rule.kind == "pulse_coincidence":
            raise invalid("CompoundTile.update", "accumulate", "False with the 'pulse_coincidence' rule", accumulate)
        B = xb.shape[0]
        period = self.scheme.transfer_every
        if accumulate:
            self._events(xb, db, lr, True, 1)
        elif self.transfer and self.scheme.units_in_mbatch:
            if self.recording:
                for b in range(B):
                    self._events(xb[b:b + 1], db[b:b + 1], lr, False, int(b == B - 1))
            else:
                self._events(xb, db, lr, False, 1)
        else:
            s = 0
            while s < B:
                k = 1 if self.recording else min(max(math.ceil(period - self._acc), 1), B - s)
                self._events(xb[s:s + k], db[s:s + k], lr, False, k)
                s += k

    def _events(self, X: np.ndarray, D: np.ndarray, lr: float, accumulate: bool, units: int) -> None:
        """Gradient writes of ``X``, ``D`` (no transfer falls inside), then ``units`` counted and transfers run."""
        rec = self.recording
        w0 = self.weights if rec else None
        if self.transfer:
            xc, dc = X * self.in_chop[None, :], D * self.out_chop[None, :]
            self.fast.update(xc, dc, self.scheme.fast_rate(lr), accumulate)
        elif accumulate:
            self.buffer -= lr * sequential_outer_sum(D, X)
        else:
            for d_b, x_b in zip(D, X):
                self.buffer -= lr * np.outer(d_b, x_b)
        events = 1 if accumulate else X.shape[0]
        self.step += events
        self.events_total += events
        self._acc += units
        while units and self._acc >= self.scheme.transfer_every:
            self._acc -= self.scheme.transfer_every
            self._transfer(lr)
        if rec:
            g = np.abs(sequential_outer_sum(D, X)) if accumulate else np.abs(D).T @ np.abs(X)
            s = self._sums
            s["sum_abs_grad"] += g
            s["sum_abs_grad_w"] += g * w0
            s["sum_w"] += self.weights  # events == 1 while recording
            s["sum_slow"] += self.slow.weights
            a = self.fast_effective
            s["sum_fast"] += a
            s["sum_abs_fast"] += np.abs(a)
            self.recorded_events += events

    # ------------------------------------------------------------------ transfers
    def _transfer(self, lr: float) -> None:
        if not self.transfer:
            self._transfer_mixed()
            return
        for _ in range(self.scheme.n_reads_per_transfer):
            k = self._next
            self._next = (k + 1) % self.n_lines
            self._transfer_line(k, lr)
            if self._next == 0:
                self.sweeps += 1
                sc = self.scheme
                if isinstance(sc, ChoppedTransfer) and sc.out_chop_prob > 0:
                    flip = self._rng.random(self.rows) < sc.out_chop_prob
                    self.out_chop = np.where(flip, -self.out_chop, self.out_chop)

    def _read_line(self, k: int) -> np.ndarray:
        """Raw read of column (row) ``k`` of ``A`` minus the reference: ``(A - r) e_k``."""
        sc = self.scheme
        sc_cols = sc.transfer_columns
        if sc.transfer_forward is None:
            if sc_cols:
                e = np.zeros(self.cols)
                e[k] = 1.0
                raw = self.fast.forward(e)
            else:
                e = np.zeros(self.rows)
                e[k] = 1.0
                raw = self.fast.backward(e)
        else:  # its own periphery, applied digitally to the one-hot read
            p = sc.transfer_forward
            w = self.fast.weights
            line = w[:, k] if sc_cols else w[k, :]
            scale = float(quantize(np.array([1.0]), p.dac)[0])
            if p.weight_noise > 0:
                line = line * (1.0 + p.weight_noise * self._rng.standard_normal(line.shape))
            raw = line * scale
            if p.output_noise > 0:
                raw = raw + p.output_noise * self._rng.standard_normal(raw.shape)
            raw = quantize(raw, p.adc)
        ref = self.reference[:, k] if sc_cols else self.reference[k, :]
        self.transfer_reads += 1
        if self.recording:
            self._reads_rec += 1
        return np.asarray(raw, dtype=np.float64) - ref

    def _write_slow_line(self, k: int, delta: np.ndarray, lr: float) -> None:
        """``C[:, k] += lr * delta`` (or row ``k``) as one pulsed rank-1 write."""
        if self.scheme.transfer_columns:
            e = np.zeros(self.cols)
            e[k] = 1.0
            self.slow.update(e, -delta, lr)
        else:
            e = np.zeros(self.rows)
            e[k] = 1.0
            self.slow.update(delta, -e, lr)
        self.transfer_writes += 1
        if self.recording:
            self._writes_rec += 1
            target = self._sums["sum_abs_delta_slow"]
            if self.scheme.transfer_columns:
                target[:, k] += np.abs(lr * delta)
            else:
                target[k, :] += np.abs(lr * delta)

    def _transfer_line(self, k: int, lr: float) -> None:
        sc = self.scheme
        v = self._read_line(k)
        tlr = sc.transfer_rate(lr)
        if isinstance(sc, TikiTaka):
            self._write_slow_line(k, v, tlr)
            return
        theta = sc.threshold(self._dw_slow)
        write = True
        if isinstance(sc, DynamicTransfer):
            P = sc.chop_period
            current = self.sweeps % P + 1
            beta = min(sc.tail_weightening / P, 1.0)
            if self.switched[k]:
                self.past_mean[:, k] = self.running_mean[:, k]
                self.switched[k] = False
            val = (v - self.past_mean[:, k]) * (self.in_chop[k] * self.out_chop)
            self.running_mean[:, k] = self.running_mean[:, k] * (1.0 - beta) + v * beta
            write = self.sweeps > P
            switch = current == P
            if sc.in_chop_random and self._rng.random() < sc.in_chop_prob:
                switch = True
        elif isinstance(sc, ChoppedTransfer):
            val = v * (self.in_chop[k] * self.out_chop)
            P = sc.chop_period
            if sc.in_chop_random:
                switch = sc.in_chop_prob > 0 and self._rng.random() < sc.in_chop_prob
            else:
                switch = P > 0 and (self.sweeps % P) == P - 1
        else:
            val, switch = v, False
        line = (self.buffer[:, k] if sc.transfer_columns else self.buffer[k, :]) + tlr * val
        n = np.trunc(line / theta)
        bl = sc.transfer_desired_bl
        applied = np.clip(n, -bl, bl)
        moved = n != 0
        if sc.forget_buffer:
            line = np.where(moved, sc.momentum * line, line)
        else:
            line = line - (1.0 - sc.momentum) * applied * theta
            cap = getattr(sc, "buffer_cap", 0.0)
            if cap > 0:
                line = np.clip(line, -cap * bl * theta, cap * bl * theta)
        if sc.transfer_columns:
            self.buffer[:, k] = line
        else:
            self.buffer[k, :] = line
        if write and moved.any():
            self._write_slow_line(k, n * self._dw_slow, 1.0)
        if switch:
            self.in_chop[k] = -self.in_chop[k]
            self.switched[k] = True

    def _transfer_mixed(self) -> None:
        sc = self.scheme
        eps = sc.epsilon(self._dw_slow)
        if sc.n_rows_per_transfer < 0 or sc.n_rows_per_transfer >= self.rows:
            rows = np.arange(self.rows)
        else:
            rows = (self._next + np.arange(sc.n_rows_per_transfer)) % self.rows
            self._next = int((rows[-1] + 1) % self.rows)
        chi = self.buffer[rows]
        n = np.trunc(chi / eps)
        self.buffer[rows] = chi - n * eps
        self.transfer_reads += 1
        if not np.any(n):
            return
        request = sc.transfer_lr * n * eps
        self.slow.update(-request, np.eye(self.rows)[rows], 1.0, accumulate=True)
        self.transfer_writes += 1
        if self.recording:
            self._writes_rec += 1
            self._sums["sum_abs_delta_slow"][rows] += np.abs(request)

    # ------------------------------------------------------------------ training shortcut
    def train_linear_epochs(self, X, Y, order, lrs, batch_size: int = 1, accumulate: bool = False,
                            record_from: int = -1) -> None:
        """Train as a linear model for whole epochs, batch by batch (``d = W x - y`` from the exact read).

        The same contract as :meth:`Tile.train_linear_epochs`, computed in Python through :meth:`update`.

        Parameters
        ----------
        X : numpy.ndarray
            Inputs, shape ``(n, cols)``.
        Y : numpy.ndarray
            Targets, shape ``(n, rows)`` or ``(n,)``.
        order : numpy.ndarray
            One permutation of ``range(n)`` per epoch.
        lrs : numpy.ndarray
            The learning rate of every epoch.
        batch_size : int
            Samples per mini-batch.
        accumulate : bool
            One programming event per batch.
        record_from : int
            Open the averaging window at the first batch whose event index reaches this (-1: never).
        """
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        done = 0
        for perm, lr in zip(np.atleast_2d(order), np.atleast_1d(lrs)):
            for s in range(0, len(perm), batch_size):
                idx = perm[s:s + batch_size]
                if 0 <= record_from <= done and not self.recording:
                    self.start_recording()
                D = sequential_forward(self.weights, X[idx]) - Y[idx]
                self.update(X[idx], D, float(lr), accumulate)
                done += 1 if accumulate else idx.size

    # ------------------------------------------------------------------ statistics
    @property
    def tiles(self) -> list[Tile]:
        """The analog arrays: ``[A, C]`` (``[C]`` for mixed precision)."""
        return [self.fast, self.slow] if self.fast is not None else [self.slow]

    def start_recording(self) -> None:
        """Open the averaging window (of the compound and of its arrays)."""
        self.recording = True
        for t in self.tiles:
            t.start_recording()

    def stop_recording(self) -> None:
        """Close the averaging window (the sums are kept)."""
        self.recording = False
        for t in self.tiles:
            t.stop_recording()

    def reset_statistics(self) -> None:
        """Zero the recorded sums and counters of the compound and of its arrays."""
        for t in self.tiles:
            t.reset_statistics()
        self._zero_sums()
        self.events_total = 0

    def statistics(self) -> dict[str, Any]:
        """Recorded statistics: the keys of :meth:`Tile.statistics` for the MODEL weight, plus the arrays'.

        Returns
        -------
        dict
            ``events`` (gradient events in the window), ``pulses_up``/``pulses_down``,
            ``events_truncated``/``pulses_lost`` (summed over ``A`` and ``C``: gradient and transfer
            writes alike), ``sum_*`` and ``mean_abs_grad`` (``E|g|``), ``mean_abs_grad_w``
            (``E[|g| W]``), ``weights_mean`` (``E[W]``), ``events_total``, ``max_pulses``; per array:
            ``fast_*`` (``A``: ``fast_weights_mean`` = ``E[A - r]``, ``fast_mean_abs_dev`` =
            ``E|A - r|``, ``fast_mean_abs_grad`` from A's own records, ``fast_pulses``,
            ``fast_events_truncated``), ``slow_*`` (``C``: ``slow_weights_mean``,
            ``slow_mean_abs_delta`` = ``E|Delta_C|`` per gradient event, ``slow_pulses``,
            ``slow_events_truncated``, ``slow_pulses_lost``), ``reference``, ``buffer`` (``H`` or
            ``chi``), ``buffer_occupancy`` (``|H| / threshold``), and the counts ``transfer_reads``,
            ``transfer_writes`` (whole run) and ``transfer_reads_recorded``, ``transfer_writes_recorded``.
        """
        slow = self.slow.statistics()
        fast = self.fast.statistics() if self.fast is not None else None
        parts = [slow] + ([fast] if fast is not None else [])
        out: dict[str, Any] = {
            "events": self.recorded_events,
            "pulses_up": sum(p["pulses_up"] for p in parts),
            "pulses_down": sum(p["pulses_down"] for p in parts),
            "events_truncated": sum(p["events_truncated"] for p in parts),
            "pulses_lost": sum(p["pulses_lost"] for p in parts),
            "events_total": self.events_total,
            "max_pulses": max(int(p["max_pulses"]) for p in parts),
            **{k: v.copy() for k, v in self._sums.items() if k in ("sum_w", "sum_abs_grad", "sum_abs_grad_w")},
            "slow_pulses": slow["pulses_up"] + slow["pulses_down"],
            "slow_events_truncated": slow["events_truncated"],
            "slow_pulses_lost": slow["pulses_lost"],
            "reference": self.reference.copy(),
            "buffer": self.buffer.copy(),
            "transfer_reads": self.transfer_reads,
            "transfer_writes": self.transfer_writes,
            "transfer_reads_recorded": self._reads_rec,
            "transfer_writes_recorded": self._writes_rec,
        }
        if isinstance(self.scheme, BufferedTransfer):
            out["buffer_occupancy"] = np.abs(self.buffer) / self.scheme.threshold(self._dw_slow)
        elif isinstance(self.scheme, MixedPrecision):
            out["buffer_occupancy"] = np.abs(self.buffer) / self.scheme.epsilon(self._dw_slow)
        if fast is not None:
            out["fast_pulses"] = fast["pulses_up"] + fast["pulses_down"]
            out["fast_events_truncated"] = fast["events_truncated"]
            if "mean_abs_grad" in fast:
                out["fast_mean_abs_grad"] = fast["mean_abs_grad"]
        if self.recorded_events:
            n = float(self.recorded_events)
            s = self._sums
            out["mean_abs_grad"] = s["sum_abs_grad"] / n
            out["mean_abs_grad_w"] = s["sum_abs_grad_w"] / n
            out["weights_mean"] = s["sum_w"] / n
            out["slow_weights_mean"] = s["sum_slow"] / n
            out["slow_mean_abs_delta"] = s["sum_abs_delta_slow"] / n
            if fast is not None:
                out["fast_weights_mean"] = s["sum_fast"] / n
                out["fast_mean_abs_dev"] = s["sum_abs_fast"] / n
        return out

    def __repr__(self) -> str:
        return (f"CompoundTile({self.rows}x{self.cols}, scheme={self.scheme.kind}, device={self.device.kind}, "
                f"update={self.update_rule.kind}, backend={self.backend.name}, seed={self.seed})")
