"""``python -m geodemand.cli``: the ``geodemand`` command."""

from geodemand.cli import main

main()
