r"""Compound (residual-learning) training schemes: Tiki-Taka, its successors, mixed precision.

Each scheme is a frozen dataclass of settings; :class:`memsim.models.compound.CompoundTile` runs it
on ordinary :class:`~memsim.models.tile.Tile` s. Notation (docs/design.md, section 'Conventions'): a mini-batch
requests the gradient :math:`G = \sum_b d_b x_b^\top` (``d = dL/dy``), the run's learning rate is
:math:`\eta`; ``A`` is the fast array (device ``fast_device``), ``C`` the slow array (the run's
``[device]``), ``r`` A's reference, :math:`\gamma` = ``gamma``. The model weight (forward, backward,
every metric) is

.. math::  W = \gamma\,(A - r) + C.

Every write to ``A`` or ``C`` is a pulsed :meth:`Tile.update` of the run's ``[update]`` rule or, for
the writes of an exact number of pulses (TTv2 family, mixed precision), of the
:class:`~memsim.physics.updates.Deterministic` rule on a request of exactly ``n * dw_min_C`` (which
rounds to exactly ``n`` pulses), so every pulse, its cycle-to-cycle noise, its Philox stream and
the counting of pulse trains cut at ``max_pulses`` are those of the plain rules.

A's reference ``r`` (``reference``): ``"symmetry"`` -- each cell's own symmetry point (with
device-to-device spread; aihwkit's ``subtract_symmetry_point``), ``"zero"`` -- 0, or
``"offset"`` -- ``reference_mean + reference_std * N(0, 1)`` per cell (a misprogrammed
reference, to reproduce the failure modes on purpose). ``A`` starts (and is re-programmed) at
``r``: its effective weight ``A - r`` starts at 0.

Parameter names and defaults are aihwkit's (``aihwkit.simulator.configs.compounds``); where memsim
differs it says so in the class docstring. All schemes share: ``fast_lr`` is absolute unless
``scale_fast_lr`` (aihwkit 1.2: always absolute), ``transfer_lr`` is multiplied by :math:`\eta` when
``scale_transfer_lr``. ``transfer_every`` counts programming events (samples with per-sample
updates, batches with ``accumulate``) or, with ``units_in_mbatch``, mini-batches; a value below 1
makes several transfers per unit.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..params import check_bool, check_choice, check_float, check_int, check_keys, invalid, MAX_MAGNITUDE
from .devices import PulsedDevice, device_from_dict
from .periphery import Periphery
from .updates import UpdateRule, update_from_dict

__all__ = ["Scheme", "TikiTaka", "BufferedTransfer", "ChoppedTransfer", "DynamicTransfer", "MixedPrecision",
           "SCHEMES", "REFERENCES", "scheme_from_dict"]

REFERENCES = ("symmetry", "zero", "offset")


#: Type and description of every setting (the classes' Parameters sections are built from it).
_FIELD_DOCS = {
    "fast_device": ("PulsedDevice, dict or None", "Device of ``A`` (``[scheme.fast_device]``); ``None``: the run's "
                    "``[device]``."),
    "reference": ("str", "A's reference: ``'symmetry'``, ``'zero'`` or ``'offset'`` (module docstring)."),
    "reference_mean": ("float", "Mean of the reference with ``reference = 'offset'``."),
    "reference_std": ("float", "Cell-to-cell standard deviation of an offset reference; >= 0."),
    "gamma": ("float", "Weight of ``A`` in the model weight ``gamma * (A - r) + C``."),
    "transfer_every": ("float", "Units (events, or mini-batches with ``units_in_mbatch``) between transfers; > 0."),
    "units_in_mbatch": ("bool", "Count ``transfer_every`` in mini-batches instead of programming events."),
    "n_reads_per_transfer": ("int", "Consecutive columns (rows) read per transfer, cycling; >= 1."),
    "transfer_columns": ("bool", "Read columns of ``A`` with one-hot inputs (``False``: rows, by a backward read)."),
    "fast_lr": ("float", "Learning rate of the gradient writes into ``A``; > 0."),
    "scale_fast_lr": ("bool", "Multiply ``fast_lr`` by the run's learning rate."),
    "transfer_lr": ("float", "Scale of the transferred reads (mixed precision: of the writes to ``C``); > 0."),
    "scale_transfer_lr": ("bool", "Multiply ``transfer_lr`` by the run's learning rate."),
    "transfer_forward": ("Periphery, dict or None", "Periphery of the transfer reads (``[scheme.transfer_forward]``); "
                         "``None``: the tile's."),
    "transfer_update": ("UpdateRule, dict or None", "Pulse rule of the transfer writes into ``C`` "
                        "(``[scheme.transfer_update]``); ``None``: the run's ``[update]``."),
    "thres_scale": ("float", "Buffer threshold in units of C's ``dw_min``; > 0."),
    "momentum": ("float", "Fraction of the buffer kept after a transfer; in [0, 1]."),
    "forget_buffer": ("bool", "Reset the buffer to ``momentum * H`` after a transfer (else subtract what was "
                      "transferred)."),
    "transfer_desired_bl": ("int", "Largest number of pulses of one transfer write to a cell (aihwkit's "
                            "``transfer_update.desired_bl``); >= 1."),
    "in_chop_prob": ("float", "Switching probability (or frequency, when regular) of the input choppers; in [0, 1]."),
    "in_chop_random": ("bool", "Switch at random (else regularly, every ``max(ceil(1/in_chop_prob), 2)`` reads)."),
    "out_chop_prob": ("float", "Switching probability of each output chopper per sweep; in [0, 1]."),
    "buffer_granularity": ("float", "Extra factor of the buffer threshold; > 0."),
    "tail_weightening": ("float", "Weight of the tail of a chopper period in the running mean; > 0."),
    "buffer_cap": ("float", "Cap of the buffer in units of ``transfer_desired_bl`` thresholds (0: none); >= 0."),
    "n_rows_per_transfer": ("int", "Rows written per transfer (-1: all); -1 or >= 1."),
    "granularity": ("float", "Pulse threshold epsilon (0: C's ``dw_min``); >= 0."),
}


def _document(cls):
    """Append a numpydoc Parameters section (every dataclass field, in signature order) to ``cls.__doc__``."""
    lines = ["", "", "    Parameters", "    ----------"]
    for f in dataclasses.fields(cls):
        kind, text = _FIELD_DOCS[f.name]
        lines += [f"    {f.name} : {kind}", f"        {text}"]
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n".join(lines) + "\n    "
    return cls


def _pos(owner: str, name: str, value: Any, lo_open: bool = True) -> float:
    return check_float(owner, name, value, 0.0, MAX_MAGNITUDE, lo_open=lo_open)


@dataclass(frozen=True)
class Scheme:
    """Base class of the compound schemes (module docstring)."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """All settings plus ``kind``, nested objects as tables.

        Returns
        -------
        dict
            TOML/JSON-ready; :meth:`from_dict` of it gives an equal scheme (``None`` entries left out).
        """
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scheme":
        """Build from a ``[scheme]`` table; unknown keys raise naming the key.

        Dotted keys (``"fast_device.dw_min"``, what a sweep over ``scheme.fast_device.dw_min`` writes)
        are merged into their nested table.

        Parameters
        ----------
        data : dict
            The table (a ``kind`` entry is ignored).

        Returns
        -------
        Scheme
            The validated scheme.
        """
        data = {k: v for k, v in data.items() if k != "kind"}
        nested: dict[str, Any] = {}
        for key in list(data):
            if isinstance(key, str) and "." in key:
                head, _, tail = key.partition(".")
                nested.setdefault(head, {})[tail] = data.pop(key)
        for head, extra in nested.items():
            base = data.get(head) or {}
            if not isinstance(base, dict):
                raise invalid(cls.__name__, head, "a table", base)
            data[head] = {**base, **extra}
        check_keys(cls.__name__, data, (f.name for f in dataclasses.fields(cls)))
        return cls(**data)


def _nested(owner: str, name: str, value: Any, kind: type, build) -> Any:
    """A nested object given as an instance, a table, or None."""
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, dict):
        return build(value)
    raise invalid(owner, name, f"a {kind.__name__}, a table or None", value)


@dataclass(frozen=True)
class _Transfer(Scheme):
    """Settings shared by the schemes with a fast array ``A`` (TTv1, TTv2, c-TTv2, AGAD)."""

    fast_device: Any = None
    """Device of ``A`` (``[scheme.fast_device]``); ``None``: the run's ``[device]``."""
    reference: str = "symmetry"
    """A's reference: ``"symmetry"``, ``"zero"`` or ``"offset"`` (module docstring)."""
    reference_mean: float = 0.0
    """Mean of the reference with ``reference = "offset"``."""
    reference_std: float = 0.0
    """Cell-to-cell standard deviation of the reference with ``reference = "offset"``; >= 0."""
    gamma: float = 0.0
    """Weight of ``A`` in the model weight ``gamma * (A - r) + C``."""
    transfer_every: float = 1.0
    """Units (events, or mini-batches with ``units_in_mbatch``) between transfers; > 0."""
    units_in_mbatch: bool = True
    """Count ``transfer_every`` in mini-batches instead of programming events."""
    n_reads_per_transfer: int = 1
    """Consecutive columns (rows) read per transfer, cycling; >= 1."""
    transfer_columns: bool = True
    """Read columns of ``A`` with one-hot inputs (``False``: rows, by a backward read)."""
    fast_lr: float = 1.0
    """Learning rate of the gradient writes into ``A``; > 0."""
    scale_fast_lr: bool = False
    """Multiply ``fast_lr`` by the run's learning rate."""
    transfer_lr: float = 1.0
    """Scale of the transferred reads; > 0."""
    scale_transfer_lr: bool = True
    """Multiply ``transfer_lr`` by the run's learning rate."""
    transfer_forward: Any = None
    """Periphery of the transfer reads (``[scheme.transfer_forward]``); ``None``: the tile's."""

    def __post_init__(self) -> None:
        o = type(self).__name__
        object.__setattr__(self, "fast_device", _nested(o, "fast_device", self.fast_device, PulsedDevice,
                                                        device_from_dict))
        object.__setattr__(self, "transfer_forward", _nested(o, "transfer_forward", self.transfer_forward,
                                                             Periphery, Periphery.from_dict))
        check_choice(o, "reference", self.reference, REFERENCES)
        object.__setattr__(self, "reference_mean", check_float(o, "reference_mean", self.reference_mean,
                                                               -MAX_MAGNITUDE, MAX_MAGNITUDE))
        object.__setattr__(self, "reference_std", _pos(o, "reference_std", self.reference_std, lo_open=False))
        if self.reference != "offset" and (self.reference_mean != 0.0 or self.reference_std != 0.0):
            raise invalid(o, "reference", "'offset' when reference_mean or reference_std is set", self.reference)
        object.__setattr__(self, "gamma", check_float(o, "gamma", self.gamma, -MAX_MAGNITUDE, MAX_MAGNITUDE))
        object.__setattr__(self, "transfer_every", _pos(o, "transfer_every", self.transfer_every))
        check_bool(o, "units_in_mbatch", self.units_in_mbatch)
        object.__setattr__(self, "n_reads_per_transfer", check_int(o, "n_reads_per_transfer",
                                                                   self.n_reads_per_transfer, 1, 2 ** 31 - 1))
        check_bool(o, "transfer_columns", self.transfer_columns)
        object.__setattr__(self, "fast_lr", _pos(o, "fast_lr", self.fast_lr))
        check_bool(o, "scale_fast_lr", self.scale_fast_lr)
        object.__setattr__(self, "transfer_lr", _pos(o, "transfer_lr", self.transfer_lr))
        check_bool(o, "scale_transfer_lr", self.scale_transfer_lr)

    def fast_rate(self, lr: float) -> float:
        """Learning rate of the gradient writes into ``A`` at run learning rate ``lr``."""
        return self.fast_lr * lr if self.scale_fast_lr else self.fast_lr

    def transfer_rate(self, lr: float) -> float:
        """The transfer scale at run learning rate ``lr``."""
        return self.transfer_lr * lr if self.scale_transfer_lr else self.transfer_lr


