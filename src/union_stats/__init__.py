"""Panyu union statistics warehouse: ingest, validate and publish the district federation's statistics."""

__version__ = "0.1.0"

# Python collects cyclic garbage every 700 new container objects; our processes make them by the hundred thousand
# (importing Great Expectations, Prefect and pandas; GX's pydantic objects in every validation; Prefect's server
# building its API), nearly all freed by reference counting, and spent 7-14% of their time in collections that
# found next to nothing. The command (union_stats.cli) and the temporary Prefect server it starts (prefect_server)
# collect every 10,000: a bare `import great_expectations` 7% faster, the server up 12-14% sooner, a run of the
# shipped 18 in one process 4% faster. Set by those entry points only, never by importing the package.
GC_THRESHOLDS = (10_000, 20, 20)
