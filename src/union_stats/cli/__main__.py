"""`python -m union_stats.cli`: the command, as the `union-stats` script starts it."""

from union_stats.cli import script

script()
