"""``panel serve`` entry point of the reviewer page (:mod:`twinlab.apps.views`)."""

from twinlab.apps.views import reviewer_page

reviewer_page().servable()
