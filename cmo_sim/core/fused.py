"""``engine="fused"``: the month of any theory compiled into one loop per run.

The numpy step (:mod:`cmo_sim.core.step`) makes one pass over the whole batch per operation;
this engine makes one pass over the runs and does the whole month of each run in registers and
small scratch arrays. Its kernel is **generated from the theory's compiled terms**
(:func:`cmo_sim.core.terms.compile_terms`): every month term of every site becomes a line of
Python with its coefficient, form, centre, modulator and conditions written in, compiled by
numba. A user's own theory is fused as the review's is.

What the contexts and the membership fix is not recompiled: the numpy engine's
:class:`~cmo_sim.core.step.StepCache` computes it (the sites' fixed parts and each month term's
static part) and the kernel reads it. The random numbers are the same counter-based draws
(:mod:`cmo_sim.rng`), the same formulas are evaluated in the same order, so discrete events are
those of the numpy engine and float results differ only where numpy's vectorised ``exp`` and
the C library's differ in the last bit (the engine contract's tests and the differential test
check both). Joining a network (a rare event) is done by the numpy code after the kernel.

The generated module is written to a cache folder named by the SHA-256 of its source (which
holds every coefficient, so it is the theory's content and this engine's version together) and
compiled with numba's on-disk cache: a theory is compiled once per machine, then loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmo_sim import rng
from cmo_sim.core.state import CAUSE_FAITH, CAUSE_TRUST, State
from cmo_sim.core.step import _CACHED, StepCache, join_places, timeline_state
from cmo_sim.core.terms import (
    CONSTANT,
    LINEAR,
    LOWER,
    MODULATORS,
    SATURATING,
    STATE_INPUTS,
    THRESHOLD,
    UPPER,
    SiteTerms,
    Term,
)
from cmo_sim.params import Params
from cmo_sim.rng import Stream, _counter
from cmo_sim.scenario import FORMS

__all__ = ["RECORD_ARGS", "STATE_ARGS", "FusedUnavailableError", "advance", "available",
           "cache_dir", "fixed_membership", "kernel_for", "kernel_source", "require",
           "run_spans", "step"]

#: Bumped when the generated code's template changes (part of the source, so of its hash).
TEMPLATE_VERSION = 1


class FusedUnavailableError(ValueError):
    """The fused engine cannot run here (numba is missing)."""


def available() -> bool:
    """Whether numba can be imported (the fused engine's compiler)."""
    return importlib.util.find_spec("numba") is not None


def require() -> None:
    """Raise :class:`FusedUnavailableError`, in one line, if the fused engine cannot run."""
    if not available():
        raise FusedUnavailableError(
            "engine: 'fused' needs numba, which is not installed (pip install 'cmo-sim[fast]'); "
            "engine='batch' gives the same results without it")


# -- the sites the kernel evaluates ----------------------------------------------------------------
#: Sites whose month terms the kernel adds, with the index expression of an element.
_KERNEL_SITES = ("communication", "turnover", "functioning", "learning", "risk_tolerance",
                 "task_logit", "achievement_value", "conflict", "resolution",
                 "destructive_buffer", "trust_change", "faith_change", "intra_rise",
                 "intra_decay", "vision_change", "culture_pull")
#: Sites whose fixed part alone the engine reads (as the numpy step does).
_FIXED_ONLY = ("exit_shock", "trust_floor", "faith_floor", "demerger")
_INDEX = {"run": "r", "member": "r, i", "pair": "r, i, j", "upair": "r, p"}

#: Where each state input is found in the kernel, by the shape it is read at.
_INPUTS = {
    ("trust", "pair"): "TR[r, i, j]",
    ("trust", "upair"): "tr_u[p]",
    ("trust", "member"): "tr_m[i]",
    ("trust", "run"): "tr_run",
    ("shared_vision", "run"): "vis",
    ("cultural_distance", "upair"): "abs(CUL[r, iu[p]] - CUL[r, ju[p]])",
    ("cultural_distance", "pair"): "abs(CUL[r, i] - CUL[r, j])",
    ("faith", "member"): "FA[r, i]",
    ("faith", "run"): "fa_run",
    ("intra_conflict", "member"): "IC[r, i]",
    ("intra_conflict", "run"): "ic_run",
    ("communication", "pair"): "cm[i, j]",
    ("communication", "upair"): "cm_u[p]",
    ("communication", "run"): "cm_run",
    ("turnover", "member"): "tu[i]",
    ("turnover", "run"): "tu_run",
    ("experience", "run"): "EXP[r]",
    ("synergy", "run"): "syn",
    ("inertia", "run"): "ine",
    ("ambition", "run"): "aim",
    ("task_success", "run"): "succ_f",
    ("task_failure", "run"): "fail_f",
    ("destructive_resolution", "member"): "dr[i]",
}


def _input(name: str, shape: str) -> str:
    expr = _INPUTS.get((name, shape))
    if expr is None:
        expr = _INPUTS.get((name, "run"))
    if expr is None:
        raise ValueError(f"the fused engine cannot read state input {name!r} at a {shape} site")
    return expr


def _modulator(name: str, shape: str) -> str:
    needs = MODULATORS[name].needs
    if needs is None:
        return "max(EASE[r], 0.0)"
    if name == "mistrust":
        return "max(0.5 - tr_run, 0.0)"
    source = _input(needs, shape)
    if name == "distrust_odds":
        return f"odds({source})"
    if name == "ambition_capped":
        return f"min(2.0 * {source}, 1.0)"
    return source  # ambition, communication


class _Constants:
    """The numbers of a kernel: coefficients, centres, limits and baseline constants.

    They are read from an array ``K`` at run time, so theories that differ only in numbers
    share one kernel.
    """

    def __init__(self) -> None:
        self.values: list[float] = []

    def __call__(self, value: float) -> str:
        self.values.append(float(value))
        return f"K[{len(self.values) - 1}]"


def _form(term: Term, x: str, k: _Constants) -> str:
    # x - 0.0 is x, so the centre is always subtracted (the numpy engine skips it at 0).
    centre = k(term.centre)
    d = f"({x} - {centre})"
    if term.form == LINEAR:
        return d
    if term.form == UPPER:
        return f"max({d}, 0.0)"
    if term.form == LOWER:
        return f"min({d}, 0.0)"
    if term.form == THRESHOLD:
        return f"(1.0 if {x} > {centre} else 0.0)"
    if term.form == SATURATING:
        return f"({d} / ({k(term.half)} + abs({d})))"
    if term.form == CONSTANT:
        return "1.0"
    raise ValueError(f"unknown form code {term.form}")


def _is_static(term: Term) -> bool:
    """The numpy engine computes ``coef * form(input)`` once (a context or a fixed input)."""
    return term.level != "state" or STATE_INPUTS[term.input].fixed


def _static_conditions(term: Term) -> list:
    return [c for c in term.conditions if not (c[1] == "state" and not STATE_INPUTS[c[0]].fixed)]


def _dynamic_conditions(term: Term) -> list:
    return [c for c in term.conditions if c[1] == "state" and not STATE_INPUTS[c[0]].fixed]


def _run_valued(name: str, level: str, shape: str) -> bool:
    if level in ("partnership", "constant"):
        return True
    if level == "member":
        return False
    return shape not in STATE_INPUTS[name].shapes


def _static_kind(term: Term, shape: str) -> str | None:
    """The layout of the term's static array: ``"run"`` ([runs]), ``"full"`` or None (none)."""
    static = _is_static(term)
    conditions = _static_conditions(term)
    if not static and not conditions and term.target == "all":
        return None
    if shape == "run":
        return "run"
    if term.target != "all":
        return "full"
    if static and not _run_valued(term.input, term.level, shape):
        return "full"
    if any(not _run_valued(c[0], c[1], shape) for c in conditions):
        return "full"
    return "run"


@dataclass(frozen=True)
class _Slot:
    """A month term's static array argument: its name, site, layout and term."""

    arg: str
    site: str
    index: int
    shape: str
    kind: str


def _site_lines(name: str, table: SiteTerms, out: str, slots: list[_Slot], k: _Constants,
                account: str | None = None) -> list[str]:
    """Lines computing site ``name`` at one element into ``out`` (and its account part)."""
    shape = table.site.shape
    idx = _INDEX[shape]
    lines = [f"{out} = F_{name}[{idx}]"]
    if account is not None:
        lines.append(f"{out}_part = 0.0")
    pending, group = False, -1
    for index, term in enumerate(table.month):
        kind = _static_kind(term, shape)
        arg = f"S_{name}_{index}"
        if kind is not None:
            slots.append(_Slot(arg, name, index, shape, kind))
        at = "[r]" if kind == "run" else f"[{idx}]"
        if _is_static(term):
            value = f"{arg}{at}"
        else:
            value = f"{k(term.coef)} * {_form(term, _input(term.input, shape), k)}"
            if kind is not None:
                value = f"({value}) * {arg}{at}"
        if term.modulator is not None:
            value = f"({value}) * {_modulator(term.modulator, shape)}"
        for cname, _level, _reduce, op, limit in _dynamic_conditions(term):
            value = f"({value}) * (1.0 if {_input(cname, shape)} {op} {k(limit)} else 0.0)"
        lines.append(f"v = {value}")
        if account is not None and term.account == account:
            lines.append(f"{out}_part = {out}_part + v")
        if pending and term.group != group:
            lines.append(f"{out} = {out} + pend")
            pending = False
        if term.group >= 0:
            lines.append("pend = v" if not pending else "pend = pend + v")
            pending, group = True, term.group
        else:
            lines.append(f"{out} = {out} + v")
    if pending:
        lines.append(f"{out} = {out} + pend")
    return lines


# -- the generated module --------------------------------------------------------------------
_HELPERS = '''
import math

import numpy as np
from numba import njit

_M1 = np.uint64({m1})
_M2 = np.uint64({m2})
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TO_UNIT = {to_unit!r}


@njit(inline="never")
def unit(key, counter):
    z = key ^ counter
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return float(z >> _S11) * _TO_UNIT


@njit(inline="never")
def nudge(x, delta):
    d = min(max(delta, -1.0), 1.0)
    return x + d * ((1.0 - x) if d > 0.0 else x)
'''

#: Arguments of the kernel besides the sites' (fixed parts ``F_*`` and static terms ``S_*``).
#: Upper-case arrays are the batch's state, read and written in place.
_ARGS = (
    "t0", "t1", "keys", "iu", "ju", "c_turn", "c_task", "c_conf", "c_res", "c_dem",
    "EASE", "DOMINATED", "AB", "PERIOD", "FORM", "TERM",
    "TR", "FA", "IC", "CUL", "VIS", "SYN", "EXP", "AMB", "ACH", "PERF", "XSH", "SUC", "SC",
    "ACT", "XSTEP", "XCAUSE", "DIS", "DISAT", "CAUSE", "COMP", "ACHD", "END", "SR", "SCR",
    "CNF", "CON", "DES", "SUCS", "FAIL", "DOM", "EXITS", "TURN",
    "AC0", "AC1", "AC2", "AC3", "AC4", "AC5", "SYNSUM", "ALIVE", "STOP",
    "EVERY", "COLS", "PRESENT", "RT", "RF", "RI", "RA", "RSYN", "RINE", "REXP", "RAMB",
    "RACH", "RPERF", "RCE", "RVIS", "RREG",
)
#: Arguments only the recording kernel takes.
_RECORDING = ("EVERY", "COLS", "PRESENT", "RT", "RF", "RI", "RA", "RSYN", "RINE",
              "REXP", "RAMB", "RACH", "RPERF", "RCE", "RVIS", "RREG")
#: The record arrays (``RT`` ...) by trajectory variable.
RECORD_ARGS = {
    "trust": "RT", "faith": "RF", "intra_conflict": "RI", "active": "RA", "synergy": "RSYN",
    "inertia": "RINE", "experience": "REXP", "ambition": "RAMB", "achievement": "RACH",
    "performance": "RPERF", "conflict_events": "RCE", "vision": "RVIS", "regime": "RREG",
}
#: The state field each upper-case argument is.
STATE_ARGS = {
    "TR": "trust", "FA": "faith", "IC": "intra_conflict", "CUL": "culture", "VIS": "vision",
    "SYN": "synergy", "EXP": "experience", "AMB": "ambition", "ACH": "achievement",
    "PERF": "performance", "XSH": "exit_shock", "SUC": "success", "SC": "step_conflicts",
    "ACT": "active", "XSTEP": "exit_step", "XCAUSE": "exit_cause", "DIS": "dissolved",
    "DISAT": "dissolved_at", "CAUSE": "cause", "COMP": "completed", "ACHD": "achieved",
    "END": "ended_at", "SR": "synergy_recent", "SCR": "success_recent", "CNF": "conflicts",
    "CON": "constructive", "DES": "destructive", "SUCS": "successes", "FAIL": "failures",
    "DOM": "dominations", "EXITS": "exits", "TURN": "turnovers",
    "AC0": "trust_lost_conflict", "AC1": "trust_lost_task", "AC2": "trust_lost_other",
    "AC3": "trust_gained_conflict", "AC4": "trust_gained_task", "AC5": "trust_gained_other",
}


#: Helpers written out in place (numba would compile a function for every argument type).
_MACROS = {
    "sigmoid": ("z",), "clip": ("x", "low", "high"), "odds": ("trust",),
}
_MACRO_BODY = {
    "sigmoid": "(1.0 / (1.0 + math.exp(-({z}))))",
    "clip": "min(max({x}, {low}), {high})",
    "odds": "((1.0 - ({trust})) / max({trust}, 0.02))",
}


def _expand(source: str) -> str:
    """``source`` with each call of a :data:`_MACROS` helper replaced by its expression."""
    pattern = re.compile(r"\b(" + "|".join(_MACROS) + r")\(")
    while True:
        match = pattern.search(source)
        if match is None:
            return source
        depth, k, args, start = 1, match.end(), [], match.end()
        while depth:
            char = source[k]
            if char in "([":
                depth += 1
            elif char in ")]":
                depth -= 1
            elif char == "," and depth == 1:
                args.append(source[start:k].strip())
                start = k + 1
            k += 1
        args.append(source[start:k - 1].strip())
        name = match.group(1)
        body = _MACRO_BODY[name].format(**dict(zip(_MACROS[name], args, strict=True)))
        source = source[:match.start()] + body + source[k:]


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def kernel_source(terms, baseline):
    """The generated module, the kernel's arguments, static-term slots and constants ``K``.

    ``kernel(t0, t1, ...)`` advances every run still going from month ``t0`` to ``t1`` in
    place, one run at a time, and stops a run early (``STOP[r]``: the month it reached) after
    a month in which a member left while the partnership went on: the terms fixed by the
    membership are then the numpy engine's to recompute.
    """
    from cmo_sim.core import ends

    konst = _Constants()
    b = {name: konst(value) for name, value in baseline.items()}
    slots: list[_Slot] = []

    def site(name, out, depth, account=None):
        return _indent(_site_lines(name, terms[name], out, slots, konst, account), depth)

    task_per_run = terms["trust_change"].run_level("task")
    # The month's trajectory variables into the record (cmo_sim.core.runner's snapshot).
    record_body = [
        "slot = (tt + 1) // EVERY",
        "col = COLS[r]",
        "npres = 0.0",
        "for i in range(n):",
        "    npres += 1.0 if PRESENT[r, i] else 0.0",
        "parts = max(npres - 1.0, 1.0)",
        "for i in range(n):",
        "    if PRESENT[r, i]:",
        "        row = 0.0",
        "        for j in range(n):",
        "            if j != i and PRESENT[r, j]:",
        "                row += TR[r, i, j]",
        "        RT[slot, i, col] = row / parts",
        "        RF[slot, i, col] = FA[r, i]",
        "        RI[slot, i, col] = IC[r, i]",
        "    else:",
        "        RT[slot, i, col] = np.nan",
        "        RF[slot, i, col] = np.nan",
        "        RI[slot, i, col] = np.nan",
        "    RA[slot, i, col] = ACT[r, i]",
        "RSYN[slot, col] = SYN[r]",
        "RINE[slot, col] = 1.0 - SYN[r]",
        "REXP[slot, col] = EXP[r]",
        "RAMB[slot, col] = AMB[r]",
        "RACH[slot, col] = ACH[r]",
        "RPERF[slot, col] = PERF[r]",
        "RCE[slot, col] = SC[r]",
        "RVIS[slot, col] = VIS[r]",
        f"code = {ends.THRIVING}",
        f"if tt + 1 >= {ends.STRUGGLE_MONTHS} and SR[r] < {ends.STRUGGLE_SYNERGY!r} "
        f"and SCR[r] < {ends.STRUGGLE_SUCCESS!r}:",
        f"    code = {ends.STRUGGLING}",
        "if COMP[r]:",
        f"    code = {ends.COMPLETED}",
        "if DIS[r]:",
        f"    code = {ends.DISSOLVED}",
        "RREG[slot, col] = code",
    ]
    record_args = ("r, tt, n, EVERY, COLS, PRESENT, TR, FA, IC, ACT, SYN, EXP, AMB, ACH, "
                   "PERF, SC, VIS, SR, SCR, COMP, DIS, RT, RF, RI, RA, RSYN, RINE, REXP, RAMB, "
                   "RACH, RPERF, RCE, RVIS, RREG")
    record = ["if (tt + 1) % EVERY == 0:", f"    record({record_args})"]
    month: list[str] = []
    add = month.extend
    add([
        # what the members see of each other
        "tot = 0.0",
        "for i in range(n):",
        "    row = 0.0",
        "    for j in range(n):",
        "        if j != i and w[i] * w[j] > 0.0:",
        "            row += TR[r, i, j]",
        "    tr_m[i] = row / rc[i]",
        "    tot += row",
        "tr_run = tot / n_pairs if any_pair else 0.0",
        "for p in range(P):",
        "    tr_u[p] = 0.5 * (TR[r, iu[p], ju[p]] + TR[r, ju[p], iu[p]])",
        "vis = VIS[r]",
        "s_fa = 0.0",
        "s_ic = 0.0",
        "for i in range(n):",
        "    s_fa += FA[r, i] * w[i]",
        "    s_ic += IC[r, i] * w[i]",
        "fa_run = s_fa / count",
        "ic_run = s_ic / count",
        "tot = 0.0",
        "for i in range(n):",
        "    row = 0.0",
        "    for j in range(n):",
        "        if j != i and w[i] * w[j] > 0.0:",
    ])
    add(site("communication", "c", 3))
    add([
        "            c = clip(c, 0.0, 1.0)",
        "        else:",
        "            c = 0.0",
        "        cm[i, j] = c",
        "        row += c",
        "    tot += row",
        "cm_run = tot / n_pairs if any_pair else 0.0",
        "for p in range(P):",
        "    cm_u[p] = 0.5 * (cm[iu[p], ju[p]] + cm[ju[p], iu[p]])",
        # turnover of leaders
        "n_turned = 0",
        "s_tu = 0.0",
        "for i in range(n):",
    ])
    add(site("turnover", "h", 1))
    add([
        "    turned = ACT[r, i] and unit(key, c_turn[k, i]) < sigmoid(h)",
        "    tu[i] = 1.0 if turned else 0.0",
        "    n_turned += 1 if turned else 0",
        "    s_tu += tu[i] * w[i]",
        "tu_run = s_tu / count",
    ])
    # functioning and synergy, learning
    add(site("functioning", "f", 0))
    add([
        f"target = sigmoid({b['synergy_steepness']} * (f - {b['synergy_threshold']}))",
        f"syn = SYN[r] + {b['synergy_rate']} * (target - SYN[r])",
        "ine = 1.0 - syn",
    ])
    add(site("learning", "lrn", 0))
    add([
        "experience = nudge(EXP[r], lrn)",
        # ambition and the task
        "agreed = np.inf",
        "for i in range(n):",
        "    if ACT[r, i]:",
    ])
    add(site("risk_tolerance", "tol", 2))
    add([
        "        agreed = min(agreed, tol)",
        "if not math.isfinite(agreed):",
        "    agreed = 0.5",
        f"aim = clip(agreed + {b['ambition_bias_scale']} * AB[r], 0.0, 1.0)",
    ])
    add(site("task_logit", "lg", 0))
    add([
        "succ = unit(key, c_task[k]) < sigmoid(lg)",
        "succ_f = 1.0 if succ else 0.0",
        "fail_f = 0.0 if succ else 1.0",
        "achievement = aim * succ_f",
    ])
    add(site("achievement_value", "av", 0))
    add([
        "performance = PERF[r] + achievement * clip(av, 0.0, 1.0)",
        # conflict and its resolution
        "xs = XSH[r]",
        "n_conf = 0",
        "for p in range(P):",
        "    conf[p] = False",
        "    if ACT[r, iu[p]] and ACT[r, ju[p]]:",
    ])
    add(site("conflict", "cf", 2))
    add([
        "        conf[p] = unit(key, c_conf[k, p]) < sigmoid(cf + xs)",
        "        n_conf += 1 if conf[p] else 0",
    ])
    add(site("resolution", "q", 0))
    add(["q = clip(q, 0.0, 1.0)"])
    add(site("destructive_buffer", "db", 0))
    add([
        f"db = {b['destructive_loss']} * clip(db, 0.25, 1.75)",
        "n_cons = 0",
        "n_des = 0",
        "for i in range(n):",
        "    dr[i] = 0.0",
        "    for j in range(n):",
        "        res[i, j] = 0.0",
        "for p in range(P):",
        "    cons = conf[p] and unit(key, c_res[k, p]) < q",
        "    des = conf[p] and not cons",
        "    n_cons += 1 if cons else 0",
        "    n_des += 1 if des else 0",
        f"    gained = {b['constructive_gain']} * (1.0 if cons else 0.0)",
        "    lost = db * (1.0 if des else 0.0)",
        "    a = iu[p]",
        "    z = ju[p]",
        "    res[a, z] = gained - lost * odds(TR[r, a, z])",
        "    res[z, a] = gained - lost * odds(TR[r, z, a])",
        "    if des:",
        "        dr[a] += 1.0",
        "        dr[z] += 1.0",
        "for i in range(n):",
        "    dr[i] = dr[i] / partners",
        # trust, and its account: each pair's change split between its parts
        "pairs = n_pairs if any_pair else np.inf",
        "so = 0.0",
        "go = 0.0",
        "sc_ = 0.0",
        "gc = 0.0",
        "st = 0.0",
        "gt = 0.0",
        "ss = 0.0",
        "task_run = 0.0",
        "have_task = False",
        "for i in range(n):",
        "    r_so = 0.0",
        "    r_go = 0.0",
        "    r_sc = 0.0",
        "    r_gc = 0.0",
        "    r_st = 0.0",
        "    r_gt = 0.0",
        "    r_ss = 0.0",
        "    for j in range(n):",
        "        if j == i or w[i] * w[j] == 0.0:",
        "            continue",
    ])
    add(site("trust_change", "dl", 2, account="task"))
    add([
        "        total = dl + res[i, j]",
        "        old = TR[r, i, j]",
        "        new = nudge(old, total)",
        "        TR[r, i, j] = new",
        "        scale = (new - old) / total if total != 0.0 else 0.0",
        "        share = (dl - dl_part) * scale",
        "        r_so += share",
        "        r_go += max(share, 0.0)",
        "        share = res[i, j] * scale",
        "        r_sc += share",
        "        r_gc += max(share, 0.0)",
        "        share = dl_part * scale",
        "        r_st += share",
        "        r_gt += max(share, 0.0)",
        "        r_ss += scale",
        "        if not have_task:",
        "            task_run = dl_part",
        "            have_task = True",
        "    so += r_so",
        "    go += r_go",
        "    sc_ += r_sc",
        "    gc += r_gc",
        "    st += r_st",
        "    gt += r_gt",
        "    ss += r_ss",
        "g = go / pairs",
        "AC2[r] += so / pairs - g",
        "AC5[r] += g",
    ])
    if task_per_run:
        add([
            "mean_scale = ss / pairs",
            "AC1[r] += min(task_run, 0.0) * mean_scale",
            "AC4[r] += max(task_run, 0.0) * mean_scale",
        ])
    else:
        add([
            "g = gt / pairs",
            "AC1[r] += st / pairs - g",
            "AC4[r] += g",
        ])
    add([
        "g = gc / pairs",
        "AC0[r] += sc_ / pairs - g",
        "AC3[r] += g",
        # faith and intra-organisational conflict (each member reads only its own old values)
        "for i in range(n):",
        "    if not ACT[r, i]:",
        "        continue",
    ])
    add(site("faith_change", "fc", 1))
    add(["    nf[i] = nudge(FA[r, i], fc)"])
    add(site("intra_rise", "rise", 1))
    add(site("intra_decay", "kd", 1))
    add([
        f"    keep = clip(1.0 - {b['intra_decay']} * max(kd, 0.0), 0.0, 1.0)",
        f"    IC[r, i] = nudge(IC[r, i], {b['intra_rate']} * rise) * keep",
        "    FA[r, i] = nf[i]",
    ])
    add(site("vision_change", "mv", 0))
    add(["VIS[r] = nudge(vis, mv)"])
    add(site("culture_pull", "pull", 0))
    add([
        "pull = clip(pull, -1.0, 1.0)",
        "if pull != 0.0:",
        "    s = 0.0",
        "    for i in range(n):",
        "        s += CUL[r, i] * w[i]",
        "    centre = s / count",
        "    for i in range(n):",
        "        if ACT[r, i]:",
        "            CUL[r, i] = clip(CUL[r, i] + pull * (centre - CUL[r, i]), 0.0, 1.0)",
        # exits and dissolution
        "tf = F_trust_floor[r]",
        "ff = F_faith_floor[r]",
        "period = PERIOD[r]",
        "may = period > 0 and (tt + 1) % max(period, 1) == 0",
        "any_bt = False",
        "any_below = False",
        "any_by_trust = False",
        "n_gone = 0",
        "n_still = 0",
        "for i in range(n):",
        "    bt = False",
        "    bf = False",
        "    if ACT[r, i]:",
        "        row = 0.0",
        "        for j in range(n):",
        "            if j != i and w[j] > 0.0:",
        "                row += TR[r, i, j]",
        "        bt = row / rc[i] < tf",
        "        bf = (not bt) and FA[r, i] < ff",
        "    any_bt = any_bt or bt",
        "    any_below = any_below or bt or bf",
        "    gone = (bt or bf) and may",
        "    still = ACT[r, i] and not gone",
        "    ACT[r, i] = still",
        "    n_still += 1 if still else 0",
        "    if gone:",
        "        n_gone += 1",
        "        XSTEP[r, i] = tt",
        f"        XCAUSE[r, i] = {CAUSE_TRUST} if bt else {CAUSE_FAITH}",
        "        any_by_trust = any_by_trust or bt",
        f"xs = xs * {b['exit_shock_decay']}",
        "if n_gone > 0:",
        "    xs += float(n_gone) * F_exit_shock[r]",
        "    EXITS[r] += n_gone",
        "    if n_still < 2:",
        "        DIS[r] = True",
        "        DISAT[r] = tt",
        "        END[r] = tt",
        f"        CAUSE[r] = {CAUSE_TRUST} if any_by_trust else {CAUSE_FAITH}",
        "XSH[r] = xs",
        f"if FORM[r] == {FORMS.index('merger')} and any_below:",
        "    if unit(key, c_dem[k]) < sigmoid(F_demerger[r]):",
        "        DIS[r] = True",
        "        DISAT[r] = tt",
        "        END[r] = tt",
        f"        CAUSE[r] = {CAUSE_TRUST} if any_bt else {CAUSE_FAITH}",
        # where the month leaves the run
        "SYN[r] = syn",
        "EXP[r] = experience",
        "AMB[r] = aim",
        "ACH[r] = achievement",
        "PERF[r] = performance",
        "SUC[r] = succ",
        "SC[r] = n_conf",
        "SR[r] = SR[r] + RECENT * (syn - SR[r])",
        "scr = SCR[r] + RECENT * (succ_f - SCR[r])",
        "SCR[r] = scr",
        "if TERM[r] == tt and not DIS[r]:",
        "    COMP[r] = True",
        "    ACHD[r] = scr >= ACHIEVED",
        "    END[r] = tt",
        "CNF[r] += n_conf",
        "CON[r] += n_cons",
        "DES[r] += n_des",
        "SUCS[r] += 1 if succ else 0",
        "FAIL[r] += 0 if succ else 1",
        "DOM[r] += 1 if DOMINATED[r] else 0",
        "TURN[r] += n_turned",
    ])
    add(["#RECORD#"])
    add([
        "SYNSUM[r] += syn",
        "ALIVE[r] += 1.0",
        "if n_gone > 0 and not (DIS[r] or COMP[r]):",
        "    STOP[r] = tt + 1",
        "    break",
    ])
    # Values fixed for the call (a run's contexts' parts, its form, its floors) are read once
    # per run, before its months.
    constant = re.compile(r"\b((?:F|S)_\w+|EASE|AB|PERIOD|FORM|TERM|DOMINATED)\[r\]")
    seen: dict[str, None] = {}

    def hoist(match: re.Match) -> str:
        seen.setdefault(match.group(1))
        return f"h_{match.group(1)}"

    hoisted = [constant.sub(hoist, line) for line in month]
    loads = [f"    h_{name} = {name}[r]" for name in seen]
    body = [
        "R = TR.shape[0]",
        "n = TR.shape[1]",
        "P = iu.shape[0]",
        "w = np.zeros(n)",
        "rc = np.zeros(n)",
        "tr_m = np.zeros(n)",
        "tr_u = np.zeros(P)",
        "cm = np.zeros((n, n))",
        "cm_u = np.zeros(P)",
        "tu = np.zeros(n)",
        "dr = np.zeros(n)",
        "nf = np.zeros(n)",
        "res = np.zeros((n, n))",
        "conf = np.zeros(P, dtype=np.bool_)",
        "for r in range(R):",
        "    STOP[r] = t1",
        "    key = keys[r]",
        # membership weights (the numpy engine's Fixed): constant while the run is in the call
        "    s = 0.0",
        "    for i in range(n):",
        "        w[i] = 1.0 if ACT[r, i] else 0.0",
        "        s += w[i]",
        "    count = max(s, 1.0)",
        "    tot_pw = 0.0",
        "    np_sum = 0.0",
        "    for i in range(n):",
        "        row = 0.0",
        "        for j in range(n):",
        "            if j != i:",
        "                row += w[i] * w[j]",
        "        tot_pw += row",
        "        rc[i] = max(row, 1.0)",
        "        np_sum += rc[i] * w[i]",
        "    n_pairs = max(np_sum, 1.0)",
        "    any_pair = tot_pw > 0.0",
        "    partners = max(count - 1.0, 1.0)",
        *loads,
        "    for tt in range(t0, t1):",
        "        if DIS[r] or COMP[r]:",
        # an ended partnership stays as it was; its month reads as no task, no conflict
        "            ACH[r] = 0.0",
        "            SUC[r] = False",
        "            SC[r] = 0",
        "#DEAD#",
        "        k = tt - t0",
    ] + _indent(hoisted, 2)

    def variant(recording: bool) -> list[str]:
        out = []
        for line in body:
            if line.strip() == "#RECORD#":
                indent = line[:len(line) - len(line.lstrip())]
                out.extend(indent + x for x in (record if recording else []))
            elif line == "#DEAD#":
                out.extend(_indent(record + ["continue"] if recording else ["break"], 3))
            else:
                out.append(line)
        return out

    site_args = [f"F_{name}" for name in _KERNEL_SITES + _FIXED_ONLY]
    args = _ARGS + ("K",) + tuple(site_args) + tuple(s.arg for s in slots)
    plain = tuple(a for a in args if a not in _RECORDING)
    head = [
        f"# cmo-sim fused kernel, template {TEMPLATE_VERSION}: generated from a theory's terms",
        # cmo_sim.rng's SplitMix64 finaliser (the same constants: a change there changes this
        # source, so its digest)
        _HELPERS.format(m1=int(rng._M1), m2=int(rng._M2), to_unit=float(rng._TO_UNIT)),
        f"RECENT = {float(ends.RECENT_WEIGHT)!r}",
        f"ACHIEVED = {float(ends.STRUGGLE_SUCCESS)!r}",
        "",
        "",
        "@njit(cache=True, nogil=True, error_model='numpy')",
        f"def record({record_args}):",
        *_indent(record_body, 1),
        "",
        "",
        "# Months without a record (summaries), and months writing their record.",
        "@njit(cache=True, nogil=True, error_model='numpy')",
        f"def kernel({', '.join(plain)}):",
        *_indent(variant(False), 1),
        "",
        "",
        "@njit(cache=True, nogil=True, error_model='numpy')",
        f"def kernel_rec({', '.join(args)}):",
        *_indent(variant(True), 1),
    ]
    source = _expand("\n".join(head) + "\n")
    return source, (plain, args), tuple(slots), np.array(konst.values, dtype=np.float64)


# -- compiling and caching ------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where generated kernels and numba's compiled code are kept.

    ``$CMO_SIM_CACHE/fused`` if set, else the user's cache folder.
    """
    base = os.environ.get("CMO_SIM_CACHE")
    if base:
        return Path(base) / "fused"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "cmo-sim" / "fused"


@dataclass
class _Kernel:
    """A compiled kernel with its arguments, its static-term slots and a theory's constants."""

    function: object
    args: tuple[str, ...]
    recording: object
    recording_args: tuple[str, ...]
    slots: tuple[_Slot, ...]
    digest: str
    constants: np.ndarray | None = None


_KERNELS: dict[str, _Kernel] = {}
_BY_TERMS: dict[int, tuple[object, _Kernel]] = {}
_LOCK = threading.Lock()


def _write_module(source: str, digest: str) -> Path:
    """The generated module's file, written once and atomically.

    A cache folder that cannot be written falls back to a temporary folder.
    """
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / "cmo-sim-fused"):
        path = folder / f"cmo_fused_{digest[:20]}.py"
        try:
            if path.exists() and path.read_text() == source:
                return path
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".py.tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
            return path
        except OSError:
            continue
    raise OSError("the fused engine found no writable cache folder (set CMO_SIM_CACHE)")


