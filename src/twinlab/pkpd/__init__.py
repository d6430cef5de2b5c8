"""Population PK/PD: dosing events, NONMEM-style data, structural models, Bayesian fits.

Each structural model is written once against an array module and evaluated both by
PyTensor (fitting, with gradients) and by NumPy (simulation), so fit and simulation
can never disagree (DESIGN.md, "one model, two back ends").
"""

from __future__ import annotations

import warnings

from twinlab.pkpd.dataset import (
    NONMEM_COLUMNS,
    NonmemData,
    NonmemDataError,
    NonmemDataWarning,
    PopulationArrays,
    from_timeline,
    read_nonmem,
    write_nonmem,
)
from twinlab.pkpd.diagnostics import (
    convergence,
    convergence_table,
    gof,
    posterior_predictive,
    shrinkage,
    vpc,
)
from twinlab.pkpd.dosing import (
    ROUTES,
    Dose,
    DoseArrays,
    expand_doses,
    infusion,
    iv_bolus,
    oral,
    regimen,
    ss_doses_needed,
)
from twinlab.pkpd.fit import FitResult, fit, load_data, open_fit
from twinlab.pkpd.gate import GateBounds, GateCheck, GateResult
from twinlab.pkpd.models import MODELS, StructuralModel, get_model, model_names, predict
from twinlab.pkpd.nca import NCA_COLUMNS, NCAResult, nca, nca_table
from twinlab.pkpd.population import (
    Covariate,
    Parameter,
    PopulationSpec,
    ResidualError,
    build_model,
    simulated_study,
)
from twinlab.pkpd.registry import (
    NotValidatedError,
    RegisteredModel,
    find_version,
    list_models,
    load,
    model_card,
    record_validation,
    register,
)
from twinlab.pkpd.tables import format_parameter_table, parameter_table

# PyTensor warns (five lines, at its first C compilation) when pip-installed NumPy offers no
# BLAS it can link. twinlab's fits run in nutpie's Numba back end, which does not use it;
# only PyMC's fallback sampler (C back end) is slower for it. The warning is dropped so it
# does not alarm users on every fit, notebook and pipeline log.
warnings.filterwarnings(
    "ignore", message="PyTensor could not link to a BLAS installation", category=UserWarning
)

__all__ = [
    "MODELS",
    "NCA_COLUMNS",
    "NONMEM_COLUMNS",
    "ROUTES",
    "Covariate",
    "Dose",
    "DoseArrays",
    "FitResult",
    "GateBounds",
    "GateCheck",
    "GateResult",
    "NCAResult",
    "NonmemData",
    "NonmemDataError",
    "NonmemDataWarning",
    "NotValidatedError",
    "Parameter",
    "PopulationArrays",
    "PopulationSpec",
    "RegisteredModel",
    "ResidualError",
    "StructuralModel",
    "build_model",
    "convergence",
    "convergence_table",
    "expand_doses",
    "find_version",
    "fit",
    "format_parameter_table",
    "from_timeline",
    "get_model",
    "gof",
    "infusion",
    "iv_bolus",
    "list_models",
    "load",
    "load_data",
    "model_card",
    "model_names",
    "nca",
    "nca_table",
    "open_fit",
    "oral",
    "parameter_table",
    "posterior_predictive",
    "predict",
    "read_nonmem",
    "record_validation",
    "regimen",
    "register",
    "shrinkage",
    "simulated_study",
    "ss_doses_needed",
    "vpc",
    "write_nonmem",
]
