"""One module per ``geodemand`` subcommand, each defining a click command named ``command``
(discovered by :mod:`geodemand.cli`, not listed by hand)."""
