/* constant_step: ConstantStep.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_constant_step(double w, bool up, double dw_min, double w_min, double w_max)
{
    return dw_min;
}

/* constant_step: ConstantStep.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_constant_step(double w, bool up, double dw_min, double w_min, double w_max)
{
    return 1.0;
}
