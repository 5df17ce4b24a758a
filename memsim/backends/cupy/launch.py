"""The launch plan shared by the CuPy backend and its CPU emulation: which kernel, which arguments, which grid.

:class:`CudaKernelBackend` implements the pulsed-update operations of :class:`~memsim.backends.base.Backend`
in terms of one abstract method, ``_launch(device, kernel, grid, block, args, barrier)``. The CuPy
backend launches through ``cupy.RawModule``; :class:`~memsim.backends.cupy.emulate.EmulatedCudaBackend`
through a host-compiled copy of the same source. Nothing here imports cupy.
"""

from __future__ import annotations

import numpy as np

from ... import rng
from ..base import Backend
from .codegen import POINTER_TYPES, SCALAR_TYPES, KernelParam, generate_rng_source, generate_source

__all__ = ["CudaKernelBackend", "pack_arguments", "OPTIONAL_POINTERS"]

#: Pointer parameters a caller may leave out: a null pointer is passed (the kernels then skip what
#: they count there: the per-cell truncation counters of the update kernels).
OPTIONAL_POINTERS = ("n_trunc", "n_lost")


def pack_arguments(kernel: str, params: tuple[KernelParam, ...], values: dict, weight_dtype, pointer, null=None):
    """Order and convert named arguments for ``kernel`` by its parsed C signature.

    Scalars become the NumPy type of their C type; arrays are checked (dtype, C-contiguous) and
    passed through ``pointer(array)``; a parameter of ``OPTIONAL_POINTERS`` left out is passed as
    ``null`` (the launcher's null pointer).

    Parameters
    ----------
    kernel : str
        The kernel name (for messages).
    params : tuple of KernelParam
        The kernel's parsed parameters.
    values : dict
        Parameter name -> array or scalar.
    weight_dtype : numpy.dtype
        The dtype of the weight arrays.
    pointer : callable
        Turns an array into the launcher's pointer argument.
    null : object, optional
        The launcher's null pointer, for optional pointers left out.

    Returns
    -------
    list
        The arguments in signature order.

    Raises
    ------
    TypeError
        A missing or unexpected argument, or an array of the wrong dtype or layout.
    """
    names = [p.name for p in params]
    missing = [n for n in names if n not in values and n not in OPTIONAL_POINTERS]
    extra = [n for n in values if n not in names]
    if missing or extra:
        raise TypeError(f"kernel {kernel}: missing arguments {missing}, unexpected arguments {extra}")
    out = []
    for p in params:
        if p.name not in values:  # an optional pointer left out
            out.append(null)
            continue
        v = values[p.name]
        if p.is_pointer:
            want = np.dtype(weight_dtype) if POINTER_TYPES[p.ctype] is None else POINTER_TYPES[p.ctype]
            if v.dtype != want or not v.flags.c_contiguous:
                raise TypeError(f"kernel {kernel}: argument {p.name!r} must be a C-contiguous {want} array; "
                                f"got dtype {v.dtype}, c_contiguous={v.flags.c_contiguous}")
            out.append(pointer(v))
        else:
            out.append(SCALAR_TYPES[p.ctype](v))
    return out


