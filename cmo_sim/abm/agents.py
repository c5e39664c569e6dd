"""``Organisation``: one member organisation of a partnership, as a Mesa agent.

Every formula here is written per member in plain scalar Python, so it can be read line by line
against docs/model.md and the numpy mechanisms (:mod:`cmo_sim.core.mechanisms`), which compute
the same numbers over arrays. Two conventions keep the engines equal to the last bit (or, where
``math`` and numpy's vectorised ``exp`` / ``log10`` differ by an ulp, to ~1e-15):

- each expression keeps the numpy one's order of operations (``a * b * x`` is ``(a * b) * x``);
- sums over members run left to right in member order (:func:`ordered_sum`, as
  :func:`cmo_sim.core.mechanisms.msum`); terms the numpy engine masks to zero are skipped, which
  is exact because adding ``0.0`` changes nothing.

``a`` is the theory's ``{rule id: sign * weight}`` (0 when a rule is ablated) and ``b`` its
baseline constants, as in the numpy engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import mesa

from cmo_sim.core.mechanisms import ODDS_TRUST_FLOOR, TYPICAL_SIZE_NORM
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_NONE, CAUSE_TRUST

if TYPE_CHECKING:
    from cmo_sim.abm.model import Outlook, PartnershipModel

__all__ = [
    "FAITH_TERMS",
    "TRUST_TERMS",
    "Organisation",
    "centred",
    "clip",
    "distrust_odds",
    "lower",
    "nudge",
    "ordered_sum",
    "sigmoid",
    "upper",
]

#: Names of the parts of a member's monthly trust change, in the order they are added.
TRUST_TERMS = (
    "domination",
    "collaborative leadership",
    "combative leadership",
    "trust-building loop",
    "communication",
    "constructive resolution",
    "destructive resolution",
    "unequal sharing of gains",
)
#: Names of the parts of a member's monthly faith change.
FAITH_TERMS = (
    "authenticity and stakeholder involvement",
    "task outcome",
    "intra-organisational conflict",
    "trust in the partners",
    "destructive conflicts",
)


# -- scalar helpers (the numpy engine's _c, _up, _dn, _sigmoid, nudge, msum) ----------------------
def centred(x: float) -> float:
    """``x - 0.5``: a context relative to its typical value."""
    return x - 0.5


def upper(x: float) -> float:
    """The upper half of a context's range, ``max(x - 0.5, 0)``."""
    return max(x - 0.5, 0.0)


