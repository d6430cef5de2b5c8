"""``panel serve --setup`` script: deny-by-default page authorization on every route.

Run once by ``panel serve`` before the server starts (``twinlab serve`` passes it): every
per-page route (the page, ``autoload.js``, ``metadata``, the websocket) is guarded by
:func:`twinlab.apps.guard.install`, and Panel's ``authorize_callback`` checks the page
again; ``/`` is twinlab's landing page (:mod:`twinlab.apps.landing`: each role sees only
its pages).
"""

from __future__ import annotations

import panel as pn

from twinlab.apps.auth import authorize
from twinlab.apps.guard import install
from twinlab.apps.landing import install_landing

install()
install_landing()  # twinlab's landing page at / instead of Panel's index of every app
pn.config.authorize_callback = authorize
