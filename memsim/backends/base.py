"""The backend interface every backend implements, and the per-tile arrays it works on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import invalid

__all__ = ["Backend", "TileStatistics", "cell_parameter_views", "expand_cell_parameters", "pack_cell_parameters",
           "sequential_forward", "sequential_outer_sum"]


#: Largest count an int32 pending pulse counter may reach.
INT32_MAX = int(np.iinfo(np.int32).max)


@dataclass
class TileStatistics:
    """Per-weight recording arrays of a tile, living on the tile's backend.

    ``n_up``/``n_down`` count pulses over the tile's whole life (since the last reset); the float
    sums cover only updates made while recording (the averaging window): ``sum_abs_grad`` = sum of
    ``|Delta|/lr = |g|``, ``sum_abs_grad_w`` = sum of ``|g| * w`` (``w`` read before the update),
    ``sum_w`` = sum of the weights after each update.

    ``events_truncated``/``pulses_lost`` (int64) are counted on every update, like the pulse counts
    (not only in the window): the programming events whose requested pulse count ``n`` exceeded
    the rule's ``max_pulses`` (they applied ``max_pulses``), and the sum of their
    ``n - max_pulses``. The request is bounded at ``2**53`` pulses
    (:func:`memsim.physics.pulse_law.pulse_magnitude`) and the sum saturates at the int64 maximum.
    The pulse-coincidence rule never truncates (its count is at most the bit length, and
    ``max_pulses`` does not apply to it).

    Layouts (what a kernel receives):

    * ``per_cell`` (default): the four counters have the tile's shape ``(rows, cols)``, one entry per
      cell. Otherwise (a large tile, to save memory) they have shape ``(rows, 1)``: per-row totals,
      which a kernel adds to at ``[j, 0]`` (the column index is ``min(i, counter.shape[1] - 1)``;
      for a one-column tile both layouts coincide).
    * ``window``: the three float sums have the tile's shape; before the averaging window is first
      opened (:meth:`open_window`) they are ``(1, 1)`` placeholders that no kernel touches (a kernel
      writes them only while recording).

    A kernel for which the memory traffic of the int64 pulse counters matters (the Numba
    pulse-coincidence kernel at batch 1) counts into int32 ``pending_up``/``pending_down``
    instead (:meth:`pending_counters`, per-cell layout only); they are added to the totals before
    they could overflow and whenever the totals are read (:meth:`settle`). ``pending_max`` bounds
    every pending entry.

    Parameters
    ----------
    n_up : array
        Up pulses per cell (or per row), int64.
    n_down : array
        Down pulses per cell (or per row), int64.
    sum_abs_grad : array
        Window sum of ``|Delta|/lr = |g|``, float64.
    sum_abs_grad_w : array
        Window sum of ``|g| * w`` (``w`` read before the update), float64.
    sum_w : array
        Window sum of the weights after each update, float64.
    pending_up : array or None
        Int32 pending up counts (:meth:`pending_counters`).
    pending_down : array or None
        Int32 pending down counts.
    pending_max : int
        Bound on every pending entry.
    events_truncated : array or None
        Events whose requested count exceeded ``max_pulses``, int64 (``None``: zeros).
    pulses_lost : array or None
        Sum of the truncated ``n - max_pulses``, int64 (``None``: zeros).
    window : bool
        Whether the window sums have the tile's shape (else ``(1, 1)`` placeholders).
    per_cell : bool
        Per-cell counters (else per-row).
    """

    n_up: Any
    n_down: Any
    sum_abs_grad: Any
    sum_abs_grad_w: Any
    sum_w: Any
    pending_up: Any = None
    pending_down: Any = None
    pending_max: int = 0
    events_truncated: Any = None
    pulses_lost: Any = None
    window: bool = True
    per_cell: bool = True

    def __post_init__(self) -> None:
        if self.events_truncated is None:
            self.events_truncated = np.zeros(np.shape(self.n_up), dtype=np.int64)
        if self.pulses_lost is None:
            self.pulses_lost = np.zeros(np.shape(self.n_up), dtype=np.int64)

    @classmethod
    def zeros(cls, backend: "Backend", rows: int, cols: int, per_cell: bool = True,
              window: bool = True) -> "TileStatistics":
        """Fresh zero arrays on ``backend``.

        Parameters
        ----------
        backend : Backend
            Where the arrays live.
        rows : int
            Rows of the tile.
        cols : int
            Columns of the tile.
        per_cell : bool
            Per-cell counters (else per-row totals, shape ``(rows, 1)``).
        window : bool
            Allocate the window sums now (else ``(1, 1)`` placeholders until :meth:`open_window`).

        Returns
        -------
        TileStatistics
            The zeroed statistics.
        """
        z = backend.xp.zeros
        counters = (rows, cols) if per_cell else (rows, 1)
        sums = (rows, cols) if window else (1, 1)
        return cls(z(counters, dtype=np.int64), z(counters, dtype=np.int64), z(sums, dtype=np.float64),
                   z(sums, dtype=np.float64), z(sums, dtype=np.float64), events_truncated=z(counters, dtype=np.int64),
                   pulses_lost=z(counters, dtype=np.int64), window=window, per_cell=per_cell)

    def open_window(self, xp, rows: int, cols: int) -> None:
        """Allocate the window sums (zeros of shape ``(rows, cols)``) unless they exist.

        Parameters
        ----------
        xp : module
            The backend's array namespace.
        rows : int
            Rows of the tile.
        cols : int
            Columns of the tile.
        """
        if not self.window:
            self.sum_abs_grad = xp.zeros((rows, cols), dtype=np.float64)
            self.sum_abs_grad_w = xp.zeros((rows, cols), dtype=np.float64)
            self.sum_w = xp.zeros((rows, cols), dtype=np.float64)
            self.window = True

    def totals(self) -> dict[str, int]:
        """Per-tile totals of the four counters (the pending ones settled first).

        Returns
        -------
        dict
            ``pulses_up``, ``pulses_down``, ``events_truncated`` and ``pulses_lost`` as Python
            integers (the last saturating at the int64 maximum, like the per-cell sums).
        """
        self.settle()

        def total(a) -> int:
            return sum(np.asarray(_host(a)).ravel().tolist())

        return {"pulses_up": total(self.n_up), "pulses_down": total(self.n_down),
                "events_truncated": total(self.events_truncated),
                "pulses_lost": min(total(self.pulses_lost), INT64_MAX)}

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (placeholders included)."""
        arrays = (self.n_up, self.n_down, self.sum_abs_grad, self.sum_abs_grad_w, self.sum_w, self.pending_up,
                  self.pending_down, self.events_truncated, self.pulses_lost)
        return sum(int(a.nbytes) for a in arrays if a is not None)

    def pending_counters(self, xp, most: int):
        """int32 (pending_up, pending_down) that can take ``most`` more pulses per cell, or
        ``None`` when ``most`` exceeds the int32 range or the counters are per row (count into the
        int64 totals then).

        Parameters
        ----------
        xp : module
            The array namespace.
        most : int
            The most pulses per cell the caller will add.

        Returns
        -------
        tuple of array or None
            ``(pending_up, pending_down)``, or ``None`` (count into the int64 totals then).
        """
        if most > INT32_MAX or not self.per_cell:
            return None
        if self.pending_up is None:
            self.pending_up = xp.zeros(self.n_up.shape, dtype=np.int32)
            self.pending_down = xp.zeros(self.n_up.shape, dtype=np.int32)
        if self.pending_max + most > INT32_MAX:
            self.settle()
        self.pending_max += most
        return self.pending_up, self.pending_down

    def settle(self) -> None:
        """Add the pending pulse counts to ``n_up``/``n_down`` and zero them."""
        if self.pending_max > 0:
            self.n_up += self.pending_up
            self.n_down += self.pending_down
            self.pending_up.fill(0)
            self.pending_down.fill(0)
            self.pending_max = 0


