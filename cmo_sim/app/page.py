"""The cmo-sim explorer: a Solara page (``solara run cmo_sim.app.page``, or ``cmo-sim app``).

Left, the controls: the scenario to start from, its entry point and form, the partnership
contexts grouped by the sections of the review's Table 3, and each member's size and resources.
Middle, one partnership stepped live by the Mesa engine: the trust network, each member's
faith, synergy and inertia over the months, and the event log with the rules that fired.
Right, the numpy core's batch view of 1,000 runs of the same scenario, recomputed when a
control changes: fan charts of trust and synergy and the share in each end state over months.

A value the scenario does not allow (a control, a query-string keyword such as
``?leadership=1.5``, or a scenario file that fails validation) shows a message in the page;
the page keeps the last valid scenario and keeps running.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

try:
    import solara
    import solara.lab
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "the cmo-sim explorer needs Solara and ipyvuetify: pip install 'cmo-sim[app]'"
    ) from exc

from cmo_sim.app._logic import (
    CONTEXT_GROUPS,
    apply_values,
    base_scenario,
    batch_view,
    control_values,
    default_scenario,
    faith_figure,
    figure_png,
    parse_query,
    shipped_scenarios,
    snapshot,
    synergy_figure,
    trust_network_figure,
)
from cmo_sim.scenario import ENTRY_POINTS, FORMS, Scenario, field_bounds

__all__ = ["Explorer", "Page"]

#: Runs and months of the batch view, and months of the live partnership.
RUNS = 1000
STEPS = 120
SEED = 0
#: Seconds between months while the live partnership plays.
PLAY_INTERVAL = 0.35
#: Event-log rows shown (the most recent first).
EVENT_ROWS = 200
EVENT_COLUMNS = ["step", "mechanism", "outcome", "members", "rules", "d_trust", "d_faith",
                 "detail"]

_NO_ENTRY = "none"
_TYPICAL = "typical voluntary dyad"


_SMALL = {"font-size": "0.8em", "color": "#555"}


def _heading(text: str, level: int):
    return solara.HTML(tag=f"h{level}", unsafe_innerHTML=text.replace("<", "&lt;"),
                       style={"margin": "12px 0 6px 0"})


def _css(path: str) -> str:
    return path.replace("[", "-").replace("]", "").replace(".", "-").replace("_", "-")


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


@solara.component
def ContextSlider(path: str, value: float, on_commit, label: str | None = None):
    """A slider for one numeric context; ``on_commit(path, value)`` when it is released."""
    low, high = field_bounds(path) or (0.0, 1.0)
    shown, set_shown = solara.use_state(float(value))
    solara.use_effect(lambda: set_shown(float(value)), [value])
    slider = solara.v.Slider(v_model=shown, on_v_model=lambda v: set_shown(float(v)),
                             min=low, max=high, step=0.01, hide_details=True, dense=True,
                             thumb_label=True, class_="cmo-slider")
    solara.v.use_event(slider, "change", lambda *args: on_commit(path, round(float(args[2]), 4)))
    with solara.Column(gap="0px", classes=["cmo-context", f"cmo-context-{_css(path)}"]):
        solara.Text(f"{label or path}: {shown:.2f}", style={"font-size": "0.85em"})
        solara.display(slider)


@solara.component
def SizeSlider(index: int, value: float, on_commit):
    """A member's head-count on a log scale (1 .. 10 million staff)."""
    path = f"members[{index}].size"
    shown, set_shown = solara.use_state(math.log10(value))
    solara.use_effect(lambda: set_shown(math.log10(value)), [value])
    slider = solara.v.Slider(v_model=shown, on_v_model=lambda v: set_shown(float(v)), min=0,
                             max=7, step=0.05, hide_details=True, dense=True, class_="cmo-slider")
    solara.v.use_event(slider, "change",
                       lambda *args: on_commit(path, float(round(10 ** float(args[2])))))
    with solara.Column(gap="0px", classes=["cmo-context", f"cmo-context-{_css(path)}"]):
        solara.Text(f"size: {round(10 ** shown):,} staff", style={"font-size": "0.85em"})
        solara.display(slider)


