"""Publishing: what the warehouse and its runs give people and other programs.

`run_summary` (what a run tells the office and the units: its summary, the Prefect artifacts' markdown, each file's
report), `quality_report` (one file's data-quality report in Chinese and its annotated copy), `report_page` (the
district report page, validation page and workbook), `parquet` (the Hive-partitioned Parquet copy) and `export` (a
snapshot as Parquet, CSV or one workbook). Nothing is imported here: `from union_stats.publish import parquet`
loads the Parquet copy's module only (a run with nothing new loads neither Polars nor the report templates).
"""
