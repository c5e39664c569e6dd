"""Cost of a larger programme theory: the default theory against it plus 20 user rules.

Measures, in one run on this machine, the time per computed member-step of 10^5 dyads x 120
months under the default theory and under the default theory extended with 20 rules of its
own (two declared contexts, rules at eleven sites, on contexts and on the month's state, with
forms, modulators, conditions and targets). The added rules have small weights so that both
theories run about the same number of months before dissolving; the ratio is of time per
computed member-step, best of three interleaved repetitions.

With ``--before DIR`` (a checkout of an earlier cmo-sim, e.g. made with ``git worktree add
DIR <commit>``), the default theory is also timed under that checkout's engine, in a separate
process, interleaved with this one's, and the throughputs compared.

Usage: python benchmarks/bench_theory.py [--runs 100000] [--steps 120] [--repeats 3]
       [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import cmo_sim

DYAD = {"name": "dyad", "members": [{}, {}]}

#: The 20 added rules: (id, context, mechanism, outcome, sign, site, extra term fields).
USER_RULES = [
    ("liaison.turnover_resets", "liaison_turnover", "reduced_trust", "trust", -1,
     "trust_change", {"scale": ["trust_rate"], "modulator": "distrust_odds"}),
    ("liaison.turnover_initial", "liaison_turnover", "initial_trust", "trust", -1,
     "initial_trust", {}),
    ("liaison.turnover_conflict", "liaison_turnover", "conflict", "conflict", 1, "conflict",
     {"form": "saturating", "half": 0.3}),
    ("liaison.turnover_faith", "liaison_turnover", "reduced_faith", "faith", -1, "faith_change",
     {"scale": ["faith_rate"], "when": ["task_failure"]}),
    ("process.formal_task", "formal_process", "coordination", "task_achievement", 1,
     "task_logit", {"when": ["trust < 0.4"]}),
    ("process.formal_conflict", "formal_process", "reduced_conflict", "trust", 1, "conflict",
     {"reduce": "min"}),
    ("process.formal_comm", "formal_process", "communication", "communication", 1,
     "communication", {"reduce": "mean"}),
    ("process.formal_intra", "formal_process", "intra_conflict", "intra_conflict", -1,
     "intra_rise", {}),
    ("process.formal_decay", "formal_process", "intra_conflict", "intra_conflict", -1,
     "intra_decay", {"form": "threshold", "centre": 0.6}),
    ("process.formal_tolerance", "formal_process", "risk_threshold", "ambition", 1,
     "risk_tolerance", {}),
    ("state.synergy_faith", "synergy", "faith_building", "faith", 1, "faith_change",
     {"scale": ["faith_rate"]}),
    ("state.trust_conflict", "trust", "reduced_conflict", "conflict", -1, "conflict",
     {"form": "lower"}),
    ("state.comm_trust", "communication", "communication", "trust", 1, "trust_change",
     {"scale": ["communication_rate"], "form": "upper", "target": "lead"}),
    ("state.ambition_task", "ambition", "task_achievement", "task_achievement", -1,
     "task_logit", {"form": "upper"}),
    ("state.intra_faith", "intra_conflict", "intra_conflict", "faith", -1, "faith_change",
     {"scale": ["faith_rate"], "when": ["intra_conflict > 0.3"]}),
    ("state.faith_function", "faith", "synergy", "synergy", 1, "functioning",
     {"form": "saturating"}),
    ("state.vision_function", "shared_vision", "synergy", "synergy", 1, "functioning", {}),
    ("state.success_faith", "task_success", "faith_building", "faith", 1, "faith_change",
     {"scale": ["faith_value_rate"], "modulator": "ambition"}),
    ("state.inertia_intra", "inertia", "inertia", "intra_conflict", 1, "intra_rise",
     {"form": "upper"}),
    ("state.trust_resolution", "trust", "improved_trust", "trust", 1, "resolution",
     {"form": "upper"}),
]
CONTEXTS = [
    {"name": "liaison_turnover", "level": "partnership", "range": [0.0, 1.0], "typical": 0.0,
     "meaning": "Share of liaison posts changing hands in a year.",
     "provenance": "benchmark rule set"},
    {"name": "formal_process", "level": "member", "range": [0.0, 1.0], "typical": 0.5,
     "meaning": "Weight of formal process in a member's partnership work.",
     "provenance": "benchmark rule set"},
]


def extended_theory(weight: float = 0.05) -> cmo_sim.Theory:
    """The default theory plus :data:`USER_RULES` (each at ``weight``)."""
    rules = [
        {"id": rid, "context": ctx, "mechanism": mech, "outcome": out, "sign": sign,
         "weight": weight, "site": site, "provenance": "benchmark rule set", **extra}
        for rid, ctx, mech, out, sign, site, extra in USER_RULES
    ]
    return cmo_sim.load_theory().extend(rules=rules, contexts=CONTEXTS)


def timed(theory: cmo_sim.Theory, scenario, runs: int, steps: int) -> tuple[float, float]:
    """Seconds and computed member-steps of one simulation."""
    start = time.perf_counter()
    res = cmo_sim.simulate(scenario, runs=runs, steps=steps, seed=0, theory=theory)
    seconds = time.perf_counter() - start
    s = res.summary
    months = (s.dissolved_at.where(s.dissolved, steps - 1) + 1).sum()
    return seconds, float(months * 2)


_CHILD = """
import time, cmo_sim
sc = cmo_sim.load_scenario({"name": "dyad", "members": [{}, {}]})
cmo_sim.simulate(sc, runs=100, steps=5)
start = time.perf_counter()
cmo_sim.simulate(sc, runs=%d, steps=%d, seed=0)
print(time.perf_counter() - start, cmo_sim.__file__)
"""


def timed_checkout(directory: str, runs: int, steps: int) -> float:
    """Seconds of the default theory on ``runs`` dyads under the cmo-sim in ``directory``."""
    env = {**os.environ, "PYTHONPATH": directory}
    out = subprocess.run([sys.executable, "-c", _CHILD % (runs, steps)], env=env, check=True,
                         capture_output=True, text=True, cwd=directory).stdout.split()
    if not out[1].startswith(os.path.abspath(directory)):
        raise SystemExit(f"--before: {directory} did not provide cmo_sim (got {out[1]})")
    return float(out[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", help="a checkout of an earlier cmo-sim to compare with")
    args = parser.parse_args()
    if args.before:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        before, now = [], []
        for _ in range(args.repeats):
            before.append(timed_checkout(args.before, args.runs, args.steps))
            now.append(timed_checkout(here, args.runs, args.steps))
        nominal = args.runs * 2 * args.steps
        print(f"default theory, {args.runs} dyads x {args.steps} months, best of "
              f"{args.repeats}, interleaved: before {nominal / min(before) / 1e6:.2f} M, now "
              f"{nominal / min(now) / 1e6:.2f} M member-steps/s ({min(before) / min(now):.2f}x "
              "the earlier throughput)")
    scenario = cmo_sim.load_scenario(DYAD)
    default, extended = cmo_sim.load_theory(), extended_theory()
    user = extended
    scenario_user = scenario.with_values({"contexts.liaison_turnover": 0.2,
                                          "members[0].contexts.formal_process": 0.7})
    for theory, sc in ((default, scenario), (user, scenario_user)):
        cmo_sim.simulate(sc, runs=100, steps=5, theory=theory)  # warm-up
    best = {"default": (float("inf"), 1.0), "extended": (float("inf"), 1.0)}
    for _ in range(args.repeats):
        for name, theory, sc in (("default", default, scenario),
                                 ("extended", user, scenario_user)):
            seconds, work = timed(theory, sc, args.runs, args.steps)
            if seconds / work < best[name][0] / best[name][1]:
                best[name] = (seconds, work)
    print(f"numpy engine, {args.runs} dyads x {args.steps} months, best of {args.repeats}")
    per = {}
    for name, (seconds, work) in best.items():
        nominal = args.runs * 2 * args.steps / seconds
        per[name] = seconds / work
        print(f"  {name:8s} ({len(default if name == 'default' else user)} rules): "
              f"{seconds:5.2f} s, {nominal / 1e6:5.2f} M member-steps/s nominal, "
              f"{work / (args.runs * 2 * args.steps):.0%} of member-steps computed, "
              f"{1e9 * seconds / work:.1f} ns per computed member-step")
    ratio = per["extended"] / per["default"]
    print(f"  {len(default)} + {len(user) - len(default)} rules cost {ratio:.2f}x the default "
          f"theory per computed member-step "
          f"(target at most 1.3x: {'met' if ratio <= 1.3 else 'NOT met'})")


if __name__ == "__main__":
    main()
