"""Evaluate compiled terms over a batch: the numpy engine's side of :mod:`cmo_sim.core.terms`.

An :class:`ArrayView` holds what terms can read in one batch: the contexts in force, the
membership, and the month's state inputs as the step computes them. :func:`add_terms` adds the
terms of a site to an accumulator in the tables' order, with the one formula of
:func:`cmo_sim.core.terms.term_value`; the Mesa engine adds the same terms in the same order
per agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cmo_sim.core.terms import (
    MODULATORS,
    Term,
    condition_value,
    modulator_value,
    reduce_pair,
    size_norm,
    term_value,
)

__all__ = ["ArrayView", "Prepared", "add_prepared", "add_terms", "prepare"]


def _to_shape(x: np.ndarray, shape: str) -> np.ndarray:
    """A ``[runs]`` array broadcastable to a site of ``shape``."""
    if shape == "run":
        return x
    if shape in ("member", "upair"):
        return x[:, None]
    return x[:, None, None]


class ArrayView:
    """What terms read in a batch: contexts, membership weights and state inputs.

    ``ctx`` maps context names to ``[runs]`` or ``[runs, members]`` arrays; ``w`` and
    ``count`` are the active-member weights and count; ``iu`` / ``ju`` the unordered pairs.
    ``state`` maps ``(name, shape)`` to the state input's array at that shape, or ``(name,
    "run")`` for run-level inputs; the step fills it as the month proceeds.
    """

    def __init__(self, ctx: Mapping[str, np.ndarray], w: np.ndarray, count: np.ndarray,
                 iu: np.ndarray, ju: np.ndarray,
                 targets: Mapping[tuple[str, str], np.ndarray]):
        self.ctx = ctx
        self.w = w
        self.count = count
        self.iu = iu
        self.ju = ju
        self.ease: np.ndarray | None = None  # the exit_ease site, once computed
        self.targets = targets
        self.state: dict[tuple[str, str], np.ndarray] = {}

    def context(self, name: str, level: str, reduce: str, shape: str, raw: bool) -> np.ndarray:
        """A context's value at a site of ``shape`` (``size`` normalised unless ``raw``)."""
        x = self.ctx[name]
        if name == "size" and not raw:
            x = size_norm(x)
        if level == "partnership":
            return _to_shape(x, shape)
        if shape == "run":
            from cmo_sim.core.mechanisms import msum

            return msum(x * self.w) / self.count
        if shape == "member":
            return x
        if shape == "pair":
            return reduce_pair(reduce, x[:, :, None], x[:, None, :])
        return reduce_pair(reduce, x[:, self.iu], x[:, self.ju])

    def input(self, name: str, shape: str, raw: bool = False) -> np.ndarray:
        """A state input's value at a site of ``shape``."""
        if name == "n_members" and raw:
            return _to_shape(self.count, shape)
        value = self.state.get((name, shape))
        if value is not None:
            return value
        return _to_shape(self.state[(name, "run")], shape)

    def read(self, name: str, level: str, reduce: str, shape: str, raw: bool = False):
        """The value of ``name`` (context or state input) at a site of ``shape``."""
        if level == "state":
            return self.input(name, shape, raw)
        if level == "constant":
            return 0.0
        return self.context(name, level, reduce, shape, raw)

    def modulator(self, name: str, shape: str) -> np.ndarray:
        """Modulator ``name`` at a site of ``shape``."""
        needs = MODULATORS[name].needs
        if needs is None:
            return _to_shape(modulator_value(name, ease=self.ease), shape)
        if name == "mistrust":
            return _to_shape(modulator_value(name, mean_trust=self.state[("trust", "run")]), shape)
        source = self.input(needs, shape)
        return modulator_value(name, trust=source, ambition=source, communication=source)


