"""Results of a simulation: a tidy per-run summary and, when recorded, labelled trajectories."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cmo_sim.core.ends import END_STATES, regime
from cmo_sim.core.mechanisms import msum
from cmo_sim.core.runner import MEMBER_VARIABLES, TRAJECTORY_VARIABLES, RunOutput
from cmo_sim.core.state import CAUSE_NAMES, COUNTERS, TRUST_ACCOUNT
from cmo_sim.params import Params
from cmo_sim.scenario import FORMS

__all__ = ["END_STATES", "SUMMARY_COLUMNS", "SUMMARY_FIELDS", "Results", "open_results"]

#: Columns of ``Results.summary`` in order.
SUMMARY_COLUMNS = (
    "run", "scenario", "replicate", "n_members", "form", "end_state", "result", "ended_at",
    "dissolved", "dissolved_at", "cause", "performance", "synergy_mean", "synergy_final",
    "trust_final", "faith_final", "members_final", *COUNTERS, *TRUST_ACCOUNT,
)


def summarise(params: Params, output: RunOutput, run_offset: int = 0) -> pd.DataFrame:
    """The per-run summary table of one batch."""
    final = output.final
    n = params.n_members
    # Members in place at the end; for dissolved runs, those in place just before dissolution.
    at_end = final.active | (
        final.dissolved[:, None] & (final.exit_step == final.dissolved_at[:, None])
    )
    w = at_end.astype(np.float64)
    pair_w = w[:, :, None] * w[:, None, :] * (1.0 - np.eye(n))
    pairs = msum(msum(pair_w))
    trust_final = msum(msum(final.trust * pair_w)) / np.maximum(pairs, 1.0)
    faith_final = msum(final.faith * w) / np.maximum(msum(w), 1.0)
    names = np.array(params.scenario_names, dtype=object)
    frame = pd.DataFrame(
        {
            "run": np.arange(params.n_runs, dtype=np.int64) + run_offset,
            "scenario": names[params.scenario],
            "replicate": params.replicate,
            "n_members": params.present.sum(axis=1).astype(np.int64),
            "form": np.array(FORMS, dtype=object)[params.form],
            "end_state": np.array(END_STATES, dtype=object)[
                regime(final.dissolved, final.completed, final.synergy_recent,
                       final.success_recent, output.steps)],
            "result": np.where(final.completed,
                               np.where(final.achieved, "achieved", "not_achieved"), ""
                               ).astype(object),
            # Never ended is a missing value (NaN), like dissolved_at.
            "ended_at": np.where(final.ended, final.ended_at.astype(np.float64), np.nan),
            "dissolved": final.dissolved,
            # Never dissolved is a missing value (NaN), so a mean over the column is the mean
            # month of dissolution of the runs that dissolved.
            "dissolved_at": np.where(final.dissolved, final.dissolved_at.astype(np.float64),
                                     np.nan),
            "cause": np.array(CAUSE_NAMES, dtype=object)[final.cause],
            "performance": final.performance,
            "synergy_mean": output.synergy_mean,
            "synergy_final": final.synergy,
            "trust_final": trust_final,
            "faith_final": faith_final,
            "members_final": final.active.sum(axis=1).astype(np.int64),
            **{name: getattr(final, name) for name in COUNTERS},
            **{name: getattr(final, name) for name in TRUST_ACCOUNT},
        }
    )
    for column in ("scenario", "form", "end_state", "result"):
        frame[column] = frame[column].astype(str)
    frame["cause"] = frame["cause"].astype(str)
    return frame


def trajectories_dataset(
    params: Params, output: RunOutput, run_offset: int = 0, n_members: int | None = None,
    dtype: str | np.dtype | None = None,
) -> xr.Dataset:
    """The recorded trajectories of one batch as a Dataset with dims run, step(, member).

    ``dtype`` (float64 or float32) is the type of the float variables (default: as recorded).
    """
    assert output.trajectories is not None and output.steps_recorded is not None
    return trajectory_arrays_dataset(params, output.trajectories, output.steps_recorded,
                                     run_offset=run_offset, n_members=n_members, dtype=dtype)


def trajectory_arrays(
    trajectories: dict[str, np.ndarray], width: int, dtype: str | np.dtype | None = None,
) -> dict[str, np.ndarray]:
    """Recorded arrays ``[runs, steps(, members)]`` padded to ``width`` members.

    Float arrays are cast to ``dtype`` when given (arrays already so are not copied).
    """
    out = {}
    for name, values in trajectories.items():
        if dtype is not None and values.dtype.kind == "f":
            values = values.astype(dtype, copy=False)
        if name in MEMBER_VARIABLES and values.shape[2] < width:
            fill = False if values.dtype == bool else np.nan
            pad = np.full(values.shape[:2] + (width - values.shape[2],), fill, values.dtype)
            values = np.concatenate([values, pad], axis=2)
        out[name] = values
    return out


def trajectory_arrays_dataset(
    params: Params, trajectories: dict[str, np.ndarray], steps_recorded: np.ndarray,
    run_offset: int = 0, n_members: int | None = None, dtype: str | np.dtype | None = None,
) -> xr.Dataset:
    """Recorded arrays ``[runs, steps(, members)]`` of the runs of ``params`` as a Dataset."""
    width = n_members or params.n_members
    data = {
        name: (("run", "step", "member") if name in MEMBER_VARIABLES else ("run", "step"),
               values)
        for name, values in trajectory_arrays(trajectories, width, dtype).items()
    }
    runs = np.arange(params.n_runs, dtype=np.int64) + run_offset
    return xr.Dataset(
        data,
        coords={
            "run": runs,
            "step": steps_recorded,
            "member": np.arange(width, dtype=np.int64),
            "scenario": ("run", np.array(params.scenario_names, dtype=object)[params.scenario]
                         .astype(str)),
            "replicate": ("run", params.replicate),
        },
    )


#: Meaning and unit of every per-run summary column (and of a sweep's ``point``), written into
#: Parquet field metadata and Zarr attributes so other tools can read them.
SUMMARY_FIELDS: dict[str, tuple[str, str]] = {
    "run": ("run index within the results", "1"),
    "point": ("design point of a sweep", "1"),
    "scenario": ("scenario name", ""),
    "replicate": ("replicate index: replicate r of every scenario or point shares its random "
                  "numbers", "1"),
    "n_members": ("member organisations at the start", "count"),
    "form": ("the partnership's form (how it can end)", ""),
    "end_state": ("the run's end state at the last month: thriving, struggling, dissolved or "
                  "completed (docs/model.md, Forms and end states)", ""),
    "result": ("a completed fixed-term arrangement's result: achieved or not_achieved; empty "
               "otherwise", ""),
    "ended_at": ("month (0-based step) in which the run dissolved or completed; missing (NaN) "
                 "if it is still in place", "month"),
    "dissolved": ("the partnership dissolved within the simulated months", "bool"),
    "dissolved_at": ("month (0-based step) in which the partnership dissolved; missing (NaN) if "
                     "it did not", "month"),
    "cause": ("what dissolved it: trust (inter-organisational) or faith (intra-organisational) "
              "collapse; none", ""),
    "performance": ("cumulative achievement discounted by inertia", "ambition units"),
    "synergy_mean": ("mean synergy over the months the partnership was in place", "[0, 1]"),
    "synergy_final": ("synergy at the end (or when it dissolved)", "[0, 1]"),
    "trust_final": ("mean trust between the members in place at the end", "[0, 1]"),
    "faith_final": ("mean faith of the members in place at the end", "[0, 1]"),
    "members_final": ("members in place at the end (before dissolution, if it dissolved)",
                      "count"),
    "conflicts": ("conflicts that broke out", "count"),
    "constructive": ("conflicts resolved constructively", "count"),
    "destructive": ("conflicts resolved destructively", "count"),
    "successes": ("months whose task succeeded", "count"),
    "failures": ("months whose task failed", "count"),
    "dominations": ("months in which a member felt dominated", "count"),
    "exits": ("members that left", "count"),
    "turnovers": ("changes of a member's senior leaders or partnership lead", "count"),
    "joins": ("organisations that joined a network in a place a member had left", "count"),
    **{f"trust_{way}_{part}": (
        f"trust {way} through {what}, cumulated over the months: each month's change of every "
        "ordered pair's trust split between its parts in proportion to their deltas, averaged "
        "over the pairs in place" + (" (<= 0)" if way == "lost" else " (>= 0)"),
        "trust (mean over pairs)")
       for way in ("lost", "gained")
       for part, what in (("conflict", "conflict resolutions"),
                          ("task", "the task's outcome (rules reading task success or failure)"),
                          ("other", "every other part (leadership, communication, power, ...)"))},
}

_ATTRS = {
    "trust": "mean trust each member gives to the other original members [0, 1]",
    "faith": "each member's faith in the collaboration [0, 1]",
    "intra_conflict": "conflict inside each member [0, 1]",
    "active": "member still in the partnership",
    "synergy": "partnership synergy [0, 1]",
    "inertia": "collaborative inertia, 1 - synergy [0, 1]",
    "experience": "how far the members have learned to work together [0, 1]",
    "ambition": "aim level agreed this month [0, 1]",
    "achievement": "value achieved this month (ambition if the task succeeded)",
    "performance": "cumulative achievement discounted by inertia",
    "conflict_events": "conflicts that broke out this month (count)",
    "vision": "shared vision [0, 1]",
    "regime": "end state code: 0 thriving, 1 struggling, 2 dissolved, 3 completed",
}


@dataclass(frozen=True)
class Results:
    """What :func:`cmo_sim.simulate` returns.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per run (columns: :data:`SUMMARY_COLUMNS`).
    trajectories : xarray.Dataset or None
        When recorded: dims ``run``, ``step`` (months; 0 is the initial state) and ``member``.
    meta : dict
        seed, steps, engine, theory name and the scenarios as YAML.
    """

    summary: pd.DataFrame
    trajectories: xr.Dataset | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.trajectories is not None:
            for name, text in _ATTRS.items():
                if name in self.trajectories:
                    self.trajectories[name].attrs.setdefault("description", text)
            if "regime" in self.trajectories:
                attrs = self.trajectories["regime"].attrs
                attrs.setdefault("flag_values", list(range(len(END_STATES))))
                attrs.setdefault("flag_meanings", " ".join(END_STATES))
            self.trajectories["step"].attrs.setdefault("units", "months")

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return len(self.summary)

    def dissolution_rate(self, by: str = "scenario") -> pd.Series:
        """Share of runs dissolved, per ``by`` group."""
        return self.summary.groupby(by, sort=False)["dissolved"].mean()

    def end_states(self, by: str = "scenario") -> pd.DataFrame:
        """Share of runs in each end state at the last month, per ``by`` group.

        Columns are :data:`END_STATES` (each row sums to 1).
        """
        shares = pd.crosstab(self.summary[by], self.summary["end_state"], normalize="index")
        order = list(dict.fromkeys(self.summary[by]))
        return shares.reindex(index=order, columns=list(END_STATES), fill_value=0.0)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write ``summary.parquet`` (and tidy trajectories) into directory ``path``.

        Trajectories go to ``trajectories.parquet`` (one row per run and step) and
        ``members.parquet`` (one row per run, step and member).

        The directory is written whole or not at all: an existing one is replaced only after
        the new one is complete.
        """
        def write(tmp: Path) -> None:
            self.summary.to_parquet(tmp / "summary.parquet", index=False)
            if self.trajectories is not None:
                traj = self.trajectories.drop_vars(["scenario", "replicate"])
                per_member = [v for v in traj.data_vars if "member" in traj[v].dims]
                per_run = [v for v in traj.data_vars if "member" not in traj[v].dims]
                traj[per_run].to_dataframe().reset_index().to_parquet(
                    tmp / "trajectories.parquet", index=False)
                traj[per_member].to_dataframe().reset_index().to_parquet(
                    tmp / "members.parquet", index=False)
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str))

        return atomic_dir(Path(path), write)

    def to_zarr(self, path: str | os.PathLike) -> Path:
        """Write summary and trajectories as one Zarr store (dims run, step, member)."""
        def write(tmp: Path) -> None:
            self.to_dataset().to_zarr(tmp / "store.zarr", mode="w", consolidated=False)

        out = Path(path)
        return atomic_dir(out, write, inner="store.zarr")

    def to_dataset(self) -> xr.Dataset:
        """Summary (dim ``run``) and trajectories (as ``traj_<name>``), metadata in attrs."""
        summary = self.summary.set_index("run").to_xarray()
        for column in ("scenario", "cause"):
            summary[column] = summary[column].astype(object)  # variable-length strings
        if self.trajectories is not None:
            traj = self.trajectories.drop_vars(["scenario", "replicate"])
            traj = traj.rename({name: f"traj_{name}" for name in traj.data_vars})
            summary = xr.merge([summary, traj], join="outer", compat="no_conflicts")
        summary.attrs["cmo_sim"] = json.dumps(self.meta, default=str)
        return summary


