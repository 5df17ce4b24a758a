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
             s_read, s_wread, U, NZ, ACC):
    """OUT[b, o0 + .] += the read of tile w with inputs V[b, v0 + .] (Tile._read; module docstring).
    qp = (dac_bits, dac_bound, dac_step, adc_bits, adc_bound, adc_step); noise = (output, weight).
    U, NZ (int64) and ACC are scratch of at least the input / output length.

    Every dot product is summed from 0.0 in index order, as Backend.sequential_mvm sums it, but only
    over the inputs that are not zero (NZ): a zero input adds a signed zero to a sum that is never -0.0
    (it starts at +0.0, and x + (+-0.0) == x), so skipping it changes no bit and sparse inputs cost
    nothing. Four outputs are summed at once (independent chains that the CPU overlaps)."""
    rows, cols = w.shape
    n_in = rows if transpose else cols
    n_out = cols if transpose else rows
    out_noise = noise[0]
    w_noise = noise[1] if active else 0.0
    for b in range(n_b):
        m = 0
        for a in range(n_in):
            u = net_quantize(V[b, v0 + a], np.int64(qp[0]), qp[1], qp[2]) if active else V[b, v0 + a]
            U[a] = u
            NZ[m] = a
            m += 1 if u != 0.0 else 0  # NaN is kept
        for o in range(n_out):
            ACC[o] = 0.0
        if w_noise > 0.0:
            for t in range(m):
                a = NZ[t]
                for o in range(n_out):
                    j = a if transpose else o
                    i = o if transpose else a
                    k = np.uint64((b * rows + j) * cols + i)
                    wv = np.float64(w[j, i]) * (1.0 + w_noise * net_flat_normal(k, k0, k1, read_step, s_wread))
                    ACC[o] += wv * U[a]
        elif transpose:  # ACC[i] = sum_j w[j, i] U[j]: rows outer, the inner loop vectorises
            for t in range(m):
                j = NZ[t]
                u = U[j]
                for i in range(n_out):
                    ACC[i] += np.float64(w[j, i]) * u
        else:
            o = 0
            while o + 4 <= n_out:
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                a3 = 0.0
                for t in range(m):
                    i = NZ[t]
                    u = U[i]
                    a0 += np.float64(w[o, i]) * u
                    a1 += np.float64(w[o + 1, i]) * u
                    a2 += np.float64(w[o + 2, i]) * u
                    a3 += np.float64(w[o + 3, i]) * u
                ACC[o] = a0
                ACC[o + 1] = a1
                ACC[o + 2] = a2
                ACC[o + 3] = a3
                o += 4
            for oo in range(o, n_out):
                acc = 0.0
                for t in range(m):
                    i = NZ[t]
                    acc += np.float64(w[oo, i]) * U[i]
                ACC[oo] = acc
        for o in range(n_out):
            acc = ACC[o]
            if active and out_noise > 0.0:
                acc = acc + out_noise * net_flat_normal(np.uint64(b * n_out + o), k0, k1, read_step, s_read)
            if has_ref:
                r = 0.0
                for t in range(m):
                    a = NZ[t]
                    j = a if transpose else o
                    i = o if transpose else a
                    r += ref[j, i] * U[a]
                acc = acc - r
            if active:
                acc = net_quantize(acc, np.int64(qp[3]), qp[4], qp[5])
            OUT[b, o0 + o] += acc


