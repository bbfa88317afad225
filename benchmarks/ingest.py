"""Benchmark of the ingest stages: now `union-stats bench` (src/union_stats/devtools/bench.py); this is a thin wrapper.

    uv run python benchmarks/ingest.py --units 1000 --out bench.json

takes the same options as `union-stats bench` (`--units` a comma list, `--out FILE.csv|.json`, `--work-dir DIR`,
`--seed S`) and prints the same tables: the floor, each stage, the whole run in a fresh process, a no-op rerun and
`validate` of one file, against the bare start-up baselines.
"""

from __future__ import annotations

import sys

from union_stats import cli

if __name__ == "__main__":
    sys.exit(cli.main(["bench", *sys.argv[1:]]))
