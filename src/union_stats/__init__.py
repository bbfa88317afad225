"""Panyu union statistics warehouse: ingest, validate and publish the district federation's statistics."""

__version__ = "0.1.0"