@solara.component
def Controls(scenario: Scenario, on_commit, on_base, base_label: str):
    """The scenario picker, entry point, form, grouped contexts and member controls."""
    values = control_values(scenario)
    shipped = shipped_scenarios()
    choices = [_TYPICAL, *shipped]
    if base_label not in choices:
        choices.insert(0, base_label)
    path_text, set_path_text = solara.use_state("")

    _heading("Scenario", 3)
    solara.Select("start from", values=choices, value=base_label,
                  on_value=lambda name: on_base(shipped.get(name), name))
    with solara.Row(classes=["cmo-scenario-file"]):
        solara.InputText("or a scenario file (path)", value=path_text, on_value=set_path_text,
                         dense=True)
        solara.Button("load", on_click=lambda: on_base(path_text.strip() or None, path_text),
                      dense=True, outlined=True)
    entry = values["entry_point"] or _NO_ENTRY
    solara.Select("entry point", values=[_NO_ENTRY, *ENTRY_POINTS], value=entry,
                  on_value=lambda v: on_commit("entry_point", None if v == _NO_ENTRY else v),
                  classes=["cmo-entry-point"])
    solara.Select("form", values=list(FORMS), value=values["form"],
                  on_value=lambda v: on_commit("form", v), classes=["cmo-form"])
    _heading("Contexts", 3)
    for group, names in CONTEXT_GROUPS.items():
        with solara.Details(group, expand=group == "Leadership"):
            for name in names:
                if name == "mandated":
                    solara.Switch(label="mandated", value=bool(values["mandated"]),
                                  on_value=lambda v: on_commit("mandated", bool(v)),
                                  classes=["cmo-context-mandated"])
                else:
                    ContextSlider(name, values[name], on_commit)
    _heading("Members", 3)
    for i, member in enumerate(scenario.members):
        with solara.Details(member.name or f"member {i}", expand=scenario.n_members <= 2):
            SizeSlider(i, member.size, on_commit)
            ContextSlider(f"members[{i}].resources", member.resources, on_commit,
                          label="resources")


class _Live:
    """One partnership of the Mesa engine, its history and a lock for stepping it."""

    def __init__(self, scenario: Scenario, replicate: int) -> None:
        from cmo_sim.abm import PartnershipModel

        self.lock = threading.Lock()
        self.model = PartnershipModel(scenario, seed=SEED, replicate=replicate, steps=STEPS)
        self.history = [snapshot(self.model)]

    def step(self, months: int) -> int:
        done = 0
        with self.lock:
            while done < months and self.model.running:
                self.model.step()
                self.history.append(snapshot(self.model))
                done += 1
        return done


@solara.component
def LivePartnership(scenario: Scenario, key: str, on_error):
    """One partnership stepped month by month: network, faith, synergy, event log."""
    replicate, set_replicate = solara.use_state(0)
    resets, set_resets = solara.use_state(0)
    version, set_version = solara.use_state(0)
    playing, set_playing = solara.use_state(False)

    def make():
        try:
            return _Live(scenario, replicate), None
        except Exception as exc:  # a scenario the model refuses: say so, keep the page
            return None, _message(exc)

    live, problem = solara.use_memo(make, [key, replicate, resets])

    def step(months: int):
        if live is None:
            return
        try:
            live.step(months)
        except Exception as exc:
            on_error(f"the model stopped: {_message(exc)}")
            set_playing(False)
        set_version(lambda v: v + 1)

    def play(cancel: threading.Event):
        while playing and live is not None and live.model.running and not cancel.is_set():
            step(1)
            time.sleep(PLAY_INTERVAL)
        set_playing(False)

    solara.use_thread(play, dependencies=[playing, live])

    _heading("One partnership (Mesa engine)", 2)
    if live is None:
        solara.Error(f"The model cannot run this scenario: {problem}", classes=["cmo-message"])
        return
    model = live.model
    with solara.Row(classes=["cmo-live-buttons"]):
        solara.Button("step", on_click=lambda: step(1), classes=["cmo-step"],
                      disabled=not model.running or playing)
        solara.Button("12 months", on_click=lambda: step(12), classes=["cmo-step-year"],
                      disabled=not model.running or playing)
        solara.Button("pause" if playing else "play", on_click=lambda: set_playing(not playing),
                      classes=["cmo-play"], disabled=not model.running and not playing)
        solara.Button("reset", on_click=lambda: (set_playing(False), set_resets(resets + 1)),
                      classes=["cmo-reset"])
        solara.InputInt("replicate", value=replicate,
                        on_value=lambda v: set_replicate(max(0, int(v or 0))), dense=True,
                        style={"max-width": "7em"})
    state = ("dissolved" if model.dissolved else "completed" if model.completed
             else "running" if model.running else f"ended after {model.steps} months")
    frame = model.events_frame()
    solara.Text(f"month {model.steps} of {STEPS}: {state}; synergy {model.synergy:.2f}; "
                f"{len(frame)} events", classes=["cmo-event-count"])
    try:
        network = figure_png(trust_network_figure(model))
        faith = figure_png(faith_figure(model))
        over_time = figure_png(synergy_figure(live.history))
    except Exception as exc:
        solara.Error(f"a figure could not be drawn: {_message(exc)}", classes=["cmo-message"])
    else:
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}):
            solara.Image(network, width="360px")
            with solara.Column(gap="4px", style={"width": "340px"}):
                solara.Image(faith, width="100%")
                solara.Image(over_time, width="100%")
    _heading("Event log", 3)
    solara.Text("most recent first; rules: the theory's rules that fired", style=_SMALL)
    if len(frame):
        shown = frame[EVENT_COLUMNS].iloc[::-1].head(EVENT_ROWS).round(3).reset_index(drop=True)
        solara.DataFrame(shown, items_per_page=10, scrollable=True)
    else:
        solara.Text("no events yet: press step or play")


