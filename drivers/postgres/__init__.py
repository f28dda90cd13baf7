"""PostgreSQL extractor and writer (ADBC: Arrow-native reads, COPY-based writes)."""
