/* exp_step: ExpStep.mean_step (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_mean_step_exp_step(double w, bool up, double dw_min, double w_min, double w_max, double states_ltp, double states_ltd, double curvature_ltp, double curvature_ltd)
{
    double span = (w_max - w_min);
    double g = ((span > 0.0) ? ((w - w_min) / span) : 0.0);
    double c = (up ? curvature_ltp : curvature_ltd);
    double p = (up ? states_ltp : states_ltd);
    double k = ((p > 0.0) ? ((up ? c : (-c)) / p) : 0.0);
    k = ms_min(ms_max(k, (-50.0)), 50.0);
    double t = tanh((0.5 * k));
    double em = ((fabs(k) < 0.5) ? ((2.0 * t) / (1.0 + t)) : (1.0 - exp((-k))));
    double tc = tanh((0.5 * c));
    double b = ((tc != 0.0) ? ((1.0 + tc) / (2.0 * tc)) : 0.0);
    double dg = ((fabs(c) >= 1e-12) ? (em * (b - g)) : (((p > 0.0) ? (1.0 / p) : 0.0) * (up ? 1.0 : (-1.0))));
    return ((dw_min * states_ltp) * ms_max((up ? dg : (-dg)), 0.0));
}

/* exp_step: ExpStep.step_spread (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_step_spread_exp_step(double w, bool up, double dw_min, double w_min, double w_max, double states_ltp, double states_ltd, double curvature_ltp, double curvature_ltd)
{
    return 1.0;
}