@njit(cache=True)
def net_coincidence_bits(x, d, lr, dw_nominal, desired_bl, um, blm, step0, k0, k1, XW, DW, bl_used, PROB, BITS,
                         LIVE, PL, VB):
    """coincidence_bits (same bit lengths, scales and Philox numbers), serial and written so that the
    Philox blocks of the lines that can have bits are computed in one vectorisable loop per block
    index. PROB, PL (lines), BITS, VB (lines, words) and LIVE (lines, int64) are scratch."""
    nb, cols = x.shape
    rows = d.shape[1]
    lines = cols + rows
    nw = XW.shape[2]
    for b in range(nb):
        x_max = 0.0
        for i in range(cols):
            x_max = max(x_max, abs(x[b, i]))
        d_max = 0.0
        for j in range(rows):
            d_max = max(d_max, abs(d[b, j]))
        bl = desired_bl
        if x_max == 0.0 or d_max == 0.0 or lr == 0.0:
            bl = 0
        elif blm:
            bl = min(max(np.int64(math.ceil(lr * x_max * d_max / dw_nominal)), 1), desired_bl)
        bl_used[b] = bl
        a_x = 0.0
        a_d = 0.0
        if bl > 0:
            base = math.sqrt(lr / (bl * dw_nominal))
            a_x = base * math.sqrt(d_max / x_max) if um else base
            a_d = base * math.sqrt(x_max / d_max) if um else base
        for line in range(cols):
            PROB[line] = min(a_x * abs(x[b, line]), 1.0)
        for j in range(rows):
            PROB[cols + j] = min(a_d * abs(d[b, j]), 1.0)
        n_live = 0  # the lines with a probability > 0, in order (LIVE): only they draw
        for line in range(lines):
            LIVE[n_live] = line
            n_live += 1 if PROB[line] > 0.0 else 0
        for t in range(n_live):
            PL[t] = PROB[LIVE[t]]
            for k in range(nw):
                VB[t, k] = np.uint64(0)
        step = step0 + np.uint64(b)
        c2 = stream_word(STREAM_COINCIDENCE, step)
        c3 = step & MASK32
        for blk in range((bl + 3) // 4):
            k = 4 * blk
            wi = k >> 6
            sh = np.uint64(k & 63)
            v1 = k + 1 < bl
            v2 = k + 2 < bl
            v3 = k + 3 < bl
            for t in range(n_live):  # contiguous in t: vectorises (a uniform < prob <= 0 is never true)
                p = PL[t]
                o0, o1, o2, o3 = philox4x32_10(np.uint64(blk), np.uint64(LIVE[t]), c2, c3, k0, k1)
                v = np.uint64(1 if uniform(o0) < p else 0)
                v |= np.uint64(2 if v1 and uniform(o1) < p else 0)
                v |= np.uint64(4 if v2 and uniform(o2) < p else 0)
                v |= np.uint64(8 if v3 and uniform(o3) < p else 0)
                VB[t, wi] |= v << sh
        for line in range(lines):
            for k in range(nw):
                BITS[line, k] = np.uint64(0)
        for t in range(n_live):
            for k in range(nw):
                BITS[LIVE[t], k] = VB[t, k]
        for i in range(cols):
            for k in range(nw):
                XW[b, i, k] = BITS[i, k]
        for j in range(rows):
            for k in range(nw):
                DW[b, j, k] = BITS[cols + j, k]


@njit(cache=True)
def net_rows_scratch(n_chunks, cols, n_cells, words, n_params):
    """Scratch of net_coincidence_rows for n_chunks blocks of rows (first axis), each of up to n_cells
    cells in rows of up to cols columns; net_scratch_chunk gives one block's arrays. Allocated once per
    epoch call: a large allocation per sample would cost fresh pages every time."""
    n = n_cells + GROUP
    c = n_chunks
    return (np.empty((c, cols), np.int64), np.empty((c, cols), np.int64),
            np.empty((c, n), np.int64), np.empty((c, n), np.int64), np.empty((c, n), np.int64),
            np.empty((c, n), np.int64), np.empty((c, 4 * (64 * words + 2)), np.int64), np.empty((c, n)),
            np.empty((c, n), np.bool_), np.empty((c, n), np.int64), np.empty((c, n), np.uint64),
            np.empty((c, n_params, n)), np.empty((c, 64 * words + 4, GROUP)),
            np.empty((c, 64 * words + 4, GROUP), np.uint64))


@njit(cache=True, inline="always")
def net_scratch_chunk(S, c):
    """The scratch arrays of block c (views)."""
    return (S[0][c], S[1][c], S[2][c], S[3][c], S[4][c], S[5][c], S[6][c], S[7][c], S[8][c], S[9][c], S[10][c],
            S[11][c], S[12][c], S[13][c])


@njit(cache=True, inline="always")
def popcount_cell(XW, DW, b, i, j, nw):
    """Coincidences of input line i and error line j of sample b (AND + popcount over the words)."""
    n = np.int64(0)
    for k in range(nw):
        n += popcount64(XW[b, i, k] & DW[b, j, k])
    return n


@njit(cache=True, inline="always")
def net_coincidence_rows(w, pc, uniform_params, j0, j1, x, d, XW, DW, step0, k0, k1, c2c, sigma, record,
                         n_up, n_down, s_abs, s_absw, s_w, S):
    """update_coincidence on rows j0 .. j1 - 1, with the pulsed cells of all these rows packed
    together: per sample, the counts of the columns that have bits (sparse inputs cost nothing), the
    counters and window sums, every cell with a pulse packed into lane arrays (in index order; sorted
    by pulse count, a counting sort, when some train is longer than one Philox block) and run by
    run_lanes, so that short rows do not leave lanes idle. Each cell sees exactly the
    arithmetic (and the Philox numbers) of update_coincidence; only the grouping of independent cells
    differs. S: scratch (net_rows_scratch)."""
    rows, cols = w.shape
    nw = XW.shape[2]
    pv, pix = pc  # packed parameters (apply_pulses)
    n_params = pix.shape[1]
    per_row = n_up.shape[1] == 1 and cols > 1  # counters of shape (rows, 1): per-row totals
    ACT, NZX, LJA, LIA, LJ2, LI2, hist, W, UP, NL, CELL, P, Z, O = S
    if uniform_params:
        for q in range(n_params):
            for l in range(GROUP):
                P[q, l] = pv[pix[0, q]]
    for b in range(x.shape[0]):
        step = step0 + np.uint64(b)
        na = 0
        nz = 0
        for i in range(cols):
            bits = np.uint64(0)
            for k in range(nw):
                bits |= XW[b, i, k]
            ACT[na] = i
            na += 1 if bits != 0 else 0
            NZX[nz] = i
            nz += 1 if x[b, i] != 0.0 else 0
        LJ = LJA  # lane rows and columns: packed in index order, then (sorted) in LJ2 / LI2
        LI = LIA
        m = 0
        top = 0
        for j in range(j0, j1):
            dj = d[b, j]
            if record:  # a zero input adds +-0.0 to sums that are never -0.0: skipped
                for t in range(nz):
                    i = NZX[t]
                    g = dj * x[b, i]
                    s_abs[j, i] += abs(g)
                    s_absw[j, i] += abs(g) * np.float64(w[j, i])
            dbits = np.uint64(0)
            for k in range(nw):
                dbits |= DW[b, j, k]
            if dbits == 0 or na == 0:
                continue
            t_up = 0
            t_all = 0
            for t in range(na):
                i = ACT[t]
                if nw == 1:
                    n = popcount64(XW[b, i, 0] & dbits)
                else:
                    n = popcount_cell(XW, DW, b, i, j, nw)
                up = dj * x[b, i] < 0.0
                n_u = n if up else 0
                if per_row:
                    t_up += n_u
                    t_all += n
                else:
                    n_up[j, i] += n_u
                    n_down[j, i] += n - n_u
                NL[m] = n  # packed in index order, branch-free: m advances past the cells with a pulse
                LJ[m] = j
                LI[m] = i
                m += 1 if n > 0 else 0
                top = max(top, n)
            if per_row:
                n_up[j, 0] += t_up
                n_down[j, 0] += t_all - t_up
        if m > 0:
            if top > 4:  # trains longer than one Philox block: lanes of similar length (counting sort)
                # four interleaved histograms and offsets (cells k % 4): consecutive cells, often of
                # the same count, do not wait on each other's counter; lanes of one count may come
                # out in any order (cells are independent), so the sort need not be stable
                hn = top + 2
                for n in range(4 * hn):
                    hist[n] = 0
                for k in range(m):
                    hist[(k & 3) * hn + NL[k]] += 1
                pos = 0
                for n in range(1, top + 1):
                    for q in range(4):
                        h = hist[q * hn + n]
                        hist[q * hn + n] = pos
                        pos += h
                for k in range(m):
                    slot = (k & 3) * hn + NL[k]
                    o = hist[slot]
                    hist[slot] = o + 1
                    LJ2[o] = LJ[k]
                    LI2[o] = LI[k]
                LJ, LI = LJ2, LI2
                pos = 0  # the lanes of count n end where the last offset of n ended
                for n in range(1, top + 1):
                    end = hist[3 * hn + n]
                    for k in range(pos, end):
                        NL[k] = n
                    pos = end
            for k in range(m):  # NL: in pack order, or as just filled
                j = LJ[k]
                i = LI[k]
                W[k] = np.float64(w[j, i])
                UP[k] = d[b, j] * x[b, i] < 0.0
                CELL[k] = np.uint64(j * cols + i)
            if not uniform_params:
                for k in range(m):
                    c = np.int64(LJ[k]) * cols + LI[k]
                    for q in range(n_params):
                        P[q, k] = pv[pix[0, q] + pix[1, q] * c]
                for k in range(m):
                    NL[k] = NL[k] if cell_moves(P[n_params - 1, k]) else 0
            elif not cell_moves(P[n_params - 1, 0]):
                for k in range(m):
                    NL[k] = 0
            for k in range(m, m + GROUP):
                W[k] = 0.0
                UP[k] = False
                CELL[k] = np.uint64(0)
                NL[k] = 0
            run_lanes(W, UP, NL, CELL, P, Z, O, m, uniform_params, step, k0, k1, c2c, sigma)
            for k in range(m):
                w[LJ[k], LI[k]] = W[k]
        if record:
            for j in range(j0, j1):
                for i in range(cols):
                    s_w[j, i] += np.float64(w[j, i])


@njit(parallel=True, cache=True)
def net_update_coincidence(w, pc, uniform_params, n_chunks, x, d, XW, DW, step0, k0, k1, c2c, sigma, record,
                           n_up, n_down, s_abs, s_absw, s_w, S):
    """Per-sample coincidence updates of a tile (update_coincidence's results), threads over n_chunks
    blocks of rows, each packed as a whole (net_coincidence_rows; S: net_rows_scratch for n_chunks
    blocks of at least ceil(rows / n_chunks) rows)."""
    rows, cols = w.shape
    n_chunks = max(min(rows, n_chunks), 1)
    for chunk in prange(n_chunks):
        j0 = chunk * rows // n_chunks
        j1 = (chunk + 1) * rows // n_chunks
        net_coincidence_rows(w, pc, uniform_params, j0, j1, x, d, XW, DW, step0, k0, k1, c2c, sigma, record, n_up,
                             n_down, s_abs, s_absw, s_w, net_scratch_chunk(S, chunk))


@njit(cache=True)
def net_update_coincidence_serial(w, pc, uniform_params, x, d, XW, DW, step0, k0, k1, c2c, sigma, record,
                                  n_up, n_down, s_abs, s_absw, s_w, S):
    """net_update_coincidence in this thread, the whole tile packed at once (S: scratch large enough)."""
    net_coincidence_rows(w, pc, uniform_params, 0, w.shape[0], x, d, XW, DW, step0, k0, k1, c2c, sigma, record,
                         n_up, n_down, s_abs, s_absw, s_w, net_scratch_chunk(S, 0))


@njit(cache=True, inline="always")
def threads_over_rows(wide, batch, rows, cols, serial_below):
    """Whether net_epoch updates a rows x cols tile with the threaded kernel (threads over blocks of
    rows): only for a single network (wide), and only when a full batch's work reaches serial_below.
    The scratch is sized by the same test, so the two can never disagree."""
    return wide and batch * rows * cols >= serial_below


@njit(cache=True)
def net_epoch(base, W, PC, REF, NUP, NDN, SABS, SABSW, SW, NTR, NLOST, meta, keys, steps, read_steps,
              sizes, bias, act, loss, X, T, order, lr, batch, accumulate, record_from,
              rule, max_pulses, desired_bl, um, blm, words, c2c, sigma, dw_nominal,
              active, back_active, qp, noise, s_read, s_wread, wide, serial_below, n_chunks):
    """One epoch of in-place training of one network (module docstring of network_template).

    The network's tiles are entries base .. base + T - 1 of the lists and of keys / steps /
    read_steps (PC: each tile's packed parameters (values, index), pack_cell_parameters); meta[t] =
    (layer, r0, r1, c0, c1, has_ref, uniform_params) of its tile t (tiles in layer order, row blocks
    outer); keys = Philox keys; steps / read_steps: the tiles' event and read counters (updated in
    place). sizes = layer sizes; X (n, d), T targets (n, K; labels in column 0 for
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
    NZ = np.zeros(width, np.int64)
    ACC = np.zeros(width)
    PROB = np.zeros(2 * width)
    BITS = np.zeros((2 * width, max(words, 1)), np.uint64)
    LIVE = np.zeros(2 * width, np.int64)
    PL = np.zeros(2 * width)
    VB = np.zeros((2 * width, max(words, 1)), np.uint64)
    XS_BUF = np.empty(batch * width)
    DS_BUF = np.empty(batch * width)
    XW_BUF = np.empty(batch * width * max(words, 1), np.uint64)
    DW_BUF = np.empty(batch * width * max(words, 1), np.uint64)
    BL_BUF = np.empty(batch, np.int64)
    n_chunks = max(n_chunks, 1)
    cap = 0  # cells of the largest block of rows that a coincidence update packs at once
    any_big = False  # some tile threads over blocks of rows: a scratch block per chunk
    for t in range(n_tiles):
        rows_t, cols_t = W[base + t].shape
        if threads_over_rows(wide, batch, rows_t, cols_t, serial_below):
            any_big = True
            cap = max(cap, ((rows_t + n_chunks - 1) // n_chunks + 1) * cols_t)
        else:
            cap = max(cap, rows_t * cols_t)
    S = net_rows_scratch(n_chunks if any_big else 1, width, cap if rule == RULE_PULSE_COINCIDENCE else 0,
                         max(words, 1), PC[base][1].shape[1])
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
                         noise, keys[base + t, 0], keys[base + t, 1], rs, s_read, s_wread, U, NZ, ACC)
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
                         qp, noise, keys[base + t, 0], keys[base + t, 1], rs, s_read, s_wread, U, NZ, ACC)
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
            xs = XS_BUF[:size * cols].reshape((size, cols))  # contiguous views of buffers allocated once
            ds = DS_BUF[:size * rows].reshape((size, rows))
            for bb in range(size):
                for i in range(cols):
                    xs[bb, i] = A[l, bb, c0 + i]
                for j in range(rows):
                    ds[bb, j] = DL[l, bb, r0 + j]
            big = threads_over_rows(wide, batch, rows, cols, serial_below)  # the full batch, as sized above
            if rule == RULE_PULSE_COINCIDENCE:
                XW = XW_BUF[:size * cols * words].reshape((size, cols, words))
                DW = DW_BUF[:size * rows * words].reshape((size, rows, words))
                bl_used = BL_BUF[:size]
                net_coincidence_bits(xs, ds, lr, dw_nominal, desired_bl, um, blm, step0, k0, k1, XW, DW, bl_used, PROB,
                                     BITS, LIVE, PL, VB)
                if big:
                    net_update_coincidence(w, pc, uniform, n_chunks, xs, ds, XW, DW, step0, k0, k1, c2c, sigma, record,
                                           NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t],
                                           SW[base + t], S)
                else:
                    net_update_coincidence_serial(w, pc, uniform, xs, ds, XW, DW, step0, k0, k1, c2c, sigma, record,
                                                  NUP[base + t], NDN[base + t], SABS[base + t], SABSW[base + t],
                                                  SW[base + t], S)
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
