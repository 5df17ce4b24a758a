"""Tensor <-> array conversions between torch and a tile's backend.

CPU tensors share memory with NumPy (``tensor.numpy()``, ``torch.from_numpy``): a float64 CPU tensor
reaches a :class:`~memsim.models.tile.Tile` without a copy. A CUDA tensor read by a tile on the
``"cupy"`` backend goes through DLPack (``backend.xp.from_dlpack``, zero copy on the GPU); the
tile's public methods take NumPy arrays, so it is then copied to the host once per read (best
effort: a fully device-resident path would need the tile to accept backend arrays). On any other
backend a CUDA tensor is copied with ``tensor.cpu()``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_numpy", "from_numpy"]


def to_numpy(t: torch.Tensor, backend=None) -> np.ndarray:
    """``t`` (detached) as a float64 NumPy array; shares memory with a float64 CPU tensor.

    Parameters
    ----------
    t : torch.Tensor
        The tensor.
    backend : memsim.backends.Backend, optional
        The reading tile's backend: a CUDA tensor goes to a ``"cupy"`` backend through DLPack.

    Returns
    -------
    numpy.ndarray
        The values as float64.
    """
    t = t.detach()
    if t.device.type != "cpu":
        if backend is not None and getattr(backend, "name", "") == "cupy":
            arr = backend.xp.from_dlpack(t.to(torch.float64).contiguous())
            return backend.to_numpy(arr)
        t = t.cpu()
    return t.to(torch.float64).numpy()


def from_numpy(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A NumPy result as a tensor with the dtype and device of ``like`` (no copy for float64 on CPU).

    Parameters
    ----------
    a : numpy.ndarray
        The array.
    like : torch.Tensor
        A tensor whose dtype and device the result takes.

    Returns
    -------
    torch.Tensor
        ``a`` as a tensor like ``like``.
    """
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=like.device, dtype=like.dtype)
