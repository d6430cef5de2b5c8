"""``python -m twinlab.cli ...``: the ``twinlab`` command without the console script."""

from twinlab.cli import main

main()
