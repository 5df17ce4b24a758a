"""Source of the fused network-training kernel, pasted after the per-device kernels of
:mod:`memsim.backends.numba.template` (it calls their per-cell functions ``apply_event``,
``apply_pulses`` and ``fill_bits``, so every cell sees exactly the arithmetic of a
``Tile.update``).

One call trains one network (a list of tiles, layer by layer) for one epoch of mini-batches,
exactly as :meth:`memsim.models.mlp.AnalogMLP.train_batch` does step by step: the forward pass of
the batch through every tile (:meth:`memsim.models.tile.Tile.forward`: dot products summed in index
order, the periphery's DAC, weight and output noise, reference current and ADC), the activation, the
loss gradient, the backward reads, then every tile's programming events (per sample or
accumulated; stochastic rounding, deterministic or pulse coincidence). Activation, loss and rule
are chosen at run time by their codes (:data:`memsim.network_math.ACTIVATION_CODES`,
``LOSS_CODES``, the rule's ``code``): one compiled kernel per device model and weight dtype.
``train_networks`` runs R such networks (replicas) in parallel threads.
"""

NETWORK_SOURCE = '''

# ---------------------------------------------------------------- fused network training
ACT_TANH = 0
ACT_SIGMOID = 1
ACT_RELU = 2
LOSS_MSE = 0
LOSS_SOFTMAX = 1
LOSS_LOGISTIC = 2


@njit(cache=True, inline="always")
def net_quantize(v, bits, bound, step):
    """memsim.physics.periphery.quantize of one value (bound < 0: no clipping, bits <= 0: no rounding)."""
    if bound >= 0.0:
        v = min(max(v, -bound), bound)
    if bits > 0:
        s = 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)
        v = s * math.floor(abs(v) / step + 0.5) * step
    return v


@njit(cache=True, inline="always")
def net_flat_normal(k, k0, k1, step, stream):
    """Backend.normals: flat element k is lane k % 4 of the Philox block of cell k // 4."""
    blk = np.uint64(k >> 2)
    lane = k & 3
    o0, o1, o2, o3 = philox4x32_10(np.uint64(0), blk, stream_word(stream, step), step & MASK32, k0, k1)
    o = o0 if lane == 0 else (o1 if lane == 1 else (o2 if lane == 2 else o3))
    return normal(o, k0, k1, step, stream, blk, lane)


@njit(cache=True, inline="always")
def net_phi(z, act):
    if act == ACT_TANH:
        return math.tanh(z)
    if act == ACT_SIGMOID:
        return 1.0 / (1.0 + math.exp(-z))
    return max(z, 0.0)


@njit(cache=True, inline="always")
def net_dphi(z, act):
    if act == ACT_TANH:
        t = math.tanh(z)
        return 1.0 - t * t
    if act == ACT_SIGMOID:
        s = 1.0 / (1.0 + math.exp(-z))
        return s * (1.0 - s)
    return 1.0 if z > 0.0 else 0.0


@njit(cache=True)
def net_read(w, ref, has_ref, V, v0, n_b, transpose, OUT, o0, active, qp, noise, k0, k1, read_step,
             s_read, s_wread, U):
    """OUT[b, o0 + .] += the read of tile w with inputs V[b, v0 + .] (Tile._read; module docstring).
    qp = (dac_bits, dac_bound, dac_step, adc_bits, adc_bound, adc_step); noise = (output, weight).
    U is scratch of at least the input length."""
    rows, cols = w.shape
    n_in = rows if transpose else cols
    n_out = cols if transpose else rows
    out_noise = noise[0]
    w_noise = noise[1]
    for b in range(n_b):
        for a in range(n_in):
            U[a] = net_quantize(V[b, v0 + a], np.int64(qp[0]), qp[1], qp[2]) if active else V[b, v0 + a]
        for o in range(n_out):
            acc = 0.0
            for a in range(n_in):
                j = a if transpose else o
                i = o if transpose else a
                wv = np.float64(w[j, i])
                if active and w_noise > 0.0:
                    k = np.uint64((b * rows + j) * cols + i)
                    wv = wv * (1.0 + w_noise * net_flat_normal(k, k0, k1, read_step, s_wread))
                acc += wv * U[a]
            if active and out_noise > 0.0:
                acc = acc + out_noise * net_flat_normal(np.uint64(b * n_out + o), k0, k1, read_step, s_read)
            if has_ref:
                r = 0.0
                for a in range(n_in):
                    j = a if transpose else o
                    i = o if transpose else a
                    r += ref[j, i] * U[a]
                acc = acc - r
            if active:
                acc = net_quantize(acc, np.int64(qp[3]), qp[4], qp[5])
            OUT[b, o0 + o] += acc


@njit(cache=True)
def net_epoch(base, W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys, steps, read_steps,
              sizes, bias, act, loss, X, T, order, lr, batch, accumulate, record_from,
              rule, max_pulses, desired_bl, um, blm, words, c2c, sigma, dw_nominal,
              active, back_active, qp, noise, s_read, s_wread, wide, serial_below, n_chunks):
    """One epoch of in-place training of one network (module docstring of network_template).

    The network's tiles are entries base .. base + T - 1 of the lists and of keys / steps /
    read_steps; meta[t] = (layer, r0, r1, c0, c1, has_ref) of its tile t (tiles in layer order,
    row blocks outer); keys = Philox keys; steps / read_steps: the tiles' event and read counters
    (updated in place). sizes = layer sizes; X (n, d), T targets (n, K; labels in column 0 for
    softmax / logistic). Returns (events, recorded events, status); status 1: a non-finite input or
    delta reached a tile (the step path refuses it in Tile.update).
    """
    n_layers = sizes.shape[0] - 1
    n = order.shape[0]
    n_tiles = meta.shape[0]
    width = 0
    for l in range(n_layers + 1):
        width = max(width, sizes[l] + 1)
    A = np.zeros((n_layers, batch, width))   # augmented input of every layer
    Z = np.zeros((n_layers, batch, width))   # pre-activations
    DL = np.zeros((n_layers, batch, width))  # deltas
    BK = np.zeros((batch, width))             # backward reads
    U = np.zeros(width)
    events = 0
    recorded = 0
    for start in range(0, n, batch):
        size = min(batch, n - start)
        record = record_from >= 0 and events >= record_from
        # ---- forward
        for bb in range(size):
            s = order[start + bb]
            for i in range(sizes[0]):
                A[0, bb, i] = X[s, i]
            if bias:
                A[0, bb, sizes[0]] = 1.0
        for l in range(n_layers):
            for bb in range(size):
                for o in range(sizes[l + 1]):
                    Z[l, bb, o] = 0.0
            for t in range(n_tiles):
                if meta[t, 0] != l:
                    continue
                rs = read_steps[base + t]
                if active:
                    read_steps[base + t] = rs + np.uint64(1)
                net_read(W[base + t], REF[base + t], meta[t, 5] != 0, A[l], meta[t, 3], size, False, Z[l], meta[t, 1],
                         active, qp,
                         noise, keys[base + t, 0], keys[base + t, 1], rs, s_read, s_wread, U)
            if l < n_layers - 1:
                for bb in range(size):
                    for o in range(sizes[l + 1]):
                        A[l + 1, bb, o] = net_phi(Z[l, bb, o], act)
                    if bias:
                        A[l + 1, bb, sizes[l + 1]] = 1.0
        # ---- loss gradient
        L = n_layers - 1
        K = sizes[n_layers]
        for bb in range(size):
            s = order[start + bb]
            if loss == LOSS_MSE:
                for k in range(K):
                    DL[L, bb, k] = Z[L, bb, k] - T[s, k]
            elif loss == LOSS_SOFTMAX:
                top = Z[L, bb, 0]
                for k in range(1, K):
                    top = max(top, Z[L, bb, k])
                tot = 0.0
                for k in range(K):
                    tot += math.exp(Z[L, bb, k] - top)
                lse = top + math.log(tot)
                for k in range(K):
                    DL[L, bb, k] = math.exp(Z[L, bb, k] - lse)
                DL[L, bb, np.int64(T[s, 0])] -= 1.0
            else:
                DL[L, bb, 0] = 1.0 / (1.0 + math.exp(-Z[L, bb, 0])) - T[s, 0]
        # ---- backward
        for l in range(n_layers - 1, 0, -1):
            n_aug = sizes[l] + (1 if bias else 0)
            for bb in range(size):
                for i in range(n_aug):
                    BK[bb, i] = 0.0
            for t in range(n_tiles):
                if meta[t, 0] != l:
                    continue
                rs = read_steps[base + t]
                if back_active:
                    read_steps[base + t] = rs + np.uint64(1)
                net_read(W[base + t], REF[base + t], meta[t, 5] != 0, DL[l], meta[t, 1], size, True, BK, meta[t, 3],
                         back_active,
                         qp, noise, keys[base + t, 0], keys[base + t, 1], rs, s_read, s_wread, U)
            for bb in range(size):
                for i in range(sizes[l]):
                    DL[l - 1, bb, i] = BK[bb, i] * net_dphi(Z[l - 1, bb, i], act)
        # ---- refuse what Tile.update refuses
        for l in range(n_layers):
            n_aug = sizes[l] + (1 if bias else 0)
            for bb in range(size):
                for i in range(n_aug):
                    if not np.isfinite(A[l, bb, i]):
                        return events, recorded, 1
                for o in range(sizes[l + 1]):
                    if not np.isfinite(DL[l, bb, o]):
                        return events, recorded, 1
        # ---- programming events: the tile kernels of Tile.update on the tile's slices of the batch
        for t in range(n_tiles):
            l = meta[t, 0]
            r0 = meta[t, 1]
            c0 = meta[t, 3]
            uniform = meta[t, 6] != 0
            w = W[base + t]
            pc = PC[base + t]
            rows, cols = w.shape
            k0 = keys[base + t, 0]
            k1 = keys[base + t, 1]
            step0 = steps[base + t]
            xs = np.empty((size, cols))
            ds = np.empty((size, rows))
            for bb in range(size):
                for i in range(cols):
                    xs[bb, i] = A[l, bb, c0 + i]
                for j in range(rows):
                    ds[bb, j] = DL[l, bb, r0 + j]
            big = wide and size * rows * cols >= serial_below
            if rule == RULE_PULSE_COINCIDENCE:
                XW = np.empty((size, cols, words), dtype=np.uint64)
                DW = np.empty((size, rows, words), dtype=np.uint64)
                bl_used = np.empty(size, dtype=np.int64)
                if big:
                    coincidence_bits(xs, ds, lr, dw_nominal, desired_bl, um, blm, step0, k0, k1, XW, DW, bl_used)
                    update_coincidence(w, pc, uniform, n_chunks, xs, ds, XW, DW, step0, k0, k1, c2c, sigma, record,
                                       NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t], SW[base + t])
                else:
                    coincidence_bits_serial(xs, ds, lr, dw_nominal, desired_bl, um, blm, step0, k0, k1, XW, DW,
                                            bl_used)
                    update_coincidence_serial(w, pc, uniform, n_chunks, xs, ds, XW, DW, step0, k0, k1, c2c, sigma,
                                              record, NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t],
                                              SW[base + t])
                steps[base + t] = step0 + np.uint64(size)
            elif accumulate:
                G = np.zeros((rows, cols))
                for bb in range(size):  # sequential_outer_sum: sample by sample
                    for j in range(rows):
                        for i in range(cols):
                            G[j, i] += ds[bb, j] * xs[bb, i]
                if big:
                    update_dense(w, pc, G, lr, step0, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                                 NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t], SW[base + t],
                                 NTR[base + t], NLOST[base + t])
                else:
                    update_dense_serial(w, pc, G, lr, step0, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                                        NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t], SW[base + t],
                                        NTR[base + t], NLOST[base + t])
                steps[base + t] = step0 + np.uint64(1)
            else:
                if big:
                    update_rank1(w, pc, xs, ds, lr, step0, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                                 NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t], SW[base + t],
                                 NTR[base + t], NLOST[base + t])
                else:
                    update_rank1_serial(w, pc, xs, ds, lr, step0, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal,
                                        record, NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t],
                                        SW[base + t], NTR[base + t], NLOST[base + t])
                steps[base + t] = step0 + np.uint64(size)
        k = 1 if accumulate else size
        events += k
        if record:
            recorded += k
    return events, recorded, 0


@njit(parallel=True, cache=True)
def train_networks_epoch(W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys, steps, read_steps,
                         sizes, bias, act, loss, XS, TS, orders, lrs, batches, accumulates, record_froms,
                         rules, max_pulses, desired_bls, ums, blms, words, c2cs, sigmas, dw_nominals,
                         active, back_active, qp, noise, s_read, s_wread, serial_below, n_chunks, out):
    """One epoch of R networks of one shape (replicas), in parallel threads: replica r is net_epoch
    on tiles r * T .. r * T + T - 1 with its own data, order and scalars (serial tile kernels inside);
    out[r] = its result."""
    n_tiles = meta.shape[0]
    n_rep = orders.shape[0]
    for q in prange(n_rep):
        r = np.int64(q)
        e, rec, status = net_epoch(r * n_tiles, W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys,
                                   steps, read_steps, sizes, bias, act, loss, XS[r], TS[r], orders[r], lrs[r],
                                   batches[r], accumulates[r], record_froms[r], rules[r], max_pulses[r],
                                   desired_bls[r], ums[r], blms[r], words[r], c2cs[r], sigmas[r], dw_nominals[r],
                                   active, back_active, qp, noise, s_read, s_wread, False, serial_below, n_chunks)
        out[r, 0] = e
        out[r, 1] = rec
        out[r, 2] = status


@njit(cache=True)
def train_network_epoch(W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys, steps, read_steps,
                        sizes, bias, act, loss, XS, TS, orders, lrs, batches, accumulates, record_froms,
                        rules, max_pulses, desired_bls, ums, blms, words, c2cs, sigmas, dw_nominals,
                        active, back_active, qp, noise, s_read, s_wread, serial_below, n_chunks, out):
    """train_networks_epoch for a single network (R = 1): the tile kernels of large tiles run their
    parallel versions (threads over rows) instead of threads over replicas."""
    e, rec, status = net_epoch(0, W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys, steps, read_steps,
                               sizes, bias, act, loss, XS[0], TS[0], orders[0], lrs[0], batches[0], accumulates[0],
                               record_froms[0], rules[0], max_pulses[0], desired_bls[0], ums[0], blms[0], words[0],
                               c2cs[0], sigmas[0], dw_nominals[0], active, back_active, qp, noise, s_read, s_wread,
                               True, serial_below, n_chunks)
    out[0, 0] = e
    out[0, 1] = rec
    out[0, 2] = status
'''
