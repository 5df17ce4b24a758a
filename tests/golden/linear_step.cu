/* linear_step: LinearStep.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_linear_step(double w, bool up, double dw_min, double w_min, double w_max, double gamma_up, double gamma_down)
{
    double bound = (up ? w_max : w_min);
    double slope = ((bound != 0.0) ? ((up ? gamma_up : gamma_down) / bound) : 0.0);
    return ((bound != 0.0) ? (dw_min * ms_max((1.0 - (slope * w)), 0.0)) : 0.0);
}

/* linear_step: LinearStep.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_linear_step(double w, bool up, double dw_min, double w_min, double w_max, double gamma_up, double gamma_down)
{
    return 1.0;
}