def kernel_for(terms, baseline) -> _Kernel:
    """The kernel of a theory's ``terms`` with its constants.

    Kernels are cached by the SHA-256 of their source, which holds the theory's structure
    (sites, inputs, forms, modulators, conditions) but not its numbers: theories that differ
    only in weights or baseline constants share one compiled kernel.
    """
    hit = _BY_TERMS.get(id(terms))
    if hit is not None and hit[0] is terms:
        return hit[1]
    require()
    source, args, slots, constants = kernel_source(terms, baseline)
    digest = hashlib.sha256(source.encode()).hexdigest()
    with _LOCK:
        kernel = _KERNELS.get(digest)
        if kernel is None:
            path = _write_module(source, digest)
            name = path.stem
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            kernel = _Kernel(module.kernel, args[0], module.kernel_rec, args[1], slots, digest)
            _KERNELS[digest] = kernel
        kernel = dataclasses.replace(kernel, constants=constants)
        _BY_TERMS[id(terms)] = (terms, kernel)
    return kernel


# -- the step --------------------------------------------------------------------------------
def _as_layout(value, kind: str, full: tuple[int, ...]) -> np.ndarray:
    """A static term's array as the kernel reads it: ``[runs]`` or the site's full shape."""
    a = np.asarray(value, dtype=np.float64)
    if kind == "run":
        if a.ndim == 0:
            return np.full(full[0], float(a))
        if a.size != full[0]:
            raise RuntimeError(f"fused engine: a run-level term has shape {a.shape}")
        a = a.reshape(full[0])
    elif a.shape != full:
        a = np.broadcast_to(a, full)
    if not (a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, dtype=np.float64, order="C")
    return a


