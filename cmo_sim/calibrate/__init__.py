"""Calibration: fit baseline constants and rule weights to observed targets by ABC-SMC.

``calibrate(theory, scenarios, targets, vary={...})`` returns a :class:`CalibrationResult`
(posterior, fit per target, posterior-predictive check, history). Needs pyabc:
``pip install 'cmo-sim[calibrate]'``; pyabc is imported only when a calibration runs.
docs/calibration.md describes the targets, the measures and the method.
"""

from cmo_sim.calibrate._result import CalibrationResult
from cmo_sim.calibrate._run import calibrate
from cmo_sim.calibrate._targets import END_STATES, MEASURES, CalibrationError, Target, load_targets

__all__ = ["END_STATES", "MEASURES", "CalibrationError", "CalibrationResult", "Target",
           "calibrate", "load_targets"]
