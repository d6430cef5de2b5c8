"""Population PK/PD: dosing events, NONMEM-style data, structural models, Bayesian fits.

Each structural model is written once against an array module and evaluated both by
PyTensor (fitting, with gradients) and by NumPy (simulation), so fit and simulation
can never disagree (DESIGN.md, "one model, two back ends").
"""

from __future__ import annotations

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
from twinlab.pkpd.models import MODELS, StructuralModel, get_model, model_names, simulate

__all__ = [
    "MODELS",
    "NONMEM_COLUMNS",
    "ROUTES",
    "Dose",
    "DoseArrays",
    "NonmemData",
    "NonmemDataError",
    "NonmemDataWarning",
    "PopulationArrays",
    "StructuralModel",
    "expand_doses",
    "from_timeline",
    "get_model",
    "infusion",
    "iv_bolus",
    "model_names",
    "oral",
    "read_nonmem",
    "regimen",
    "simulate",
    "ss_doses_needed",
    "write_nonmem",
]
