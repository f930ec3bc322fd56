"""``python -m eir.cli``: the ``eir`` command."""

import sys

from eir.cli import main

sys.exit(main())
