"""``panel serve --setup`` script: deny-by-default page authorization on every route.

Run once by ``panel serve`` before the server starts (``twinlab serve`` passes it): every
per-page route (the page, ``autoload.js``, ``metadata``, the websocket) is guarded by
:func:`twinlab.apps.guard.install`, and Panel's ``authorize_callback`` checks the page
again; ``/`` is twinlab's landing page (:mod:`twinlab.apps.landing`: each role sees only
its pages). Every connection has a deadline for its request head and body and one
address a bounded number of connections (:mod:`twinlab.apps.connections`, the limits
``twinlab serve`` sets in the environment). With an OAuth provider, logins open twinlab's
server-side sessions and ``/logout`` is twinlab's (:mod:`twinlab.apps.oauth`).
"""

from __future__ import annotations

import threading

import panel as pn

from twinlab.apps import connections, oauth
from twinlab.apps.auth import authorize
from twinlab.apps.guard import install, install_headers, install_next_url_check
from twinlab.apps.landing import install_landing

connections.install()  # no slowloris: head deadline, per-address cap
install()
install_headers()  # no framing, sniffing or cross-origin referrers, on every answer
install_next_url_check()  # a login (either mode) never sends the user off site
install_landing()  # twinlab's landing page at / instead of Panel's index of every app
oauth.install()  # OAuth mode: server-side sessions, a logout that needs a POST and a token
pn.config.authorize_callback = authorize


def _warm() -> None:
    """Draw the default what-if once, in the background, so the first page opens fast.

    The sessions reuse its population, unit-dose profiles and compiled kernels (the
    what-if's keys name everything a value depends on: :mod:`twinlab.apps.memory`), for
    modelers and (disclosure-controlled) for viewers without patient-level access.
    """
    import logging
    import os
    import time

    from twinlab.apps.context import MIN_CELL_ENV, WARMUP_ACTOR, project_root
    from twinlab.apps.views import PATIENTS_ENV
    from twinlab.apps.whatif import WhatIf
    from twinlab.audit.log import acting_as

    log = logging.getLogger("twinlab.apps")
    t = time.perf_counter()
    try:
        n = int(os.environ.get(PATIENTS_ENV, "") or WhatIf.param.n_patients.default)
        k = max(1, int(os.environ.get(MIN_CELL_ENV, "5") or 5))
        with acting_as(WARMUP_ACTOR):  # audited as the server's own warm-up
            for min_cell, mode in ((None, "warn"), (k, "refuse")):
                w = WhatIf(
                    root=str(project_root()), n_patients=n, min_cell=min_cell, extrapolation=mode
                )
                w.bands("conc"), w.bands("effect"), w.attainment(), w.power(), w.provenance()
                _WARM.append(w)  # kept: its cache is what the sessions share
    except Exception as exc:  # a project without a twin still serves its other pages
        log.warning("what-if not warmed: %s", exc)
        return
    log.warning("twinlab: what-if warm (%d patients) in %.1f s", n, time.perf_counter() - t)


_WARM: list = []
threading.Thread(target=_warm, name="twinlab-warm", daemon=True).start()