@_document
@dataclass(frozen=True)
class TikiTaka(_Transfer):
    r"""Tiki-Taka version 1 (Gokmen & Haensch 2020; aihwkit ``TransferCompound``), ``kind = "tiki_taka"``.

    Every mini-batch: :math:`A \leftarrow A - \eta_A\,G` (pulsed, the run's ``[update]`` rule), with
    :math:`\eta_A` = ``fast_lr`` (times :math:`\eta` with ``scale_fast_lr``). Every
    ``transfer_every`` units, for the next ``n_reads_per_transfer`` columns :math:`k` (cycling):

    .. math::  v = (A - r)\,e_k \ \text{(a read with the one-hot input } e_k\text{)}, \qquad
               C \leftarrow C + \eta_T\, v\, e_k^\top \ \text{(one pulsed rank-1 write)}

    with :math:`\eta_T` = ``transfer_lr`` (times :math:`\eta` with ``scale_transfer_lr``); rows
    instead with ``transfer_columns = false``. The read goes through ``transfer_forward`` (default:
    the tile's periphery), the write uses ``transfer_update`` (default: the run's ``[update]``).

    Differences from aihwkit: ``transfer_update`` defaults to the run's rule (aihwkit: stochastic
    pulse coincidence, BL 31 with update management; set ``[scheme.transfer_update] kind =
    "pulse_coincidence"`` for that), ``scale_fast_lr`` is ``False`` (aihwkit 1.2's absolute
    ``fast_lr``), ``reference`` defaults to ``"symmetry"``; no ``gamma_vec``, ``with_reset_prob``,
    ``random_selection`` or chains of more than two arrays.
    """

    transfer_update: Any = None
    """Pulse rule of the transfer writes into ``C`` (``[scheme.transfer_update]``); ``None``: the run's."""

    kind: ClassVar[str] = "tiki_taka"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "transfer_update", _nested(type(self).__name__, "transfer_update",
                                                            self.transfer_update, UpdateRule, update_from_dict))


