"""``panel serve --setup`` script: install the deny-by-default page authorization.

Run once by ``panel serve`` before the server starts (``twinlab serve`` passes it).
"""

from __future__ import annotations

import panel as pn

from twinlab.apps.auth import authorize

pn.config.authorize_callback = authorize
