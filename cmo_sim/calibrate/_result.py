"""What :func:`cmo_sim.calibrate.calibrate` returns: posterior, fit, predictive check, history."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cmo_sim.calibrate._priors import Prior, apply
from cmo_sim.calibrate._targets import Target
from cmo_sim.theory import Theory

__all__ = ["CalibrationResult", "weighted_quantile"]

#: Files whose presence marks a folder as a saved calibration, which ``save`` may replace.
MARKERS = ("settings.yaml", "summary.yaml")


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights`` (interpolated, midpoint rule)."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = (np.cumsum(weights) - 0.5 * weights) / weights.sum()
    return float(np.interp(q, cumulative, values))


def _plain(value: Any) -> Any:
    """Numpy scalars (and containers of them) as the Python values YAML writes."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class CalibrationResult:
    """The outcome of a calibration.

    Attributes
    ----------
    posterior : pandas.DataFrame
        The last generation's accepted parameter sets: one column per varied parameter (named
        as in ``vary``) and ``weight`` (importance weights, summing to 1).
    table : pandas.DataFrame
        Per target: ``scenario, measure, month, state, value, tolerance``, the ``simulated``
        value at the posterior median parameters (on the calibration's seed),
        ``within_tolerance`` and ``source``.
    predictive : pandas.DataFrame
        The posterior-predictive check per target: the 5/50/95% quantiles (``q05``, ``q50``,
        ``q95``) of the measure over weighted posterior draws simulated on fresh random
        numbers, and ``in_band`` (the target lies within the 5-95% band).
    history : pandas.DataFrame
        Per generation: ``epsilon``, ``accepted``, ``evaluations`` and ``acceptance``.
    targets, priors : tuple
        The targets and the uniform priors.
    theory : Theory
        The theory that was calibrated (before any change).
    settings : dict
        How it was run: theory name and hash, scenarios, priors, runs, steps, population,
        generations, seed, workers, method.
    predictive_draws : pandas.DataFrame
        The predictive draws: ``draw``, the parameters, ``target`` (index) and ``simulated``.
    """

    posterior: pd.DataFrame
    table: pd.DataFrame
    predictive: pd.DataFrame
    history: pd.DataFrame
    targets: tuple[Target, ...]
    priors: tuple[Prior, ...]
    theory: Theory
    settings: dict[str, Any] = field(default_factory=dict)
    predictive_draws: pd.DataFrame = field(default_factory=pd.DataFrame)

    # -- summaries ----------------------------------------------------------------------------
    @property
    def epsilon(self) -> float:
        """The last generation's epsilon: every accepted set's largest scaled miss is below it."""
        return float(self.history["epsilon"].iloc[-1])

    @property
    def converged(self) -> bool:
        """Whether the last generation's epsilon is at most 1 (every target within tolerance)."""
        return self.epsilon <= 1.0

    @property
    def parameters(self) -> pd.DataFrame:
        """Per parameter: prior bounds, posterior mean, median and 5% / 95% quantiles."""
        weights = self.posterior["weight"].to_numpy()
        rows = []
        for prior in self.priors:
            values = self.posterior[prior.name].to_numpy()
            rows.append({
                "parameter": prior.name, "prior_low": prior.low, "prior_high": prior.high,
                "default": self._default(prior),
                "mean": float(np.sum(values * weights) / weights.sum()),
                "median": weighted_quantile(values, weights, 0.5),
                "q05": weighted_quantile(values, weights, 0.05),
                "q95": weighted_quantile(values, weights, 0.95),
            })
        return pd.DataFrame(rows)

    def _default(self, prior: Prior) -> float:
        if prior.kind == "rule":
            return float(self.theory.rule(prior.key).weight)
        return float(self.theory.baseline[prior.key])

    def median(self) -> dict[str, float]:
        """The weighted posterior median of each parameter, keyed as in ``vary``."""
        frame = self.parameters
        return dict(zip(frame["parameter"], frame["median"].astype(float), strict=True))

    def best_theory(self) -> Theory:
        """The calibrated theory with every varied parameter at its posterior median."""
        return apply(self.theory, list(self.priors), self.median())

    def summary(self) -> dict[str, Any]:
        """The headline numbers as plain data (what ``summary.yaml`` holds)."""
        return _plain({
            "converged": self.converged,
            "epsilon": self.epsilon,
            "generations_run": int(len(self.history)),
            "evaluations": int(self.history["evaluations"].sum()),
            "targets_within_tolerance": int(self.table["within_tolerance"].sum()),
            "targets": int(len(self.table)),
            "targets_in_predictive_band": int(self.predictive["in_band"].sum()),
            "parameters": {row.pop("parameter"): row
                           for row in self.parameters.to_dict("records")},
        })

    # -- figures ------------------------------------------------------------------------------
    def plot_posterior(self, bins: int = 20):
        """Weighted histograms of each parameter's posterior over its prior range."""
        from cmo_sim.calibrate._plot import posterior_marginals

        return posterior_marginals(self, bins=bins)

    def plot_predictive(self):
        """Each target against its posterior-predictive 5-95% band and median."""
        from cmo_sim.calibrate._plot import predictive_check

        return predictive_check(self)

    def plot(self):
        """Both figures: ``(posterior marginals, predictive check)``."""
        return self.plot_posterior(), self.plot_predictive()

    # -- saving -------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, *, figures: bool = False) -> Path:
        """Write the result into folder ``directory``, whole or not at all.

        Tables as Parquet (``posterior``, ``parameters``, ``table``, ``predictive``,
        ``predictive_draws``, ``history``), ``settings.yaml`` (how it was run, with the
        targets), ``summary.yaml`` (the headline numbers), ``best_theory.yaml`` (the theory at
        the posterior median) and, with ``figures``, ``posterior.png`` and ``predictive.png``.
        Everything is written into a temporary folder beside ``directory`` that is moved into
        place when complete; an existing folder is replaced only then, and only if it is empty
        or holds a saved calibration. Nothing is pickled.
        """
        def write(folder: Path) -> None:
            tables = {"posterior": self.posterior, "parameters": self.parameters,
                      "table": self.table, "predictive": self.predictive,
                      "predictive_draws": self.predictive_draws, "history": self.history}
            for name, frame in tables.items():
                frame.to_parquet(folder / f"{name}.parquet", index=False)
            settings = {**self.settings,
                        "targets": [_plain(row) for row in self.table[
                            ["scenario", "measure", "month", "state", "value", "tolerance",
                             "source"]].to_dict("records")]}
            _write_yaml(folder / "settings.yaml", settings)
            _write_yaml(folder / "summary.yaml", self.summary())
            (folder / "best_theory.yaml").write_text(self.best_theory().to_yaml(),
                                                     encoding="utf-8")
            if figures:
                _save_figures(self, folder)

        return atomic_folder(Path(directory), write)

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.priors)
        return (f"CalibrationResult({names}; epsilon {self.epsilon:.3g}, "
                f"{int(self.table['within_tolerance'].sum())}/{len(self.table)} targets within "
                "tolerance)")