@_document
@dataclass(frozen=True)
class BufferedTransfer(_Transfer):
    r"""Tiki-Taka version 2 (Gokmen 2021; aihwkit ``BufferedTransferCompound``), ``kind = "ttv2"``.

    ``A`` learns as in :class:`TikiTaka`; a transfer of column :math:`k` reads :math:`v = (A - r)e_k`
    into a digital buffer and writes whole pulses to ``C``:

    .. math::
        H_{:k} \leftarrow H_{:k} + \eta_T v, \qquad
        n = \operatorname{trunc}(H_{:k} / \theta),\quad \theta = \text{thres\_scale}\cdot dw_{\min,C},

    ``C`` receives :math:`n` pulses per cell (requested exactly; a train longer than
    ``transfer_desired_bl`` is cut there and counted like any cut train), then
    :math:`H \leftarrow \text{momentum}\cdot H` where :math:`n \neq 0` with ``forget_buffer``, else
    :math:`H \leftarrow H - (1 - \text{momentum})\, n_{\rm applied}\, \theta`.

    ``transfer_desired_bl`` is aihwkit's ``transfer_update.desired_bl`` (default 1). Defaults as
    aihwkit: ``momentum`` 0.1, ``forget_buffer`` true, ``units_in_mbatch`` true.
    """

    thres_scale: float = 1.0
    """Buffer threshold in units of C's ``dw_min``; > 0."""
    momentum: float = 0.1
    """Fraction of the buffer kept after a transfer; in [0, 1]."""
    forget_buffer: bool = True
    """Reset the buffer to ``momentum * H`` after a transfer (else subtract what was transferred)."""
    transfer_desired_bl: int = 1
    """Largest number of pulses of one transfer write to a cell; >= 1."""

    kind: ClassVar[str] = "ttv2"

    def __post_init__(self) -> None:
        super().__post_init__()
        o = type(self).__name__
        object.__setattr__(self, "thres_scale", _pos(o, "thres_scale", self.thres_scale))
        object.__setattr__(self, "momentum", check_float(o, "momentum", self.momentum, 0.0, 1.0))
        check_bool(o, "forget_buffer", self.forget_buffer)
        object.__setattr__(self, "transfer_desired_bl", check_int(o, "transfer_desired_bl",
                                                                  self.transfer_desired_bl, 1, 2 ** 31 - 1))

    def threshold(self, dw_min_slow: float) -> float:
        """Buffer threshold :math:`\\theta` in weight units.

        Parameters
        ----------
        dw_min_slow : float
            The nominal ``dw_min`` of ``C``.

        Returns
        -------
        float
            ``thres_scale * dw_min_slow``.
        """
        return self.thres_scale * dw_min_slow


