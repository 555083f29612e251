"""``python -m funcnet``: the command line (see :mod:`funcnet.cli`); no subcommand means ``train``."""

from .cli import main

if __name__ == "__main__":  # pytest's doctest collection imports this module: do not run then
    raise SystemExit(main())