#: The int64 maximum, where ``pulses_lost`` saturates.
INT64_MAX = int(np.iinfo(np.int64).max)


def _host(a):
    """A NumPy view or copy of a backend array (CuPy arrays have ``get``)."""
    return a.get() if hasattr(a, "get") else a


def sequential_forward(weights, X) -> np.ndarray:
    """``X W^T`` in float64 with each dot product summed left to right (bit-reproducible).

    Training code uses this instead of a BLAS product so that the fused kernels, which sum in the
    same order, reproduce the step-by-step path bit for bit.

    Parameters
    ----------
    weights : array_like
        Shape (rows, cols).
    X : array_like
        Shape (batch, cols).

    Returns
    -------
    numpy.ndarray
        ``X W^T``, shape (batch, rows).
    """
    w = np.asarray(weights, dtype=np.float64)
    return np.cumsum(w[None, :, :] * np.asarray(X, dtype=np.float64)[:, None, :], axis=2)[..., -1]


def sequential_outer_sum(D, X) -> np.ndarray:
    """``sum_b D[b] x X[b]`` (outer products) accumulated over ``b`` in order, float64.

    Parameters
    ----------
    D : numpy.ndarray
        Shape (batch, rows).
    X : numpy.ndarray
        Shape (batch, cols).

    Returns
    -------
    numpy.ndarray
        The summed outer products, shape (rows, cols).
    """
    grad = np.zeros((D.shape[1], X.shape[1]), dtype=np.float64)
    for d_b, x_b in zip(D, X):
        grad += np.outer(d_b, x_b)
    return grad


