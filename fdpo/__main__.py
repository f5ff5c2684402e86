"""``python -m fdpo``: the ``fdpo`` command."""

import sys

from fdpo.cli import main

sys.exit(main())
