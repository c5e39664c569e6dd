"""``init(params) -> State`` and ``step(state, params, t) -> State``: pure functions.

One step is one month. All members decide from the previous state; the partnership-level
quantities are updated in the order of docs/model.md (leadership turnover, functioning and
synergy, learning to work together, ambition, task, conflict, trust, faith,
intra-organisational conflict, vision and culture, exits).

Much of a step depends only on the contexts in force and on who is still in (power, dominance,
the contexts' parts of every mechanism). :class:`Fixed` holds those terms; a :class:`StepCache`
passed to :func:`step` keeps them from one month to the next and recomputes them when the
contexts or the membership change, which leaves every number as it would be without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from cmo_sim.core import ends
from cmo_sim.core import mechanisms as m
from cmo_sim.core.sites import ArrayView, Prepared, add_prepared, add_terms, prepare
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_TRUST, COUNTERS, TRUST_ACCOUNT, State
from cmo_sim.params import Params
from cmo_sim.rng import Stream, uniform
from cmo_sim.scenario import FORMS

__all__ = ["Fixed", "StepCache", "fixed_terms", "init", "join_places", "step", "timeline_state"]

_MERGER, _NETWORK = FORMS.index("merger"), FORMS.index("network")


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(n, 1)
    return iu.astype(np.int64), ju.astype(np.int64)


def _active_mean(values: np.ndarray, weight: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean of ``values [runs, members]`` over active members (fixed summation order)."""
    return m.msum(values * weight) / count


def _view(params: Params, ctx, w: np.ndarray, count: np.ndarray, targets) -> ArrayView:
    iu, ju = _pairs(params.n_members)
    return ArrayView(ctx.values, w, count, iu, ju, targets)


def _structure(params: Params, ctx, active: np.ndarray):
    """Weights, power, lead power, dominance and targets of members ``active``."""
    n = params.n_members
    terms = params.terms
    w = active.astype(np.float64)
    count = np.maximum(m.msum(w), 1.0)
    pair_w = w[:, :, None] * w[:, None, :] * (1.0 - np.eye(n))
    is_lead = np.arange(n)[None, :] == params.lead[:, None]
    lead_member = is_lead.astype(np.float64)
    targets = {("lead", "member"): lead_member, ("lead", "pair"): lead_member[:, None, :]}
    view = _view(params, ctx, w, count, targets)
    view.state[("n_members", "run")] = (count - 2.0) / 14.0
    site = terms["exit_ease"]
    view.ease = add_terms(np.full(params.n_runs, site.intercept), site.terms, "run", view)
    p = m.power(m.size_norm(ctx.size), ctx.resources)
    rank = add_terms(np.zeros((params.n_runs, n)), terms["lead_power"].terms, "member", view)
    top = m.margmax(np.where(active, p + rank, -np.inf))
    top_member = (np.arange(n)[None, :] == top[:, None]).astype(np.float64)
    targets[("top", "member")] = top_member
    targets[("top", "pair")] = top_member[:, None, :]
    return w, count, pair_w, view, p, rank


def init(params: Params) -> State:
    """Initial state of every run (step 0 contexts, initial draws from the run's streams)."""
    ctx = params.contexts_at(0)
    b, terms = params.baseline, params.terms
    n_runs, n = params.n_runs, params.n_members
    present = params.present
    w, count, pair_w, view, p, rank = _structure(params, ctx, present)
    dom = m.dominance(p, rank)
    iu, ju = view.iu, view.ju
    view.state[("dominance", "pair")] = dom
    view.state[("dominance", "upair")] = np.maximum(dom[:, iu, ju], dom[:, ju, iu])
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    noise_t = uniform(params.keys, 0, Stream.INITIAL_TRUST, ii.ravel(), jj.ravel())
    noise_t = noise_t.reshape(n_runs, n, n)
    site = terms["initial_trust"]
    level = add_terms(np.full((n_runs, n, n), site.intercept), site.terms, "pair", view)
    initial = np.clip(level + b["trust_initial_noise"] * (2.0 * noise_t - 1.0), 0.02, 0.98)
    pair_mask = present[:, :, None] & present[:, None, :] & ~np.eye(n, dtype=bool)
    trust = np.where(pair_mask, initial, 0.0)
    noise_f = uniform(params.keys, 0, Stream.INITIAL_FAITH, np.arange(n), 0)
    site = terms["initial_faith"]
    level = add_terms(np.full((n_runs, n), site.intercept), site.terms, "member", view)
    faith = np.where(present, np.clip(level + b["faith_initial_noise"] * (2.0 * noise_f - 1.0),
                                      0.02, 0.98), 0.0)
    site = terms["initial_experience"]
    experience = np.clip(add_terms(np.full(n_runs, site.intercept), site.terms, "run", view),
                         0.0, 1.0)
    zeros = np.zeros(n_runs)
    izeros = np.zeros(n_runs, dtype=np.int64)
    return State(
        trust=trust,
        faith=faith,
        intra_conflict=np.where(present, b["intra_initial"], 0.0),
        culture=ctx.culture.copy(),
        vision=ctx.shared_vision.copy(),
        synergy=np.full(n_runs, b["synergy_initial"]),
        experience=experience,
        ambition=zeros.copy(),
        achievement=zeros.copy(),
        performance=zeros.copy(),
        exit_shock=zeros.copy(),
        success=np.zeros(n_runs, dtype=bool),
        step_conflicts=izeros.copy(),
        active=present.copy(),
        exit_step=np.full((n_runs, n), -1, dtype=np.int64),
        exit_cause=np.zeros((n_runs, n), dtype=np.int8),
        dissolved=np.zeros(n_runs, dtype=bool),
        dissolved_at=np.full(n_runs, -1, dtype=np.int64),
        cause=np.zeros(n_runs, dtype=np.int8),
        completed=np.zeros(n_runs, dtype=bool),
        achieved=np.zeros(n_runs, dtype=bool),
        ended_at=np.full(n_runs, -1, dtype=np.int64),
        synergy_recent=np.full(n_runs, b["synergy_initial"]),
        success_recent=np.full(n_runs, ends.SUCCESS_RECENT_INITIAL),
        **{name: izeros.copy() for name in COUNTERS},
        **{name: zeros.copy() for name in TRUST_ACCOUNT},
    )


