"""CUDA source of the fused network-training kernel (appended to every device source by
:func:`memsim.backends.cupy.codegen.generate_source`).

It mirrors ``memsim/backends/numba/network_template.py`` (``net_epoch``, ``net_read``) statement for
statement in arithmetic: the same float64 operations in the same order, the same Philox counters
and streams, and for the programming events the per-cell device functions of the tile kernels
(``ms_rank1_cell``, ``ms_apply_event``, ``ms_coincidence_scale``, ``ms_coincidence_stream``,
``ms_coincidence_cell``), so every cell sees exactly the arithmetic of a ``Tile.update``.

Layout (see ``README.md``, "The fused network kernel"):

* one block per replica (``blockIdx.x`` = replica ``r``); its threads cooperate on that replica and
  meet at ``__syncthreads()`` between phases (every barrier is reached by every thread of the block);
* tile ``t`` of replica ``r`` is entry ``q = r * n_tiles + t`` of the pointer tables ``tw`` (weights),
  ``tpc`` (per-cell parameters, ``P x rows x cols`` float64), ``tref`` (zero-shift reference, float64,
  0 without one) and ``tstat`` (7 per tile: ``n_up``, ``n_down``, ``s_abs``, ``s_absw``, ``s_w``,
  ``n_trunc``, ``n_lost``), and of ``keys`` (2 per tile), ``steps`` and ``read_steps``; ``meta``
  (``n_tiles x 7``: layer, r0, r1, c0, c1, has_ref, uniform) is shared by the replicas;
* per-replica inputs: ``X`` (``R x n x sizes[0]``), ``T`` (``R x n x t_cols``), ``orders`` (``R x n``)
  and the scalars as arrays indexed by ``r`` (``lrs``, ``batches``, ...);
* per-replica scratch (``ms_net_scratch_doubles`` / ``..._bits`` doubles / words, ``bmax`` samples of
  ``width`` values): ``A``, ``Z``, ``DL`` (``n_layers x bmax x width`` each), ``BK``, ``U``, ``XS``, ``DS``
  (``bmax x width`` each), the coincidence scales (``2 bmax``); bit streams ``XW``, ``DW`` (``bmax x width x
  max_words`` each); bit lengths ``bls`` (``bmax``).
"""

__all__ = ["NETWORK_SOURCE", "network_source"]

