"""Rules as terms at sites: the catalogue of the theory language and its compiler.

Every month the model computes a few quantities at fixed places of the step, the **sites** (a
logit, a rate, a target, a floor). Each is an intercept plus a sum of **terms**, one or more per
rule::

    site = intercept + sum over terms t at the site of
           coef_t * form_t(input_t) * modulator_t * [when_t]

    coef_t = direction_t * weight * product(scale_t)
    direction_t = sign * polarity(site, outcome)        (sum sites)

``polarity(site, outcome)`` is the direction in which raising the site moves the outcome (the
:data:`SITES` table), so a rule's declared outcome and sign decide the direction of its term: a
rule relabelled with another outcome either runs in another direction or, if its site cannot
reach that outcome, is rejected. Forms are non-decreasing in their input and modulators are
never negative, so raising a rule's context moves its declared outcome in the declared
direction wherever the term is not zero.

:func:`compile_terms` turns a theory into :class:`SiteTerms` tables, one per site, split into
the terms fixed by the contexts and the membership (evaluated when those change) and the terms
that read the month's state (evaluated every month). Both engines evaluate the same tables with
:func:`term_value`, the numpy engine over arrays, the Mesa engine per agent, adding terms in the
same order. docs/theory-language.md documents every site, input, form and modulator.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONDITION_OPS",
    "FORMS",
    "MODULATORS",
    "ODDS_TRUST_FLOOR",
    "REDUCTIONS",
    "SHAPES",
    "SITES",
    "STATE_INPUTS",
    "Condition",
    "ContextInfo",
    "Input",
    "Modulator",
    "Site",
    "SiteTerms",
    "Term",
    "TermSpec",
    "compile_terms",
    "condition_value",
    "context_level",
    "distrust_odds",
    "form_value",
    "modulator_value",
    "parse_condition",
    "reduce_pair",
    "size_norm",
    "term_value",
]

#: Array shapes a site can have: one value per run, per member, per ordered pair (member i
#: towards partner j) or per unordered pair.
SHAPES = ("run", "member", "pair", "upair")


@dataclass(frozen=True)
class Site:
    """A place in the month where terms enter.

    ``intercept`` is a baseline constant name or a number. ``outcomes`` maps each outcome the
    site can reach to its polarity (+1: raising the site raises the outcome). ``mechanisms``
    lists the mechanisms a rule acting here may name. ``inputs`` are the state inputs known
    when the site is computed. A ``floor`` site compares the quantity ``compares`` against the
    sum of its terms (a member leaves below it): its terms are magnitudes (``weight * scale``),
    their rules must name ``compares`` as context, the outcome ``dissolution`` and sign -1.
    """

    name: str
    shape: str
    stage: str  # "init": once, at the start; "month": every month
    intercept: str | float
    unit: str
    meaning: str
    outcomes: Mapping[str, int]
    mechanisms: frozenset[str]
    inputs: frozenset[str] = frozenset()
    modulators: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ("all",)
    kind: str = "sum"
    compares: str | None = None


@dataclass(frozen=True)
class Input:
    """A state or derived quantity a term can read (besides the contexts)."""

    name: str
    shapes: frozenset[str]
    neutral: float
    meaning: str
    fixed: bool = False  # fixed by the contexts and the membership (not by the month's state)


@dataclass(frozen=True)
class Modulator:
    """A non-negative quantity a term is scaled by."""

    name: str
    shapes: frozenset[str]
    needs: str | None  # the state input it is computed from (None: fixed by the contexts)
    meaning: str


_ALL = frozenset(SHAPES)
STATE_INPUTS: dict[str, Input] = {i.name: i for i in (
    Input("trust", _ALL, 0.5, "Trust: a member's in a partner (pair), the mean of the two "
          "directions (unordered pair), a member's mean trust in its partners (member), the "
          "mean over ordered active pairs (run)."),
    Input("faith", frozenset({"member", "run"}), 0.5,
          "Faith in the collaboration: the member's own (member), the active-member mean (run)."),
    Input("communication", frozenset({"pair", "upair", "run"}), 0.5,
          "Communication of an ordered pair, its two directions' mean (unordered pair), the "
          "mean over ordered active pairs (run)."),
    Input("intra_conflict", frozenset({"member", "run"}), 0.0,
          "Intra-organisational conflict: the member's own, or the active-member mean."),
    Input("synergy", frozenset({"run"}), 0.5, "This month's synergy (0 inertia .. 1 synergy)."),
    Input("inertia", frozenset({"run"}), 0.5, "One minus this month's synergy."),
    Input("shared_vision", frozenset({"run"}), 0.5,
          "The partnership's shared vision as the month finds it (it starts at the context)."),
    Input("cultural_distance", frozenset({"pair", "upair"}), 0.0,
          "Distance between the two members' cultural positions."),
    Input("task_success", frozenset({"run"}), 0.0, "1 if this month's task succeeded, else 0."),
    Input("task_failure", frozenset({"run"}), 0.0, "1 if this month's task failed, else 0."),
    Input("ambition", frozenset({"run"}), 0.5, "This month's agreed ambition in [0, 1]."),
    Input("destructive_resolution", frozenset({"member"}), 0.0,
          "This month's destructively resolved conflicts of the member, per partner."),
    Input("dominance", frozenset({"pair", "upair"}), 0.0,
          "Dominance member i feels from j, max(0, power_j - power_i) + lead power_j, with "
          "power the mean of normalised size and resources (pair); the larger of the two "
          "directions (unordered pair).", fixed=True),
    Input("n_members", frozenset({"run"}), 0.0,
          "Members still in, as (count - 2) / 14: 0 for a dyad, 1 for sixteen members.",
          fixed=True),
    Input("complexity", frozenset({"run"}), 0.5,
          "Task complexity (the complexity site, clipped to [0, 1]).", fixed=True),
    Input("experience", frozenset({"run"}), 1.0,
          "How far the members have learned to work together, in [0, 1]: 0 at the start, "
          "growing by the learning site each month."),
    Input("turnover", frozenset({"member", "run"}), 0.0,
          "1 if the member's senior leaders or partnership lead changed this month, else 0 "
          "(member); the share of active members with such a change (run)."),
)}

MODULATORS: dict[str, Modulator] = {m.name: m for m in (
    Modulator("distrust_odds", frozenset({"pair", "upair"}), "trust",
              "(1 - trust) / max(trust, 0.02) of the pair's trust: 1 at 0.5, 1/3 at 0.75, 3 at "
              "0.25; the trust in place buffers what the term does."),
    Modulator("ambition", frozenset({"run"}), "ambition", "This month's agreed ambition."),
    Modulator("ambition_capped", frozenset({"run"}), "ambition",
              "min(2 x ambition, 1): achievements at ambition 0.5 or more count fully."),
    Modulator("communication", frozenset({"pair", "upair", "run"}), "communication",
              "The pair's communication (or the mean, at a run site)."),
    Modulator("mistrust", frozenset({"run"}), "trust",
              "max(0.5 - mean trust, 0): how far the partnership's trust is below neutral."),
    Modulator("exit_ease", _ALL, None,
              "The exit_ease site, at least 0: how easily a member leaves (a mandate makes it "
              "harder)."),
)}

#: Forms: how an input enters a term; each is non-decreasing in the input.
FORMS: dict[str, str] = {
    "linear": "x - centre",
    "upper": "max(x - centre, 0): only the part above the centre acts",
    "lower": "min(x - centre, 0): only the part below the centre acts",
    "threshold": "1 if x > centre else 0: a step at the centre",
    "saturating": "(x - centre) / (half + |x - centre|): linear near the centre, bounded by 1",
    "constant": "1: the term does not depend on the input",
}
_FORM_CODE = {name: k for k, name in enumerate(FORMS)}
LINEAR, UPPER, LOWER, THRESHOLD, SATURATING, CONSTANT = range(6)

#: Comparison operators of conditions.
CONDITION_OPS = ("<", "<=", ">", ">=")

_PERSISTENT = frozenset({"n_members"})
_ANY_MONTH = frozenset({"trust", "synergy", "inertia", "ambition", "task_success",
                        "task_failure", "shared_vision"})


def _site(name, shape, stage, intercept, unit, meaning, outcomes, mechanisms, inputs=(),
          modulators=("exit_ease",), targets=("all",), kind="sum", compares=None) -> Site:
    return Site(name, shape, stage, intercept, unit, meaning, dict(outcomes),
                frozenset(mechanisms), frozenset(inputs) | _PERSISTENT, frozenset(modulators),
                tuple(targets), kind, compares)


_TRUST_MECHS = ("initial_trust", "trust_building", "improved_trust", "reduced_trust", "domination",
                "power_imbalance", "communication", "combative_leadership", "risk_threshold",
                "coordination")
_FAITH_MECHS = ("faith_building", "reduced_faith", "authenticity", "intra_conflict")

SITES: dict[str, Site] = {s.name: s for s in (
    _site("initial_trust", "pair", "init", "trust_initial", "trust, [0.02, 0.98] after noise",
          "Trust member i places in partner j at the start.",
          {"trust": 1, "ambition": 1, "task_achievement": 1, "faith": 1, "conflict": -1,
           "dissolution": -1},
          _TRUST_MECHS, inputs=("dominance",), targets=("all", "lead", "top")),
    _site("initial_faith", "member", "init", "faith_initial", "faith, [0.02, 0.98] after noise",
          "A member's faith in the collaboration at the start.",
          {"faith": 1, "task_achievement": 1, "synergy": 1, "dissolution": -1},
          _FAITH_MECHS, targets=("all", "lead")),
    _site("initial_experience", "run", "init", 0.0, "experience, clipped to [0, 1]",
          "How far the members have already learned to work together at the start (0: a "
          "new partnership).",
          {"experience": 1, "synergy": 1, "task_achievement": 1}, ("learning",)),
    _site("lead_power", "member", "month", 0.0, "power (normalised size and resources units)",
          "Power a member holds besides its size and resources (hierarchical seniority); felt "
          "as dominance by every other member and counted in who is most powerful.",
          {"trust": -1, "conflict": 1, "dissolution": 1},
          ("power_imbalance", "domination"), targets=("all", "lead")),
    _site("complexity", "run", "month", 0.5, "complexity, clipped to [0, 1]",
          "Task complexity, clipped to [0, 1]; terms elsewhere read it as the state input "
          "complexity.",
          {"trust_requirement": 1, "task_achievement": -1, "ambition": -1},
          ("task_complexity",)),
    _site("communication", "pair", "month", 0.5, "communication, clipped to [0, 1]",
          "Communication of member i with partner j.",
          {"communication": 1, "trust": 1, "synergy": 1, "task_achievement": 1},
          ("communication", "task_complexity", "coordination"), inputs=("trust", "dominance"),
          targets=("all", "lead", "top")),
    _site("functioning", "run", "month", 0.0, "functioning F (logit units of the synergy target)",
          "Partnership functioning: the synergy target is sigmoid(synergy_steepness x (F - "
          "synergy_threshold)).",
          {"synergy": 1, "task_achievement": 1, "faith": 1, "intra_conflict": -1},
          ("synergy", "inertia", "communication", "coordination", "learning"),
          inputs=("trust", "faith", "communication", "intra_conflict", "shared_vision",
                  "experience")),
    _site("risk_tolerance", "member", "month", 0.5, "ambition, [0, 1]",
          "The ambition a member tolerates; the partnership agrees the least tolerant member's "
          "level plus the ambition bias.",
          {"ambition": 1}, ("risk_threshold", "trust_building", "task_complexity"),
          inputs=("trust", "faith", "intra_conflict", "synergy", "inertia", "complexity"),
          targets=("all", "lead")),
    _site("task_logit", "run", "month", "success_intercept", "logit of task success",
          "The logit of this month's task succeeding.",
          {"task_achievement": 1, "trust": 1, "faith": 1, "conflict": -1, "dissolution": -1},
          ("task_achievement", "easier_achievement", "lack_of_achievement", "synergy",
           "inertia", "coordination", "intra_conflict", "risk_threshold", "trust_building",
           "task_complexity"),
          inputs=("trust", "faith", "communication", "intra_conflict", "synergy", "inertia",
                  "ambition", "shared_vision", "complexity")),
    _site("achievement_value", "run", "month", 1.0,
          "multiple of the ambition achieved, clipped to [0, 1]",
          "What a successful month adds to performance, per unit of its ambition.",
          {"task_achievement": 1}, ("inertia", "synergy", "task_achievement"),
          inputs=("trust", "faith", "synergy", "inertia", "ambition", "complexity")),
    _site("conflict", "upair", "month", "conflict_intercept", "logit of a monthly conflict",
          "Conflict hazard of a pair; the engine adds the shock of improper exits.",
          {"conflict": 1, "trust": -1, "faith": -1, "dissolution": 1},
          ("conflict", "reduced_conflict", "communication", "domination", "power_imbalance",
           "coordination"),
          inputs=("trust", "communication", "synergy", "inertia", "ambition", "task_success",
                  "task_failure", "shared_vision", "cultural_distance", "dominance"),
          modulators=("distrust_odds", "communication", "ambition", "exit_ease")),
    _site("resolution", "run", "month", 0.5, "probability, clipped to [0, 1]",
          "Probability that a conflict is resolved constructively (else destructively).",
          {"trust": 1, "faith": 1, "dissolution": -1},
          ("improved_trust", "reduced_trust", "conflict", "reduced_conflict"),
          inputs=_ANY_MONTH),
    _site("destructive_buffer", "run", "month", 1.0, "multiplier, clipped to [0.25, 1.75]",
          "Multiplies the trust a destructive resolution costs (baseline destructive_loss).",
          {"trust": -1, "dissolution": 1}, ("conflict", "reduced_conflict", "reduced_trust"),
          inputs=_ANY_MONTH),
    _site("trust_change", "pair", "month", 0.0, "monthly trust change before nudging",
          "Monthly change of member i's trust in partner j; the engine adds the change of "
          "this month's conflict resolutions and moves trust by nudge().",
          {"trust": 1, "ambition": 1, "faith": 1, "communication": 1, "conflict": -1,
           "dissolution": -1, "task_achievement": 1},
          _TRUST_MECHS + ("synergy", "task_achievement"),
          inputs=("trust", "communication", "synergy", "inertia", "ambition", "task_success",
                  "task_failure", "dominance", "shared_vision", "cultural_distance", "turnover",
                  "experience"),
          modulators=("distrust_odds", "communication", "ambition", "exit_ease"),
          targets=("all", "lead", "top")),
    _site("faith_change", "member", "month", 0.0, "monthly faith change before nudging",
          "Monthly change of a member's faith in the collaboration.",
          {"faith": 1, "task_achievement": 1, "synergy": 1, "dissolution": -1},
          _FAITH_MECHS + ("trust_building", "task_achievement", "conflict", "risk_threshold",
                          "lack_of_achievement", "reduced_trust", "turnover", "synergy"),
          inputs=("trust", "faith", "intra_conflict", "synergy", "inertia", "ambition",
                  "task_success", "task_failure", "destructive_resolution", "turnover"),
          modulators=("ambition", "ambition_capped", "exit_ease"), targets=("all", "lead")),
    _site("intra_rise", "member", "month", 1.0, "multiple of baseline intra_rate",
          "Monthly rise of intra-organisational conflict, times intra_rate, before nudging.",
          {"intra_conflict": 1, "faith": -1, "task_achievement": -1, "dissolution": 1},
          ("intra_conflict", "inertia", "turnover"),
          inputs=("trust", "faith", "intra_conflict", "synergy", "inertia", "ambition",
                  "task_success", "task_failure", "turnover"), targets=("all", "lead")),
    _site("intra_decay", "member", "month", 1.0, "multiple of baseline intra_decay, >= 0",
          "How fast intra-organisational conflict decays (the share kept is 1 - intra_decay x "
          "max(site, 0), clipped to [0, 1]).",
          {"intra_conflict": -1, "faith": 1, "task_achievement": 1, "dissolution": -1},
          ("intra_conflict",),
          inputs=("trust", "faith", "intra_conflict", "synergy", "inertia", "ambition",
                  "task_success", "task_failure"), targets=("all", "lead")),
    _site("vision_change", "run", "month", 0.0, "monthly shared-vision change before nudging",
          "Monthly change of the partnership's shared vision.",
          {"shared_vision": 1, "conflict": -1, "trust": 1},
          ("combative_leadership", "authenticity"),
          inputs=_ANY_MONTH, modulators=("mistrust", "ambition", "exit_ease")),
    _site("culture_pull", "run", "month", 0.0, "share of the distance, clipped to [-1, 1]",
          "How far members move each month towards their cultural centre.",
          {"trust": 1, "conflict": -1}, ("cultural_integration",), inputs=_ANY_MONTH,
          modulators=("mistrust", "ambition", "exit_ease")),
    _site("turnover", "member", "month", "turnover_intercept",
          "logit of a monthly change of the member's senior leaders or partnership lead",
          "Chance that a member's senior leaders or partnership lead change this month; "
          "terms elsewhere read the change as the state input turnover.",
          {"turnover": 1, "faith": -1, "synergy": -1, "dissolution": 1},
          ("turnover",), inputs=("trust", "faith", "intra_conflict", "communication"),
          targets=("all", "lead")),
    _site("learning", "run", "month", "learning_rate",
          "monthly learning before nudging",
          "How far the members learn to work together this month: experience moves by "
          "nudge(experience, learning); negative terms lose experience.",
          {"experience": 1, "synergy": 1, "task_achievement": 1},
          ("learning", "communication", "coordination", "turnover", "synergy", "inertia"),
          inputs=("trust", "communication", "synergy", "inertia", "turnover", "experience",
                  "shared_vision")),
    _site("exit_ease", "run", "month", 1.0, "multiple of the exit floors, >= 0",
          "How easily a member leaves: multiplies the floors of rules that use the modulator "
          "exit_ease.",
          {"dissolution": 1}, ("power_imbalance", "critical_trust_threshold", "faith_collapse"),
          modulators=()),
    _site("exit_shock", "run", "month", 0.0, "conflict logit per departing member",
          "Conflict shock each departing member adds (decays by exit_shock_decay a month).",
          {"conflict": 1, "trust": -1, "dissolution": 1}, ("conflict",)),
    _site("demerger", "run", "month", "demerger_intercept",
          "logit of a monthly de-merger while a member is below a floor",
          "A merger is one legal entity: its members cannot leave. While a member's trust or "
          "faith is below its floor, the merger may be reversed (a de-merger, which dissolves "
          "it) with this chance a month; merger form only.",
          {"dissolution": 1}, ("critical_trust_threshold", "faith_collapse"), modulators=()),
    _site("joining", "run", "month", "join_intercept",
          "logit of a monthly join into each vacated place",
          "A network recruits: each place a member left in an earlier month is taken by a like "
          "organisation with this chance a month; network form only.",
          {"dissolution": -1}, ("coordination",), modulators=()),
    _site("trust_floor", "run", "month", 0.0, "trust",
          "A member whose mean trust in its partners falls below this leaves.",
          {"dissolution": 1}, ("critical_trust_threshold",), kind="floor", compares="trust"),
    _site("faith_floor", "run", "month", 0.0, "faith",
          "A member whose faith falls below this leaves.",
          {"dissolution": 1}, ("faith_collapse",), kind="floor", compares="faith"),
)}


# -- conditions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """``context op value`` (``mandated`` reads ``mandated > 0.5``, ``not mandated`` ``< 0.5``)."""

    context: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.context} {self.op} {self.value:g}"


_COND = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_BOOL = re.compile(r"^\s*(not\s+)?([a-z_][a-z0-9_]*)\s*$")


def parse_condition(text: str) -> Condition:
    """Parse ``"trust < 0.3"``, ``"size > 5000"``, ``"mandated"`` or ``"not mandated"``."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a condition (write e.g. 'trust < 0.3' or 'mandated')")
    match = _COND.match(text)
    if match:
        try:
            value = float(match.group(3))
        except ValueError:
            raise ValueError(f"'{text}': {match.group(3)!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"'{text}': the value must be finite")
        return Condition(match.group(1), match.group(2), value)
    match = _BOOL.match(text)
    if match:
        return Condition(match.group(2), "<" if match.group(1) else ">", 0.5)
    raise ValueError(
        f"'{text}' is not a condition (allowed: '<context> <op> <number>' with op one of "
        f"{', '.join(CONDITION_OPS)}, '<context>' or 'not <context>')"
    )


# -- compiled terms ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TermSpec:
    """What a rule does at one site, as written in a theory file (validated by the theory)."""

    site: str
    form: str = "linear"
    centre: float | None = None
    half: float = 0.25
    scale: tuple[str | float, ...] = ()
    modulator: str | None = None
    when: tuple[str, ...] = ()
    target: str = "all"
    reduce: str | None = None


@dataclass(frozen=True)
class Term:
    """One compiled term: ``coef * form(input) * modulator * mask`` at ``site``.

    ``reduce`` says how a member-level input reaches a pair site (own, partner, mean, distance,
    max, min) or a run site (mean over active members); ``conditions`` are compiled the same
    way, comparing each context in its own unit.
    """

    rule: str
    site: str
    input: str
    level: str  # "partnership", "member", "state"
    reduce: str
    form: int
    centre: float
    half: float
    coef: float
    modulator: str | None
    conditions: tuple[tuple[str, str, str, str, float], ...]  # (name, level, reduce, op, value)
    target: str
    fixed: bool
    group: int = -1
    account: str = "other"  # "task": the term reads the task's outcome (trust account)


@dataclass(frozen=True)
class SiteTerms:
    """The terms of one site: ``fixed`` (contexts and membership only) and ``month`` terms."""

    site: Site
    intercept: float
    fixed: tuple[Term, ...]
    month: tuple[Term, ...]

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term, fixed ones first (the order of evaluation)."""
        return self.fixed + self.month

    def run_level(self, account: str) -> bool:
        """Whether the month terms of ``account`` have one value per run at this site."""
        return all(t.group >= 0 for t in self.month if t.account == account)



def _scale(values: Sequence[str | float], baseline: Mapping[str, float]) -> float:
    out = 1.0
    for v in values:
        out = out * (baseline[v] if isinstance(v, str) else float(v))
    return out


def compile_terms(rules, baseline: Mapping[str, float],
                  contexts: Mapping[str, ContextInfo]) -> dict[str, SiteTerms]:
    """Compile validated rules into one :class:`SiteTerms` table per site (in catalogue order).

    ``rules`` are :class:`cmo_sim.theory.Rule` objects (with their ``terms``), ``contexts`` the
    theory's declared contexts by name.
    """
    tables: dict[str, tuple[list[Term], list[Term]]] = {name: ([], []) for name in SITES}
    for rule in rules:
        for spec in rule.term_specs():
            site = SITES[spec.site]
            if spec.form == "constant":
                level, reduce_default, neutral = "constant", "all", 0.0
            else:
                level, reduce_default, neutral = _input_info(rule.context, site, contexts)
            direction = 1.0 if site.kind == "floor" else float(
                rule.sign * site.outcomes[rule.outcome]
            )
            coef = direction * rule.weight * _scale(spec.scale, baseline)
            conditions = []
            fixed = level != "state" or STATE_INPUTS[rule.context].fixed
            for text in spec.when:
                cond = parse_condition(text)
                c_level, c_reduce, _ = _input_info(cond.context, site, contexts)
                conditions.append((cond.context, c_level, _reduce_for(site.shape, c_reduce),
                                   cond.op, cond.value))
                if c_level == "state" and not STATE_INPUTS[cond.context].fixed:
                    fixed = False
            if spec.modulator is not None and MODULATORS[spec.modulator].needs is not None:
                fixed = False
            reads = {rule.context} | {c[0] for c in conditions}
            term = Term(
                account="task" if reads & {"task_success", "task_failure"} else "other",
                rule=rule.id, site=spec.site, input=rule.context, level=level,
                reduce=spec.reduce or _reduce_for(site.shape, reduce_default),
                form=_FORM_CODE[spec.form],
                centre=float(neutral if spec.centre is None else spec.centre),
                half=float(spec.half), coef=float(coef), modulator=spec.modulator,
                conditions=tuple(conditions), target=spec.target,
                fixed=fixed or site.stage == "init",
            )
            tables[spec.site][0 if term.fixed else 1].append(term)
    out = {}
    for name, (fixed, month) in tables.items():
        site = SITES[name]
        month = _grouped(month, site, contexts)
        intercept = site.intercept
        value = baseline[intercept] if isinstance(intercept, str) else float(intercept)
        out[name] = SiteTerms(site, float(value), tuple(fixed), tuple(month))
    return out


def _run_level(term: Term, site: Site) -> bool:
    """Whether the term's value is one per run at this site (before broadcasting)."""
    if site.shape == "run":
        return True
    if term.target != "all":
        return False

    def run_valued(name: str, level: str) -> bool:
        if level in ("partnership", "constant"):
            return True
        if level == "member":
            return False
        return site.shape not in STATE_INPUTS[name].shapes

    if not run_valued(term.input, term.level):
        return False
    if term.modulator is not None and site.shape in MODULATORS[term.modulator].shapes:
        return False
    return all(run_valued(name, level) for name, level, *_ in term.conditions)


def _grouped(month: list[Term], site: Site, contexts) -> list[Term]:
    """Month terms with their group.

    Consecutive terms with one value per run are summed together before being added to the
    site (both engines add them so).
    """
    out, group = [], -1
    for k, term in enumerate(month):
        if site.shape != "run" and _run_level(term, site):
            group = k if group < 0 else group
            out.append(dataclasses.replace(term, group=group))
        else:
            group = -1
            out.append(term)
    return out


@dataclass(frozen=True)
class ContextInfo:
    """A declared context: level, range, typical value (and its value on the term scale)."""

    name: str
    level: str  # "partnership" or "member"
    low: float
    high: float
    typical: float
    meaning: str = ""
    provenance: str = ""
    boolean: bool = False

    @property
    def neutral(self) -> float:
        """The typical value on the scale terms read (normalised for ``size``)."""
        return float(size_norm(self.typical)) if self.name == "size" else self.typical


def size_norm(size):
    """Normalised size ``clip(log10(size) / 5, 0, 1)``: 10 staff -> 0.2, 100,000 -> 1."""
    return np.clip(np.log10(size) / 5.0, 0.0, 1.0)


def context_level(name: str, site: Site, contexts: Mapping[str, ContextInfo]) -> str | None:
    """``"state"``, ``"partnership"`` or ``"member"`` for ``name`` read at ``site``; None if not.

    A state input known at the site wins over a context of the same name (``shared_vision``
    reads the partnership's moving vision at a month site, the scenario's value elsewhere). A
    state input without a value of the site's shape reads its run value.
    """
    state = STATE_INPUTS.get(name)
    if state is not None and name in site.inputs and (
            site.shape in state.shapes or "run" in state.shapes):
        return "state"
    if name in contexts:
        return contexts[name].level
    return None


def _input_info(name: str, site: Site, contexts: Mapping[str, ContextInfo]
                ) -> tuple[str, str, float]:
    level = context_level(name, site, contexts)
    if level is None:
        raise ValueError(f"{name!r} is not known at site {site.name!r}")
    if level == "state":
        return "state", "site", STATE_INPUTS[name].neutral
    info = contexts[name]
    return info.level, ("own" if info.level == "member" else "all"), info.neutral


def _reduce_for(shape: str, default: str) -> str:
    if default != "own":
        return default
    return {"run": "mean", "member": "own", "pair": "mean", "upair": "mean"}[shape]


#: How a member-level input reaches each site shape.
REDUCTIONS: dict[str, tuple[str, ...]] = {
    "run": ("mean",),
    "member": ("own",),
    "pair": ("own", "partner", "mean", "distance", "max", "min"),
    "upair": ("mean", "distance", "max", "min"),
}


# -- evaluation ---------------------------------------------------------------------------------
def form_value(code: int, x, centre: float, half: float):
    """The form ``code`` of input ``x`` (array or float)."""
    if code == CONSTANT:
        return 1.0
    d = x - centre if centre != 0.0 else x  # x - 0.0 is x: no arithmetic needed
    if code == LINEAR:
        return d
    if code == UPPER:
        return np.maximum(d, 0.0)
    if code == LOWER:
        return np.minimum(d, 0.0)
    if code == THRESHOLD:
        return np.where(x > centre, 1.0, 0.0)
    return d / (half + np.abs(d))


def condition_value(op: str, x, value: float):
    """1.0 where ``x op value`` holds, else 0.0 (array or float)."""
    if op == "<":
        hold = x < value
    elif op == "<=":
        hold = x <= value
    elif op == ">":
        hold = x > value
    else:
        hold = x >= value
    return np.where(hold, 1.0, 0.0)


def term_value(term: Term, x, modulator=None, mask=None):
    """``coef * form(x) [* modulator] [* mask]``: the one formula both engines use."""
    value = term.coef * form_value(term.form, x, term.centre, term.half)
    if modulator is not None:
        value = value * modulator
    if mask is not None:
        value = value * mask
    return value


def reduce_pair(how: str, xi, xj):
    """A member-level value of members i and j reduced to a pair value."""
    if how == "own":
        return xi
    if how == "partner":
        return xj
    if how == "mean":
        return 0.5 * (xi + xj)
    if how == "distance":
        return np.abs(xi - xj)
    if how == "max":
        return np.maximum(xi, xj)
    return np.minimum(xi, xj)


#: Trust below which :func:`distrust_odds` stops growing (the bound of initial trust).
ODDS_TRUST_FLOOR = 0.02


def distrust_odds(trust: np.ndarray | float) -> np.ndarray:
    """``(1 - trust) / max(trust, 0.02)``: 1 at trust 0.5, 1/3 at 0.75, 3 at 0.25.

    The trust in place buffers conflict (the review: initial trust "can act as a buffer against
    future conflicts and task failures"). A failed month raises a pair's conflict hazard, and
    a destructive resolution changes trust, in proportion to these odds (4.8, 4.10).
    """
    trust = np.asarray(trust, dtype=np.float64)
    return (1.0 - trust) / np.maximum(trust, ODDS_TRUST_FLOOR)


def modulator_value(name: str, *, trust=None, ambition=None, communication=None,
                    mean_trust=None, ease=None):
    """The value of modulator ``name`` from the quantities it is computed from."""
    if name == "distrust_odds":
        return distrust_odds(trust)
    if name == "ambition":
        return ambition
    if name == "ambition_capped":
        return np.minimum(2.0 * ambition, 1.0)
    if name == "communication":
        return communication
    if name == "mistrust":
        return np.maximum(0.5 - mean_trust, 0.0)
    return np.maximum(ease, 0.0)
