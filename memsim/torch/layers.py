r"""Analog torch layers: the weights live on a memsim :class:`~memsim.models.tile.Tile`.

A layer stores :math:`W = [W_{\rm torch} \mid b]` (shape ``(out, in + bias)``) on one tile, the bias
as an extra tile column fed a constant 1, exactly like :class:`memsim.models.layers.TiledLinear`:
the bias is an analog weight, programmed by the same pulses and drifting under the same device
physics. For a batch of rows :math:`x_n` (a linear layer's inputs, or a convolution's unfolded
patches):

.. math::
    y_n = \mathrm{read}(W\,[x_n; 1]) \qquad\text{(forward: } \texttt{Tile.forward}\text{, periphery included)}

.. math::
    \frac{\partial L}{\partial x_n} = \big(\mathrm{read}^\top(W^\top d_n)\big)_{1..\mathrm{in}},
    \qquad d_n = \frac{\partial L}{\partial y_n}
    \qquad\text{(backward: } \texttt{Tile.backward}\text{)}

Autograd's backward keeps the pairs :math:`([x_n; 1], d_n)` on the layer (:attr:`AnalogLayer.kept`);
:class:`~memsim.torch.optim.AnalogSGD` programs them, :math:`\Delta W = -\eta \sum_n d_n [x_n; 1]^\top`,
which is exactly the step ``torch.optim.SGD`` takes on ``weight`` and ``bias`` for the same loss.
The layer has no registered ``torch.nn.Parameter`` for its weights (torch optimizers do not see
them); ``weight`` and ``bias`` are read-only tensor copies of the tile, and ``state_dict`` /
``load_state_dict`` speak the same keys and shapes as ``nn.Linear`` / ``nn.Conv2d`` (loading programs
the tile), so a plain model and its analog version exchange state dicts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models.tile import Tile
from ..params import check_bool, check_int, invalid
from ._arrays import from_numpy, to_numpy

__all__ = ["AnalogLayer", "AnalogLinear", "AnalogConv2d", "TileRead"]


class TileRead(torch.autograd.Function):
    r"""The tile read as an autograd function: forward ``Tile.forward``, backward ``Tile.backward``.

    ``apply(x, analog_ctx, layer)`` with ``x`` of shape ``(n, in)``: returns ``read(W [x; 1])`` of
    shape ``(n, out)``. Its backward keeps ``([x; 1], dL/dy)`` on ``layer`` for the update and returns
    ``dL/dx`` from the transposed read (only when ``x`` needs it). ``analog_ctx`` is the layer's
    0-element leaf tensor that requires grad, so that autograd calls the backward even when ``x``
    (e.g. the network input) does not require grad; it receives no gradient.

    Parameters
    ----------
    *args
        Unused: call ``TileRead.apply(x, analog_ctx, layer)``.
    **kwargs
        Unused.
    """

    @staticmethod
    def forward(ctx, x, analog_ctx, layer):  # noqa: D102 - documented on the class
        a = layer._augment(x)
        y = layer.tile.forward(a)
        ctx.layer, ctx.a = layer, a
        return from_numpy(y, x)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        layer = ctx.layer
        d = np.array(to_numpy(grad_out, layer.tile.backend), dtype=np.float64, copy=True)
        layer._kept.append((ctx.a, d))
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = from_numpy(layer.tile.backward(d)[:, :layer.tile_inputs], grad_out)
        return grad_x, None, None


class AnalogLayer(nn.Module):
    """Common part of the analog layers: one tile of shape ``(out, in + bias)``, kept tensors, state.

    Parameters
    ----------
    *args
        Passed to :class:`torch.nn.Module`.
    **kwargs
        Passed to :class:`torch.nn.Module`.

    Attributes
    ----------
    tile : memsim.models.tile.Tile
        The crossbar; its ``statistics()`` hold the recorded window (see
        :func:`memsim.torch.start_recording`).
    kept : list of (numpy.ndarray, numpy.ndarray)
        ``([x; 1], d)`` of every backward pass since the last ``zero_grad``: inputs of shape
        ``(n, in + bias)`` and output gradients ``dL/dy`` of shape ``(n, out)``, float64.
    recorded_steps : int
        Optimizer steps programmed while the tile was recording (the penalty's time unit).
    """

    def _setup(self, rows: int, tile_inputs: int, bias: bool, *, device, update, periphery, backend, dtype,
               seed: int, torch_dtype) -> None:
        self.tile_inputs = tile_inputs
        self.use_bias = check_bool(type(self).__name__, "bias", bias)
        self.tile = Tile(rows, tile_inputs + int(self.use_bias), device, update=update, periphery=periphery,
                         backend=backend, dtype=dtype, seed=seed)
        self.torch_dtype = torch.get_default_dtype() if torch_dtype is None else torch_dtype
        # A 0-element leaf that requires grad: not a registered Parameter (not in parameters() nor
        # in the state dict); it only makes autograd call TileRead.backward.
        self.analog_ctx = torch.zeros(0, requires_grad=True)
        self._kept: list[tuple[np.ndarray, np.ndarray]] = []
        self.recorded_steps = 0

    def _apply(self, fn, recurse=True):
        # .double(), .half(), .to(dtype): follow the dtype for the state dict and the digital twin
        self.torch_dtype = fn(torch.empty(0, dtype=self.torch_dtype)).dtype
        return super()._apply(fn, recurse)

    # ------------------------------------------------------------------ reads
    def _augment(self, x: torch.Tensor) -> np.ndarray:
        """``[x; 1]`` as a float64 NumPy array (a copy: later in-place edits of ``x`` do not reach it)."""
        a = to_numpy(x, self.tile.backend)
        if self.use_bias:
            return np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
        return np.array(a, dtype=np.float64, copy=True)

    def _read(self, rows: torch.Tensor) -> torch.Tensor:
        return TileRead.apply(rows, self.analog_ctx, self)

    @property
    def kept(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``([x; 1], d)`` pairs kept by backward passes since the last ``clear_kept``."""
        return self._kept

    def clear_kept(self) -> None:
        """Forget the kept inputs and output gradients (``AnalogSGD.zero_grad`` calls it)."""
        self._kept = []

    # ------------------------------------------------------------------ weights
    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the torch ``weight`` (``(out, in)`` or ``(out, in_channels, kh, kw)``)."""
        raise NotImplementedError

    def split(self, matrix) -> tuple[np.ndarray, np.ndarray | None]:
        """Cut a tile-shaped array ``(out, in + bias)`` into ``(weight-shaped, bias or None)``.

        Parameters
        ----------
        matrix : array_like
            A tile-shaped array ``(out, in + bias)``.

        Returns
        -------
        weight : numpy.ndarray
            The weights in torch layout.
        bias : numpy.ndarray or None
            The bias column, or ``None`` without a bias.
        """
        m = np.asarray(matrix)
        w = m[:, :self.tile_inputs].reshape(self.weight_shape)
        return w, (m[:, self.tile_inputs] if self.use_bias else None)

    def join(self, weight, bias=None) -> np.ndarray:
        """The tile matrix ``[weight.reshape(out, -1) | bias]`` of torch-shaped ``weight`` and ``bias``.

        Parameters
        ----------
        weight : torch.Tensor or array_like
            Weights in torch layout.
        bias : torch.Tensor or array_like or None
            The bias (required when the layer has one).

        Returns
        -------
        numpy.ndarray
            The tile matrix, shape ``(out, in + bias)``.
        """
        w = to_numpy(weight) if isinstance(weight, torch.Tensor) else np.asarray(weight, dtype=np.float64)
        w = w.reshape(self.tile.rows, self.tile_inputs)
        if not self.use_bias:
            return w
        if bias is None:
            raise invalid(type(self).__name__, "bias", "a tensor (the layer has a bias column)", None)
        b = to_numpy(bias) if isinstance(bias, torch.Tensor) else np.asarray(bias, dtype=np.float64)
        return np.concatenate([w, b.reshape(-1, 1)], axis=1)

    @property
    def weight(self) -> torch.Tensor:
        """A copy of the analog weights in torch layout (float64 tensor; not a Parameter)."""
        return torch.from_numpy(np.ascontiguousarray(self.split(self.tile.weights)[0]))

    @property
    def bias(self) -> torch.Tensor | None:
        """A copy of the analog bias column (float64 tensor), or ``None``."""
        b = self.split(self.tile.weights)[1]
        return None if b is None else torch.from_numpy(np.ascontiguousarray(b))

    def program_weights(self, weight, bias=None) -> float:
        """Program torch-shaped ``weight`` (and ``bias``) into the tile, clipped to each cell's range.

        Parameters
        ----------
        weight : torch.Tensor or array_like
            Weights in torch layout.
        bias : torch.Tensor or array_like or None
            The bias (required when the layer has one).

        Returns
        -------
        float
            The fraction of the tile's cells whose requested value was outside its ``[w_min, w_max]``.
        """
        m = self.join(weight, bias)
        p = self.tile.cell_parameters
        clipped = float(np.mean((m < p["w_min"]) | (m > p["w_max"])))
        self.tile.program(m)
        return clipped

    # ------------------------------------------------------------------ state dict (nn.Linear keys)
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        w, b = self.split(self.tile.weights)
        destination[prefix + "weight"] = torch.from_numpy(np.ascontiguousarray(w)).to(self.torch_dtype)
        if b is not None:
            destination[prefix + "bias"] = torch.from_numpy(np.ascontiguousarray(b)).to(self.torch_dtype)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        keys = [prefix + "weight"] + ([prefix + "bias"] if self.use_bias else [])
        missing = [k for k in keys if k not in state_dict]
        missing_keys.extend(missing)
        if strict:
            known = set(keys)
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k not in known
                                   and "." not in k[len(prefix):])
        if not missing:
            self.program_weights(state_dict[keys[0]], state_dict[keys[1]] if self.use_bias else None)

    def _tile_repr(self) -> str:
        t = self.tile
        return (f"device={t.device.kind}, update={t.update_rule.kind}, backend={t.backend.name}, "
                f"seed={t.seed}")


def _init_like(layer: nn.Module, analog: AnalogLayer) -> None:
    """Program the default torch initialisation of ``layer`` (torch's global RNG) into ``analog``."""
    analog.program_weights(layer.weight.detach(), None if layer.bias is None else layer.bias.detach())


class AnalogLinear(AnalogLayer):
    r"""``torch.nn.Linear`` on a crossbar tile: :math:`y = \mathrm{read}(W[x; 1])`.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Size of each output sample.
    bias : bool
        Add a bias, stored as the tile's last column (fed a constant 1).
    device : memsim.physics.devices.PulsedDevice
        Device model of every cell.
    update : memsim.physics.updates.UpdateRule, optional
        Pulse-count rule (default stochastic rounding).
    periphery : memsim.physics.periphery.Periphery, optional
        DAC/ADC and read noise of the reads (default: exact reads).
    backend : str
        ``"numba"`` (default), ``"numpy"``, ``"cupy"`` or ``"auto"``.
    dtype : {"float64", "float32"}
        Storage dtype of the tile.
    seed : int
        The tile's Philox key (``Tile(..., seed=seed)``).
    torch_dtype : torch.dtype, optional
        The dtype of the state-dict tensors and of the digital twin (default: torch's default dtype).

    Notes
    -----
    The initial weights are ``nn.Linear``'s default initialisation (drawn from torch's global RNG),
    clipped to the cells' ranges. Inputs of any shape ``(*, in_features)`` are read row by row;
    every row is one sample (one programming event of a per-sample update).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, device, update=None,
                 periphery=None, backend="numba", dtype="float64", seed: int = 0, torch_dtype=None):
        super().__init__()
        self.in_features = check_int("AnalogLinear", "in_features", in_features, 1)
        self.out_features = check_int("AnalogLinear", "out_features", out_features, 1)
        self._setup(self.out_features, self.in_features, bias, device=device, update=update, periphery=periphery,
                    backend=backend, dtype=dtype, seed=seed, torch_dtype=torch_dtype)
        _init_like(nn.Linear(self.in_features, self.out_features, self.use_bias), self)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the torch ``weight``: ``(out_features, in_features)``."""
        return (self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``read(W [x; 1])`` for ``x`` of shape ``(*, in_features)``.

        Parameters
        ----------
        x : torch.Tensor
            Input of shape ``(*, in_features)``.

        Returns
        -------
        torch.Tensor
            Output of shape ``(*, out_features)``.
        """
        if x.shape[-1] != self.in_features:
            raise invalid("AnalogLinear.forward", "x", f"a tensor of shape (*, {self.in_features})",
                          f"shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        y = self._read(x.reshape(-1, self.in_features))
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.use_bias}, "
                + self._tile_repr())


def _pair(v: Any, name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2:
        raise invalid("AnalogConv2d", name, "an int or a pair of ints", v)
    return check_int("AnalogConv2d", name, t[0], 0), check_int("AnalogConv2d", name, t[1], 0)


class AnalogConv2d(AnalogLayer):
    r"""``torch.nn.Conv2d`` on a crossbar tile, by unfolding (as IBM aihwkit does).

    The input :math:`X` (``(B, C, H, W)``) is unfolded (``torch.nn.functional.unfold``) into
    :math:`P = B\,L` patch rows :math:`p_n` of length :math:`C k_h k_w` (:math:`L` output positions per
    image); every patch is one row of the tile's batch:

    .. math::
        y_n = \mathrm{read}(W[p_n; 1]), \qquad W \in \mathbb{R}^{\mathrm{out}\times(C k_h k_w + 1)}

    and the rows are reshaped to ``(B, out, H_out, W_out)``. The input gradient is the fold of the
    transposed reads :math:`W^\top d_n` (autograd's backward of ``unfold``). With per-sample updates
    every patch is one programming event, :math:`\Delta W = -\eta \sum_n d_n [p_n; 1]^\top`: the
    sum is exactly the convolution's weight gradient, so the requested step is ``torch.optim.SGD``'s.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    out_channels : int
        Channels of the output.
    kernel_size : int or (int, int)
        Size of the kernel, as in ``nn.Conv2d``.
    stride : int or (int, int)
        Stride, as in ``nn.Conv2d``.
    padding : int or (int, int) or {"valid", "same"}
        Zero padding, as in ``nn.Conv2d`` (``"valid"`` is 0, ``"same"`` needs stride 1 and an odd effective
        kernel).
    bias : bool
        Add a bias, stored as the tile's last column (fed a constant 1).
    dilation : int or (int, int)
        Dilation, as in ``nn.Conv2d`` (``groups`` is 1).
    device : memsim.physics.devices.base.PulsedDevice
        Device model of every cell.
    update : memsim.physics.updates.UpdateRule, optional
        Pulse-count rule (default stochastic rounding).
    periphery : memsim.physics.periphery.Periphery, optional
        DAC/ADC and read noise of the reads (default: exact reads).
    backend : str
        ``"numba"`` (default), ``"numpy"``, ``"cupy"`` or ``"auto"``.
    dtype : {"float64", "float32"}
        Storage dtype of the tile.
    seed : int
        The tile's Philox key (``Tile(..., seed=seed)``).
    torch_dtype : torch.dtype, optional
        The dtype of the state-dict tensors and of the digital twin (default: torch's default dtype).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 *, dilation=1, device, update=None, periphery=None, backend="numba", dtype="float64",
                 seed: int = 0, torch_dtype=None):
        super().__init__()
        owner = "AnalogConv2d"
        self.in_channels = check_int(owner, "in_channels", in_channels, 1)
        self.out_channels = check_int(owner, "out_channels", out_channels, 1)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        if min(self.kernel_size) < 1:
            raise invalid(owner, "kernel_size", "positive ints", kernel_size)
        self.stride = _pair(stride, "stride")
        if min(self.stride) < 1:
            raise invalid(owner, "stride", "positive ints", stride)
        self.dilation = _pair(dilation, "dilation")
        if min(self.dilation) < 1:
            raise invalid(owner, "dilation", "positive ints", dilation)
        if padding == "valid":
            padding = 0
        elif padding == "same":
            spans = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if self.stride != (1, 1) or any(s % 2 for s in spans):
                raise invalid(owner, "padding", "'same' only with stride 1 and an odd effective kernel", padding)
            padding = tuple(s // 2 for s in spans)
        self.padding = _pair(padding, "padding")
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        self._setup(self.out_channels, fan_in, bias, device=device, update=update, periphery=periphery,
                    backend=backend, dtype=dtype, seed=seed, torch_dtype=torch_dtype)
        _init_like(nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                             self.dilation, bias=self.use_bias), self)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the torch ``weight``: ``(out_channels, in_channels, k_h, k_w)``."""
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """``(H_out, W_out)`` of an ``h x w`` input (``nn.Conv2d``'s formula).

        Parameters
        ----------
        h : int
            Input height.
        w : int
            Input width.

        Returns
        -------
        h_out : int
            Output height.
        w_out : int
            Output width.
        """
        return tuple(math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1 for n, p, d, k, s in
                     zip((h, w), self.padding, self.dilation, self.kernel_size, self.stride))

    def unfold(self, x: torch.Tensor) -> torch.Tensor:
        """The patch rows ``(B * L, C k_h k_w)`` of ``x`` (``(B, C, H, W)``), image-major.

        Parameters
        ----------
        x : torch.Tensor
            Input of shape ``(B, C, H, W)``.

        Returns
        -------
        torch.Tensor
            The patch rows, shape ``(B * L, C k_h k_w)``.
        """
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` (``(B, C, H, W)`` or ``(C, H, W)``) read through the tile.

        Parameters
        ----------
        x : torch.Tensor
            Input of shape ``(B, C, H, W)`` or ``(C, H, W)``.

        Returns
        -------
        torch.Tensor
            Output of shape ``(B, out_channels, H_out, W_out)`` (or without ``B``).
        """
        single = x.dim() == 3
        if single:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise invalid("AnalogConv2d.forward", "x", f"a tensor of shape (B, {self.in_channels}, H, W)",
                          f"shape {tuple(x.shape)}")
        ho, wo = self.output_size(x.shape[2], x.shape[3])
        y = self._read(self.unfold(x))  # (B * L, out)
        y = y.reshape(x.shape[0], ho * wo, self.out_channels).transpose(1, 2).reshape(
            x.shape[0], self.out_channels, ho, wo)
        return y[0] if single else y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.use_bias}, " + self._tile_repr())