class CudaKernelBackend(Backend):
    """Pulsed updates through the generated CUDA kernels (subclasses provide ``xp`` and ``_launch``).

    One thread per cell for ``pulse_update`` / ``pulse_update_dense`` (a cell's events are applied in
    order by its own thread); one block per output row for the fused ``train_linear_epochs``; one block per
    replica for the fused network epochs (``train_networks_epoch``).

    Parameters
    ----------
    dtype : str or numpy.dtype
        Storage dtype of the weights (``float64`` or ``float32``).
    """

    #: Threads per block of the per-cell kernels.
    block_size = 128
    #: Largest number of threads per block of the fused training kernel (one block per row).
    train_block_size = 256
    #: Threads per block of the fused network kernel (one block per replica).
    network_block_size = 128
    #: The source generator (the same function for NVRTC and the host compiler).
    kernel_source = staticmethod(generate_source)
    #: The kernels run one thread per cell: they count pulses and truncations per cell (no per-row totals)
    row_counters = False

    def cell_parameter_array(self, params, rows: int, cols: int):
        """The device parameters as the kernels read them: one float64 buffer on the device.

        The buffer starts with a header of ``2 P`` numbers, the offset of each parameter in the buffer
        and its stride (0: held once, 1: per cell), then the values of
        :func:`memsim.backends.base.pack_cell_parameters`; parameter ``k`` of cell ``c`` is
        ``pc[pc[k] + pc[P + k] * c]`` (offsets and strides are integers below 2**53, exact as doubles).

        Parameters
        ----------
        params : tuple of numpy.ndarray or numpy.ndarray
            Packed ``(values, index)``, one array per parameter (each ``(1, 1)`` or ``(rows, cols)``), one
            array ``(P, rows, cols)`` / ``(P, 1, 1)``, or a buffer this method returned (returned as is).
        rows : int
            Rows of the tile.
        cols : int
            Columns of the tile.

        Returns
        -------
        array
            Float64, 1-D, on the device.
        """
        if not isinstance(params, (tuple, list)) and np.ndim(params) == 1:
            return params  # already the kernels' buffer (a tile's own)
        values, index = super().cell_parameter_array(params, rows, cols)  # packed on the host
        n_params = index.shape[1]
        header = np.concatenate([index[0] + 2 * n_params, index[1]]).astype(np.float64)
        return self.asarray(np.concatenate([header, values]), dtype=np.float64)

    def source_for(self, device) -> str:
        """The CUDA source of a device (instance or model class) with this backend's dtype; ``None``: the
        random-number kernels.

        Parameters
        ----------
        device : memsim.physics.devices.base.PulsedDevice or type or None
            A device instance or model class; ``None``: the random-number kernels.

        Returns
        -------
        str
            The CUDA source.
        """
        return generate_rng_source() if device is None else self.kernel_source(device, self.dtype)

    def _launch(self, device, kernel: str, grid: int, block: int, args: dict, barrier: bool = False):
        """Run ``kernel`` of ``source_for(device)`` on ``grid`` blocks of ``block`` threads with the
        named ``args``; ``barrier``: the kernel calls ``__syncthreads``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _common(device, rule, seed) -> dict:
        k0, k1 = rng.seed_to_key(seed)
        return dict(k0=k0, k1=k1, rule=rule.code, max_pulses=rule.max_pulses, c2c=device.c2c_code,
                    sigma=float(device.dw_min_std), dw_nominal=float(device.dw_min))

    @staticmethod
    def _stats(stats) -> dict:
        return dict(n_up=stats.n_up, n_down=stats.n_down, s_abs=stats.sum_abs_grad, s_absw=stats.sum_abs_grad_w,
                    s_w=stats.sum_w)

    @staticmethod
    def _truncation(stats) -> dict:
        """The truncation counters of the rounding-rule kernels (not of pulse coincidence, which never truncates)."""
        return dict(n_trunc=stats.events_truncated, n_lost=stats.pulses_lost)

    def _grid(self, n: int) -> int:
        return max(1, -(-n // self.block_size))

    def _train_block(self, cols: int) -> int:
        return min(self.train_block_size, max(32, -(-cols // 32) * 32))

    @staticmethod
    def _check_rule(rule, dense: bool = False):
        if rule.kind == "pulse_coincidence":
            if dense:
                raise ValueError("the 'pulse_coincidence' rule cannot program a dense (accumulated) gradient")
        elif rule.kind not in ("stochastic_rounding", "deterministic"):
            raise ValueError(f"update rule {rule.kind!r} is not supported by the CUDA kernels")

    # ---------------------------------------------------------------- operations
    def pulse_update(self, *, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats,
                     uniform_params=False):
        self._check_rule(rule)
        if rule.kind == "pulse_coincidence":
            return self._pulse_coincidence(device, rule, weights, cell_params, x, d, lr, step, seed, record, stats)
        rows, cols = weights.shape
        args = dict(w=weights, pc=cell_params, x=self.asarray(x, dtype=np.float64),
                    d=self.asarray(d, dtype=np.float64), rows=rows, cols=cols, batch=x.shape[0], lr=float(lr),
                    step0=int(step), record=int(bool(record)), **self._common(device, rule, seed),
                    **self._stats(stats), **self._truncation(stats))
        self._launch(device, "ms_update_rank1", self._grid(rows * cols), self.block_size, args)

    def _pulse_coincidence(self, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats):
        """Stochastic pulse coincidence (memsim.physics.updates): scales per sample, bit streams per line, then the
        per-cell popcounts and pulses. Sets ``last_bl`` like the CPU backends."""
        rows, cols = weights.shape
        nb = x.shape[0]
        x = self.asarray(x, dtype=np.float64)
        d = self.asarray(d, dtype=np.float64)
        words = rule.words
        bl_used = self.xp.zeros(nb, dtype=np.int64)
        scales = self.xp.zeros((nb, 2), dtype=np.float64)
        XW = self.xp.zeros((nb, cols, words), dtype=np.uint64)
        DW = self.xp.zeros((nb, rows, words), dtype=np.uint64)
        common = self._common(device, rule, seed)
        self._launch(device, "ms_coincidence_scales", self._grid(nb), self.block_size,
                     dict(x=x, d=d, nb=nb, rows=rows, cols=cols, lr=float(lr), dw_nominal=common["dw_nominal"],
                          desired_bl=rule.desired_bl, um=int(rule.update_management),
                          blm=int(rule.update_bl_management), bl_used=bl_used, scales=scales))
        self._launch(device, "ms_coincidence_streams", self._grid(nb * (rows + cols)), self.block_size,
                     dict(x=x, d=d, nb=nb, rows=rows, cols=cols, bl_used=bl_used, scales=scales, step0=int(step),
                          k0=common["k0"], k1=common["k1"], words=words, XW=XW, DW=DW))
        self._launch(device, "ms_update_coincidence", self._grid(rows * cols), self.block_size,
                     dict(w=weights, pc=cell_params, x=x, d=d, XW=XW, DW=DW, nb=nb, rows=rows, cols=cols, words=words,
                          step0=int(step), k0=common["k0"], k1=common["k1"], c2c=common["c2c"], sigma=common["sigma"],
                          record=int(bool(record)), **self._stats(stats)))
        self.last_bl = self.to_numpy(bl_used)

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats,
                           uniform_params=False):
        self._check_rule(rule, dense=True)
        rows, cols = weights.shape
        args = dict(w=weights, pc=cell_params, grad=self.asarray(grad, dtype=np.float64), rows=rows, cols=cols,
                    lr=float(lr), step=int(step), record=int(bool(record)), **self._common(device, rule, seed),
                    **self._stats(stats), **self._truncation(stats))
        self._launch(device, "ms_update_dense", self._grid(rows * cols), self.block_size, args)

    def train_linear_epochs(self, *, device, rule, weights, cell_params, X, Y, order, lrs, batch_size,
                            accumulate, step, seed, record_from, stats) -> tuple[int, int]:
        """Fused version of :meth:`Backend.train_linear_epochs` (bit-identical arithmetic, one launch).

        Pulse coincidence runs the generic step-by-step loop (its bit streams are per batch), as on Numba.

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
        self._check_rule(rule, dense=accumulate)
        if rule.kind == "pulse_coincidence":
            return Backend.train_linear_epochs(
                self, device=device, rule=rule, weights=weights, cell_params=cell_params, X=X, Y=Y, order=order,
                lrs=lrs, batch_size=batch_size, accumulate=accumulate, step=step, seed=seed,
                record_from=record_from, stats=stats)
        rows, cols = weights.shape
        order = np.ascontiguousarray(order, dtype=np.int64)
        n_epochs, n = order.shape
        D = self.xp.zeros((rows, int(batch_size)), dtype=np.float64)
        counts = self.xp.zeros(2, dtype=np.int64)
        args = dict(w=weights, pc=cell_params, X=self.asarray(np.ascontiguousarray(X), dtype=np.float64),
                    Y=self.asarray(np.ascontiguousarray(Y), dtype=np.float64), order=self.asarray(order, dtype=np.int64),
                    lrs=self.asarray(np.ascontiguousarray(lrs), dtype=np.float64), rows=rows, cols=cols,
                    n_epochs=n_epochs, n=n, batch=int(batch_size), accumulate=int(bool(accumulate)),
                    step0=int(step), record_from=int(record_from), **self._common(device, rule, seed),
                    **self._stats(stats), **self._truncation(stats), D=D, counts=counts)
        if n_epochs == 0 or n == 0:
            return 0, 0
        self._launch(device, "ms_train_linear_epochs", rows, self._train_block(cols), args, barrier=True)
        events, recorded = (int(v) for v in self.to_numpy(counts))
        return events, recorded

    def _address(self, array) -> int:
        """The address of an array's first element as the kernels see it (host or device pointer)."""
        if isinstance(array, np.ndarray):
            return int(array.ctypes.data)
        return int(array.data.ptr)

    def _table_array(self, array, dtype, shape, what: str):
        """``array`` itself when the kernel may write it in place (right dtype, C-contiguous, ``shape``)."""
        if (array.dtype != np.dtype(dtype) or not array.flags.c_contiguous or tuple(array.shape) != tuple(shape)
                or not isinstance(array, self.xp.ndarray)):
            raise TypeError(f"train_networks_epoch: the tile's {what} must be a C-contiguous {np.dtype(dtype)} array "
                            f"of shape {tuple(shape)} on this backend; got {type(array).__name__} of dtype "
                            f"{array.dtype} and shape {tuple(array.shape)}")
        return array

    def train_networks_epoch(self, *, device, periphery, sizes, bias, activation, loss, replicas, read_streams):
        """One epoch of R networks of one shape (replicas) in one launch of ``ms_train_networks_epoch``: one
        block per replica, its threads cooperating (``README.md``, "The fused network kernel"); each replica
        bit-identical to the Numba backend's ``train_networks_epoch`` (and so to
        :meth:`memsim.models.mlp.AnalogMLP.train_batch` batch by batch), up to libdevice's transcendentals on
        a GPU.

        The tiles are handed to the kernel as tables of addresses (weights, cell parameters, reference,
        statistics), so the kernel updates the replicas' own arrays in place.

        Parameters
        ----------
        device : PulsedDevice
            Any replica's device (the kernel source is the device model's; per-replica scalars are read
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
            (:class:`~memsim.backends.base.TileStatistics`, per-cell counters), ``layer``, ``rows`` and
            ``cols`` (slices of the layer's weight matrix), ``seed``, ``step``, ``read_step``), ``device``,
            ``rule``, ``X``, ``T`` (float targets (n, K); labels in column 0 for softmax / logistic),
            ``order``, ``lr``, ``batch_size``, ``accumulate`` and ``record_from`` (recording is on for batches
            whose first event index, from 0 in this call, is at least this).
        read_streams : tuple of int
            Philox streams of the output and the weight read noise.

        Returns
        -------
        list of tuple
            Per replica ``(events, recorded, status, steps, read_steps)`` (``steps``, ``read_steps``: uint64
            NumPy arrays, one entry per tile): status 1 when a non-finite value reached a tile (nothing of
            that batch was programmed).
        """
        xp = self.xp
        sizes = [int(v) for v in sizes]
        n_rep, n_tiles = len(replicas), len(replicas[0]["tiles"])
        n_layers = len(sizes) - 1
        keep = []  # arrays whose addresses are in the tables: alive until the launch returned
        tw = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        tpc = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        tref = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        tstat = np.zeros((n_rep * n_tiles, 7), dtype=np.uint64)
        meta = np.zeros((n_tiles, 7), dtype=np.int64)
        keys = np.zeros((n_rep * n_tiles, 2), dtype=np.uint32)
        steps = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        read_steps = np.zeros(n_rep * n_tiles, dtype=np.uint64)
        per = {k: [] for k in ("lr", "batch", "acc", "rec", "rule", "maxp", "bl", "um", "blm", "words", "c2c",
                               "sigma", "dw")}
        n = int(np.shape(replicas[0]["order"])[0])
        for r, rep in enumerate(replicas):
            rule, dev = rep["rule"], rep["device"]
            self._check_rule(rule)
            pc = rule.kind == "pulse_coincidence"
            batch = int(rep["batch_size"])
            n_events = (-(-n // batch) if rep["accumulate"] else n) if batch > 0 else 0
            may_record = 0 <= int(rep["record_from"]) < n_events
            for t, spec in enumerate(rep["tiles"]):
                q = r * n_tiles + t
                rows_, cols_ = spec["rows"], spec["cols"]
                shape = (rows_.stop - rows_.start, cols_.stop - cols_.start)
                tw[q] = self._address(self._table_array(spec["weights"], self.dtype, shape, "weights"))
                cp = spec["cell_params"]
                cp = self.cell_parameter_array(cp, *shape)
                cp = xp.ascontiguousarray(cp, dtype=np.float64)
                keep.append(cp)
                tpc[q] = self._address(cp)
                if spec["reference"] is not None:
                    ref = xp.ascontiguousarray(self.asarray(spec["reference"], dtype=np.float64))
                    keep.append(ref)
                    tref[q] = self._address(ref)
                st = spec["stats"]
                counters = [self._table_array(a, np.int64, shape, name) for a, name in (
                    (st.n_up, "n_up"), (st.n_down, "n_down"))]
                sums = [st.sum_abs_grad, st.sum_abs_grad_w, st.sum_w]
                if may_record:  # the window may open in this call: the sums must be per cell
                    sums = [self._table_array(a, np.float64, shape, name)
                            for a, name in zip(sums, ("sum_abs_grad", "sum_abs_grad_w", "sum_w"))]
                trunc = [self._table_array(a, np.int64, shape, name) for a, name in (
                    (st.events_truncated, "events_truncated"), (st.pulses_lost, "pulses_lost"))]
                tstat[q] = [self._address(a) for a in counters + sums + trunc]
                meta[t] = (spec["layer"], rows_.start, rows_.stop, cols_.start, cols_.stop,
                           int(spec["reference"] is not None), 0)
                keys[q] = rng.seed_to_key(spec["seed"])
                steps[q] = spec["step"]
                read_steps[q] = spec["read_step"]
            for key, value in (("lr", rep["lr"]), ("batch", batch), ("acc", bool(rep["accumulate"])),
                               ("rec", rep["record_from"]), ("rule", rule.code), ("maxp", rule.max_pulses),
                               ("bl", rule.desired_bl if pc else 0), ("um", pc and rule.update_management),
                               ("blm", pc and rule.update_bl_management), ("words", rule.words if pc else 0),
                               ("c2c", dev.c2c_code), ("sigma", dev.dw_min_std), ("dw", dev.dw_min)):
                per[key].append(value)
        ints = {k: np.asarray(per[k], dtype=np.int64) for k in ("batch", "rec", "maxp", "bl", "words")}
        flags = {k: np.asarray([int(bool(v)) for v in per[k]], dtype=np.int32) for k in ("acc", "um", "blm")}
        codes = {k: np.asarray(per[k], dtype=np.int32) for k in ("rule", "c2c")}
        floats = {k: np.asarray(per[k], dtype=np.float64) for k in ("lr", "sigma", "dw")}
        X = np.ascontiguousarray(np.stack([np.asarray(rep["X"], dtype=np.float64).reshape(n, sizes[0])
                                           for rep in replicas]))
        T = np.ascontiguousarray(np.stack([np.asarray(rep["T"], dtype=np.float64).reshape(n, -1)
                                           for rep in replicas]))
        orders = np.ascontiguousarray(np.stack([np.asarray(rep["order"], dtype=np.int64) for rep in replicas]))
        dac, adc = periphery.dac, periphery.adc
        qp = np.array([dac.bits or 0, -1.0 if dac.bound is None else dac.bound, dac.step or 0.0,
                       adc.bits or 0, -1.0 if adc.bound is None else adc.bound, adc.step or 0.0], dtype=np.float64)
        noise = np.array([periphery.output_noise, periphery.weight_noise], dtype=np.float64)
        width = max(sizes) + 1
        bmax = max(1, int(ints["batch"].max()))
        max_words = max(1, int(ints["words"].max()))
        # per-replica scratch: ms_net_scratch_doubles / ms_net_scratch_bits of the kernel source
        scratch = xp.zeros(n_rep * ((3 * n_layers + 4) * bmax * width + 2 * bmax), dtype=np.float64)
        bits = xp.zeros(n_rep * 2 * bmax * width * max_words, dtype=np.uint64)
        bls = xp.zeros(n_rep * bmax, dtype=np.int64)
        out = xp.zeros(3 * n_rep, dtype=np.int64)
        dev_steps, dev_read_steps = self.asarray(steps, dtype=np.uint64), self.asarray(read_steps, dtype=np.uint64)
        a = self.asarray
        args = dict(tw=a(tw, dtype=np.uint64), tpc=a(tpc, dtype=np.uint64), tref=a(tref, dtype=np.uint64),
                    tstat=a(tstat, dtype=np.uint64), meta=a(meta, dtype=np.int64), keys=a(keys, dtype=np.uint32),
                    steps=dev_steps, read_steps=dev_read_steps, sizes=a(np.asarray(sizes, dtype=np.int64), dtype=np.int64),
                    n_layers=n_layers, n_tiles=n_tiles, bias=int(bool(bias)), act=int(activation), loss=int(loss),
                    X=a(X, dtype=np.float64), T=a(T, dtype=np.float64), orders=a(orders, dtype=np.int64), n=n,
                    t_cols=T.shape[2], lrs=a(floats["lr"], dtype=np.float64), batches=a(ints["batch"], dtype=np.int64),
                    accumulates=a(flags["acc"], dtype=np.int32), record_froms=a(ints["rec"], dtype=np.int64),
                    rules=a(codes["rule"], dtype=np.int32), max_pulses=a(ints["maxp"], dtype=np.int64),
                    desired_bls=a(ints["bl"], dtype=np.int64), ums=a(flags["um"], dtype=np.int32),
                    blms=a(flags["blm"], dtype=np.int32), words=a(ints["words"], dtype=np.int64),
                    c2cs=a(codes["c2c"], dtype=np.int32), sigmas=a(floats["sigma"], dtype=np.float64),
                    dw_nominals=a(floats["dw"], dtype=np.float64), active=int(bool(periphery.active)),
                    back_active=int(bool(periphery.active and periphery.backward)), qp=a(qp, dtype=np.float64),
                    noise=a(noise, dtype=np.float64), s_read=int(read_streams[0]), s_wread=int(read_streams[1]),
                    width=width, bmax=bmax, max_words=max_words, scratch=scratch, bits=bits, bls=bls, out=out)
        if n > 0 and int(ints["batch"].min()) < 1:
            raise ValueError(f"train_networks_epoch: batch sizes must be at least 1; got {per['batch']}")
        self._launch(device, "ms_train_networks_epoch", n_rep, self._network_block(), args, barrier=True)
        del keep
        res = self.to_numpy(out).reshape(n_rep, 3)
        steps, read_steps = self.to_numpy(dev_steps), self.to_numpy(dev_read_steps)
        return [(int(res[r, 0]), int(res[r, 1]), int(res[r, 2]), steps[r * n_tiles:(r + 1) * n_tiles],
                 read_steps[r * n_tiles:(r + 1) * n_tiles]) for r in range(n_rep)]

    def _network_block(self) -> int:
        """Threads per block (per replica) of the fused network kernel."""
        return int(self.network_block_size)

    # ---------------------------------------------------------------- random numbers
    def normals(self, *, shape, seed, step, stream):
        """Compiled version of :meth:`Backend.normals` (kernel ``ms_flat_normals``; same bits up to the
        ulp-level differences of ``log``/``cos``/``sin``).

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
        k0, k1 = rng.seed_to_key(seed)
        size = int(np.prod(shape))
        out = self.xp.zeros(size, dtype=np.float64)
        if size:
            blocks = -(-size // 4)
            self._launch(None, "ms_flat_normals", self._grid(blocks), self.block_size,
                         dict(out=out, n=size, k0=k0, k1=k1, step=int(step), stream=int(stream)))
        return out.reshape(shape)

    def philox_blocks(self, ctr, seed: int) -> np.ndarray:
        """Raw Philox blocks for counters ``ctr`` (n, 4) through the kernel ``ms_philox_blocks`` (tests).

        Parameters
        ----------
        ctr : array_like of uint32
            Counters, shape (n, 4).
        seed : int
            The run seed (the Philox key).

        Returns
        -------
        numpy.ndarray of uint32
            The blocks, shape (n, 4).
        """
        k0, k1 = rng.seed_to_key(seed)
        ctr = self.asarray(np.ascontiguousarray(ctr, dtype=np.uint32), dtype=np.uint32)
        out = self.xp.zeros(ctr.shape, dtype=np.uint32)
        n = ctr.shape[0]
        self._launch(None, "ms_philox_blocks", self._grid(n), self.block_size,
                     dict(ctr=ctr, out=out, n=n, k0=k0, k1=k1))
        return self.to_numpy(out)

    def philox_normals(self, n_cells: int, n_per: int, seed: int, step: int, stream: int) -> np.ndarray:
        """``out[c, p]`` = normal number ``p`` of cell ``c`` (:func:`memsim.rng.normals`) from the kernel.

        Parameters
        ----------
        n_cells : int
            Cells.
        n_per : int
            Normal numbers per cell.
        seed : int
            The run seed.
        step : int
            The step counter.
        stream : int
            The Philox stream.

        Returns
        -------
        numpy.ndarray
            The normals, shape (n_cells, n_per).
        """
        k0, k1 = rng.seed_to_key(seed)
        out = self.xp.zeros((n_cells, n_per), dtype=np.float64)
        self._launch(None, "ms_philox_normals", self._grid(n_cells), self.block_size,
                     dict(out=out, n_cells=n_cells, n_per=n_per, k0=k0, k1=k1, step=step, stream=stream))
        return self.to_numpy(out)