@solara.component
def BatchPanel(scenario: Scenario, key: str):
    """The numpy core's 1,000 runs of the same scenario, recomputed when it changes."""

    def compute():
        return batch_view(scenario, runs=RUNS, steps=STEPS, seed=SEED)

    task = solara.lab.use_task(compute, dependencies=[key], raise_error=False)
    _heading(f"{RUNS:,} runs of the same scenario (numpy core)", 2)
    view = task.latest
    solara.ProgressLinear(task.pending)
    if task.error:
        solara.Error(f"the batch view could not be computed: {_message(task.exception)}",
                     classes=["cmo-message"])
    if view is None:
        solara.Text("computing…", classes=["cmo-batch-numbers"])
        return
    solara.Text(view.text(), classes=["cmo-batch-numbers"],
                style={"font-weight": "bold" if not task.pending else "normal"})
    solara.Text(f"{view.runs:,} runs x {view.steps} months computed in {view.seconds:.2f} s"
                + (" (recomputing…)" if task.pending else ""), classes=["cmo-batch-time"],
                style={"font-size": "0.8em"})
    solara.Image(view.png, width="100%")
    solara.Text("Mean trust given and synergy over months: the median run and the bands that "
                "hold 50% and 90% of runs (a dissolved partnership at its last values).",
                style=_SMALL)
    solara.Image(view.end_states_png, width="75%")
    solara.Text("The share of runs thriving, struggling, dissolved and completed at each "
                "month.", style=_SMALL)


@solara.component
def Explorer(scenario: Scenario | str | None = None, contexts: dict[str, Any] | None = None):
    """The explorer, for a scenario (or file) and initial context values.

    Parameters
    ----------
    scenario : Scenario or path, optional
        Where to start (default: the file named by ``CMO_SIM_APP_SCENARIO``, else the
        typical voluntary dyad).
    contexts : dict, optional
        Initial values by field path (``{"leadership": 0.8}``); the URL's query string
        (``?leadership=0.8&form=merger``) adds to them. A value not allowed is reported in the
        page and left out.
    """
    router = solara.use_router()

    def start():
        if isinstance(scenario, Scenario):
            base, problem, label = scenario, None, scenario.name
        else:
            base, problem = base_scenario(scenario)
            label = str(scenario) if scenario is not None and problem is None else _TYPICAL
            if scenario is None and problem is None and base.name != "typical_voluntary_dyad":
                label = base.name
        wanted = {**(contexts or {}), **parse_query(router.search)}
        values: dict[str, Any] = {}
        if wanted:
            changed, bad = apply_values(base, wanted)
            if changed is None:
                problem = "; ".join(filter(None, [problem, f"{bad} (the values from the "
                                                  "address or keywords were not applied)"]))
            else:
                values = wanted
        return base, label, values, problem

    first = solara.use_memo(start, [])
    base, set_base = solara.use_state(first[0])
    base_label, set_base_label = solara.use_state(first[1])
    values, set_values = solara.use_state(first[2])
    message, set_message = solara.use_state(first[3])

    current, _ = apply_values(base, values)
    current = current or base
    key = current.to_yaml()

    def commit(path: str, value: Any):
        try:
            changed = {**values, path: value}
            result, problem = apply_values(base, changed)
            if result is None:
                set_message(problem)
            else:
                set_values(changed)
                set_message(None)
        except Exception as exc:  # never a traceback in the page
            set_message(_message(exc))

    def new_base(path, label):
        try:
            if path is None and label == _TYPICAL:
                loaded, problem = default_scenario(), None
            elif path is None:
                loaded, problem = None, "give the path of a scenario file to load"
            else:
                loaded, problem = base_scenario(path)
            if loaded is None or problem is not None:
                set_message(problem)
                return
            set_base(loaded)
            set_base_label(str(label))
            set_values({})
            set_message(None)
        except Exception as exc:
            set_message(_message(exc))

    solara.Title("cmo-sim explorer")
    solara.Style(".cmo-context { margin-bottom: 2px; } .cmo-slider { margin-top: 0; }")
    with solara.Sidebar():
        Controls(current, commit, new_base, base_label)
    with solara.Column(classes=["cmo-explorer"]):
        if message:
            solara.Error(message, classes=["cmo-message"])
        solara.Text(f"scenario: {current.name}; {current.n_members} members; form "
                    f"{current.form}; entry point {current.entry_point or 'none'}",
                    classes=["cmo-scenario-line"])
        with solara.Columns([1, 1.15]):
            with solara.Column(classes=["cmo-live"]):
                LivePartnership(current, key, set_message)
            with solara.Column(classes=["cmo-batch"]):
                BatchPanel(current, key)


@solara.component
def Page():
    """The page ``solara run cmo_sim.app.page`` serves."""
    Explorer()