@_document
@dataclass(frozen=True)
class ChoppedTransfer(BufferedTransfer):
    r"""Chopped TTv2 (Rasch et al. 2024; aihwkit ``ChoppedTransferCompound``), ``kind = "c_ttv2"``.

    TTv2 with input choppers :math:`c_k \in \{\pm 1\}` per column and output choppers
    :math:`o_j` per row: the gradient written into ``A`` is :math:`(o \odot d)(c \odot x)^\top`, and a
    read of column :math:`k` is de-chopped before it enters the buffer,
    :math:`H_{:k} \mathrel{+}= \eta_T\, c_k\, o \odot v`. After its read, column :math:`k`'s chopper
    flips with probability ``in_chop_prob`` (``in_chop_random``) or regularly every
    :math:`\max(\lceil 1/p \rceil, 2)` reads; each output chopper flips with probability
    ``out_chop_prob`` once per sweep over the columns. Threshold :math:`\theta =`
    ``thres_scale * buffer_granularity * dw_min_C``.

    Differences from aihwkit: the threshold is in units of C's ``dw_min`` (aihwkit: A's, with
    ``auto_granularity``); no ``auto_scale``, ``correct_gradient_magnitudes`` or ``no_buffer``;
    only column reads (``transfer_columns = true``) and ``n_reads_per_transfer = 1`` (as aihwkit).
    Defaults as aihwkit: ``momentum`` 0, ``units_in_mbatch`` false.
    """

    in_chop_prob: float = 0.1
    """Switching probability (or frequency, when regular) of the input choppers; in [0, 1]."""
    in_chop_random: bool = True
    """Switch at random (else regularly, every ``max(ceil(1/in_chop_prob), 2)`` reads)."""
    out_chop_prob: float = 0.0
    """Switching probability of each output chopper per sweep; in [0, 1]."""
    buffer_granularity: float = 1.0
    """Extra factor of the buffer threshold; > 0."""
    momentum: float = 0.0
    units_in_mbatch: bool = False

    kind: ClassVar[str] = "c_ttv2"

    def __post_init__(self) -> None:
        super().__post_init__()
        o = type(self).__name__
        object.__setattr__(self, "in_chop_prob", check_float(o, "in_chop_prob", self.in_chop_prob, 0.0, 1.0))
        check_bool(o, "in_chop_random", self.in_chop_random)
        object.__setattr__(self, "out_chop_prob", check_float(o, "out_chop_prob", self.out_chop_prob, 0.0, 1.0))
        object.__setattr__(self, "buffer_granularity", _pos(o, "buffer_granularity", self.buffer_granularity))
        if not self.transfer_columns:
            raise invalid(o, "transfer_columns", "true (choppers act on the columns)", self.transfer_columns)
        if self.n_reads_per_transfer != 1:
            raise invalid(o, "n_reads_per_transfer", "1 (as aihwkit's chopped transfer)", self.n_reads_per_transfer)

    def threshold(self, dw_min_slow: float) -> float:
        """Buffer threshold :math:`\\theta` in weight units.

        Parameters
        ----------
        dw_min_slow : float
            The nominal ``dw_min`` of ``C``.

        Returns
        -------
        float
            ``thres_scale * buffer_granularity * dw_min_slow``.
        """
        return self.thres_scale * self.buffer_granularity * dw_min_slow

    @property
    def chop_period(self) -> int:
        """Reads of a column between regular chopper switches, ``max(ceil(1/p), 2)`` (0: never)."""
        return 0 if self.in_chop_prob == 0 else max(math.ceil(1.0 / self.in_chop_prob), 2)


