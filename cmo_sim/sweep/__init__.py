"""Scenario sweeps: designs, executors (local, processes, Dask), resumable stores.

>>> import cmo_sim
>>> base = cmo_sim.load_scenario("scenarios/voluntary_alliance.yaml")  # doctest: +SKIP
>>> sweep = cmo_sim.Sweep(base, vary={"history": (-0.8, 0.8), "ambition_bias": [-0.3, 0.3]},
...                       design="grid", samples=5, replicates=100)  # doctest: +SKIP
>>> results = cmo_sim.run_sweep(sweep, steps=120, store="out/trust.zarr")  # doctest: +SKIP
>>> results.aggregate()["dissolved"].sel(statistic="mean")  # doctest: +SKIP
"""

from cmo_sim.sweep._file import SweepFile, load_sweep, read_sweep_file
from cmo_sim.sweep._run import open_sweep, run_sweep
from cmo_sim.sweep.designs import DESIGNS, Factor, Sweep, scale, unit_design
from cmo_sim.sweep.results import SweepResults
from cmo_sim.sweep.store import StoreIntegrityError, StoreLockedError, StoreWarning

__all__ = [
    "DESIGNS",
    "Factor",
    "StoreIntegrityError",
    "StoreLockedError",
    "StoreWarning",
    "Sweep",
    "SweepFile",
    "SweepResults",
    "load_sweep",
    "open_sweep",
    "read_sweep_file",
    "run_sweep",
    "scale",
    "unit_design",
]
