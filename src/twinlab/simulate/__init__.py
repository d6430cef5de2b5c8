"""The simulation engine: virtual patients through the arms of a study, chunked on Dask.

Examples
--------
>>> from twinlab.virtual import KnownPopulation
>>> from twinlab.simulate import Arm, Regimen, Scenario, run
>>> pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": 5.0, "v": 50.0}, n=3)
>>> arms = [Arm("placebo", None), Arm("100 mg QD", Regimen(100.0, n_doses=7))]
>>> res = run(Scenario("demo", pop, arms, times=range(0, 169, 4), seed=42))
>>> res.dataset["conc"].dims
('draw', 'patient', 'arm', 'time')
>>> res.query("SELECT arm, n FROM arms ORDER BY arm").values.tolist()
[['100 mg QD', 3], ['placebo', 3]]
"""

from __future__ import annotations

from twinlab.simulate.engine import BACKENDS, run, simulate_chunk
from twinlab.simulate.exposure import ODE_TOLERANCE, exponential_exposure, ode_exposure
from twinlab.simulate.kernels import KERNEL_MODELS, superpose, superpose_model
from twinlab.simulate.metrics import EXPOSURE, PD, arm_summary, exposure_metrics, pd_endpoints
from twinlab.simulate.regimens import ROUTES, Arm, Regimen, Titration
from twinlab.simulate.result import SimulationResult, open_result, patients_path, read_patients
from twinlab.simulate.scenario import Scenario

__all__ = [
    "BACKENDS",
    "EXPOSURE",
    "KERNEL_MODELS",
    "ODE_TOLERANCE",
    "PD",
    "ROUTES",
    "Arm",
    "Regimen",
    "Scenario",
    "SimulationResult",
    "Titration",
    "arm_summary",
    "exponential_exposure",
    "exposure_metrics",
    "ode_exposure",
    "open_result",
    "patients_path",
    "pd_endpoints",
    "read_patients",
    "run",
    "simulate_chunk",
    "superpose",
    "superpose_model",
]
