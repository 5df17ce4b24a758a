"""Source template of the per-device Numba kernels (filled in by :mod:`memsim.backends.numba.codegen`).

The text between the markers is pasted, after the device's formulas and the generic pulse law
(:mod:`memsim.physics.pulse_law`: ``pulse_magnitude``, ``pulse_count_stochastic``, ``one_pulse``,
``event_noise``, ...), into a module generated per device model. The kernels here are plumbing:
loops, Philox draws, loads and stores; what a cell computes comes from those pasted functions.
Placeholders: ``__CONSTANTS__`` (stream ids, rule and c2c-mode codes, from
:func:`memsim.backends.kernel_source.numba_constants`), ``__LOAD_PARAMS__`` (reads of the cell's
parameters from the packed buffer ``pv``, at ``pix[0, k] + pix[1, k] * c``, into local names),
``__LOAD_LANE_PARAMS__`` (the same from a group's lane buffer ``P``) and ``__STEP_ARGS__`` (the
formula's per-cell arguments).
"""

KERNEL_SOURCE = '''
GROUP = 64  # cells packed per lane group (<= 64 for the lane masks)
SUB = 16  # lanes run in lock step (the compilers vectorise this width), each sub-group to its longest train
__CONSTANTS__
ROW_W_MIN = 1  # rows of the lane buffer P: every model's cell_parameters start (dw_min, w_min, w_max)
ROW_W_MAX = 2
INT64_MAX = np.int64(np.iinfo(np.int64).max)  # pulses_lost saturates here


@njit(cache=True, inline="always")
def pulse_count(g, lr, cell, step, k0, k1, rule, dw_nominal):
    """Requested pulse count (before the cap: at most 2**53, pulse_magnitude bounds the request) and
    direction of the request -lr*g under a rounding rule (memsim.physics.pulse_law); the uniform of
    stochastic rounding is drawn only where the request has a fraction."""
    a = pulse_magnitude(g, lr, dw_nominal)
    if rule == RULE_STOCHASTIC_ROUNDING:
        u = 0.0
        if rounding_fraction(a) > 0.0:
            o0, o1, o2, o3 = philox4x32_10(np.uint64(0), cell, stream_word(STREAM_ROUNDING, step),
                                           step & MASK32, k0, k1)
            u = uniform(o0)
        n = np.int64(pulse_count_stochastic(a, u))
    else:
        n = np.int64(pulse_count_deterministic(a))
    return n, pulse_direction(g, lr)


@njit(cache=True, inline="always")
def cap_pulses(n, max_pulses, j, i, n_trunc, n_lost):
    """The cap: an event requesting n > max_pulses pulses gets max_pulses; it is counted in n_trunc and
    its n - max_pulses lost pulses in n_lost (a sum that saturates at INT64_MAX, never wraps); counters
    of shape (rows, 1) are per-row totals."""
    if n > max_pulses:
        c = min(np.int64(i), n_trunc.shape[1] - 1)
        n_trunc[j, c] += 1
        total = n_lost[j, c]
        n_lost[j, c] = total + min(n - max_pulses, INT64_MAX - total)
        return np.int64(max_pulses)
    return n


@njit(cache=True, inline="always")
def apply_pulses(wv, n, up, pc, j, i, cell, step, k0, k1, c2c, sigma):
    """n pulses of the device in direction up from state wv (float64): pulse p draws normal number p
    of the cell's c2c stream where the mode needs one, and one_pulse (memsim.physics.pulse_law) moves it."""
    if n == 0:
        return wv
    pv, pix = pc  # packed parameters: parameter k of cell c is pv[pix[0, k] + pix[1, k] * c] (stride 0: held once)
    c = np.int64(cell)
__LOAD_PARAMS__
    if not cell_moves(stuck):  # a stuck cell receives its pulses but does not move
        return wv
    scale = up_down_factor(up, up_down)
    c2 = stream_word(STREAM_C2C, step)
    c3 = step & MASK32
    noisy = sigma > 0.0
    multiplicative = noisy and c2c == C2C_MULTIPLICATIVE
    additive = noisy and c2c == C2C_ADDITIVE
    o0 = np.uint64(0)
    o1 = np.uint64(0)
    o2 = np.uint64(0)
    o3 = np.uint64(0)
    for p in range(n):
        q = mean_step(wv, up, __STEP_ARGS__) * scale
        s = 0.0
        z = 0.0
        if multiplicative or additive:
            lane = p & 3
            if lane == 0:  # a new Philox block: the start words of four normal numbers
                o0, o1, o2, o3 = philox4x32_10(np.uint64(p >> 2), cell, c2, c3, k0, k1)
            o = o0 if lane == 0 else (o1 if lane == 1 else (o2 if lane == 2 else o3))
            z = normal(o, k0, k1, step, STREAM_C2C, cell, p)
            s = sigma * step_spread(wv, up, __STEP_ARGS__)
        wv = one_pulse(wv, up, q, s, z, dw_min, multiplicative, additive, w_min, w_max)
    if noisy and c2c == C2C_NEUROSIM:
        wv = draw_event_noise(wv, n, cell, step, k0, k1, sigma, w_min, w_max)
    return wv


@njit(cache=True, inline="always")
def draw_event_noise(wv, n, cell, step, k0, k1, sigma, w_min, w_max):
    """c2c mode "neurosim": normal number 0 of the cell's c2c stream, applied by event_noise."""
    o0, o1, o2, o3 = philox4x32_10(np.uint64(0), cell, stream_word(STREAM_C2C, step), step & MASK32, k0, k1)
    z = normal(o0, k0, k1, step, STREAM_C2C, cell, 0)
    return event_noise(wv, n, sigma, w_min, w_max, z)


@njit(cache=True, inline="always")
def finish_event(w, j, i, wv, wn, g, n, up, record, n_up, n_down, s_abs, s_absw, s_w):
    """Store the new weight, count the pulses (counters of shape (rows, 1): per-row totals), add to
    the window sums (w read before the event)."""
    if record:
        s_abs[j, i] += abs(g)
        s_absw[j, i] += abs(g) * wv
    c = min(np.int64(i), n_up.shape[1] - 1)
    if up:
        n_up[j, c] += n
    else:
        n_down[j, c] += n
    w[j, i] = wn
    if record:
        s_w[j, i] += np.float64(w[j, i])


@njit(cache=True, inline="always")
def apply_event(w, pc, j, i, g, lr, step, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost):
    """One programming event on cell (j, i) under a rounding rule, with recording (the truncation
    counters always)."""
    wv = np.float64(w[j, i])
    cell = np.uint64(j * w.shape[1] + i)
    n, up = pulse_count(g, lr, cell, step, k0, k1, rule, dw_nominal)
    n = cap_pulses(n, max_pulses, j, i, n_trunc, n_lost)
    wn = apply_pulses(wv, n, up, pc, j, i, cell, step, k0, k1, c2c, sigma)
    finish_event(w, j, i, wv, wn, g, n, up, record, n_up, n_down, s_abs, s_absw, s_w)


@njit(cache=True, inline="always")
def popcount64(v):
    """Number of set bits of a uint64 (SWAR; LLVM emits popcnt where the CPU has it)."""
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((v * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def fill_bits(words, row, prob, bl, index, step, k0, k1):
    """Bit stream of one line: slot k < bl is set where uniform number k < prob (stream COINCIDENCE)."""
    for k in range(words.shape[1]):
        words[row, k] = np.uint64(0)
    if prob <= 0.0:
        return
    c2 = stream_word(STREAM_COINCIDENCE, step)
    c3 = step & MASK32
    for blk in range((bl + 3) // 4):
        o0, o1, o2, o3 = philox4x32_10(np.uint64(blk), np.uint64(index), c2, c3, k0, k1)
        for lane in range(4):
            k = 4 * blk + lane
            if k < bl:
                o = o0 if lane == 0 else (o1 if lane == 1 else (o2 if lane == 2 else o3))
                if uniform(o) < prob:
                    words[row, k >> 6] |= np.uint64(1) << np.uint64(k & 63)


@njit(parallel=True, cache=True)
def coincidence_bits(x, d, lr, dw_nominal, desired_bl, um, blm, step0, k0, k1, XW, DW, bl_used):
    """Per sample: bit length and the probability scales of inputs and errors (memsim.physics.updates);
    then the bit-packed streams of every line of every sample (parallel over lines, so that a
    single sample also uses every thread)."""
    nb, cols = x.shape
    rows = d.shape[1]
    a_x = np.zeros(nb)
    a_d = np.zeros(nb)
    for b in prange(nb):
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
        if bl > 0:
            base = math.sqrt(lr / (bl * dw_nominal))
            a_x[b] = base * math.sqrt(d_max / x_max) if um else base
            a_d[b] = base * math.sqrt(x_max / d_max) if um else base
    lines = cols + rows
    for t in prange(nb * lines):
        b = t // lines
        line = t - b * lines
        step = step0 + np.uint64(b)
        if line < cols:
            fill_bits(XW[b], line, min(a_x[b] * abs(x[b, line]), 1.0), bl_used[b], line, step, k0, k1)
        else:
            j = line - cols
            fill_bits(DW[b], j, min(a_d[b] * abs(d[b, j]), 1.0), bl_used[b], line, step, k0, k1)


@njit(cache=True, inline="always")
def coincidence_counts(XW, DW, x, dj, b, j, counts, n_up, n_down):
    """counts[i] = popcount(x bits of line i & d bits of row j) for one sample, added to the pulse
    counts of row j (up where -d x > 0; counters of shape (rows, 1): per-row totals); returns the
    largest count (0: nothing to do in this row). Separate loops so that both vectorise."""
    nw = XW.shape[2]
    cols = XW.shape[1]
    any_bit = np.uint64(0)
    for k in range(nw):
        any_bit |= DW[b, j, k]
    if any_bit == 0:  # no pulse in this row (frequent in the sparse regime)
        return np.int64(0)
    if nw == 1:
        dw = DW[b, j, 0]
        for i in range(cols):
            counts[i] = popcount64(XW[b, i, 0] & dw)
    else:
        for i in range(cols):
            n = np.int64(0)
            for k in range(nw):
                n += popcount64(XW[b, i, k] & DW[b, j, k])
            counts[i] = n
    top = np.int64(0)
    if n_up.shape[1] == 1 and cols > 1:  # per-row totals
        t_up = np.int64(0)
        t_all = np.int64(0)
        for i in range(cols):
            n = counts[i]
            t_up += n if dj * x[b, i] < 0.0 else 0
            t_all += n
            top = max(top, n)
        n_up[j, 0] += t_up
        n_down[j, 0] += t_all - t_up
        return top
    for i in range(cols):
        n = counts[i]
        n_u = n if dj * x[b, i] < 0.0 else 0
        n_up[j, i] += n_u
        n_down[j, i] += n - n_u
        top = max(top, n)
    return top


@njit(cache=True, inline="always")
def pack_cells(w, x, dj, b, j, counts, order, W, UP, NL):
    """The cells of row j with a pulse, in index order, packed into lane arrays in one pass over
    the row: every column is written at slot m, which advances past the cells with a pulse
    (branch-free, so it pipelines); returns their number m. order[k] is the column of lane k."""
    cols = w.shape[1]
    m = np.int64(0)
    for i in range(cols):
        n = counts[i]
        order[m] = i
        W[m] = np.float64(w[j, i])
        UP[m] = dj * x[b, i] < 0.0
        NL[m] = n
        m += 1 if n > 0 else 0
    return m


@njit(cache=True, inline="always")
def sort_by_count(counts, top, hist, order):
    """order[:m] = the cells with a pulse ordered by pulse count, ties in index order (a counting
    sort); returns m."""
    cols = counts.shape[0]
    for n in range(top + 2):
        hist[n] = 0
    for i in range(cols):
        hist[counts[i]] += 1
    pos = np.int64(0)
    for n in range(1, top + 1):
        h = hist[n]
        hist[n] = pos
        pos += h
    for i in range(cols):
        n = counts[i]
        if n > 0:
            order[hist[n]] = i
            hist[n] += 1
    return pos


@njit(cache=True, inline="always")
def gather_cells(w, x, dj, b, j, counts, order, m, W, UP, NL):
    """The cells order[:m] of row j packed into lane arrays (index k < m) by indexed loads."""
    for k in range(m):
        i = order[k]
        W[k] = np.float64(w[j, i])
        UP[k] = dj * x[b, i] < 0.0
        NL[k] = counts[i]


@njit(cache=True, inline="always")
def finish_lanes(pc, uniform_params, j, cols, order, m, W, UP, NL, CELL, P):
    """Complete the m packed lanes (weight, direction up where -d x > 0, pulse count, column):
    the flat cell index (a loop of its own, so that it vectorises), the cell parameters unless
    uniform, pulse count 0 for a stuck cell (it counts its pulses but does not move), and GROUP
    idle lanes after the last."""
    first = np.int64(j) * cols
    for k in range(m):
        CELL[k] = np.uint64(first + order[k])
    pv, pix = pc  # packed parameters (apply_pulses)
    n_params = pix.shape[1]
    if not uniform_params:
        for q in range(n_params):
            offset = pix[0, q]
            stride = pix[1, q]
            for k in range(m):
                P[q, k] = pv[offset + stride * (first + order[k])]
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


@njit(cache=True, inline="always")
def longest_train(NL, l0, width):
    """The largest pulse count of lanes l0 .. l0 + width - 1."""
    n_max = np.int64(0)
    for l in range(l0, l0 + width):
        n_max = max(n_max, NL[l])
    return n_max


@njit(cache=True, inline="always")
def group_normals(Z, O, CELL, NL, step, k0, k1):
    """Z[p, l] = normal number p (< NL[l]) of cell CELL[l], c2c stream, SUB lanes at a time (each
    sub-group as far as its longest train). Three passes, the first two vectorisable over the lanes:
    Philox start words, the ziggurat's fast path, then the slow path for the few rejected words that
    a lane needs (O keeps the words; a bit mask marks them)."""
    c2 = stream_word(STREAM_C2C, step)
    c3 = step & MASK32
    for l0 in range(0, GROUP, SUB):
        n_max = longest_train(NL, l0, SUB)
        for blk in range((n_max + 3) >> 2):
            for l in range(l0, l0 + SUB):
                o0, o1, o2, o3 = philox4x32_10(np.uint64(blk), CELL[l], c2, c3, k0, k1)
                O[4 * blk, l] = o0
                O[4 * blk + 1, l] = o1
                O[4 * blk + 2, l] = o2
                O[4 * blk + 3, l] = o3
        for p in range(n_max):
            rejected = np.uint64(0)  # bit l - l0: lane l needs this normal and its word was rejected
            for l in range(l0, l0 + SUB):
                z, ok = ziggurat_fast(O[p, l])
                Z[p, l] = z
                rejected |= np.uint64(0 if ok or p >= NL[l] else 1) << np.uint64(l - l0)
            while rejected != 0:  # rare (about 1.5 % of words): the slow path for each set bit
                lowest = rejected & (~rejected + np.uint64(1))
                l = l0 + popcount64(lowest - np.uint64(1))
                rejected ^= lowest
                Z[p, l] = ziggurat_slow(O[p, l], k0, k1, step, STREAM_C2C, CELL[l], p)


@njit(cache=True, inline="always")
def group_pulses(W, UP, NL, P, Z, multiplicative, additive, sigma):
    """Pulse trains of GROUP cells, SUB at a time in lock step (independent chains, so the CPU
    overlaps them), each sub-group as far as its longest train: pulse p of lane l is applied while
    p < NL[l]; per cell the arithmetic of apply_pulses."""
    for l0 in range(0, GROUP, SUB):
        n_max = longest_train(NL, l0, SUB)
        for p in range(n_max):
            for l in range(l0, l0 + SUB):
__LOAD_LANE_PARAMS__
                wv = W[l]
                up = UP[l]
                q = mean_step(wv, up, __STEP_ARGS__) * up_down_factor(up, up_down)
                s = sigma * step_spread(wv, up, __STEP_ARGS__) if multiplicative or additive else 0.0
                wn = one_pulse(wv, up, q, s, Z[p, l], dw_min, multiplicative, additive, w_min, w_max)
                W[l] = wn if p < NL[l] else wv


@njit(cache=True, inline="always")
def run_lanes(W, UP, NL, CELL, P, Z, O, m, uniform_params, step, k0, k1, c2c, sigma):
    """The pulse trains of the m packed lanes (finish_lanes done; GROUP idle lanes after them): GROUP
    at a time, SUB of them in lock step with their normals drawn beforehand, then the "neurosim"
    event noise."""
    noisy = sigma > 0.0
    multiplicative = noisy and c2c == C2C_MULTIPLICATIVE
    additive = noisy and c2c == C2C_ADDITIVE
    for g0 in range(0, m, GROUP):
        if longest_train(NL, g0, GROUP) > 0:
            lanes = slice(g0, g0 + GROUP)
            if multiplicative or additive:
                group_normals(Z, O, CELL[lanes], NL[lanes], step, k0, k1)
            if uniform_params:
                group_pulses(W[lanes], UP[lanes], NL[lanes], P, Z, multiplicative, additive, sigma)
            else:
                group_pulses(W[lanes], UP[lanes], NL[lanes], P[:, lanes], Z, multiplicative, additive, sigma)
    if noisy and c2c == C2C_NEUROSIM:
        for k in range(m):
            if NL[k] > 0:
                W[k] = draw_event_noise(W[k], NL[k], CELL[k], step, k0, k1, sigma,
                                        P[ROW_W_MIN, 0 if uniform_params else k],
                                        P[ROW_W_MAX, 0 if uniform_params else k])


@njit(parallel=True, cache=True)
def update_coincidence(w, pc, uniform_params, n_chunks, x, d, XW, DW, step0, k0, k1, c2c, sigma, record, n_up, n_down,
                       s_abs, s_absw, s_w):
    """Per-sample coincidence updates: n = popcount(x bits & d bits) pulses, up where -d x > 0.

    Per row and sample: the counts of every cell (AND + popcount), the pulse counts and window
    sums, then the cells with pulses (sorted by count when trains are long) packed into lane
    arrays and run GROUP at a time (SUB in lock step) with their normals drawn beforehand, and the new
    weights stored back. Each cell sees exactly the arithmetic of apply_pulses.
    """
    rows, cols = w.shape
    nw = XW.shape[2]
    pv, pix = pc  # packed parameters (apply_pulses)
    n_params = pix.shape[1]
    n_chunks = max(min(rows, n_chunks), 1)  # scratch arrays once per chunk of rows, not per row
    for chunk in prange(n_chunks):
        counts = np.empty(cols, np.int64)
        order = np.empty(cols + GROUP, np.int64)  # the column of each packed lane
        hist = np.empty(64 * nw + 2, np.int64)
        Z = np.zeros((64 * nw + 4, GROUP))
        O = np.zeros((64 * nw + 4, GROUP), np.uint64)
        W = np.zeros(cols + GROUP)
        UP = np.zeros(cols + GROUP, np.bool_)
        NL = np.zeros(cols + GROUP, np.int64)
        CELL = np.zeros(cols + GROUP, np.uint64)
        P = np.zeros((n_params, GROUP if uniform_params else cols + GROUP))
        for q in range(n_params):
            for l in range(P.shape[1]):
                P[q, l] = pv[pix[0, q]]  # cell 0 (all cells, with uniform_params)
        for j in range(chunk * rows // n_chunks, (chunk + 1) * rows // n_chunks):
            for b in range(x.shape[0]):
                step = step0 + np.uint64(b)
                dj = d[b, j]
                top = coincidence_counts(XW, DW, x, dj, b, j, counts, n_up, n_down)
                if record:
                    for i in range(cols):
                        g = dj * x[b, i]
                        s_abs[j, i] += abs(g)
                        s_absw[j, i] += abs(g) * np.float64(w[j, i])
                if top > 4:  # trains longer than one Philox block: neighbours of similar length
                    m = sort_by_count(counts, top, hist, order)
                    gather_cells(w, x, dj, b, j, counts, order, m, W, UP, NL)
                else:
                    m = pack_cells(w, x, dj, b, j, counts, order, W, UP, NL) if top > 0 else np.int64(0)
                if m > 0:
                    finish_lanes(pc, uniform_params, j, cols, order, m, W, UP, NL, CELL, P)
                run_lanes(W, UP, NL, CELL, P, Z, O, m, uniform_params, step, k0, k1, c2c, sigma)
                for k in range(m):
                    w[j, order[k]] = W[k]
                if record:
                    for i in range(cols):
                        s_w[j, i] += np.float64(w[j, i])


@njit(parallel=True, cache=True)
def update_rank1(w, pc, x, d, lr, step0, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                 n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost):
    """Sequential per-sample outer-product updates of a whole batch (parallel over rows)."""
    rows, cols = w.shape
    for j in prange(rows):
        for b in range(x.shape[0]):
            step = step0 + np.uint64(b)
            for i in range(cols):
                apply_event(w, pc, j, i, d[b, j] * x[b, i], lr, step, k0, k1, rule, max_pulses, c2c, sigma,
                            dw_nominal, record, n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost)


@njit(parallel=True, cache=True)
def update_dense(w, pc, grad, lr, step, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal, record,
                 n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost):
    """One programming event per cell with a given gradient matrix (accumulated mini-batch)."""
    rows, cols = w.shape
    for j in prange(rows):
        for i in range(cols):
            apply_event(w, pc, j, i, grad[j, i], lr, step, k0, k1, rule, max_pulses, c2c, sigma, dw_nominal,
                        record, n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost)


@njit(cache=True)
def train_linear_epochs(w, pc, X, Y, order, lrs, batch, accumulate, step0, record_from, k0, k1, rule,
                        max_pulses, c2c, sigma, dw_nominal, n_up, n_down, s_abs, s_absw, s_w, D, G, n_trunc,
                        n_lost):
    """Whole epochs of a linear model with loss 1/2 (Wx - y)^2 on one tile, in compiled code.

    Per batch: the forward pass of every sample with the present weights (a sequential float64
    dot product), d = Wx - y, then either the per-sample rank-1 events in order or one event with
    the sequentially summed gradient. Recording is on for a batch whose first event index is
    >= record_from. Returns (events, recorded events).
    """
    rows, cols = w.shape
    n_epochs, n = order.shape
    step = step0
    events = 0
    recorded = 0
    for e in range(n_epochs):
        lr = lrs[e]
        for start in range(0, n, batch):
            size = min(batch, n - start)
            record = record_from >= 0 and events >= record_from
            for bb in range(size):
                s = order[e, start + bb]
                for j in range(rows):
                    acc = 0.0
                    for i in range(cols):
                        acc += np.float64(w[j, i]) * X[s, i]
                    D[bb, j] = acc - Y[s, j]
            if accumulate:
                for j in range(rows):
                    for i in range(cols):
                        G[j, i] = 0.0
                for bb in range(size):
                    s = order[e, start + bb]
                    for j in range(rows):
                        for i in range(cols):
                            G[j, i] += D[bb, j] * X[s, i]
                for j in range(rows):
                    for i in range(cols):
                        apply_event(w, pc, j, i, G[j, i], lr, step, k0, k1, rule, max_pulses, c2c, sigma,
                                    dw_nominal, record, n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost)
                step += np.uint64(1)
                events += 1
                if record:
                    recorded += 1
            else:
                for bb in range(size):
                    s = order[e, start + bb]
                    for j in range(rows):
                        for i in range(cols):
                            apply_event(w, pc, j, i, D[bb, j] * X[s, i], lr, step, k0, k1, rule, max_pulses,
                                        c2c, sigma, dw_nominal, record, n_up, n_down, s_abs, s_absw, s_w,
                                        n_trunc, n_lost)
                    step += np.uint64(1)
                    events += 1
                    if record:
                        recorded += 1
    return events, recorded
'''