@_document
@dataclass(frozen=True)
class DynamicTransfer(ChoppedTransfer):
    r"""AGAD (Rasch et al. 2024; aihwkit ``DynamicTransferCompound``), ``kind = "agad"``.

    c-TTv2 with regular choppers (period :math:`P = \max(\lceil 1/p\rceil, 2)` sweeps) and a
    dynamic reference instead of a programmed one. Per weight, a running mean of A's raw reads,
    :math:`\mu \leftarrow (1 - \beta)\mu + \beta v` with :math:`\beta = \min(\text{tail\_weightening}/P, 1)`,
    is frozen as :math:`\mu_{\rm past} \leftarrow \mu` at the first read after a chopper switch;
    the buffer accumulates the de-chopped difference,
    :math:`H_{:k} \mathrel{+}= \eta_T\, c_k\, o \odot (v - \mu_{\rm past})`, and pulses to ``C`` follow as in
    TTv2; nothing is written to ``C`` during the first :math:`P` sweeps (the buffer still evolves,
    as in aihwkit's code). With ``forget_buffer = false``, :math:`|H| \le` ``buffer_cap`` ``*``
    ``transfer_desired_bl`` :math:`\theta` when ``buffer_cap > 0``.

    aihwkit's docstring describes a significance gate (no transfer while the difference is within
    its standard error); neither its CPU nor its CUDA code implements it, and memsim follows the
    code (no gate). Not implemented: ``experimental_*`` options.
    """

    in_chop_random: bool = False
    tail_weightening: float = 5.0
    """Weight of the tail of a chopper period in the running mean; > 0."""
    buffer_cap: float = 0.0
    """Cap of the buffer in units of ``transfer_desired_bl`` thresholds (0: none); >= 0."""

    kind: ClassVar[str] = "agad"

    def __post_init__(self) -> None:
        super().__post_init__()
        o = type(self).__name__
        object.__setattr__(self, "tail_weightening", _pos(o, "tail_weightening", self.tail_weightening))
        object.__setattr__(self, "buffer_cap", _pos(o, "buffer_cap", self.buffer_cap, lo_open=False))
        if self.in_chop_prob == 0:
            raise invalid(o, "in_chop_prob", "a float in (0, 1] (AGAD needs chopper periods)", self.in_chop_prob)


