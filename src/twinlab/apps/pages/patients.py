"""``panel serve`` entry point of the patients page (:mod:`twinlab.apps.views`)."""

from twinlab.apps.views import patients_page

patients_page().servable()
