"""``python -m agents ARGS`` runs ``parity-cot ARGS``."""

import sys

from .cli import main

sys.exit(main())
