"""`python -m moderator`: the operator's command line."""

from .cli.main import main

main()
