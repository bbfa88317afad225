"""`python -m union_stats.cli`: the command, as the `union-stats` script starts it."""

import sys

from union_stats.cli import main

sys.exit(main())
