"""``python -m fortellis_nb``: the ``fortellis-nb`` command (see :mod:`fortellis_nb.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
