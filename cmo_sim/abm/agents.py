"""``Organisation``: one member organisation of a partnership, as a Mesa agent.

A member works out its month in plain scalar Python: it reads what it sees (its trust in each
partner, its faith, the month's task and conflicts) and adds the terms of the theory's sites at
its own place (:func:`add_terms`, the same compiled terms and the same formula,
:func:`cmo_sim.core.terms.term_value`, as the numpy engine over arrays). Two conventions keep
the engines equal to the last bit (or, where ``math`` and numpy's vectorised ``exp`` /
``log10`` differ by an ulp, to ~1e-15):

- terms are added in the order of the compiled tables, the fixed ones first, as the numpy
  engine adds them;
- sums over members run left to right in member order (:func:`ordered_sum`, as
  :func:`cmo_sim.core.mechanisms.msum`); terms the numpy engine masks to zero are skipped, which
  is exact because adding ``0.0`` changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import mesa

from cmo_sim.core.mechanisms import ODDS_TRUST_FLOOR
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_NONE, CAUSE_TRUST
from cmo_sim.core.terms import Term, condition_value, term_value

if TYPE_CHECKING:
    from cmo_sim.abm.model import Outlook, PartnershipModel

__all__ = [
    "Organisation",
    "add_terms",
    "clip",
    "distrust_odds",
    "nudge",
    "ordered_sum",
    "sigmoid",
]


# -- scalar helpers (the numpy engine's _c, _up, _dn, _sigmoid, nudge, msum) ----------------------
def clip(x: float, low: float, high: float) -> float:
    """``x`` limited to ``[low, high]``."""
    return min(max(x, low), high)


def sigmoid(z: float) -> float:
    """Logistic function; 0 where ``exp(-z)`` overflows (as numpy's ``1 / (1 + inf)``)."""
    try:
        return 1.0 / (1.0 + math.exp(-z))
    except OverflowError:
        return 0.0


def distrust_odds(trust: float) -> float:
    """``(1 - trust) / max(trust, 0.02)``: how little the trust in place buffers a conflict."""
    return (1.0 - trust) / max(trust, ODDS_TRUST_FLOOR)


def nudge(x: float, delta: float) -> float:
    """Move ``x`` in [0, 1] by ``delta`` in [-1, 1] proportionally to the room left."""
    delta = clip(delta, -1.0, 1.0)
    return x + (delta * (1.0 - x) if delta > 0.0 else delta * x)


def ordered_sum(values: Iterable[float]) -> float:
    """Sum left to right (the order of ``msum``), independent of Python's ``sum`` algorithm."""
    total = 0.0
    for value in values:
        total += value
    return total


def add_terms(acc: float, terms: Sequence[Term], shape: str, view: Outlook, i: int = -1,
              j: int = -1, parts: list[tuple[str, float]] | None = None,
              account: str | None = None):
    """``acc`` plus every term of ``terms`` at the site of member ``i`` (towards ``j``).

    The terms are added in order with the numpy engine's formula (consecutive terms of one
    group, one value per run, are summed first and their sum added once, as the numpy engine
    adds them); ``parts`` (optional) collects each term's ``(rule id, value)``. With
    ``account``, returns ``(acc, part)``: ``part`` sums, in order, the terms of that account.
    """
    pending, group = None, -1
    part = 0.0
    for term in terms:
        if term.coef == 0.0:
            continue
        x = view.read(term.input, term.level, term.reduce, shape, i, j)
        mod = view.modulator(term.modulator, shape, i, j) if term.modulator is not None else None
        mask = None
        for name, level, reduce, op, value in term.conditions:
            hold = condition_value(op, view.read(name, level, reduce, shape, i, j, raw=True),
                                   value)
            mask = hold if mask is None else mask * hold
        value = term_value(term, x, mod, mask)
        if term.target != "all":
            value = value * view.target(term.target, shape, i, j)
        if parts is not None:
            parts.append((term.rule, float(value)))
        if account is not None and term.account == account:
            part = part + value
        if pending is not None and term.group != group:
            acc, pending = acc + pending, None
        if term.group >= 0:
            pending = value if pending is None else pending + value
            group = term.group
        else:
            acc = acc + value
    if pending is not None:
        acc = acc + pending
    return float(acc) if account is None else (float(acc), float(part))


class Organisation(mesa.Agent):
    """A member organisation: its trust in each partner, its faith, conflict inside it, culture.

    Attributes
    ----------
    index : int
        Member index in the scenario (the ``i`` of the random-stream counters).
    name : str
        Display name (the scenario's member name, or ``"member i"``).
    trust : dict of int to float
        Trust in each other original member, by member index (in index order).
    previous_trust : dict of int to float
        Trust before this month's change (for explaining the change).
    faith : float
        Faith in the collaboration itself, in [0, 1].
    intra_conflict : float
        Conflict inside the organisation, in [0, 1].
    culture : float
        Cultural position; distance to a partner's is conflict-prone.
    active : bool
        Still in the partnership.
    exit_step, exit_cause : int
        Month the member left (-1 never) and why (``CAUSE_*`` code of :mod:`cmo_sim.core.state`).
    attributes : dict of str to float
        Member attributes in force this month (size, resources, flexibility,
        workforce_stability, staff_involvement, culture): the timeline may change them.
    trust_terms : dict of int to tuple of (str, float)
        This month's parts of the trust change towards each partner: ``(rule id, value)`` per
        term, then the conflict resolution's part.
    faith_terms : tuple of (str, float)
        This month's parts of the faith change, ``(rule id, value)`` per term.
    next_trust, next_faith, next_intra_conflict, next_culture
        This month's decisions, taken from the previous state by :meth:`decide` and made to
        take effect by :meth:`apply`.
    """

    model: PartnershipModel

    def __init__(
        self,
        model: PartnershipModel,
        index: int,
        name: str,
        *,
        trust: Mapping[int, float],
        faith: float,
        intra_conflict: float,
        culture: float,
        attributes: Mapping[str, float],
    ) -> None:
        super().__init__(model)
        self.index = index
        self.name = name
        self.trust: dict[int, float] = dict(trust)
        self.previous_trust: dict[int, float] = self.trust
        self.faith = faith
        self.intra_conflict = intra_conflict
        self.culture = culture
        self.active = True
        self.exit_step = -1
        self.exit_cause = CAUSE_NONE
        self.attributes: dict[str, float] = dict(attributes)
        self.trust_terms: dict[int, tuple[tuple[str, float], ...]] = {}
        self.account: dict[int, tuple[float, float, float, float]] = {}
        self.faith_terms: tuple[tuple[str, float], ...] = ()
        self.next_trust: dict[int, float] = {}
        self.next_faith = faith
        self.next_intra_conflict = intra_conflict
        self.next_culture = culture

    def __repr__(self) -> str:
        return f"Organisation({self.index}, {self.name!r}, active={self.active})"

    # -- what the member is -----------------------------------------------------------------------
    def normalised_size(self) -> float:
        """``clip(log10(size) / 5, 0, 1)``: 10 staff -> 0.2, 100,000 -> 1."""
        return clip(math.log10(self.attributes["size"]) / 5.0, 0.0, 1.0)

    def power(self) -> float:
        """Structural power: the mean of normalised size and resources."""
        return 0.5 * (self.normalised_size() + self.attributes["resources"])

    # -- what the member sees of its partners -----------------------------------------------------
    def trust_given(self, partners: Iterable[Organisation]) -> float:
        """Mean trust in ``partners`` (summed in member order, divided by at least 1)."""
        partners = list(partners)
        total = ordered_sum(self.trust[p.index] for p in partners)
        return total / max(float(len(partners)), 1.0)

    # -- the member decides this month's changes (from the previous state) ---------------------
    def decide(self, view: Outlook) -> None:
        """Work out next month's trust, faith, intra-organisational conflict and culture.

        All members decide from the previous state (``view``); :meth:`apply` makes the
        decisions take effect once every member has decided (synchronous update). The parts
        of the trust and faith changes, by rule id, are kept in ``trust_terms`` and
        ``faith_terms`` (to explain an exit).
        """
        model = self.model
        terms, b, i = model.terms, model.base, self.index
        partners = [p for p in view.active if p is not self]
        self.next_trust = dict(self.trust)
        self.trust_terms = {}
        self.account = {}
        site = terms["trust_change"]
        for partner in partners:
            j = partner.index
            delta, fixed_parts = model.fixed("trust_change", view, "pair", i, j)
            parts = list(fixed_parts)
            delta, task_part = add_terms(delta, site.month, "pair", view, i, j, parts,
                                         account="task")
            resolution = self.resolution_effect(partner, view)
            parts.append(("constructive resolution" if resolution > 0 else
                          "destructive resolution", resolution))
            self.trust_terms[j] = tuple(parts)
            total = delta + resolution
            self.next_trust[j] = nudge(self.trust[j], total)
            # The trust account (as the numpy engine's step computes it).
            scale = (self.next_trust[j] - self.trust[j]) / (total if total != 0.0 else 1.0)
            self.account[j] = (resolution, task_part, delta - task_part, scale * 1.0)
        site = terms["faith_change"]
        change, fixed_parts = model.fixed("faith_change", view, "member", i)
        parts = list(fixed_parts)
        change = add_terms(change, site.month, "member", view, i, -1, parts)
        self.faith_terms = tuple(parts)
        self.next_faith = nudge(self.faith, change)
        rise = add_terms(model.fixed("intra_rise", view, "member", i)[0],
                         terms["intra_rise"].month, "member", view, i)
        decay = add_terms(model.fixed("intra_decay", view, "member", i)[0],
                          terms["intra_decay"].month, "member", view, i)
        keep = clip(1.0 - b["intra_decay"] * max(decay, 0.0), 0.0, 1.0)
        self.next_intra_conflict = nudge(self.intra_conflict, b["intra_rate"] * rise) * keep
        self.next_culture = clip(
            self.culture + view.culture_pull * (view.culture_centre - self.culture), 0.0, 1.0)

    def resolution_effect(self, partner: Organisation, view: Outlook) -> float:
        """Trust change from this month's conflict with ``partner``, if there was one.

        A constructive resolution gains baseline constructive_gain; a destructive one loses
        destructive_loss times the destructive_buffer site, times :func:`distrust_odds` of the
        trust in place (so after :func:`nudge` it removes ``loss * (1 - trust)``).
        """
        pair = _pair(self.index, partner.index)
        b = self.model.base
        gained = b["constructive_gain"] if pair in view.constructive_pairs else 0.0
        lost = view.destructive_loss if pair in view.destructive_pairs else 0.0
        return gained - lost * distrust_odds(self.trust[partner.index])

    def trust_share(self, partner: int, part: int) -> float:
        """This month's change of trust in ``partner`` made by one part of the trust account.

        ``part`` 0: the conflict's resolution, 1: the task's outcome, 2: everything else; the
        decided change is shared among the parts in proportion to their terms.
        """
        account = self.account.get(partner)
        return 0.0 if account is None else account[part] * account[3]

    def faith_share(self, rules: Container[str]) -> float:
        """This month's faith change made by the terms of ``rules`` (a proportional share)."""
        total = ordered_sum(v for _, v in self.faith_terms)
        if total == 0.0:
            return 0.0
        part = ordered_sum(v for r, v in self.faith_terms if r in rules)
        return part * (self.next_faith - self.faith) / total

    def apply(self) -> None:
        """Make this month's decisions take effect (after every member has decided)."""
        self.previous_trust, self.trust = self.trust, self.next_trust
        self.faith = self.next_faith
        self.intra_conflict = self.next_intra_conflict
        self.culture = self.next_culture

    # -- exit ---------------------------------------------------------------------------------
    def exit_decision(self, trust_given: float, trust_floor: float, faith_floor: float) -> int:
        """Whether the member leaves this month, as a ``CAUSE_*`` code (``CAUSE_NONE``: stays).

        The floors are the trust_floor and faith_floor sites: trust in the partners below its
        floor (inter-organisational origin) or faith below its floor (intra-organisational
        origin). Below both, the member is recorded as leaving for trust.
        """
        if trust_given < trust_floor:
            return CAUSE_TRUST
        if self.faith < faith_floor:
            return CAUSE_FAITH
        return CAUSE_NONE

    # -- reporters ----------------------------------------------------------------------------
    @property
    def trust_in_members(self) -> float:
        """Mean trust given to the other original members (the trajectory variable ``trust``)."""
        return ordered_sum(self.trust.values()) / max(float(len(self.trust)), 1.0)

    @property
    def trust_received(self) -> float:
        """Mean trust the other original members have in this member."""
        others = [m for m in self.model.members if m is not self]
        total = ordered_sum(m.trust[self.index] for m in others)
        return total / max(float(len(others)), 1.0)


def _pair(i: int, j: int) -> tuple[int, int]:
    """The unordered pair ``(min, max)`` as the conflict draws count it (i < j)."""
    return (i, j) if i < j else (j, i)
