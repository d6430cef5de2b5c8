"""Panel apps: the what-if explorer, the cohort dashboard and the reviewer view.

The domain objects carry no UI code and work in a notebook: :class:`WhatIf` (a
``param.Parameterized`` what-if state with answers as data) and the summaries. The
Panel viewers live in :mod:`twinlab.apps.views` (imported on demand: Panel is heavy),
``twinlab serve`` (:mod:`twinlab.apps.cli`) serves them behind a login with roles.
"""

from __future__ import annotations

from twinlab.apps.auth import (
    PAGES,
    add_user,
    authenticate,
    authorize,
    credentials_path,
    hash_password,
    load_credentials,
    verify_password,
)
from twinlab.apps.stats import suppress_small_cells, wilson
from twinlab.apps.twin import (
    TwinModel,
    available_models,
    open_cohort,
    open_twin,
    registered_models,
)
from twinlab.apps.whatif import SCENARIOS, VirtualPatients, WhatIf

__all__ = [
    "PAGES",
    "SCENARIOS",
    "TwinModel",
    "VirtualPatients",
    "WhatIf",
    "add_user",
    "authenticate",
    "authorize",
    "available_models",
    "credentials_path",
    "hash_password",
    "load_credentials",
    "open_cohort",
    "open_twin",
    "registered_models",
    "suppress_small_cells",
    "verify_password",
    "wilson",
]