def atomic_dir(path: Path, write, inner: str | None = None) -> Path:
    """Write into a temporary sibling, then move it into place."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        source = tmp / inner if inner else tmp
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(source, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def open_results(path: str | os.PathLike, *, lazy: bool = False) -> Results:
    """Re-open Results written by :meth:`Results.to_parquet` or :meth:`Results.to_zarr`.

    ``lazy`` (Zarr stores): load the summary only, and read the trajectories from the store
    as they are used (a store larger than memory can be opened so).
    """
    path = Path(path)
    if (path / "summary.parquet").is_file():
        summary = pd.read_parquet(path / "summary.parquet")
        traj = None
        if (path / "trajectories.parquet").is_file():
            runs = pd.read_parquet(path / "trajectories.parquet").set_index(["run", "step"])
            members = pd.read_parquet(path / "members.parquet")
            traj = xr.merge([runs.to_xarray(),
                             members.set_index(["run", "step", "member"]).to_xarray()])
        meta_file = path / "meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        return Results(summary, _attach_coords(traj, summary), meta)
    if path.is_dir():
        return open_zarr_results(path, lazy=lazy)
    raise FileNotFoundError(f"{path}: no results written by cmo-sim here")


def open_zarr_results(path: Path, *, lazy: bool, summary: pd.DataFrame | None = None
                      ) -> Results:
    """Results of a Zarr store; ``summary``: the store's summary, already in memory."""
    ds = xr.open_zarr(path, consolidated=False, chunks=None)
    if not lazy:
        ds = ds.load()
    meta = json.loads(ds.attrs.get("cmo_sim", "{}"))
    if summary is None:
        # In the order they were written (a Zarr group lists its arrays by name).
        summary_vars = _in_order([v for v in ds.data_vars if ds[v].dims == ("run",)],
                                 SUMMARY_COLUMNS)
        summary = ds[summary_vars].to_dataframe().reset_index()
    traj_vars = _in_order([v for v in ds.data_vars if str(v).startswith("traj_")],
                          [f"traj_{name}" for name in TRAJECTORY_VARIABLES])
    traj = (
        ds[traj_vars].rename({v: str(v).removeprefix("traj_") for v in traj_vars})
        if traj_vars else None
    )
    return Results(summary, _attach_coords(traj, summary), meta)


def _in_order(names: list, order: Sequence[str]) -> list:
    """``names`` in ``order``, then those not in it."""
    rank = {name: k for k, name in enumerate(order)}
    return sorted(names, key=lambda name: (rank.get(str(name), len(rank)), str(name)))


def _attach_coords(traj: xr.Dataset | None, summary: pd.DataFrame) -> xr.Dataset | None:
    if traj is None:
        return None
    by_run = summary.set_index("run")
    traj = traj.assign_coords(
        scenario=("run", by_run.loc[traj["run"].values, "scenario"].astype(str).to_numpy()),
        replicate=("run", by_run.loc[traj["run"].values, "replicate"].to_numpy()),
    )
    if "active" in traj and traj["active"].dtype != bool:
        traj["active"] = traj["active"].astype(bool)
    return traj


def concat_results(parts: Sequence[Results], meta: dict[str, Any]) -> Results:
    """Join the Results of consecutive chunks."""
    summary = pd.concat([p.summary for p in parts], ignore_index=True)
    trajs = [p.trajectories for p in parts if p.trajectories is not None]
    traj = xr.concat(trajs, dim="run") if trajs else None
    return Results(summary, traj, meta)