# ------------------------------------------------------------------ cell parameters
def _is_packed(params) -> bool:
    return (isinstance(params, tuple) and len(params) == 2 and np.ndim(params[1]) == 2
            and np.asarray(params[1]).dtype == np.int64 and np.ndim(params[0]) == 1)


def pack_cell_parameters(params) -> tuple[np.ndarray, np.ndarray]:
    """Pack a tile's device parameters, each per cell only where it varies, into one buffer.

    Parameter ``k`` of cell ``c = j * cols + i`` (row-major) is ``values[index[0, k] + index[1, k] * c]``:
    a parameter held once has stride ``index[1, k] = 0``, one held per cell stride 1. A tile without
    device-to-device spread or faults thus holds ``P`` numbers, and a tile with one varying
    parameter ``P - 1 + rows * cols``.

    Parameters
    ----------
    params : sequence of numpy.ndarray or numpy.ndarray
        One array per parameter (``PulsedDevice.all_cell_parameters`` order), each of shape ``(1, 1)``
        (every cell the same) or ``(rows, cols)``; or one array of shape ``(P, rows, cols)`` or
        ``(P, 1, 1)``, whose rows are packed the same way (a row whose cells are all equal is still
        held per cell: only its shape decides).

    Returns
    -------
    values : numpy.ndarray
        Float64, 1-D: the parameters one after the other.
    index : numpy.ndarray
        Int64, shape ``(2, P)``: the offset of each parameter in ``values`` and its stride (0 or 1).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in params]
    sizes = [a.size for a in arrays]
    values = np.empty(sum(sizes), dtype=np.float64)
    index = np.zeros((2, len(arrays)), dtype=np.int64)
    offset = 0
    for k, (a, size) in enumerate(zip(arrays, sizes)):
        values[offset:offset + size] = a.ravel()
        index[0, k], index[1, k] = offset, int(size > 1)
        offset += size
    return values, index


def cell_parameter_views(packed, rows: int, cols: int) -> list[np.ndarray]:
    """The parameters of a packed buffer (:func:`pack_cell_parameters`) as views, without copies.

    Parameters
    ----------
    packed : tuple of numpy.ndarray
        ``(values, index)``.
    rows, cols : int
        Tile shape.

    Returns
    -------
    list of numpy.ndarray
        One view per parameter: shape ``(rows, cols)`` where it varies per cell, else ``(1, 1)`` (which
        broadcasts over the tile).
    """
    values, index = packed
    views = []
    for offset, stride in zip(index[0].tolist(), index[1].tolist()):
        size, shape = (rows * cols, (rows, cols)) if stride else (1, (1, 1))
        views.append(values[offset:offset + size].reshape(shape))
    return views


def expand_cell_parameters(packed, rows: int, cols: int) -> np.ndarray:
    """A packed buffer (:func:`pack_cell_parameters`) as one per-cell array.

    Parameters
    ----------
    packed : tuple of numpy.ndarray
        ``(values, index)``.
    rows, cols : int
        Tile shape.

    Returns
    -------
    numpy.ndarray
        Float64, shape ``(P, rows, cols)``: a new array.
    """
    views = cell_parameter_views(packed, rows, cols)
    out = np.empty((len(views), rows, cols), dtype=np.float64)
    for k, view in enumerate(views):
        out[k] = view
    return out


class Backend:
    """Array namespace plus the fixed set of keyword-only operations a tile needs.

    Subclasses set ``name`` and ``xp`` and implement :meth:`pulse_update` and :meth:`pulse_update_dense`.

    Parameters
    ----------
    dtype : str or numpy.dtype
        Storage dtype of the weights (``float64`` or ``float32``).
    """

    name = "base"
    xp = np
    #: bit length used per sample by the last pulse-coincidence update (benchmarks read it)
    last_bl = None

    def __init__(self, dtype=np.float64):
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"The 'dtype' parameter of get_backend must be one of 'float32', 'float64'. "
                             f"Got {dtype!r} instead.")
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dtype={self.dtype.name})"

    #: Whether the kernels can count pulses and truncations per row (``TileStatistics.per_cell`` False)
    row_counters = True

    # ---------------------------------------------------------------- arrays
    def cell_parameter_array(self, params, rows: int, cols: int):
        """The device parameters in the form the kernels receive (here: packed, :func:`pack_cell_parameters`).

        Parameters
        ----------
        params : tuple of numpy.ndarray or numpy.ndarray
            Already packed ``(values, index)``, returned as is (no copy); or one array per parameter, each
            ``(1, 1)`` or ``(rows, cols)``, as ``PulsedDevice.sample_cell_parameters(..., compact=True)``;
            or one array ``(P, rows, cols)`` / ``(P, 1, 1)``.
        rows : int
            Rows of the tile.
        cols : int
            Columns of the tile.

        Returns
        -------
        tuple of numpy.ndarray
            ``(values, index)``: float64 values, int64 index of shape (2, P).
        """
        if _is_packed(params):
            return params
        shapes = [np.shape(a) for a in params]
        if any(shape not in ((1, 1), (rows, cols)) for shape in shapes):
            raise invalid("cell_parameter_array", "params", f"arrays of shape (1, 1) or ({rows}, {cols}), one per "
                          "parameter", f"shapes {shapes}")
        return pack_cell_parameters(params)

    def asarray(self, a, dtype=None):
        """``a`` as an array of this backend (default dtype: the backend's).

        Parameters
        ----------
        a : array_like
            The data.
        dtype : numpy.dtype or None
            The dtype; ``None``: the backend's.

        Returns
        -------
        array
            ``a`` on this backend.
        """
        return self.xp.asarray(a, dtype=self.dtype if dtype is None else dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy of a backend array.

        Parameters
        ----------
        a : array
            A backend array.

        Returns
        -------
        numpy.ndarray
            A NumPy copy.
        """
        return np.array(a, copy=True)

    def synchronize(self) -> None:
        """Wait until queued work is done (a no-op on CPU backends; timing GPU code needs it)."""

    # ---------------------------------------------------------------- VMMs
    def mvm(self, *, weights, x):
        """Forward VMM ``y = x W^T`` for a batch ``x`` of shape (batch, cols).

        Parameters
        ----------
        weights : array
            Shape (rows, cols).
        x : array
            Shape (batch, cols).

        Returns
        -------
        array
            ``x W^T``, shape (batch, rows).
        """
        return x @ weights.T

    def mvm_t(self, *, weights, d):
        """Backward VMM ``d W`` for a batch ``d`` of shape (batch, rows).

        Parameters
        ----------
        weights : array
            Shape (rows, cols).
        d : array
            Shape (batch, rows).

        Returns
        -------
        array
            ``d W``, shape (batch, cols).
        """
        return d @ weights

    def sequential_mvm(self, *, weights, v, transpose=False):
        """``v W^T`` (or ``v W`` with ``transpose``) in float64, every dot product summed in index order
        from 0.0 (the arithmetic of the fused training kernels, so both paths agree bit for bit).

        Parameters
        ----------
        weights : array, shape (rows, cols)
            The weights.
        v : array, shape (batch, cols), or (batch, rows) with ``transpose``
            The vectors, one per row.
        transpose : bool
            Compute ``v W`` instead of ``v W^T``.

        Returns
        -------
        array, shape (batch, rows), or (batch, cols) with ``transpose``
            The products, float64.
        """
        xp = self.xp
        w = xp.asarray(weights, dtype=np.float64)
        w = w.T if transpose else w
        v = xp.asarray(v, dtype=np.float64)
        out = xp.zeros((v.shape[0], w.shape[0]), dtype=np.float64)
        for i in range(w.shape[1]):  # one elementwise add per summed index: the order is fixed
            out += v[:, i:i + 1] * w[None, :, i]
        return out

    def normals(self, *, shape, seed, step, stream):
        """Standard normals of the given shape: flat element ``k`` is lane ``k % 4`` of the Philox
        block with counter ``(0, k // 4, stream << 24 | step >> 32, step)`` (float64).

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
        from .. import rng

        k = np.arange(int(np.prod(shape)))
        return self.asarray(rng.normals(seed, step, stream, k // 4, k % 4).reshape(shape), dtype=np.float64)

    # ---------------------------------------------------------------- updates
    def pulse_update(self, *, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats,
                     uniform_params=False):
        """Apply the batch (x: (batch, cols), d: (batch, rows), float64) as sequential per-sample
        programming events numbered ``step, step+1, ...``; update ``weights`` and ``stats`` in place.
        ``uniform_params`` promises that every cell has the parameters of cell (0, 0) (no d2d, no
        faults): a kernel may then read them once instead of per cell. ``cell_params`` holds each
        parameter once or per cell (:meth:`cell_parameter_array`, :func:`pack_cell_parameters`); the
        layouts of ``stats`` are those of :class:`TileStatistics`.

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
        x : array
            Inputs, float64, shape (batch, cols).
        d : array
            Output gradients, float64, shape (batch, rows).
        lr : float
            Per-sample learning rate.
        step : int
            Event counter of the first programming event.
        seed : int
            The run seed (the Philox key).
        record : bool
            Whether the window sums of ``stats`` are updated (the averaging window is open).
        stats : TileStatistics
            The recording arrays, updated in place.
        uniform_params : bool
            Promise that every cell has the parameters of cell (0, 0) (no device-to-device variation, no
            faults): a kernel may read them once.
        """
        raise NotImplementedError

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats,
                           uniform_params=False):
        """One programming event per cell requesting ``-lr * grad`` (grad: (rows, cols), float64).

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
        grad : array
            The gradient, float64, shape (rows, cols).
        lr : float
            Per-sample learning rate.
        step : int
            Event counter of the first programming event.
        seed : int
            The run seed (the Philox key).
        record : bool
            Whether the window sums of ``stats`` are updated (the averaging window is open).
        stats : TileStatistics
            The recording arrays, updated in place.
        uniform_params : bool
            Promise that every cell has the parameters of cell (0, 0) (no device-to-device variation, no
            faults): a kernel may read them once.
        """
        raise NotImplementedError

    def train_linear_epochs(self, *, device, rule, weights, cell_params, X, Y, order, lrs, batch_size,
                            accumulate, step, seed, record_from, stats) -> tuple[int, int]:
        """Train a linear model (loss ``1/2 ||W x - y||^2``) on one tile for whole epochs.

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
        order : int64 array (epochs, n)
            The sample order of each epoch.
        lrs : float64 array (epochs,)
            Per-sample learning rate of each epoch.
        batch_size : int
            Samples per batch: the forward pass of a batch uses the weights at its start.
        accumulate : bool
            One event per batch with the summed gradient instead of one per sample.
        step : int
            Event counter of the first event.
        seed : int
            The run seed (the Philox key).
        record_from : int
            Recording is on for batches whose first event index (from 0 in this call) is at least
            this; -1: never.
        stats : TileStatistics
            The recording arrays, updated in place.

        Returns
        -------
        events : int
            Programming events applied.
        recorded_events : int
            Events applied while recording.

        Notes
        -----
        This generic version is the step-by-step definition (the same operations as a loop of
        ``Tile.update`` calls); compiled backends override it with a fused kernel that must
        reproduce it bit for bit.
        """
        events = recorded = 0
        n = order.shape[1]
        common = dict(device=device, rule=rule, weights=weights, cell_params=cell_params, seed=seed, stats=stats)
        for epoch, lr in enumerate(lrs):
            for start in range(0, n, batch_size):
                idx = order[epoch, start:start + batch_size]
                record = 0 <= record_from <= events
                Xb = np.ascontiguousarray(X[idx])
                D = sequential_forward(self.to_numpy(weights), Xb) - Y[idx]
                if accumulate:
                    self.pulse_update_dense(grad=self.asarray(sequential_outer_sum(D, Xb), dtype=np.float64),
                                            lr=float(lr), step=step + events, record=record, **common)
                    k = 1
                else:
                    self.pulse_update(x=self.asarray(Xb, dtype=np.float64), d=self.asarray(D, dtype=np.float64),
                                      lr=float(lr), step=step + events, record=record, **common)
                    k = idx.size
                events += k
                recorded += k if record else 0
        return events, recorded
