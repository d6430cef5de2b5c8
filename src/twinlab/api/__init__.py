"""The results service (``twinlab api``): an authenticated, rate-limited HTTP API.

FastAPI on uvicorn, OpenAPI 3.1 at ``/openapi.json``: the twin registry
(:mod:`~twinlab.api.registry_views`), simulation results (:mod:`~twinlab.api.results`),
simulation jobs on the Dask cluster (:mod:`~twinlab.api.jobs`), trial analyses and prognostic
scores (:mod:`~twinlab.api.trials_routes`), and the CDISC ODM export for EDC systems
(:mod:`~twinlab.api.odm_export`). Access (:mod:`~twinlab.api.auth`, :mod:`~twinlab.api.tokens`):
JWT bearer tokens verified against a JWKS, scopes onto the dashboards' access matrix, deny by
default, every request audited, rate limits per client. See :func:`create_app` and
:func:`twinlab.api.server.serve`.
"""

from twinlab.api.app import create_app
from twinlab.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
