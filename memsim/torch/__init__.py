r"""PyTorch door: your own ``torch.nn`` model with its weights on memsim crossbar tiles, trained in place.

Optional extra ``pip install 'memsim[torch]'``; nothing else in memsim imports this package, and
``import memsim`` does not import torch.

* :class:`AnalogLinear`, :class:`AnalogConv2d`: ``nn.Module`` s whose weight and bias live on one
  :class:`~memsim.models.tile.Tile` (the bias as an extra tile column fed a constant 1). Forward:
  ``Tile.forward`` (periphery included); autograd's backward: ``Tile.backward`` (the transposed
  read). Backward passes keep the layer inputs :math:`x_n` and output gradients
  :math:`d_n = \partial L/\partial y_n` for the update.
* :class:`AnalogSGD`: ``step()`` programs :math:`\Delta W = -\eta\sum_n d_n [x_n;1]^\top`, exactly
  the step of ``torch.optim.SGD`` for the same loss, as per-sample rank-1 events
  (``Tile.update(X, D, lr)``) or one accumulated event (``accumulate=True``); plain SGD on the
  digital parameters.
* :func:`convert_to_analog`: a copy of a model with every ``nn.Linear`` / ``nn.Conv2d`` analog.
* :func:`start_recording`, ``AnalogSGD(record_from=k)``: open the averaging window;
  :func:`implicit_penalty`: per weight :math:`\lambda_i = \overline{|g_i|}\,F'(w_s)` (per optimizer
  step) and the symmetry points :math:`w_{s,i}`.
* :func:`digital_twin`: a plain torch copy and :class:`TikhonovSGD`,
  :math:`w \leftarrow w - \eta(\nabla L + \lambda\odot(w - w_s))`.

CPU tensors share memory with NumPy; a CUDA tensor reaches a ``"cupy"`` tile through DLPack
(:mod:`memsim.torch._arrays`).

Performance: torch and Numba each run an OpenMP thread pool, and on a machine with few (or shared)
cores their spin-waits collide, making small models 10-50x slower. Use one thread each
(``torch.set_num_threads(1)`` and ``memsim.backends.numba.threads.set_num_threads(1)``) or set
``OMP_WAIT_POLICY=passive`` before starting Python; results never depend on the thread counts.
"""

from .layers import AnalogConv2d, AnalogLayer, AnalogLinear, TileRead
from .optim import AnalogSGD, TikhonovSGD, analog_layers, start_recording, stop_recording
from .twin import PenaltyReport, convert_to_analog, digital_twin, implicit_penalty

__all__ = ["AnalogLayer", "AnalogLinear", "AnalogConv2d", "TileRead", "AnalogSGD", "TikhonovSGD",
           "analog_layers", "start_recording", "stop_recording", "convert_to_analog", "implicit_penalty",
           "PenaltyReport", "digital_twin"]