def _site_arrays(kernel: _Kernel, terms, fx, n_runs: int, n: int) -> dict[str, np.ndarray]:
    full = {"run": (n_runs,), "member": (n_runs, n), "pair": (n_runs, n, n),
            "upair": (n_runs, fx.iu.size)}
    out = {}
    for name in _KERNEL_SITES + _FIXED_ONLY:
        shape = _CACHED[name]
        out[f"F_{name}"] = _as_layout(fx.site[name], "full", full[shape])
    prepared = {name: {id(p.term): p for p in fx.month[name]} for name in _KERNEL_SITES}
    zeros: dict[tuple, np.ndarray] = {}
    for slot in kernel.slots:
        shape = full[slot.shape]
        p = prepared[slot.site].get(id(terms[slot.site].month[slot.index]))
        value = None if p is None else (p.static if p.static is not None else p.mask)
        if value is None:
            if p is not None:  # a state-input term without a static mask: a mask of ones
                value = 1.0
            else:  # left out by the numpy engine: zero in every run of the batch
                key = (slot.kind, shape)
                if key not in zeros:
                    zeros[key] = np.zeros(shape[:1] if slot.kind == "run" else shape)
                out[slot.arg] = zeros[key]
                continue
        out[slot.arg] = _as_layout(value, slot.kind, shape)
    return out