#: Sites whose fixed part the cache keeps, with their shapes.
_CACHED = {
    "complexity": "run", "communication": "pair", "functioning": "run",
    "risk_tolerance": "member", "task_logit": "run", "achievement_value": "run",
    "conflict": "upair", "resolution": "run",
    "destructive_buffer": "run", "trust_change": "pair", "faith_change": "member",
    "intra_rise": "member", "intra_decay": "member", "vision_change": "run",
    "culture_pull": "run", "exit_shock": "run", "trust_floor": "run", "faith_floor": "run",
    "turnover": "member", "learning": "run", "demerger": "run", "joining": "run",
}


#: What the engine makes of a site's value (machinery), for the sites it settles once.
_SETTLE = {
    "resolution": lambda v, b: np.clip(v, 0.0, 1.0),
    "destructive_buffer": lambda v, b: b["destructive_loss"] * np.clip(v, 0.25, 1.75),
    "intra_decay": lambda v, b: np.clip(1.0 - b["intra_decay"] * np.maximum(v, 0.0), 0.0, 1.0),
    "culture_pull": lambda v, b: np.clip(v, -1.0, 1.0),
}


def _settled(fx: Fixed, name: str, shape: str, view: ArrayView, b) -> np.ndarray:
    """The settled value of site ``name``: cached, or with this month's terms added."""
    value = fx.settled.get(name)
    if value is None:
        value = _SETTLE[name](add_prepared(fx.site[name], fx.month[name], shape, view), b)
    return value


@dataclass(frozen=True, slots=True, eq=False)
class Fixed:
    """The terms of a step fixed by the contexts in force and the membership ``active``.

    Weights: ``w`` ``[runs, members]`` (1 for an active member), ``count`` active members (at
    least 1), ``pair_w`` ``[runs, members, members]`` (1 for an ordered active pair),
    ``row_count`` partners per member and ``n_pairs`` ordered pairs (each at least 1),
    ``any_pair``. ``site`` holds each site's fixed part (intercept plus the terms that read
    only contexts and membership), at the site's shape; ``month`` each site's month terms
    with their static parts (:func:`cmo_sim.core.sites.prepare`), ``needs`` the ``(state
    input, shape)`` they read, and ``view`` what they read them from. ``settled`` holds the
    final values of sites without month terms (the resolution probability, the destructive
    loss, the share of intra-organisational conflict kept, the cultural pull), computed once.
    """

    active: np.ndarray
    w: np.ndarray
    count: np.ndarray
    pair_w: np.ndarray
    pair_mask: np.ndarray
    row_count: np.ndarray
    n_pairs: np.ndarray
    any_pair: np.ndarray
    partners: np.ndarray
    complexity: np.ndarray
    iu: np.ndarray
    ju: np.ndarray
    incidence: np.ndarray
    pair_active: np.ndarray
    site: dict
    month: dict
    needs: frozenset
    settled: dict
    view: ArrayView
    dominated: np.ndarray


