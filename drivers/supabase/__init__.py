"""Supabase extractor and writer: the Postgres path (with `dsn`) or the REST API (PostgREST)."""