def _counters(t0: int, t1: int, n: int, iu: np.ndarray, ju: np.ndarray) -> dict:
    """The counter words of months ``t0 .. t1 - 1`` (:func:`cmo_sim.rng.uniform`'s)."""
    months = range(t0, t1)
    return {
        "c_turn": np.stack([_counter(t, int(Stream.TURNOVER), np.arange(n), 0) for t in months]),
        "c_task": np.array([_counter(t, int(Stream.TASK), 0, 0) for t in months],
                           dtype=np.uint64),
        "c_conf": np.stack([_counter(t, int(Stream.CONFLICT), iu, ju) for t in months]),
        "c_res": np.stack([_counter(t, int(Stream.RESOLUTION), iu, ju) for t in months]),
        "c_dem": np.array([_counter(t, int(Stream.DEMERGER), 0, 0) for t in months],
                          dtype=np.uint64),
    }


def _months(state: State, params: Params, t0: int, t1: int, cache: StepCache,
            synergy_sum: np.ndarray, alive_steps: np.ndarray,
            record: tuple[dict, int] | None = None) -> tuple[np.ndarray, object]:
    """Advance ``state`` (its arrays, in place) from month ``t0`` to ``t1`` with the kernel.

    The contexts must not change between ``t0`` and ``t1``. ``record`` is ``(buffers, every)``:
    the runner's record arrays (:func:`cmo_sim.core.runner.record_buffers`, the batch's runs
    in order) and the recording interval. Returns each run's ``STOP`` month and the terms used.
    """
    kernel = kernel_for(params.terms, params.baseline)
    ctx = params.contexts_at(t0)
    alive = ~state.ended
    active = state.active & alive[:, None]
    fx = cache.get(params, ctx, active, alive)
    n_runs, n = params.n_runs, params.n_members
    vision, culture = timeline_state(state, params, ctx, t0)
    if vision is not state.vision:
        state.vision[alive] = vision[alive]
    if culture is not state.culture:
        state.culture[alive] = culture[alive]
    stop = np.empty(n_runs, dtype=np.int64)
    values = {
        "t0": np.int64(t0), "t1": np.int64(t1), "keys": params.keys, "iu": fx.iu, "ju": fx.ju,
        **_counters(t0, t1, n, fx.iu, fx.ju),
        "EASE": _as_layout(fx.view.ease, "run", (n_runs,)),
        "DOMINATED": np.ascontiguousarray(fx.dominated, dtype=np.bool_),
        "AB": _as_layout(ctx.values["ambition_bias"], "run", (n_runs,)),
        "PERIOD": params.exit_period, "FORM": params.form, "TERM": params.term,
        "SYNSUM": synergy_sum, "ALIVE": alive_steps, "STOP": stop, "K": kernel.constants,
    }
    function, args = kernel.function, kernel.args
    if record is not None:
        buffers, every = record
        values.update({"EVERY": np.int64(every), "COLS": np.arange(n_runs, dtype=np.int64),
                       "PRESENT": params.present})
        values.update({arg: buffers[name] for name, arg in RECORD_ARGS.items()})
        function, args = kernel.recording, kernel.recording_args
    values.update({arg: getattr(state, name) for arg, name in STATE_ARGS.items()})
    values.update(_site_arrays(kernel, params.terms, fx, n_runs, n))
    function(*[values[a] for a in args])
    return stop, fx


