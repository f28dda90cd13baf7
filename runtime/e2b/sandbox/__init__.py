"""The sandbox side of a sandbox run (see runtime/e2b/__init__.py): it imports only itself, the shared
protocol and paths modules, and the local runtime."""
