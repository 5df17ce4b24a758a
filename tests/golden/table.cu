/* table: TableDevice.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_table(double w, bool up, double dw_min, double w_min, double w_max)
{
    double scale = (dw_min / 0.001);
    return (scale * (up ? ((w <= (-1.0)) ? 0.002 : ((w < 0.0) ? (0.002 + ((w - (-1.0)) * (-0.001))) : ((w < 1.0) ? (0.001 + ((w - 0.0) * (-0.0008))) : 0.0002))) : ((w <= (-1.0)) ? 0.0002 : ((w < 0.0) ? (0.0002 + ((w - (-1.0)) * 0.0008)) : ((w < 1.0) ? (0.001 + ((w - 0.0) * 0.001)) : 0.002)))));
}

/* table: TableDevice.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_table(double w, bool up, double dw_min, double w_min, double w_max)
{
    return (up ? ((w <= (-1.0)) ? 0.3 : ((w < 0.0) ? (0.3 + ((w - (-1.0)) * 0.0)) : ((w < 1.0) ? (0.3 + ((w - 0.0) * 0.0)) : 0.3))) : ((w <= (-1.0)) ? 0.3 : ((w < 0.0) ? (0.3 + ((w - (-1.0)) * 0.0)) : ((w < 1.0) ? (0.3 + ((w - 0.0) * 0.0)) : 0.3))));
}
