"""``python -m geodemand``: the ``geodemand`` command."""

from geodemand.cli import main

main()