def fixed_terms(params: Params, ctx, active: np.ndarray) -> Fixed:
    """The :class:`Fixed` terms of contexts ``ctx`` with members ``active`` ``[runs, members]``."""
    b, terms = params.baseline, params.terms
    n_runs, n = params.n_runs, params.n_members
    w, count, pair_w, view, p, rank = _structure(params, ctx, active)
    row_count = np.maximum(m.msum(pair_w), 1.0)
    dom = m.dominance(p, rank) * pair_w
    iu, ju = view.iu, view.ju
    view.state[("dominance", "pair")] = dom
    view.state[("dominance", "upair")] = np.maximum(dom[:, iu, ju], dom[:, ju, iu])
    full = {"run": (n_runs,), "member": (n_runs, n), "pair": (n_runs, n, n),
            "upair": (n_runs, iu.size)}
    # Task complexity first: other sites' terms may read it.
    complexity = add_terms(np.full(n_runs, terms["complexity"].intercept),
                           terms["complexity"].fixed, "run", view)
    k = np.clip(complexity, 0.0, 1.0)
    view.state[("complexity", "run")] = k
    site = {
        name: add_terms(np.full(full[shape], terms[name].intercept), terms[name].fixed, shape,
                        view)
        for name, shape in _CACHED.items() if name != "complexity"
    }
    site["complexity"] = complexity
    month = {name: prepare(terms[name].month, shape, view) for name, shape in _CACHED.items()}
    needs = {(p.term.input, _CACHED[name]) for name, terms_ in month.items() for p in terms_}
    needs |= {(c[0], _CACHED[name]) for name, terms_ in month.items() for p in terms_
              for c in p.dynamic}
    incidence = np.zeros((iu.size, n))
    incidence[np.arange(iu.size), iu] = 1.0
    incidence[np.arange(iu.size), ju] = 1.0
    return Fixed(
        active=active,
        w=w,
        count=count,
        pair_w=pair_w,
        pair_mask=pair_w > 0,
        row_count=row_count,
        n_pairs=np.maximum(m.msum(row_count * w), 1.0),
        any_pair=m.msum(m.msum(pair_w)) > 0,
        partners=np.maximum(count - 1.0, 1.0)[:, None],
        complexity=k,
        iu=iu,
        ju=ju,
        incidence=incidence,
        pair_active=active[:, iu] & active[:, ju],
        site=site,
        month=month,
        needs=frozenset(needs),
        settled={name: _SETTLE[name](site[name], b) for name in _SETTLE if not month[name]},
        view=view,
        dominated=m.many(m.many(dom > b["domination_threshold"])),
    )


#: A per-run update is made when at most this share of the batch needs new terms.
PER_RUN_BELOW = 0.9

#: Fixed's fields that do not depend on the run: the same for any subset of runs.
_SHARED = ("iu", "ju", "incidence")


