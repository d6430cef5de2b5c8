"""``panel serve`` entry point of the cohort page (:mod:`twinlab.apps.views`)."""

from twinlab.apps.views import cohort_page

cohort_page().servable()
