"""Test-only servers and helpers shared by driver tests (e.g. the PostgREST stand-in)."""