def _rows_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[runs]`` bool: where the rows of ``a`` and ``b`` differ in any bit."""
    if a.dtype == np.float64 and b.dtype == np.float64:
        a, b = a.view(np.uint64), b.view(np.uint64)
    differ = a != b
    while differ.ndim > 1:
        differ = m.many(differ)
    return differ


def _context_rows(old, ctx) -> np.ndarray | None:
    """Runs whose contexts differ between ``old`` and ``ctx`` (None: not comparable)."""
    if old.values.keys() != ctx.values.keys():
        return None
    changed = None
    for name, value in ctx.values.items():
        before = old.values[name]
        if before is value:
            continue
        if before.shape != value.shape:
            return None
        differ = _rows_differ(before, value)
        changed = differ if changed is None else changed | differ
    return changed


class _Writes:
    """The row writes of a per-run update, checked before any is made."""

    __slots__ = ("n_runs", "rows", "pairs", "zeros")

    def __init__(self, n_runs: int, rows: np.ndarray) -> None:
        self.n_runs, self.rows = n_runs, rows
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self.zeros: list[tuple[object, str]] = []

    def add(self, dst, src) -> bool:
        """Plan ``dst[rows] = src``; False when that would not reproduce a full recompute."""
        if not isinstance(dst, np.ndarray) or dst.ndim == 0:
            # A value shared by every run: the subset must have the very same.
            return (not isinstance(src, np.ndarray) or src.ndim == 0) and bool(
                np.array_equal(dst, src))
        if (
            not isinstance(src, np.ndarray)
            or src.ndim != dst.ndim
            or dst.shape[0] != self.n_runs
            or src.shape[0] != self.rows.size
            or src.shape[1:] != dst.shape[1:]
            or src.dtype != dst.dtype
            or not dst.flags.writeable
        ):
            return False
        self.pairs.append((dst, src))
        return True

    def apply(self) -> None:
        rows = self.rows
        for dst, src in self.pairs:
            dst[rows] = src
        # Terms zero in the updated runs: a fresh array (the old one may be shared), zeroed.
        for prepared, attr in self.zeros:
            value = getattr(prepared, attr).copy()
            value[rows] = 0.0
            setattr(prepared, attr, value)


def _plan_month(writes: _Writes, mine: list, theirs: list) -> bool:
    """Plan the update of one site's prepared month terms from the subset's (``theirs``).

    The subset may leave out terms that are zero in all its runs (those runs' parts are set to
    zero, which adds exact zeros as leaving the term out would); a term the subset has and the
    batch left out needs a full recompute (False).
    """
    j = 0
    for p in mine:
        q = theirs[j] if j < len(theirs) else None
        if q is not None and q.term is p.term:
            j += 1
            if (p.static is None) != (q.static is None) or (p.mask is None) != (q.mask is None):
                return False
            if p.dynamic != q.dynamic:
                return False
            if p.static is not None and not writes.add(p.static, q.static):
                return False
            if p.mask is not None and not writes.add(p.mask, q.mask):
                return False
            continue
        # Left out of the subset: zero in its runs.
        attr = "static" if p.static is not None else "mask"
        value = getattr(p, attr)
        if value is None or not isinstance(value, np.ndarray) or value.ndim == 0 \
                or value.shape[0] != writes.n_runs:
            return False
        writes.zeros.append((p, attr))
    return j == len(theirs)


def _update_rows(fx: Fixed, params: Params, ctx, active: np.ndarray,
                 rows: np.ndarray) -> Fixed | None:
    """``fx`` with the terms of runs ``rows`` recomputed for ``ctx`` and ``active``.

    The terms of the other runs are left as they are. Returns None (nothing written) when the
    rows' terms cannot be written into ``fx`` as a full recompute would have them.
    """
    sub_ctx = type(ctx)(MappingProxyType({k: v[rows] for k, v in ctx.values.items()}))
    sub = fixed_terms(params.take(rows), sub_ctx, active[rows])
    writes = _Writes(params.n_runs, rows)
    for f in fields(fx):
        name = f.name
        mine, theirs = getattr(fx, name), getattr(sub, name)
        if name in _SHARED:
            if not np.array_equal(mine, theirs):
                return None
        elif name == "needs":
            if not theirs <= mine:
                return None
        elif name in ("site", "settled"):
            if (name == "site" and mine.keys() != theirs.keys()) or not all(
                    k in theirs and writes.add(v, theirs[k]) for k, v in mine.items()):
                return None
        elif name == "month":
            if mine.keys() != theirs.keys() or not all(
                    _plan_month(writes, v, theirs[k]) for k, v in mine.items()):
                return None
        elif name == "view":
            if theirs.ease is None or mine.ease is None or not (
                writes.add(mine.w, theirs.w)
                and writes.add(mine.count, theirs.count)
                and writes.add(mine.ease, theirs.ease)
                and mine.targets.keys() == theirs.targets.keys()
                and all(writes.add(v, theirs.targets[k]) for k, v in mine.targets.items())
                and all(k in mine.state and writes.add(mine.state[k], v)
                        for k, v in theirs.state.items())
            ):
                return None
        elif name != "active" and not writes.add(mine, theirs):
            return None
    writes.apply()
    fx.view.ctx = ctx.values
    new_active = fx.active.copy()
    new_active[rows] = active[rows]
    return dataclasses.replace(fx, active=new_active)


class StepCache:
    """Keeps a batch's :class:`Fixed` terms from one :func:`step` to the next.

    The terms are reused while the same ``params`` are in force; when a partnership still going
    gains or loses a member, or its contexts change (a timeline event), only that run's terms
    are recomputed and written into the kept ones (every other run's numbers are left as they
    are, so the results are those of a full recompute, bit for bit). New ``params``, a change in
    more than :data:`PER_RUN_BELOW` of the batch, or terms that a subset cannot update (a month
    term zero in the whole batch but not in the changed runs) recompute the whole batch. Use one
    cache per batch (the runner makes one per run); it holds the last terms until it is dropped.

    ``per_run=False`` recomputes the whole batch whenever any run still going changes, or the
    contexts object does (the measure the per-run update is compared with). ``counts`` holds
    the number of ``full`` and ``per_run`` recomputes and the ``rows`` recomputed in all.
    """

    __slots__ = ("_key", "_fixed", "per_run", "counts")

    def __init__(self, per_run: bool = True) -> None:
        self._key: tuple = ()
        self._fixed: Fixed | None = None
        self.per_run = per_run
        self.counts = {"full": 0, "per_run": 0, "rows": 0}

    def _full(self, params: Params, ctx, active: np.ndarray) -> Fixed:
        fixed = fixed_terms(params, ctx, active)
        self._key, self._fixed = (params, ctx), fixed
        self.counts["full"] += 1
        self.counts["rows"] += params.n_runs
        return fixed

    def narrow(self, keep: np.ndarray, params: Params) -> None:
        """Keep the terms of runs ``keep`` (a bool mask of the batch) for their ``params``.

        The runner drops ended runs so. Each kept run's terms are its own, so the subset's are
        the rows of the batch's: nothing is recomputed. (A term zero in every kept run stays,
        adding exact zeros.) With
        ``per_run=False`` the terms are dropped instead, to be recomputed in full.
        """
        fixed = self._fixed
        if fixed is None or not self.per_run or keep.shape != (fixed.active.shape[0],):
            self._key, self._fixed = (), None
            return
        n_runs = keep.shape[0]

        def rows(value):
            if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n_runs:
                return value[keep]
            return value

        month = {}
        for name, prepared in fixed.month.items():
            month[name] = [Prepared(p.term, rows(p.static), rows(p.mask), p.dynamic)
                           for p in prepared]
        old = fixed.view
        ctx = type(self._key[1])(MappingProxyType(
            {k: rows(v) for k, v in self._key[1].values.items()}))
        view = ArrayView(ctx.values, rows(old.w), rows(old.count), old.iu, old.ju,
                         {k: rows(v) for k, v in old.targets.items()})
        view.ease = rows(old.ease)
        view.state = {k: rows(v) for k, v in old.state.items()}
        changes = {f.name: rows(getattr(fixed, f.name)) for f in fields(fixed)
                   if f.name not in _SHARED + ("site", "month", "settled", "view", "needs")}
        self._fixed = dataclasses.replace(
            fixed, **changes, site={k: rows(v) for k, v in fixed.site.items()},
            settled={k: rows(v) for k, v in fixed.settled.items()}, month=month, view=view)
        self._key = (params, ctx)

    def get(self, params: Params, ctx, active: np.ndarray, alive: np.ndarray) -> Fixed:
        """The terms for ``params``, contexts ``ctx`` and members ``active``.

        Only the runs still going (``alive``) whose members differ from those of the kept
        terms, and the runs whose contexts differ from the kept terms' contexts, are recomputed.
        """
        fixed = self._fixed
        if fixed is None or self._key[0] is not params or fixed.active.shape != active.shape:
            return self._full(params, ctx, active)
        joined_or_left = m.many(fixed.active != active) & alive
        if not self.per_run:
            if self._key[1] is not ctx or bool(joined_or_left.any()):
                return self._full(params, ctx, active)
            return fixed
        changed = joined_or_left
        if self._key[1] is not ctx:
            # Every run whose contexts changed, going or not, so that each run's kept terms
            # are always those of the kept contexts and of its kept members.
            moved = _context_rows(self._key[1], ctx)
            if moved is None:
                return self._full(params, ctx, active)
            changed = changed | moved
        rows = np.flatnonzero(changed)
        if rows.size > PER_RUN_BELOW * params.n_runs:
            return self._full(params, ctx, active)
        if rows.size:
            updated = _update_rows(fixed, params, ctx, active, rows)
            if updated is None:
                return self._full(params, ctx, active)
            fixed = updated
            self.counts["per_run"] += 1
            self.counts["rows"] += rows.size
        elif self._key[1] is not ctx:
            fixed.view.ctx = ctx.values
        self._key, self._fixed = (params, ctx), fixed
        return fixed


def _trust_account(change, total, resolution, task_part, delta, fx: Fixed,
                   task_per_run: bool) -> dict:
    """This month's trust account, per run.

    Each pair's change is split between conflict resolution, the task's outcome and the rest,
    in proportion to their deltas; losses and gains are averaged over the ordered pairs in
    place (both engines compute it in this order).
    """
    # The scale is never negative (a change has the sign of its delta), so a part's share has
    # its sign; it is 0 where nothing changed, which includes every pair not in place.
    scale = np.divide(change, total, out=np.zeros_like(change), where=total != 0.0)
    pairs = np.where(fx.any_pair, fx.n_pairs, np.inf)  # no pair in place: 0 lost, 0 gained

    def split(part, scale, pairs):
        share = part * scale
        gained = m.msum(m.msum(np.maximum(share, 0.0))) / pairs
        return m.msum(m.msum(share)) / pairs - gained, gained

    out = {}
    out["trust_lost_other"], out["trust_gained_other"] = split(delta - task_part, scale, pairs)
    if task_per_run:
        # One value per run: its share is the part times the mean scale over the pairs.
        part = np.broadcast_to(task_part, change.shape)[:, 0, 0]
        mean_scale = m.msum(m.msum(scale)) / pairs
        out["trust_lost_task"] = np.minimum(part, 0.0) * mean_scale
        out["trust_gained_task"] = np.maximum(part, 0.0) * mean_scale
    else:
        out["trust_lost_task"], out["trust_gained_task"] = split(task_part, scale, pairs)
    # Conflict resolutions happen in few runs a month: the others add exact zeros.
    lost, gained = np.zeros(change.shape[0]), np.zeros(change.shape[0])
    rows = np.flatnonzero(m.many(m.many(resolution != 0.0)))
    if rows.size:
        lost[rows], gained[rows] = split(resolution[rows], scale[rows], pairs[rows])
    out["trust_lost_conflict"], out["trust_gained_conflict"] = lost, gained
    return out


def _restore(new: dict[str, np.ndarray], state: State, rows: np.ndarray) -> None:
    """Put back ``rows`` of ``state`` into the ``new`` arrays (which the step owns)."""
    for f in fields(state):
        old = getattr(state, f.name)
        array = new[f.name]
        if array is not old:
            array[rows] = old[rows]


def timeline_state(state: State, params: Params, ctx, t: int):
    """``(vision, culture)`` as month ``t`` finds them.

    Timeline changes of these state-held contexts reset that state where, and only where, the
    scheduled value changes at ``t``.
    """
    vision, culture = state.vision, state.culture
    if "shared_vision" in params.schedules or "culture" in params.schedules:
        before = params.contexts_at(t - 1) if t > 0 else params.contexts
        if "shared_vision" in params.schedules:
            moved = ctx.shared_vision != before.shared_vision
            vision = np.where(moved, ctx.shared_vision, vision)
        if "culture" in params.schedules:
            moved = ctx.culture != before.culture
            culture = np.where(moved, ctx.culture, culture)
    return vision, culture


def join_places(params: Params, ctx, t: int, alive: np.ndarray, joining_site: np.ndarray,
                out: dict) -> None:
    """Networks recruit into the places left in earlier months.

    Each open place is taken with the chance of the joining site, by a like organisation that
    starts as the place started.

    ``out`` holds the month's ``trust``, ``faith``, ``intra_conflict``, ``culture``,
    ``active``, ``exit_step``, ``exit_cause``, ``dissolved`` and ``joins``; the arrays a join
    changes are replaced by changed copies (the others are left as they are).
    """
    exit_step = out["exit_step"]
    open_place = params.present & ~out["active"] & (exit_step >= 0) & (exit_step < t)
    join_rows = np.flatnonzero((params.form == _NETWORK) & alive & ~out["dissolved"]
                               & m.many(open_place))
    if not join_rows.size:
        return
    hazard = m.sigmoid(joining_site[join_rows])
    draw = uniform(params.keys[join_rows], t, Stream.JOIN, np.arange(params.n_members), 0)
    joining = open_place[join_rows] & (draw < hazard[:, None])
    rows = join_rows[m.many(joining)]
    if not rows.size:
        return
    joining = joining[m.many(joining)]
    start = init(params.take(rows))
    trust = out["trust"].copy()
    trust[rows] = np.where(joining[:, :, None] | joining[:, None, :], start.trust, trust[rows])
    out["trust"] = trust
    for name, value in (("faith", start.faith), ("intra_conflict", start.intra_conflict),
                        ("culture", ctx.culture[rows]), ("exit_step", -1), ("exit_cause", 0)):
        array = out[name].copy()
        array[rows] = np.where(joining, value, array[rows])
        out[name] = array
    active = out["active"].copy()
    active[rows] |= joining
    out["active"] = active
    joins = out["joins"].copy()
    joins[rows] += m.msum(joining.astype(np.int64))
    out["joins"] = joins


def step(state: State, params: Params, t: int, cache: StepCache | None = None) -> State:
    """Advance every run by one month; dissolved runs are left exactly as they were.

    ``cache`` (optional) keeps the terms fixed by the contexts and membership between calls;
    the result is the same with or without it.
    """
    ctx = params.contexts_at(t)
    b, terms = params.baseline, params.terms
    alive = ~state.ended
    active = state.active & alive[:, None]
    fx = (cache if cache is not None else StepCache()).get(params, ctx, active, alive)
    w, pair_w, count = fx.w, fx.pair_w, fx.count
    site, view = fx.site, fx.view
    trust = state.trust
    iu, ju = fx.iu, fx.ju

    # Timeline changes of state-held contexts (shared vision, members' cultures) reset that
    # state where, and only where, the scheduled value changes at this step.
    vision, culture = timeline_state(state, params, ctx, t)

    # What the members see of each other: trust and communication (site communication).
    trust_rows = m.msum(trust * pair_w)
    trust_given = trust_rows / fx.row_count  # [runs, members]
    mean_trust = np.where(fx.any_pair, m.msum(trust_rows) / fx.n_pairs, 0.0)
    trust_ij, trust_ji = trust[:, iu, ju], trust[:, ju, iu]
    state_in = view.state
    state_in[("trust", "pair")] = trust
    state_in[("trust", "upair")] = 0.5 * (trust_ij + trust_ji)
    state_in[("trust", "member")] = trust_given
    state_in[("trust", "run")] = mean_trust
    state_in[("shared_vision", "run")] = vision
    distance = np.abs(culture[:, iu] - culture[:, ju])
    state_in[("cultural_distance", "upair")] = distance
    if ("cultural_distance", "pair") in fx.needs:
        state_in[("cultural_distance", "pair")] = np.abs(culture[:, :, None]
                                                         - culture[:, None, :])
    state_in[("faith", "member")] = state.faith
    state_in[("faith", "run")] = _active_mean(state.faith, w, count)
    intra_mean = _active_mean(state.intra_conflict, w, count)
    state_in[("intra_conflict", "member")] = state.intra_conflict
    state_in[("intra_conflict", "run")] = intra_mean
    comm = np.clip(add_prepared(site["communication"], fx.month["communication"], "pair", view),
                   0.0, 1.0) * pair_w
    mean_comm = np.where(fx.any_pair, m.msum(m.msum(comm)) / fx.n_pairs, 0.0)
    pair_comm = 0.5 * (comm[:, iu, ju] + comm[:, ju, iu])
    state_in[("communication", "pair")] = comm
    state_in[("communication", "upair")] = pair_comm
    state_in[("communication", "run")] = mean_comm

    # Turnover of members' senior leaders or partnership leads (site turnover).
    hazard = m.sigmoid(add_prepared(site["turnover"], fx.month["turnover"], "member", view))
    turned = (uniform(params.keys, t, Stream.TURNOVER, np.arange(params.n_members), 0)
              < hazard) & active
    turned_f = turned.astype(np.float64)
    state_in[("turnover", "member")] = turned_f
    state_in[("turnover", "run")] = _active_mean(turned_f, w, count)
    state_in[("experience", "run")] = state.experience

    # Functioning and synergy, then this month's learning to work together.
    f = add_prepared(site["functioning"], fx.month["functioning"], "run", view)
    synergy = state.synergy + b["synergy_rate"] * (m.synergy_target(f, b) - state.synergy)
    state_in[("synergy", "run")] = synergy
    state_in[("inertia", "run")] = 1.0 - synergy
    learning = add_prepared(site["learning"], fx.month["learning"], "run", view)
    experience = m.nudge(state.experience, learning)

    # Ambition and the task attempt.
    tolerance = add_prepared(site["risk_tolerance"], fx.month["risk_tolerance"], "member", view)
    aim = m.ambition(tolerance, active, ctx.ambition_bias, b)
    state_in[("ambition", "run")] = aim
    logit = add_prepared(site["task_logit"], fx.month["task_logit"], "run", view)
    success = (uniform(params.keys, t, Stream.TASK) < m.sigmoid(logit)) & alive
    failure = ~success & alive
    succ_f, fail_f = success.astype(np.float64), failure.astype(np.float64)
    state_in[("task_success", "run")] = succ_f
    state_in[("task_failure", "run")] = fail_f
    achievement = aim * succ_f
    value = np.clip(add_prepared(site["achievement_value"], fx.month["achievement_value"], "run",
                                 view), 0.0, 1.0)
    performance = state.performance + achievement * value

    # Conflict between pairs and its resolution.
    hazard = m.sigmoid(
        add_prepared(site["conflict"], fx.month["conflict"], "upair", view)
        + state.exit_shock[:, None]
    )
    conflict = (uniform(params.keys, t, Stream.CONFLICT, iu, ju) < hazard) & fx.pair_active
    q = _settled(fx, "resolution", "run", view, b)
    constructive_pair = conflict & (uniform(params.keys, t, Stream.RESOLUTION, iu, ju) < q[:, None])
    destructive_pair = conflict & ~constructive_pair
    # A destructive resolution's trust change is buffered by the trust in place.
    gained = b["constructive_gain"] * constructive_pair
    lost = _settled(fx, "destructive_buffer", "run", view, b)[:, None] * destructive_pair
    resolution = np.zeros_like(trust)
    resolution[:, iu, ju] = gained - lost * m.distrust_odds(trust_ij)
    resolution[:, ju, iu] = gained - lost * m.distrust_odds(trust_ji)

    # Trust: the site's terms plus this month's resolutions.
    delta, task_part = add_prepared(site["trust_change"], fx.month["trust_change"], "pair", view,
                                    account="task")
    total = delta + resolution
    new_trust = np.where(fx.pair_mask, m.nudge(trust, total), trust)
    account = _trust_account(new_trust - trust, total, resolution, task_part, delta, fx,
                             terms["trust_change"].run_level("task"))

    # Faith, intra-organisational conflict, shared vision and culture.
    # Faith is about the collaboration as a whole: destructive conflicts count per partner.
    state_in[("destructive_resolution", "member")] = (
        destructive_pair.astype(np.float64) @ fx.incidence) / fx.partners
    change = add_prepared(site["faith_change"], fx.month["faith_change"], "member", view)
    new_faith = np.where(active, m.nudge(state.faith, change), state.faith)
    rise = b["intra_rate"] * add_prepared(site["intra_rise"], fx.month["intra_rise"], "member",
                                       view)
    keep = _settled(fx, "intra_decay", "member", view, b)
    new_intra = np.where(active, m.nudge(state.intra_conflict, rise) * keep,
                         state.intra_conflict)
    move = add_prepared(site["vision_change"], fx.month["vision_change"], "run", view)
    new_vision = m.nudge(vision, move) if move.any() else vision.copy()
    pull = _settled(fx, "culture_pull", "run", view, b)
    if pull.any():
        new_culture = m.culture_drift(culture, active, w, count, pull)
    else:
        new_culture = culture.copy()

    # Exits and dissolution: a member below either floor leaves when the partnership's form
    # lets it (any month, only at a contract point, or never: a merger, a fixed term); leaving
    # shocks conflict.
    new_given = m.msum(new_trust * pair_w) / fx.row_count
    below_trust, below_faith = m.exits(new_given, new_faith, active,
                                       site["trust_floor"][:, None],
                                       site["faith_floor"][:, None])
    period = params.exit_period
    may_leave = ((period > 0) & ((t + 1) % np.maximum(period, 1) == 0))[:, None]
    by_trust, by_faith = below_trust & may_leave, below_faith & may_leave
    leaving = by_trust | by_faith
    still = active & ~leaving
    exit_shock = state.exit_shock * b["exit_shock_decay"]
    exit_step, exit_cause = state.exit_step.copy(), state.exit_cause.copy()
    dissolved, dissolved_at = state.dissolved.copy(), state.dissolved_at.copy()
    cause, exits = state.cause.copy(), state.exits.copy()
    ended_at = state.ended_at.copy()
    moved = np.flatnonzero(m.many(leaving))  # runs a member left this month (few)
    if moved.size:
        gone, gone_trust = leaving[moved], by_trust[moved]
        exit_shock[moved] += m.msum(gone.astype(np.float64)) * site["exit_shock"][moved]
        exit_step[moved] = np.where(gone, t, exit_step[moved])
        exit_cause[moved] = np.where(gone, np.where(gone_trust, CAUSE_TRUST, CAUSE_FAITH),
                                     exit_cause[moved])
        exits[moved] += m.msum(gone.astype(np.int64))
        # With fewer than two members left the partnership dissolves.
        out = moved[m.msum(still[moved].astype(np.float64)) < 2]
        dissolved[out] = True
        dissolved_at[out] = t
        ended_at[out] = t
        cause[out] = np.where(m.many(by_trust[out]), CAUSE_TRUST, CAUSE_FAITH)
    # A merger is a legal entity: it ends only by a de-merger, a rare event while a member
    # is below a floor (site demerger).
    below = below_trust | below_faith
    split_rows = np.flatnonzero((params.form == _MERGER) & alive & m.many(below))
    if split_rows.size:
        hazard = m.sigmoid(site["demerger"][split_rows])
        split = uniform(params.keys[split_rows], t, Stream.DEMERGER) < hazard
        out = split_rows[split]
        dissolved[out] = True
        dissolved_at[out] = t
        ended_at[out] = t
        cause[out] = np.where(m.many(below_trust[out]), CAUSE_TRUST, CAUSE_FAITH)
    # Networks recruit: a place left in an earlier month is taken by a like organisation
    # (site joining), which starts with the trust and faith the place started with.
    out = {"trust": new_trust, "faith": new_faith, "intra_conflict": new_intra,
           "culture": new_culture, "active": still, "exit_step": exit_step,
           "exit_cause": exit_cause, "dissolved": dissolved, "joins": state.joins}
    join_places(params, ctx, t, alive, site["joining"], out)
    # Where the month leaves each run: the year's record of synergy and tasks, and the end
    # of a fixed term (with its result).
    synergy_recent, success_recent = ends.track(state.synergy_recent, state.success_recent,
                                                synergy, success)
    completed, achieved = state.completed.copy(), state.achieved.copy()
    due = (params.term == t) & alive & ~dissolved
    if due.any():
        completed[due] = True
        achieved[due] = ends.achieved(success_recent[due])
        ended_at[due] = t
    if conflict.shape[1]:
        step_conflicts = m.msum(conflict.astype(np.int64))
        constructive = state.constructive + m.msum(constructive_pair.astype(np.int64))
        destructive = state.destructive + m.msum(destructive_pair.astype(np.int64))
    else:
        step_conflicts = np.zeros_like(state.conflicts)
        constructive, destructive = state.constructive + 0, state.destructive + 0

    new = {
        "trust": out["trust"],
        "faith": out["faith"],
        "intra_conflict": out["intra_conflict"],
        "culture": out["culture"],
        "vision": new_vision,
        "synergy": synergy,
        "experience": experience,
        "ambition": aim,
        "achievement": achievement,
        "performance": performance,
        "exit_shock": exit_shock,
        "success": success,
        "step_conflicts": step_conflicts,
        "active": out["active"],
        "exit_step": out["exit_step"],
        "exit_cause": out["exit_cause"],
        "dissolved": dissolved,
        "dissolved_at": dissolved_at,
        "cause": cause,
        "completed": completed,
        "achieved": achieved,
        "ended_at": ended_at,
        "synergy_recent": synergy_recent,
        "success_recent": success_recent,
        "conflicts": state.conflicts + step_conflicts,
        "constructive": constructive,
        "destructive": destructive,
        "successes": state.successes + success,
        "failures": state.failures + failure,
        "dominations": state.dominations + (fx.dominated & alive),
        "exits": exits,
        "turnovers": state.turnovers + m.msum(turned.astype(np.int64)),
        "joins": out["joins"],
        **{name: getattr(state, name) + value for name, value in account.items()},
    }
    dead = np.flatnonzero(state.ended)
    if dead.size:
        # A dissolved partnership stays as it was; its month reads as no task, no conflict.
        _restore(new, state, dead)
        for name, zero in (("achievement", 0.0), ("success", False), ("step_conflicts", 0)):
            new[name][dead] = zero
    return State(**new)
