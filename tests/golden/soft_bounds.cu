/* soft_bounds: SoftBounds.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_soft_bounds(double w, bool up, double dw_min, double w_min, double w_max)
{
    double bound = (up ? w_max : w_min);
    double inv = ((bound != 0.0) ? (1.0 / bound) : 0.0);
    return ((bound != 0.0) ? (dw_min * ms_max((1.0 - (w * inv)), 0.0)) : 0.0);
}

/* soft_bounds: SoftBounds.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_soft_bounds(double w, bool up, double dw_min, double w_min, double w_max)
{
    return 1.0;
}
