"""The command-line programs, on top of every layer: `omlc` (the compiler) and `osiris` (runs, sessions,
connections, chat). Nothing below imports this package."""
