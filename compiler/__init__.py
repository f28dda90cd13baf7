"""omlc: the OML compiler (validate -> resolve connections -> plan -> emit)."""

__version__ = "0.1.0"
