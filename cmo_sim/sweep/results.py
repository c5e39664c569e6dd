"""SweepResults: per-run summaries with the design values, and per-design-point aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cmo_sim.sweep.designs import Sweep

__all__ = ["SweepResults"]

_KEYS = ("run", "point", "replicate")


def _statistic_names(quantiles: Sequence[float]) -> list[str]:
    return ["mean"] + [f"q{round(100 * q):02d}" for q in quantiles]


class SweepResults:
    """What :func:`cmo_sim.run_sweep` and :func:`cmo_sim.open_sweep` return.

    Parameters
    ----------
    sweep : Sweep
        The sweep that was run.
    summary : pandas.DataFrame
        One row per run with at least ``point`` and the outcome columns; the design values are
        joined as columns (one per factor path) if absent.
    trajectories : xarray.Dataset, optional
        Per-run trajectories (dims ``run``, ``step``, ``member``; coordinate ``point``). Those
        of a sweep read from a Zarr store are Dask arrays over the store's chunks, read when
        used (``.load()`` reads them all).
    meta : dict, optional
        steps, seed, theory, record, chunking and the store.

    Attributes
    ----------
    summary : pandas.DataFrame
        Tidy, one row per run: ``run``, ``point``, ``replicate``, one column per factor path
        (e.g. ``shared_vision``, ``members[1].size``), then the outcomes of
        :data:`cmo_sim.results.SUMMARY_COLUMNS`.
    """

    def __init__(
        self,
        sweep: Sweep,
        summary: pd.DataFrame,
        trajectories: xr.Dataset | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(sweep, Sweep):
            raise ValueError(f"sweep: {sweep!r} is not a Sweep")
        if not isinstance(summary, pd.DataFrame) or "point" not in summary:
            raise ValueError("summary: need a DataFrame with a 'point' column")
        point = summary["point"].to_numpy()
        if len(point) and (point.min() < 0 or point.max() >= sweep.n_points):
            raise ValueError(
                f"summary: point values must lie in 0 .. {sweep.n_points - 1} "
                f"(got {point.min()} .. {point.max()})"
            )
        missing = [p for p in sweep.paths if p not in summary]
        if missing:
            summary = summary.copy()
            at = list(summary.columns).index("point") + (2 if "replicate" in summary else 1)
            for offset, path in enumerate(missing):
                summary.insert(at + offset, path, sweep.values[path].to_numpy()[point])
        self.sweep = sweep
        self.summary = summary
        self.trajectories = trajectories
        self.meta = dict(meta or {})

    def __repr__(self) -> str:
        traj = ", trajectories" if self.trajectories is not None else ""
        return (
            f"SweepResults({self.sweep.name!r}, {self.sweep.n_points} points x "
            f"{self.sweep.replicates} replicates, {self.n_runs} runs{traj})"
        )

    # -- shape ------------------------------------------------------------------------------------
    @property
    def n_runs(self) -> int:
        """Number of runs in the summary."""
        return len(self.summary)

    @property
    def design(self) -> pd.DataFrame:
        """The design values, one row per point (index ``point``)."""
        return self.sweep.values

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The numeric outcome columns of the summary."""
        skip = set(_KEYS) | set(self.sweep.paths) | {"scenario", "cause", "n_members"}
        return tuple(
            c for c in self.summary.columns
            if c not in skip and (pd.api.types.is_numeric_dtype(self.summary[c])
                                  or pd.api.types.is_bool_dtype(self.summary[c]))
        )

    def outcome_values(self, outcome: str) -> pd.Series:
        """One outcome per run as floats (``dissolved_at`` is NaN for runs that lasted)."""
        if not isinstance(outcome, str) or outcome not in self.outcomes:
            raise ValueError(
                f"outcome: {outcome!r} is not allowed (allowed: {', '.join(self.outcomes)})"
            )
        return self.summary[outcome].astype(np.float64)

    def point_means(self, outcome: str) -> np.ndarray:
        """Mean of ``outcome`` over the replicates of each design point, ``[points]``."""
        means = self.outcome_values(outcome).groupby(self.summary["point"].to_numpy()).mean()
        return means.reindex(range(self.sweep.n_points)).to_numpy(dtype=np.float64)

    # -- aggregates -------------------------------------------------------------------------------
    def aggregate(self, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.Dataset:
        """Per-design-point mean and quantiles of every outcome (and trajectory, if recorded).

        Parameters
        ----------
        quantiles : sequence of float in [0, 1]

        Returns
        -------
        xarray.Dataset
            Dims ``point`` and ``statistic`` (``mean``, ``q05``, ``q50``, ``q95``); trajectory
            variables ``traj_<name>`` add ``step`` (and ``member``). Coordinates: the factor
            values along ``point`` and ``runs``, the number of runs of each point.

        Trajectories are aggregated a few design points at a time (about
        ``AGGREGATE_BLOCK_BYTES`` of values, and at least one point's runs), so trajectories
        read from a store need not fit in memory.
        """
        quantiles = [float(q) for q in quantiles]
        if any(not 0.0 <= q <= 1.0 for q in quantiles):
            raise ValueError(f"quantiles: {quantiles!r} is not allowed (each in [0, 1])")
        names = _statistic_names(quantiles)
        points = np.arange(self.sweep.n_points)
        group = self.summary["point"].to_numpy()
        data = {}
        for outcome in self.outcomes:
            values = self.outcome_values(outcome).groupby(group)
            table = pd.DataFrame({"mean": values.mean()})
            for q, name in zip(quantiles, names[1:], strict=True):
                table[name] = values.quantile(q)
            data[outcome] = (("point", "statistic"), table.reindex(points)[names].to_numpy())
        counts = np.bincount(group, minlength=self.sweep.n_points)
        coords = {
            "point": points,
            "statistic": names,
            "runs": ("point", counts),
            **{path: ("point", self.sweep.values[path].to_numpy()) for path in self.sweep.paths},
        }
        ds = xr.Dataset(data, coords=coords)
        if self.trajectories is not None:
            ds = xr.merge([ds, self._aggregate_trajectories(quantiles, names)], join="left")
        ds.attrs["sweep"] = self.sweep.name
        return ds

    def _aggregate_trajectories(self, quantiles: list[float], names: list[str]) -> xr.Dataset:
        traj = self.trajectories.drop_vars(
            [c for c in ("replicate", "scenario") if c in self.trajectories.coords]
        )
        parts = [_aggregate_block(traj.isel(run=block), quantiles, names)
                 for block in _point_blocks(traj)]
        out = parts[0] if len(parts) == 1 else xr.concat(parts, dim="point")
        out = out.reindex(point=np.arange(self.sweep.n_points))
        return out.rename({name: f"traj_{name}" for name in out.data_vars})


#: Trajectory values (as float64) aggregated at a time: runs of whole design points.
AGGREGATE_BLOCK_BYTES = 128 * 2**20


def _point_blocks(traj: xr.Dataset, limit: int | None = None) -> list[slice]:
    """Consecutive runs of whole design points, about ``limit`` bytes of float64 values each.

    Runs are in point order (each point's replicates one after another), so a point's runs
    are consecutive; trajectories in another order are aggregated in one block.
    """
    limit = AGGREGATE_BLOCK_BYTES if limit is None else limit
    point = np.asarray(traj["point"].values)
    n = len(point)
    if n == 0 or np.any(np.diff(point) < 0):
        return [slice(0, n)]
    per_run = sum(8 * int(np.prod([traj.sizes[d] for d in traj[v].dims if d != "run"]))
                  for v in traj.data_vars)
    runs = max(1, limit // max(per_run, 1))
    starts = np.flatnonzero(np.diff(point)) + 1  # where each point after the first begins
    blocks, begin = [], 0
    while begin < n:
        at = np.searchsorted(starts, begin + runs)
        end = int(starts[at]) if at < len(starts) else n
        blocks.append(slice(begin, end))
        begin = end
    return blocks


def _aggregate_block(traj: xr.Dataset, quantiles: list[float], names: list[str]
                     ) -> xr.Dataset:
    """Mean and quantiles over the runs of each design point in ``traj`` (read into memory)."""
    traj = traj.astype(np.float64).load()
    grouped = traj.groupby("point")
    parts = [grouped.mean("run").expand_dims(statistic=["mean"])]
    if quantiles:
        q = grouped.quantile(quantiles, dim="run").rename(quantile="statistic")
        parts.append(q.assign_coords(statistic=names[1:]))
    return xr.concat(parts, dim="statistic").transpose("point", "statistic", ...)
