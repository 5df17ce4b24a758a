/* pow_step: PowStep.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_pow_step(double w, bool up, double dw_min, double w_min, double w_max, double pow_gamma, double pow_up_down)
{
    double span = (w_max - w_min);
    double omega = ((span > 0.0) ? ((w_max - w) / span) : 0.0);
    double base = ms_max((up ? omega : (1.0 - omega)), 0.0);
    double gamma = ms_max((pow_gamma * (up ? (1.0 + pow_up_down) : (1.0 - pow_up_down))), 0.0);
    return (dw_min * pow(base, gamma));
}

/* pow_step: PowStep.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_pow_step(double w, bool up, double dw_min, double w_min, double w_max, double pow_gamma, double pow_up_down)
{
    return 1.0;
}