def _write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(_plain(data), sort_keys=False, width=100), encoding="utf-8")


def _save_figures(result: CalibrationResult, folder: Path) -> None:
    import matplotlib.pyplot as plt

    for name, fig in zip(("posterior", "predictive"), result.plot(), strict=True):
        try:
            fig.savefig(folder / f"{name}.png", dpi=110)
        finally:
            plt.close(fig)


def atomic_folder(path: Path, write: Callable[[Path], None]) -> Path:
    """Fill a temporary folder beside ``path`` with ``write``, then move it to ``path``.

    An interruption at any point (an error, Ctrl-C) leaves ``path`` as it was (absent, or the
    previous folder) and removes the temporary folders. An existing folder is replaced only
    when it is empty or holds a saved calibration (:data:`MARKERS`).
    """
    path = Path(path).absolute()
    if os.path.lexists(path):
        if not path.is_dir() or path.is_symlink():
            raise FileExistsError(f"{path} exists and is not a folder")
        if any(path.iterdir()) and not all((path / name).is_file() for name in MARKERS):
            raise FileExistsError(f"{path} is a folder that does not hold a saved calibration; "
                                  "not replacing it (give a new folder)")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    old = None
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)  # a folder as mkdir would make it, not mkdtemp's 0700
        write(staging)
        if os.path.lexists(path):
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "previous")
        try:
            os.replace(staging, path)
        except BaseException:
            if old is not None:
                os.replace(old / "previous", path)
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path
