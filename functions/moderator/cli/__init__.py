"""The operator's command line: `python -m moderator --help`."""
