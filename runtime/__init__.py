"""Runtimes that execute compiled manifests (local streaming executor, E2B sandboxes)."""
