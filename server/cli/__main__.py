"""`python -m spantally.server.cli`: the same as the `spantally` command."""

from .main import main

main()
