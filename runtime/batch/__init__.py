"""Batch scoring (`tabship score`, the `batch` extra): CSV/Parquet chunks in bounded memory with
row-level rejects, locally or on Dask (the `dask` extra)."""
