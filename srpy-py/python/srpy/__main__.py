"""``python -m srpy``: the ``srpy`` command (see :mod:`srpy._cli`)."""

import sys

from srpy._cli import main

if __name__ == "__main__":
    sys.exit(main())
