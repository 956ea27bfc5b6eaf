"""``python -m sysvshm``: the command line (currently the ``demo`` subcommand)."""
import sys

from sysvshm._cli import main

if __name__ == "__main__":
    sys.exit(main())