def lower(x: float) -> float:
    """The lower half of a context's range, ``min(x - 0.5, 0)``."""
    return min(x - 0.5, 0.0)


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
    trust_terms : dict of int to tuple of float
        This month's parts of the trust change towards each partner (:data:`TRUST_TERMS`).
    faith_terms : tuple of float
        This month's parts of the faith change (:data:`FAITH_TERMS`).
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
        self.trust_terms: dict[int, tuple[float, ...]] = {}
        self.faith_terms: tuple[float, ...] = ()
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

    def rank(self, lead_bonus: float) -> float:
        """Hierarchical power over the others: the lead's bonus in a mandated partnership.

        Rules: power.mandated_imbalance (``lead_bonus`` is 0 unless mandated; every other
        member feels the lead's seniority, whatever their sizes).
        """
        return lead_bonus if self.index == self.model.lead else 0.0

    # -- what the member sees of its partners -----------------------------------------------------
    def trust_given(self, partners: Iterable[Organisation]) -> float:
        """Mean trust in ``partners`` (summed in member order, divided by at least 1)."""
        partners = list(partners)
        total = ordered_sum(self.trust[p.index] for p in partners)
        return total / max(float(len(partners)), 1.0)

    def communication_with(
        self, partner: Organisation, level: float, size_norm: Mapping[int, float]
    ) -> float:
        """Communication towards ``partner``, in [0, 1].

        Rules: communication.trust_begets_communication (trust begets the wish to communicate),
        complexity.size_slows_communication (organisations larger than a typical 1,000-staff
        member communicate slowly). ``level`` is the partnership-wide part
        (communication.strategies, communication.proximity, complexity.interoperability);
        ``size_norm`` maps member index to normalised size.
        """
        a = self.model.coef
        pair_size = 0.5 * (size_norm[self.index] + size_norm[partner.index])
        base = level + a["complexity.size_slows_communication"] * (pair_size - TYPICAL_SIZE_NORM)
        comm = base + a["communication.trust_begets_communication"] * (
            self.trust[partner.index] - 0.5
        )
        return clip(comm, 0.0, 1.0)

    def risk_tolerance(self, trust_given: float, complexity: float) -> float:
        """The aim level this member would accept (trust.risk_threshold).

        Trust raises risk tolerance; complexity raises the trust needed for the same aims
        (baseline complexity_trust_requirement).
        """
        a, b = self.model.coef, self.model.base
        return (
            0.5
            + a["trust.risk_threshold"] * (trust_given - 0.5)
            - b["complexity_trust_requirement"] * (complexity - 0.5)
        )

    # -- the member decides this month's changes (from the previous state) ---------------------
    def decide(self, view: Outlook) -> None:
        """Work out next month's trust, faith, intra-organisational conflict and culture.

        All members decide from the previous state (``view``); :meth:`apply` makes the
        decisions take effect once every member has decided (synchronous update).
        """
        partners = [p for p in view.active if p is not self]
        self.next_trust = dict(self.trust)
        self.trust_terms = {}
        for partner in partners:
            terms = self.trust_change_terms(partner, view)
            delta = terms[0]
            for term in terms[1:]:
                delta += term
            self.trust_terms[partner.index] = terms
            self.next_trust[partner.index] = nudge(self.trust[partner.index], delta)
        change, self.faith_terms = self.faith_change(view)
        self.next_faith = nudge(self.faith, change)
        self.next_intra_conflict = self.intra_conflict_change(view)
        self.next_culture = self.cultural_integration(view)

    def trust_change_terms(self, partner: Organisation, view: Outlook) -> tuple[float, ...]:
        """The parts of this month's change of trust in ``partner``, before :func:`nudge`.

        In the order they are added (:data:`TRUST_TERMS`): first the parts the contexts fix (felt
        domination, collaborative and combative leadership), then the month's (the
        trust-building loop, communication, constructive and destructive resolution, unequal
        sharing of gains).
        """
        j = partner.index
        destructive = _pair(self.index, j) in view.destructive_pairs
        constructive = _pair(self.index, j) in view.constructive_pairs
        return (
            self.domination_effect(partner, view),
            self.collaborative_leadership_effect(view),
            self.combative_leadership_effect(partner, view),
            self.trust_building_loop(view),
            self.communication_effect(partner, view),
            self.constructive_resolution_effect(constructive),
            -self.destructive_resolution_effect(destructive, partner, view),
            self.unequal_sharing_effect(partner, view),
        )

    def trust_building_loop(self, view: Outlook) -> float:
        """Success builds trust (scaled by ambition), failure erodes it faster.

        Rules: trust.success_loop, trust.failure_loop (with baseline loss_aversion: trust is lost
        faster than it is gained).
        """
        a, b = self.model.coef, self.model.base
        rate = b["trust_rate"]
        if view.success:
            return rate * a["trust.success_loop"] * 2.0 * view.ambition
        return rate * b["loss_aversion"] * a["trust.failure_loop"]

    def domination_effect(self, partner: Organisation, view: Outlook) -> float:
        """Trust erodes with the dominance felt from a more powerful or senior partner.

        Rules: power.size_domination (dominance ``max(0, p_partner - p_self) + rank_partner``,
        the rank from power.mandated_imbalance).
        """
        a, b = self.model.coef, self.model.base
        return b["domination_rate"] * a["power.size_domination"] * view.dominance(self, partner)

    def communication_effect(self, partner: Organisation, view: Outlook) -> float:
        """Communication above (below) typical builds (erodes) trust.

        Rules: communication.builds_trust (proximity and communication strategies act through
        the communication level).
        """
        a, b = self.model.coef, self.model.base
        comm = view.communication[(self.index, partner.index)]
        return b["communication_rate"] * a["communication.builds_trust"] * 2.0 * centred(comm)

    def constructive_resolution_effect(self, constructive: bool) -> float:
        """Trust gained when a conflict with the partner was resolved constructively.

        Rules: trust.constructive_resolution (through the resolution probability).
        """
        return self.model.base["constructive_gain"] if constructive else 0.0

    def destructive_resolution_effect(self, destructive: bool, partner: Organisation,
                                      view: Outlook) -> float:
        """Trust lost (a positive number) when a conflict was resolved destructively.

        Rules: trust.destructive_resolution (through the resolution probability),
        conflict.accountability (governance buffers the loss). The trust in place buffers it
        too: the loss is scaled by :func:`distrust_odds` of the trust in ``partner``, so after
        :func:`nudge` a destructive resolution alone removes ``loss * (1 - trust)``.
        """
        if not destructive:
            return 0.0
        a, b = self.model.coef, self.model.base
        buffer = clip(1.0 - a["conflict.accountability"] * centred(view.ctx["accountability"]),
                      0.25, 1.75)
        return b["destructive_loss"] * buffer * distrust_odds(self.trust[partner.index])

    def collaborative_leadership_effect(self, view: Outlook) -> float:
        """Collaborative leadership (upper half of the leadership context) fosters trust.

        Rules: leadership.collaborative.
        """
        a, b = self.model.coef, self.model.base
        return b["leadership_rate"] * a["leadership.collaborative"] * 2.0 * upper(
            view.ctx["leadership"]
        )

    def combative_leadership_effect(self, partner: Organisation, view: Outlook) -> float:
        """Combative leadership in a voluntary partnership: trust in the lead member erodes.

        Rules: leadership.combative_voluntary (lower half of the leadership context; the lead
        member dominates, so only trust in the lead changes).
        """
        if partner.index != self.model.lead:
            return 0.0
        a, b = self.model.coef, self.model.base
        return (
            b["leadership_rate"] * a["leadership.combative_voluntary"] * 2.0
            * lower(view.ctx["leadership"]) * (1.0 - view.ctx["mandated"])
        )

    def unequal_sharing_effect(self, partner: Organisation, view: Outlook) -> float:
        """Gains kept by the most powerful partner erode trust in it (shared fairly: build it).

        Rules: power.unequal_resources (only when the task succeeded: there are gains to share).
        """
        if partner.index != view.top or not view.success:
            return 0.0
        a, b = self.model.coef, self.model.base
        return (
            b["trust_rate"] * a["power.unequal_resources"] * 2.0
            * centred(view.ctx["resource_equality"]) * view.ambition
        )

    def faith_change(self, view: Outlook) -> tuple[float, tuple[float, ...]]:
        """This month's faith change before :func:`nudge`, and its parts (:data:`FAITH_TERMS`).

        Rules: faith.stakeholder_involvement, faith.authenticity, trust.underambition (the
        monthly drift), faith.achievement_loop, faith.intra_conflict, faith.trust,
        faith.destructive_conflict.
        """
        a, b, ctx = self.model.coef, self.model.base, view.ctx
        drift = b["faith_rate"] * (
            a["faith.stakeholder_involvement"] * 2.0 * centred(ctx["stakeholder_involvement"])
            + a["faith.authenticity"] * 2.0 * centred(ctx["authenticity"])
            + a["trust.underambition"] * 2.0 * min(ctx["ambition_bias"], 0.0)
        )
        rate = b["faith_achievement_rate"] * a["faith.achievement_loop"]
        # Success is worth its aims (unambitious wins are worth little); failure costs a unit.
        achieved = rate * min(2.0 * view.ambition, 1.0) if view.success else rate * -1.0
        intra = a["faith.intra_conflict"] * 2.0 * self.intra_conflict
        trusting = a["faith.trust"] * 2.0 * (view.trust_given[self.index] - 0.5)
        # Faith is about the collaboration as a whole: destructive conflicts count per partner.
        destructive = ordered_sum(
            1.0 for pair in view.destructive_pairs if self.index in pair
        ) / max(view.count - 1.0, 1.0)
        losses = b["destructive_faith_loss"] * a["faith.destructive_conflict"] * destructive
        change = (drift + achieved) + b["faith_rate"] * (intra + trusting) + losses
        return change, (drift, achieved, b["faith_rate"] * intra, b["faith_rate"] * trusting,
                        losses)

    def intra_conflict_change(self, view: Outlook) -> float:
        """Next month's conflict inside the organisation.

        Rules: intra.staff_involvement (uninvolved staff), intra.workforce_churn, intra.inertia_
        workload (the workload of collaborative inertia) raise it; intra.flexibility speeds its
        decay.
        """
        a, b, attr = self.model.coef, self.model.base, self.attributes
        inertia = 1.0 - view.synergy
        rise = b["intra_rate"] * (
            1.0
            - a["intra.staff_involvement"] * 2.0 * centred(attr["staff_involvement"])
            - a["intra.workforce_churn"] * 2.0 * centred(attr["workforce_stability"])
            - a["intra.inertia_workload"] * 2.0 * centred(inertia)
        )
        decay = b["intra_decay"] * max(
            1.0 + a["intra.flexibility"] * 2.0 * centred(attr["flexibility"]), 0.0
        )
        return nudge(self.intra_conflict, rise) * clip(1.0 - decay, 0.0, 1.0)

    def cultural_integration(self, view: Outlook) -> float:
        """Move towards the members' cultural centre under inclusive leadership.

        Rules: culture.inclusive_integration.
        """
        return self.culture + view.culture_pull * (view.culture_centre - self.culture)

    def apply(self) -> None:
        """Make this month's decisions take effect (after every member has decided)."""
        self.previous_trust, self.trust = self.trust, self.next_trust
        self.faith = self.next_faith
        self.intra_conflict = self.next_intra_conflict
        self.culture = self.next_culture

    # -- exit ---------------------------------------------------------------------------------
    def exit_decision(self, trust_given: float, trust_floor: float, faith_floor: float) -> int:
        """Whether the member leaves this month, as a ``CAUSE_*`` code (``CAUSE_NONE``: stays).

        Rules: dissolution.critical_trust (trust in the partners below the critical threshold:
        inter-organisational origin), dissolution.faith_collapse (faith below its threshold:
        intra-organisational origin). Below both, the member is recorded as leaving for trust.
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
