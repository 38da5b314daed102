"""The Parquet lake: ``kasparro export`` writes the store's tables to Parquet files that any
engine reads (DuckDB, Spark, pandas), with exact decimals.

Layout (Hive partitions)::

    <lake>/observations/date=2024-05-01/source=coingecko/part-<first id>-<last id>.parquet
    <lake>/assets/assets.parquet
    <lake>/asset_mappings/asset_mappings.parquet

``tables`` declares what is exported (one declaration per table), ``arrow`` turns rows
into Arrow batches with exact ``decimal128`` columns, ``files`` writes them durably,
``export`` runs an export (resumable, idempotent: see its docstring), ``retention`` is the
contract a retention job checks before it drops raw observations.

pyarrow is an optional dependency (``pip install 'kasparro[lake]'``): nothing here imports
it before an export starts.
"""
