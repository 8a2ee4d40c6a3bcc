"""``python -m leaksleuth`` runs the CLI."""

import sys

from leaksleuth.cli import main

sys.exit(main())