def add_terms(acc, terms: Sequence[Term], shape: str, view: ArrayView):
    """``acc`` plus every term of ``terms`` at a site of ``shape`` (in order)."""
    for term in terms:
        if term.coef == 0.0:
            continue
        x = view.read(term.input, term.level, term.reduce, shape)
        mod = view.modulator(term.modulator, shape) if term.modulator is not None else None
        mask = None
        for name, level, reduce, op, value in term.conditions:
            hold = condition_value(op, view.read(name, level, reduce, shape, raw=True), value)
            mask = hold if mask is None else mask * hold
        value = term_value(term, x, mod, mask)
        if term.target != "all":
            value = value * view.targets[(term.target, shape)]
        acc = acc + value
    return acc


class Prepared:
    """A month term with what the contexts and membership fix about it computed once.

    ``static`` is ``coef * form(input)`` when the input is a context (else None), times the
    0/1 masks of the conditions on contexts and the target (exact in any order); ``mask`` the
    0/1 static mask alone when the input is a state input. The month then multiplies in what
    the state decides, in the order of :func:`cmo_sim.core.terms.term_value`.
    """

    __slots__ = ("dynamic", "mask", "static", "term")

    def __init__(self, term: Term, static, mask, dynamic):
        self.term = term
        self.static = static
        self.mask = mask
        self.dynamic = dynamic


def prepare(terms: Sequence[Term], shape: str, view: ArrayView) -> list[Prepared]:
    """The month terms of a site with their static parts.

    Terms that are zero everywhere under the contexts in force are left out (adding them would
    add exact zeros).
    """
    out = []
    for term in terms:
        if term.coef == 0.0:
            continue
        mask = None
        dynamic = []
        for cond in term.conditions:
            name, level, reduce, op, value = cond
            if level == "state" and not _fixed_input(name):
                dynamic.append(cond)
                continue
            hold = condition_value(op, view.read(name, level, reduce, shape, raw=True), value)
            mask = hold if mask is None else mask * hold
        if term.target != "all":
            target = view.targets[(term.target, shape)]
            mask = target if mask is None else mask * target
        static = None
        if term.level != "state" or _fixed_input(term.input):
            static = term_value(term, view.read(term.input, term.level, term.reduce, shape))
            if mask is not None:
                static = static * mask
            if not np.any(static):
                continue
        elif mask is not None and not np.any(mask):
            continue
        out.append(Prepared(term, static, mask, tuple(dynamic)))
    return out


def _fixed_input(name: str) -> bool:
    from cmo_sim.core.terms import STATE_INPUTS

    return STATE_INPUTS[name].fixed


def add_prepared(acc, prepared: Sequence[Prepared], shape: str, view: ArrayView,
                 account: str | None = None):
    """``acc`` plus the month's value of every prepared term (in order).

    Consecutive terms of one group (one value per run) are summed first and their sum added
    to the site once. ``acc`` is not changed: the first addition makes a new array, to which
    the others are added in place (the same numbers, fewer allocations). With ``account``,
    returns ``(acc, part)``: ``part`` is the sum, in order, of the terms of that account.
    """
    owned = False
    part = 0.0
    pending, group = None, -1

    def flush(acc, owned, value):
        if owned:
            acc += value
            return acc, True
        acc = acc + value
        return acc, acc.ndim > 0

    for p in prepared:
        term = p.term
        if p.static is not None:
            value = p.static
        else:
            value = term_value(term, view.input(term.input, shape))
            if p.mask is not None:
                value = value * p.mask
        if term.modulator is not None:
            value = value * view.modulator(term.modulator, shape)
        for name, level, reduce, op, limit in p.dynamic:
            value = value * condition_value(op, view.read(name, level, reduce, shape, raw=True),
                                            limit)
        if account is not None and term.account == account:
            part = part + value
        if pending is not None and term.group != group:
            acc, owned = flush(acc, owned, pending)
            pending = None
        if term.group >= 0:
            pending = value if pending is None else pending + value
            group = term.group
        else:
            acc, owned = flush(acc, owned, value)
    if pending is not None:
        acc, owned = flush(acc, owned, pending)
    return acc if account is None else (acc, part)
