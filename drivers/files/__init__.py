"""Filesystem drivers: CSV and Parquet extractors (with discovery) and writers."""
