"""``panel serve`` entry point of the whatif page (:mod:`twinlab.apps.views`)."""

from twinlab.apps.views import whatif_page

whatif_page().servable()