@_document
@dataclass(frozen=True)
class MixedPrecision(Scheme):
    r"""Mixed-precision training (Nandakumar et al. 2020; aihwkit ``MixedPrecisionCompound``),
    ``kind = "mixed_precision"``.

    A digital accumulator :math:`\chi` (one float per weight) takes the gradient,
    :math:`\chi \leftarrow \chi - \eta\, d_b x_b^\top` per sample; every ``transfer_every`` events the
    next ``n_rows_per_transfer`` rows (all with -1, cycling) are written to ``C``:

    .. math::  n = \operatorname{trunc}(\chi / \epsilon), \quad \chi \leftarrow \chi - n\epsilon, \quad
               C \leftarrow C + \text{transfer\_lr}\; n\, \epsilon \ \text{(pulsed)}

    with :math:`\epsilon` = ``granularity`` (0: C's ``dw_min``). The write requests
    ``transfer_lr * n * eps`` with the deterministic rule (exactly ``n`` pulses when
    :math:`\epsilon = dw_{\min}` and ``transfer_lr`` 1), cut at the run rule's ``max_pulses``
    and counted. No fast array; no input quantisation (aihwkit's ``n_x_bins``/``n_d_bins`` 0).
    """

    transfer_every: int = 1
    """Programming events between transfers; >= 1."""
    n_rows_per_transfer: int = -1
    """Rows written per transfer (-1: all); -1 or >= 1."""
    granularity: float = 0.0
    """Pulse threshold :math:`\\epsilon` (0: C's ``dw_min``); >= 0."""
    transfer_lr: float = 1.0
    """Scale of the write to ``C``; > 0."""

    kind: ClassVar[str] = "mixed_precision"

    def __post_init__(self) -> None:
        o = type(self).__name__
        object.__setattr__(self, "transfer_every", check_int(o, "transfer_every", self.transfer_every, 1,
                                                             2 ** 31 - 1))
        n = check_int(o, "n_rows_per_transfer", self.n_rows_per_transfer, -1, 2 ** 31 - 1)
        if n == 0:
            raise invalid(o, "n_rows_per_transfer", "-1 (all rows) or an integer >= 1", n)
        object.__setattr__(self, "granularity", _pos(o, "granularity", self.granularity, lo_open=False))
        object.__setattr__(self, "transfer_lr", _pos(o, "transfer_lr", self.transfer_lr))

    def epsilon(self, dw_min_slow: float) -> float:
        """The pulse threshold :math:`\\epsilon`.

        Parameters
        ----------
        dw_min_slow : float
            The nominal ``dw_min`` of ``C``.

        Returns
        -------
        float
            ``granularity``, or ``dw_min_slow`` when it is 0.
        """
        return self.granularity if self.granularity > 0 else dw_min_slow


SCHEMES: dict[str, type[Scheme]] = {c.kind: c for c in (TikiTaka, BufferedTransfer, ChoppedTransfer,
                                                          DynamicTransfer, MixedPrecision)}


def scheme_from_dict(data: dict[str, Any]) -> Scheme:
    """Build a scheme from a ``[scheme]`` table with a ``kind`` key.

    Parameters
    ----------
    data : dict
        The table; ``kind`` is one of :data:`SCHEMES`.

    Returns
    -------
    Scheme
        The validated scheme (errors name the key, the allowed values and the value given).
    """
    if not isinstance(data, dict):
        raise invalid("scheme", "scheme", "a table with a 'kind' key", data)
    kind = data.get("kind")
    if kind not in SCHEMES:
        raise invalid("scheme", "kind", "one of " + ", ".join(repr(k) for k in SCHEMES), kind)
    return SCHEMES[kind].from_dict(data)
