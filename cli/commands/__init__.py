"""Subcommands of `osiris`, each imported only when it runs."""
