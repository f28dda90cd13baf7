"""The host side of a sandbox run (see runtime/e2b/__init__.py); never imported by the sandbox side."""