def advance(state: State, params: Params, t: int, cache: StepCache) -> State:
    """One month of every run, computed in ``state``'s own arrays (which the caller owns)."""
    alive = ~state.ended
    dummy = np.zeros(params.n_runs)
    _, fx = _months(state, params, t, t + 1, cache, dummy, dummy.copy())
    # Networks recruit into places left in an earlier month (rare: the numpy code does it).
    out = {name: getattr(state, name) for name in (
        "trust", "faith", "intra_conflict", "culture", "active", "exit_step", "exit_cause",
        "dissolved", "joins")}
    join_places(params, params.contexts_at(t), t, alive, fx.site["joining"], out)
    if all(out[name] is getattr(state, name) for name in out):
        return state
    return dataclasses.replace(state, **out)


def step(state: State, params: Params, t: int, cache: StepCache | None = None) -> State:
    """Advance every run by one month with the fused kernel.

    The results of :func:`cmo_sim.core.step.step`; a pure function (``state`` is left as it
    was).
    """
    mine = State(**{f.name: getattr(state, f.name).copy() for f in dataclasses.fields(state)})
    return advance(mine, params, t, cache if cache is not None else StepCache())


def fixed_membership(params: Params) -> bool:
    """Whether no partnership of ``params`` can lose or gain a member and go on.

    True when every run has two members (one leaving dissolves it) or none may leave (a
    merger, a fixed-term arrangement): then the kernel can run many months in one call.
    """
    return bool(np.all((params.present.sum(axis=1) <= 2) | (params.exit_period <= 0)))


def run_spans(params: Params, steps: int, state: State, synergy_sum: np.ndarray,
              alive_steps: np.ndarray, record: tuple[dict, int] | None = None) -> None:
    """Advance ``state`` (in place) through ``steps`` months, a batch of fixed membership.

    The months go in spans between the months in which contexts change (one kernel call
    each); the batch must be of :func:`fixed_membership`. With ``record`` (``(buffers,
    every)``), the kernel writes each recorded month's trajectory variables into the buffers.
    """
    changes = sorted({int(k) for schedule in params.schedules.values()
                      for k in np.unique(schedule.steps) if 0 < k < steps})
    cache = StepCache()
    bounds = [0, *changes, steps]
    for t0, t1 in zip(bounds[:-1], bounds[1:], strict=True):
        stop, _ = _months(state, params, t0, t1, cache, synergy_sum, alive_steps, record)
        if (stop < t1).any():
            raise RuntimeError("fused engine: a member left a partnership that goes on, in a "
                               "batch whose membership was to stay fixed")