NETWORK_SOURCE = r"""
/* ---------------------------------------------------------------- fused network training
   (numba network_template: net_epoch, net_read; one block per replica, module docstring of
   memsim/backends/cupy/network_template.py) */
#define MS_NET_STATS 7

/* memsim.physics.periphery.quantize of one value (bound < 0: no clipping, bits <= 0: no rounding); Numba's
   math.floor returns an int64, hence the conversion. */
__device__ __forceinline__ double ms_net_quantize(double v, long long bits, double bound, double step)
{
    if (bound >= 0.0) {
        v = ms_min(ms_max(v, -bound), bound);
    }
    if (bits > 0) {
        const double s = v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0);
        v = s * (double)(long long)floor(fabs(v) / step + 0.5) * step;
    }
    return v;
}

/* Backend.normals: flat element k is lane k % 4 of the Philox block of cell k / 4. */
__device__ __forceinline__ double ms_net_flat_normal(unsigned long long k, unsigned int k0, unsigned int k1,
                                                     unsigned long long step, unsigned int stream)
{
    const unsigned int blk = (unsigned int)(k >> 2);
    const unsigned int lane = (unsigned int)(k & 3ull);
    const ms_u4 o = ms_philox4x32_10(0u, blk, ms_stream_word(stream, step), (unsigned int)(step & 0xFFFFFFFFull),
                                     k0, k1);
    const unsigned int ow = lane == 0u ? o.x : (lane == 1u ? o.y : (lane == 2u ? o.z : o.w));
    return ms_normal(ow, k0, k1, step, stream, blk, lane);
}

__device__ __forceinline__ double ms_net_phi(double z, int act)
{
    if (act == MS_ACT_TANH) {
        return tanh(z);
    }
    if (act == MS_ACT_SIGMOID) {
        return 1.0 / (1.0 + exp(-z));
    }
    return ms_max(z, 0.0);
}

__device__ __forceinline__ double ms_net_dphi(double z, int act)
{
    if (act == MS_ACT_TANH) {
        const double t = tanh(z);
        return 1.0 - t * t;
    }
    if (act == MS_ACT_SIGMOID) {
        const double s = 1.0 / (1.0 + exp(-z));
        return s * (1.0 - s);
    }
    return z > 0.0 ? 1.0 : 0.0;
}

/* Whether v is finite (neither inf nor NaN), without <math.h> macros: v - v is 0 exactly then. */
__device__ __forceinline__ bool ms_net_finite(double v)
{
    return v - v == 0.0;
}

/* Doubles / 64-bit words of one replica's scratch (the launcher allocates R times these). */
__device__ __forceinline__ long long ms_net_scratch_doubles(long long n_layers, long long bmax, long long width)
{
    return (3 * n_layers + 4) * bmax * width + 2 * bmax;
}

__device__ __forceinline__ long long ms_net_scratch_bits(long long bmax, long long width, long long max_words)
{
    return 2 * bmax * width * max_words;
}

/* OUT[b, o0 + .] += the read of tile w (rows x cols) with inputs V[b, v0 + .], b < n_b (net_read; rows of V, OUT
   and U have width entries). All threads of the block call it: the quantised inputs U (one thread per value),
   a barrier, the outputs (one thread per output: its whole dot product in index order), a barrier. */
__device__ void ms_net_read(const weight_t* __restrict__ w, const double* __restrict__ ref, int has_ref, long long rows,
                            long long cols, const double* V, long long v0, long long n_b, int transpose, double* OUT,
                            long long o0, int active, const double* __restrict__ qp, const double* __restrict__ noise,
                            unsigned int k0, unsigned int k1, unsigned long long read_step, unsigned int s_read,
                            unsigned int s_wread, double* U, long long width)
{
    const long long tid = (long long)threadIdx.x;
    const long long nth = (long long)blockDim.x;
    const long long n_in = transpose ? rows : cols;
    const long long n_out = transpose ? cols : rows;
    const double out_noise = noise[0];
    const double w_noise = noise[1];
    for (long long e = tid; e < n_b * n_in; e += nth) {
        const long long b = e / n_in;
        const long long a = e - b * n_in;
        const double v = V[b * width + v0 + a];
        U[b * width + a] = active ? ms_net_quantize(v, (long long)qp[0], qp[1], qp[2]) : v;
    }
    __syncthreads();
    for (long long e = tid; e < n_b * n_out; e += nth) {
        const long long b = e / n_out;
        const long long o = e - b * n_out;
        const double* Ub = U + b * width;
        double acc = 0.0;
        for (long long a = 0; a < n_in; ++a) {
            const long long j = transpose ? a : o;
            const long long i = transpose ? o : a;
            double wv = (double)w[j * cols + i];
            if (active && w_noise > 0.0) {
                const unsigned long long k = (unsigned long long)((b * rows + j) * cols + i);
                wv = wv * (1.0 + w_noise * ms_net_flat_normal(k, k0, k1, read_step, s_wread));
            }
            acc += wv * Ub[a];
        }
        if (active && out_noise > 0.0) {
            acc = acc + out_noise * ms_net_flat_normal((unsigned long long)(b * n_out + o), k0, k1, read_step, s_read);
        }
        if (has_ref) {
            double r = 0.0;
            for (long long a = 0; a < n_in; ++a) {
                const long long j = transpose ? a : o;
                const long long i = transpose ? o : a;
                r += ref[j * cols + i] * Ub[a];
            }
            acc = acc - r;
        }
        if (active) {
            acc = ms_net_quantize(acc, (long long)qp[3], qp[4], qp[5]);
        }
        OUT[b * width + o0 + o] += acc;
    }
    __syncthreads();
}

/* One epoch of in-place training of R networks of one shape (numba network_template.net_epoch): block r trains
   replica r (layout: module docstring of memsim/backends/cupy/network_template.py). out[3 r .. 3 r + 2] =
   (events, recorded events, status); status 1: a non-finite input or delta reached a tile (nothing of that batch
   was programmed). */
extern "C" __global__ void ms_train_networks_epoch(const unsigned long long* __restrict__ tw, const unsigned long long* __restrict__ tpc, const unsigned long long* __restrict__ tref, const unsigned long long* __restrict__ tstat, const long long* __restrict__ meta, const unsigned int* __restrict__ keys, unsigned long long* steps, unsigned long long* read_steps, const long long* __restrict__ sizes, long long n_layers, long long n_tiles, int bias, int act, int loss, const double* __restrict__ X, const double* __restrict__ T, const long long* __restrict__ orders, long long n, long long t_cols, const double* __restrict__ lrs, const long long* __restrict__ batches, const int* __restrict__ accumulates, const long long* __restrict__ record_froms, const int* __restrict__ rules, const long long* __restrict__ max_pulses, const long long* __restrict__ desired_bls, const int* __restrict__ ums, const int* __restrict__ blms, const long long* __restrict__ words, const int* __restrict__ c2cs, const double* __restrict__ sigmas, const double* __restrict__ dw_nominals, int active, int back_active, const double* __restrict__ qp, const double* __restrict__ noise, unsigned int s_read, unsigned int s_wread, long long width, long long bmax, long long max_words, double* scratch, unsigned long long* bits, long long* bls, long long* out)
{
    const long long r = (long long)blockIdx.x;
    const long long tid = (long long)threadIdx.x;
    const long long nth = (long long)blockDim.x;
    const long long base = r * n_tiles;
    const long long batch = batches[r];
    const double lr = lrs[r];
    const int accumulate = accumulates[r];
    const long long record_from = record_froms[r];
    const int rule = rules[r];
    const int c2c = c2cs[r];
    const double sigma = sigmas[r];
    const double dw_nominal = dw_nominals[r];
    const long long n_cols0 = sizes[0];
    const double* Xr = X + r * n * n_cols0;
    const double* Tr = T + r * n * t_cols;
    const long long* order = orders + r * n;
    const long long plane = bmax * width;
    double* A = scratch + r * ms_net_scratch_doubles(n_layers, bmax, width);
    double* Z = A + n_layers * plane;
    double* DL = Z + n_layers * plane;
    double* BK = DL + n_layers * plane;
    double* U = BK + plane;
    double* XS = U + plane;
    double* DS = XS + plane;
    double* SC = DS + plane;
    unsigned long long* XW = bits + r * ms_net_scratch_bits(bmax, width, max_words);
    unsigned long long* DW = XW + plane * max_words;
    long long* BL = bls + r * bmax;
    long long* status = out + 3 * r + 2;
    if (tid == 0) {
        *status = 0;
    }
    __syncthreads();
    long long events = 0;
    long long recorded = 0;
    for (long long start = 0; start < n; start += batch) {
        const long long size = batch < n - start ? batch : n - start;
        const int record = record_from >= 0 && events >= record_from;
        /* ---- forward: the batch's augmented inputs, zeroed pre-activations */
        for (long long e = tid; e < size * n_cols0; e += nth) {
            const long long bb = e / n_cols0;
            const long long i = e - bb * n_cols0;
            A[bb * width + i] = Xr[order[start + bb] * n_cols0 + i];
        }
        if (bias) {
            for (long long bb = tid; bb < size; bb += nth) {
                A[bb * width + n_cols0] = 1.0;
            }
        }
        for (long long l = 0; l < n_layers; ++l) {
            for (long long e = tid; e < size * sizes[l + 1]; e += nth) {
                const long long bb = e / sizes[l + 1];
                Z[l * plane + bb * width + (e - bb * sizes[l + 1])] = 0.0;
            }
        }
        __syncthreads();
        for (long long l = 0; l < n_layers; ++l) {
            for (long long t = 0; t < n_tiles; ++t) {
                if (meta[7 * t] != l) {
                    continue;
                }
                const long long q = base + t;
                const unsigned long long rs = read_steps[q];
                const long long rows = meta[7 * t + 2] - meta[7 * t + 1];
                const long long cols = meta[7 * t + 4] - meta[7 * t + 3];
                ms_net_read((const weight_t*)tw[q], (const double*)tref[q], (int)meta[7 * t + 5], rows, cols,
                            A + l * plane, meta[7 * t + 3], size, 0, Z + l * plane, meta[7 * t + 1], active, qp,
                            noise, keys[2 * q], keys[2 * q + 1], rs, s_read, s_wread, U, width);
                if (active && tid == 0) {  /* every thread read rs before the read's first barrier */
                    read_steps[q] = rs + 1ull;
                }
            }
            if (l < n_layers - 1) {
                const long long m = sizes[l + 1];
                const long long m_aug = m + (bias ? 1 : 0);
                for (long long e = tid; e < size * m_aug; e += nth) {
                    const long long bb = e / m_aug;
                    const long long o = e - bb * m_aug;
                    A[(l + 1) * plane + bb * width + o] = o < m ? ms_net_phi(Z[l * plane + bb * width + o], act) : 1.0;
                }
                __syncthreads();
            }
        }
        /* ---- loss gradient: one thread per sample */
        const long long L = n_layers - 1;
        const long long K = sizes[n_layers];
        for (long long bb = tid; bb < size; bb += nth) {
            const long long s = order[start + bb];
            const double* z = Z + L * plane + bb * width;
            double* dl = DL + L * plane + bb * width;
            if (loss == MS_LOSS_MSE) {
                for (long long k = 0; k < K; ++k) {
                    dl[k] = z[k] - Tr[s * t_cols + k];
                }
            } else if (loss == MS_LOSS_SOFTMAX) {
                double top = z[0];
                for (long long k = 1; k < K; ++k) {
                    top = ms_max(top, z[k]);
                }
                double tot = 0.0;
                for (long long k = 0; k < K; ++k) {
                    tot += exp(z[k] - top);
                }
                const double lse = top + log(tot);
                for (long long k = 0; k < K; ++k) {
                    dl[k] = exp(z[k] - lse);
                }
                dl[(long long)Tr[s * t_cols]] -= 1.0;
            } else {
                dl[0] = 1.0 / (1.0 + exp(-z[0])) - Tr[s * t_cols];
            }
        }
        __syncthreads();
        /* ---- backward */
        for (long long l = n_layers - 1; l > 0; --l) {
            const long long n_aug = sizes[l] + (bias ? 1 : 0);
            for (long long e = tid; e < size * n_aug; e += nth) {
                const long long bb = e / n_aug;
                BK[bb * width + (e - bb * n_aug)] = 0.0;
            }
            __syncthreads();
            for (long long t = 0; t < n_tiles; ++t) {
                if (meta[7 * t] != l) {
                    continue;
                }
                const long long q = base + t;
                const unsigned long long rs = read_steps[q];
                const long long rows = meta[7 * t + 2] - meta[7 * t + 1];
                const long long cols = meta[7 * t + 4] - meta[7 * t + 3];
                ms_net_read((const weight_t*)tw[q], (const double*)tref[q], (int)meta[7 * t + 5], rows, cols,
                            DL + l * plane, meta[7 * t + 1], size, 1, BK, meta[7 * t + 3], back_active, qp, noise,
                            keys[2 * q], keys[2 * q + 1], rs, s_read, s_wread, U, width);
                if (back_active && tid == 0) {
                    read_steps[q] = rs + 1ull;
                }
            }
            for (long long e = tid; e < size * sizes[l]; e += nth) {
                const long long bb = e / sizes[l];
                const long long i = e - bb * sizes[l];
                DL[(l - 1) * plane + bb * width + i] = BK[bb * width + i] * ms_net_dphi(Z[(l - 1) * plane + bb * width + i],
                                                                                      act);
            }
            __syncthreads();
        }
        /* ---- refuse what Tile.update refuses */
        for (long long l = 0; l < n_layers; ++l) {
            const long long n_aug = sizes[l] + (bias ? 1 : 0);
            for (long long e = tid; e < size * n_aug; e += nth) {
                const long long bb = e / n_aug;
                if (!ms_net_finite(A[l * plane + bb * width + (e - bb * n_aug)])) {
                    *status = 1;
                }
            }
            for (long long e = tid; e < size * sizes[l + 1]; e += nth) {
                const long long bb = e / sizes[l + 1];
                if (!ms_net_finite(DL[l * plane + bb * width + (e - bb * sizes[l + 1])])) {
                    *status = 1;
                }
            }
        }
        __syncthreads();
        if (*status != 0) {
            break;  /* every thread leaves: the flag was written before the barrier */
        }
        /* ---- programming events: the tile kernels' per-cell functions on the tile's slices of the batch */
        for (long long t = 0; t < n_tiles; ++t) {
            const long long q = base + t;
            const long long l = meta[7 * t];
            const long long r0 = meta[7 * t + 1];
            const long long c0 = meta[7 * t + 3];
            const long long rows = meta[7 * t + 2] - r0;
            const long long cols = meta[7 * t + 4] - c0;
            const long long ncell = rows * cols;
            weight_t* w = (weight_t*)tw[q];
            const double* pc = (const double*)tpc[q];
            const unsigned long long* st = tstat + MS_NET_STATS * q;
            long long* n_up = (long long*)st[0];
            long long* n_down = (long long*)st[1];
            double* s_abs = (double*)st[2];
            double* s_absw = (double*)st[3];
            double* s_w = (double*)st[4];
            long long* n_trunc = (long long*)st[5];
            long long* n_lost = (long long*)st[6];
            const unsigned int k0 = keys[2 * q];
            const unsigned int k1 = keys[2 * q + 1];
            const unsigned long long step0 = steps[q];
            for (long long e = tid; e < size * cols; e += nth) {
                const long long bb = e / cols;
                XS[e] = A[l * plane + bb * width + c0 + (e - bb * cols)];
            }
            for (long long e = tid; e < size * rows; e += nth) {
                const long long bb = e / rows;
                DS[e] = DL[l * plane + bb * width + r0 + (e - bb * rows)];
            }
            __syncthreads();
            unsigned long long k = (unsigned long long)size;
            if (rule == MS_RULE_PULSE_COINCIDENCE) {
                const long long nw = words[r];
                for (long long bb = tid; bb < size; bb += nth) {
                    ms_coincidence_scale(bb, XS, DS, rows, cols, lr, dw_nominal, desired_bls[r], ums[r], blms[r], BL,
                                         SC);
                }
                __syncthreads();
                for (long long e = tid; e < size * (rows + cols); e += nth) {
                    ms_coincidence_stream(e, XS, DS, rows, cols, BL, SC, step0, k0, k1, nw, XW, DW);
                }
                __syncthreads();
                for (long long cell = tid; cell < ncell; cell += nth) {
                    ms_coincidence_cell(w, pc, cell, XS, DS, XW, DW, size, rows, cols, nw, step0, k0, k1, c2c, sigma,
                                        record, n_up, n_down, s_abs, s_absw, s_w);
                }
            } else if (accumulate) {
                for (long long cell = tid; cell < ncell; cell += nth) {
                    const long long j = cell / cols;
                    const long long i = cell - j * cols;
                    double gsum = 0.0;  /* sequential_outer_sum: sample by sample */
                    for (long long bb = 0; bb < size; ++bb) {
                        gsum += DS[bb * rows + j] * XS[bb * cols + i];
                    }
                    ms_apply_event(w, pc, ncell, cell, gsum, lr, step0, k0, k1, rule, max_pulses[r], c2c, sigma,
                                   dw_nominal, record, n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost);
                }
                k = 1ull;
            } else {
                for (long long cell = tid; cell < ncell; cell += nth) {
                    ms_rank1_cell(w, pc, cell, XS, DS, rows, cols, size, lr, step0, k0, k1, rule, max_pulses[r], c2c,
                                  sigma, dw_nominal, record, n_up, n_down, s_abs, s_absw, s_w, n_trunc, n_lost);
                }
            }
            __syncthreads();  /* the scratch is reused by the next tile; every thread has read steps[q] */
            if (tid == 0) {
                steps[q] = step0 + k;
            }
        }
        const long long kk = accumulate ? 1 : size;
        events += kk;
        if (record) {
            recorded += kk;
        }
    }
    if (tid == 0) {
        out[3 * r] = events;
        out[3 * r + 1] = recorded;
    }
}
"""


def network_source() -> str:
    """The network kernel's source with its activation and loss codes (``#define MS_ACT_TANH 0``, ...) taken from
    :data:`memsim.network_math.ACTIVATION_CODES` and ``LOSS_CODES`` (the codes the trainer passes).

    Returns
    -------
    str
        ``NETWORK_SOURCE`` preceded by the code definitions.
    """
    from ...network_math import ACTIVATION_CODES, LOSS_CODES

    lines = [f"#define MS_ACT_{name.upper()} {k}" for k, name in enumerate(ACTIVATION_CODES)]
    lines += [f"#define MS_LOSS_{name.upper()} {k}" for k, name in enumerate(LOSS_CODES)]
    return "\n" + "\n".join(lines) + NETWORK_SOURCE
